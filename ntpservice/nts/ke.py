# -*- test-case-name: tests.nts.test_protocol,tests.nts.test_listener,tests.interop.test_nts -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
NTS Key Establishment (RFC 8915 section 4) over TLS 1.3, server and
client, on Twisted's TLS (pyOpenSSL).

The server answers one request per connection: the NTS Next Protocol
record (NTPv4), the AEAD algorithm (the first of the client's that it
supports), eight cookies sealed with the newest master key, an NTPv4 Port
Negotiation record when the NTP port is not 123, and End of Message; then
it closes. The keys in the cookies are exported from the TLS session with
the RFC's label (section 5.1). A connection is bounded: it is aborted when
the handshake and request take longer than L{HANDSHAKE_TIMEOUT}, when the
request exceeds L{MAX_REQUEST} bytes, and new ones are refused beyond
L{MAX_CONNECTIONS_PER_ADDRESS} at once from one address (an IPv6 /64
counts as one address), so a slow or malicious client holds little. When
L{MAX_CONNECTIONS} are open at once (slow clients from many addresses), a
new connection from an address holding fewer than the busiest one takes
the place of that address's oldest connection, so that slow-loris clients
cannot lock new NTS clients out (issue 17); one from an address already
among the busiest is refused.

The client (L{exchange}) verifies the server's certificate against the
system's CAs or a given file, for the host name or the IP address
(C{service_identity}, through Twisted), or not at all (C{noval}).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

from zope.interface import implementer

from OpenSSL import SSL
from service_identity import VerificationError

from twisted.internet import defer, ssl, tcp
from twisted.internet.interfaces import IHandshakeListener, IOpenSSLServerConnectionCreator
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.python.failure import Failure

