# -*- test-case-name: tests.clock.test_linux -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.clock.linux}.

Only reads reach the real kernel (modes C{0} and C{ADJ_OFFSET_SS_READ},
through a guard that refuses anything else). Every writing path runs against
L{FakeAdjtime}, which records the requests and never calls the kernel.
"""

from __future__ import annotations

import ctypes
import errno
import math
import platform
import sys
import time
from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from ntpservice.clock import ClockPermissionError, ClockStatus
from ntpservice.clock import linux
from ntpservice.clock.linux import (
    ADJ_FREQUENCY,
    ADJ_NANO,
    ADJ_OFFSET_SINGLESHOT,
    ADJ_OFFSET_SS_READ,
    ADJ_SETOFFSET,
    ADJ_STATUS,
    READ_ONLY_MODES,
    STA_DEL,
    STA_INS,
    STA_NANO,
    STA_PLL,
    STA_PPSSIGNAL,
    STA_UNSYNC,
    TIME_ERROR,
    TIME_OK,
    LinuxClock,
    Timex,
)
from ntpservice.interfaces import IClockDriver

_ON_LINUX = sys.platform.startswith("linux")
_LP64_X86 = platform.machine() == "x86_64" and ctypes.sizeof(ctypes.c_long) == 8


def _snapshot(tx: Timex) -> dict[str, Any]:
    """
    Copy the fields of a L{Timex} that matter to the tests.
    """
    return {
        "modes": tx.modes,
        "offset": tx.offset,
        "freq": tx.freq,
        "status": tx.status,
        "tv_sec": tx.time.tv_sec,
        "tv_usec": tx.time.tv_usec,
    }


class FakeAdjtime:
    """
    A stand-in for C{clock_adjtime}: answers reads from a fake kernel state,
    records every call and never touches the real clock.

    @ivar calls: snapshots of each L{Timex} passed in, before the fake fills
        it.
    @ivar writes: the snapshots of the calls whose modes are not read-only.
    @ivar error: if set, an L{OSError} raised by writing calls.
    """

    def __init__(
        self,
        offset: int = 0,
        adjtimeOffsetUs: int = 0,
        freq: int = 0,
        maxerror: int = 0,
        esterror: int = 0,
        status: int = STA_NANO,
        state: int = TIME_OK,
    ) -> None:
        self.offset = offset
        self.adjtimeOffsetUs = adjtimeOffsetUs
        self.freq = freq
        self.maxerror = maxerror
        self.esterror = esterror
        self.status = status
        self.state = state
        self.calls: list[dict[str, Any]] = []
        self.writes: list[dict[str, Any]] = []
        self.error: OSError | None = None

    def __call__(self, tx: Timex) -> int:
        snapshot = _snapshot(tx)
        self.calls.append(snapshot)
        if tx.modes not in READ_ONLY_MODES:
            self.writes.append(snapshot)
            if self.error is not None:
                raise self.error
        if tx.modes == ADJ_OFFSET_SS_READ:
            tx.offset = self.adjtimeOffsetUs
        else:
            tx.offset = self.offset
        tx.freq = self.freq
        tx.maxerror = self.maxerror
        tx.esterror = self.esterror
        tx.status = self.status
        return self.state


class GuardedRealAdjtime:
    """
    The real syscall behind a guard: any mode outside L{READ_ONLY_MODES} is
    refused before it reaches the kernel, and recorded.
    """

    def __init__(self) -> None:
        self.modes: list[int] = []
        self.refused: list[int] = []

    def __call__(self, tx: Timex) -> int:
        self.modes.append(tx.modes)
        if tx.modes not in READ_ONLY_MODES:
            self.refused.append(tx.modes)
            raise AssertionError(f"refused writing modes {tx.modes:#x}")
        return linux._clockAdjtime(tx)


class TimexLayoutTests(SynchronousTestCase):
    """
    L{Timex} matches the kernel's C{struct timex}.
    """

    def setUp(self) -> None:
        if not _LP64_X86:
            raise self.skipTest("the layout checked is x86_64's")

    def test_size(self) -> None:
        """
        C{struct timex} is 208 bytes on x86_64.
        """
        self.assertEqual(ctypes.sizeof(Timex), 208)

    def test_offsets(self) -> None:
        """
        The fields sit at the kernel's offsets.
        """
        expected = {
            "modes": 0,
            "offset": 8,
            "freq": 16,
            "maxerror": 24,
            "esterror": 32,
            "status": 40,
            "constant": 48,
            "precision": 56,
            "tolerance": 64,
            "time": 72,
            "tick": 88,
            "ppsfreq": 96,
            "jitter": 104,
            "shift": 112,
            "stabil": 120,
            "jitcnt": 128,
            "calcnt": 136,
            "errcnt": 144,
            "stbcnt": 152,
            "tai": 160,
        }
        actual = {name: getattr(Timex, name).offset for name in expected}
        self.assertEqual(actual, expected)


class RealKernelReadTests(SynchronousTestCase):
    """
    Read-only use of the real kernel clock.
    """

    def setUp(self) -> None:
        if not _ON_LINUX:
            raise self.skipTest("needs Linux")

    def test_interface(self) -> None:
        """
        L{LinuxClock} provides L{IClockDriver}, and says it adjusts a real
        clock.
        """
        clock = LinuxClock()
        self.assertTrue(verifyObject(IClockDriver, clock))
        self.assertEqual(clock.name, "linux")
        self.assertIs(clock.canAdjust, True)
        self.assertIs(clock.kernelTimescale, True)

    def test_now(self) -> None:
        """
        L{LinuxClock.now} is an C{int} of nanoseconds within a second of
        C{time.time_ns()}.
        """
        reading = LinuxClock().now()
        self.assertIsInstance(reading, int)
        self.assertLess(abs(reading - time.time_ns()), 1_000_000_000)

    def test_precision(self) -> None:
        """
        The measured precision is in [-30, -1] and is measured once.
        """
        clock = LinuxClock(adjtime=FakeAdjtime())
        precision = clock.precision()
        self.assertGreaterEqual(precision, -30)
        self.assertLessEqual(precision, -1)
        self.assertEqual(clock.precision(), precision)

    def test_statusReadsOnlyThroughReadOnlyModes(self) -> None:
        """
        L{LinuxClock.status} calls the real syscall, only with modes C{0} and
        C{ADJ_OFFSET_SS_READ}, and reports a plausible state: a frequency
        within +-500 ppm, errors and offset that are finite.
        """
        guard = GuardedRealAdjtime()
        status = LinuxClock(adjtime=guard).status()
        self.assertEqual(guard.refused, [])
        self.assertEqual(sorted(guard.modes), [0, ADJ_OFFSET_SS_READ])
        self.assertIsInstance(status, ClockStatus)
        self.assertLessEqual(abs(status.freqPPM), 500.0)
        for value in (status.offset, status.maxError, status.estError):
            self.assertTrue(math.isfinite(value))
        self.assertIn(status.leap, (0, 1, 2))

    def test_defaultSyscallRaisesOSError(self) -> None:
        """
        The libc wrapper raises L{OSError} with the kernel's errno when the
        call fails (here a nonexistent clock id, read-only modes).
        """
        error = self.assertRaises(OSError, linux._clockAdjtime, Timex(), 1000)
        self.assertEqual(error.errno, errno.EINVAL)

    def test_guardRefusesWrites(self) -> None:
        """
        The guard used above really refuses a writing mode, before the
        kernel sees it.
        """
        guard = GuardedRealAdjtime()
        tx = Timex()
        tx.modes = ADJ_FREQUENCY
        self.assertRaises(AssertionError, guard, tx)
        self.assertEqual(guard.refused, [ADJ_FREQUENCY])


class StatusTests(SynchronousTestCase):
    """
    L{LinuxClock.status} turns kernel units into L{ClockStatus} units.
    """

    def test_units(self) -> None:
        """
        C{freq} is ppm * 65536, errors are microseconds, a nanosecond PLL
        offset and the microsecond C{adjtime} offset add up.
        """
        fake = FakeAdjtime(
            offset=250_000,
            adjtimeOffsetUs=-1_000,
            freq=-12 * 65536 - 32768,
            maxerror=16_000_000,
            esterror=1_500,
            status=STA_NANO | STA_PLL,
        )
        status = LinuxClock(adjtime=fake).status()
        self.assertEqual(status.freqPPM, -12.5)
        self.assertAlmostEqual(status.offset, 250e-6 - 1e-3, places=12)
        self.assertAlmostEqual(status.maxError, 16.0)
        self.assertAlmostEqual(status.estError, 1.5e-3)
        self.assertEqual(status.statusFlags, STA_NANO | STA_PLL)
        self.assertTrue(status.synchronized)
        self.assertEqual(status.leap, 0)
        self.assertEqual(fake.writes, [])

    def test_microsecondOffset(self) -> None:
        """
        Without C{STA_NANO} the PLL offset is in microseconds.
        """
        fake = FakeAdjtime(offset=-300, status=0)
        self.assertAlmostEqual(
            LinuxClock(adjtime=fake).status().offset, -300e-6, places=12
        )

    def test_oldKernelNegativeMicrosecondOffset(self) -> None:
        """
        Kernels before the 2024 fix returned a negative microsecond PLL
        offset through a C{(u32)} cast; it is read back as negative.
        """
        trueNs = -300_000
        garbage = ((trueNs + 2**32) % 2**32) // 1000
        fake = FakeAdjtime(offset=garbage, status=0)
        offset = LinuxClock(adjtime=fake).status().offset
        self.assertTrue(-301e-6 <= offset <= -299e-6, offset)

    def test_unsynchronized(self) -> None:
        """
        C{STA_UNSYNC} or the C{TIME_ERROR} state means not synchronized.
        """
        unsync = FakeAdjtime(status=STA_UNSYNC)
        self.assertFalse(LinuxClock(adjtime=unsync).status().synchronized)
        error = FakeAdjtime(state=TIME_ERROR)
        self.assertFalse(LinuxClock(adjtime=error).status().synchronized)

    def test_leap(self) -> None:
        """
        C{STA_INS} reads as leap 1, C{STA_DEL} as leap 2.
        """
        self.assertEqual(
            LinuxClock(adjtime=FakeAdjtime(status=STA_INS)).status().leap, 1
        )
        self.assertEqual(
            LinuxClock(adjtime=FakeAdjtime(status=STA_DEL)).status().leap, 2
        )


class SlewTests(SynchronousTestCase):
    """
    L{LinuxClock.slew} with a fake syscall.
    """

    def test_singleShot(self) -> None:
        """
        A slew is exactly C{ADJ_OFFSET_SINGLESHOT} (never with C{ADJ_NANO},
        which would make it a read) with the offset in microseconds.
        """
        fake = FakeAdjtime()
        LinuxClock(adjtime=fake).slew(0.0125)
        self.assertEqual(len(fake.calls), 1)
        self.assertEqual(fake.writes[0]["modes"], ADJ_OFFSET_SINGLESHOT)
        self.assertEqual(fake.writes[0]["offset"], 12_500)

    def test_negativeAndRounded(self) -> None:
        """
        Negative offsets stay negative and are rounded to the microsecond.
        """
        fake = FakeAdjtime()
        LinuxClock(adjtime=fake).slew(-0.0000016)
        self.assertEqual(fake.writes[0]["offset"], -2)

    def test_tooLarge(self) -> None:
        """
        A slew beyond 2145 s, or one that is not finite, raises
        L{ValueError} and nothing is written.
        """
        fake = FakeAdjtime()
        clock = LinuxClock(adjtime=fake)
        self.assertRaises(ValueError, clock.slew, 2146.0)
        self.assertRaises(ValueError, clock.slew, -2146.0)
        self.assertRaises(ValueError, clock.slew, math.nan)
        self.assertRaises(ValueError, clock.slew, math.inf)
        self.assertEqual(fake.calls, [])
        clock.slew(-2145.0)
        self.assertEqual(fake.writes[0]["offset"], -2_145_000_000)


class StepTests(SynchronousTestCase):
    """
    L{LinuxClock.step} with a fake syscall.
    """

    def step(self, offset: float) -> dict[str, Any]:
        fake = FakeAdjtime()
        LinuxClock(adjtime=fake).step(offset)
        self.assertEqual(len(fake.calls), 1)
        self.assertEqual(fake.writes[0]["modes"], ADJ_SETOFFSET | ADJ_NANO)
        return fake.writes[0]

    def test_positive(self) -> None:
        """
        1.5 s is C{tv_sec = 1}, C{tv_usec = 500000000} nanoseconds.
        """
        written = self.step(1.5)
        self.assertEqual((written["tv_sec"], written["tv_usec"]), (1, 500_000_000))

    def test_negativeNormalized(self) -> None:
        """
        -0.25 s is C{tv_sec = -1}, C{tv_usec = 750000000}: the nanosecond
        field is always in [0, 1e9).
        """
        written = self.step(-0.25)
        self.assertEqual((written["tv_sec"], written["tv_usec"]), (-1, 750_000_000))

    def test_negativeWholeSeconds(self) -> None:
        """
        -2 s is C{tv_sec = -2}, C{tv_usec = 0}.
        """
        written = self.step(-2.0)
        self.assertEqual((written["tv_sec"], written["tv_usec"]), (-2, 0))

    def test_oneNanosecondBack(self) -> None:
        """
        -1 ns is C{tv_sec = -1}, C{tv_usec = 999999999}.
        """
        written = self.step(-1e-9)
        self.assertEqual((written["tv_sec"], written["tv_usec"]), (-1, 999_999_999))

    def test_large(self) -> None:
        """
        A step of -3600.25 s is C{tv_sec = -3601}, C{tv_usec = 750000000}.
        """
        written = self.step(-3600.25)
        self.assertEqual(
            (written["tv_sec"], written["tv_usec"]), (-3601, 750_000_000)
        )

    def test_notFinite(self) -> None:
        """
        A NaN step raises L{ValueError} and nothing is written.
        """
        fake = FakeAdjtime()
        self.assertRaises(ValueError, LinuxClock(adjtime=fake).step, math.nan)
        self.assertEqual(fake.calls, [])


class FrequencyTests(SynchronousTestCase):
    """
    L{LinuxClock.setFrequency} with a fake syscall.
    """

    def setFrequency(self, freqPPM: float) -> dict[str, Any]:
        fake = FakeAdjtime()
        LinuxClock(adjtime=fake).setFrequency(freqPPM)
        self.assertEqual(len(fake.calls), 1)
        self.assertEqual(fake.writes[0]["modes"], ADJ_FREQUENCY)
        return fake.writes[0]

    def test_scaled(self) -> None:
        """
        The frequency is written as ppm * 65536, rounded.
        """
        self.assertEqual(self.setFrequency(12.5)["freq"], 819_200)
        self.assertEqual(self.setFrequency(-0.00001)["freq"], -1)

    def test_clamped(self) -> None:
        """
        Corrections beyond +-500 ppm are clamped to it.
        """
        self.assertEqual(self.setFrequency(600.0)["freq"], 500 * 65536)
        self.assertEqual(self.setFrequency(-1e9)["freq"], -500 * 65536)

    def test_notFinite(self) -> None:
        """
        A NaN frequency raises L{ValueError} and nothing is written.
        """
        fake = FakeAdjtime()
        clock = LinuxClock(adjtime=fake)
        self.assertRaises(ValueError, clock.setFrequency, math.nan)
        self.assertEqual(fake.calls, [])


class LeapTests(SynchronousTestCase):
    """
    L{LinuxClock.setLeap} with a fake syscall.
    """

    def setLeap(self, leap: int, status: int) -> FakeAdjtime:
        fake = FakeAdjtime(status=status)
        LinuxClock(adjtime=fake).setLeap(leap)
        self.assertEqual([call["modes"] for call in fake.calls], [0, ADJ_STATUS])
        return fake

    def test_insertKeepsOtherBits(self) -> None:
        """
        Leap 1 reads the status, sets C{STA_INS}, keeps the writable bits
        (C{STA_PLL}, C{STA_UNSYNC}) and drops the read-only ones.
        """
        fake = self.setLeap(1, STA_PLL | STA_UNSYNC | STA_NANO | STA_PPSSIGNAL)
        self.assertEqual(fake.writes[0]["status"], STA_PLL | STA_UNSYNC | STA_INS)

    def test_deleteReplacesInsert(self) -> None:
        """
        Leap 2 sets C{STA_DEL} and clears C{STA_INS}.
        """
        fake = self.setLeap(2, STA_PLL | STA_INS)
        self.assertEqual(fake.writes[0]["status"], STA_PLL | STA_DEL)

    def test_disarm(self) -> None:
        """
        Leap 0 and leap 3 both clear C{STA_INS} and C{STA_DEL}.
        """
        for leap in (0, 3):
            fake = self.setLeap(leap, STA_PLL | STA_INS | STA_DEL)
            self.assertEqual(fake.writes[0]["status"], STA_PLL)

    def test_invalid(self) -> None:
        """
        A leap indicator outside 0-3 raises L{ValueError} before any call.
        """
        fake = FakeAdjtime()
        self.assertRaises(ValueError, LinuxClock(adjtime=fake).setLeap, 4)
        self.assertEqual(fake.calls, [])


class PermissionTests(SynchronousTestCase):
    """
    Write errors from the kernel.
    """

    def test_eperm(self) -> None:
        """
        C{EPERM} on any write becomes L{ClockPermissionError}, an L{OSError}
        with errno C{EPERM} whose message names C{CAP_SYS_TIME} and
        C{--no-clock-adjust}.
        """
        fake = FakeAdjtime()
        fake.error = PermissionError(errno.EPERM, "Operation not permitted")
        clock = LinuxClock(adjtime=fake)
        for call in (
            lambda: clock.slew(0.001),
            lambda: clock.step(1.0),
            lambda: clock.setFrequency(1.0),
            lambda: clock.setLeap(1),
        ):
            error = self.assertRaises(ClockPermissionError, call)
            self.assertIsInstance(error, OSError)
            self.assertEqual(error.errno, errno.EPERM)
            self.assertIn("CAP_SYS_TIME", str(error))
            self.assertIn("--no-clock-adjust", str(error))

    def test_otherErrors(self) -> None:
        """
        Other errors pass through as they are.
        """
        fake = FakeAdjtime()
        fake.error = OSError(errno.EINVAL, "Invalid argument")
        error = self.assertRaises(OSError, LinuxClock(adjtime=fake).step, 1.0)
        self.assertNotIsInstance(error, ClockPermissionError)
        self.assertEqual(error.errno, errno.EINVAL)

    def test_readRefusesWritingModes(self) -> None:
        """
        The internal read path refuses a mode that could write.
        """
        fake = FakeAdjtime()
        clock = LinuxClock(adjtime=fake)
        self.assertRaises(ValueError, clock._read, ADJ_FREQUENCY)
        self.assertEqual(fake.calls, [])
