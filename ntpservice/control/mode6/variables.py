# -*- test-case-name: tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The variables of the mode 6 server: the system, peer and reference-clock
variables, their names and their values formatted as ntpq reads them, and
the status words that come with them.

The system variables are those of C{ntpq rv} (with those of C{setvar}
lines), and the counters of C{ntpq sysstats}, C{authinfo}, C{iostats},
C{monstats} and the kernel's of C{kerninfo}. The reference-clock variables
(READCLOCK) are those of a reference clock association (the LOCAL clock's
among them).

A reference clock association is shown as ntpd shows it: its
C{127.127.t.u} address, its name (C{LOCAL(u)}) as C{srchost}, its refid as
text, which ntpq shows with type C{l}. Each C{pool} line, not in the engine,
is shown as a "pool" association (address C{0.0.0.0}, refid C{POOL},
stratum 16, ntpq's type C{p}); its association ID and events are kept by
L{ntpservice.control.mode6.events.ControlEvents}.

An unknown association or variable raises L{K.RequestError}, which the
server answers with ntpd's error code.
"""

from __future__ import annotations

import os
from typing import Any, Collection

import ntpservice
from ntpservice.auth.mac import STATISTICS as MAC_STATISTICS
from ntpservice.control.kernel import KERNEL_VARIABLES, kernelValues, readKernelState
from ntpservice.control.mode6.events import ControlEvents, PeerRecord, PoolEntry
from ntpservice.core import control as K
from ntpservice.core import counters as C
from ntpservice.core import status as S
from ntpservice.core.association import MAXDISP
from ntpservice.core.mru import ENTRY_BYTES
from ntpservice.core.snapshot import peerSnapshot, systemSnapshot
from ntpservice.core.packet import LEAP_NOTINSYNC, MAX_STRATUM
from ntpservice.core.timestamps import ZERO, NTPTimestamp
from ntpservice.stats import sysstatsCounts

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
    "ntscookies",
)
"""Every peer variable, in ntpd's order (a response keeps this order);
C{ntscookies} (NTPsec's C{pstats}: the cookies an NTS association holds)
last."""

PEER_DEFAULT_VARIABLES = frozenset(PEER_VARIABLES) - {
    "config",
    "authenable",
    "authentic",
    "timer",
    "received",
    "sent",
    "candidate",
    "ntscookies",
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

NTS_VARIABLES = (
    "nts_client_send",
    "nts_client_recv_good",
    "nts_client_recv_bad",
    "nts_server_recv_good",
    "nts_server_recv_bad",
    "nts_server_send",
    "nts_cookie_make",
    "nts_cookie_decode",
    "nts_cookie_decode_old",
    "nts_cookie_decode_old2",
    "nts_cookie_decode_older",
    "nts_cookie_decode_too_old",
    "nts_cookie_decode_error",
    "nts_ke_probes_good",
    "nts_ke_probes_bad",
    "nts_ke_serves_good",
    "nts_ke_serves_bad",
)
"""The variables of NTPsec's C{ntpq ntsinfo} (NTS counters)."""

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


def _ntsCookies(authenticator: Any) -> str | None:
    """
    The cookies an NTS association holds, or C{None} for another kind.
    """
    if authenticator.kind != "nts":
        return None
    return str(len(getattr(authenticator.session, "cookies", ())))


KERNEL_NAMES = frozenset(KERNEL_VARIABLES)
"""The kernel variables of C{ntpq kerninfo} (L{ntpservice.control.kernel})."""

SYSSTATS_NAMES = frozenset(
    ("ss_uptime", "ss_numctlreq", "ss_reset", "ss_reset_r")
    + SYSSTATS_COUNTERS
    + tuple(name + "_r" for name in SYSSTATS_COUNTERS)
)
"""Every variable of C{ntpq sysstats}."""

AUTH_NAMES = frozenset(AUTH_VARIABLES)

NTS_NAMES = frozenset(NTS_VARIABLES)
"""Every variable of C{ntpq ntsinfo}."""
"""Every variable of C{ntpq authinfo}."""

IO_NAMES = frozenset(IO_VARIABLES)
"""Every variable of C{ntpq iostats}."""

CONTROL_VARIABLES = (
    "ctl_receivedoctets",
    "ctl_sentoctets",
    "ctl_overbudget",
    "ctl_ratelimited",
    "ctl_unauthorized",
    "ctl_nononce",
    "ctl_replayed",
    "ctl_retransmitted",
)
"""
The mode 6 server's own counters (ours; C{ntpq -c "rv 0 ctl_overbudget"}),
each the daemon counter C{control.NAME} without C{ctl_}: octets of mode 6
requests received and of answers sent, answers not sent for the byte
budget, requests over the rate limits, write requests without the
controlkey, without a nonce, replayed, and retransmitted.
"""

CONTROL_NAMES = frozenset(CONTROL_VARIABLES)


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


LEAP_VARIABLES = ("tai", "leapsec", "expire")
"""The leap seconds file's system variables, in ntpd's order."""


def _leapValues(table: Any, now: float) -> dict[str, str | None]:
    """
    C{tai} (TAI - UTC, s), C{leapsec} (the last leap second) and C{expire}
    (the file's expiry), ntpd's C{YYYYMMDDHHMM}, from a leap seconds file
    (L{ntpservice.leapseconds.LeapTable}); C{None} each without one.
    """
    if table is None:
        return dict.fromkeys(LEAP_VARIABLES)
    from ntpservice.leapseconds import formatNtpqStamp

    last = table.lastLeap(now)
    return {
        "tai": str(table.taiOffset(now)),
        "leapsec": formatNtpqStamp(last) if last is not None else None,
        "expire": formatNtpqStamp(table.expires),
    }


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
        @param events: the event bookkeeping (the pools' association IDs,
            the packet-borne peer variables).
        @param started: when the server started, in L{monotonicSeconds}
            (the uptimes count from it).
        @param startedWall: when the server started, in L{wallSeconds}.
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
        ids.update(self._events.pools)
        self._events.syncNames()
        ids.update(self._events.names)
        return sorted(ids)

    def systemPeerID(self) -> int:
        """The system peer's association ID, 0 without one."""
        engine = self._daemon.engine
        return int(engine.systemPeer) if engine.systemPeer is not None else 0

    def systemClockID(self) -> int:
        """
        ntpd's "system clock" of READCLOCK for association 0: the system
        peer when it is a reference clock, else the first reference clock.

        @raise K.RequestError: without any reference clock.
        """
        engine = self._daemon.engine
        clocks = sorted(
            associd
            for associd, a in engine.associations.byID.items()
            if a.settings.refclock is not None
        )
        if engine.systemPeer in clocks:
            return int(engine.systemPeer)
        if not clocks:
            raise K.RequestError(K.ERR_BADASSOC)
        return clocks[0]

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
        snapshot = peerSnapshot(self._daemon.engine, a, self._daemon.events, now)
        m = snapshot.measurements
        assert m is not None
        record = self._events.peers.get(a.associd)
        stages = m.stages
        # A reference clock names itself (its refid as text), and its last
        # "reply" is its last sample.
        asAddress = 1 < m.stratum < MAX_STRATUM and not m.refclock
        rec = m.reftime if m.refclock else record.rec if record and record.rec else ZERO
        return {
            "config": "1" if m.configured else "0",
            "authenable": "1" if m.authEnabled else "0",
            "authentic": "1" if m.authentic else "0",
            "ntscookies": _ntsCookies(a.settings.authenticator),
            "srcadr": snapshot.address,
            "srcport": str(m.port),
            "dstadr": "127.0.0.1" if m.refclock else self._dstadr(record, snapshot.address),
            "dstport": None if self.localPort is None else str(self.localPort),
            "leap": str(m.leap),
            "hmode": str(m.hmode),
            "stratum": str(m.stratum),
            "ppoll": str(m.ppoll),
            "hpoll": str(m.hpoll),
            "precision": str(m.precision),
            "rootdelay": K.formatFixed(m.rootDelay * 1e3),
            "rootdisp": K.formatFixed(m.rootDispersion * 1e3),
            "refid": K.formatRefid(m.refid, asAddress),
            "reftime": K.formatTimestamp(m.reftime),
            "rec": K.formatTimestamp(rec),
            "xmt": K.formatTimestamp(record.xmt if record and record.xmt else ZERO),
            "reach": K.formatHex(snapshot.reach),
            "unreach": str(m.unreach),
            "timer": str(m.timer),
            "delay": K.formatFixed(m.delay * 1e3, 6),
            "offset": K.formatFixed(m.offset * 1e3, 6),
            "jitter": K.formatFixed(m.jitter * 1e3, 6),
            "dispersion": K.formatFixed(m.dispersion * 1e3, 6),
            "keyid": str(m.keyID),
            "filtdelay": K.formatArray(s[1] for s in stages),
            "filtoffset": K.formatArray(s[0] for s in stages),
            "pmode": str(record.pmode if record else 0),
            "received": str(m.received),
            "sent": str(m.sent),
            "filtdisp": K.formatArray(s[2] for s in stages),
            "flash": K.formatHex(snapshot.flash),
            "headway": "0",
            "srchost": (
                K.quoted(m.name) if m.name and m.name != snapshot.address else None
            ),
            "candidate": str(snapshot.select),
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

    def clockItems(self, associd: int, names: Any) -> list[tuple[str, str | None]]:
        """
        The reference-clock variables of association C{associd}, in ntpd's
        order: those named, or all when none is.

        @raise K.RequestError: for an association that is not a reference
            clock's, or a variable that is not a clock variable.
        """
        association = self._daemon.engine.associations.byID.get(associd)
        running = getattr(self._daemon, "refclocks", {}).get(associd)
        if association is None or running is None:
            raise K.RequestError(K.ERR_BADASSOC)
        source = association.settings.refclock
        options = running.options
        flags = sum(1 << (n - 1) for n in range(1, 5) if options.flag(n))
        values = {
            "name": K.quoted(association.settings.name or association.address),
            "timecode": K.quoted(str(getattr(running.clock, "timecode", "") or "")),
            "poll": str(association.sent),
            "noreply": str(getattr(running.clock, "noreply", 0)),
            "badformat": str(getattr(running.clock, "badformat", 0)),
            "baddata": str(getattr(running.clock, "baddata", 0)),
            "fudgetime1": K.formatFixed((options.time1 or 0.0) * 1e3),
            "fudgetime2": K.formatFixed((options.time2 or 0.0) * 1e3),
            "stratum": str(source.stratum),
            "refid": K.formatRefid(source.refid, False),
            "flags": str(flags),
            "device": K.quoted(str(running.factory.description)),
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
        nowNs = daemon.clock.now()
        now = nowNs / 1e9
        snapshot = systemSnapshot(engine, daemon.events, nowNs)
        m = snapshot.measurements
        assert m is not None
        rootdisp = m.rootDispersion
        peerID = self.systemPeerID()
        peer = engine.associations.byID.get(engine.systemPeer) if engine.systemPeer else None
        machine, sysname, release = self._uname
        values: dict[str, str | None] = {
            "leap": str(snapshot.leap),
            "stratum": str(m.stratum),
            "precision": str(m.precision),
            "rootdelay": K.formatFixed(m.rootDelay * 1e3),
            "rootdisp": K.formatFixed(rootdisp * 1e3),
            "rootdist": K.formatFixed((m.rootDelay / 2 + rootdisp) * 1e3),
            "refid": K.formatRefid(m.refid, 1 < m.stratum < MAX_STRATUM),
            "reftime": K.formatTimestamp(m.reftime),
            "tc": str(m.timeConstant),
            "peer": str(peerID),
            "offset": K.formatFixed(m.offset * 1e3, 6),
            "frequency": K.formatFixed(m.frequencyPPM, 3),
            "sys_jitter": K.formatFixed(m.systemJitter * 1e3, 6),
            "clk_jitter": K.formatFixed(m.clockJitter * 1e3, 6),
            "clock": K.formatTimestamp(NTPTimestamp.fromUnixNanoseconds(nowNs)),
            "processor": K.quoted(machine),
            "system": K.quoted(sysname),
            "release": K.quoted(release),
            "version": K.quoted(f"ntpservice {ntpservice.__version__}"),
            "clk_wander": K.formatFixed(m.wander, 6),
            "mintc": str(getattr(engine.discipline.settings, "minPollLog2", 0)),
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
        if wanted is not None and not NTS_NAMES.isdisjoint(wanted):
            values.update(self._ntsValues())
        if wanted is not None and not CONTROL_NAMES.isdisjoint(wanted):
            values.update(
                (name, str(self._counters["control." + name[4:]]))
                for name in CONTROL_VARIABLES
            )
        if asked(KERNEL_NAMES):
            values.update(kernelValues(readKernelState(daemon.clock)))
        values.update(self._mruValues(now))
        values.update(_leapValues(getattr(daemon, "leapTable", None), now))
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

    def _ntsValues(self) -> dict[str, str | None]:
        """
        NTPsec's C{ntpq ntsinfo}, from the NTS counters of the daemon's
        packet counters (C{nts.*} of the server, C{nts.client.*} of the
        client sessions, C{ke.*} of the NTS-KE server). Cookies are not
        told apart by the age of their master key: the C{old} counts are 0.
        """
        counts = self._counters.snapshot()

        def total(*names: str) -> str:
            return str(sum(counts.get(name, 0) for name in names))

        badServes = [name for name in counts if name.startswith("ke.") and name != "ke.ok"]
        return {
            "nts_client_send": total("nts.client.sent"),
            "nts_client_recv_good": total("nts.client.good"),
            "nts_client_recv_bad": total("nts.client.bad", "nts.client.replay", "nts.client.nak"),
            "nts_server_recv_good": total("nts.ok"),
            "nts_server_recv_bad": total("nts.badauth", "nts.malformed", "nts.nak"),
            "nts_server_send": total("nts.ok", "nts.nak"),
            "nts_cookie_make": total("nts.cookie.make"),
            "nts_cookie_decode": total("nts.ok", "nts.badauth"),
            "nts_cookie_decode_old": "0",
            "nts_cookie_decode_old2": "0",
            "nts_cookie_decode_older": "0",
            "nts_cookie_decode_too_old": "0",
            "nts_cookie_decode_error": total("nts.nak"),
            "nts_ke_probes_good": total("nts.client.keSuccesses"),
            "nts_ke_probes_bad": total("nts.client.keFailures"),
            "nts_ke_serves_good": total("ke.ok"),
            "nts_ke_serves_bad": total(*badServes),
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
            # ntpd's rv has the leap seconds file's variables when it has one.
            defaults += [name for name in LEAP_VARIABLES if values.get(name) is not None]
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

