# -*- test-case-name: tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The mode 6 server: what NTPsec's and ntpd's C{ntpq} talk to.

L{ControlHandler} is the L{IDatagramHandler} the multiplexer hands mode 6
datagrams to. It answers, with ntpd's variable names and formats:

  - READSTAT: the association list with peer status words, or one
    association's variables;
  - READVAR: system variables (association 0, with those of C{setvar}
    lines, and the counters of C{ntpq sysstats}, C{authinfo}, C{iostats},
    C{monstats} and the kernel's of C{kerninfo}) or peer variables;
  - READCLOCK: the LOCAL clock's variables (for association 0 too: ntpd's
    "system clock" is the system peer if it is a reference clock, else the
    first reference clock);
  - CONFIGURE (C{ntpq :config}): C{server}, C{pool} and C{unpeer} at run
    time, for requests authenticated with the C{controlkey};
  - REQ_NONCE and READ_MRU (C{ntpq mrulist}), the nonce proving that the
    client receives what is sent to its address;
  - anything else with ntpd's error codes.

Associations that are not in the engine are shown as ntpd shows them: the
LOCAL clock (C{127.127.1.u}, C{LOCAL(u)}, refid C{LOCL}, the C{fudge}
stratum) as a reference-clock association, and each C{pool} line as a
"pool" association (address C{0.0.0.0}, refid C{POOL}, stratum 16), which
ntpq shows with type C{l} and C{p}.

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
from dataclasses import dataclass, field
from typing import Any, Callable, Collection

from zope.interface import implementer

import ntpservice
from ntpservice import config as _config
from ntpservice._log import Logger
from ntpservice.auth.keyring import checkAssociationKey
from ntpservice.auth.mac import STATISTICS as MAC_STATISTICS
from ntpservice.auth.mac import signControl, verifyControl
from ntpservice.control.kernel import KERNEL_VARIABLES, kernelValues, readKernelState
from ntpservice.core import control as K
from ntpservice.core import counters as C
from ntpservice.core import status as S
from ntpservice.core.access import controlDecision
from ntpservice.core.association import MAXDISP
from ntpservice.core.mru import ENTRY_BYTES
from ntpservice.core.packet import LEAP_NONE, LEAP_NOTINSYNC, MAX_STRATUM
from ntpservice.core.timestamps import ZERO, NTPTimestamp
from ntpservice.interfaces import IDatagramHandler
from ntpservice.stats import sysstatsCounts

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

LOCAL_POLL_LOG2 = 6
"""The LOCAL clock's poll exponent as shown (ntpd polls it every 64 s)."""

RUNTIME_DIRECTIVES = ("server", "pool", "unpeer")
"""What C{ntpq :config} may say."""

_NOMODIFY_TEXT = "runtime configuration prohibited by restrict ... nomodify"

SYSTEM_DEFAULT_VARIABLES = (
    "leap",
    "stratum",
    "precision",
    "rootdelay",
    "rootdisp",
    "rootdist",
    "refid",
    "reftime",
    "tc",
    "peer",
    "offset",
    "frequency",
    "sys_jitter",
    "clk_jitter",
    "clock",
    "processor",
    "system",
    "release",
    "version",
    "clk_wander",
    "mintc",
)
"""The system variables C{ntpq rv} gets, in ntpd's order."""

PEER_VARIABLES = (
    "config",
    "authenable",
    "authentic",
    "srcadr",
    "srcport",
    "dstadr",
    "dstport",
    "leap",
    "hmode",
    "stratum",
    "ppoll",
    "hpoll",
    "precision",
    "rootdelay",
    "rootdisp",
    "refid",
    "reftime",
    "rec",
    "xmt",
    "reach",
    "unreach",
    "timer",
    "delay",
    "offset",
    "jitter",
    "dispersion",
    "keyid",
    "filtdelay",
    "filtoffset",
    "pmode",
    "received",
    "sent",
    "filtdisp",
    "flash",
    "mode",
    "headway",
    "srchost",
    "candidate",
)
"""Every peer variable, in ntpd's order (a response keeps this order)."""

PEER_DEFAULT_VARIABLES = frozenset(PEER_VARIABLES) - {
    "config",
    "authenable",
    "authentic",
    "timer",
    "received",
    "sent",
    "candidate",
}
"""The peer variables sent when none is named."""

SYSSTATS_COUNTERS = (
    "ss_received",
    "ss_thisver",
    "ss_oldver",
    "ss_ver1",
    "ss_ver1client",
    "ss_ver1zero",
    "ss_ver1symm",
    "ss_badformat",
    "ss_badauth",
    "ss_declined",
    "ss_restricted",
    "ss_limited",
    "ss_kodsent",
    "ss_processed",
)
"""
The packet counters of C{ntpq sysstats}: each since the last reset (the
hourly C{sysstats} line), and with C{_r} since the start.
"""

