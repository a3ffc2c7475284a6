# -*- test-case-name: tests.clock.test_drivers -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Clock drivers (IClockDriver): Linux, no-adjust and simulated.

This package holds what the three drivers share: the L{ClockStatus} they
report, the limits they enforce alike (so a test against the simulated clock
is refused exactly where the kernel would refuse), the precision measurement
and L{defaultClockDriver}, which picks the driver for the daemon.

Drivers:
  - L{ntpservice.clock.linux.LinuxClock}: the kernel clock, through
    C{clock_adjtime(2)};
  - L{ntpservice.clock.noadjust.NoAdjustClock}: reads the kernel clock,
    records corrections, applies none;
  - L{ntpservice.clock.simulated.SimulatedClock}: an oscillator with
    frequency error and wander, against a Twisted C{IReactorTime}.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from ntpservice.core.actions import checkFinite
from ntpservice.interfaces import IClockDriver

__all__ = [
    "ClockStatus",
    "ClockPermissionError",
    "defaultClockDriver",
    "measurePrecision",
    "MAX_FREQUENCY_PPM",
    "MAX_SLEW_SECONDS",
    "SLEW_RATE_PPM",
    "UNSYNCHRONIZED_MAX_ERROR",
]

MAX_FREQUENCY_PPM = 500.0
"""
The largest frequency correction any driver applies, in parts per million:
the NTP tolerance (RFC 5905 C{PHI} is 15 ppm of wander, the kernel clamps the
correction to C{MAXFREQ}, 500 ppm). Larger requests are clamped.
"""

SLEW_RATE_PPM = 500.0
"""
The rate at which a slew is amortized, in parts per million (microseconds
per second): Linux C{adjtime(3)} semantics (the kernel's C{MAX_TICKADJ}).
"""

MAX_SLEW_SECONDS = 2145.0
"""
The largest slew, in seconds, that a driver accepts; larger ones raise
C{ValueError}. It is the bound glibc's C{adjtime(3)} enforces
(C{INT_MAX / 1000000 - 2}); at L{SLEW_RATE_PPM} it takes about 50 days.
"""

UNSYNCHRONIZED_MAX_ERROR = 16.0
"""
The maximum and estimated error, in seconds, that a driver without a kernel
behind it reports: the kernel's value for an unsynchronized clock
(C{NTP_PHASE_LIMIT}), and RFC 5905 C{MAXDISP}.
"""

PRECISION_MIN = -30
"""The smallest precision, log2 seconds, that L{measurePrecision} reports."""

PRECISION_MAX = -1
"""The largest precision, log2 seconds, that L{measurePrecision} reports."""

LEAP_NONE = 0
LEAP_INSERT = 1
LEAP_DELETE = 2
LEAP_UNSYNCHRONIZED = 3


@dataclass(frozen=True)
class ClockStatus:
    """
    What a clock driver knows of its clock's state, as returned by
    L{ntpservice.interfaces.IClockDriver.status}.

    @ivar freqPPM: the frequency correction in force, parts per million;
        positive makes the clock run faster.
    @ivar offset: seconds of slew the clock still has to amortize (the
        kernel's remaining offset); positive moves the clock forward.
    @ivar maxError: the kernel's maximum error, seconds.
    @ivar estError: the kernel's estimated error, seconds.
    @ivar statusFlags: the kernel's C{STA_*} status bits; C{0} for drivers
        that have no kernel behind them.
    @ivar synchronized: whether the clock counts as synchronized (for the
        kernel: not C{STA_UNSYNC} and not in C{TIME_ERROR}).
    @ivar precision: the precision of readings, log2 seconds (RFC 5905
        C{precision}).
    @ivar leap: the leap second armed for the end of the current UTC day, as
        an RFC 5905 leap indicator: C{0} none, C{1} insert, C{2} delete.
    """

    freqPPM: float
    offset: float
    maxError: float
    estError: float
    statusFlags: int
    synchronized: bool
    precision: int
    leap: int


class ClockPermissionError(PermissionError):
    """
    The daemon may not adjust the system clock: the kernel refused a write
    with C{EPERM}, because the process lacks C{CAP_SYS_TIME}.

    A L{PermissionError}, hence an L{OSError} with C{errno} C{EPERM}.
    """


