# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.engine.Engine.refclockSample}, the engine's one
entry point for samples that do not come in packets, and for reference
clock associations in the poll process and selection.
"""

from __future__ import annotations

import random

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core import actions as A
from ntpservice.core.association import AssociationSettings, RefClockSource
from ntpservice.core.discipline import Discipline, DisciplineSettings
from ntpservice.core.engine import (
    Engine,
    PollRefClock,
    ReachChanged,
    SendPacket,
    SystemPeerChanged,
)
from ntpservice.core.packet import LEAP_NONE
from ntpservice.core.selection import REASON_FALLBACK

T0 = 1_790_000_000.0
GPS = RefClockSource(driverType=28, unit=0, stratum=0, refid=b"GPS\0")
LOCAL = RefClockSource(driverType=1, unit=0, stratum=10, refid=b"LOCL", lastResort=True)


def makeEngine() -> Engine:
    return Engine(
        precisionLog2=-20,
        discipline=Discipline(DisciplineSettings()),
        rng=random.Random(5),
    )


def refclockSettings(source: RefClockSource) -> AssociationSettings:
    return AssociationSettings(
        source.address, minPollLog2=4, maxPollLog2=4, refclock=source
    )


def feed(engine: Engine, associd: int, count: int, offset: float = 0.0,
         start: float = T0, every: float = 16.0) -> list[object]:
    """C{count} samples of C{offset}, C{every} seconds apart."""
    out: list[object] = []
    for i in range(count):
        now = start + i * every
        out.extend(engine.refclockSample(associd, offset, 1e-6, LEAP_NONE, now))
    return out


class RefClockSampleTests(SynchronousTestCase):
    """
    Samples from a reference clock driver.
    """

    def test_feedsFilterAndReach(self) -> None:
        """
        A sample fills the association's clock filter and reach register,
        counts as received, and the first makes it reachable
        (L{ReachChanged}); the association takes the driver's stratum and
        refid, with no delay.
        """
        engine = makeEngine()
        a = engine.mobilize(refclockSettings(GPS), T0)
        out = engine.refclockSample(a.associd, 0.002, 1e-6, LEAP_NONE, T0)
        self.assertIn(ReachChanged(a.associd, "127.127.28.0", True), out)
        self.assertEqual((a.reach, a.samples, a.received), (1, 1, 1))
        self.assertEqual((a.stratum, a.refid, a.delay), (0, b"GPS\0", 0.0))
        self.assertEqual(a.filter.offset, 0.002)

    def test_networkAssociationRefused(self) -> None:
        """
        A network association takes no driver samples: ValueError.
        """
        engine = makeEngine()
        a = engine.mobilize(AssociationSettings("192.0.2.1"), T0)
        self.assertRaises(
            ValueError, engine.refclockSample, a.associd, 0.0, 1e-6, LEAP_NONE, T0
        )

    def test_selectedAndDisciplines(self) -> None:
        """
        Once its filter holds enough samples a reference clock is the
        system peer: the system is at stratum 1 with the driver's refid,
        and its offsets reach the discipline.
        """
        engine = makeEngine()
        a = engine.mobilize(refclockSettings(GPS), T0)
        out = feed(engine, a.associd, 8, offset=0.01)
        self.assertEqual(engine.systemPeer, a.associd)
        self.assertTrue(any(isinstance(x, SystemPeerChanged) and x.associd == a.associd
                            for x in out))
        self.assertEqual((engine.system.stratum, engine.system.refid), (1, b"GPS\0"))
        self.assertIsNotNone(engine.discipline.lastUpdate)

    def test_refidAboveStratumZero(self) -> None:
        """
        A reference clock above driver stratum 0 gives the system its
        address 127.127.t.u as refid, as ntpd does.
        """
        engine = makeEngine()
        a = engine.mobilize(
            refclockSettings(RefClockSource(28, 2, stratum=3, refid=b"SHM\0")), T0
        )
        feed(engine, a.associd, 8)
        self.assertEqual(engine.systemPeer, a.associd)
        self.assertEqual((engine.system.stratum, engine.system.refid),
                         (4, bytes((127, 127, 28, 2))))

    def test_pollAsksTheDriver(self) -> None:
        """
        The poll process of a reference clock association sends nothing:
        it asks the driver (L{PollRefClock}) every 2**minpoll s and shifts
        the reach register.
        """
        engine = makeEngine()
        a = engine.mobilize(refclockSettings(GPS), T0)
        feed(engine, a.associd, 1)
        deadline = engine.nextDeadline()
        assert deadline is not None
        out = engine.poll(deadline)
        self.assertEqual(out, [PollRefClock(a.associd, "127.127.28.0")])
        self.assertFalse(any(isinstance(x, SendPacket) for x in out))
        self.assertEqual(a.reach, 0b10)
        nextDeadline = engine.nextDeadline()
        assert nextDeadline is not None
        self.assertTrue(16.0 <= nextDeadline - deadline <= 16.5, nextDeadline - deadline)


class StartBurstTests(SynchronousTestCase):
    """
    The burst of polls a driver asks for at start (L{RefClockSource.burst}).
    """

    def test_burstThenRegular(self) -> None:
        """
        A driver asking for 4 polls 1 s apart is polled 4 times about 1 s
        apart (the reach register not shifting, so each sample keeps it
        reachable), then every 2**minpoll s; a step of the clock
        (L{Association.clear}) starts the burst again.
        """
        engine = makeEngine()
        source = RefClockSource(28, 0, stratum=0, refid=b"GPS\0", burst=4, burstInterval=1.0)
        a = engine.mobilize(refclockSettings(source), T0)
        engine.refclockSample(a.associd, 0.0, 1e-6, LEAP_NONE, T0)
        times = []
        for _ in range(6):
            deadline = engine.nextDeadline()
            assert deadline is not None
            times.append(deadline)
            out = engine.poll(deadline)
            self.assertEqual(out[:1], [PollRefClock(a.associd, "127.127.28.0")])
            engine.refclockSample(a.associd, 0.0, 1e-6, LEAP_NONE, deadline)
        gaps = [round(b - a_, 3) for a_, b in zip(times, times[1:])]
        self.assertEqual(gaps[:3], [1.0, 1.0, 1.0])
        self.assertTrue(all(16.0 <= g <= 16.5 for g in gaps[3:]), gaps)
        self.assertEqual(a.reach, 0b111)
        a.clear(times[-1])
        self.assertEqual(a.burst, 4)


class LastResortTests(SynchronousTestCase):
    """
    A last-resort driver (LOCAL): the fallback, never a correction.
    """

    def test_neverCorrects(self) -> None:
        """
        The LOCAL clock, alone, becomes the system peer at once (no
        start-up hold: it corrects nothing), the system is at its stratum
        plus one with refid 127.127.1.u, and no clock action ever comes of
        its samples, whatever offset they carry.
        """
        engine = makeEngine()
        a = engine.mobilize(refclockSettings(LOCAL), T0)
        out = feed(engine, a.associd, 8, offset=0.5)
        self.assertEqual(engine.systemPeer, a.associd)
        self.assertEqual((engine.system.stratum, engine.system.refid),
                         (11, bytes((127, 127, 1, 0))))
        self.assertTrue(engine.system.synchronized)
        self.assertFalse(any(isinstance(x, (A.Slew, A.Step, A.SetFrequency)) for x in out))
        self.assertEqual(engine.discipline.state, "NSET")
        self.assertIsNone(engine.discipline.lastUpdate)

    def test_onlyWhenNothingElse(self) -> None:
        """
        Beside a fit network-like source (a driver at stratum 0), the
        LOCAL clock is held back as a fallback; the other is the system
        peer.
        """
        engine = makeEngine()
        local = engine.mobilize(refclockSettings(LOCAL), T0)
        gps = engine.mobilize(refclockSettings(GPS), T0)
        for i in range(8):
            now = T0 + 16 * i
            engine.refclockSample(local.associd, 0.0, 1e-6, LEAP_NONE, now)
            engine.refclockSample(gps.associd, 0.0001, 1e-6, LEAP_NONE, now)
        self.assertEqual(engine.systemPeer, gps.associd)
        assert engine.selection is not None
        self.assertEqual(engine.selection.reasons.get(local.associd), REASON_FALLBACK)

    def test_noWitnessNoHold(self) -> None:
        """
        While the system is synchronized to the LOCAL clock, a source that
        becomes selectable is still held for the start-up window (the
        system has no real source yet), the LOCAL clock staying the system
        peer meanwhile, and the LOCAL clock does not count among the
        sources that could contradict it.
        """
        engine = makeEngine()
        local = engine.mobilize(refclockSettings(LOCAL), T0)
        feed(engine, local.associd, 8)
        self.assertEqual(engine.systemPeer, local.associd)
        network = engine.mobilize(AssociationSettings("192.0.2.1"), T0)
        gps = engine.mobilize(refclockSettings(GPS), T0)
        start = T0 + 200
        out = feed(engine, gps.associd, 8, offset=0.0001, start=start, every=1.0)
        # The network server never answered: the hold waits for it, and
        # the LOCAL clock stays the system peer meanwhile (the system
        # stays synchronized).
        self.assertEqual(engine.systemPeer, local.associd)
        self.assertTrue(engine.system.synchronized)
        self.assertFalse(any(isinstance(x, SystemPeerChanged) for x in out))
        self.assertIn("startup", [getattr(x, "reason", None) for x in out])
        out = feed(engine, gps.associd, 1, offset=0.0001, start=start + 20)
        self.assertEqual(engine.systemPeer, gps.associd)
        self.assertIsNotNone(network)
