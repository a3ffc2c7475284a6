# -*- test-case-name: tests.clock.test_drivers -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.clock}: what the drivers share, and that every driver
provides L{IClockDriver}.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from ntpservice.clock import (
    ClockPermissionError,
    ClockStatus,
    checkLeap,
    checkSlew,
    clampFrequency,
    defaultClockDriver,
    measurePrecision,
    precisionLog2,
)
from ntpservice.clock.linux import LinuxClock
from ntpservice.clock.noadjust import NoAdjustClock
from ntpservice.clock.simulated import SimulatedClock
from ntpservice.interfaces import IClockDriver


def _refuseWrites(tx: object) -> int:
    raise AssertionError("no syscall expected")


class DriversTests(SynchronousTestCase):
    """
    All three drivers and the factory.
    """

    def test_allProvideInterface(self) -> None:
        """
        Every driver provides L{IClockDriver}.
        """
        for driver in (
            LinuxClock(adjtime=_refuseWrites),
            NoAdjustClock(),
            SimulatedClock(Clock()),
        ):
            self.assertTrue(verifyObject(IClockDriver, driver))

    def test_defaultAdjust(self) -> None:
        """
        C{defaultClockDriver(True)} is a L{LinuxClock}.
        """
        self.assertIsInstance(defaultClockDriver(True), LinuxClock)

    def test_defaultNoAdjust(self) -> None:
        """
        C{defaultClockDriver(False)} is a L{NoAdjustClock} on the real clock.
        """
        driver = defaultClockDriver(False)
        self.assertIsInstance(driver, NoAdjustClock)
        self.assertIs(driver.canAdjust, False)
        self.assertIs(driver.kernelTimescale, True)


class ClockStatusTests(SynchronousTestCase):
    """
    L{ClockStatus}.
    """

    def test_frozen(self) -> None:
        """
        A L{ClockStatus} cannot be changed.
        """
        status = ClockStatus(0.0, 0.0, 16.0, 16.0, 0, False, -20, 0)
        self.assertRaises(
            dataclasses.FrozenInstanceError, setattr, status, "leap", 1
        )

    def test_permissionErrorIsOSError(self) -> None:
        """
        L{ClockPermissionError} is a L{PermissionError}, hence an
        L{OSError}.
        """
        self.assertTrue(issubclass(ClockPermissionError, PermissionError))
        self.assertTrue(issubclass(ClockPermissionError, OSError))


class ValidationTests(SynchronousTestCase):
    """
    The checks every driver applies.
    """

    def test_clampFrequency(self) -> None:
        """
        Frequencies are clamped to +-500 ppm; NaN is refused.
        """
        self.assertEqual(clampFrequency(501), 500.0)
        self.assertEqual(clampFrequency(-501), -500.0)
        self.assertEqual(clampFrequency(12.25), 12.25)
        self.assertRaises(ValueError, clampFrequency, math.nan)

    def test_checkSlew(self) -> None:
        """
        Slews up to 2145 s pass, larger ones and non-finite ones do not.
        """
        self.assertEqual(checkSlew(2145), 2145.0)
        self.assertRaises(ValueError, checkSlew, 2145.5)
        self.assertRaises(ValueError, checkSlew, -math.inf)

    def test_checkLeap(self) -> None:
        """
        Leap 3 folds into 0; values outside 0-3 are refused.
        """
        self.assertEqual([checkLeap(i) for i in range(4)], [0, 1, 2, 0])
        self.assertRaises(ValueError, checkLeap, 4)
        self.assertRaises(ValueError, checkLeap, -1)


class PrecisionTests(SynchronousTestCase):
    """
    L{measurePrecision} and L{precisionLog2}.
    """

    def test_microsecondClock(self) -> None:
        """
        A clock that advances 1 us per reading has precision -20.
        """
        read = itertools.count(0, 1000).__next__
        self.assertEqual(measurePrecision(read, resolutionNs=1), -20)

    def test_resolutionWins(self) -> None:
        """
        A clock read faster than its resolution takes the resolution.
        """
        read = itertools.count(0, 10).__next__
        self.assertEqual(measurePrecision(read, resolutionNs=4_000_000), -8)

    def test_coarseClock(self) -> None:
        """
        The minimum nonzero difference counts, not the zero ones: a clock
        ticking every 1024 us, read 100 times per tick, has precision -10.
        """
        readings = (tick * 1_024_000 for tick in range(10**6) for _ in range(100))
        self.assertEqual(
            measurePrecision(readings.__next__, resolutionNs=1), -10
        )

    def test_stoppedClock(self) -> None:
        """
        A clock that never changes in the reads allowed falls back to its
        resolution.
        """
        self.assertEqual(
            measurePrecision(lambda: 5, resolutionNs=1_000, maxReads=50), -20
        )

    def test_clamped(self) -> None:
        """
        Precisions are clamped to [-30, -1].
        """
        self.assertEqual(precisionLog2(1e-12), -30)
        self.assertEqual(precisionLog2(3.0), -1)
        self.assertEqual(
            measurePrecision(itertools.count().__next__, resolutionNs=1), -30
        )

    def test_nearestPowerOfTwo(self) -> None:
        """
        Durations round to the nearest power of two: 1.4 us is nearer 2**-20
        (0.95 us) than 2**-19 (1.9 us); 1.5 us is nearer 2**-19.
        """
        self.assertEqual(precisionLog2(1.4e-6), -20)
        self.assertEqual(precisionLog2(1.5e-6), -19)
        self.assertEqual(precisionLog2(2.0**-20), -20)

    def test_realClock(self) -> None:
        """
        The real clock's precision is in range.
        """
        self.assertTrue(-30 <= measurePrecision() <= -1)