from ntpservice._log import Logger
from ntpservice.nts import protocol as P
from ntpservice.nts.aead import AEAD_ALGORITHMS, DEFAULT_AEAD
from ntpservice.nts.cookies import CookieKeys, MasterKeys

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "KEResult",
    "KEServerFactory",
    "MAX_CONNECTIONS",
    "MAX_CONNECTIONS_PER_ADDRESS",
    "LISTEN_BACKLOG",
    "MAX_REQUEST",
    "NTSKEError",
    "exchange",
    "exportKeys",
    "respond",
    "serverContext",
]

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a client has for the TLS handshake, its request and our
response, after which the connection is aborted."""

MAX_REQUEST = 1024
"""The largest NTS-KE request accepted, bytes."""

MAX_CONNECTIONS = 256
"""NTS-KE connections open at once; more make room or are closed at once."""

LISTEN_BACKLOG = 1024
"""
Connections the kernel may hold completed but not yet accepted (C{listen}'s
backlog; Twisted's default is 50). Under a flood of connections a short
queue overflows, and Linux then drops the client's completing ACK: the
client believes it is connected while the server never sees it, so that
the limits and the timeout above cannot apply, and a new NTS client hangs
until its own timeout. The kernel caps it at C{net.core.somaxconn}.
"""

MAX_CONNECTIONS_PER_ADDRESS = 16
"""NTS-KE connections open at once from one address (IPv4) or /64 (IPv6);
more are closed at once. A client needs one, for a few milliseconds."""

COOKIES_PER_RESPONSE = 8
"""Cookies sent in each NTS-KE response (RFC 8915 section 4.1.6 suggests 8)."""


class NTSKEError(Exception):
    """
    The NTS-KE exchange failed; the message says why, for the log.
    """


def exportKeys(connection: Any, aeadID: int) -> tuple[bytes, bytes]:
    """
    The client-to-server and server-to-client keys of a TLS session.

    @param connection: the C{OpenSSL.SSL.Connection}.
    @param aeadID: the negotiated AEAD algorithm.
    @see: RFC 8915 section 5.1
    """
    length = AEAD_ALGORITHMS[aeadID].keyLength

    def export(direction: int) -> bytes:
        context = struct.pack("!HHB", P.PROTOCOL_NTPV4, aeadID, direction)
        return bytes(connection.export_keying_material(P.EXPORTER_LABEL, length, context))

    return export(0), export(1)


# -- server -----------------------------------------------------------------


def respond(
    records: list[P.Record],
    keysFor: Callable[[int], tuple[bytes, bytes]],
    masterKeys: MasterKeys,
    aeadPreference: tuple[int, ...] = (15, 16, 17),
    ntpPort: int = 123,
    ntpServer: str | None = None,
) -> tuple[list[P.Record], str]:
    """
    The server's response to a complete NTS-KE request.

    @param records: the request, End of Message included.
    @param keysFor: exports the C2S and S2C keys for an AEAD identifier.
    @param masterKeys: the master keys that seal the cookies.
    @param aeadPreference: the AEAD identifiers we accept.
    @param ntpPort: our NTP port (a Port record when not 123).
    @param ntpServer: the NTP server to name in a Server record, or C{None}.
    @return: the records to send and a word for the counters (C{ok},
        C{badrequest}, C{critical}, C{noprotocol}, C{noaead}).
    """

    def error(code: int, outcome: str) -> tuple[list[P.Record], str]:
        return [
            P.uint16Record(P.RECORD_ERROR, [code], critical=True),
            P.Record(P.RECORD_END, critical=True),
        ], outcome

    protocols: list[int] | None = None
    aeads: list[int] | None = None
    try:
        for record in records:
            kind = record.recordType
            if kind == P.RECORD_NEXT_PROTOCOL:
                if protocols is not None:
                    return error(P.ERROR_BAD_REQUEST, "badrequest")
                protocols = record.uint16s()
            elif kind == P.RECORD_AEAD:
                if aeads is not None:
                    return error(P.ERROR_BAD_REQUEST, "badrequest")
                aeads = record.uint16s()
            elif kind in (P.RECORD_ERROR, P.RECORD_WARNING, P.RECORD_COOKIE):
                return error(P.ERROR_BAD_REQUEST, "badrequest")
            elif kind in (P.RECORD_END, P.RECORD_SERVER, P.RECORD_PORT):
                continue
            elif record.critical:
                return error(P.ERROR_UNRECOGNIZED_CRITICAL, "critical")
    except P.NTSError:
        return error(P.ERROR_BAD_REQUEST, "badrequest")
    if protocols is None:
        return error(P.ERROR_BAD_REQUEST, "badrequest")
    if P.PROTOCOL_NTPV4 not in protocols:
        # Section 4.1.2: none of the offered protocols: an empty record.
        return [
            P.Record(P.RECORD_NEXT_PROTOCOL, critical=True),
            P.Record(P.RECORD_END, critical=True),
        ], "noprotocol"
    if aeads is None:
        return error(P.ERROR_BAD_REQUEST, "badrequest")
    chosen = next((a for a in aeads if a in aeadPreference), None)
    response = [P.uint16Record(P.RECORD_NEXT_PROTOCOL, [P.PROTOCOL_NTPV4], critical=True)]
    if chosen is None:
        # Section 4.1.5: no algorithm in common: an empty AEAD record and
        # no cookies.
        response += [
            P.Record(P.RECORD_AEAD, critical=True),
            P.Record(P.RECORD_END, critical=True),
        ]
        return response, "noaead"
    response.append(P.uint16Record(P.RECORD_AEAD, [chosen], critical=True))
    c2s, s2c = keysFor(chosen)
    keys = CookieKeys(chosen, c2s, s2c)
    response += [
        P.Record(P.RECORD_COOKIE, masterKeys.seal(keys)) for _ in range(COOKIES_PER_RESPONSE)
    ]
    if ntpServer is not None:
        response.append(P.Record(P.RECORD_SERVER, ntpServer.encode("ascii")))
    if ntpPort != 123:
        response.append(P.uint16Record(P.RECORD_PORT, [ntpPort]))
    response.append(P.Record(P.RECORD_END, critical=True))
    return response, "ok"


def serverContext(certPath: str, keyPath: str, ciphersuites: str | None = None) -> Any:
    """
    The TLS context of the NTS-KE server: TLS 1.3 only, ALPN C{ntske/1}.

    @raise SSL.Error: if the certificate or key cannot be used.
    """
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_3_VERSION)
    context.set_options(SSL.OP_NO_TICKET | SSL.OP_NO_RENEGOTIATION)
    context.use_certificate_chain_file(certPath)
    context.use_privatekey_file(keyPath)
    context.check_privatekey()
    if ciphersuites:
        context.set_tls13_ciphersuites(ciphersuites.encode("ascii"))

    def selectALPN(connection: Any, offered: list[bytes]) -> Any:
        if P.ALPN_NTSKE in offered:
            return P.ALPN_NTSKE
        return SSL.NO_OVERLAPPING_PROTOCOLS

    context.set_alpn_select_callback(selectALPN)
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog:
        _logKeys(context, keylog)
    return context


def _logKeys(context: Any, path: str) -> None:
    """
    Append the TLS secrets of each session to C{path} in the NSS key log
    format, as C{SSLKEYLOGFILE} asks of curl or Firefox: a debugging aid
    with which Wireshark decrypts NTS-KE. Never set it in production.
    """

    def log(connection: Any, line: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line + b"\n")
        finally:
            os.close(fd)

    context.set_keylog_callback(log)


@implementer(IOpenSSLServerConnectionCreator)
class _ServerConnectionCreator:
    """
    Makes the server side of each TLS connection from one prepared context.
    """

    def __init__(self, context: Any) -> None:
        self._context = context

    def serverConnectionForTLS(self, tlsProtocol: Any) -> Any:
        return SSL.Connection(self._context, None)


@implementer(IHandshakeListener)
class KEServerProtocol(Protocol):
    """
    One NTS-KE connection on the server: read the request, answer, close.
    """

    _log = Logger()

    def __init__(self) -> None:
        self._buffer = b""
        self._done = False
        self._timer: Any = None
        self._key: str | None = None

    def connectionMade(self) -> None:
        factory = self.factory
        factory.open += 1
        serves = factory.servesLocal
        if serves is not None and not serves(localAddress(self.transport.getHost())):
            factory.count("ke.ignored")
            self.transport.abortConnection()
            return
        if not factory.admit(self):
            factory.count("ke.refused")
            self.transport.abortConnection()
            return
        self._timer = factory.reactor.callLater(factory.timeout, self._timedOut)

    def _timedOut(self) -> None:
        self._timer = None
        self.factory.count("ke.timeout")
        self.transport.abortConnection()

    def handshakeCompleted(self) -> None:
        if getattr(self.transport, "negotiatedProtocol", None) != P.ALPN_NTSKE:
            self.factory.count("ke.noalpn")
            self.transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:
        if self._done:
            return
        self._buffer += data
        if len(self._buffer) > self.factory.maxRequest:
            self._done = True
            self.factory.count("ke.toolarge")
            self.transport.abortConnection()
            return
        records, complete, _ = P.splitRecords(self._buffer)
        if not complete:
            return
        self._done = True
        handle = self.transport.getHandle()
        response, outcome = respond(
            records,
            lambda aeadID: exportKeys(handle, aeadID),
            self.factory.masterKeys(),
            self.factory.aeadPreference,
            self.factory.ntpPort,
        )
        self.factory.count(f"ke.{outcome}")
        cookies = sum(1 for r in response if r.recordType == P.RECORD_COOKIE)
        if cookies:
            self.factory.count("nts.cookie.make", cookies)
        self.transport.write(P.encodeRecords(response))
        self.transport.loseConnection()

    def connectionLost(self, reason: Any = None) -> None:
        self.factory.open -= 1
        self.factory.release(self)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


class KEServerFactory(Factory):
    """
    Makes L{KEServerProtocol}s sharing the master keys and the limits.

    @ivar open: connections open now (refused ones until they are gone).
    @ivar byAddress: the admitted connections of each address (an IPv6
        /64 is one), oldest first.
    @ivar servesLocal: whether a connection to a local address is served
        (the C{interface} rules and C{-L}, as for NTP datagrams: see
        L{SocketOwner.servesLocal
        <ntpservice.net.sockets.SocketOwner.servesLocal>}); one that is not
        is aborted at once. C{None}: every one is.
    """

    protocol = KEServerProtocol
    noisy = False
    servesLocal: Callable[[str], bool] | None = None

    def __init__(
        self,
        masterKeys: Callable[[], MasterKeys],
        reactor: Any,
        count: Callable[..., None] = lambda name, n=1: None,
        ntpPort: int = 123,
        aeadPreference: tuple[int, ...] = (15, 16, 17),
        timeout: float = HANDSHAKE_TIMEOUT,
        maxRequest: int = MAX_REQUEST,
        maxConnections: int = MAX_CONNECTIONS,
        maxPerAddress: int = MAX_CONNECTIONS_PER_ADDRESS,
    ) -> None:
        self.masterKeys = masterKeys
        self.reactor = reactor
        self.count = count
        self.ntpPort = ntpPort
        self.aeadPreference = aeadPreference
        self.timeout = timeout
        self.maxRequest = maxRequest
        self.maxConnections = maxConnections
        self.maxPerAddress = maxPerAddress
        self.open = 0
        self.admitted = 0
        self.byAddress: dict[str, list[KEServerProtocol]] = {}

    def admit(self, protocol: KEServerProtocol) -> bool:
        """
        Whether C{protocol}'s connection may stay: its address holds fewer
        than L{maxPerAddress}, and fewer than L{maxConnections} are open or
        an address holding more than its own gives up its oldest one (which
        is aborted).
        """
        key = addressKey(protocol.transport.getPeer())
        mine = self.byAddress.get(key, [])
        if len(mine) >= self.maxPerAddress:
            return False
        if self.admitted >= self.maxConnections:
            busiest = max(self.byAddress.values(), key=len)
            if len(busiest) <= len(mine) + 1:
                return False
            oldest = busiest[0]
            self.release(oldest)
            self.count("ke.evicted")
            oldest.transport.abortConnection()
        self.byAddress.setdefault(key, []).append(protocol)
        protocol._key = key
        self.admitted += 1
        return True

    def release(self, protocol: KEServerProtocol) -> None:
        """Forget C{protocol}'s connection (closed, or evicted)."""
        key = protocol._key
        if key is None:
            return
        protocol._key = None
        self.admitted -= 1
        mine = self.byAddress[key]
        mine.remove(protocol)
        if not mine:
            del self.byAddress[key]


def localAddress(host: Any) -> str:
    """
    The address of one end of a connection (C{getHost()}, C{getPeer()})
    without its zone, an IPv4 one reached through a dual-stack socket
    (C{::ffff:10.0.0.1}) as IPv4.
    """
    address = str(host.host).split("%", 1)[0]
    try:
        mapped = ipaddress.IPv6Address(address).ipv4_mapped
    except ValueError:
        return address
    return str(mapped) if mapped is not None else address


def addressKey(peer: Any) -> str:
    """
    The address a connection's limits count it under: an IPv4 address, an
    IPv6 address's /64 (a host has a whole /64), or the peer as text.
    """
    host = getattr(peer, "host", None)
    if not isinstance(host, str):
        return str(peer)
    text = localAddress(peer)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
"""Linux: bind a socket to one interface (the value where Python lacks it)."""


class _KEPort(tcp.Port):
    """
    A TCP listening port that can be IPv6 only (C{IPV6_V6ONLY}) or bound to
    one interface (C{SO_BINDTODEVICE}), as the NTP sockets it follows are.
    """

    v6only = False
    device: str | None = None

    def createInternetSocket(self) -> socket.socket:
        skt: socket.socket = super().createInternetSocket()
        if self.v6only and self.addressFamily == socket.AF_INET6:
            skt.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if self.device:
            skt.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.device.encode() + b"\0")
        return skt


