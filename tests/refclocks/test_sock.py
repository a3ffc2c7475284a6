# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.refclocks.sock}: chrony's SOCK protocol, on a real
Unix datagram socket in a temporary directory.
"""

from __future__ import annotations

import os
import socket

from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from ntpservice.refclocks import RefClockConfigError, RefClockOptions, refClockLines
from ntpservice.refclocks.sock import (
    SAMPLE,
    SockClockFactory,
    decodeSample,
    encodeSample,
)
from ntpservice import config
from tests.refclocks.test_plugins import RecordingSink

T0 = 1_790_000_000.25


class CodecTests(SynchronousTestCase):
    """
    chrony's C{struct sock_sample}.
    """

    def test_roundTrip(self) -> None:
        """
        40 bytes: the time (to the microsecond), offset, pulse, leap and
        the magic number; another size or magic is not a sample.
        """
        data = encodeSample(T0, -0.0125, leap=1)
        self.assertEqual(len(data), SAMPLE.size)
        self.assertEqual(SAMPLE.size, 40)
        self.assertEqual(decodeSample(data), (T0, -0.0125, False, 1))
        self.assertIsNone(decodeSample(data[:-1]))
        self.assertIsNone(decodeSample(data[:-4] + b"XXXX"))


class ClockTests(SynchronousTestCase):
    """
    Samples kept as they come, the median at each poll.
    """

    def test_median(self) -> None:
        """
        Three time samples and a pulse: the poll delivers the median
        offset plus time1 with its time and leap; the pulse and a bad
        datagram are counted, not used; a poll without samples counts a
        C{noreply}.
        """
        sink = RecordingSink()
        clock = SockClockFactory().build(
            RefClockOptions(path="/nonexistent", time1=0.002), sink, None
        )
        for offset in (0.001, 0.005, 0.003):
            clock.received(encodeSample(T0, offset))
        clock.received(encodeSample(T0, 0.1, pulse=True))
        clock.received(b"junk")
        clock.poll()
        [(offset, dispersion, leap, when)] = sink.samples
        self.assertAlmostEqual(offset, 0.005)
        self.assertEqual((leap, when, clock.pulses, clock.badformat), (0, T0, 1, 1))
        clock.poll()
        self.assertEqual(clock.noreply, 1)

    def test_pathRequired(self) -> None:
        """
        C{refclock sock} without a path is refused with the line.
        """
        e = self.assertRaises(
            RefClockConfigError, refClockLines, config.parseString("refclock sock\n", "t.conf")
        )
        self.assertTrue(str(e).startswith("t.conf:1: "), str(e))
        self.assertIn("path", str(e))


class SocketTests(TestCase):
    """
    The driver listens on its socket.
    """

    def test_datagrams(self) -> None:
        """
        A sample sent to the socket (as gpsd sends it) is received; the
        socket file is removed when the clock stops.
        """
        path = os.path.abspath(self.mktemp()) + ".sock"
        sink = RecordingSink()
        clock = SockClockFactory().build(RefClockOptions(path=path), sink, reactor)
        clock.start()
        self.addCleanup(clock.stop)
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        sender.sendto(encodeSample(T0, 0.004), path)
        from twisted.internet import task

        def check() -> None:
            clock.poll()
            self.assertEqual([s[0] for s in sink.samples], [0.004])
            clock.stop()
            self.assertFalse(os.path.exists(path))

        return task.deferLater(reactor, 0.2, check)
