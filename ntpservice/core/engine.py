# -*- test-case-name: tests.scenarios,tests.test_daemon -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The synchronization engine, sans I/O: associations in, clock corrections
and packets out.

Theory of operation (after aioquic's connection): the shell calls
L{Engine.receive} with each packet that matched an association,
L{Engine.poll} when L{Engine.nextDeadline} has come, and L{Engine.adjust}
once a second; each returns a list of actions (L{SendPacket}, the clock
actions of L{ntpservice.core.actions}, L{Demobilize}, L{Panic}, L{Done}) that
the shell carries out. The engine owns the association table, runs
selection, clustering and combining when a peer releases a new sample
(RFC 5905 clock_select), feeds the discipline (clock_update), and keeps the
system variables that the server side reports.

Reference clocks are associations too: their poll process asks the
driver for a sample (L{PollRefClock}) and the driver delivers it through
L{Engine.refclockSample}, the one entry point for samples that do not come
in packets; from there they go through the clock filter, selection and
the discipline as a packet's do. A I{last resort} driver (ntpd's LOCAL,
L{RefClockSource.lastResort}) reads the system clock itself: selection
takes it only when no other source survives, it is no witness in the
start-up hold, and when it is the system peer the system variables follow
it but the discipline is not fed (its samples never correct the clock).

@see: RFC 5905 sections 9-13, Appendix A.5.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Union, cast

from ntpservice.core import actions as A
from ntpservice.core.association import (
    TEST_DISTANCE,
    TEST_LOOP,
    TEST_UNREACH,
    UNREACH,
    Association,
    AssociationSettings,
    AssociationTable,
    RandomSource,
    RefClockSource,
)
from ntpservice.core.authenticator import NO_AUTHENTICATION, Authenticator
from ntpservice.core.constants import MINDISP
from ntpservice.core.discipline import Discipline, UpdateResult
from ntpservice.core.peer import ReceiveResult, Transmission
from ntpservice.core.packet import (
    LEAP_ADD,
    LEAP_DEL,
    LEAP_NONE,
    MAX_STRATUM,
    NTPPacket,
)
from ntpservice.core.refid import refidFromAddress
from ntpservice.core.selection import (
    REASON_DISTANCE,
    REASON_LOOP,
    REASON_NOSELECT,
    REASON_UNREACHABLE,
    STATUS_CANDIDATE,
    STATUS_FALSETICKER,
    STATUS_SYNC,
    STATUS_UNFIT,
    Candidate,
    SelectionResult,
    SelectionSettings,
    majorityExcludes,
    rootDistanceOf,
    select,
)
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp

ORPHAN_REFID = bytes((127, 0, 0, 1))
"""The reference ID of an orphan parent above stratum 1 (seed 003)."""

ORPHAN_REFID_STRATUM1 = b"LOOP"
"""The reference ID of an orphan parent at stratum 1 (seed 003)."""

STARTUP_WINDOW = 10.0
"""
Seconds: how long the first selection (or the first after the system peer
was lost) waits, once a source could be selected, for the other sources that
have not yet answered or become fit. Without the wait, the first source
whose samples become selectable sets the clock alone, even when it is the
one falseticker among three servers whose bursts are still arriving.
"""

# Flash bits that selection sets (ntpd's peer_unfit): cleared and set anew
# at every selection.
SELECTION_FLASH = TEST_DISTANCE | TEST_LOOP | TEST_UNREACH
_REASON_FLASH = {
    REASON_DISTANCE: TEST_DISTANCE,
    REASON_LOOP: TEST_LOOP,
    REASON_UNREACHABLE: TEST_UNREACH,
    REASON_NOSELECT: TEST_UNREACH,
}


@dataclass(frozen=True, slots=True)
class SendPacket:
    """
    Send C{transmission.packet} to C{address}:C{port} for association
    C{associd}, signed as its C{authenticator} says.
    """

    associd: int
    address: str
    port: int
    transmission: Transmission
    authenticator: Authenticator = NO_AUTHENTICATION