def listenKE(
    reactor: Any,
    port: int,
    factory: KEServerFactory,
    context: Any,
    interface: str = "",
    v6only: bool = False,
    device: str | None = None,
) -> Any:
    """
    Listen for NTS-KE on C{port} (TCP, TLS).

    @param interface: the local address to bind (C{""}: IPv4's wildcard;
        C{"::"}: IPv6's, which takes IPv4 too unless C{v6only}).
    @param v6only: an IPv6 socket takes IPv6 connections only.
    @param device: bind to this interface (C{SO_BINDTODEVICE}), or C{None}.
    @return: the listening port.
    @raise CannotListenError: if it cannot be bound.
    """
    creator = _ServerConnectionCreator(context)
    if not v6only and not device:
        return reactor.listenSSL(
            port, factory, creator, backlog=LISTEN_BACKLOG, interface=interface
        )
    from twisted.protocols.tls import TLSMemoryBIOFactory

    listening = _KEPort(
        port,
        TLSMemoryBIOFactory(creator, False, factory),
        backlog=LISTEN_BACKLOG,
        interface=interface,
        reactor=reactor,
    )
    listening.v6only = v6only
    listening.device = device
    listening.startListening()
    return listening


# -- client -----------------------------------------------------------------


@dataclass
class KEResult:
    """
    What an NTS-KE exchange gave the client.

    @ivar aeadID: the negotiated AEAD algorithm.
    @ivar c2s: the client-to-server key.
    @ivar s2c: the server-to-client key.
    @ivar cookies: the cookies.
    @ivar server: the NTP server named by the response, or the address the
        NTS-KE connection reached.
    @ivar port: the NTP port (123 unless the response named another).
    """

    aeadID: int
    c2s: bytes
    s2c: bytes
    cookies: list[bytes] = field(default_factory=list)
    server: str = ""
    port: int = 123


