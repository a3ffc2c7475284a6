# -*- test-case-name: tests.core.test_symmetric -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for the symmetric peer process (L{ntpservice.core.peer.SymmetricProcess})
and for orphan mode in selection (L{ntpservice.core.selection.select}) and
the engine (issue 11).
"""

from __future__ import annotations

import random
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.association import Association, AssociationSettings
from ntpservice.core.discipline import Discipline, DisciplineSettings
from ntpservice.core.dispatch import ASSOC_ACTIVE, ASSOC_PASSIVE
from ntpservice.core.engine import ORPHAN_REFID, Engine
from ntpservice.core.packet import MODE_ACTIVE, MODE_PASSIVE, NTPPacket
from ntpservice.core.peer import (
    TEST_BOGUS,
    TEST_DUPLICATE,
    TEST_INVALID,
    SymmetricProcess,
    peerProcessFor,
)
from ntpservice.core.refid import refidFromAddress
from ntpservice.core.selection import (
    REASON_LOOP,
    REASON_ORPHAN,
    STATUS_SYNC,
    SelectionSettings,
)
from ntpservice.core.status import isSynchronized
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp
from tests.core.test_selection import candidate, run

T0 = 1_790_000_000.0
PEER = SystemVariables(leap=0, stratum=2, refid=b"\xc0\x00\x02\x09", precision=-20)


def ts(seconds: float) -> NTPTimestamp:
    return NTPTimestamp.fromUnixNanoseconds(round(seconds * 1e9))


class SymmetricPair:
    """
    Our symmetric association (mode C{hmode}) and a hand-driven peer whose
    clock is C{peerOffset} seconds ahead, C{delay} seconds away each way.
    The peer keeps the same state as we do: the last transmit timestamp it
    received from us and when.
    """

    def __init__(self, hmode: int = ASSOC_ACTIVE, peerOffset: float = 0.0,
                 delay: float = 0.01) -> None:
        settings = AssociationSettings("192.0.2.9", hmode=hmode)
        self.association = Association.mobilize(1, settings, T0, -20, random.Random(1))
        self.peerOffset = peerOffset
        self.delay = delay
        self.now = T0
        self.peerOrg = NTPTimestamp(0)
        self.peerRec = NTPTimestamp(0)

    def send(self) -> NTPPacket:
        """Our poll: the packet, which the peer receives."""
        self.now = max(self.now, self.association.nextPoll)
        transmission = self.association.poll(self.now, SystemVariables())
        assert transmission is not None
        packet = transmission.packet
        self.peerOrg = packet.xmt
        self.peerRec = ts(self.now + self.delay + self.peerOffset)
        return packet

    def peerPacket(self, after: float = 1.0) -> NTPPacket:
        """The peer's own poll, C{after} seconds later (its timer)."""
        self.now += after
        return NTPPacket(
            leap=PEER.leap, mode=MODE_ACTIVE, stratum=PEER.stratum, poll=6,
            precision=-20, refid=PEER.refid, reftime=ts(self.now - 10),
            org=self.peerOrg, rec=self.peerRec, xmt=ts(self.now + self.peerOffset),
        )

    def deliver(self, packet: NTPPacket):  # type: ignore[no-untyped-def]
        t4 = self.now + self.delay
        self.now = t4
        return self.association.receive(packet, ts(t4), t4, -20)


