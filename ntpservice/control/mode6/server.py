# -*- test-case-name: tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The mode 6 request handler: who is answered, how much, and which request
gets which answer.

L{ControlHandler} is the L{IDatagramHandler} the multiplexer hands mode 6
datagrams to. It decides access (C{restrict}, loopback, the rate limits),
checks the MAC and the C{controlkey}, dispatches on the opcode, hands out
and checks the nonces of C{ntpq mrulist}, and fragments (and signs) the
response. The variables it answers with come from
L{ntpservice.control.mode6.variables}, C{:config} is applied by
L{ntpservice.control.mode6.runtime}, and the events of the status words
are kept by L{ntpservice.control.mode6.events}.

Safe defaults
=============

 - Without any C{restrict} line, only loopback addresses are answered. With
   C{restrict} lines, a source is answered when the entry it matches is a
   configured line without C{noquery} or C{ignore}, or when it is a
   loopback address without such a line; a source matching only the
   built-in default is not answered.
 - Every source has a token bucket (L{REQUEST_BURST} requests, refilled at
   L{REQUEST_RATE} per second), and all sources together a second one
   (L{GLOBAL_BURST}, L{GLOBAL_RATE}): requests beyond them are dropped and
   counted (C{control.ratelimited}).
 - A response to an unauthenticated request is at most
   L{MAX_UNAUTHENTICATED_FRAGMENTS} datagrams (READ_MRU: at most
   L{MAX_MRU_FRAGMENTS}, and only after the nonce handshake, which proves
   the source address is not spoofed).
 - Requests sent to a broadcast or multicast address are not answered.
 - C{nomodify} refuses C{:config}; C{nomrulist} refuses READ_MRU.

Every drop is counted in the daemon's counters under C{control.*}.

@see: ntpd's C{ntpd/ntp_control.c}; L{ntpservice.core.control} for the
    wire format.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from typing import Any, Callable, Collection

from zope.interface import implementer

from ntpservice.auth.mac import signControl, verifyControl
from ntpservice.control.mode6.events import ControlEvents
from ntpservice.control.mode6.runtime import RuntimeConfiguration
from ntpservice.control.mode6.variables import (
    ControlVariables,
    monotonicSeconds,
    wallSeconds,
)
from ntpservice.core import control as K
from ntpservice.core.access import controlDecision
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.interfaces import IDatagramHandler

REQUEST_BURST = 128
"""Requests one source may send at once."""

REQUEST_RATE = 32.0
"""Requests per second one source may send in the long run."""

GLOBAL_BURST = 2048
"""Requests all sources together may send at once."""

GLOBAL_RATE = 1024.0
"""Requests per second all sources together may send in the long run."""

MAX_SOURCES = 4096
"""Sources whose token buckets are remembered (the oldest are forgotten)."""

MAX_UNAUTHENTICATED_FRAGMENTS = 8
"""Datagrams in a response to an unauthenticated request (not READ_MRU)."""

MAX_MRU_FRAGMENTS = 32
"""Datagrams in a READ_MRU response (ntpq asks for at most 32)."""

SECRET_LIFETIME = 3600.0
"""Seconds before the nonce secret is replaced (the previous one stays valid)."""

_NOMODIFY_TEXT = "runtime configuration prohibited by restrict ... nomodify"


