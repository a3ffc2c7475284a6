# -*- test-case-name: tests.core.test_snapshot -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
What every observer of the daemon reads: one event bookkeeping and one
snapshot of the status of each association and of the system.

Mode 6 (C{ntpq}), the statistics files (C{peerstats}) and the metrics all
show a peer status word, a selection status, a reach register; before
this module each computed its own and counted the peer events itself, so
that C{ntpq -c as} and C{peerstats} could disagree on the same peer. Now:

  - L{StatusEvents} is the only event counter: one L{EventCounter} per
    association and one for the system. The daemon owns it and feeds it
    from what it reports to its observers, once, before any observer hears
    of it (L{ntpservice.daemon.NTPDaemon.events});
  - L{peerSnapshot} and L{systemSnapshot} read the engine and those
    counters and give the status words and the values they are made of.
    They are pure functions of what they are given: two observers asking
    at the same moment get the same answer.

This module is pure: it reads the engine, never changes it.

@see: L{ntpservice.core.status} for the status words' layout, event codes
    and names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ntpservice.core.authenticator import isAuthenticating
from ntpservice.core import status as S
from ntpservice.core.status import EventCounter
from ntpservice.core.timestamps import NTPTimestamp

__all__ = [
    "DISCIPLINE_EVENTS",
    "KISS_EVENTS",
    "PEER_EVENT_CODES",
    "PeerMeasurements",
    "PeerSnapshot",
    "StatusEvents",
    "SystemMeasurements",
    "SystemSnapshot",
    "peerMeasurements",
    "peerSnapshot",
    "syncedToLocal",
    "systemMeasurements",
    "systemSnapshot",
]

PEER_EVENT_CODES = {
    "mobilize": S.PEVNT_MOBIL,
    "demobilize": S.PEVNT_DEMOBIL,
    "reachable": S.PEVNT_REACH,
    "unreachable": S.PEVNT_UNREACH,
}
"""
The peer event of each C{associationEvent} the daemon reports (the engine
reports each reach change once).
"""

KISS_EVENTS = {
    "RATE": S.PEVNT_RATE,
    "DENY": S.PEVNT_DENY,
    "RSTR": S.PEVNT_DENY,
}
"""The peer event of each kiss code, as ntpd reports them."""

DISCIPLINE_EVENTS = {
    "NSET": S.EVNT_NSET,
    "FSET": S.EVNT_FSET,
    "SPIK": S.EVNT_SPIK,
    "FREQ": S.EVNT_FREQ,
    "SYNC": S.EVNT_SYNC,
}
"""The system event of each discipline state entered."""


def syncedToLocal(engine: Any) -> bool:
    """
    Whether the system is synchronized to the LOCAL clock: its system peer
    is a last-resort reference clock's association (ntpd's C{sync_local}).

    @param engine: an L{ntpservice.core.engine.Engine}.
    """
    peer = engine.associations.byID.get(engine.systemPeer)
    if peer is None or not engine.system.synchronized:
        return False
    refclock = peer.settings.refclock
    return refclock is not None and bool(refclock.lastResort)


