# -*- test-case-name: tests.refclocks.test_shm -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
ntpd's shared memory driver (type 28, C{server 127.127.28.u} or NTPsec's
C{refclock shm unit u}): the segments gpsd (and other time sources) write.

    refclock shm unit 0 refid GPS prefer
    server 127.127.28.0 prefer
    fudge  127.127.28.0 refid GPS time1 0.1

Unit I{u} is the System V shared memory segment of key C{0x4e545030 + u}
("NTP0"), holding one C{struct shmTime} (ntpd's layout, with the
nanosecond fields of ntpd 4.2.8 and NTPsec). The daemon creates it when it
does not exist: units 0 and 1 readable and writable by root only, units 2
and up by everyone (mode 0666), as gpsd expects (gpsd, started as root,
writes units 0 and 1; as another user, 2 and up).

The writer's protocol (the C{mode} field it sets):

  - mode 0: the writer sets C{valid} last; the driver uses the sample when
    C{valid} is set;
  - mode 1: the writer also increments C{count} before and after writing;
    the driver reads C{count}, the sample, C{count} again, and uses the
    sample only when they are equal (a write was not in progress).

Either way the driver clears C{valid} after reading. It looks at the segment
every second and, at each poll, delivers the median of the samples read
since (ntpd's refclock_receive): offset = reference time - local receive
time, plus C{fudge time1}. A sample more than 4 hours off is refused, as
ntpd does, unless C{flag1} is set.

The segment is reached with C{shmget}/C{shmat} from the C library through
ctypes; L{Segment} is the one place that touches it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import statistics
from typing import Any, Callable

from zope.interface import implementer

from twisted.internet.task import LoopingCall
from twisted.plugin import IPlugin

from ntpservice.interfaces import IRefClock, IRefClockFactory, IRefClockSink

SHM_DRIVER_TYPE = 28
SHM_KEY = 0x4E545030
"""The key of unit 0 ("NTP0"); unit u is C{SHM_KEY + u}."""
IPC_CREAT = 0o1000
IPC_RMID = 0
PRIVATE_UNITS = 2
"""Units below this are root's only (mode 0600); the others are 0666."""
MAX_OFFSET = 4 * 3600.0
"""Seconds: samples further off are refused (ntpd's sanity limit)."""
READ_INTERVAL = 1.0
"""Seconds between looks at the segment."""
PRECISION = -20
"""log2 s: the driver's default precision (the writer's field wins)."""


class ShmTime(ctypes.Structure):
    """ntpd's C{struct shmTime}, in the platform's C layout."""

    _fields_ = [
        ("mode", ctypes.c_int),
        ("count", ctypes.c_int),
        ("clockTimeStampSec", ctypes.c_long),
        ("clockTimeStampUSec", ctypes.c_int),
        ("receiveTimeStampSec", ctypes.c_long),
        ("receiveTimeStampUSec", ctypes.c_int),
        ("leap", ctypes.c_int),
        ("precision", ctypes.c_int),
        ("nsamples", ctypes.c_int),
        ("valid", ctypes.c_int),
        ("clockTimeStampNSec", ctypes.c_uint),
        ("receiveTimeStampNSec", ctypes.c_uint),
        ("dummy", ctypes.c_int * 8),
    ]


def segmentMode(unit: int) -> int:
    """The permissions a unit's segment is created with (gpsd's rule)."""
    return 0o600 if unit < PRIVATE_UNITS else 0o666


def _libc() -> Any:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
    libc.shmget.restype = ctypes.c_int
    libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    libc.shmat.restype = ctypes.c_void_p
    libc.shmdt.argtypes = [ctypes.c_void_p]
    libc.shmdt.restype = ctypes.c_int
    libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    libc.shmctl.restype = ctypes.c_int
    return libc


class Segment:
    """
    One attached C{shmTime} segment.

    @ivar time: the L{ShmTime} in the segment.
    @ivar ident: the segment's identifier (C{shmget}).
    """

    def __init__(self, unit: int, create: bool = True) -> None:
        """
        Attach (creating it if need be) the segment of C{unit}.

        @raise OSError: when it cannot be created or attached.
        """
        self._libc = _libc()
        flags = (IPC_CREAT | segmentMode(unit)) if create else 0
        ident = self._libc.shmget(SHM_KEY + unit, ctypes.sizeof(ShmTime), flags)
        if ident < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"shmget of unit {unit}: {os.strerror(errno)}")
        address = self._libc.shmat(ident, None, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            errno = ctypes.get_errno()
            raise OSError(errno, f"shmat of unit {unit}: {os.strerror(errno)}")
        self.ident = ident
        self._address = address
        self.time: ShmTime | None = ShmTime.from_address(address)

    def detach(self) -> None:
        """Detach (the segment stays, for its writer)."""
        if self.time is not None:
            self.time = None
            self._libc.shmdt(self._address)

    def remove(self) -> None:
        """Detach and remove the segment (tests clean up with this)."""
        self.detach()
        self._libc.shmctl(self.ident, IPC_RMID, None)


def readSample(time: ShmTime) -> tuple[str, tuple[float, float, int, int] | None]:
    """
    Read the segment once, following the writer's protocol.

    @return: C{("ok", (clock, receive, leap, precision))} with the two
        timestamps in seconds, or C{("none", None)} when no new sample is
        there, C{("busy", None)} when a mode 1 write was in progress,
        C{("badformat", None)} for an unknown mode.
    """
    if not time.valid:
        return "none", None
    mode = time.mode
    count = time.count
    clockSec, clockUSec, clockNSec = (
        time.clockTimeStampSec, time.clockTimeStampUSec, time.clockTimeStampNSec
    )
    recvSec, recvUSec, recvNSec = (
        time.receiveTimeStampSec, time.receiveTimeStampUSec, time.receiveTimeStampNSec
    )
    leap, precision = time.leap, time.precision
    if mode == 1 and time.count != count:
        time.valid = 0
        return "busy", None
    time.valid = 0
    if mode not in (0, 1):
        return "badformat", None

    def seconds(sec: int, usec: int, nsec: int) -> float:
        # The nanoseconds when the writer gave them consistently with the
        # microseconds (ntpd's rule), else the microseconds.
        if 0 <= nsec < 1_000_000_000 and nsec // 1000 == usec:
            return sec + nsec / 1e9
        return sec + usec / 1e6

    return "ok", (
        seconds(clockSec, clockUSec, clockNSec),
        seconds(recvSec, recvUSec, recvNSec),
        leap & 3,
        precision,
    )


@implementer(IRefClock)
class ShmRefClock:
    """
    One SHM unit: read every second, a median delivered at each poll.

    @ivar noreply: polls without a sample.
    @ivar badformat: reads of an unknown mode or during a write.
    @ivar baddata: samples refused as too far off.
    @ivar timecode: the last sample, as text (ntpq's C{cv}).
    """

    def __init__(
        self,
        options: Any,
        sink: IRefClockSink,
        reactor: Any,
        segment: Callable[[int], Segment] = Segment,
    ) -> None:
        self._options = options
        self._sink = sink
        self._reactor = reactor
        self._makeSegment = segment
        self._segment: Segment | None = None
        self._reader: LoopingCall | None = None
        self._samples: list[tuple[float, float, int, int]] = []
        self.noreply = self.badformat = self.baddata = 0
        self.timecode = ""

    def start(self) -> None:
        """
        Attach the segment (creating it if need be) and look at it every
        second.

        @raise OSError: when the segment cannot be had.
        """
        self._segment = self._makeSegment(self._options.unit)
        self._reader = LoopingCall(self.read)
        self._reader.clock = self._reactor
        self._reader.start(READ_INTERVAL, now=True)

    def stop(self) -> None:
        if self._reader is not None and self._reader.running:
            self._reader.stop()
        if self._segment is not None:
            self._segment.detach()
            self._segment = None

    def read(self) -> None:
        """Look at the segment once; keep a new sample."""
        if self._segment is None or self._segment.time is None:
            return
        status, sample = readSample(self._segment.time)
        if status in ("busy", "badformat"):
            self.badformat += 1
            return
        if sample is None:
            return
        clock, receive, leap, precision = sample
        offset = clock - receive
        if abs(offset) > MAX_OFFSET and not self._options.flag(1):
            self.baddata += 1
            return
        self.timecode = f"{clock:.9f} {receive:.9f} {leap}"
        self._samples.append((offset, receive, leap, precision))

    def poll(self) -> None:
        """Deliver the median of the samples read since the last poll."""
        samples, self._samples = self._samples, []
        if not samples:
            self.noreply += 1
            return
        samples.sort()
        offset, receive, leap, precision = samples[len(samples) // 2]
        offsets = [s[0] for s in samples]
        jitter = statistics.pstdev(offsets) if len(offsets) > 1 else 0.0
        dispersion = max(2.0**precision if -30 < precision < 0 else 2.0**PRECISION, jitter)
        offset += self._options.time1 or 0.0
        self._sink.sample(offset, dispersion, leap, receive)


@implementer(IPlugin, IRefClockFactory)
class ShmClockFactory:
    """ntpd's driver 28, the shared memory driver, as a plugin."""

    name = "shm"
    driverType = SHM_DRIVER_TYPE
    description = "shared memory (gpsd, ntpd's SHM protocol)"
    refid = b"SHM\0"
    stratum = 0
    precision = PRECISION
    lastResort = False
    burst = (8, READ_INTERVAL)
    """A poll a second at start: selectable within seconds of the writer's
    first samples, as gpsd users expect (ntpd would take four polls)."""

    def build(self, options: Any, sink: IRefClockSink, reactor: Any) -> ShmRefClock:
        """An SHM clock for unit C{options.unit} (0-255)."""
        return ShmRefClock(options, sink, reactor)


shmClockFactory = ShmClockFactory()
