# -*- test-case-name: tests.control.test_client -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A mode 6 client with blocking sockets: what C{ntpservice-q} and the tests
use to talk to an NTP daemon (ours, ntpd or NTPsec) the way ntpq does.

    with ControlClient("127.0.0.1") as client:
        systemStatus, associations = client.readStatus()
        variables = client.readVariables()          # ntpq rv
        peer = client.readVariables(associations[0][0])

Requests are retried once when no answer (or an incomplete one) comes
within the timeout, as ntpq does. Responses are matched by sequence
number and opcode and reassembled from their fragments
(L{ntpservice.core.control.Reassembler}). With a key, requests that need
authentication (C{:config}) are signed, and the signature of their
responses is checked. A write request (C{:config}) first asks for a nonce
(REQ_NONCE) and carries it as its first line C{# nonce=...} (a comment to
ntpd and NTPsec, the proof of freshness to ntpservice), and its retry is
the same datagram, so that a server executes it once.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ntpservice.auth.keys import KeyRing
from ntpservice.auth.mac import signControl, verifyControl
from ntpservice.core import control as K

DEFAULT_TIMEOUT = 5.0
"""Seconds to wait for the first fragment of a response (ntpq: 5 s)."""

DEFAULT_FRAGMENT_TIMEOUT = 3.0
"""Seconds to wait for each further fragment (ntpq: 3 s)."""

MAX_FRAGMENTS = 32
"""The most fragments asked for per READ_MRU request (ntpq: 32)."""

MAX_MRU_RESTARTS = 8
"""How often an MRU retrieval may start over before giving up (ntpq: 8)."""


class ControlClientError(Exception):
    """
    A query failed. C{str()} is a message in ntpq's words.
    """


class ServerError(ControlClientError):
    """
    The server answered with an error response.

    @ivar code: the error code (C{ERR_*} of L{ntpservice.core.control}).
    """

    def __init__(self, code: int) -> None:
        name = K.ERROR_NAMES.get(code, str(code))
        super().__init__(f"***Server error code {name}")
        self.code = code


class TimeoutError_(ControlClientError):
    """No (complete) response came in time."""


@dataclass(frozen=True)
class Response:
    """
    A reassembled response.

    @ivar status: the status word (of the last fragment).
    @ivar associd: the association ID it answered for.
    @ivar data: the whole data.
    @ivar fragments: how many datagrams it came in.
    @ivar authenticated: whether every fragment carried a MAC that
        verified with the client's key.
    """

    status: int
    associd: int
    data: bytes
    fragments: int
    authenticated: bool = False

    @property
    def variables(self) -> list[tuple[str, str]]:
        """The data as a variable list (L{K.parseVariables})."""
        return K.parseVariables(self.data)

    @property
    def text(self) -> str:
        """The data as text, without NULs and trailing whitespace."""
        return self.data.split(b"\0", 1)[0].decode("utf-8", "replace").rstrip()


@dataclass
class MRUEntry:
    """
    One entry of a server's MRU list.

    @ivar address: the client's address.
    @ivar port: the source port of its last packet.
    @ivar last: when its last packet arrived (an L{NTPTimestamp}).
    @ivar first: when its first packet arrived.
    @ivar count: packets seen.
    @ivar mode: the mode of its last packet.
    @ivar version: the version of its last packet.
    @ivar restrictions: the C{RES_*} bits that applied.
    @ivar score: the server's rate score (ours: the rate limiter's
        counter).
    @ivar dropped: packets dropped by rate limiting.
    """

    address: str
    port: int
    last: K.NTPTimestamp
    first: K.NTPTimestamp
    count: int
    mode: int
    version: int
    restrictions: int
    score: float
    dropped: int


@dataclass
class MRUList:
    """
    A retrieved MRU list.

    @ivar entries: newest first.
    @ivar now: the server's time at the end of the retrieval.
    @ivar requests: how many READ_MRU requests it took.
    """

    entries: list[MRUEntry] = field(default_factory=list)
    now: K.NTPTimestamp | None = None
    requests: int = 0


