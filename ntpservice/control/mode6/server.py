# -*- test-case-name: tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The mode 6 request handler: who is answered, how much, and which request
gets which answer.

L{ControlHandler} is the L{IDatagramHandler} the multiplexer hands mode 6
datagrams to. It decides access (C{restrict}, loopback, the rate limits),
checks the MAC and the C{controlkey}, dispatches on the opcode, hands out
and checks the nonces of C{ntpq mrulist} and of write requests, keeps what
answers to unproven addresses may cost within a byte budget, and fragments
(and signs) the response. The variables it answers with come from
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
 - No amplifier (CVE-2013-5211; Rossow, "Amplification Hell", NDSS 2014):
   an address is I{proven} when it is a loopback address or when its
   request echoes a nonce we gave to that address and port less than
   C{NONCE_TIMEOUT} seconds ago (READ_MRU, write requests). A valid MAC
   proves who made a request, not who sends it now (a captured signed
   request can be replayed from a forged address), so it proves nothing
   here. What is sent to unproven addresses comes out of two byte
   buckets: one per source address (L{BUDGET_BURST} octets, refilled at
   L{BUDGET_RATE} a second, kept in the per-source table of the request
   rate limits) and one for all of them together (L{GLOBAL_BUDGET_BURST},
   L{GLOBAL_BUDGET_RATE}). An answer that does not fit is not sent
   (counted, C{control.overbudget}): a flood of forged requests, from one
   address or from fresh ones, draws at most the bursts plus
   L{GLOBAL_BUDGET_RATE} octets a second, less than it sends as soon as
   it sends more than that.
 - Write requests (CONFIGURE) need a MAC with the C{controlkey} and a
   nonce, as the first line C{# nonce=...} of the configuration text,
   given by REQ_NONCE to that address and port less than
   C{NONCE_TIMEOUT} seconds before; each nonce executes one request once.
   A captured request replayed later is refused (C{control.replayed}); an
   exact retransmission of an executed request while its nonce is fresh
   gets the first answer again, from L{WRITE_CACHE_SIZE} remembered ones,
   and is not executed again (C{control.retransmitted}). Only from a
   loopback address is a signed CONFIGURE without a nonce accepted (what
   NTPsec's C{ntpq :config} sends); elsewhere it is refused
   (C{control.nononce}).
 - Requests sent to a broadcast or multicast address are not answered.
 - C{nomodify} refuses C{:config}; C{nomrulist} refuses READ_MRU.

Every drop is counted in the daemon's counters under C{control.*}.

@see: ntpd's C{ntpd/ntp_control.c}; L{ntpservice.core.control} for the
    wire format.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import struct
from dataclasses import dataclass
from typing import Any, Callable, Collection

from zope.interface import implementer

from ntpservice._log import Logger
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

BUDGET_BURST = 8192
"""
Octets of answers one unproven address may get at once (C{ntpq -p} for a
dozen associations, or C{ntpq -c rv} several times).
"""

BUDGET_RATE = 512.0
"""Octets a second refilled into one unproven address's budget."""

GLOBAL_BUDGET_BURST = 16384
"""Octets of answers all unproven addresses together may get at once."""

GLOBAL_BUDGET_RATE = 1024.0
"""
Octets a second refilled into the budget of all unproven addresses: what a
flood of forged requests can draw in the long run, whatever it sends.
"""

WRITE_CACHE_SIZE = 256
"""
Executed write requests remembered (their nonce and answer) until their
nonce expires; beyond it, new write requests are refused until one does.
"""

REFUSAL_LOG_INTERVAL = 60.0
"""Seconds between two log lines about refused write requests."""

NONCE_LINE = re.compile(r"\A[ \t]*#[ \t]*nonce=([0-9A-Fa-f]{24})[ \t]*\r?(?:\n|\Z)")
"""The nonce line that starts the text of a write request."""

_NOMODIFY_TEXT = "runtime configuration prohibited by restrict ... nomodify"


class _TokenBucket:
    __slots__ = ("tokens", "stamp")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp

    def take(self, now: float, burst: float, rate: float, amount: float = 1.0) -> bool:
        self.refill(now, burst, rate)
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True

    def refill(self, now: float, burst: float, rate: float) -> None:
        elapsed = max(0.0, now - self.stamp)
        self.stamp = now
        self.tokens = min(burst, self.tokens + elapsed * rate)


class _Source:
    """One source's request bucket and answer budget (octets)."""

    __slots__ = ("requests", "octets")

    def __init__(self, requests: _TokenBucket, octets: _TokenBucket) -> None:
        self.requests = requests
        self.octets = octets


class RateLimiter:
    """
    Token buckets per source address and for all sources together: one
    pair for requests, one for the octets answers to unproven addresses
    may take (the I{budget}). The per-source table is bounded
    (C{maxSources}, the least recently heard forgotten); forgetting a
    source gives it a full budget again, which the global budget bounds.
    """

    def __init__(
        self,
        burst: float = REQUEST_BURST,
        rate: float = REQUEST_RATE,
        globalBurst: float = GLOBAL_BURST,
        globalRate: float = GLOBAL_RATE,
        maxSources: int = MAX_SOURCES,
        budgetBurst: float = BUDGET_BURST,
        budgetRate: float = BUDGET_RATE,
        globalBudgetBurst: float = GLOBAL_BUDGET_BURST,
        globalBudgetRate: float = GLOBAL_BUDGET_RATE,
    ) -> None:
        self._burst, self._rate = burst, rate
        self._globalBurst, self._globalRate = globalBurst, globalRate
        self._budgetBurst, self._budgetRate = budgetBurst, budgetRate
        self._globalBudgetBurst, self._globalBudgetRate = globalBudgetBurst, globalBudgetRate
        self._maxSources = maxSources
        self._sources: dict[str, _Source] = {}
        self._global: _TokenBucket | None = None
        self._globalBudget: _TokenBucket | None = None

    def _source(self, address: str, now: float) -> _Source:
        source = self._sources.pop(address, None)
        if source is None:
            source = _Source(
                _TokenBucket(self._burst, now), _TokenBucket(self._budgetBurst, now)
            )
            if len(self._sources) >= self._maxSources:
                del self._sources[next(iter(self._sources))]
        self._sources[address] = source
        return source

    def allow(self, address: str, now: float) -> bool:
        """
        Whether a request from C{address} at C{now} (seconds, monotonic) is
        within the limits; if it is, it is charged.
        """
        if self._global is None:
            self._global = _TokenBucket(self._globalBurst, now)
        source = self._source(address, now)
        if not source.requests.take(now, self._burst, self._rate):
            return False
        return self._global.take(now, self._globalBurst, self._globalRate)

    def exhausted(self, address: str, now: float) -> bool:
        """
        Whether not even the smallest answer (a bare header) would fit the
        budgets of C{address}: then the request need not be looked at.
        """
        source = self._sources.get(address)
        for bucket, burst, rate in (
            (source.octets if source is not None else None, self._budgetBurst, self._budgetRate),
            (self._globalBudget, self._globalBudgetBurst, self._globalBudgetRate),
        ):
            if bucket is not None:
                bucket.refill(now, burst, rate)
                if bucket.tokens < K.HEADER_LEN:
                    return True
        return False

    def spend(self, address: str, now: float, octets: int) -> bool:
        """
        Whether an answer of C{octets} (UDP payload) to the unproven
        address C{address} fits its budget and the global one; if it does,
        both are charged.
        """
        if self._globalBudget is None:
            self._globalBudget = _TokenBucket(self._globalBudgetBurst, now)
        source = self._source(address, now)
        source.octets.refill(now, self._budgetBurst, self._budgetRate)
        self._globalBudget.refill(now, self._globalBudgetBurst, self._globalBudgetRate)
        if source.octets.tokens < octets or self._globalBudget.tokens < octets:
            return False
        source.octets.tokens -= octets
        self._globalBudget.tokens -= octets
        return True


@dataclass
class _Write:
    """
    A write request executed: the SHA-256 of its datagram, when its nonce
    expires (seconds, monotonic), and the datagrams of its answer.
    """

    digest: bytes
    expires: float
    answer: list[bytes] | None = None


@dataclass
class _Reply:
    """
    How one request is answered: whether its address is proven (no
    budget), where to send, and the write whose answer to remember.
    """

    proven: bool
    sender: Any = None
    cache: _Write | None = None


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

    _log = Logger()

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
        self._writes: dict[str, _Write] = {}
        self._refusals = 0
        self._refusalLogged: float | None = None
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
        data = datagram.data
        counters.count("control.receivedoctets", len(data))
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
        now = self._monotonic()
        if not self._limiter.allow(host, now):
            counters.count("control.ratelimited")
            return
        if not isLoopback(host) and self._limiter.exhausted(host, now):
            # Under a flood: no answer would fit, so the request is not even
            # decoded. One that would prove its address (a nonce) is dropped
            # too: its REQ_NONCE could not have been answered either.
            counters.count("control.overbudget")
            return
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
        reply = _Reply(isLoopback(host), sender)
        if len(data) % 4 or len(request.data) > K.MAX_DATA_LEN:
            self._send(sender, datagram, [K.errorResponse(request, K.ERR_BADFMT, leap)], None,
                       reply)
            return
        auth = verifyControl(data, len(request.data), self._daemon.keyring, host)
        if auth.status == "bad":
            counters.count("control.badauth")
        key = auth.key if auth.authenticated else None
        try:
            answer = self._dispatch(request, datagram, auth, restriction, reply)
        except K.RequestError as e:
            counters.count("control.errors")
            self._send(sender, datagram, [K.errorResponse(request, e.code, leap)], key, reply)
            return
        if answer is None:
            return
        text, status, limit = answer
        messages = K.fragmentResponse(request, text, status, leap)
        if key is None and len(messages) > limit:
            counters.count("control.toolarge")
            self._send(
                sender, datagram, [K.errorResponse(request, K.ERR_PERMISSION, leap)], None,
                reply,
            )
            return
        self._send(sender, datagram, messages, key, reply)

    def _send(
        self, sender: Any, datagram: Any, messages: list[K.ControlMessage], key: Any,
        reply: _Reply,
    ) -> None:
        """
        Send a response, if an unproven address's budget allows it.
        """
        encoded = [message.encode() for message in messages]
        if key is not None:
            encoded = [signControl(e, key) for e in encoded]
        if reply.cache is not None:
            reply.cache.answer = encoded
        self._sendEncoded(sender, datagram, encoded, reply.proven)

    def _sendEncoded(
        self, sender: Any, datagram: Any, encoded: list[bytes], proven: bool
    ) -> None:
        size = sum(len(e) for e in encoded)
        if not proven and not self._limiter.spend(
            datagram.source[0], self._monotonic(), size
        ):
            self._counters.count("control.overbudget")
            return
        for e in encoded:
            sender.sendReply(datagram, e)
        self._counters.count("control.responses")
        self._counters.count("control.fragments", len(encoded))
        self._counters.count("control.sentoctets", size)

    # -- requests --------------------------------------------------------

    def _dispatch(
        self, request: K.ControlMessage, datagram: Any, auth: K.ControlAuth, restriction: Any,
        reply: _Reply,
    ) -> tuple[bytes, int, int] | None:
        """
        The response to a request: its data, status word and the most
        datagrams it may take unauthenticated; C{None} to send nothing.

        @param reply: how the response is sent; a request that proves its
            address (a nonce) says so here.
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
            return self._configure(request, datagram, auth, restriction, reply)
        if opcode == K.OP_REQ_NONCE:
            nonce = self._nonce(datagram)
            return K.encodeVariables([("nonce", nonce)]), variables.systemStatus(), limit
        if opcode == K.OP_READ_MRU:
            return self._readMRU(request, datagram, restriction, reply)
        if opcode == K.OP_READ_ORDLIST_A:
            self._requireControlKey(auth)
            raise K.RequestError(K.ERR_UNKNOWNVAR, "no ordered list is available")
        # WRITEVAR, WRITECLOCK, SETTRAP, UNSETTRAP, SAVECONFIG and the
        # undefined opcodes: nothing here changes state but CONFIGURE.
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

    # -- write requests --------------------------------------------------

    def _configure(
        self, request: K.ControlMessage, datagram: Any, auth: K.ControlAuth, restriction: Any,
        reply: _Reply,
    ) -> tuple[bytes, int, int] | None:
        """
        CONFIGURE: authenticated with the controlkey, fresh (a nonce given
        to this address and port, not used before) and executed once.
        """
        self._requireControlKey(auth)
        host, port = datagram.source[0], datagram.source[1]
        text = request.data.decode("utf-8", "replace")
        match = NONCE_LINE.match(text)
        digest = hashlib.sha256(datagram.data).digest()
        now = self._monotonic()
        self._expireWrites(now)
        if match is not None:
            nonce = match.group(1).lower()
            text = text[match.end() :]
            done = self._writes.get(nonce)
            if done is not None:
                return self._again(done, digest, datagram, reply, host)
            stamp = NTPTimestamp.fromUnixNanoseconds(self._daemon.clock.now())
            if not K.checkNonce(nonce, self._currentSecrets(), host, port, stamp):
                self._refuseWrite("replayed", host, "a stale or foreign nonce")
            # The nonce proves the address: the answer is not budgeted.
            reply.proven = True
            key = nonce
        elif isLoopback(host):
            # NTPsec's ntpq sends no nonce. From loopback (which no other
            # host can forge) it is accepted; an exact retransmission
            # within the nonce lifetime is not executed again.
            key = digest.hex()
            done = self._writes.get(key)
            if done is not None:
                return self._again(done, digest, datagram, reply, host)
        else:
            self._refuseWrite("nononce", host, "no nonce (ntpservice-q sends one)")
        if len(self._writes) >= WRITE_CACHE_SIZE:
            self._counters.count("control.writebusy")
            raise K.RequestError(K.ERR_PERMISSION, "too many recent writes")
        done = _Write(digest, now + K.NONCE_TIMEOUT)
        self._writes[key] = done
        reply.cache = done
        if request.associd:
            raise K.RequestError(K.ERR_BADVALUE)
        status = self.variables.systemStatus()
        if restriction.nomodify:
            self._counters.count("control.nomodify")
            refusal = K.encodeVariables([(_NOMODIFY_TEXT, None)])
            return refusal, status, MAX_UNAUTHENTICATED_FRAGMENTS
        answer = self.runtime.configure(text, host)
        return K.encodeVariables([(answer, None)]), status, MAX_UNAUTHENTICATED_FRAGMENTS

    def _again(
        self, done: _Write, digest: bytes, datagram: Any, reply: _Reply, host: str
    ) -> None:
        """
        A write request whose nonce (or, without a nonce, whose bytes) was
        seen: the same bytes get the same answer, anything else is refused.
        """
        if done.digest != digest:
            self._refuseWrite("replayed", host, "a nonce used before")
        self._counters.count("control.retransmitted")
        if done.answer is not None:
            # Within the budget: whoever replays it may do so many times.
            self._sendEncoded(reply.sender, datagram, done.answer, isLoopback(host))
        return None

    def _refuseWrite(self, reason: str, host: str, why: str) -> None:
        """
        Refuse a write request with PERMISSION: counted, and logged at
        most once every L{REFUSAL_LOG_INTERVAL} seconds.

        @raise K.RequestError: always.
        """
        self._counters.count(f"control.{reason}")
        now = self._monotonic()
        self._refusals += 1
        if self._refusalLogged is None or now - self._refusalLogged >= REFUSAL_LOG_INTERVAL:
            self._log.warn(
                "Refused a runtime configuration request from {host}: {why}"
                " ({count} refused since the last such line)",
                host=host,
                why=why,
                count=self._refusals,
            )
            self._refusalLogged = now
            self._refusals = 0
        raise K.RequestError(K.ERR_PERMISSION, why)

    def _expireWrites(self, now: float) -> None:
        for key in [k for k, w in self._writes.items() if w.expires <= now]:
            del self._writes[key]

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
        self, request: K.ControlMessage, datagram: Any, restriction: Any, reply: _Reply
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
        reply.proven = True
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
