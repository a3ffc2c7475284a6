# -*- test-case-name: tests.control.test_kernel -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The kernel clock's state as C{ntpq kerninfo} shows it: C{koffset},
C{kfreq}, C{kmaxerr}, C{kesterr}, C{kstflags}, C{ktimeconst}, C{kprecis},
C{kfreqtol} and the PPS variables, in ntpd's units (milliseconds, parts
per million) and formats.

The kernel is only read (C{clock_adjtime} with C{modes} 0, through
L{ntpservice.clock.linux.LinuxClock}'s read-only path). A clock driver
that keeps the kernel's timescale (the Linux driver, the no-adjust driver)
shows the kernel's values, whoever disciplines it; a simulated clock shows
what its driver reports (L{IClockDriver.status}); a driver that reports
nothing shows zeros.

@see: NTPsec's C{ntpd/ntp_control.c} (the C{k*} system variables) and
    C{libntp/statestr.c} (C{k_st_flags}).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ntpservice.clock import linux as L
from ntpservice.core import control as K

__all__ = ["KERNEL_VARIABLES", "KernelState", "kernelValues", "readKernelState"]

KERNEL_VARIABLES = (
    "koffset",
    "kfreq",
    "kmaxerr",
    "kesterr",
    "kstflags",
    "ktimeconst",
    "kprecis",
    "kfreqtol",
    "kppsfreq",
    "kppsstab",
    "kppsjitter",
    "kppscalibdur",
    "kppscalibs",
    "kppsjitexc",
    "kppsstbexc",
    "kppscaliberrs",
)
"""The kernel variables, in the order C{ntpq kerninfo} asks for them."""

STATUS_NAMES = (
    (L.STA_PLL, "pll"),
    (L.STA_PPSFREQ, "ppsfreq"),
    (L.STA_PPSTIME, "ppstime"),
    (L.STA_FLL, "fll"),
    (L.STA_INS, "ins"),
    (L.STA_DEL, "del"),
    (L.STA_UNSYNC, "unsync"),
    (L.STA_FREQHOLD, "freqhold"),
    (L.STA_PPSSIGNAL, "ppssignal"),
    (L.STA_PPSJITTER, "ppsjitter"),
    (L.STA_PPSWANDER, "ppswander"),
    (L.STA_PPSERROR, "ppserror"),
    (L.STA_CLOCKERR, "clockerr"),
    (L.STA_NANO, "nano"),
    (L.STA_MODE, "mode=fll"),
    (L.STA_CLK, "src=B"),
)
"""The kernel status bits and ntpd's names for them, in ntpd's order."""

_SCALE = L.FREQUENCY_SCALE


@dataclass(frozen=True, slots=True)
class KernelState:
    """
    The fields of C{struct timex} that C{kerninfo} shows, in the kernel's
    units.

    @ivar offset: the PLL's remaining offset: ns with C{STA_NANO}, else us.
    @ivar freq: the frequency correction, ppm * 2**16.
    @ivar maxerror: the maximum error, us.
    @ivar esterror: the estimated error, us.
    @ivar status: the C{STA_*} bits.
    @ivar constant: the PLL time constant.
    @ivar precision: the clock's precision, us.
    @ivar tolerance: the largest frequency correction, ppm * 2**16.
    @ivar ppsfreq: the PPS frequency, ppm * 2**16.
    @ivar jitter: the PPS jitter: ns with C{STA_NANO}, else us.
    @ivar shift: the PPS calibration interval, log2 s (0: no PPS).
    @ivar stabil: the PPS stability, ppm * 2**16.
    @ivar jitcnt: PPS jitter limit exceeded.
    @ivar calcnt: PPS calibration intervals.
    @ivar errcnt: PPS calibration errors.
    @ivar stbcnt: PPS stability limit exceeded.
    """

    offset: int = 0
    freq: int = 0
    maxerror: int = 0
    esterror: int = 0
    status: int = 0
    constant: int = 0
    precision: int = 0
    tolerance: int = 0
    ppsfreq: int = 0
    jitter: int = 0
    shift: int = 0
    stabil: int = 0
    jitcnt: int = 0
    calcnt: int = 0
    errcnt: int = 0
    stbcnt: int = 0

    @classmethod
    def fromTimex(cls, tx: Any) -> KernelState:
        """
        The state in a filled L{ntpservice.clock.linux.Timex}.
        """
        return cls(**{name: int(getattr(tx, name)) for name in cls.__slots__})

    @classmethod
    def fromStatus(cls, status: Any) -> KernelState:
        """
        The state a clock driver reports (an
        L{ntpservice.clock.ClockStatus}, or C{None}: zeros), with offsets
        in microseconds.
        """
        if status is None:
            return cls()
        return cls(
            offset=round(status.offset * 1e6),
            freq=round(status.freqPPM * _SCALE),
            maxerror=round(status.maxError * 1e6),
            esterror=round(status.estError * 1e6),
            status=int(status.statusFlags) & ~L.STA_NANO,
            precision=max(1, round(2.0**status.precision * 1e6)),
            tolerance=500 * _SCALE,
        )


def readKernelState(clock: Any, kernel: Any = None) -> KernelState:
    """
    Read the state C{kerninfo} shows for a clock driver: the kernel's
    (read-only) when the driver keeps the kernel's timescale, else the
    driver's own report.

    @param clock: the daemon's L{ntpservice.interfaces.IClockDriver}.
    @param kernel: the L{ntpservice.clock.linux.LinuxClock} to read the
        kernel with; by default the driver itself when it is one, else a
        new one (reading needs no privilege).
    @return: the state; the driver's report when the kernel cannot be read.
    """
    if getattr(clock, "kernelTimescale", False):
        if kernel is None:
            kernel = clock if isinstance(clock, L.LinuxClock) else L.LinuxClock()
        try:
            # LinuxClock's read-only path: it refuses any mode that writes.
            tx, _state = kernel._read(0)
        except (OSError, AttributeError, ValueError):
            pass
        else:
            return KernelState.fromTimex(tx)
    return KernelState.fromStatus(clock.status())


def statusText(status: int) -> str:
    """
    The names of the set C{STA_*} bits, space-separated, in ntpd's order
    (NTPsec's C{k_st_flags}): C{"pll nano"}.
    """
    return " ".join(name for bit, name in STATUS_NAMES if status & bit)


def kernelValues(state: KernelState) -> dict[str, str]:
    """
    The C{kerninfo} variables of C{state}, formatted: times in
    milliseconds, frequencies in ppm, C{kstflags} as text, and the PPS
    variables 0 when the kernel has no PPS signal (C{shift} 0), as ntpd
    sends them.
    """
    nano = bool(state.status & L.STA_NANO)

    def fine(value: int) -> float:
        """ns or us (per STA_NANO) to ms."""
        return value * (1e-6 if nano else 1e-3)

    def scaled(value: int) -> str:
        return f"{value / _SCALE:g}"

    pps = state.shift != 0
    return {
        "koffset": K.formatFixed(fine(state.offset), 6),
        "kfreq": K.formatFixed(state.freq / _SCALE, 6),
        "kmaxerr": K.formatFixed(state.maxerror * 1e-3, 3),
        "kesterr": K.formatFixed(state.esterror * 1e-3, 3),
        "kstflags": K.quoted(statusText(state.status)),
        "ktimeconst": str(state.constant),
        "kprecis": K.formatFixed(state.precision * 1e-3, 6),
        "kfreqtol": scaled(state.tolerance),
        "kppsfreq": scaled(state.ppsfreq) if pps else "0",
        "kppsstab": scaled(state.stabil) if pps else "0",
        "kppsjitter": K.formatFixed(fine(state.jitter), 6) if pps else "0",
        "kppscalibdur": str(1 << state.shift) if pps else "0",
        "kppscalibs": str(state.calcnt) if pps else "0",
        "kppsjitexc": str(state.jitcnt) if pps else "0",
        "kppsstbexc": str(state.stbcnt) if pps else "0",
        "kppscaliberrs": str(state.errcnt) if pps else "0",
    }