class ControlClient:
    """
    A mode 6 session with one server.

    @ivar host: the server's address as connected.
    @ivar port: its port.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 123,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        fragmentTimeout: float = DEFAULT_FRAGMENT_TIMEOUT,
        version: int = 2,
        key: Any = None,
        family: int = socket.AF_UNSPEC,
    ) -> None:
        """
        @param host: a name or an address (in brackets or not for IPv6).
        @param port: the UDP port.
        @param timeout: seconds to wait for the first fragment.
        @param fragmentTimeout: seconds to wait for each further one.
        @param version: the NTP version in requests (ntpq sends 2).
        @param key: an L{ntpservice.auth.keys.SymmetricKey} for
            authenticated requests, or C{None}.
        @param family: C{socket.AF_INET} or C{AF_INET6} to force one.
        @raise ControlClientError: if the host cannot be resolved.
        """
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            infos = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)
        except socket.gaierror as e:
            raise ControlClientError(f"{host}: {e.strerror}") from None
        addressFamily, socketType, proto, _name, address = infos[0]
        self._socket = socket.socket(addressFamily, socketType, proto)
        self._socket.connect(address)
        self.host = address[0]
        self.port = address[1]
        self.timeout = timeout
        self.fragmentTimeout = fragmentTimeout
        self.version = version
        self.key = key
        self._sequence = int(time.monotonic() * 1000) & 0xFFFF

    def close(self) -> None:
        """Close the socket."""
        self._socket.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------

    def request(
        self,
        opcode: int,
        associd: int = 0,
        data: bytes = b"",
        authenticate: bool = False,
    ) -> Response:
        """
        Send a request and collect its response (one retry on a timeout).

        @param authenticate: sign the request with the client's key.
        @raise ServerError: for an error response.
        @raise TimeoutError_: when no complete response came.
        @raise ControlClientError: when C{authenticate} and there is no key,
            or the data is too long.
        """
        if len(data) > K.MAX_DATA_LEN:
            raise ControlClientError(f"***Internal error! Data too large ({len(data)})")
        if authenticate and self.key is None:
            raise ControlClientError("***No credentials")
        lastError: ControlClientError | None = None
        encoded = b""
        for attempt in range(2):
            # A signed request is retried as it was (same sequence number):
            # a server that executed it answers again instead of executing
            # it twice.
            if not (authenticate and attempt):
                self._sequence = (self._sequence + 1) & 0xFFFF or 1
                message = K.ControlMessage(
                    opcode=opcode,
                    sequence=self._sequence,
                    associd=associd,
                    data=data,
                    version=self.version,
                )
                encoded = message.encode()
                if authenticate:
                    encoded = signControl(encoded, self.key)
            self._socket.send(encoded)
            try:
                return self._collect(message, authenticate)
            except TimeoutError_ as e:
                lastError = e
        assert lastError is not None
        raise lastError

    def _collect(self, request: K.ControlMessage, authenticated: bool) -> Response:
        reassembler = K.Reassembler()
        allSigned = True
        keyring = (
            KeyRing([self.key], trusted=[self.key.keyID]) if self.key is not None else None
        )
        # Bound the datagrams read, so a flood cannot keep us here.
        for _ in range(4 * MAX_FRAGMENTS + 16):
            wait = self.timeout if reassembler.fragments == 0 else self.fragmentTimeout
            readable, _w, _x = select.select([self._socket], [], [], wait)
            if not readable:
                if reassembler.fragments == 0:
                    raise TimeoutError_("***Request timed out")
                raise TimeoutError_("***Response from server was incomplete")
            try:
                datagram = self._socket.recv(65535)
            except ConnectionRefusedError:
                raise ControlClientError(
                    "***Socket error; probably ntpd is not running"
                ) from None
            try:
                message = K.ControlMessage.decode(datagram)
            except K.ControlError:
                continue
            if (
                not message.response
                or message.sequence != request.sequence
                or message.opcode != request.opcode
            ):
                continue
            if message.error:
                raise ServerError(message.errorCode)
            if authenticated and keyring is not None:
                auth = verifyControl(datagram, len(message.data), keyring)
                allSigned = allSigned and auth.authenticated
            try:
                done = reassembler.add(message)
            except K.ControlError:
                continue
            if done:
                assert reassembler.data is not None and reassembler.status is not None
                return Response(
                    status=reassembler.status,
                    associd=message.associd,
                    data=reassembler.data,
                    fragments=reassembler.fragments,
                    authenticated=authenticated and allSigned,
                )
        raise ControlClientError("***Buffer size exceeded for returned data")

    # -- operations --------------------------------------------------------

    def readStatus(self) -> tuple[int, list[tuple[int, int]]]:
        """
        READSTAT for the system: the system status word, and each
        association's ID and peer status word, sorted by ID.

        @raise ControlClientError: on a malformed list.
        """
        response = self.request(K.OP_READSTAT)
        if len(response.data) % 4:
            raise ControlClientError(
                "***Response length should have been a multiple of 4"
            )
        pairs = [
            (
                int.from_bytes(response.data[i : i + 2], "big"),
                int.from_bytes(response.data[i + 2 : i + 4], "big"),
            )
            for i in range(0, len(response.data), 4)
        ]
        return response.status, sorted(pairs)

    def readVariables(self, associd: int = 0, names: Iterable[str] = ()) -> Response:
        """
        READVAR: the system's (association 0) or an association's
        variables, all default ones or those named.
        """
        return self.request(K.OP_READVAR, associd, ",".join(names).encode("ascii"))

    def readClock(self, associd: int = 0, names: Iterable[str] = ()) -> Response:
        """READCLOCK: a reference clock's variables."""
        return self.request(K.OP_READCLOCK, associd, ",".join(names).encode("ascii"))

    def configure(self, text: str) -> str:
        """
        CONFIGURE (C{ntpq :config}): send configuration text, signed with
        the client's key, after a nonce line (a server that gives no nonce
        gets the text alone).

        @return: the server's answer (C{"Config Succeeded"} or what went
            wrong).
        @raise ControlClientError: when the server's answer was not signed
            with our key.
        """
        if self.key is None:
            raise ControlClientError("***No credentials")
        try:
            nonce = self.nonce()
        except ServerError:
            nonce = None
        data = text.encode("utf-8")
        if nonce is not None:
            data = f"# {nonce}\n".encode("ascii") + data
        response = self.request(K.OP_CONFIGURE, 0, data, authenticate=True)
        if not response.data:
            raise ControlClientError("***Server disallowed request (authentication?)")
        if not response.authenticated:
            raise ControlClientError("AUTH: Content untrusted due to authentication failure!")
        return response.text

    def nonce(self) -> str:
        """REQ_NONCE: a nonce for READ_MRU."""
        for _ in range(4):
            text = self.request(K.OP_REQ_NONCE).text
            if text.startswith("nonce="):
                return text
        raise ControlClientError("***Unexpected nonce response format")

    def mruList(
        self, frags: int = MAX_FRAGMENTS, parameters: Sequence[tuple[str, str]] = ()
    ) -> MRUList:
        """
        Retrieve the server's MRU list the way ntpq's C{mrulist} does: a
        nonce, then READ_MRU requests, each continuing after the newest
        entries already received, until the server says the list is
        complete; an address seen twice keeps its newest entry.

        @param frags: the most datagrams per response.
        @param parameters: more C{name=value} parameters (C{mincount},
            C{resall}, C{recent}, ...).
        @raise ControlClientError: when the retrieval keeps failing.
        """
        result = MRUList()
        nonce = self.nonce()
        nonceTime = time.monotonic()
        extra = "".join(f", {name}={value}" for name, value in parameters)
        received: list[MRUEntry] = []
        restarts = 0
        text = f"{nonce}, frags={frags}{extra}"
        while True:
            try:
                response = self.request(K.OP_READ_MRU, 0, text.encode("ascii"))
            except ServerError as e:
                if e.code != K.ERR_UNKNOWNVAR:
                    raise
                restarts += 1
                if restarts > MAX_MRU_RESTARTS:
                    raise ControlClientError(
                        "***No response, probably high-traffic server with low MRU limit"
                    ) from None
                received = []
                text = f"{nonce}, frags={frags}{extra}"
                continue
            result.requests += 1
            variables = response.variables
            batch: dict[int, dict[str, str]] = {}
            done = False
            for name, value in variables:
                if name == "nonce":
                    nonce = f"nonce={value}"
                    nonceTime = time.monotonic()
                elif name == "now":
                    result.now = K.parseTimestamp(value)
                    done = True
                elif "." in name:
                    stem, _, index = name.partition(".")
                    if index.isdigit():
                        batch.setdefault(int(index), {})[stem] = value
            for index in sorted(batch):
                entry = _mruEntry(batch[index])
                if entry is not None:
                    received.append(entry)
            if done:
                break
            if time.monotonic() - nonceTime >= K.NONCE_TIMEOUT:
                nonce = self.nonce()
                nonceTime = time.monotonic()
            text = f"{nonce}, frags={frags}{extra}"
            for i, entry in enumerate(reversed(received)):
                more = (
                    f", addr.{i}={K.formatAddressPort(entry.address, entry.port)}"
                    f", last.{i}={K.formatTimestamp(entry.last)}"
                )
                if len(text) + len(more) >= K.MAX_DATA_LEN or i >= 16:
                    break
                text += more
        newest: dict[str, MRUEntry] = {}
        for entry in received:
            kept = newest.get(entry.address)
            if kept is None or entry.last - kept.last >= 0:
                newest[entry.address] = entry
        result.entries = sorted(
            newest.values(), key=lambda e: e.last.value, reverse=True
        )
        return result


def _mruEntry(fields: dict[str, str]) -> MRUEntry | None:
    try:
        address, port = K.parseAddressPort(fields["addr"])
        mv = int(fields.get("mv", "0"), 0)
        return MRUEntry(
            address=address,
            port=port or 0,
            last=K.parseTimestamp(fields["last"]),
            first=K.parseTimestamp(fields.get("first", fields["last"])),
            count=int(fields.get("ct", "0"), 0),
            mode=mv & 7,
            version=(mv >> 3) & 7,
            restrictions=int(fields.get("rs", "0"), 0),
            score=float(fields.get("sc", "0") or 0),
            dropped=int(fields.get("dr", "0"), 0),
        )
    except (KeyError, ValueError):
        return None