def parseResponse(records: list[P.Record], offered: tuple[int, ...]) -> KEResult:
    """
    Check an NTS-KE response and take what it gives (the keys are filled
    in by the caller).

    @raise NTSKEError: on an error record, an unrecognised critical record,
        or a response without NTPv4, an offered AEAD algorithm or cookies.
    """
    protocols: list[int] | None = None
    aead: int | None = None
    result = KEResult(0, b"", b"")
    server: str | None = None
    try:
        for record in records:
            kind = record.recordType
            if kind == P.RECORD_ERROR:
                codes = record.uint16s()
                raise NTSKEError(f"the server sent error {codes[0] if codes else '?'}")
            if kind == P.RECORD_NEXT_PROTOCOL:
                protocols = record.uint16s()
            elif kind == P.RECORD_AEAD:
                values = record.uint16s()
                aead = values[0] if len(values) == 1 else None
            elif kind == P.RECORD_COOKIE:
                result.cookies.append(record.body)
            elif kind == P.RECORD_SERVER:
                server = record.body.decode("ascii")
            elif kind == P.RECORD_PORT:
                (result.port,) = record.uint16s()[:1] or [123]
            elif kind in (P.RECORD_END, P.RECORD_WARNING):
                continue
            elif record.critical:
                raise NTSKEError(f"unrecognised critical record type {kind}")
    except (P.NTSError, UnicodeDecodeError, ValueError) as e:
        raise NTSKEError(f"malformed response: {e}")
    if protocols != [P.PROTOCOL_NTPV4]:
        raise NTSKEError("the server does not offer NTPv4")
    if aead is None or aead not in offered:
        raise NTSKEError("no AEAD algorithm in common with the server")
    if not result.cookies:
        raise NTSKEError("the server sent no cookies")
    result.aeadID = aead
    result.server = server or ""
    return result