@dataclass(slots=True)
class StatusEvents:
    """
    The event counts of the system status word and of every association's
    peer status word: the one bookkeeping that mode 6 and the statistics
    files read.

    Its methods have the names and arguments of the daemon's observer
    methods (L{ntpservice.interfaces.IDaemonObserver}); the daemon calls
    them first, before its observers.

    @ivar engine: the L{ntpservice.core.engine.Engine} whose events these
        are (its discipline state is read).
    @ivar system: the system events.
    @ivar peers: the events of each association, by association ID.
    """

    engine: Any
    system: EventCounter = field(default_factory=EventCounter)
    peers: dict[int, EventCounter] = field(default_factory=dict)
    _disciplineState: str = ""

    def __post_init__(self) -> None:
        # The start's events: restart, then whether the drift file set the
        # frequency.
        state = self.engine.discipline.state
        self._disciplineState = state
        self.system.record(S.EVNT_SYSRESTART)
        self.system.record(S.EVNT_NSET if state == "NSET" else S.EVNT_FSET)

    def counter(self, associd: int) -> EventCounter:
        """
        The counter of an association (a zero one, not kept, if it has had
        no event).
        """
        return self.peers.get(associd) or EventCounter()

    def peerEvent(self, associd: int, code: int) -> None:
        """
        Note a peer event (C{PEVNT_*}); L{S.PEVNT_MOBIL} starts a new
        counter, L{S.PEVNT_DEMOBIL} forgets the association.
        """
        if code == S.PEVNT_DEMOBIL:
            self.peers.pop(associd, None)
            return
        if code == S.PEVNT_MOBIL:
            self.peers[associd] = EventCounter()
        self.peers.setdefault(associd, EventCounter()).record(code)

    # -- what the daemon reports (IDaemonObserver's methods) ---------------

    def associationEvent(self, associd: int, address: str, event: str) -> None:
        """Mobilized, demobilized, reachable or unreachable."""
        code = PEER_EVENT_CODES.get(event)
        if code is not None:
            self.peerEvent(associd, code)

    def peerPacket(
        self, association: Any, packet: Any, result: Any, t1: Any, t4: Any, datagram: Any
    ) -> None:
        """A kiss code (RATE, DENY, RSTR) is a peer event."""
        code = KISS_EVENTS.get(result.kissCode or "")
        if code is not None:
            self.peerEvent(association.associd, code)

    def systemPeerChanged(self, associd: int | None, address: str | None) -> None:
        """
        A new system peer (a peer event and C{clock_sync}), or none
        (C{no_sys_peer}).
        """
        if associd is not None:
            self.peerEvent(associd, S.PEVNT_NEWPEER)
            self.system.record(S.EVNT_SYNC)
        else:
            self.system.record(S.EVNT_NOPEER)

    def clockUpdated(self, now: float) -> None:
        """The discipline took an update: note a change of its state."""
        state = self.engine.discipline.state
        if state != self._disciplineState:
            self._disciplineState = state
            event = DISCIPLINE_EVENTS.get(state)
            if event is not None:
                self.system.record(event)

    def clockStepped(self, offset: float) -> None:
        """The clock was stepped."""
        self.system.record(S.EVNT_CLOCKRESET)


@dataclass(frozen=True, slots=True)
class PeerMeasurements:
    """
    What an association knows of its source at one moment: the peer
    variables of its last packet, its poll state and its clock filter. Every
    observer shows these (C{ntpq rv ASSOC}, the metrics), so that none reads
    the association itself.

    @ivar configured: whether a configuration line made it (not ephemeral).
    @ivar authEnabled: whether it has an authenticator (a key, NTS).
    @ivar authentic: see L{S.isAuthentic}.
    @ivar keyID: its key ID, 0 without one.
    @ivar port: the remote port.
    @ivar name: the host name it was configured with, if any.
    @ivar leap: the peer's leap indicator.
    @ivar hmode: the host mode of the association.
    @ivar stratum: the peer's stratum.
    @ivar refclock: whether it is a reference clock's association.
    @ivar ppoll: the peer poll exponent shown (the peer's, else the
        association's C{maxpoll}; a reference clock's own poll, as ntpd
        shows it).
    @ivar hpoll: the host poll exponent.
    @ivar precision: the peer's precision, log2 s.
    @ivar rootDelay: the peer's root delay, seconds.
    @ivar rootDispersion: the peer's root dispersion, seconds.
    @ivar refid: the peer's reference ID.
    @ivar reftime: the peer's reference time.
    @ivar unreach: polls since the last reply.
    @ivar timer: seconds until the next poll (0 if it is due).
    @ivar offset: the filter's offset, seconds.
    @ivar delay: the filter's delay, seconds.
    @ivar jitter: the filter's jitter, seconds.
    @ivar dispersion: the peer dispersion at the moment of the snapshot.
    @ivar stages: the filter's stages, newest first: (offset, delay,
        dispersion) each.
    @ivar received: packets received from the source.
    @ivar sent: packets sent to it.
    """

    configured: bool
    authEnabled: bool
    authentic: bool
    keyID: int
    port: int
    name: str | None
    leap: int
    hmode: int
    stratum: int
    refclock: bool
    ppoll: int
    hpoll: int
    precision: int
    rootDelay: float
    rootDispersion: float
    refid: bytes
    reftime: NTPTimestamp
    unreach: int
    timer: int
    offset: float
    delay: float
    jitter: float
    dispersion: float
    stages: tuple[tuple[float, float, float], ...]
    received: int
    sent: int


