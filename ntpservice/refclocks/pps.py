# -*- test-case-name: tests.refclocks.test_pps -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
ntpd's PPS driver (type 22, C{server 127.127.22.u} or NTPsec's C{refclock
pps unit u}): the pulse-per-second edges the kernel timestamps on
C{/dev/ppsU} (RFC 2783, Linux's C{PPS_FETCH} ioctl).

    refclock nmea unit 0 path /dev/ttyS0 prefer
    refclock pps unit 0 path /dev/pps0

A pulse marks the start of a second but not which second: the driver gives
the offset of the edge from the nearest whole second of the local clock,
which is only meaningful once the clock is within half a second of the
truth. Hence, as in ntpd, its samples are used only while the system peer
is a C{prefer} source within 0.4 s (the daemon's rule for drivers that
declare C{needsPrefer}); otherwise they are dropped and counted as
C{baddata}.

Each second the driver fetches the last assert edge without waiting (a
C{PPS_FETCH} with a zero timeout); a new edge (its sequence number changed)
is a sample: offset = -(fraction of the second of the edge, folded to
+-0.5 s), plus C{time1}. The median of the samples since the last poll is
delivered at each poll. C{flag2 1} uses the clear edge instead.

L{linuxFetch} is the one place that calls the kernel; tests pass a fake
device where the kernel offers none.
"""

from __future__ import annotations

import fcntl
import os
import statistics
import struct
from typing import Any, Callable

from zope.interface import implementer

from twisted.internet.task import LoopingCall
from twisted.plugin import IPlugin

from ntpservice.interfaces import IRefClock, IRefClockFactory, IRefClockSink

PPS_DRIVER_TYPE = 22
PPS_FETCH = 0xC00870A4
"""C{_IOWR('p', 0xa4, struct pps_fdata *)}: Linux encodes a pointer's size."""
_KTIME = "qiI"
FDATA = struct.Struct("=II" + _KTIME + _KTIME + "i4x" + _KTIME)
"""struct pps_fdata: assert and clear sequence numbers, assert and clear
times (sec, nsec, flags), the current mode, then the timeout."""
PRECISION = -20
DISPERSION = 2.0**PRECISION

Edge = tuple[int, float, int, float]
"""C{(assertSequence, assertTime, clearSequence, clearTime)}."""


def linuxFetch(fd: int) -> Edge:
    """
    The last edges the kernel timestamped on a PPS device (RFC 2783
    C{time_pps_fetch} with a zero timeout).

    @raise OSError: when the device refuses.
    """
    request = bytearray(FDATA.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    fcntl.ioctl(fd, PPS_FETCH, request, True)
    (aseq, cseq, asec, ansec, _af, csec, cnsec, _cf, _mode, _ts, _tn, _tf) = FDATA.unpack(
        bytes(request)
    )
    return aseq, asec + ansec / 1e9, cseq, csec + cnsec / 1e9


def pulseOffset(edge: float) -> float:
    """The offset a pulse at local time C{edge} gives: the nearest second
    minus the edge, in [-0.5, 0.5)."""
    fraction = edge % 1.0
    return -fraction if fraction < 0.5 else 1.0 - fraction


@implementer(IRefClock)
class PpsRefClock:
    """
    One PPS device, looked at every second.

    @ivar noreply: polls without a sample.
    @ivar baddata: samples the daemon dropped (no prefer peer).
    @ivar timecode: the last edge, as text.
    """

    def __init__(
        self,
        path: str,
        options: Any,
        sink: IRefClockSink,
        reactor: Any,
        fetch: Callable[[int], Edge] = linuxFetch,
        opener: Callable[[str], int] | None = None,
    ) -> None:
        self.path = path
        self._options = options
        self._sink = sink
        self._reactor = reactor
        self._fetch = fetch
        self._open = opener or (lambda p: os.open(p, os.O_RDWR))
        self._fd: int | None = None
        self._reader: LoopingCall | None = None
        self._lastSequence: int | None = None
        self._samples: list[tuple[float, float]] = []
        self.noreply = self.baddata = self.badformat = 0
        self.timecode = ""

    def start(self) -> None:
        """
        Open the device and look at it every second.

        @raise OSError: when it cannot be opened.
        """
        self._fd = self._open(self.path)
        self._reader = LoopingCall(self.read)
        self._reader.clock = self._reactor
        self._reader.start(1.0, now=True)

    def stop(self) -> None:
        if self._reader is not None and self._reader.running:
            self._reader.stop()
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def read(self) -> None:
        """Fetch the last edge; a new one is a sample."""
        if self._fd is None:
            return
        try:
            aseq, atime, cseq, ctime = self._fetch(self._fd)
        except OSError:
            self.badformat += 1
            return
        sequence, edge = (cseq, ctime) if self._options.flag(2) else (aseq, atime)
        if sequence == self._lastSequence or edge == 0:
            return
        self._lastSequence = sequence
        self.timecode = f"{sequence} {edge:.9f}"
        self._samples.append((pulseOffset(edge), edge))

    def poll(self) -> None:
        """Deliver the median of the pulses since the last poll."""
        samples, self._samples = self._samples, []
        if not samples:
            self.noreply += 1
            return
        samples.sort()
        offset, edge = samples[len(samples) // 2]
        jitter = statistics.pstdev(s[0] for s in samples) if len(samples) > 1 else 0.0
        self._sink.sample(
            offset + (self._options.time1 or 0.0), max(DISPERSION, jitter), 0, edge
        )


@implementer(IPlugin, IRefClockFactory)
class PpsClockFactory:
    """ntpd's driver 22, the kernel's PPS API."""

    name = "pps"
    driverType = PPS_DRIVER_TYPE
    description = "PPS through the kernel's RFC 2783 API"
    refid = b"PPS\0"
    stratum = 0
    precision = PRECISION
    lastResort = False
    burst = (8, 1.0)
    needsPrefer = True
    """Its samples count only while a prefer source within 0.4 s is the
    system peer (the daemon checks)."""

    def build(self, options: Any, sink: IRefClockSink, reactor: Any) -> PpsRefClock:
        """A PPS clock on C{options.path} (default C{/dev/ppsU})."""
        return PpsRefClock(options.path or f"/dev/pps{options.unit}", options, sink, reactor)


ppsClockFactory = PpsClockFactory()