@implementer(IHandshakeListener)
class KEClientProtocol(Protocol):
    """
    The client side of one NTS-KE exchange.
    """

    def __init__(self, result: defer.Deferred[KEResult], offered: tuple[int, ...]) -> None:
        self._result = result
        self._offered = offered
        self._buffer = b""
        self._failure: str | None = None

    def handshakeCompleted(self) -> None:
        if getattr(self.transport, "negotiatedProtocol", None) != P.ALPN_NTSKE:
            self._fail("the server did not accept ALPN ntske/1")
            return
        request = [
            P.uint16Record(P.RECORD_NEXT_PROTOCOL, [P.PROTOCOL_NTPV4], critical=True),
            P.uint16Record(P.RECORD_AEAD, list(self._offered), critical=True),
            P.Record(P.RECORD_END, critical=True),
        ]
        self.transport.write(P.encodeRecords(request))

    def dataReceived(self, data: bytes) -> None:
        if self._result.called:
            return
        self._buffer += data
        if len(self._buffer) > P.MAX_KE_MESSAGE:
            self._fail("response too large")
            return
        records, complete, _ = P.splitRecords(self._buffer)
        if not complete:
            return
        try:
            result = parseResponse(records, self._offered)
            result.c2s, result.s2c = exportKeys(self.transport.getHandle(), result.aeadID)
        except NTSKEError as e:
            self._fail(str(e))
            return
        if not result.server:
            result.server = self.transport.getPeer().host
        self._result.callback(result)
        self.transport.loseConnection()

    def _fail(self, reason: str) -> None:
        if not self._result.called:
            self._result.errback(NTSKEError(reason))
        self.transport.abortConnection()

    def connectionLost(self, reason: Any = None) -> None:
        if not self._result.called:
            self._result.errback(NTSKEError(describeFailure(reason)))


def describeFailure(reason: Any) -> str:
    """
    A readable reason from a TLS or connection failure: certificate
    verification errors are named as such.
    """
    if reason is None:
        return "connection closed"
    value = reason.value
    if isinstance(value, SSL.Error):
        details = [
            str(part)
            for arg in value.args
            for part in (arg if isinstance(arg, list) else [arg])
        ]
        text = "; ".join(details)
        if "certificate verify failed" in text:
            return (
                "TLS certificate not accepted: certificate verify failed "
                "(not issued by a trusted CA, or expired)"
            )
        return f"TLS failed ({text})"
    if isinstance(value, NTSKEError):
        return str(value)
    if isinstance(value, VerificationError):
        names = []
        for error in value.errors:
            wanted = error.mismatched_id
            name = getattr(wanted, "hostname", None) or getattr(wanted, "ip", None)
            names.append(name.decode() if isinstance(name, bytes) else str(name))
        return f"TLS certificate not valid for {', '.join(names)}"
    text = reason.getErrorMessage()
    if "connection was closed cleanly" in text or "Connection was closed cleanly" in text:
        return "the server closed the connection before a complete response"
    return text


