# -*- test-case-name: tests.clock.test_noadjust -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.clock.noadjust}.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import math
import time

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from ntpservice.clock import UNSYNCHRONIZED_MAX_ERROR, noadjust
from ntpservice.clock.noadjust import ACTIONS_KEPT, NoAdjustClock
from ntpservice.interfaces import IClockDriver


def fakeReader(start: int = 1_767_225_600_000_000_000, stepNs: int = 1000):
    """
    A clock reader that advances C{stepNs} per reading.
    """
    counter = itertools.count(start, stepNs)
    return lambda: next(counter)


class NoAdjustClockTests(SynchronousTestCase):
    """
    L{NoAdjustClock} reads, records and changes nothing.
    """

    def test_interface(self) -> None:
        """
        It provides L{IClockDriver}, is named C{'noadjust'} and says it does
        not adjust the clock.
        """
        clock = NoAdjustClock()
        self.assertTrue(verifyObject(IClockDriver, clock))
        self.assertEqual(clock.name, "noadjust")
        self.assertIs(clock.canAdjust, False)

    def test_kernelTimescale(self) -> None:
        """
        It is on the kernel's timescale when reading C{CLOCK_REALTIME}, not
        when given another reader.
        """
        self.assertIs(NoAdjustClock().kernelTimescale, True)
        self.assertIs(NoAdjustClock(now=fakeReader()).kernelTimescale, False)

    def test_nowReadsTheRealClock(self) -> None:
        """
        By default L{NoAdjustClock.now} is an C{int} within a second of
        C{time.time_ns()}.
        """
        reading = NoAdjustClock().now()
        self.assertIsInstance(reading, int)
        self.assertLess(abs(reading - time.time_ns()), 1_000_000_000)

    def test_nowInjected(self) -> None:
        """
        An injected reader is used as it is, and slews and steps do not
        shift it.
        """
        clock = NoAdjustClock(now=lambda: 42)
        clock.step(10.0)
        clock.slew(0.1)
        self.assertEqual(clock.now(), 42)

    def test_precisionMeasuredOnReader(self) -> None:
        """
        The precision is measured on the reader: a clock that ticks by 1 us
        per reading has precision -20, measured once.
        """
        clock = NoAdjustClock(now=fakeReader(stepNs=1000))
        self.assertEqual(clock.precision(), -20)
        self.assertEqual(clock.precision(), -20)

    def test_actions(self) -> None:
        """
        Each correction is recorded in order as it would have been applied:
        frequencies clamped, leap 3 folded into 0.
        """
        clock = NoAdjustClock(now=fakeReader())
        clock.slew(0.002)
        clock.step(-1.5)
        clock.setFrequency(12.5)
        clock.setFrequency(-900.0)
        clock.setLeap(1)
        clock.setLeap(3)
        self.assertEqual(
            list(clock.actions),
            [
                ("slew", 0.002),
                ("step", -1.5),
                ("frequency", 12.5),
                ("frequency", -500.0),
                ("leap", 1),
                ("leap", 0),
            ],
        )

    def test_actionsBounded(self) -> None:
        """
        Only the last 1000 actions are kept.
        """
        clock = NoAdjustClock(now=fakeReader())
        for i in range(ACTIONS_KEPT + 5):
            clock.step(float(i))
        self.assertEqual(len(clock.actions), ACTIONS_KEPT)
        self.assertEqual(clock.actions[0], ("step", 5.0))
        self.assertEqual(clock.actions[-1], ("step", float(ACTIONS_KEPT + 4)))

    def test_invalid(self) -> None:
        """
        Requests the Linux driver would refuse raise L{ValueError} and are
        not recorded.
        """
        clock = NoAdjustClock(now=fakeReader())
        self.assertRaises(ValueError, clock.slew, 3000.0)
        self.assertRaises(ValueError, clock.step, math.nan)
        self.assertRaises(ValueError, clock.setFrequency, math.inf)
        self.assertRaises(ValueError, clock.setLeap, 7)
        self.assertEqual(list(clock.actions), [])

    def test_status(self) -> None:
        """
        L{NoAdjustClock.status} reports the frequency and leap it was told,
        no remaining offset, no kernel flags and an unsynchronized clock.
        """
        clock = NoAdjustClock(now=fakeReader())
        initial = clock.status()
        self.assertEqual((initial.freqPPM, initial.leap), (0.0, 0))
        clock.setFrequency(-3.25)
        clock.setLeap(2)
        clock.slew(0.5)
        status = clock.status()
        self.assertEqual(status.freqPPM, -3.25)
        self.assertEqual(status.leap, 2)
        self.assertEqual(status.offset, 0.0)
        self.assertEqual(status.statusFlags, 0)
        self.assertFalse(status.synchronized)
        self.assertEqual(status.maxError, UNSYNCHRONIZED_MAX_ERROR)
        self.assertEqual(status.estError, UNSYNCHRONIZED_MAX_ERROR)
        self.assertEqual(status.precision, clock.precision())

    def test_noSyscallReachable(self) -> None:
        """
        The module imports nothing that could write to the kernel clock: no
        ctypes, no os, no Linux driver.
        """
        tree = ast.parse(inspect.getsource(noadjust))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module or "")
        for forbidden in ("ctypes", "os", "ntpservice.clock.linux"):
            self.assertNotIn(forbidden, imported)
        source = inspect.getsource(noadjust).lower()
        self.assertNotIn("adjtime", source)
        self.assertNotIn("settime", source)
