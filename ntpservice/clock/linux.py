# -*- test-case-name: tests.clock.test_linux -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The Linux kernel clock (C{CLOCK_REALTIME}) as an IClockDriver, through
C{clock_adjtime(2)} called with ctypes.

Reading is unprivileged: L{LinuxClock.status} passes only the read-only
modes in L{READ_ONLY_MODES}. Every correction is a write and needs
C{CAP_SYS_TIME}; without it the kernel answers C{EPERM} and the driver
raises L{ClockPermissionError}.

How each correction is carried out:
  - L{LinuxClock.slew}: C{ADJ_OFFSET_SINGLESHOT}, the C{adjtime(3)}
    mechanism. The kernel amortizes the offset at 500 ppm (500 microseconds
    per second), independently of its PLL; the offset is in microseconds,
    and a new slew replaces whatever remains of the previous one. This is
    the simple, honest choice until user-space discipline arrives: it never
    overshoots and needs no PLL state. Slews beyond
    L{ntpservice.clock.MAX_SLEW_SECONDS} are refused.
  - L{LinuxClock.step}: C{ADJ_SETOFFSET | ADJ_NANO}, the kernel adds the
    offset to the clock atomically (no read-modify-write race).
  - L{LinuxClock.setFrequency}: C{ADJ_FREQUENCY}, in units of 2**-16 ppm.
  - L{LinuxClock.setLeap}: C{STA_INS}/C{STA_DEL} through C{ADJ_STATUS},
    read-modify-write so the other status bits are kept.
  - L{LinuxClock.setSynchronized}: the kernel's view of the daemon's
    synchronization, as chronyd keeps it: C{STA_UNSYNC} cleared while
    synchronized (so the kernel's 11-minute RTC update runs and tools that
    read adjtimex see a synchronized clock) and set when not, C{maxerror}
    and C{esterror} current, and a C{STA_PLL} left by another daemon
    cleared (the kernel PLL would otherwise go on correcting the clock
    behind this daemon's back).

Side effect worth knowing: C{ADJ_NANO} (used by L{LinuxClock.step}) sets the
kernel's C{STA_NANO}, switching the PLL offset reported to every program to
nanoseconds, as ntpd does.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Callable

from zope.interface import implementer

from ntpservice.clock import (
    LEAP_DELETE,
    LEAP_INSERT,
    LEAP_NONE,
    ClockPermissionError,
    ClockStatus,
    checkFinite,
    checkLeap,
    checkSlew,
    clampFrequency,
    measurePrecision,
    realtimeNs,
)
from ntpservice.interfaces import IClockDriver

__all__ = ["LinuxClock", "Timex", "Timeval", "ClockPermissionError"]

CLOCK_REALTIME = 0

# Mode bits of struct timex (linux/timex.h).
ADJ_OFFSET = 0x0001
ADJ_FREQUENCY = 0x0002
ADJ_MAXERROR = 0x0004
ADJ_ESTERROR = 0x0008
ADJ_STATUS = 0x0010
ADJ_TIMECONST = 0x0020
ADJ_TAI = 0x0080
ADJ_SETOFFSET = 0x0100
ADJ_MICRO = 0x1000
ADJ_NANO = 0x2000
ADJ_TICK = 0x4000
ADJ_OFFSET_SINGLESHOT = 0x8001
ADJ_OFFSET_SS_READ = 0xA001

MAX_ERROR_LIMIT = 16.0
"""Seconds: the kernel's C{NTP_PHASE_LIMIT}, the largest C{maxerror}."""

READ_ONLY_MODES = frozenset({0, ADJ_OFFSET_SS_READ})
"""
The only C{modes} values L{LinuxClock} passes when it reads: C{0} (the NTP
state, with the PLL's remaining offset) and C{ADJ_OFFSET_SS_READ} (the
C{adjtime} slew still to do). The kernel changes nothing and checks no
capability for either.
"""

# Status bits (linux/timex.h).
STA_PLL = 0x0001
STA_PPSFREQ = 0x0002
STA_PPSTIME = 0x0004
STA_FLL = 0x0008
STA_INS = 0x0010
STA_DEL = 0x0020
STA_UNSYNC = 0x0040
STA_FREQHOLD = 0x0080
STA_PPSSIGNAL = 0x0100
STA_PPSJITTER = 0x0200
STA_PPSWANDER = 0x0400
STA_PPSERROR = 0x0800
STA_CLOCKERR = 0x1000
STA_NANO = 0x2000
STA_MODE = 0x4000
STA_CLK = 0x8000
STA_RONLY = (
    STA_PPSSIGNAL
    | STA_PPSJITTER
    | STA_PPSWANDER
    | STA_PPSERROR
    | STA_CLOCKERR
    | STA_NANO
    | STA_MODE
    | STA_CLK
)

# Clock states returned by clock_adjtime.
TIME_OK = 0
TIME_INS = 1
TIME_DEL = 2
TIME_OOP = 3
TIME_WAIT = 4
TIME_ERROR = 5

FREQUENCY_SCALE = 65536
"""C{struct timex} C{freq} units per ppm (the kernel's 16-bit fraction)."""

_NS_PER_SECOND = 1_000_000_000
_U32_BUG_THRESHOLD_US = 2**31 // 1000
_U32_BUG_CORRECTION_US = 2**32 / 1000


class Timeval(ctypes.Structure):
    """
    C{struct timeval} inside C{struct timex}: with C{ADJ_NANO}, C{tv_usec}
    holds nanoseconds.
    """

    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class Timex(ctypes.Structure):
    """
    C{struct timex} of C{<sys/timex.h>}, the argument of C{clock_adjtime(2)}.

    The fields use the native C{long}, which gives the kernel layout on LP64
    platforms (x86_64, aarch64: 208 bytes, modes@0, offset@8, freq@16,
    maxerror@24, esterror@32, status@40, constant@48, precision@56,
    tolerance@64, time@72, tick@88, tai@160) and the legacy layout of the
    plain C{clock_adjtime} symbol on 32-bit ones.
    """

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


AdjtimeFunction = Callable[[Timex], int]
"""
The syscall L{LinuxClock} uses: fills or applies a L{Timex} in place and
returns the clock state (C{TIME_OK} ...), raising L{OSError} on failure.
"""

_libcClockAdjtimeFunction: Callable[..., int] | None = None


def _clockAdjtime(tx: Timex, clockID: int = CLOCK_REALTIME) -> int:
    """
    Call libc C{clock_adjtime(clockID, &tx)}: the real syscall, and the
    default L{AdjtimeFunction} of L{LinuxClock}.

    @param tx: the L{Timex}, filled in by the kernel on return.
    @param clockID: the POSIX clock; L{LinuxClock} only uses
        C{CLOCK_REALTIME}.
    @return: the clock state, C{TIME_OK} to C{TIME_ERROR}.
    @raise OSError: with the kernel's C{errno} when the call fails.
    """
    global _libcClockAdjtimeFunction
    if _libcClockAdjtimeFunction is None:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.clock_adjtime
        function.argtypes = [ctypes.c_int, ctypes.POINTER(Timex)]
        function.restype = ctypes.c_int
        _libcClockAdjtimeFunction = function
    result = _libcClockAdjtimeFunction(clockID, ctypes.byref(tx))
    if result == -1:
        code = ctypes.get_errno()
        raise OSError(code, f"clock_adjtime: {os.strerror(code)}")
    return int(result)


@implementer(IClockDriver)
class LinuxClock:
    """
    The kernel's C{CLOCK_REALTIME}, read with C{clock_gettime} and corrected
    with C{clock_adjtime}. See the module docstring for how each correction
    is made.

    @ivar name: C{'linux'}.
    @ivar canAdjust: C{True}.
    @ivar kernelTimescale: C{True}: L{now} reads C{CLOCK_REALTIME}.
    """

    name = "linux"
    canAdjust = True
    kernelTimescale = True

    def __init__(self, adjtime: AdjtimeFunction | None = None) -> None:
        """
        @param adjtime: the syscall, a callable taking a L{Timex} (changed in
            place as the kernel does) and returning the clock state; by
            default libc C{clock_adjtime(CLOCK_REALTIME, &tx)}. Tests pass a
            fake so that no write ever reaches the kernel.
        """
        self._adjtime: AdjtimeFunction = (
            adjtime if adjtime is not None else _clockAdjtime
        )
        self._precision: int | None = None

    def now(self) -> int:
        """
        Read C{CLOCK_REALTIME}.

        @return: nanoseconds since the Unix epoch.
        """
        return realtimeNs()

    def precision(self) -> int:
        """
        The precision of L{now}, measured at the first call and cached.

        @return: log2 seconds, in [-30, -1].
        """
        if self._precision is None:
            self._precision = measurePrecision(realtimeNs)
        return self._precision

    def status(self) -> ClockStatus:
        """
        Read the kernel's NTP state. Two read-only calls: C{modes} C{0} for
        the NTP variables and the PLL's remaining offset, and
        C{ADJ_OFFSET_SS_READ} for the remaining C{adjtime} slew (where
        L{slew} puts its corrections); L{ClockStatus.offset} is their sum.

        @return: a L{ClockStatus}.
        @raise OSError: if the kernel refuses the read.
        """
        tx, state = self._read(0)
        adjtimeTx, _ = self._read(ADJ_OFFSET_SS_READ)
        if tx.status & STA_NANO:
            pllOffset = tx.offset * 1e-9
        else:
            offsetUs = float(tx.offset)
            if offsetUs > _U32_BUG_THRESHOLD_US:
                # Kernels before the 2024 fix reported a negative PLL offset
                # in microseconds through a (u32) cast; |offset| <= 0.5 s,
                # so such values can only come from that cast.
                offsetUs -= _U32_BUG_CORRECTION_US
            pllOffset = offsetUs * 1e-6
        if tx.status & STA_INS:
            leap = LEAP_INSERT
        elif tx.status & STA_DEL:
            leap = LEAP_DELETE
        else:
            leap = LEAP_NONE
        return ClockStatus(
            freqPPM=tx.freq / FREQUENCY_SCALE,
            offset=pllOffset + adjtimeTx.offset * 1e-6,
            maxError=tx.maxerror * 1e-6,
            estError=tx.esterror * 1e-6,
            statusFlags=int(tx.status),
            synchronized=state != TIME_ERROR and not tx.status & STA_UNSYNC,
            precision=self.precision(),
            leap=leap,
        )

    def slew(self, offset: float) -> None:
        """
        Amortize C{offset} at 500 ppm with C{ADJ_OFFSET_SINGLESHOT}
        (C{adjtime(3)}), rounded to the microsecond. Replaces any slew still
        in progress.

        @param offset: seconds, positive to move the clock forward; at most
            L{ntpservice.clock.MAX_SLEW_SECONDS} in magnitude.
        @raise ValueError: if C{offset} is not finite or too large.
        @raise ClockPermissionError: without C{CAP_SYS_TIME}.
        """
        offset = checkSlew(offset)
        tx = Timex()
        # ADJ_NANO must never be added: in single-shot mode that bit means
        # ADJ_OFFSET_READONLY and would turn the slew into a read.
        tx.modes = ADJ_OFFSET_SINGLESHOT
        tx.offset = round(offset * 1e6)
        self._write(tx, "slew")

    def step(self, offset: float) -> None:
        """
        Add C{offset} to the clock at once with C{ADJ_SETOFFSET | ADJ_NANO}.

        The offset travels as a C{timeval} whose C{tv_usec} holds
        nanoseconds; the kernel wants it normalized with C{tv_usec} in
        [0, 1e9), so a negative offset has a negative C{tv_sec}: -0.25 s is
        C{tv_sec = -1, tv_usec = 750000000}.

        @param offset: seconds, positive to move the clock forward.
        @raise ValueError: if C{offset} is not finite.
        @raise ClockPermissionError: without C{CAP_SYS_TIME}.
        """
        offset = checkFinite("offset", offset)
        seconds, nanoseconds = divmod(round(offset * 1e9), _NS_PER_SECOND)
        tx = Timex()
        tx.modes = ADJ_SETOFFSET | ADJ_NANO
        tx.time.tv_sec = seconds
        tx.time.tv_usec = nanoseconds
        self._write(tx, "step")

    def setFrequency(self, freqPPM: float) -> None:
        """
        Set the kernel's frequency correction with C{ADJ_FREQUENCY}.

        @param freqPPM: parts per million, positive to run faster; clamped to
            +-500 ppm; applied in units of 2**-16 ppm.
        @raise ValueError: if C{freqPPM} is not finite.
        @raise ClockPermissionError: without C{CAP_SYS_TIME}.
        """
        freqPPM = clampFrequency(freqPPM)
        tx = Timex()
        tx.modes = ADJ_FREQUENCY
        tx.freq = round(freqPPM * FREQUENCY_SCALE)
        self._write(tx, "set the frequency of")

    def setLeap(self, leap: int) -> None:
        """
        Arm (C{STA_INS}, C{STA_DEL}) or disarm a leap second at the end of
        the UTC day: read the status bits, change those two, write them back
        with C{ADJ_STATUS}. The read-only bits are not written back.

        @param leap: RFC 5905 leap indicator; C{3} disarms like C{0}.
        @raise ValueError: if C{leap} is not 0 to 3.
        @raise ClockPermissionError: without C{CAP_SYS_TIME}.
        """
        leap = checkLeap(leap)
        current, _ = self._read(0)
        statusBits = current.status & ~(STA_INS | STA_DEL | STA_RONLY)
        if leap == LEAP_INSERT:
            statusBits |= STA_INS
        elif leap == LEAP_DELETE:
            statusBits |= STA_DEL
        tx = Timex()
        tx.modes = ADJ_STATUS
        tx.status = statusBits
        self._write(tx, "arm a leap second on")

    def setSynchronized(
        self, synchronized: bool, maxError: float = 16.0, estError: float = 16.0
    ) -> None:
        """
        Tell the kernel whether the clock is synchronized, with
        C{ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR}: C{STA_UNSYNC} cleared
        (set when not synchronized), C{STA_PLL} cleared, the other writable
        status bits kept (an armed leap second among them).

        @param maxError: seconds, the maximum error (the root distance);
            the kernel adds 500 ppm to it every second until the next
            call. At most 16 s (the kernel's C{NTP_PHASE_LIMIT}).
        @param estError: seconds, the estimated error (the jitter).
        @raise ClockPermissionError: without C{CAP_SYS_TIME}.
        """
        maxError = min(max(checkFinite("maxError", maxError), 0.0), MAX_ERROR_LIMIT)
        estError = min(max(checkFinite("estError", estError), 0.0), MAX_ERROR_LIMIT)
        current, _ = self._read(0)
        statusBits = current.status & ~(STA_RONLY | STA_PLL | STA_UNSYNC)
        if not synchronized:
            statusBits |= STA_UNSYNC
        tx = Timex()
        tx.modes = ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR
        tx.status = statusBits
        tx.maxerror = round(maxError * 1e6)
        tx.esterror = round(estError * 1e6)
        self._write(tx, "set the synchronization status of")

    def _read(self, modes: int) -> tuple[Timex, int]:
        """
        Read the kernel state with a read-only mode.

        @param modes: one of L{READ_ONLY_MODES}.
        @return: the filled L{Timex} and the clock state.
        @raise ValueError: if C{modes} could write.
        """
        if modes not in READ_ONLY_MODES:
            raise ValueError(f"modes {modes:#x} is not read-only")
        tx = Timex()
        tx.modes = modes
        state = self._adjtime(tx)
        return tx, state

    def _write(self, tx: Timex, what: str) -> int:
        """
        Pass a writing L{Timex} to the syscall.

        @param tx: the request.
        @param what: the verb for the error message ("step").
        @return: the clock state.
        @raise ClockPermissionError: if the kernel says C{EPERM}.
        @raise OSError: on any other failure.
        """
        try:
            return self._adjtime(tx)
        except OSError as e:
            if e.errno == errno.EPERM:
                raise ClockPermissionError(
                    errno.EPERM,
                    f"cannot {what} the system clock: the daemon lacks "
                    f"CAP_SYS_TIME (run it as root or grant the capability, "
                    f"or use --no-clock-adjust to leave the clock alone)",
                ) from e
            raise