class _TokenBucket:
    __slots__ = ("tokens", "stamp")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp

    def take(self, now: float, burst: float, rate: float) -> bool:
        elapsed = max(0.0, now - self.stamp)
        self.stamp = now
        self.tokens = min(burst, self.tokens + elapsed * rate)
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class RateLimiter:
    """
    Token buckets per source address and for all sources together.
    """

    def __init__(
        self,
        burst: float = REQUEST_BURST,
        rate: float = REQUEST_RATE,
        globalBurst: float = GLOBAL_BURST,
        globalRate: float = GLOBAL_RATE,
        maxSources: int = MAX_SOURCES,
    ) -> None:
        self._burst, self._rate = burst, rate
        self._globalBurst, self._globalRate = globalBurst, globalRate
        self._maxSources = maxSources
        self._sources: dict[str, _TokenBucket] = {}
        self._global: _TokenBucket | None = None

    def allow(self, address: str, now: float) -> bool:
        """
        Whether a request from C{address} at C{now} (seconds, monotonic) is
        within the limits; if it is, it is charged.
        """
        if self._global is None:
            self._global = _TokenBucket(self._globalBurst, now)
        bucket = self._sources.pop(address, None)
        if bucket is None:
            bucket = _TokenBucket(self._burst, now)
            if len(self._sources) >= self._maxSources:
                del self._sources[next(iter(self._sources))]
        self._sources[address] = bucket
        if not bucket.take(now, self._burst, self._rate):
            return False
        return self._global.take(now, self._globalBurst, self._globalRate)


def isLoopback(address: str) -> bool:
    """
    Whether C{address} is a loopback address (an IPv4-mapped one
    included).
    """
    try:
        parsed = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return parsed.is_loopback


