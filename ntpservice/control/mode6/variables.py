# -*- test-case-name: tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The variables of the mode 6 server: the system, peer and reference-clock
variables, their names and their values formatted as ntpq reads them, and
the status words that come with them.

The system variables are those of C{ntpq rv} (with those of C{setvar}
lines), and the counters of C{ntpq sysstats}, C{authinfo}, C{iostats},
C{monstats} and the kernel's of C{kerninfo}. The reference-clock variables
(READCLOCK) are the LOCAL clock's.

Associations that are not in the engine are shown as ntpd shows them: the
LOCAL clock (C{127.127.1.u}, C{LOCAL(u)}, refid C{LOCL}, the C{fudge}
stratum) as a reference-clock association, and each C{pool} line as a
"pool" association (address C{0.0.0.0}, refid C{POOL}, stratum 16), which
ntpq shows with type C{l} and C{p}. Their association IDs and events are
kept by L{ntpservice.control.mode6.events.ControlEvents}.

An unknown association or variable raises L{K.RequestError}, which the
server answers with ntpd's error code.
"""

from __future__ import annotations

import os
from typing import Any, Collection

import ntpservice
from ntpservice.auth.mac import STATISTICS as MAC_STATISTICS
from ntpservice.control.kernel import KERNEL_VARIABLES, kernelValues, readKernelState
from ntpservice.control.mode6.events import (
    ControlEvents,
    PeerRecord,
    PoolEntry,
    syncedToLocal,
)
from ntpservice.core import control as K
from ntpservice.core import counters as C
from ntpservice.core import status as S
from ntpservice.core.association import MAXDISP
from ntpservice.core.mru import ENTRY_BYTES
from ntpservice.core.snapshot import peerSnapshot, systemSnapshot
from ntpservice.core.packet import LEAP_NONE, LEAP_NOTINSYNC, MAX_STRATUM
from ntpservice.core.timestamps import ZERO, NTPTimestamp
from ntpservice.stats import sysstatsCounts

LOCAL_POLL_LOG2 = 6
"""The LOCAL clock's poll exponent as shown (ntpd polls it every 64 s)."""

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


def monotonicSeconds(daemon: Any) -> float:
    """
    The daemon's reactor time in seconds (its clock's without a reactor
    that tells time): for uptimes and rate limits.
    """
    seconds = getattr(daemon.reactor, "seconds", None)
    if seconds is None:
        return wallSeconds(daemon)
    return float(seconds())


def wallSeconds(daemon: Any) -> float:
    """The daemon's clock, in seconds since the Unix epoch."""
    return daemon.clock.now() / 1e9


def _uname() -> tuple[str, str, str]:
    try:
        info = os.uname()
    except AttributeError:  # pragma: no cover
        return ("unknown", "unknown", "unknown")
    return (info.machine, info.sysname, info.release)