AUTH_VARIABLES = (
    "authreset",
    "authdelay",
    "authkeys",
    "authfreek",
    "authklookups",
    "authknotfound",
    "authencrypts",
    "authdigestencrypts",
    "authcmacencrypts",
    "authdecrypts",
    "authdigestdecrypts",
    "authdigestfails",
    "authcmacdecrypts",
    "authcmacfails",
    "authkuncached",
    "authkexpired",
)
"""The variables of C{ntpq authinfo} (and C{authdelay}, of C{sysinfo})."""

IO_VARIABLES = (
    "iostats_reset",
    "total_rbuf",
    "free_rbuf",
    "used_rbuf",
    "rbuf_lowater",
    "io_dropped",
    "io_ignored",
    "io_received",
    "io_sent",
    "io_sendfailed",
    "io_wakeups",
    "io_goodwakeups",
)
"""The variables of C{ntpq iostats}."""

CLOCK_VARIABLES = (
    "name",
    "timecode",
    "poll",
    "noreply",
    "badformat",
    "baddata",
    "fudgetime1",
    "fudgetime2",
    "stratum",
    "refid",
    "flags",
    "device",
)
"""The reference-clock variables (READCLOCK), in ntpd's order."""


KERNEL_NAMES = frozenset(KERNEL_VARIABLES)
"""The kernel variables of C{ntpq kerninfo} (L{ntpservice.control.kernel})."""

SYSSTATS_NAMES = frozenset(
    ("ss_uptime", "ss_numctlreq", "ss_reset", "ss_reset_r")
    + SYSSTATS_COUNTERS
    + tuple(name + "_r" for name in SYSSTATS_COUNTERS)
)
"""Every variable of C{ntpq sysstats}."""

AUTH_NAMES = frozenset(AUTH_VARIABLES)
"""Every variable of C{ntpq authinfo}."""

IO_NAMES = frozenset(IO_VARIABLES)
"""Every variable of C{ntpq iostats}."""


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


@dataclass(slots=True)
class _PeerRecord:
    """What the handler learns about an association from the observers."""

    events: S.EventCounter = field(default_factory=S.EventCounter)
    rec: NTPTimestamp | None = None
    xmt: NTPTimestamp | None = None
    dstadr: str | None = None
    pmode: int = 0


@dataclass(slots=True)
class _Pool:
    """A C{pool} line, shown as ntpd's pool association."""

    directive: Any
    events: S.EventCounter = field(default_factory=S.EventCounter)


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


def _uname() -> tuple[str, str, str]:
    try:
        info = os.uname()
    except AttributeError:  # pragma: no cover
        return ("unknown", "unknown", "unknown")
    return (info.machine, info.sysname, info.release)