class SymmetricProcessTests(SynchronousTestCase):
    """
    The on-wire protocol of symmetric modes.
    """

    def test_processForModes(self) -> None:
        """
        Association modes 1 and 2 get a symmetric process, which sends
        packets of mode 1 and 2 respectively.
        """
        active = peerProcessFor(ASSOC_ACTIVE)
        passive = peerProcessFor(ASSOC_PASSIVE)
        self.assertIsInstance(active, SymmetricProcess)
        self.assertIsInstance(passive, SymmetricProcess)
        self.assertEqual(SymmetricPair(ASSOC_ACTIVE).send().mode, MODE_ACTIVE)
        self.assertEqual(SymmetricPair(ASSOC_PASSIVE).send().mode, MODE_PASSIVE)

    def test_exchange(self) -> None:
        """
        A peer packet that answers our latest one is a sample whose offset
        is the peer's clock offset, and whose delay is the round trip less
        the time the peer held our packet; our next packet carries the
        peer's transmit timestamp as origin and its arrival as receive
        timestamp, and the real send time is stamped by the shell.
        """
        pair = SymmetricPair(peerOffset=0.25, delay=0.01)
        first = pair.send()
        self.assertTrue(first.org.isZero)
        packet = pair.peerPacket(after=3.0)
        result = pair.deliver(packet)
        arrival = ts(pair.now)
        self.assertTrue(result.accepted)
        self.assertAlmostEqual(pair.association.filter.newest.offset, 0.25, places=6)
        self.assertAlmostEqual(pair.association.filter.newest.delay, 0.02, places=6)
        self.assertEqual(pair.association.reach & 1, 1)
        second = pair.send()
        self.assertEqual(second.org, packet.xmt)
        self.assertEqual(second.rec, arrival)
        transmission = pair.association.process.request(  # type: ignore[union-attr]
            pair.association, pair.now, SystemVariables()
        )
        self.assertTrue(transmission.stampTransmit)

    def test_sentAtIsTheTransmitTimestamp(self) -> None:
        """
        The exact send time the shell reports is the transmit timestamp a
        peer's packet must echo.
        """
        pair = SymmetricPair()
        pair.send()
        exact = ts(pair.now + 0.000123)
        pair.association.sentAt(exact)
        pair.peerOrg = exact
        self.assertTrue(pair.deliver(pair.peerPacket()).accepted)

    def test_duplicate(self) -> None:
        """
        The same peer packet twice: the second is a duplicate.
        """
        pair = SymmetricPair()
        pair.send()
        packet = pair.peerPacket()
        self.assertTrue(pair.deliver(packet).accepted)
        self.assertEqual(pair.deliver(packet).flash, TEST_DUPLICATE)

    def test_crossedPacketsAreBogusButKept(self) -> None:
        """
        A peer packet that answers an older packet of ours (they crossed)
        fails the origin test, but its timestamps are kept so that our next
        packet answers it, and the peer's next packet is accepted.
        """
        pair = SymmetricPair()
        pair.send()
        stale = pair.peerOrg
        pair.send()
        pair.peerOrg = stale
        crossed = pair.peerPacket()
        self.assertEqual(pair.deliver(crossed).flash, TEST_BOGUS)
        ours = pair.send()
        self.assertEqual(ours.org, crossed.xmt)
        self.assertTrue(pair.deliver(pair.peerPacket()).accepted)

    def test_firstPacketOfPeer(self) -> None:
        """
        A peer that has not heard from us (zero origin) is not a sample
        yet; our next packet answers it.
        """
        pair = SymmetricPair(ASSOC_PASSIVE)
        packet = pair.peerPacket()
        self.assertEqual(pair.deliver(packet).flash, TEST_INVALID)
        self.assertEqual(pair.send().org, packet.xmt)

    def test_answeredOnce(self) -> None:
        """
        A second, different peer packet that answers the same packet of
        ours (a replay with a new transmit timestamp) is bogus.
        """
        pair = SymmetricPair()
        pair.send()
        self.assertTrue(pair.deliver(pair.peerPacket()).accepted)
        self.assertEqual(pair.deliver(pair.peerPacket()).flash, TEST_BOGUS)


class LoopTests(SynchronousTestCase):
    """
    A source synchronized to us is unfit.
    """

    def test_refidIsOurAddress(self) -> None:
        """
        A stratum 3 source whose refid is our address as it knows it is
        unfit for a loop.
        """
        ours = refidFromAddress("192.0.2.200")
        result = run(candidate("a", refid=ours, localRefid=ours, stratum=3))
        self.assertEqual(result.reasons["a"], REASON_LOOP)
        result = run(candidate("a", refid=ours, localRefid=None, stratum=3))
        self.assertNotIn("a", result.reasons)


def orphanCandidate(address: str, local: str, **fields: object) -> object:
    return candidate(
        address,
        stratum=5,
        refid=ORPHAN_REFID,
        srcAddress=address,
        localRefid=refidFromAddress(local),
        rootDelay=0.0,
        rootDispersion=0.0,
        **fields,
    )


