# -*- test-case-name: tests.core.test_snapshot -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.snapshot}: the one event bookkeeping and the
one status snapshot that mode 6, the statistics files and the metrics
read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core import status as S
from ntpservice.core.association import AssociationSettings, RefClockSource
from ntpservice.core.snapshot import (
    StatusEvents,
    peerSnapshot,
    syncedToLocal,
    systemSnapshot,
)
from ntpservice.core.system import SystemVariables


@dataclass
class FakeAssociation:
    associd: int
    settings: AssociationSettings
    address: str = "192.0.2.7"
    reach: int = 0
    flash: int = 0


@dataclass
class FakeDiscipline:
    state: str = "NSET"


@dataclass
class FakeResult:
    kissCode: str | None = None


@dataclass
class FakeAssociations:
    byID: dict[int, FakeAssociation] = field(default_factory=dict)


@dataclass
class FakeEngine:
    discipline: FakeDiscipline = field(default_factory=FakeDiscipline)
    system: SystemVariables = field(default_factory=SystemVariables)
    systemPeer: int | None = None
    associations: FakeAssociations = field(default_factory=FakeAssociations)
    selection: object | None = None
    precisionLog2: int = -20


class StatusEventsTests(SynchronousTestCase):
    """
    L{StatusEvents} counts the events of every status word from what the
    daemon reports.
    """

    def test_start(self) -> None:
        """
        The system counter starts with C{restart} and C{freq_not_set}
        (no drift file), or C{freq_set} when the frequency was read.
        """
        events = StatusEvents(FakeEngine())
        self.assertEqual((events.system.count, events.system.last), (2, S.EVNT_NSET))
        events = StatusEvents(FakeEngine(FakeDiscipline("FSET")))
        self.assertEqual((events.system.count, events.system.last), (2, S.EVNT_FSET))

    def test_peerEvents(self) -> None:
        """
        Association events count per association, the system peer is
        C{sys_peer}, and demobilization forgets the association.
        """
        engine = FakeEngine()
        events = StatusEvents(engine)
        association = FakeAssociation(7, AssociationSettings("192.0.2.7"))
        events.associationEvent(7, "192.0.2.7", "mobilize")
        events.associationEvent(7, "192.0.2.7", "reachable")
        association.reach = 3
        self.assertEqual(peerSnapshot(engine, association, events).statusWord, 0x9024)
        engine.systemPeer = 7
        events.systemPeerChanged(7, "192.0.2.7")
        snapshot = peerSnapshot(engine, association, events)
        self.assertEqual(snapshot.statusWord, 0x963A)
        self.assertEqual(
            (snapshot.selection, snapshot.select, snapshot.reachable),
            ("sync", S.SELECT_SYSPEER, True),
        )
        self.assertEqual(events.system.last, S.EVNT_SYNC)
        events.associationEvent(7, "192.0.2.7", "unreachable")
        events.associationEvent(7, "192.0.2.7", "demobilize")
        self.assertEqual(events.counter(7), S.EventCounter())
        self.assertNotIn(7, events.peers)

    def test_mobilizeStartsAgain(self) -> None:
        """
        An association ID mobilized again starts with one event.
        """
        events = StatusEvents(FakeEngine())
        events.peerEvent(3, S.PEVNT_MOBIL)
        events.peerEvent(3, S.PEVNT_REACH)
        events.associationEvent(3, "192.0.2.3", "mobilize")
        self.assertEqual(events.counter(3), S.EventCounter(1, S.PEVNT_MOBIL))

    def test_kisses(self) -> None:
        """
        A RATE kiss is C{rate_exceeded}, DENY and RSTR C{access_denied}
        (ntpd's peer events); other packets are no event.
        """
        events = StatusEvents(FakeEngine())
        association = FakeAssociation(4, AssociationSettings("192.0.2.4"))
        events.associationEvent(4, "192.0.2.4", "mobilize")
        events.peerPacket(association, None, FakeResult(), None, None, None)
        self.assertEqual(events.counter(4), S.EventCounter(1, S.PEVNT_MOBIL))
        events.peerPacket(association, None, FakeResult("RATE"), None, None, None)
        self.assertEqual(events.counter(4), S.EventCounter(2, S.PEVNT_RATE))
        events.peerPacket(association, None, FakeResult("RSTR"), None, None, None)
        self.assertEqual(events.counter(4), S.EventCounter(3, S.PEVNT_DENY))

    def test_systemEvents(self) -> None:
        """
        Discipline state changes, steps, the loss of the system peer and a
        new one (the LOCAL clock's association as any other) are system
        events; a repeated state is none.
        """
        engine = FakeEngine()
        events = StatusEvents(engine)
        engine.discipline.state = "FREQ"
        events.clockUpdated(0.0)
        self.assertEqual((events.system.count, events.system.last), (3, S.EVNT_FREQ))
        events.clockUpdated(1.0)
        self.assertEqual(events.system.count, 3)
        events.clockStepped(0.5)
        self.assertEqual(events.system.last, S.EVNT_CLOCKRESET)
        events.systemPeerChanged(None, None)
        self.assertEqual(events.system.last, S.EVNT_NOPEER)
        events.systemPeerChanged(1, "127.127.1.0")
        self.assertEqual((events.system.count, events.system.last), (6, S.EVNT_SYNC))
        self.assertEqual(events.counter(1).last, S.PEVNT_NEWPEER)