@dataclass(frozen=True, slots=True)
class PollRefClock:
    """
    The poll process of reference clock association C{associd} is due:
    the shell calls its driver's C{poll}, which may deliver a sample
    (L{Engine.refclockSample}) at once or later.
    """

    associd: int
    address: str


@dataclass(frozen=True, slots=True)
class Demobilize:
    """
    Association C{associd} was removed, for C{reason}.
    """

    associd: int
    address: str
    reason: str


@dataclass(frozen=True, slots=True)
class SystemPeerChanged:
    """
    The system peer changed (C{associd} C{None}: no system peer).

    @ivar stratum: the stratum the system takes from the new system peer
        (its own plus one), or 16 without one.
    @ivar refid: the reference ID the system takes from it, or C{INIT}.
    @ivar offset: seconds, the system offset of the selection.
    @ivar previous: the association ID of the system peer before, or
        C{None}.
    @ivar reason: why the previous system peer was left (a selection
        status such as C{falseticker}, or an unfit reason such as
        C{unreachable}), or C{None}.
    """

    associd: int | None
    address: str | None
    stratum: int = MAX_STRATUM
    refid: bytes = b"INIT"
    offset: float = 0.0
    previous: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReachChanged:
    """
    Association C{associd} became reachable (its first reply since its
    reach register was empty) or unreachable (its reach register emptied:
    eight polls without a reply). ntpd's peer events C{reachable} and
    C{unreachable}.
    """

    associd: int
    address: str
    reachable: bool


@dataclass(frozen=True, slots=True)
class SelectionHeld:
    """
    Selection chose C{associd} but the engine does not synchronize to it
    yet, for C{reason}: C{startup} (other sources are still answering
    their first packets) or C{contradicted} (a majority of the answering
    sources disagrees with it). Emitted when the hold starts or its reason
    changes.
    """

    associd: int
    address: str
    reason: str


@dataclass(frozen=True, slots=True)
class Panic:
    """
    The offset exceeds the panic threshold: the daemon must stop and ask
    for the clock to be set by hand (or for C{-g}).
    """

    offset: float


@dataclass(frozen=True, slots=True)
class Done:
    """
    C{-q}: the clock has been set; the daemon may exit.
    """

    offset: float


Action = Union[
    SendPacket,
    PollRefClock,
    Demobilize,
    SystemPeerChanged,
    ReachChanged,
    SelectionHeld,
    Panic,
    Done,
    A.Step,
    A.Slew,
    A.SetFrequency,
    A.SetLeap,
]

_CLOCK_ACTIONS = (A.Step, A.Slew, A.SetFrequency, A.SetLeap)
"""The discipline's actions: the clock actions of the L{Action} union."""


def _clockActions(actions: Iterable[A.Action]) -> list[Action]:
    """
    The discipline's actions as engine actions.

    @raise TypeError: for an action that is not one of L{_CLOCK_ACTIONS}
        (the discipline returns nothing else).
    """
    out: list[Action] = []
    for action in actions:
        if not isinstance(action, _CLOCK_ACTIONS):
            raise TypeError(f"not a clock action: {action!r}")
        out.append(action)
    return out


def _lastResort(association: Association) -> bool:
    """
    Whether C{association} is a last-resort reference clock's (see
    L{RefClockSource.lastResort}).
    """
    source: RefClockSource | None = association.settings.refclock
    return source is not None and source.lastResort


FALSETICKER_SAMPLES = 4
"""
Samples in a row at which selection judged an ephemeral or preemptable
association a falseticker before it is demobilized (see
L{Engine._dropFalsetickers}).
"""


