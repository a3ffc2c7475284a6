# -*- test-case-name: tests.clock.test_simulated -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.clock.simulated}.
"""

from __future__ import annotations

import math
import random

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from ntpservice.clock.simulated import DEFAULT_EPOCH_NS, SimulatedClock
from ntpservice.interfaces import IClockDriver

HOUR = 3600.0
DAY_NS = 86_400 * 1_000_000_000


class SimulatedClockBasicsTests(SynchronousTestCase):
    """
    Reading the simulated clock and true time.
    """

    def test_interface(self) -> None:
        """
        It provides L{IClockDriver}, adjusts (a simulated clock) and is not on
        the kernel's timescale.
        """
        clock = SimulatedClock(Clock())
        self.assertTrue(verifyObject(IClockDriver, clock))
        self.assertEqual(clock.name, "simulated")
        self.assertIs(clock.canAdjust, True)
        self.assertIs(clock.kernelTimescale, False)

    def test_trueTime(self) -> None:
        """
        True time is the epoch plus the reactor's seconds.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor, epochNs=5_000_000_000)
        self.assertEqual(clock.trueNow(), 5_000_000_000)
        reactor.advance(1.25)
        self.assertEqual(clock.trueNow(), 6_250_000_000)

    def test_defaultEpoch(self) -> None:
        """
        By default true time starts at 2026-01-01T00:00:00Z.
        """
        self.assertEqual(DEFAULT_EPOCH_NS, 1_767_225_600_000_000_000)
        self.assertEqual(SimulatedClock(Clock()).trueNow(), DEFAULT_EPOCH_NS)

    def test_initialOffset(self) -> None:
        """
        The clock reads true time plus the initial offset.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor, offset=-0.75)
        reactor.advance(10)
        self.assertEqual(clock.now() - clock.trueNow(), -750_000_000)
        self.assertEqual(clock.error(), -0.75)

    def test_precision(self) -> None:
        """
        The precision is the one given.
        """
        self.assertEqual(SimulatedClock(Clock()).precision(), -20)
        self.assertEqual(SimulatedClock(Clock(), precision=-9).precision(), -9)

    def test_invalidParameters(self) -> None:
        """
        Non-finite or negative model parameters raise L{ValueError}.
        """
        self.assertRaises(ValueError, SimulatedClock, Clock(), offset=math.nan)
        self.assertRaises(ValueError, SimulatedClock, Clock(), freqPPM=math.inf)
        self.assertRaises(
            ValueError, SimulatedClock, Clock(), wanderPPBPerSecond=-1.0
        )
        self.assertRaises(
            ValueError, SimulatedClock, Clock(), wanderIntervalSeconds=0.0
        )


class FrequencyTests(SynchronousTestCase):
    """
    Frequency error and correction.
    """

    def test_errorGrowsAtFrequency(self) -> None:
        """
        An oscillator 10 ppm fast gains 36 ms in an hour, linearly.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor, freqPPM=10.0)
        reactor.advance(HOUR / 2)
        self.assertAlmostEqual(clock.error(), 0.018, places=12)
        reactor.advance(HOUR / 2)
        self.assertAlmostEqual(clock.error(), 0.036, places=12)
        self.assertAlmostEqual(
            (clock.now() - clock.trueNow()) / 1e9, 0.036, places=9
        )
        self.assertEqual(clock.frequencyErrorPPM(), 10.0)

    def test_correctionCancels(self) -> None:
        """
        A correction of the opposite sign (positive runs faster) cancels the
        frequency error: the error no longer grows.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor, freqPPM=10.0)
        reactor.advance(100)
        before = clock.error()
        clock.setFrequency(-10.0)
        reactor.advance(HOUR)
        self.assertAlmostEqual(clock.error(), before, places=12)
        self.assertEqual(clock.frequencyErrorPPM(), 0.0)
        self.assertEqual(clock.status().freqPPM, -10.0)

    def test_positiveRunsFaster(self) -> None:
        """
        On a perfect oscillator, C{setFrequency(+5)} makes the clock gain
        5 us per second.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor)
        clock.setFrequency(5.0)
        reactor.advance(1000)
        self.assertAlmostEqual(clock.error(), 0.005, places=12)

    def test_clampedAndQuantized(self) -> None:
        """
        Corrections are clamped to +-500 ppm and rounded to 2**-16 ppm.
        """
        clock = SimulatedClock(Clock())
        clock.setFrequency(800.0)
        self.assertEqual(clock.status().freqPPM, 500.0)
        clock.setFrequency(1e-6)
        self.assertEqual(clock.status().freqPPM, 0.0)
        clock.setFrequency(1 / 65536)
        self.assertEqual(clock.status().freqPPM, 1 / 65536)
        self.assertRaises(ValueError, clock.setFrequency, math.nan)


