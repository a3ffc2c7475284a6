# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.refclocks.shm}: ntpd's shared memory driver, on a
real System V segment of a unit no real writer uses (removed afterwards).
"""

from __future__ import annotations

import ctypes
import os
import subprocess

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.refclocks import RefClockOptions
from ntpservice.refclocks.shm import (
    SHM_KEY,
    Segment,
    ShmClockFactory,
    ShmTime,
    readSample,
    segmentMode,
)
from tests.refclocks.test_plugins import RecordingSink

UNIT = 200 + os.getpid() % 50
"""A unit far from those gpsd writes (0-3)."""
T0 = 1_790_000_000


def write(time: ShmTime, clock: float, receive: float, mode: int = 1, leap: int = 0) -> None:
    """Write one sample as gpsd does (mode 1: count around the write)."""
    time.mode = mode
    time.count += 1
    time.valid = 0
    time.clockTimeStampSec = int(clock)
    time.clockTimeStampUSec = int(round((clock % 1) * 1e6))
    time.clockTimeStampNSec = int(round((clock % 1) * 1e9))
    time.receiveTimeStampSec = int(receive)
    time.receiveTimeStampUSec = int(round((receive % 1) * 1e6))
    time.receiveTimeStampNSec = int(round((receive % 1) * 1e9))
    time.leap = leap
    time.precision = -20
    time.count += 1
    time.valid = 1


class SegmentTests(SynchronousTestCase):
    """
    The segment and the writer's protocol.
    """

    def setUp(self) -> None:
        self.segment = Segment(UNIT)
        self.addCleanup(self.segment.remove)
        assert self.segment.time is not None
        self.time = self.segment.time

    def test_layout(self) -> None:
        """
        The segment is ntpd's C{struct shmTime} (96 bytes on 64-bit Linux)
        at key 0x4e545030 + unit, world-writable above unit 1 as gpsd
        expects.
        """
        self.assertEqual(ShmTime.clockTimeStampSec.offset, 8)
        self.assertEqual(ShmTime.receiveTimeStampSec.offset, 24)
        self.assertEqual(ShmTime.valid.offset, 48)
        self.assertEqual(ShmTime.receiveTimeStampNSec.offset, 56)
        self.assertEqual(ctypes.sizeof(ShmTime), 96)
        output = subprocess.run(
            ["ipcs", "-m"], capture_output=True, text=True, check=False
        ).stdout
        row = [line for line in output.splitlines() if f"0x{SHM_KEY + UNIT:08x}" in line]
        self.assertEqual(len(row), 1, output)
        self.assertEqual(row[0].split()[3], "666")

    def test_modes(self) -> None:
        """
        A valid sample is read once (valid is cleared); mode 1 with a
        count that changed during the read is refused as busy; nothing
        valid: no sample.
        """
        self.assertEqual(readSample(self.time), ("none", None))
        write(self.time, T0 + 0.25, T0 + 0.5, leap=1)
        status, sample = readSample(self.time)
        self.assertEqual(status, "ok")
        assert sample is not None
        self.assertAlmostEqual(sample[0], T0 + 0.25, places=6)
        self.assertAlmostEqual(sample[1], T0 + 0.5, places=6)
        self.assertEqual(sample[2], 1)
        self.assertEqual(readSample(self.time), ("none", None))
        write(self.time, T0, T0, mode=0)
        self.assertEqual(readSample(self.time)[0], "ok")
        write(self.time, T0, T0, mode=7)
        self.assertEqual(readSample(self.time), ("badformat", None))


class ShmClockTests(SynchronousTestCase):
    """
    The driver: read every second, the median at each poll.
    """

    def setUp(self) -> None:
        self.reactor = Clock()
        self.sink = RecordingSink()
        self.clock = ShmClockFactory().build(
            RefClockOptions(unit=UNIT, time1=0.001), self.sink, self.reactor
        )
        self.clock.start()
        self.addCleanup(lambda: Segment(UNIT).remove())
        self.addCleanup(self.clock.stop)
        self.time = Segment(UNIT).time

    def test_median(self) -> None:
        """
        Three samples read a second apart: the poll delivers the median
        offset (reference - receive) plus time1, with the receive time and
        leap of that sample; a poll without samples delivers nothing and
        counts a C{noreply}.
        """
        assert self.time is not None
        for offset in (0.003, -0.001, 0.002):
            write(self.time, T0 + offset, T0)
            self.reactor.advance(1)
        self.clock.poll()
        [(offset, dispersion, leap, when)] = self.sink.samples
        self.assertAlmostEqual(offset, 0.002 + 0.001, places=6)
        self.assertEqual((leap, when), (0, T0))
        self.assertGreater(dispersion, 0)
        self.clock.poll()
        self.assertEqual((len(self.sink.samples), self.clock.noreply), (1, 1))

    def test_tooFarOff(self) -> None:
        """
        A sample more than 4 hours off is refused as bad data.
        """
        assert self.time is not None
        write(self.time, T0 + 5 * 3600, T0)
        self.reactor.advance(1)
        self.clock.poll()
        self.assertEqual((self.sink.samples, self.clock.baddata), ([], 1))

    def test_stop(self) -> None:
        """
        Once stopped the driver no longer reads the segment.
        """
        self.clock.stop()
        self.assertEqual(self.reactor.getDelayedCalls(), [])


class PrivateUnitTests(SynchronousTestCase):
    """
    Units 0 and 1 are root's only.
    """

    def test_mode(self) -> None:
        """
        Units 0 and 1 are created with mode 0600, the others 0666 (as gpsd
        expects: as root it writes 0 and 1, as another user 2 and up).
        """
        self.assertEqual([segmentMode(u) for u in (0, 1, 2, 3, 200)],
                         [0o600, 0o600, 0o666, 0o666, 0o666])