@implementer(IDatagramHandler)
class ControlHandler:
    """
    Answer ntpq (mode 6) for one daemon.

    Register it for packet mode 6: C{modes.register(6, ControlHandler(daemon))}.
    Its L{events} observe the daemon
    (L{ntpservice.daemon.NTPDaemon.addObserver}) for the events of the
    status words and the peer variables that only arriving packets tell
    (C{rec}, C{xmt}, C{dstadr}, C{pmode}).

    @ivar events: the event bookkeeping (L{ControlEvents}).
    @ivar variables: the variables and status words (L{ControlVariables}).
    @ivar runtime: the runtime configuration (L{RuntimeConfiguration}).
    """

    def __init__(
        self,
        daemon: Any,
        randomBytes: Callable[[int], bytes] = os.urandom,
        limiter: RateLimiter | None = None,
    ) -> None:
        """
        @param daemon: the L{ntpservice.daemon.NTPDaemon}.
        @param randomBytes: returns that many random octets (the nonce
            secret).
        @param limiter: the request rate limits.
        """
        self._daemon = daemon
        self._counters = daemon.counters
        self._randomBytes = randomBytes
        self._limiter = limiter if limiter is not None else RateLimiter()
        self._started = monotonicSeconds(daemon)
        startedWall = wallSeconds(daemon)
        self._secrets = [randomBytes(32)]
        self._secretTime = self._started
        self.events = ControlEvents(daemon)
        self.variables = ControlVariables(daemon, self.events, self._started, startedWall)
        self.runtime = RuntimeConfiguration(daemon, self.events)
        daemon.addObserver(self.events)

    def associationIDs(self) -> list[int]:
        """Every association ID ntpq sees, in increasing order."""
        return self.variables.associationIDs()

    def systemValues(self, names: Collection[str] | None = None) -> dict[str, str | None]:
        """
        Every system variable this server knows, formatted
        (L{ControlVariables.systemValues}).
        """
        return self.variables.systemValues(names)

    def configure(self, text: str, origin: str) -> str:
        """
        Apply C{:config} text (L{RuntimeConfiguration.configure}).

        @return: C{"Config Succeeded"}, or one line per error.
        """
        return self.runtime.configure(text, origin)

    def _monotonic(self) -> float:
        return monotonicSeconds(self._daemon)

    # -- access ----------------------------------------------------------

    def _restriction(self, host: str, port: int) -> tuple[Any, str | None]:
        """
        The restriction for a source and, when it may not query, the
        counter to count.
        """
        daemon = self._daemon
        restriction = daemon.restrictions.lookup(host, port)
        if not daemon.configuration.restrictions:
            return restriction, None if isLoopback(host) else "control.notlocal"
        decision = controlDecision(restriction, port)
        if not decision.isAnswer:
            return restriction, f"control.{decision.reason}"
        if restriction.source is None and not isLoopback(host):
            return restriction, "control.notlocal"
        return restriction, None

    # -- IDatagramHandler ------------------------------------------------

    def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
        """
        Answer one mode 6 datagram (or drop it, counting why).
        """
        counters = self._counters
        counters.count("control.received")
        host, port = datagram.source[0], datagram.source[1]
        if port == 0:
            counters.count("control.bogusport")
            return
        if not datagram.isUnicast:
            # Never answer what was sent to a broadcast or multicast
            # address: one request would draw answers from every host.
            counters.count("control.notunicast")
            return
        restriction, refused = self._restriction(host, port)
        if refused is not None:
            counters.count(refused)
            return
        if not self._limiter.allow(host, self._monotonic()):
            counters.count("control.ratelimited")
            return
        data = datagram.data
        try:
            request = K.ControlMessage.decode(data)
        except K.ControlError:
            counters.count("control.malformed")
            return
        if request.response or request.error or request.more or request.offset:
            counters.count("control.malformed")
            return
        if not 1 <= request.version <= 4:
            counters.count("control.badversion")
            return
        if self.variables.localPort is None:
            self.variables.localPort = _localPort(sender)
        counters.count("control.requests")
        leap = self._daemon.engine.system.leap
        if len(data) % 4 or len(request.data) > K.MAX_DATA_LEN:
            self._send(sender, datagram, [K.errorResponse(request, K.ERR_BADFMT, leap)], None)
            return
        auth = verifyControl(data, len(request.data), self._daemon.keyring, host)
        if auth.status == "bad":
            counters.count("control.badauth")
        key = auth.key if auth.authenticated else None
        try:
            answer = self._dispatch(request, datagram, auth, restriction)
        except K.RequestError as e:
            counters.count("control.errors")
            self._send(sender, datagram, [K.errorResponse(request, e.code, leap)], key)
            return
        if answer is None:
            return
        text, status, limit = answer
        messages = K.fragmentResponse(request, text, status, leap)
        if key is None and len(messages) > limit:
            counters.count("control.toolarge")
            self._send(
                sender, datagram, [K.errorResponse(request, K.ERR_PERMISSION, leap)], None
            )
            return
        self._send(sender, datagram, messages, key)

    def _send(
        self, sender: Any, datagram: Any, messages: list[K.ControlMessage], key: Any
    ) -> None:
        for message in messages:
            encoded = message.encode()
            if key is not None:
                encoded = signControl(encoded, key)
            sender.sendReply(datagram, encoded)
        self._counters.count("control.responses")
        self._counters.count("control.fragments", len(messages))

    # -- requests --------------------------------------------------------

    def _dispatch(
        self, request: K.ControlMessage, datagram: Any, auth: K.ControlAuth, restriction: Any
    ) -> tuple[bytes, int, int] | None:
        """
        The response to a request: its data, status word and the most
        datagrams it may take unauthenticated; C{None} to send nothing.

        @raise K.RequestError: for an error response.
        """
        opcode = request.opcode
        limit = MAX_UNAUTHENTICATED_FRAGMENTS
        variables = self.variables
        if opcode == K.OP_UNSPEC:
            if request.associd:
                return b"", variables.peerStatus(request.associd), limit
            return b"", variables.systemStatus(), limit
        if opcode == K.OP_READSTAT:
            if request.associd:
                status = variables.peerStatus(request.associd)
                items = variables.peerItems(request.associd, ())
                return K.encodeVariables(items), status, limit
            pairs = b"".join(
                struct.pack("!HH", associd, variables.peerStatus(associd))
                for associd in variables.associationIDs()
            )
            return pairs, variables.systemStatus(), limit
        if opcode == K.OP_READVAR:
            names = [name for name, _value in K.parseRequestItems(request.data)]
            if request.associd:
                status = variables.peerStatus(request.associd)
                items = variables.peerItems(request.associd, names)
                return K.encodeVariables(items), status, limit
            items = variables.systemItems(names)
            return K.encodeVariables(items), variables.systemStatus(), limit
        if opcode == K.OP_READCLOCK:
            names = [name for name, _value in K.parseRequestItems(request.data)]
            # Association 0 is "the system's clock", as in ntpd: the system
            # peer when it is a reference clock, else the first reference
            # clock.
            associd = request.associd or variables.systemClockID()
            # The clock status word: no events, status OK (ntpd's
            # ctlclkstatus for a clock without trouble).
            return K.encodeVariables(variables.clockItems(associd, names)), 0, limit
        if opcode == K.OP_CONFIGURE:
            self._requireControlKey(auth)
            if request.associd:
                raise K.RequestError(K.ERR_BADVALUE)
            if restriction.nomodify:
                self._counters.count("control.nomodify")
                refusal = K.encodeVariables([(_NOMODIFY_TEXT, None)])
                return refusal, variables.systemStatus(), limit
            text = self.runtime.configure(
                request.data.decode("utf-8", "replace"), datagram.source[0]
            )
            return K.encodeVariables([(text, None)]), variables.systemStatus(), limit
        if opcode == K.OP_REQ_NONCE:
            nonce = self._nonce(datagram)
            return K.encodeVariables([("nonce", nonce)]), variables.systemStatus(), limit
        if opcode == K.OP_READ_MRU:
            return self._readMRU(request, datagram, restriction)
        if opcode == K.OP_READ_ORDLIST_A:
            self._requireControlKey(auth)
            raise K.RequestError(K.ERR_UNKNOWNVAR, "no ordered list is available")
        raise K.RequestError(K.ERR_BADOP)

    def _requireControlKey(self, auth: K.ControlAuth) -> None:
        controlKey = self._daemon.configuration.controlKey
        if (
            not auth.authenticated
            or controlKey is None
            or auth.keyID != int(controlKey.value)
        ):
            self._counters.count("control.unauthorized")
            raise K.RequestError(K.ERR_PERMISSION, "needs the controlkey")

    # -- nonces and the MRU list -----------------------------------------

    def _currentSecrets(self) -> list[bytes]:
        now = self._monotonic()
        if now - self._secretTime >= SECRET_LIFETIME:
            self._secrets = [self._randomBytes(32), self._secrets[0]]
            self._secretTime = now
        return self._secrets

    def _nonce(self, datagram: Any) -> str:
        host, port = datagram.source[0], datagram.source[1]
        stamp = NTPTimestamp.fromUnixNanoseconds(self._daemon.clock.now())
        return K.makeNonce(self._currentSecrets()[0], host, port, stamp)

    def _readMRU(
        self, request: K.ControlMessage, datagram: Any, restriction: Any
    ) -> tuple[bytes, int, int] | None:
        if restriction.nomrulist:
            self._counters.count("control.nomrulist")
            raise K.RequestError(K.ERR_PERMISSION, "nomrulist")
        parsed = K.MRURequest.parse(K.parseRequestItems(request.data))
        host, port = datagram.source[0], datagram.source[1]
        stamp = NTPTimestamp.fromUnixNanoseconds(self._daemon.clock.now())
        if parsed.nonce is None or not K.checkNonce(
            parsed.nonce, self._currentSecrets(), host, port, stamp
        ):
            self._counters.count("control.badnonce")
            return None
        mru = self._daemon.mru
        entries = list(reversed(list(mru))) if mru is not None else []
        items = K.mruResponseItems(
            parsed,
            entries,
            wallSeconds(self._daemon),
            self._nonce(datagram),
            MAX_MRU_FRAGMENTS,
        )
        return K.encodeVariables(items), self.variables.systemStatus(), MAX_MRU_FRAGMENTS


def _localPort(sender: Any) -> int | None:
    transport = getattr(sender, "transport", None)
    getHost = getattr(transport, "getHost", None)
    if getHost is None:
        return None
    try:
        port = getHost().port
    except Exception:
        return None
    return port if isinstance(port, int) else None