@dataclass(frozen=True, slots=True)
class PeerSnapshot:
    """
    One association's status, as every observer shows it.

    @ivar associd: its association ID.
    @ivar address: its remote address.
    @ivar selection: its status for the status word (a
        L{ntpservice.core.selection} status: C{"sync"}, C{"candidate"},
        ...), or C{None} if it was no candidate.
    @ivar select: the selection code of the status word (C{SELECT_*}).
    @ivar reach: the 8-bit reach register.
    @ivar flash: the sanity-check bits of its last packet.
    @ivar eventCount: its events (saturated at 15).
    @ivar lastEvent: its last event (C{PEVNT_*}), 0 if none.
    @ivar statusWord: the 16-bit peer status word.
    @ivar measurements: its L{PeerMeasurements}, when the snapshot was
        taken at a moment (C{now} given), else C{None}.
    """

    associd: int
    address: str
    selection: str | None
    select: int
    reach: int
    flash: int
    eventCount: int
    lastEvent: int
    statusWord: int
    measurements: PeerMeasurements | None = None

    @property
    def reachable(self) -> bool:
        """Whether any of the last 8 polls was answered."""
        return self.reach != 0


def peerMeasurements(association: Any, now: float) -> PeerMeasurements:
    """
    What an association knows of its source at C{now} (seconds, the
    engine's time scale).
    """
    settings = association.settings
    refclock = settings.refclock is not None
    return PeerMeasurements(
        configured=settings.lifecycle != "ephemeral",
        authEnabled=isAuthenticating(settings.authenticator),
        authentic=S.isAuthentic(association),
        keyID=settings.key or 0,
        port=settings.port,
        name=settings.name,
        leap=association.leap,
        hmode=association.hmode,
        stratum=association.stratum,
        refclock=refclock,
        ppoll=(
            association.hpoll if refclock else association.ppoll or settings.maxPollLog2
        ),
        hpoll=association.hpoll,
        precision=association.precision,
        rootDelay=association.rootDelay,
        rootDispersion=association.rootDispersion,
        refid=association.refid,
        reftime=association.reftime,
        unreach=association.unreach,
        timer=max(0, int(association.nextPoll - now)),
        offset=association.offset,
        delay=association.delay,
        jitter=association.jitter,
        dispersion=association.dispersionAt(now),
        stages=tuple(association.filter.stages()),
        received=association.received,
        sent=association.sent,
    )


def peerSnapshot(
    engine: Any, association: Any, events: StatusEvents, now: float | None = None
) -> PeerSnapshot:
    """
    An association's status now.

    @param engine: the L{ntpservice.core.engine.Engine}.
    @param association: one of its associations.
    @param events: the daemon's L{StatusEvents}.
    @param now: the moment, in seconds of the engine's time scale, at
        which to take its L{PeerMeasurements} too (C{None}: the status
        alone).
    """
    associd = association.associd
    selection = S.selectionStatus(engine, associd)
    counter = events.counter(associd)
    return PeerSnapshot(
        associd=associd,
        address=association.address,
        selection=selection,
        select=S.SELECT_CODES.get(selection or "", S.SELECT_REJECT),
        reach=association.reach,
        flash=association.flash,
        eventCount=counter.count,
        lastEvent=counter.last,
        statusWord=S.associationStatusWord(association, selection, counter),
        measurements=None if now is None else peerMeasurements(association, now),
    )