class _KEClientFactory(ClientFactory):
    noisy = False

    def __init__(self, result: defer.Deferred[KEResult], offered: tuple[int, ...]) -> None:
        self._result = result
        self._offered = offered

    def buildProtocol(self, addr: Any) -> KEClientProtocol:
        protocol = KEClientProtocol(self._result, self._offered)
        protocol.factory = self
        return protocol

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if not self._result.called:
            self._result.errback(NTSKEError(describeFailure(reason)))


def clientOptions(name: str, caFile: str | None, verify: bool = True) -> Any:
    """
    The client TLS options: TLS 1.3 at least, ALPN C{ntske/1}, the server
    certificate verified for C{name} (a DNS name or an IP address) against
    C{caFile} (PEM, one or more certificates) or the system's CAs, unless
    C{verify} is false (C{noval}).
    """
    extra = {"raiseMinimumTo": ssl.TLSVersion.TLSv1_3}
    if not verify:
        return ssl.CertificateOptions(
            verify=False, acceptableProtocols=[P.ALPN_NTSKE], **extra  # type: ignore[arg-type]
        )
    if caFile is not None:
        trustRoot: Any = ssl.trustRootFromCertificates(_readCertificates(caFile))
    else:
        trustRoot = ssl.platformTrust()
    return ssl.optionsForClientTLS(
        name, trustRoot, acceptableProtocols=[P.ALPN_NTSKE], extraCertificateOptions=extra
    )


def _readCertificates(path: str) -> list[Any]:
    """
    The certificates of a PEM file, or of every PEM file in a directory
    (as OpenSSL's hashed directories hold them), each read bounded
    (L{readBounded <ntpservice.config.files.readBounded>}, at most
    L{MAX_PEM_BYTES <ntpservice.nts.settings.MAX_PEM_BYTES>}).

    @raise OSError: if a file cannot be read, is no regular file or is
        too large.
    @raise ValueError: if there is no certificate.
    """
    if os.path.isdir(path):
        files = [os.path.join(path, name) for name in sorted(os.listdir(path))]
        files = [f for f in files if os.path.isfile(f)]
    else:
        files = [path]
    from ntpservice.config.files import readBounded
    from ntpservice.nts.settings import MAX_PEM_BYTES

    marker = b"-----END CERTIFICATE-----"
    certificates = []
    for name in files:
        pem = readBounded(name, MAX_PEM_BYTES)
        blocks = [
            block + marker
            for block in pem.split(marker)
            if b"-----BEGIN CERTIFICATE" in block
        ]
        certificates += [ssl.Certificate.loadPEM(block) for block in blocks]
    if not certificates:
        raise ValueError(f"no certificate in {path}")
    return certificates


def exchange(
    reactor: Any,
    name: str,
    port: int = P.DEFAULT_KE_PORT,
    caFile: str | None = None,
    verify: bool = True,
    offered: tuple[int, ...] = (DEFAULT_AEAD.aeadID,),
    timeout: float = HANDSHAKE_TIMEOUT,
    connectTo: str | None = None,
) -> defer.Deferred[KEResult]:
    """
    Run one NTS-KE exchange with the server C{name}.

    @param name: the server's name (or address), verified in its
        certificate.
    @param connectTo: the address to connect to; C{name} by default.
    @return: a Deferred firing with a L{KEResult}, or failing with an
        L{NTSKEError} that says why.
    """
    result: defer.Deferred[KEResult] = defer.Deferred()
    try:
        options = clientOptions(name, caFile, verify)
    except (OSError, SSL.Error, ValueError) as e:
        result.errback(NTSKEError(f"cannot use CA file {caFile}: {e}"))
        return result
    factory = _KEClientFactory(result, offered)
    connector = reactor.connectSSL(connectTo or name, port, factory, options, timeout=timeout)

    def timedOut() -> None:
        if not result.called:
            result.errback(NTSKEError(f"no NTS-KE response within {timeout:g} s"))
        connector.disconnect()

    timer = reactor.callLater(timeout, timedOut)

    def done(value: Any) -> Any:
        if timer.active():
            timer.cancel()
        return value

    result.addBoth(done)
    return result
