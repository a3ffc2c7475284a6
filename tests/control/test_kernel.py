# -*- test-case-name: tests.control.test_kernel -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.control.kernel}: the kernel clock state of
C{ntpq kerninfo}, read only.
"""

from __future__ import annotations

import sys

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.clock import ClockStatus
from ntpservice.clock import linux as L
from ntpservice.clock.noadjust import NoAdjustClock
from ntpservice.clock.simulated import SimulatedClock
from ntpservice.control.kernel import (
    KERNEL_VARIABLES,
    KernelState,
    kernelValues,
    readKernelState,
    statusText,
)
from tests.helpers import FakeClock


class ReadOnlyAdjtime:
    """
    A fake C{clock_adjtime}: fills a L{L.Timex} from C{fields}, and fails
    the test on any mode that could write.
    """

    def __init__(self, **fields: int) -> None:
        self.fields = fields
        self.modes: list[int] = []

    def __call__(self, tx: L.Timex) -> int:
        self.modes.append(tx.modes)
        if tx.modes not in L.READ_ONLY_MODES:
            raise AssertionError(f"writing modes {tx.modes:#x}")
        for name, value in self.fields.items():
            setattr(tx, name, value)
        return L.TIME_OK


class GuardedKernel(L.LinuxClock):
    """The real kernel, behind a guard that refuses any writing mode."""

    def __init__(self) -> None:
        self.guard = ReadOnlyAdjtime()
        super().__init__(adjtime=self._call)

    def _call(self, tx: L.Timex) -> int:
        self.guard(tx)
        return L._clockAdjtime(tx)


class FormatTests(SynchronousTestCase):
    """
    L{kernelValues} formats as ntpd does.
    """

    def test_nanoseconds(self) -> None:
        """
        With C{STA_NANO}, the offset and PPS jitter are nanoseconds; times
        are shown in milliseconds, frequencies in ppm, the status bits by
        name; with a PPS signal (C{shift} > 0) the PPS variables are shown.
        """
        state = KernelState(
            offset=-1_500_000,
            freq=-12 * 65536 - 32768,
            maxerror=16_000,
            esterror=250,
            status=L.STA_PLL | L.STA_NANO | L.STA_PPSSIGNAL,
            constant=7,
            precision=1,
            tolerance=500 * 65536,
            ppsfreq=3 * 65536,
            jitter=2000,
            shift=4,
            stabil=65536 // 4,
            jitcnt=1,
            calcnt=2,
            errcnt=3,
            stbcnt=4,
        )
        self.assertEqual(
            kernelValues(state),
            {
                "koffset": "-1.500000",
                "kfreq": "-12.500000",
                "kmaxerr": "16.000",
                "kesterr": "0.250",
                "kstflags": '"pll ppssignal nano"',
                "ktimeconst": "7",
                "kprecis": "0.001000",
                "kfreqtol": "500",
                "kppsfreq": "3",
                "kppsstab": "0.25",
                "kppsjitter": "0.002000",
                "kppscalibdur": "16",
                "kppscalibs": "2",
                "kppsjitexc": "1",
                "kppsstbexc": "4",
                "kppscaliberrs": "3",
            },
        )
        self.assertEqual(list(kernelValues(state)), list(KERNEL_VARIABLES))

    def test_microsecondsNoPPS(self) -> None:
        """
        Without C{STA_NANO} the offset is microseconds; without a PPS
        signal every PPS variable is 0; no status bit: empty text.
        """
        values = kernelValues(KernelState(offset=250, jitter=99, calcnt=5))
        self.assertEqual(values["koffset"], "0.250000")
        self.assertEqual(values["kstflags"], '""')
        for name in KERNEL_VARIABLES:
            if name.startswith("kpps"):
                self.assertEqual(values[name], "0", name)

    def test_statusText(self) -> None:
        """
        Every status bit has ntpd's name, in ntpd's order.
        """
        self.assertEqual(
            statusText(0xFFFF),
            "pll ppsfreq ppstime fll ins del unsync freqhold ppssignal ppsjitter "
            "ppswander ppserror clockerr nano mode=fll src=B",
        )


class ReadTests(SynchronousTestCase):
    """
    L{readKernelState} reads the kernel for drivers on the kernel's
    timescale, and the driver's report otherwise.
    """

    def test_linuxDriver(self) -> None:
        """
        The Linux driver's kernel is read with the read-only mode 0.
        """
        adjtime = ReadOnlyAdjtime(offset=5, freq=65536, status=L.STA_PLL, constant=3)
        state = readKernelState(L.LinuxClock(adjtime=adjtime))
        self.assertEqual(adjtime.modes, [0])
        self.assertEqual(
            (state.offset, state.freq, state.status, state.constant), (5, 65536, L.STA_PLL, 3)
        )

    def test_noAdjustReadsKernel(self) -> None:
        """
        The no-adjust driver keeps the kernel's timescale: the kernel (the
        one given) is read, not the driver's virtual state.
        """
        adjtime = ReadOnlyAdjtime(maxerror=123)
        state = readKernelState(NoAdjustClock(), L.LinuxClock(adjtime=adjtime))
        self.assertEqual(state.maxerror, 123)

    def test_kernelUnreadable(self) -> None:
        """
        When the kernel cannot be read, the driver's report is shown.
        """

        def refuse(tx: L.Timex) -> int:
            raise OSError(1, "no")

        clock = NoAdjustClock()
        clock.setFrequency(2.0)
        state = readKernelState(clock, L.LinuxClock(adjtime=refuse))
        self.assertEqual(state.freq, 2 * 65536)

    def test_simulated(self) -> None:
        """
        A simulated clock shows its driver's status: frequency, errors and
        flags, offsets in microseconds.
        """
        clock = SimulatedClock(Clock())
        clock.setFrequency(-3.5)
        state = readKernelState(clock)
        status = clock.status()
        self.assertIsInstance(status, ClockStatus)
        self.assertEqual(state.freq, round(-3.5 * 65536))
        self.assertEqual(state.maxerror, round(status.maxError * 1e6))
        self.assertEqual(state.tolerance, 500 * 65536)
        self.assertFalse(state.status & L.STA_NANO)

    def test_noStatus(self) -> None:
        """
        A driver that reports nothing shows zeros.
        """
        self.assertEqual(readKernelState(FakeClock()), KernelState())

    def test_realKernel(self) -> None:
        """
        The real kernel is read with mode 0 only (and nothing else is ever
        passed to it), and its tolerance is the kernel's 500 ppm.
        """
        if not sys.platform.startswith("linux"):
            raise self.skipTest("needs Linux")
        kernel = GuardedKernel()
        state = readKernelState(NoAdjustClock(), kernel)
        self.assertEqual(kernel.guard.modes, [0])
        self.assertEqual(state.tolerance, 500 * 65536)
        self.assertEqual(set(kernelValues(state)), set(KERNEL_VARIABLES))