class OrphanSelectionTests(SynchronousTestCase):
    """
    Orphan mode in selection (seed 003): orphan parents are chosen by
    address metric, and only when no other source survives.
    """

    def test_smallestMetricParent(self) -> None:
        """
        Of three orphan parents, the one with the smallest address is the
        system peer, whatever their offsets; the others are unfit for
        C{orphan}.
        """
        result = run(
            orphanCandidate("10.0.1.3", "10.0.2.1", offset=0.0),
            orphanCandidate("10.0.1.1", "10.0.2.1", offset=0.5),
            orphanCandidate("10.0.1.2", "10.0.2.1", offset=-0.5),
            orphan=5,
        )
        self.assertEqual(result.systemPeer, "10.0.1.1")
        self.assertAlmostEqual(result.offset, 0.5)
        self.assertEqual(result.status["10.0.1.1"], STATUS_SYNC)
        self.assertEqual(result.reasons["10.0.1.2"], REASON_ORPHAN)

    def test_weAreTheParent(self) -> None:
        """
        A host whose own address has a smaller metric than every orphan
        parent's follows none of them: it may be the orphan parent.
        """
        result = run(
            orphanCandidate("10.0.1.2", "10.0.1.1"),
            orphanCandidate("10.0.1.3", "10.0.1.1"),
            orphan=5,
        )
        self.assertIsNone(result.systemPeer)

    def test_utcSourceWins(self) -> None:
        """
        A source below the orphan stratum is selected rather than any
        orphan parent.
        """
        result = run(
            orphanCandidate("10.0.1.1", "10.0.2.1"),
            candidate("utc", offset=0.001, stratum=2),
            orphan=5,
        )
        self.assertEqual(result.systemPeer, "utc")

    def test_aboveOrphanStratumExcluded(self) -> None:
        """
        Sources above the orphan stratum are left out (they may follow the
        orphan parent); without orphan mode they are selected.
        """
        deep = candidate("deep", stratum=6)
        self.assertIsNone(run(deep, orphan=5).systemPeer)
        self.assertEqual(run(deep, orphan=5).reasons["deep"], REASON_ORPHAN)
        self.assertEqual(run(deep).systemPeer, "deep")

    def test_silentParentGivesWay(self) -> None:
        """
        An orphan parent that stopped answering gives way to an answering
        one.
        """
        result = run(
            orphanCandidate("10.0.1.1", "10.0.2.1", answering=False),
            orphanCandidate("10.0.1.2", "10.0.2.1"),
            orphan=5,
        )
        self.assertEqual(result.systemPeer, "10.0.1.2")


class OrphanEngineTests(SynchronousTestCase):
    """
    The engine becomes an orphan parent after C{orphanwait} seconds
    without a source.
    """

    def engine(self, orphan: int = 5) -> Engine:
        discipline = Discipline(DisciplineSettings())
        return Engine(
            precisionLog2=-20,
            discipline=discipline,
            rng=random.Random(1),
            selectionSettings=SelectionSettings(orphan=orphan, orphanWait=60.0),
        )

    def test_becomesOrphanParent(self) -> None:
        """
        Unsynchronized until C{orphanwait} has passed; then synchronized
        (for observers too: L{isSynchronized}) at the orphan stratum, refid 127.0.0.1, zero root delay and
        dispersion, and the reference time current.
        """
        engine = self.engine()
        for second in range(60):
            engine.adjust(T0 + second)
        self.assertFalse(engine.system.synchronized)
        self.assertFalse(engine.isOrphan)
        engine.adjust(T0 + 61)
        self.assertTrue(engine.isOrphan)
        system = engine.system
        self.assertTrue(system.synchronized)
        self.assertEqual((system.leap, system.stratum), (0, 5))
        self.assertEqual(system.refid, ORPHAN_REFID)
        self.assertEqual((system.rootDelay, system.rootDispersion), (0.0, 0.0))
        self.assertEqual(system.reftime, ts(T0 + 61))
        self.assertTrue(isSynchronized(engine))

    def test_stratumOneIsLOOP(self) -> None:
        """
        An orphan parent at stratum 1 shows refid C{LOOP}.
        """
        engine = self.engine(orphan=1)
        engine.adjust(T0)
        engine.adjust(T0 + 61)
        self.assertEqual(engine.system.refid, b"LOOP")

    def test_off(self) -> None:
        """
        Without C{tos orphan}, a host with no source stays unsynchronized.
        """
        engine = self.engine(orphan=16)
        engine.adjust(T0)
        engine.adjust(T0 + 3600)
        self.assertFalse(engine.isOrphan)
        self.assertFalse(engine.system.synchronized)
        self.assertFalse(isSynchronized(engine))

