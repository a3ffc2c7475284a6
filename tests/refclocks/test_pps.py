# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.refclocks.pps}: the PPS driver against a fake
device (no kernel PPS here), and the daemon's prefer-peer rule.
"""

from __future__ import annotations

import struct

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.core.counters import PacketCounters
from ntpservice.daemon import NTPDaemon
from ntpservice.net.multiplexer import ModeTable
from ntpservice.plugins import enabledPlugins, loadModePlugins
from ntpservice.refclocks import RefClockOptions, loadRefClockPlugins
from ntpservice.refclocks.pps import FDATA, PPS_FETCH, PpsClockFactory, pulseOffset
from tests.helpers import FakeClock
from tests.refclocks.test_plugins import RecordingSink
import tests.toyrefclocks

T0 = 1_790_000_000


class FakeDevice:
    """A PPS device: each fetch returns the edges set by the test."""

    def __init__(self) -> None:
        self.edges = (0, 0.0, 0, 0.0)
        self.fetches = 0

    def fetch(self, fd: int) -> tuple[int, float, int, float]:
        self.fetches += 1
        return self.edges

    def open(self, path: str) -> int:
        return -1


class DriverTests(SynchronousTestCase):
    """
    Pulses as samples.
    """

    def test_layout(self) -> None:
        """
        struct pps_fdata is 64 bytes and PPS_FETCH is Linux's number
        (_IOWR('p', 0xa4, a pointer)).
        """
        self.assertEqual(FDATA.size, 64)
        self.assertEqual(PPS_FETCH, (3 << 30) | (struct.calcsize("P") << 16) | (ord("p") << 8) | 0xA4)

    def test_pulseOffset(self) -> None:
        """
        An edge 2 ms after a second gives -2 ms; 3 ms before, +3 ms.
        """
        self.assertAlmostEqual(pulseOffset(T0 + 0.002), -0.002, places=6)
        self.assertAlmostEqual(pulseOffset(T0 - 0.003), 0.003, places=6)

    def test_median(self) -> None:
        """
        Each new edge (sequence changed) is a sample; the median plus
        time1 goes out at the poll; an unchanged sequence adds nothing.
        """
        device, sink, reactor = FakeDevice(), RecordingSink(), Clock()
        clock = PpsClockFactory().build(RefClockOptions(time1=0.0005), sink, reactor)
        clock._fetch, clock._open = device.fetch, device.open  # the fake device
        clock.start()
        self.addCleanup(clock.stop)
        for sequence, edge in ((1, T0 + 0.001), (2, T0 + 1.003), (3, T0 + 2.002)):
            device.edges = (sequence, edge, 0, 0.0)
            reactor.advance(1)
        reactor.advance(1)
        clock.poll()
        [(offset, _, leap, when)] = sink.samples
        self.assertAlmostEqual(offset, -0.002 + 0.0005, places=6)
        self.assertEqual((leap, when), (0, T0 + 2.002))


class PreferRuleTests(SynchronousTestCase):
    """
    PPS counts only with a prefer source near.
    """

    def daemon(self, text: str) -> NTPDaemon:
        configuration = config.parseString(text, "t.conf")
        self.clock = FakeClock(T0 * 10**9)
        self.reactor = MemoryReactorClock()
        self.device = FakeDevice()
        factory = PpsClockFactory()
        device = self.device

        class FakePps(PpsClockFactory):
            def build(self, options, sink, reactor):  # type: ignore[no-untyped-def]
                clock = factory.build(options, sink, reactor)
                clock._fetch, clock._open = device.fetch, device.open
                return clock

        drivers = [p for p in loadRefClockPlugins() if p.driverType != 22]
        drivers += loadRefClockPlugins(tests.toyrefclocks) + [FakePps()]
        daemon = NTPDaemon(
            configuration, self.clock, self.reactor, PacketCounters(), ModeTable(),
            enabledPlugins(loadModePlugins(), configuration), refclocks=drivers,
            clockAdjust=False,
        )
        daemon.start()
        self.addCleanup(daemon.stop)
        return daemon

    def pulses(self, daemon: NTPDaemon, seconds: int) -> None:
        for _ in range(seconds):
            self.clock.time += 10**9
            second = self.clock.time // 10**9
            self.device.edges = (int(second), second + 0.0004, 0, 0.0)
            self.reactor.advance(1)

    def test_alone(self) -> None:
        """
        Without a prefer source the pulses are dropped (baddata): the PPS
        association never becomes reachable.
        """
        daemon = self.daemon("refclock pps unit 0 path /dev/pps0\n")
        self.pulses(daemon, 30)
        [association] = list(daemon.engine.associations)
        self.assertEqual(association.reach, 0)
        [running] = daemon.refclocks.values()
        self.assertGreater(running.clock.baddata, 0)

    def test_withPrefer(self) -> None:
        """
        With a prefer source (the toy clock, selected) the pulses count:
        the PPS association is reachable and selectable.
        """
        daemon = self.daemon(
            "server 127.127.99.0 minpoll 4 maxpoll 4 prefer\n"
            "refclock pps unit 0 path /dev/pps0\n"
        )
        self.pulses(daemon, 200)
        pps = next(a for a in daemon.engine.associations if a.address == "127.127.22.0")
        self.assertNotEqual(pps.reach, 0)
        self.assertAlmostEqual(pps.offset, -0.0004, places=5)