@dataclass(frozen=True, slots=True)
class SystemMeasurements:
    """
    The system variables and the discipline's state at one moment, as
    every observer shows them (C{ntpq rv}, the metrics, C{loopstats}).

    @ivar stratum: the system stratum.
    @ivar precision: the system precision, log2 s.
    @ivar rootDelay: the root delay served, seconds.
    @ivar rootDispersion: the root dispersion served at the moment,
        seconds.
    @ivar refid: the system reference ID.
    @ivar reftime: the system reference time.
    @ivar offset: the last offset the discipline accepted, seconds.
    @ivar frequencyPPM: the frequency correction, ppm.
    @ivar clockJitter: the discipline's RMS jitter, seconds.
    @ivar systemJitter: the last selection's jitter with a system peer,
        seconds (0 without one).
    @ivar wander: the RMS frequency wander, ppm.
    @ivar timeConstant: the discipline's time constant.
    @ivar pollLog2: the system poll exponent.
    @ivar state: the discipline state (NSET, FSET, FREQ, SPIK, SYNC).
    """

    stratum: int
    precision: int
    rootDelay: float
    rootDispersion: float
    refid: bytes
    reftime: NTPTimestamp
    offset: float
    frequencyPPM: float
    clockJitter: float
    systemJitter: float
    wander: float
    timeConstant: int
    pollLog2: int
    state: str


def systemMeasurements(engine: Any, nowNs: int) -> SystemMeasurements:
    """
    The system variables and discipline state at C{nowNs} (nanoseconds of
    the engine's clock).
    """
    system = engine.system
    discipline = engine.discipline
    selection = engine.selection
    synced = selection is not None and engine.systemPeer is not None
    return SystemMeasurements(
        stratum=system.stratum,
        precision=system.precision,
        rootDelay=system.rootDelay,
        rootDispersion=system.rootDispersionAt(nowNs),
        refid=system.refid,
        reftime=system.reftime,
        offset=discipline.offset,
        frequencyPPM=discipline.freqPPM,
        clockJitter=discipline.jitter,
        systemJitter=selection.jitter if synced else 0.0,
        wander=discipline.wander,
        timeConstant=discipline.timeConstant,
        pollLog2=discipline.pollLog2,
        state=discipline.state,
    )


@dataclass(frozen=True, slots=True)
class SystemSnapshot:
    """
    The system's status, as every observer shows it.

    @ivar leap: the system leap indicator.
    @ivar source: the clock source code of the status word (C{SOURCE_*}).
    @ivar systemPeer: the system peer's association ID, or C{None}.
    @ivar synchronized: see L{S.isSynchronized}.
    @ivar eventCount: the system events (saturated at 15).
    @ivar lastEvent: the last system event (C{EVNT_*}).
    @ivar statusWord: the 16-bit system status word.
    @ivar measurements: the L{SystemMeasurements}, when the snapshot was
        taken at a moment (C{nowNs} given), else C{None}.
    """

    leap: int
    source: int
    systemPeer: int | None
    synchronized: bool
    eventCount: int
    lastEvent: int
    statusWord: int
    measurements: SystemMeasurements | None = None


def systemSnapshot(
    engine: Any, events: StatusEvents, nowNs: int | None = None
) -> SystemSnapshot:
    """
    The system's status now.

    @param engine: the L{ntpservice.core.engine.Engine}.
    @param events: the daemon's L{StatusEvents}.
    @param nowNs: the moment, in nanoseconds of the engine's clock, at
        which to take the L{SystemMeasurements} too (C{None}: the status
        alone).
    """
    if syncedToLocal(engine):
        source = S.SOURCE_LOCAL
    elif engine.systemPeer is not None:
        source = S.SOURCE_NTP
    else:
        source = S.SOURCE_UNSPEC
    leap = engine.system.leap
    counter = events.system
    return SystemSnapshot(
        leap=leap,
        source=source,
        systemPeer=engine.systemPeer,
        synchronized=S.isSynchronized(engine),
        eventCount=counter.count,
        lastEvent=counter.last,
        statusWord=S.systemStatusWord(leap, source, counter.count, counter.last),
        measurements=None if nowNs is None else systemMeasurements(engine, nowNs),
    )