class ControlVariables:
    """
    The variables and status words ntpq reads from one daemon.

    @ivar localPort: the port the server receives on (C{dstport}), once
        known; the server sets it.
    """

    def __init__(
        self, daemon: Any, events: ControlEvents, started: float, startedWall: float
    ) -> None:
        """
        @param daemon: the L{ntpservice.daemon.NTPDaemon}.
        @param events: the event bookkeeping (the LOCAL clock's and the
            pools' association IDs, the events of the status words).
        @param started: when the server started, in L{monotonicSeconds}
            (the uptimes count from it).
        @param startedWall: when the server started, in L{wallSeconds}
            (the LOCAL clock's polls count from it).
        """
        self._daemon = daemon
        self._counters = daemon.counters
        self._events = events
        self._started = started
        self._startedWall = startedWall
        self._uname = _uname()
        self.localPort: int | None = None

    def _monotonic(self) -> float:
        return monotonicSeconds(self._daemon)

    def _wallSeconds(self) -> float:
        return wallSeconds(self._daemon)

    # -- associations ----------------------------------------------------

    def associationIDs(self) -> list[int]:
        """Every association ID ntpq sees, in increasing order."""
        ids = set(self._daemon.engine.associations.byID)
        if self._events.localID is not None:
            ids.add(self._events.localID)
        ids.update(self._events.pools)
        self._events.syncNames()
        ids.update(self._events.names)
        return sorted(ids)

    def systemPeerID(self) -> int:
        """
        The system peer's association ID (the LOCAL clock's when synchronized
        to it), 0 without one.
        """
        engine = self._daemon.engine
        if engine.systemPeer is not None:
            return int(engine.systemPeer)
        if self.syncedToLocal():
            assert self._events.localID is not None
            return self._events.localID
        return 0

    def syncedToLocal(self) -> bool:
        """Whether the system is synchronized to the LOCAL clock."""
        return syncedToLocal(self._daemon.engine)

    def systemStatus(self) -> int:
        """The system status word (the daemon's L{systemSnapshot})."""
        return systemSnapshot(self._daemon.engine, self._daemon.events).statusWord

    def peerStatus(self, associd: int) -> int:
        """
        An association's peer status word.

        @raise K.RequestError: for an association ntpq does not see.
        """
        engine = self._daemon.engine
        association = engine.associations.byID.get(associd)
        if association is not None:
            return peerSnapshot(engine, association, self._daemon.events).statusWord
        if associd == self._events.localID and associd is not None:
            synced = self.syncedToLocal()
            return K.peerStatus(
                configured=True,
                authEnabled=False,
                authentic=False,
                reachable=True,
                selection=S.SELECT_SYSPEER if synced else S.SELECT_REJECT,
                eventCount=self._events.localEvents.count,
                lastEvent=self._events.localEvents.last,
            )
        pool = self._events.pools.get(associd) or self._events.names.get(associd)
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
        return S.SELECT_CODES.get(status or "", S.SELECT_REJECT)

    # -- peer variables --------------------------------------------------

    def peerItems(self, associd: int, names: Any) -> list[tuple[str, str | None]]:
        """
        An association's variables, in ntpd's order: those named, or the
        defaults (L{PEER_DEFAULT_VARIABLES}) when none is.

        @raise K.RequestError: for an association ntpq does not see, or a
            variable that is not a peer variable.
        """
        engine = self._daemon.engine
        now = self._wallSeconds()
        association = engine.associations.byID.get(associd)
        if association is not None:
            values = self._associationValues(association, now)
        elif associd == self._events.localID and associd is not None:
            values = self._localValues(now)
        elif associd in self._events.pools:
            values = self._poolValues(self._events.pools[associd])
        elif associd in self._events.names:
            values = self._poolValues(self._events.names[associd])
        else:
            raise K.RequestError(K.ERR_BADASSOC)
        wanted: Collection[str]
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

    def _dstadr(self, record: PeerRecord | None, address: str) -> str:
        if record is not None and record.dstadr:
            return record.dstadr
        return "::" if ":" in address else "0.0.0.0"

    def _associationValues(self, a: Any, now: float) -> dict[str, str | None]:
        settings = a.settings
        record = self._events.peers.get(a.associd)
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
            "dstport": None if self.localPort is None else str(self.localPort),
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
        synced = self.syncedToLocal()
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
            "dstport": None if self.localPort is None else str(self.localPort),
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
            "candidate": str(S.SELECT_SYSPEER if synced else S.SELECT_REJECT),
        }

    def _poolValues(self, pool: PoolEntry) -> dict[str, str | None]:
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
            "dstport": None if self.localPort is None else str(self.localPort),
            "leap": str(LEAP_NOTINSYNC),
            "hmode": "3",
            "stratum": str(MAX_STRATUM),
            "ppoll": str(directive.maxPollLog2),
            "hpoll": str(directive.minPollLog2),
            "precision": "0",
            "rootdelay": K.formatFixed(0.0),
            "rootdisp": K.formatFixed(0.0),
            "refid": pool.refid,
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
            "candidate": str(S.SELECT_REJECT),
        }

    def clockItems(self, names: Any) -> list[tuple[str, str | None]]:
        """
        The LOCAL clock's reference-clock variables, in ntpd's order: those
        named, or all when none is.

        @raise K.RequestError: for a variable that is not a clock variable.
        """
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
        peerID = self.systemPeerID()
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

    def systemItems(self, names: list[str]) -> list[tuple[str, str | None]]:
        """
        The system variables named, in the order named (those not available
        now left out), or the defaults of C{ntpq rv} when none is.

        @raise K.RequestError: for a name that is not a system variable.
        """
        values = self.systemValues(names)
        if not names:
            defaults = list(SYSTEM_DEFAULT_VARIABLES)
            defaults += [
                setvar.name
                for setvar in self._daemon.configuration.setvars
                if setvar.isDefault and setvar.name not in defaults
            ]
            return [(name, values[name]) for name in defaults]
        out: list[tuple[str, str | None]] = []
        for name in names:
            if name not in values:
                raise K.RequestError(K.ERR_UNKNOWNVAR, name)
            value = values[name]
            if value is not None:
                out.append((name, value))
        return out

