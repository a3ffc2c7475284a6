# -*- test-case-name: tests.refclocks.test_sock -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
chrony's SOCK reference clock (C{refclock sock path PATH}): samples sent as
datagrams to a Unix socket the daemon listens on, as gpsd sends them.

    refclock sock path /run/chrony.ttyS0.sock refid GPS prefer

gpsd looks, when it opens a device C{/dev/NAME}, for C{/run/chrony.NAME.sock}
(as root; C{/tmp/chrony.NAME.sock} otherwise) and, if it exists, sends there
the time of each PPS edge of the device (a serial port's DCD, or a
C{/dev/ppsN} of its own); the daemon must therefore be started first. The
in-band (NMEA) time goes to SHM only before gpsd 3.25 (Debian 12 has 3.22);
from 3.25 gpsd also sends it to C{/run/chrony.clk.NAME.sock}, a second
C{refclock sock} line. Each datagram
is chrony's C{struct sock_sample}: the local time of the sample (a
C{struct timeval}), the offset of the reference from it in seconds
(positive when the local clock is behind), a pulse flag (a PPS edge, whose
offset only has the fraction of a second), the leap indicator and the magic
number C{0x534f434b} ("SOCK"). Time samples (pulse 0) are kept and their
median delivered at each poll, as the SHM driver does; pulses are counted
and not used (a PPS source needs its own driver). A datagram of another
size or magic is counted as C{badformat}.

The driver's type is 47 (not an ntpd driver: the first number after
ntpd's), so it can be written C{server 127.127.47.u} with C{fudge} too; its
socket is then the C{path} of a C{refclock} line only.
"""

from __future__ import annotations

import os
import statistics
import struct
from typing import Any

from zope.interface import implementer

from twisted.internet.protocol import DatagramProtocol
from twisted.plugin import IPlugin

from ntpservice.interfaces import IRefClock, IRefClockFactory, IRefClockSink

SOCK_DRIVER_TYPE = 47
SOCK_MAGIC = 0x534F434B
SAMPLE = struct.Struct("=qqdiiii")
"""chrony's struct sock_sample on 64-bit Linux: timeval, offset, pulse,
leap, padding, magic (40 bytes)."""
PRECISION = -20
DISPERSION = 2.0**PRECISION


def encodeSample(time: float, offset: float, pulse: bool = False, leap: int = 0) -> bytes:
    """A C{struct sock_sample} (what gpsd sends; tests use it)."""
    seconds = int(time // 1)
    micro = int(round((time - seconds) * 1e6))
    return SAMPLE.pack(seconds, micro, offset, int(pulse), leap, 0, SOCK_MAGIC)


def decodeSample(data: bytes) -> tuple[float, float, bool, int] | None:
    """
    C{(time, offset, pulse, leap)} of a datagram, or C{None} when it is not
    a C{struct sock_sample}.
    """
    if len(data) != SAMPLE.size:
        return None
    seconds, micro, offset, pulse, leap, _pad, magic = SAMPLE.unpack(data)
    if magic != SOCK_MAGIC or not 0 <= micro < 1_000_000:
        return None
    return seconds + micro / 1e6, offset, bool(pulse), leap & 3


class _SampleProtocol(DatagramProtocol):
    def __init__(self, clock: "SockRefClock") -> None:
        self._clock = clock

    def datagramReceived(self, datagram: bytes, address: Any) -> None:
        self._clock.received(datagram)


@implementer(IRefClock)
class SockRefClock:
    """
    One SOCK socket: samples kept as they come, the median delivered at
    each poll.

    @ivar noreply: polls without a sample.
    @ivar badformat: datagrams that were not samples.
    @ivar pulses: PPS pulses received (not used).
    @ivar timecode: the last sample, as text (ntpq's C{cv}).
    """

    def __init__(self, path: str, options: Any, sink: IRefClockSink, reactor: Any) -> None:
        self.path = path
        self._options = options
        self._sink = sink
        self._reactor = reactor
        self._port: Any = None
        self._samples: list[tuple[float, float, int]] = []
        self.noreply = self.badformat = self.pulses = 0
        self.baddata = 0
        self.timecode = ""

    def start(self) -> None:
        """
        Listen on the socket (a stale one left by an earlier run is
        replaced).

        @raise OSError: when it cannot be bound.
        """
        if os.path.exists(self.path):
            os.unlink(self.path)
        try:
            self._port = self._reactor.listenUNIXDatagram(self.path, _SampleProtocol(self))
        except Exception as e:
            raise OSError(f"cannot listen on {self.path}: {e}") from e

    def stop(self) -> None:
        if self._port is not None:
            self._port.stopListening()
            self._port = None
            if os.path.exists(self.path):
                os.unlink(self.path)

    def received(self, datagram: bytes) -> None:
        """One datagram from the socket."""
        sample = decodeSample(datagram)
        if sample is None:
            self.badformat += 1
            return
        time, offset, pulse, leap = sample
        if pulse:
            self.pulses += 1
            return
        self.timecode = f"{time:.6f} {offset:+.9f} {leap}"
        self._samples.append((offset, time, leap))

    def poll(self) -> None:
        """Deliver the median of the samples received since the last poll."""
        samples, self._samples = self._samples, []
        if not samples:
            self.noreply += 1
            return
        samples.sort()
        offset, time, leap = samples[len(samples) // 2]
        jitter = statistics.pstdev(s[0] for s in samples) if len(samples) > 1 else 0.0
        self._sink.sample(
            offset + (self._options.time1 or 0.0), max(DISPERSION, jitter), leap, time
        )


@implementer(IPlugin, IRefClockFactory)
class SockClockFactory:
    """chrony's SOCK protocol (gpsd's second way of giving its time)."""

    name = "sock"
    driverType = SOCK_DRIVER_TYPE
    description = "chrony's SOCK protocol (gpsd)"
    refid = b"SOCK"
    stratum = 0
    precision = PRECISION
    lastResort = False
    burst = (8, 1.0)
    requiredOptions = ("path",)

    def build(self, options: Any, sink: IRefClockSink, reactor: Any) -> SockRefClock:
        """
        A SOCK clock listening on C{options.path}.

        @raise ValueError: without a path.
        """
        if not options.path:
            raise ValueError(f"{options.source}: refclock sock needs a path")
        return SockRefClock(options.path, options, sink, reactor)


sockClockFactory = SockClockFactory()