class StepTests(SynchronousTestCase):
    """
    Steps.
    """

    def test_stepIsImmediate(self) -> None:
        """
        A step moves the clock at once, by exactly the offset.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor, offset=0.5)
        reactor.advance(10)
        clock.step(-0.5)
        self.assertEqual(clock.error(), 0.0)
        self.assertEqual(clock.now(), clock.trueNow())
        clock.step(2.25)
        self.assertEqual(clock.now() - clock.trueNow(), 2_250_000_000)

    def test_stepInvalid(self) -> None:
        """
        A non-finite step raises L{ValueError}.
        """
        self.assertRaises(ValueError, SimulatedClock(Clock()).step, math.inf)


class SlewTests(SynchronousTestCase):
    """
    Slews are amortized at 500 ppm.
    """

    def test_convergesAt500PPM(self) -> None:
        """
        A 0.1 s slew is half done after 100 s, done after 200 s, and the
        clock does not move further.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor)
        clock.slew(0.1)
        self.assertEqual(clock.status().offset, 0.1)
        reactor.advance(100)
        self.assertAlmostEqual(clock.error(), 0.05, places=12)
        self.assertAlmostEqual(clock.status().offset, 0.05, places=12)
        reactor.advance(100)
        self.assertAlmostEqual(clock.error(), 0.1, places=12)
        self.assertEqual(clock.status().offset, 0.0)
        reactor.advance(1000)
        self.assertAlmostEqual(clock.error(), 0.1, places=12)

    def test_neverFaster(self) -> None:
        """
        Whatever the reading pattern, the clock never moves more than 500 us
        per second of true time, and the end result is the same.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor)
        clock.slew(-0.01)
        elapsed = 0.0
        for dt in [0.001, 0.5, 3.0, 0.25, 7.0, 1.0] * 3:
            reactor.advance(dt)
            elapsed += dt
            moved = -clock.error()
            self.assertLessEqual(moved, 500e-6 * elapsed + 1e-15)
            self.assertAlmostEqual(moved, min(0.01, 500e-6 * elapsed), places=12)
        reactor.advance(100)
        self.assertAlmostEqual(clock.error(), -0.01, places=12)

    def test_replaces(self) -> None:
        """
        A new slew replaces what remains of the previous one.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor)
        clock.slew(1.0)
        reactor.advance(10)
        clock.slew(-0.001)
        reactor.advance(1000)
        self.assertAlmostEqual(clock.error(), 0.005 - 0.001, places=12)

    def test_withFrequencyError(self) -> None:
        """
        Slew and frequency error add up.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor, freqPPM=-20.0)
        clock.slew(0.002)
        reactor.advance(100)
        self.assertAlmostEqual(clock.error(), 0.002 - 0.002, places=12)

    def test_roundedToMicrosecond(self) -> None:
        """
        Like adjtime, a slew is rounded to the microsecond.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor)
        clock.slew(1.4e-6)
        reactor.advance(10)
        self.assertAlmostEqual(clock.error(), 1e-6, places=15)

    def test_limits(self) -> None:
        """
        Slews beyond 2145 s or not finite raise L{ValueError}.
        """
        clock = SimulatedClock(Clock())
        self.assertRaises(ValueError, clock.slew, 2200.0)
        self.assertRaises(ValueError, clock.slew, math.nan)


class WanderTests(SynchronousTestCase):
    """
    Random-walk wander of the oscillator's frequency.
    """

    def trajectory(
        self, seed: int, readEvery: float, total: float = HOUR
    ) -> list[float]:
        """
        Read the error of a wandering clock every C{readEvery} s, returning
        the error at each whole minute.
        """
        reactor = Clock()
        clock = SimulatedClock(
            reactor, freqPPM=1.0, wanderPPBPerSecond=1.0, rng=random.Random(seed)
        )
        errors = []
        elapsed = 0.0
        while elapsed < total:
            reactor.advance(readEvery)
            elapsed += readEvery
            if elapsed % 60 == 0:
                errors.append(clock.error())
        return errors

    def test_sameSeedSameTrajectory(self) -> None:
        """
        The same seed gives the same trajectory; another seed another.
        """
        self.assertEqual(self.trajectory(1, 60), self.trajectory(1, 60))
        self.assertNotEqual(self.trajectory(1, 60), self.trajectory(2, 60))

    def test_independentOfReads(self) -> None:
        """
        The trajectory does not depend on how often the clock is read (the
        wander grid is fixed in true time).
        """
        often = self.trajectory(3, 2)
        rarely = self.trajectory(3, 60)
        self.assertEqual(len(often), len(rarely))
        for a, b in zip(often, rarely):
            self.assertAlmostEqual(a, b, places=12)

    def test_wanders(self) -> None:
        """
        With wander the frequency drifts away from its initial value, by
        about C{wander * sqrt(t)}; without, it stays.
        """
        reactor = Clock()
        clock = SimulatedClock(
            reactor, wanderPPBPerSecond=1.0, rng=random.Random(7)
        )
        reactor.advance(4 * HOUR)
        drift = abs(clock.frequencyErrorPPM())
        # 1 ppb/sqrt(s) over 14400 s: sd 0.12 ppm.
        self.assertGreater(drift, 0.0)
        self.assertLess(drift, 0.6)
        still = SimulatedClock(reactor, freqPPM=1.0)
        reactor.advance(HOUR)
        self.assertEqual(still.frequencyErrorPPM(), 1.0)

    def test_defaultRngDeterministic(self) -> None:
        """
        Without an rng the clock is still reproducible.
        """
        results = []
        for _ in range(2):
            reactor = Clock()
            clock = SimulatedClock(reactor, wanderPPBPerSecond=5.0)
            reactor.advance(600)
            results.append(clock.error())
        self.assertEqual(results[0], results[1])