@implementer(IDatagramHandler)
class ControlHandler:
    """
    Answer ntpq (mode 6) for one daemon.

    Register it for packet mode 6: C{modes.register(6, ControlHandler(daemon))}.
    It observes the daemon (L{ntpservice.daemon.NTPDaemon.addObserver}) for
    the events of the status words and the peer variables that only
    arriving packets tell (C{rec}, C{xmt}, C{dstadr}, C{pmode}).

    @ivar localID: the association ID shown for the LOCAL clock, or
        C{None} without one.
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
        self._started = self._monotonic()
        self._startedWall = self._wallSeconds()
        self._secrets = [randomBytes(32)]
        self._secretTime = self._started
        self._uname = _uname()
        self._localPort: int | None = None
        self._system = S.EventCounter()
        self._system.record(K.EVENT_RESTART)
        self._system.record(
            K.EVENT_FREQ_NOT_SET
            if daemon.engine.discipline.state == "NSET"
            else K.EVENT_FREQ_SET
        )
        self._disciplineState = daemon.engine.discipline.state
        self._peers: dict[int, _PeerRecord] = {}
        engine = daemon.engine
        self.localID: int | None = None
        self._localEvents = S.EventCounter()
        if engine.localClock is not None:
            self.localID = engine.associations.newID()
            self._localEvents.record(K.PEER_EVENT_MOBILIZE)
            self._localEvents.record(K.PEER_EVENT_REACHABLE)
            if self._syncedToLocal():
                self._localEvents.record(K.PEER_EVENT_SYS_PEER)
                self._system.record(K.EVENT_CLOCK_SYNC)
        self._pools: dict[int, _Pool] = {}
        if "pool" in daemon.instances:
            for directive in daemon.configuration.associationsFor("pool"):
                self._addPool(directive)
        daemon.addObserver(self)

    # -- time -------------------------------------------------------------

    def _monotonic(self) -> float:
        seconds = getattr(self._daemon.reactor, "seconds", None)
        if seconds is None:
            return self._wallSeconds()
        return float(seconds())

    def _wallSeconds(self) -> float:
        return self._daemon.clock.now() / 1e9

    # -- observer --------------------------------------------------------

    def _record(self, associd: int) -> _PeerRecord:
        record = self._peers.get(associd)
        if record is None:
            record = self._peers[associd] = _PeerRecord()
        return record

    def peerPacket(
        self, association: Any, packet: Any, result: Any, t1: Any, t4: Any, datagram: Any
    ) -> None:
        """A packet went through an association: note what ntpq shows of it."""
        record = self._record(association.associd)
        if result.accepted:
            record.rec = t4
            record.xmt = packet.xmt
            record.pmode = packet.mode
            record.dstadr = datagram.localAddress or datagram.destination

    def associationEvent(self, associd: int, address: str, event: str) -> None:
        """
        An association was mobilized or demobilized, or became reachable
        or unreachable (the engine reports each change once).
        """
        if event == "mobilize":
            self._peers[associd] = _PeerRecord()
            self._peers[associd].events.record(K.PEER_EVENT_MOBILIZE)
        elif event == "demobilize":
            self._peers.pop(associd, None)
        elif event == "reachable":
            self._record(associd).events.record(K.PEER_EVENT_REACHABLE)
        elif event == "unreachable":
            self._record(associd).events.record(K.PEER_EVENT_UNREACHABLE)

    def systemPeerChanged(self, associd: int | None, address: str | None) -> None:
        """Selection changed the system peer."""
        if associd is not None:
            self._record(associd).events.record(K.PEER_EVENT_SYS_PEER)
            self._system.record(K.EVENT_CLOCK_SYNC)
        elif self.localID is not None:
            self._localEvents.record(K.PEER_EVENT_SYS_PEER)
            self._system.record(K.EVENT_CLOCK_SYNC)
        else:
            self._system.record(K.EVENT_NO_SYS_PEER)

    def clockUpdated(self, now: float) -> None:
        """The discipline took an update: note changes of its state."""
        state = self._daemon.engine.discipline.state
        if state != self._disciplineState:
            self._disciplineState = state
            event = {
                "NSET": K.EVENT_FREQ_NOT_SET,
                "FSET": K.EVENT_FREQ_SET,
                "SPIK": K.EVENT_SPIKE,
                "FREQ": K.EVENT_FREQ_MODE,
                "SYNC": K.EVENT_CLOCK_SYNC,
            }.get(state)
            if event is not None:
                self._system.record(event)

    def clockStepped(self, offset: float) -> None:
        """The clock was stepped."""
        self._system.record(K.EVENT_CLOCK_STEP)

    # -- pools -----------------------------------------------------------

    def _addPool(self, directive: Any) -> int:
        associd: int = self._daemon.engine.associations.newID()
        pool = _Pool(directive)
        pool.events.record(K.PEER_EVENT_MOBILIZE)
        self._pools[associd] = pool
        return associd

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
        if self._localPort is None:
            self._localPort = _localPort(sender)
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

    def _send(self, sender: Any, datagram: Any, messages: list[K.ControlMessage], key: Any) -> None:
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
        if opcode == K.OP_UNSPEC:
            if request.associd:
                return b"", self._peerStatus(request.associd), limit
            return b"", self._systemStatus(), limit
        if opcode == K.OP_READSTAT:
            if request.associd:
                status = self._peerStatus(request.associd)
                return K.encodeVariables(self._peerItems(request.associd, ())), status, limit
            pairs = b"".join(
                struct.pack("!HH", associd, self._peerStatus(associd))
                for associd in self.associationIDs()
            )
            return pairs, self._systemStatus(), limit
        if opcode == K.OP_READVAR:
            names = [name for name, _value in K.parseRequestItems(request.data)]
            if request.associd:
                status = self._peerStatus(request.associd)
                return K.encodeVariables(self._peerItems(request.associd, names)), status, limit
            return K.encodeVariables(self._systemItems(names)), self._systemStatus(), limit
        if opcode == K.OP_READCLOCK:
            names = [name for name, _value in K.parseRequestItems(request.data)]
            # Association 0 is "the system's clock", as in ntpd: the system
            # peer when it is a reference clock, else the first reference
            # clock. The LOCAL clock is the only one: it answers either way.
            associd = request.associd or self.localID
            if associd != self.localID or associd is None:
                raise K.RequestError(K.ERR_BADASSOC)
            # The clock status word: no events, status OK (ntpd's
            # ctlclkstatus for a clock without trouble).
            return K.encodeVariables(self._clockItems(names)), 0, limit
        if opcode == K.OP_CONFIGURE:
            self._requireControlKey(auth)
            if request.associd:
                raise K.RequestError(K.ERR_BADVALUE)
            if restriction.nomodify:
                self._counters.count("control.nomodify")
                return K.encodeVariables([(_NOMODIFY_TEXT, None)]), self._systemStatus(), limit
            text = self.configure(request.data.decode("utf-8", "replace"), datagram.source[0])
            return K.encodeVariables([(text, None)]), self._systemStatus(), limit
        if opcode == K.OP_REQ_NONCE:
            nonce = self._nonce(datagram)
            return K.encodeVariables([("nonce", nonce)]), self._systemStatus(), limit
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

    # -- associations ----------------------------------------------------

    def associationIDs(self) -> list[int]:
        """Every association ID ntpq sees, in increasing order."""
        ids = set(self._daemon.engine.associations.byID)
        if self.localID is not None:
            ids.add(self.localID)
        ids.update(self._pools)
        return sorted(ids)

    def _systemPeerID(self) -> int:
        engine = self._daemon.engine
        if engine.systemPeer is not None:
            return int(engine.systemPeer)
        if self._syncedToLocal():
            assert self.localID is not None
            return self.localID
        return 0

    def _syncedToLocal(self) -> bool:
        engine = self._daemon.engine
        local = engine.localClock
        if local is None or engine.systemPeer is not None or not engine.system.synchronized:
            return False
        # The refid the LOCAL clock gives the system (its name, or its
        # address 127.127.1.u above stratum 1), to tell it from system
        # variables kept after the last network source was lost.
        implied = local.systemVariables(0, engine.precisionLog2).refid
        return engine.system.refid in (implied, local.refid)

    def _systemStatus(self) -> int:
        engine = self._daemon.engine
        if engine.systemPeer is not None:
            source = K.SOURCE_NTP
        elif self._syncedToLocal():
            source = K.SOURCE_LOCAL
        else:
            source = K.SOURCE_UNSPEC
        return K.systemStatus(
            engine.system.leap, source, self._system.count, self._system.last
        )

    def _peerStatus(self, associd: int) -> int:
        engine = self._daemon.engine
        association = engine.associations.byID.get(associd)
        if association is not None:
            record = self._record(associd)
            return S.associationStatusWord(
                association, S.selectionStatus(engine, associd), record.events
            )
        if associd == self.localID and associd is not None:
            synced = self._syncedToLocal()
            return K.peerStatus(
                configured=True,
                authEnabled=False,
                authentic=False,
                reachable=True,
                selection=K.SEL_SYSPEER if synced else K.SEL_REJECT,
                eventCount=self._localEvents.count,
                lastEvent=self._localEvents.last,
            )
        pool = self._pools.get(associd)
        if pool is not None:
            return K.peerStatus(
                configured=True,
                authEnabled=pool.directive.key is not None,
                authentic=False,
                reachable=False,
                eventCount=pool.events.count,
                lastEvent=pool.events.last,
            )
        raise K.RequestError(K.ERR_BADASSOC)

    def _selection(self, associd: int) -> int:
        status = S.selectionStatus(self._daemon.engine, associd)
        return K.SELECTION_CODES.get(status or "", K.SEL_REJECT)

    # -- peer variables --------------------------------------------------

    def _peerItems(self, associd: int, names: Any) -> list[tuple[str, str | None]]:
        engine = self._daemon.engine
        now = self._wallSeconds()
        association = engine.associations.byID.get(associd)
        if association is not None:
            values = self._associationValues(association, now)
        elif associd == self.localID and associd is not None:
            values = self._localValues(now)
        elif associd in self._pools:
            values = self._poolValues(self._pools[associd])
        else:
            raise K.RequestError(K.ERR_BADASSOC)
        if names:
            wanted = set(names)
            unknown = wanted - set(PEER_VARIABLES)
            if unknown:
                raise K.RequestError(K.ERR_UNKNOWNVAR, ", ".join(sorted(unknown)))
        else:
            wanted = PEER_DEFAULT_VARIABLES
        return [
            (name, values[name])
            for name in PEER_VARIABLES
            if name in wanted and values.get(name) is not None
        ]

    def _dstadr(self, record: _PeerRecord | None, address: str) -> str:
        if record is not None and record.dstadr:
            return record.dstadr
        return "::" if ":" in address else "0.0.0.0"

    def _associationValues(self, a: Any, now: float) -> dict[str, str | None]:
        settings = a.settings
        record = self._peers.get(a.associd)
        stages = a.filter.stages()
        asAddress = 1 < a.stratum < MAX_STRATUM
        ppoll = a.ppoll if a.ppoll else settings.maxPollLog2
        return {
            "config": "1" if settings.lifecycle != "ephemeral" else "0",
            "authenable": "1" if settings.key is not None else "0",
            "authentic": "1" if S.isAuthentic(a) else "0",
            "srcadr": a.address,
            "srcport": str(settings.port),
            "dstadr": self._dstadr(record, a.address),
            "dstport": None if self._localPort is None else str(self._localPort),
            "leap": str(a.leap),
            "hmode": str(a.hmode),
            "stratum": str(a.stratum),
            "ppoll": str(ppoll),
            "hpoll": str(a.hpoll),
            "precision": str(a.precision),
            "rootdelay": K.formatFixed(a.rootDelay * 1e3),
            "rootdisp": K.formatFixed(a.rootDispersion * 1e3),
            "refid": K.formatRefid(a.refid, asAddress),
            "reftime": K.formatTimestamp(a.reftime),
            "rec": K.formatTimestamp(record.rec if record and record.rec else ZERO),
            "xmt": K.formatTimestamp(record.xmt if record and record.xmt else ZERO),
            "reach": K.formatHex(a.reach),
            "unreach": str(a.unreach),
            "timer": str(max(0, int(a.nextPoll - now))),
            "delay": K.formatFixed(a.delay * 1e3, 6),
            "offset": K.formatFixed(a.offset * 1e3, 6),
            "jitter": K.formatFixed(a.jitter * 1e3, 6),
            "dispersion": K.formatFixed(a.dispersionAt(now) * 1e3, 6),
            "keyid": str(settings.key or 0),
            "filtdelay": K.formatArray(s[1] for s in stages),
            "filtoffset": K.formatArray(s[0] for s in stages),
            "pmode": str(record.pmode if record else 0),
            "received": str(a.received),
            "sent": str(a.sent),
            "filtdisp": K.formatArray(s[2] for s in stages),
            "flash": K.formatHex(a.flash),
            "headway": "0",
            "srchost": (
                K.quoted(settings.name)
                if settings.name and settings.name != a.address
                else None
            ),
            "candidate": str(self._selection(a.associd)),
        }

    def _localTicks(self, now: float) -> tuple[int, float]:
        """
        The LOCAL clock's polls so far and the time of the last one
        (ntpd polls it every 64 s from the start).
        """
        interval = 2.0**LOCAL_POLL_LOG2
        elapsed = max(0.0, now - self._startedWall)
        ticks = int(elapsed // interval)
        return ticks + 1, self._startedWall + ticks * interval

    def _localValues(self, now: float) -> dict[str, str | None]:
        from ntpservice.refclocks.local import DISPERSION

        engine = self._daemon.engine
        local = engine.localClock
        ticks, last = self._localTicks(now)
        reach = (1 << min(ticks, 8)) - 1
        lastStamp = NTPTimestamp.fromUnixNanoseconds(int(last * 1e9))
        synced = self._syncedToLocal()
        reftime = engine.system.reftime if synced else lastStamp
        filled = min(ticks, 8)
        zeros = [0.0] * 8
        disp = [DISPERSION] * filled + [MAXDISP] * (8 - filled)
        return {
            "config": "1",
            "authenable": "0",
            "authentic": "0",
            "srcadr": f"127.127.1.{local.unit}",
            "srcport": "123",
            "dstadr": "127.0.0.1",
            "dstport": None if self._localPort is None else str(self._localPort),
            "leap": str(LEAP_NONE),
            "hmode": "3",
            "stratum": str(local.stratum),
            "ppoll": str(LOCAL_POLL_LOG2),
            "hpoll": str(LOCAL_POLL_LOG2),
            "precision": str(engine.precisionLog2),
            "rootdelay": K.formatFixed(0.0),
            "rootdisp": K.formatFixed(0.0),
            "refid": K.formatRefid(local.refid, False),
            "reftime": K.formatTimestamp(reftime),
            "rec": K.formatTimestamp(lastStamp),
            "xmt": K.formatTimestamp(ZERO),
            "reach": K.formatHex(reach),
            "unreach": "0",
            "timer": str(max(0, int(last + 2.0**LOCAL_POLL_LOG2 - now))),
            "delay": K.formatFixed(0.0, 6),
            "offset": K.formatFixed(0.0, 6),
            "jitter": K.formatFixed(0.0, 6),
            "dispersion": K.formatFixed(DISPERSION * 1e3, 6),
            "keyid": "0",
            "filtdelay": K.formatArray(zeros),
            "filtoffset": K.formatArray(zeros),
            "pmode": "0",
            "received": str(ticks),
            "sent": str(ticks),
            "filtdisp": K.formatArray(disp),
            "flash": K.formatHex(0),
            "mode": "0",
            "headway": "0",
            "srchost": K.quoted(f"LOCAL({local.unit})"),
            "candidate": str(K.SEL_SYSPEER if synced else K.SEL_REJECT),
        }

    def _poolValues(self, pool: _Pool) -> dict[str, str | None]:
        directive = pool.directive
        wildcard = "::" if directive.ipVersion == 6 else "0.0.0.0"
        zeros = [0.0] * 8
        return {
            "config": "1",
            "authenable": "1" if directive.key is not None else "0",
            "authentic": "0",
            "srcadr": wildcard,
            "srcport": str(directive.port),
            "dstadr": wildcard,
            "dstport": None if self._localPort is None else str(self._localPort),
            "leap": str(LEAP_NOTINSYNC),
            "hmode": "3",
            "stratum": str(MAX_STRATUM),
            "ppoll": str(directive.maxPollLog2),
            "hpoll": str(directive.minPollLog2),
            "precision": "0",
            "rootdelay": K.formatFixed(0.0),
            "rootdisp": K.formatFixed(0.0),
            "refid": "POOL",
            "reftime": K.formatTimestamp(ZERO),
            "rec": K.formatTimestamp(ZERO),
            "xmt": K.formatTimestamp(ZERO),
            "reach": K.formatHex(0),
            "unreach": "0",
            "timer": None,
            "delay": K.formatFixed(0.0, 6),
            "offset": K.formatFixed(0.0, 6),
            "jitter": K.formatFixed(0.0, 6),
            "dispersion": K.formatFixed(MAXDISP * 1e3, 6),
            "keyid": str(directive.key or 0),
            "filtdelay": K.formatArray(zeros),
            "filtoffset": K.formatArray(zeros),
            "pmode": "0",
            "received": "0",
            "sent": "0",
            "filtdisp": K.formatArray([MAXDISP] * 8),
            "flash": K.formatHex(0),
            "headway": "0",
            "srchost": K.quoted(directive.address),
            "candidate": str(K.SEL_REJECT),
        }

    def _clockItems(self, names: Any) -> list[tuple[str, str | None]]:
        local = self._daemon.engine.localClock
        ticks, _last = self._localTicks(self._wallSeconds())
        values = {
            "name": K.quoted(f"LOCAL({local.unit})"),
            "timecode": K.quoted(""),
            "poll": str(ticks),
            "noreply": "0",
            "badformat": "0",
            "baddata": "0",
            "fudgetime1": K.formatFixed(0.0),
            "fudgetime2": K.formatFixed(0.0),
            "stratum": str(local.stratum),
            "refid": K.formatRefid(local.refid, False),
            "flags": "0",
            "device": K.quoted("undisciplined local clock"),
        }
        if names:
            unknown = set(names) - set(CLOCK_VARIABLES)
            if unknown:
                raise K.RequestError(K.ERR_UNKNOWNVAR, ", ".join(sorted(unknown)))
            wanted = set(names)
        else:
            wanted = set(CLOCK_VARIABLES)
        return [(name, values[name]) for name in CLOCK_VARIABLES if name in wanted]

    # -- system variables -------------------------------------------------

    def systemValues(self, names: Collection[str] | None = None) -> dict[str, str | None]:
        """
        Every system variable this server knows, formatted (C{None}: not
        available now).

        @param names: the variables asked for: the counters of a group
            (L{SYSSTATS_NAMES}, L{AUTH_NAMES}, L{IO_NAMES}) are only
            gathered, and the kernel (L{KERNEL_NAMES}) only read, when one
            of the group is (C{None}: every variable).
        """
        daemon = self._daemon
        engine = daemon.engine
        system = engine.system
        discipline = engine.discipline
        nowNs = daemon.clock.now()
        now = nowNs / 1e9
        rootdisp = system.rootDispersionAt(nowNs)
        peerID = self._systemPeerID()
        peer = engine.associations.byID.get(engine.systemPeer) if engine.systemPeer else None
        selection = engine.selection
        sysJitter = selection.jitter if selection is not None and engine.systemPeer else 0.0
        machine, sysname, release = self._uname
        values: dict[str, str | None] = {
            "leap": str(system.leap),
            "stratum": str(system.stratum),
            "precision": str(system.precision),
            "rootdelay": K.formatFixed(system.rootDelay * 1e3),
            "rootdisp": K.formatFixed(rootdisp * 1e3),
            "rootdist": K.formatFixed((system.rootDelay / 2 + rootdisp) * 1e3),
            "refid": K.formatRefid(system.refid, 1 < system.stratum < MAX_STRATUM),
            "reftime": K.formatTimestamp(system.reftime),
            "tc": str(discipline.timeConstant),
            "peer": str(peerID),
            "offset": K.formatFixed(discipline.offset * 1e3, 6),
            "frequency": K.formatFixed(discipline.freqPPM, 3),
            "sys_jitter": K.formatFixed(sysJitter * 1e3, 6),
            "clk_jitter": K.formatFixed(discipline.jitter * 1e3, 6),
            "clock": K.formatTimestamp(NTPTimestamp.fromUnixNanoseconds(nowNs)),
            "processor": K.quoted(machine),
            "system": K.quoted(sysname),
            "release": K.quoted(release),
            "version": K.quoted(f"ntpservice {ntpservice.__version__}"),
            "clk_wander": K.formatFixed(discipline.wander, 6),
            "mintc": str(getattr(discipline.settings, "minPollLog2", 0)),
            "peeradr": K.quoted(
                K.formatAddressPort(peer.address, peer.settings.port)
                if peer is not None
                else "0.0.0.0:0"
            ),
            "peermode": str(peer.hmode if peer is not None else 0),
        }
        uptime = max(0, int(self._monotonic() - self._started))
        wanted = None if names is None else frozenset(names)

        def asked(group: frozenset[str]) -> bool:
            return wanted is None or not group.isdisjoint(wanted)

        if asked(SYSSTATS_NAMES):
            values.update(self._sysstatsValues(nowNs, uptime))
        if asked(AUTH_NAMES):
            values.update(self._authValues(uptime))
        if asked(IO_NAMES):
            values.update(self._ioValues(uptime))
        if asked(KERNEL_NAMES):
            values.update(kernelValues(readKernelState(daemon.clock)))
        values.update(self._mruValues(now))
        for setvar in daemon.configuration.setvars:
            values.setdefault(setvar.name, K.quoted(setvar.value))
        return values

    def _sysstatsValues(self, nowNs: int, uptime: int) -> dict[str, str | None]:
        """
        C{ntpq sysstats}: the packet counters since the last reset (the
        hourly C{sysstats} line; the start without one), with C{_r} since
        the start, mapped to ntpd's as the C{sysstats} file maps them.
        """
        counters = self._counters
        resetAt = counters.resetAt
        values: dict[str, str | None] = {
            "ss_uptime": str(uptime),
            "ss_numctlreq": str(counters["control.received"]),
            "ss_reset": str(
                uptime if resetAt is None else max(0, (nowNs - resetAt) // 1_000_000_000)
            ),
            "ss_reset_r": str(uptime),
        }
        for suffix, counts in (("", counters.sinceReset()), ("_r", counters.snapshot())):
            mapped = sysstatsCounts(counts)
            numbers = (
                mapped.received,
                mapped.newVersion,
                mapped.oldVersion,
                mapped.version1,
                counts.get(C.VERSION1_CLIENT, 0),
                counts.get(C.VERSION1_ZERO, 0),
                counts.get(C.VERSION1_SYMMETRIC, 0),
                mapped.badLength,
                mapped.badAuth,
                mapped.declined,
                mapped.restricted,
                mapped.limitRejected,
                mapped.kodSent,
                mapped.processed,
            )
            for name, number in zip(SYSSTATS_COUNTERS, numbers):
                values[name + suffix] = str(number)
        return values

    def _authValues(self, uptime: int) -> dict[str, str | None]:
        """
        C{ntpq authinfo}: the keys and what this process's MACs did
        (L{ntpservice.auth.mac.MACStatistics}). Keys are never cached or
        freed, and never expire: those counts are 0.
        """
        mac = MAC_STATISTICS
        keyring = self._daemon.keyring
        return {
            "authreset": str(uptime),
            "authdelay": K.formatFixed(0.0),
            "authkeys": str(len(keyring) if keyring is not None else 0),
            "authfreek": "0",
            "authklookups": str(mac.lookups),
            "authknotfound": str(mac.notFound),
            "authencrypts": str(mac.digestEncrypts + mac.cmacEncrypts),
            "authdigestencrypts": str(mac.digestEncrypts),
            "authcmacencrypts": str(mac.cmacEncrypts),
            "authdecrypts": str(mac.digestDecrypts + mac.cmacDecrypts),
            "authdigestdecrypts": str(mac.digestDecrypts),
            "authdigestfails": str(mac.digestFails),
            "authcmacdecrypts": str(mac.cmacDecrypts),
            "authcmacfails": str(mac.cmacFails),
            "authkuncached": "0",
            "authkexpired": "0",
        }

    def _ioValues(self, uptime: int) -> dict[str, str | None]:
        """
        C{ntpq iostats}: datagrams received, sent, not sent, and dropped by
        C{interface} rules ("ignored"). There is no pool of receive
        buffers (each datagram is handled as it is read): the buffer counts
        and the packets dropped for want of one are 0, and each datagram
        counts as one (useful) input wakeup.
        """
        counts = self._counters.snapshot()
        received = str(counts.get(C.RECEIVED, 0))
        return {
            "iostats_reset": str(uptime),
            "total_rbuf": "0",
            "free_rbuf": "0",
            "used_rbuf": "0",
            "rbuf_lowater": "0",
            "io_dropped": "0",
            "io_ignored": str(counts.get(C.INTERFACE_DROP, 0)),
            "io_received": received,
            "io_sent": str(counts.get(C.SENT, 0)),
            "io_sendfailed": str(
                sum(n for name, n in counts.items() if name.startswith("send."))
            ),
            "io_wakeups": received,
            "io_goodwakeups": received,
        }

    def _mruValues(self, now: float) -> dict[str, str | None]:
        mru = self._daemon.mru
        if mru is None:
            return {"mru_enabled": "0"}
        settings = mru.settings
        oldest = mru.oldest()
        return {
            "mru_enabled": "1",
            "mru_hashslots": str(len(mru)),  # a dict: one slot per entry
            "mru_depth": str(len(mru)),
            "mru_deepest": str(mru.peakEntries),
            "mru_mindepth": str(settings.mindepth),
            "mru_maxage": str(settings.maxage),
            "mru_minage": str(settings.minage or 0),
            "mru_maxdepth": str(settings.maxdepth),
            "mru_mem": str((len(mru) * ENTRY_BYTES + 512) // 1024),
            "mru_maxmem": str((settings.maxdepth * ENTRY_BYTES + 512) // 1024),
            "mru_exists": str(mru.existing),
            "mru_new": str(mru.newEntries),
            "mru_recycleold": str(mru.recycledOld),
            "mru_recyclefull": str(mru.recycledFull),
            "mru_none": str(mru.notRecorded),
            "mru_oldest_age": str(max(0, int(now - oldest.last)) if oldest else 0),
        }

    def _systemItems(self, names: list[str]) -> list[tuple[str, str | None]]:
        values = self.systemValues(names)
        if not names:
            defaults = list(SYSTEM_DEFAULT_VARIABLES)
            defaults += [
                setvar.name
                for setvar in self._daemon.configuration.setvars
                if setvar.isDefault and setvar.name not in defaults
            ]
            return [(name, values[name]) for name in defaults]
        out = []
        for name in names:
            if name not in values:
                raise K.RequestError(K.ERR_UNKNOWNVAR, name)
            value = values[name]
            if value is not None:
                out.append((name, value))
        return out

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
            self._wallSeconds(),
            self._nonce(datagram),
            MAX_MRU_FRAGMENTS,
        )
        return K.encodeVariables(items), self._systemStatus(), MAX_MRU_FRAGMENTS

    # -- runtime configuration -------------------------------------------

    def configure(self, text: str, origin: str) -> str:
        """
        Apply C{:config} text: C{server}, C{pool} and C{unpeer} lines.

        Names are resolved without blocking (the mode plugins resolve
        them); an address literal is mobilized at once.

        @param text: the configuration lines.
        @param origin: who sent them (for the log and error locations).
        @return: C{"Config Succeeded"}, or one line per error.
        """
        self._log.info(
            "Runtime configuration from {origin}: {text}",
            origin=origin,
            text=text.strip(),
        )
        errors = []
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.strip().strip("\0")
            if not line or line.startswith("#"):
                continue
            try:
                self._configureLine(line, f"ntpq {origin}", number)
            except (_config.ConfigError, ValueError) as e:
                message = e.message if isinstance(e, _config.ConfigError) else str(e)
                errors.append(f"line {number}: {message}")
        if errors:
            self._counters.count("control.configerrors")
            return "\n".join(errors)
        return "Config Succeeded"

    def _configureLine(self, line: str, filename: str, number: int) -> None:
        words = line.split()
        directive = words[0]
        if directive not in RUNTIME_DIRECTIVES:
            raise ValueError(
                f"{directive!r} cannot be configured at run time "
                f"(only {', '.join(RUNTIME_DIRECTIVES)})"
            )
        if directive == "unpeer":
            if len(words) != 2:
                raise ValueError("unpeer takes one address, name or association ID")
            self._unpeer(words[1])
            return
        parsed = _config.parseString("\n" * (number - 1) + line + "\n", filename)
        for warning in parsed.warnings:
            self._log.warn("{warning}", warning=warning)
        association = parsed.associations[0]
        # The key checks of the configuration file, against the keys in use.
        keys = self._daemon.configuration.keys
        checkAssociationKey(
            association, self._daemon.keyring, keys.path if keys is not None else None
        )
        instance = self._daemon.instances.get("client" if directive == "server" else "pool")
        if instance is None or not hasattr(instance, "addDirective"):
            raise ValueError(f"{directive} lines are disabled (no running mode plugin)")
        if directive == "server":
            if association.isRefclock:
                raise ValueError("reference clocks cannot be added at run time")
            try:
                literal = str(ipaddress.ip_address(association.address.partition("%")[0]))
            except ValueError:
                literal = None
            if literal is not None and self._daemon.engine.find(literal, association.port):
                raise ValueError(f"{literal} has an association already")
            instance.addDirective(association)
        else:
            if any(
                p.directive.address.lower() == association.address.lower()
                for p in self._pools.values()
            ):
                raise ValueError(f"pool {association.address} exists already")
            instance.addDirective(association)
            self._addPool(association)

    def _unpeer(self, target: str) -> None:
        engine = self._daemon.engine
        victims: list[int] = []
        if target.isdigit():
            associd = int(target)
            if associd == self.localID:
                raise ValueError("the LOCAL clock cannot be removed at run time")
            if associd in self._pools:
                self._removePool(associd)
                return
            if associd in engine.associations.byID:
                victims = [associd]
        if not victims:
            try:
                address = str(ipaddress.ip_address(target.partition("%")[0]))
            except ValueError:
                address = None
            for association in engine.associations:
                if (address is not None and association.address == address) or (
                    association.settings.name is not None
                    and association.settings.name.lower() == target.lower()
                ):
                    victims.append(association.associd)
        if not victims:
            for associd, pool in list(self._pools.items()):
                if pool.directive.address.lower() == target.lower():
                    self._removePool(associd)
                    return
            raise ValueError(f"no association for {target}")
        for associd in victims:
            self._daemon.demobilize(associd, "unpeer (ntpq :config)")

    def _removePool(self, associd: int) -> None:
        pool = self._pools.pop(associd)
        instance = self._daemon.instances.get("pool")
        if instance is not None and hasattr(instance, "removeDirective"):
            instance.removeDirective(pool.directive.address)


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