class Engine:
    """
    Associations, selection, discipline and the system variables of one
    daemon.

    @ivar associations: the L{AssociationTable}.
    @ivar system: the current L{SystemVariables}.
    @ivar discipline: the L{Discipline}.
    @ivar selection: the last L{SelectionResult}, or C{None}.
    @ivar systemPeer: the association ID of the system peer, or C{None}.
    """

    def __init__(
        self,
        *,
        precisionLog2: int,
        discipline: Discipline,
        rng: RandomSource,
        selectionSettings: SelectionSettings | None = None,
    ) -> None:
        """
        @param precisionLog2: the system precision.
        @param discipline: the clock discipline to feed.
        @param selectionSettings: C{tos} values for selection.
        @param rng: randomness for nonces and poll spreading.
        """
        self.precisionLog2 = precisionLog2
        self.discipline = discipline
        self.selectionSettings = selectionSettings or SelectionSettings(
            precision=2.0**precisionLog2
        )
        self.rng = rng
        # The leap indicator a leap seconds file implies at a time (None:
        # no file); without one, the sources' majority decides.
        self.leapSource: Callable[[float], int] | None = None
        self.associations = AssociationTable()
        self.system = SystemVariables(
            precision=precisionLog2, poll=discipline.pollLog2
        )
        self.selection: SelectionResult | None = None
        self.systemPeer: int | None = None
        self._lastUpdate: float = 0.0
        # The frequency correction last handed to the clock, ppm.
        self._clockFreqPPM = 0.0
        self._done = False
        # When the current hold on the first selection began (local
        # seconds), and why the engine holds, if it does.
        self._holdSince: float | None = None
        self._holdReason: str | None = None
        # Orphan mode: since when no system peer (local seconds), and
        # whether this host is an orphan parent.
        self._noPeerSince: float | None = None
        self._orphanParent = False
        # Association ID -> (consecutive samples judged a falseticker, the
        # association's sample count at the last one counted).
        self._falseSamples: dict[int, tuple[int, int]] = {}

    # -- associations ---------------------------------------------------

    def mobilize(self, settings: AssociationSettings, now: float) -> Association:
        """
        Create an association and schedule its first poll.

        @raise ValueError: if one with the same address and port exists.
        """
        association = Association.mobilize(
            self.associations.newID(), settings, now, self.precisionLog2, self.rng
        )
        self.associations.add(association)
        return association

    def demobilize(self, associd: int, reason: str) -> list[Action]:
        """
        Remove an association.
        """
        association = self.associations.remove(associd)
        if association is None:
            return []
        out: list[Action] = [Demobilize(associd, association.address, reason)]
        if self.systemPeer == associd:
            self.systemPeer = None
            out.append(SystemPeerChanged(None, None, previous=associd, reason=reason))
        return out

    def find(self, address: str, port: int) -> Association | None:
        """
        The association for packets from C{address}:C{port}.
        """
        return self.associations.find(address, port)

    # -- timers ---------------------------------------------------------

    def nextDeadline(self) -> float | None:
        """
        The local time at which L{poll} must next be called, or C{None}.
        """
        deadlines = [a.nextPoll for a in self.associations.byID.values()]
        if self._holdReason == "startup" and self._holdSince is not None:
            # The start-up wait ends on time even if no source polls then.
            deadlines.append(self._holdSince + STARTUP_WINDOW)
        return min(deadlines) if deadlines else None

    def poll(self, now: float) -> list[Action]:
        """
        Run the poll process of every association that is due.
        """
        out: list[Action] = []
        reselect = False
        for association in list(self.associations.byID.values()):
            if association.nextPoll > now:
                continue
            wasReachable = association.reachable
            transmission = association.poll(now, self.system)
            if wasReachable and not association.reachable:
                out.append(
                    ReachChanged(association.associd, association.address, False)
                )
            # A candidate's fitness changes at its polls (it stops answering,
            # its dispersion grows): selection runs again, so that a system
            # peer that fell silent is dropped even when no other source
            # delivers a sample.
            reselect = reselect or association.samples > 0
            if (
                association.silent >= UNREACH
                and association.settings.lifecycle != "persistent"
            ):
                out.extend(self.demobilize(association.associd, "unreachable"))
                continue
            if association.settings.refclock is not None:
                out.append(PollRefClock(association.associd, association.address))
            elif transmission is not None:
                out.append(
                    SendPacket(
                        association.associd,
                        association.address,
                        association.settings.port,
                        transmission,
                        association.settings.authenticator,
                    )
                )
        if (
            self._holdReason == "startup"
            and self._holdSince is not None
            and now >= self._holdSince + STARTUP_WINDOW
        ):
            reselect = True
        if reselect:
            out.extend(self.clockSelect(now))
        return out

    def adjust(self, now: float) -> list[Action]:
        """
        The once-a-second clock-adjust process: the discipline's share of
        the phase correction, and frequency changes.
        """
        actions = _clockActions(self.discipline.adjust(now))
        self._correctFilters(actions, now)
        if self.systemPeer is None:
            self._orphanTick(now)
        return actions

    def _correctFilters(self, actions: Iterable[Action], now: float) -> None:
        """
        For a discipline that L{corrects the filters
        <Discipline.correctsFilters>}: the clock is about to be corrected by
        C{actions}; every clock filter re-expresses its samples relative to
        the corrected clock (as chrony's sourcestats does), so that the
        peer offsets selection compares are offsets from the clock as it is
        now, not as it was when each sample was taken.

        @param now: local clock seconds, when the actions are carried out.
        """
        if not self.discipline.correctsFilters:
            return
        for action in actions:
            if isinstance(action, A.Slew):
                phase, freq = action.offset, 0.0
            elif isinstance(action, A.SetFrequency):
                phase = 0.0
                freq = (action.freqPPM - self._clockFreqPPM) * 1e-6
                self._clockFreqPPM = action.freqPPM
            else:
                # A step clears every association anyway.
                continue
            for association in self.associations.byID.values():
                association.filter.correct(phase, freq, now)

    # -- the peer process ------------------------------------------------

    def receive(
        self, association: Association, packet: NTPPacket, t4: NTPTimestamp, now: float
    ) -> tuple[ReceiveResult, list[Action]]:
        """
        A packet that matched C{association}.

        @param t4: its receive timestamp.
        @return: what the association made of it, and the actions that
            follow (a system update when a new sample was released).
        """
        wasReachable = association.reachable
        result = association.receive(packet, t4, now, self.precisionLog2)
        out: list[Action] = []
        if association.reachable and not wasReachable:
            out.append(ReachChanged(association.associd, association.address, True))
        if result.demobilize:
            out.extend(self.demobilize(association.associd, f"kiss {result.kissCode}"))
            return result, out
        # Selection runs on every accepted sample, released by the filter or
        # not: even a sample the filter holds back lowers the peer's
        # dispersion, which can make it fit (the first synchronization
        # after iburst needs this). The discipline sees each released
        # sample once (clockSelect compares sample times).
        if result.accepted and association.updatesSystem:
            out.extend(self.clockSelect(now))
        return result, out

    def refclockSample(
        self,
        associd: int,
        offset: float,
        dispersion: float,
        leap: int,
        time: float,
        now: float | None = None,
    ) -> list[Action]:
        """
        The one entry point for samples that do not come in packets: a
        reference clock driver's measurement for association C{associd}
        feeds its clock filter, its reach register and, through selection,
        the discipline, as an accepted packet does.

        @param offset: seconds, positive when the local clock is behind.
        @param dispersion: seconds, the error the driver claims.
        @param leap: the leap indicator of the reference.
        @param time: local clock seconds, when the sample was taken.
        @param now: local clock seconds, now (C{time} when C{None}).
        @return: the actions that follow (L{ReachChanged}, a system
            update).
        @raise KeyError: for an unknown association.
        @raise ValueError: for an association that is not a reference
            clock's.
        """
        if now is None:
            now = time
        association = self.associations.byID[associd]
        wasReachable = association.reachable
        association.refclockSample(offset, dispersion, leap, time, now)
        out: list[Action] = []
        if association.reachable and not wasReachable:
            out.append(ReachChanged(associd, association.address, True))
        out.extend(self.clockSelect(now))
        return out

    # -- the system process ----------------------------------------------

    def candidates(self, now: float) -> list[Candidate]:
        """
        The associations as selection candidates.
        """
        out = []
        for a in self.associations.byID.values():
            if a.samples == 0 or a.filter.updateTime is None:
                continue
            s = a.settings
            out.append(
                Candidate(
                    key=a.associd,
                    offset=a.filter.offset,
                    delay=a.filter.delay,
                    # The dispersion without the stages still empty since
                    # the start: a source is fit from its second sample
                    # (see ntpservice.core.filter).
                    dispersion=a.filter.selectDispersion,
                    jitter=a.filter.jitter,
                    rootDelay=a.rootDelay,
                    rootDispersion=a.rootDispersion,
                    stratum=a.stratum,
                    leap=a.leap,
                    refid=a.refid,
                    time=a.filter.updateTime,
                    reachable=a.selectable,
                    answering=a.answering,
                    prefer=s.prefer,
                    noselect=s.noselect,
                    truechimer=s.truechimer,
                    lastResort=_lastResort(a),
                    srcAddress=a.address,
                    localRefid=a.localRefid,
                )
            )
        return out

    def clockSelect(self, now: float) -> list[Action]:
        """
        Select, cluster and combine, then update the clock and the system
        variables (RFC 5905 clock_select and clock_update).
        """
        result = select(
            self.candidates(now),
            now,
            self.selectionSettings,
            previous=self.systemPeer,
            ourRefid=None,
        )
        self._flagUnfit(result)
        out: list[Action] = []
        result = self._hold(result, now, out)
        self.selection = result
        # A falseticker is never the system peer: dropping one leaves the
        # result valid.
        out.extend(self._dropFalsetickers(result))
        # Candidates are keyed by association ID.
        peerID = cast("int | None", result.systemPeer)
        if peerID != self.systemPeer:
            previous = self.systemPeer
            self.systemPeer = peerID
            out.append(self._peerChanged(peerID, previous, result, now))
            # Orphan mode: the wait starts again when the peer is lost.
            self._noPeerSince = now if peerID is None else None
            self._orphanParent = False
        if peerID is None:
            # No system peer: the system variables are kept and age
            # (dispersion grows) until they exceed the distance threshold;
            # in orphan mode, this host may become an orphan parent.
            self._orphanTick(now)
            return out
        out.extend(self._preempt(result))
        if peerID not in self.associations.byID:
            return out
        peer = self.associations.byID[peerID]
        if _lastResort(peer):
            # The system clock measured against itself: the system
            # variables follow it, the discipline hears nothing of it.
            self.system = self._followPeer(peer, result, now, self.system.poll)
            return out
        if self.discipline.everySample:
            # A loop that weighs every sample gets each sample of the system
            # peer as it arrives, and the newest one of a system peer just
            # chosen (at a poll, when a hold ended or the old peer fell
            # silent), so that the system variables follow it at once.
            if peer.updatesSystem:
                out.extend(self._newSample(peer, result, now))
            return out
        sampleTime = peer.filter.time
        if sampleTime is None or sampleTime <= self._lastUpdate:
            return out
        self._lastUpdate = sampleTime
        # The offset was measured when the sample was taken, which the
        # clock filter may have held for several polls: the discipline
        # reckons time from then (RFC 5905 clock_update: c.t = p.t), or
        # the frequency error of the interval would bias every estimate;
        # it also learns the time now, to discount what it corrected since.
        update = self.discipline.update(
            result.offset,
            result.jitter,
            sampleTime,
            self.system.poll,
            peer.leap,
            currentTime=now,
        )
        out.extend(self._clockUpdate(peer, result, now, update))
        return out

    def _flagUnfit(self, result: SelectionResult) -> None:
        """
        Show in each association's C{flash} why selection found it unfit
        (ntpd's peer_unfit bits: distance, loop, unreachable).
        """
        for associd, association in self.associations.byID.items():
            bits = _REASON_FLASH.get(result.reasons.get(associd, ""), 0)
            association.flash = (association.flash & ~SELECTION_FLASH) | bits

    def _peerChanged(
        self,
        peerID: int | None,
        previous: int | None,
        result: SelectionResult,
        now: float,
    ) -> SystemPeerChanged:
        """
        The L{SystemPeerChanged} for a selection that chose C{peerID}
        instead of C{previous}: what the system takes from the new peer,
        and why the old one was left.
        """
        reason = None
        if previous is not None:
            reason = result.reasons.get(previous) or result.status.get(
                previous, "demobilized"
            )
        peer = self.associations.byID.get(peerID) if peerID is not None else None
        if peer is None:
            return SystemPeerChanged(None, None, previous=previous, reason=reason)
        return SystemPeerChanged(
            peerID,
            peer.address,
            stratum=min(peer.stratum + 1, MAX_STRATUM),
            refid=self._refidOf(peer),
            offset=result.offset,
            previous=previous,
            reason=reason,
        )

    def _hold(
        self, result: SelectionResult, now: float, out: list[Action]
    ) -> SelectionResult:
        """
        Decide whether to synchronize to the system peer selection chose,
        when the engine has none yet (at start, or after losing it) or the
        offset would step the clock:

          - B{startup}: every source gets up to L{STARTUP_WINDOW} seconds,
            from the first moment one could be selected, to answer and
            become fit; a source that answered and fell silent, or is
            C{noselect}, is not waited for.
          - B{contradicted}: the offset must not be one that most of the
            answering sources (fit or not yet) exclude from their own
            correctness intervals; this holds for as long as it is true.

        @param out: gets a L{SelectionHeld} when a hold starts or its
            reason changes.
        @return: C{result}, or the same without a system peer (its
            choice demoted to a candidate) while the engine holds.
        """
        peerID = result.systemPeer
        # A last-resort source corrects nothing: there is nothing to hold
        # for, and being synchronized to it is not yet having a source.
        chosen = self.associations.byID.get(cast(int, peerID)) if peerID is not None else None
        current = (
            self.associations.byID.get(self.systemPeer)
            if self.systemPeer is not None
            else None
        )
        hasSource = current is not None and not _lastResort(current)
        if (
            chosen is None
            or _lastResort(chosen)
            or (hasSource and abs(result.offset) <= self.discipline.settings.step)
        ):
            self._holdSince = self._holdReason = None
            return result
        reason = None
        if self._contradicted(result, now):
            reason = "contradicted"
        elif not hasSource and not self._settled(result):
            if self._holdSince is None:
                self._holdSince = now
            if now - self._holdSince < STARTUP_WINDOW:
                reason = "startup"
        if reason is None:
            self._holdSince = self._holdReason = None
            return result
        if reason != self._holdReason:
            self._holdReason = reason
            peer = self.associations.byID[peerID]  # type: ignore[index]
            out.append(SelectionHeld(peer.associd, peer.address, reason))
        status = dict(result.status)
        status[peerID] = STATUS_CANDIDATE
        if current is not None and _lastResort(current):
            # The last resort stays the system peer while the hold lasts:
            # the system does not lose the synchronization it has.
            status[current.associd] = STATUS_SYNC
            reasons = {k: v for k, v in result.reasons.items() if k != current.associd}
            return replace(
                result,
                systemPeer=current.associd,
                offset=0.0,
                jitter=0.0,
                status=status,
                reasons=reasons,
            )
        return replace(result, systemPeer=None, offset=0.0, jitter=0.0, status=status)

    def _settled(self, result: SelectionResult) -> bool:
        """
        Whether every association has had its say for the first selection:
        it is fit, it is C{noselect}, or it answered and then fell silent.
        """
        for associd, a in self.associations.byID.items():
            if a.settings.noselect or (a.samples > 0 and not a.answering):
                continue
            if result.status.get(associd, STATUS_UNFIT) == STATUS_UNFIT:
                return False
        return True

    def _contradicted(self, result: SelectionResult, now: float) -> bool:
        """
        Whether a strict majority of the answering sources exclude the
        selected offset from their own correctness intervals: each
        source's newest sample, offset +/- its root distance counted with
        that sample's dispersion rather than the filter's (which, with few
        samples, is dominated by the empty stages and would exclude
        nothing).
        """
        intervals = []
        mindist = self.selectionSettings.mindist
        for a in self.associations.byID.values():
            sample = a.filter.newest
            if (
                a.settings.noselect
                or _lastResort(a)
                or not a.answering
                or sample is None
            ):
                continue
            half = rootDistanceOf(
                a.rootDelay,
                sample.delay,
                a.rootDispersion,
                sample.dispersion,
                now - sample.time,
                a.jitter,
                mindist=mindist,
            )
            intervals.append((sample.offset, half))
        return len(intervals) > 1 and majorityExcludes(result.offset, intervals)

    def _refidOf(self, peer: Association) -> bytes:
        """
        The reference ID of a host synchronized to C{peer}: its address
        (an IPv6 one hashed); a reference clock at stratum 0 names itself
        (ntpd's rule: above stratum 0 its 127.127.t.u address is given).
        """
        if peer.settings.refclock is not None and peer.stratum == 0:
            return peer.refid
        try:
            return refidFromAddress(peer.address)
        except ValueError:
            return peer.refid

    def _newSample(
        self, peer: Association, result: SelectionResult, now: float
    ) -> list[Action]:
        """
        For a discipline that takes L{every sample
        <Discipline.everySample>}: hand it the sample the system peer just
        delivered, with its delay (once: the sample times are compared).
        """
        sample = peer.filter.newest
        if sample is None or sample.time <= self._lastUpdate:
            return []
        self._lastUpdate = sample.time
        update = self.discipline.update(
            sample.offset,
            result.jitter,
            sample.time,
            self.system.poll,
            peer.leap,
            delay=sample.delay,
            source=peer.associd,
            currentTime=now,
            # The combine algorithm's verdict on the system peer: the
            # weighted mean of the survivors' offsets less the system
            # peer's own (zero with one survivor).
            combine=result.offset - peer.filter.offset,
        )
        return self._clockUpdate(peer, result, now, update)

    def _clockUpdate(
        self,
        peer: Association,
        result: SelectionResult,
        now: float,
        update: UpdateResult,
    ) -> list[Action]:
        """
        Carry out what the discipline made of an offset; on success, the
        system variables follow the system peer (RFC 5905 A.5.5.6
        clock_update).
        """
        out = _clockActions(update.actions)
        self._correctFilters(out, now)
        if update.panic:
            out.append(Panic(result.offset))
            return out
        if update.recheck:
            # An outlier to confirm or refute, or a change just accepted:
            # the discipline wants the next sample soon.
            peer.pollSoon(now)
        if update.ignored and not update.stepped:
            # A spike, or a stepout interval: the system variables stay as
            # they are until the discipline accepts an offset.
            pass
        elif update.stepped:
            # Every association starts over after a step (RFC 5905
            # A.5.5.6: all peers are cleared), and the system is
            # unsynchronized until a new sample arrives. Local times from
            # now on are on the stepped clock.
            now += math.fsum(a.offset for a in update.actions if isinstance(a, A.Step))
            for association in self.associations.byID.values():
                association.clear(now)
            self.systemPeer = None
            self._lastUpdate = now
            self.system = replace(
                SystemVariables(precision=self.precisionLog2),
                poll=update.pollLog2,
            )
            out.append(SystemPeerChanged(None, None, previous=peer.associd, reason="step"))
        else:
            self.system = self._followPeer(peer, result, now, update.pollLog2)
        if update.done and not self._done:
            self._done = True
            out.append(Done(result.offset))
        return out

    def _followPeer(
        self, peer: Association, result: SelectionResult, now: float, pollLog2: int
    ) -> SystemVariables:
        """
        The system variables of a host synchronized to C{peer}.
        """
        filterTime = peer.filter.time
        assert filterTime is not None, "a system peer has released a sample"
        refid = self._refidOf(peer)
        peerDispersion = peer.dispersionAt(now)
        rootDispersion = (
            peer.rootDispersion
            + (peer.jitter**2 + result.jitter**2) ** 0.5
            + max(peerDispersion + abs(peer.offset), MINDISP)
        )
        return SystemVariables(
            leap=self._systemLeap(peer, result, now),
            stratum=min(peer.stratum + 1, MAX_STRATUM),
            precision=self.precisionLog2,
            rootDelay=peer.rootDelay + peer.delay,
            rootDispersion=rootDispersion,
            refid=refid,
            reftime=NTPTimestamp.fromUnixNanoseconds(int(filterTime * 1e9)),
            lastUpdateNs=int(now * 1e9),
            poll=pollLog2,
        )

    def _systemLeap(self, peer: Association, result: SelectionResult, now: float) -> int:
        """
        The leap indicator the system announces: the leap seconds file's
        (L{leapSource}) when there is one, else the one a majority of the
        survivors of selection announce (a single source's is taken
        alone), else none.
        """
        if self.leapSource is not None:
            return self.leapSource(now)
        voters = [
            self.associations.byID[key].leap
            for key in result.survivors
            if key in self.associations.byID
        ] or [peer.leap]
        for leap in (LEAP_ADD, LEAP_DEL):
            if 2 * voters.count(leap) > len(voters):
                return leap
        return LEAP_NONE
    # -- orphan mode (issue 11) -------------------------------------------

    @property
    def isOrphan(self) -> bool:
        """
        Whether this host is an orphan parent: orphan mode is on, no source
        has been selectable for C{orphanwait} seconds, and the system
        variables say so (stratum C{tos orphan}, leap 0, reference ID
        C{LOOP} at stratum 1, C{127.0.0.1} above).
        """
        return self._orphanParent

    def _orphanTick(self, now: float) -> None:
        """
        With no system peer (called once a second and at each selection
        that finds none): count the orphan wait, and once it is over make
        this host an orphan parent, keeping its reference time current.

        @see: ntpd's C{timer()} (orphan mode) and seed 003.
        """
        settings = self.selectionSettings
        if settings.orphan >= MAX_STRATUM:
            return
        if self._noPeerSince is None:
            self._noPeerSince = now
        if now - self._noPeerSince < settings.orphanWait:
            return
        self._orphanParent = True
        nowNs = int(now * 1e9)
        self.system = SystemVariables(
            leap=0,
            stratum=settings.orphan,
            precision=self.precisionLog2,
            refid=ORPHAN_REFID_STRATUM1 if settings.orphan == 1 else ORPHAN_REFID,
            reftime=NTPTimestamp.fromUnixNanoseconds(nowNs),
            lastUpdateNs=nowNs,
            poll=self.system.poll,
        )

    def _dropFalsetickers(self, result: SelectionResult) -> list[Action]:
        """
        Demobilize an ephemeral or preemptable association (a pool member,
        C{server ... preempt}) that selection judged a falseticker at
        L{FALSETICKER_SAMPLES} of its samples in a row, while at least
        C{tos minsane} truechimers outvote it: its spawner replaces it.
        (Persistent associations are only ever marked.)
        """
        out: list[Action] = []
        enough = len(result.truechimers) >= self.selectionSettings.minsane
        for associd in list(self._falseSamples):
            if associd not in self.associations.byID:
                del self._falseSamples[associd]
        for association in list(self.associations.byID.values()):
            associd = association.associd
            if (
                association.settings.lifecycle == "persistent"
                or result.status.get(associd) != STATUS_FALSETICKER
                or not enough
            ):
                self._falseSamples.pop(associd, None)
                continue
            # Counted once per valid sample received (not per release of
            # the clock filter, which may keep an older sample).
            received = association.samples
            count, last = self._falseSamples.get(associd, (0, -1))
            if received == last:
                continue
            count += 1
            self._falseSamples[associd] = (count, received)
            if count >= FALSETICKER_SAMPLES:
                del self._falseSamples[associd]
                out.extend(self.demobilize(associd, "falseticker"))
        return out

    def _preempt(self, result: SelectionResult) -> list[Action]:
        """
        Beyond C{tos maxclock} associations, demobilize preemptable and
        ephemeral ones that selection did not keep (falsetickers and
        outliers first).
        """
        maxclock = self.selectionSettings.maxclock
        if len(self.associations) <= maxclock:
            return []
        out: list[Action] = []
        order = {"falseticker": 0, "unfit": 1, "outlier": 2, "excess": 3}
        victims = sorted(
            (
                a
                for a in self.associations.byID.values()
                if a.settings.lifecycle != "persistent"
                and result.status.get(a.associd) in order
            ),
            key=lambda a: order[result.status[a.associd]],
        )
        for victim in victims:
            if len(self.associations) <= maxclock:
                break
            out.extend(self.demobilize(victim.associd, "preempted"))
        return out