class LeapTests(SynchronousTestCase):
    """
    Leap seconds at the end of the simulated clock's UTC day.
    """

    def test_insert(self) -> None:
        """
        An armed insertion steps the clock back one second at midnight, once.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor)
        reactor.advance(86_390)
        clock.setLeap(1)
        self.assertEqual(clock.status().leap, 1)
        reactor.advance(9.5)
        self.assertEqual(clock.error(), 0.0)
        reactor.advance(1)
        self.assertEqual(clock.error(), -1.0)
        self.assertEqual(clock.now(), DEFAULT_EPOCH_NS + DAY_NS - 500_000_000)
        reactor.advance(2 * 86_400)
        self.assertEqual(clock.error(), -1.0)

    def test_delete(self) -> None:
        """
        An armed deletion skips from 23:59:59 to 00:00:00.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor)
        reactor.advance(86_390)
        clock.setLeap(2)
        reactor.advance(8.5)
        self.assertEqual(clock.error(), 0.0)
        reactor.advance(1)
        self.assertEqual(clock.error(), 1.0)

    def test_disarm(self) -> None:
        """
        Leap 0 or 3 disarms an armed leap second.
        """
        for disarm in (0, 3):
            reactor = Clock()
            clock = SimulatedClock(reactor)
            reactor.advance(86_000)
            clock.setLeap(1)
            clock.setLeap(disarm)
            self.assertEqual(clock.status().leap, 0)
            reactor.advance(1000)
            self.assertEqual(clock.error(), 0.0)

    def test_invalid(self) -> None:
        """
        A leap indicator outside 0-3 raises L{ValueError}.
        """
        self.assertRaises(ValueError, SimulatedClock(Clock()).setLeap, -1)


class StatusTests(SynchronousTestCase):
    """
    L{SimulatedClock.status}.
    """

    def test_status(self) -> None:
        """
        It reports the correction in force, the remaining slew, the armed
        leap and the precision; no kernel flags; not synchronized.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor, precision=-18)
        clock.setFrequency(7.5)
        clock.slew(-0.001)
        reactor.advance(1)
        status = clock.status()
        self.assertEqual(status.freqPPM, 7.5)
        self.assertAlmostEqual(status.offset, -0.0005, places=12)
        self.assertEqual(status.precision, -18)
        self.assertEqual(status.statusFlags, 0)
        self.assertFalse(status.synchronized)
        self.assertEqual(status.leap, 0)


class NotAdjustingTests(SynchronousTestCase):
    """
    A L{SimulatedClock} made with C{adjusts=False}: a host whose clock the
    daemon must not adjust.
    """

    def test_recordsAndAppliesNothing(self) -> None:
        """
        It says it cannot adjust; slews, steps, frequency and leap are
        validated, recorded in C{unapplied} in order, and change nothing:
        the oscillator runs free and the status shows no correction.
        """
        reactor = Clock()
        clock = SimulatedClock(reactor, offset=0.01, freqPPM=5.0, adjusts=False)
        self.assertTrue(verifyObject(IClockDriver, clock))
        self.assertIs(clock.canAdjust, False)
        clock.slew(0.002)
        clock.step(-1.5)
        clock.setFrequency(600.0)
        clock.setLeap(3)
        reactor.advance(100)
        self.assertEqual(
            clock.unapplied,
            [("slew", 0.002), ("step", -1.5), ("frequency", 500.0), ("leap", 0)],
        )
        self.assertAlmostEqual(clock.error(), 0.01 + 5e-6 * 100, places=12)
        self.assertEqual(clock.frequencyErrorPPM(), 5.0)
        status = clock.status()
        self.assertEqual((status.freqPPM, status.offset, status.leap), (0.0, 0.0, 0))

    def test_invalidStillRefused(self) -> None:
        """
        What an adjusting clock refuses, it refuses too, and records
        nothing of it.
        """
        clock = SimulatedClock(Clock(), adjusts=False)
        self.assertRaises(ValueError, clock.slew, math.inf)
        self.assertRaises(ValueError, clock.step, math.nan)
        self.assertRaises(ValueError, clock.setFrequency, math.nan)
        self.assertRaises(ValueError, clock.setLeap, 4)
        self.assertEqual(clock.unapplied, [])

    def test_adjustingHasNoRecord(self) -> None:
        """
        By default the clock adjusts, and keeps no record.
        """
        clock = SimulatedClock(Clock())
        clock.slew(0.001)
        self.assertIs(clock.canAdjust, True)
        self.assertEqual(clock.unapplied, [])