def checkSlew(offset: float) -> float:
    """
    Validate a slew as every driver does.

    @param offset: seconds to slew.
    @return: C{offset} as a C{float}.
    @raise ValueError: if C{offset} is not finite or exceeds
        L{MAX_SLEW_SECONDS} in magnitude.
    """
    offset = checkFinite("offset", offset)
    if abs(offset) > MAX_SLEW_SECONDS:
        raise ValueError(
            f"cannot slew {offset!r} s: the limit is +-{MAX_SLEW_SECONDS} s "
            f"(amortized at {SLEW_RATE_PPM} ppm); step the clock instead"
        )
    return offset


def clampFrequency(freqPPM: float) -> float:
    """
    Clamp a frequency correction to +-L{MAX_FREQUENCY_PPM}, as the kernel
    does.

    @param freqPPM: parts per million.
    @return: the clamped value, parts per million.
    @raise ValueError: if C{freqPPM} is not finite.
    """
    freqPPM = checkFinite("freqPPM", freqPPM)
    return max(-MAX_FREQUENCY_PPM, min(MAX_FREQUENCY_PPM, freqPPM))


def checkLeap(leap: int) -> int:
    """
    Validate a leap indicator and fold C{3} (unsynchronized) into C{0}.

    @param leap: an RFC 5905 leap indicator, C{0} to C{3}.
    @return: the leap to arm: C{0}, C{1} or C{2}.
    @raise ValueError: if C{leap} is not C{0} to C{3}.
    """
    if leap not in (LEAP_NONE, LEAP_INSERT, LEAP_DELETE, LEAP_UNSYNCHRONIZED):
        raise ValueError(f"leap must be 0, 1, 2 or 3, not {leap!r}")
    return LEAP_NONE if leap == LEAP_UNSYNCHRONIZED else int(leap)


def realtimeNs() -> int:
    """
    Read the kernel's C{CLOCK_REALTIME}.

    @return: nanoseconds since the Unix epoch.
    """
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


def measurePrecision(
    read: Callable[[], int] = realtimeNs,
    resolutionNs: int | None = None,
    maxReads: int = 20000,
    wantedDifferences: int = 100,
) -> int:
    """
    Measure the precision of a clock the way ntpd's default precision
    measurement does: the smallest nonzero difference between successive
    readings, which is the larger of the clock's resolution and the cost of
    reading it.

    Reads the clock until C{wantedDifferences} nonzero differences have been
    seen or C{maxReads} reads made (a few microseconds on a nanosecond clock,
    about a millisecond on a coarse one). The result is the larger of that
    minimum and C{resolutionNs}, rounded to the nearest power of two and
    clamped to [L{PRECISION_MIN}, L{PRECISION_MAX}].

    @param read: returns the clock's reading in nanoseconds.
    @param resolutionNs: the clock's resolution in nanoseconds; by default
        C{clock_getres(CLOCK_REALTIME)}.
    @param maxReads: the most readings taken.
    @param wantedDifferences: stop after this many nonzero differences.
    @return: the precision, log2 seconds (C{-20} is about a microsecond).
    @see: RFC 5905 section 7.3 (C{precision})
    """
    if resolutionNs is None:
        resolutionNs = max(1, round(time.clock_getres(time.CLOCK_REALTIME) * 1e9))
    smallest: int | None = None
    seen = 0
    previous = read()
    for _ in range(maxReads):
        current = read()
        difference = current - previous
        previous = current
        if difference > 0:
            seen += 1
            if smallest is None or difference < smallest:
                smallest = difference
            if seen >= wantedDifferences:
                break
    precisionNs = max(resolutionNs, smallest or 0, 1)
    return precisionLog2(precisionNs * 1e-9)


def precisionLog2(seconds: float) -> int:
    """
    Round a duration to the nearest power of two, clamped to
    [L{PRECISION_MIN}, L{PRECISION_MAX}].

    @param seconds: a positive duration in seconds.
    @return: its log2, an C{int}.
    """
    exponent = math.floor(math.log2(seconds))
    if seconds - 2.0**exponent > 2.0 ** (exponent + 1) - seconds:
        exponent += 1
    return max(PRECISION_MIN, min(PRECISION_MAX, exponent))


def defaultClockDriver(adjust: bool) -> IClockDriver:
    """
    The clock driver for the daemon.

    @param adjust: whether the daemon is to discipline the system clock
        (C{False} with C{--no-clock-adjust} or C{disable ntp}).
    @return: a L{ntpservice.clock.linux.LinuxClock} if C{adjust}, else a
        L{ntpservice.clock.noadjust.NoAdjustClock}; both provide
        L{ntpservice.interfaces.IClockDriver}.
    """
    if adjust:
        from ntpservice.clock.linux import LinuxClock

        return LinuxClock()
    from ntpservice.clock.noadjust import NoAdjustClock

    return NoAdjustClock()