class SystemSnapshotTests(SynchronousTestCase):
    """
    L{systemSnapshot} gives the system status word.
    """

    def test_unsynchronized(self) -> None:
        """
        Without a system peer the source is unspecified and the leap
        indicator is the system's (3 before synchronization).
        """
        engine = FakeEngine()
        snapshot = systemSnapshot(engine, StatusEvents(engine))
        self.assertFalse(snapshot.synchronized)
        self.assertFalse(syncedToLocal(engine))
        self.assertEqual(snapshot.source, S.SOURCE_UNSPEC)
        self.assertEqual(
            snapshot.statusWord,
            S.systemStatusWord(engine.system.leap, S.SOURCE_UNSPEC, 2, S.EVNT_NSET),
        )

    def test_systemPeer(self) -> None:
        """
        With a system peer the source is NTP; with a last-resort reference
        clock's (the LOCAL clock's) association as the system peer of a
        synchronized system, it is C{sync_local}, and that association is
        the system peer.
        """
        engine = FakeEngine(systemPeer=9)
        snapshot = systemSnapshot(engine, StatusEvents(engine))
        self.assertEqual((snapshot.source, snapshot.systemPeer), (S.SOURCE_NTP, 9))
        self.assertEqual(snapshot.statusWord >> 8 & 0x3F, S.SOURCE_NTP)
        local = RefClockSource(1, 0, stratum=10, refid=b"LOCL", lastResort=True)
        engine.associations.byID[3] = FakeAssociation(
            3, AssociationSettings(local.address, refclock=local), local.address
        )
        engine.systemPeer = 3
        self.assertFalse(syncedToLocal(engine))
        engine.system = SystemVariables(leap=0, stratum=11)
        snapshot = systemSnapshot(engine, StatusEvents(engine))
        self.assertTrue(syncedToLocal(engine))
        self.assertEqual((snapshot.source, snapshot.systemPeer), (S.SOURCE_LOCAL, 3))


class FixedRandom:
    def random(self) -> float:
        return 0.5


class MeasurementsTests(SynchronousTestCase):
    """
    A snapshot taken at a moment carries what the association and the
    system know then (L{PeerMeasurements}, L{SystemMeasurements}): the
    values every observer shows, so that none reads the engine itself.
    """

    def test_peerAtAMoment(self) -> None:
        """
        The peer measurements are the association's filter and peer
        variables at the moment: the dispersion grown to it, the seconds
        left to the next poll, and the association's C{maxpoll} as the
        peer poll until the peer has sent its own.
        """
        from ntpservice.core.association import Association
        from ntpservice.core.filter import Sample

        from ntpservice.core.authenticator import SymmetricKey

        settings = AssociationSettings(
            "192.0.2.8",
            maxPollLog2=9,
            name="ntp.example",
            authenticator=SymmetricKey(5),
        )
        association = Association.mobilize(8, settings, 100.0, -20, FixedRandom())
        association.filter.update(Sample(0.002, 0.010, 0.0001, 100.0), 100.0, 64.0)
        association.stratum = 2
        association.nextPoll = 164.5
        association.received = 1
        engine = FakeEngine()
        events = StatusEvents(engine)
        self.assertIsNone(peerSnapshot(engine, association, events).measurements)
        m = peerSnapshot(engine, association, events, 110.0).measurements
        assert m is not None
        self.assertEqual((m.configured, m.authEnabled, m.keyID), (True, True, 5))
        self.assertEqual((m.ppoll, m.hpoll, m.stratum, m.timer), (9, association.hpoll, 2, 54))
        self.assertEqual((m.offset, m.delay), (association.offset, association.delay))
        self.assertEqual(m.dispersion, association.dispersionAt(110.0))
        self.assertGreater(m.dispersion, association.dispersionAt(100.0))
        self.assertEqual(m.stages, association.filter.stages())
        self.assertEqual((m.received, m.name), (1, "ntp.example"))
        association.ppoll = 7
        later = peerSnapshot(engine, association, events, 200.0).measurements
        assert later is not None
        self.assertEqual((later.ppoll, later.timer), (7, 0))

    def test_systemAtAMoment(self) -> None:
        """
        The system measurements are the system variables, the root
        dispersion grown to the moment, and the discipline's state; the
        system jitter is the selection's only with a system peer.
        """
        from ntpservice.core.snapshot import systemMeasurements

        @dataclass
        class Discipline:
            state: str = "SYNC"
            offset: float = 0.001
            freqPPM: float = 3.5
            jitter: float = 0.0002
            wander: float = 0.01
            timeConstant: int = 4
            pollLog2: int = 8

        @dataclass
        class Selection:
            jitter: float = 0.0003

        system = SystemVariables(stratum=3, rootDispersion=0.001, lastUpdateNs=0)
        engine = FakeEngine(Discipline(), system, selection=Selection())  # type: ignore[arg-type]
        m = systemMeasurements(engine, 10_000_000_000)
        self.assertEqual((m.stratum, m.state, m.pollLog2, m.frequencyPPM), (3, "SYNC", 8, 3.5))
        self.assertEqual(m.rootDispersion, system.rootDispersionAt(10_000_000_000))
        self.assertGreater(m.rootDispersion, 0.001)
        self.assertEqual(m.systemJitter, 0.0)
        engine.systemPeer = 1
        snapshot = systemSnapshot(engine, StatusEvents(engine), 10_000_000_000)
        assert snapshot.measurements is not None
        self.assertEqual(snapshot.measurements.systemJitter, 0.0003)
        self.assertIsNone(systemSnapshot(engine, StatusEvents(engine)).measurements)
