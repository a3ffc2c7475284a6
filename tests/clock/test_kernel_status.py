# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The kernel's view of the daemon's synchronization (issue 15, item 5):
L{LinuxClock.setSynchronized} and the daemon calling it, against a fake
C{adjtimex} that keeps the kernel state as the kernel would; never the real
clock.
"""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.clock.linux import (
    ADJ_ESTERROR,
    ADJ_MAXERROR,
    ADJ_STATUS,
    READ_ONLY_MODES,
    STA_INS,
    STA_NANO,
    STA_PLL,
    STA_RONLY,
    STA_UNSYNC,
    TIME_OK,
    LinuxClock,
    Timex,
)
from ntpservice.core.counters import PacketCounters
from ntpservice.daemon import NTPDaemon
from ntpservice.net.multiplexer import ModeTable
from ntpservice.plugins import enabledPlugins, loadModePlugins

NOW = 1_790_000_000 * 10**9


class FakeKernel:
    """
    A fake C{clock_adjtime} that applies C{ADJ_STATUS}, C{ADJ_MAXERROR} and
    C{ADJ_ESTERROR} writes to its state (as the kernel does: the
    read-only status bits are kept) and records every write; other writes
    are recorded only.
    """

    def __init__(self, status: int = STA_UNSYNC | STA_PLL | STA_NANO) -> None:
        self.status = status
        self.maxerror = 16_000_000
        self.esterror = 16_000_000
        self.writes: list[int] = []

    def __call__(self, tx: Timex) -> int:
        if tx.modes not in READ_ONLY_MODES:
            self.writes.append(tx.modes)
            if tx.modes & ADJ_STATUS and tx.modes != 0x8001:
                self.status = (self.status & STA_RONLY) | (tx.status & ~STA_RONLY)
            if tx.modes & ADJ_MAXERROR and tx.modes != 0x8001:
                self.maxerror = tx.maxerror
            if tx.modes & ADJ_ESTERROR and tx.modes != 0x8001:
                self.esterror = tx.esterror
        tx.status = self.status
        tx.maxerror = self.maxerror
        tx.esterror = self.esterror
        return TIME_OK


class FakeTimeLinuxClock(LinuxClock):
    """The Linux driver on a fake kernel, reading a fake time."""

    def __init__(self, kernel: FakeKernel) -> None:
        super().__init__(adjtime=kernel)
        self.time = NOW

    def now(self) -> int:
        return self.time

    def precision(self) -> int:
        return -20


class SetSynchronizedTests(SynchronousTestCase):
    """
    L{LinuxClock.setSynchronized}.
    """

    def test_synchronized(self) -> None:
        """
        One write of status, maxerror and esterror: STA_UNSYNC and a
        STA_PLL left by another daemon cleared, an armed leap second and
        STA_NANO kept, the errors in microseconds.
        """
        kernel = FakeKernel(STA_UNSYNC | STA_PLL | STA_NANO | STA_INS)
        LinuxClock(adjtime=kernel).setSynchronized(True, 0.0125, 0.0005)
        self.assertEqual(kernel.writes, [ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR])
        self.assertEqual(kernel.status, STA_NANO | STA_INS)
        self.assertEqual((kernel.maxerror, kernel.esterror), (12500, 500))

    def test_unsynchronized(self) -> None:
        """
        Not synchronized: STA_UNSYNC set, the errors at the kernel's limit.
        """
        kernel = FakeKernel(STA_NANO)
        LinuxClock(adjtime=kernel).setSynchronized(False)
        self.assertEqual(kernel.status, STA_NANO | STA_UNSYNC)
        self.assertEqual(kernel.maxerror, 16_000_000)

    def test_bounded(self) -> None:
        """
        A root distance beyond 16 s is written as 16 s.
        """
        kernel = FakeKernel()
        LinuxClock(adjtime=kernel).setSynchronized(True, 100.0, 1.0)
        self.assertEqual(kernel.maxerror, 16_000_000)


class DaemonKernelStatusTests(SynchronousTestCase):
    """
    The daemon keeps the kernel's status as chronyd leaves it.
    """

    def makeDaemon(self, text: str, kernel: FakeKernel, adjust: bool = True) -> NTPDaemon:
        configuration = config.parseString(text, "t.conf")
        self.clock = FakeTimeLinuxClock(kernel)
        self.reactor = MemoryReactorClock()
        daemon = NTPDaemon(
            configuration, self.clock, self.reactor, PacketCounters(), ModeTable(),
            enabledPlugins(loadModePlugins(), configuration), clockAdjust=adjust,
        )
        daemon.start()
        self.addCleanup(daemon.stop)
        return daemon

    def advance(self, seconds: float) -> None:
        for _ in range(int(seconds * 2)):
            self.clock.time += 500_000_000
            self.reactor.advance(0.5)

    def test_afterSynchronization(self) -> None:
        """
        Once synchronized (to the LOCAL clock here) STA_UNSYNC is clear,
        a STA_PLL left by another daemon cleared,
        and maxerror is the root distance, bounded (well under a second)
        and refreshed every second.
        """
        kernel = FakeKernel(STA_PLL | STA_NANO)
        daemon = self.makeDaemon("server 127.127.1.0\nfudge 127.127.1.0 stratum 1\n", kernel)
        self.advance(20)
        self.assertIsNotNone(daemon.engine.systemPeer)
        self.assertFalse(kernel.status & STA_UNSYNC)
        self.assertFalse(kernel.status & STA_PLL)
        self.assertLess(kernel.maxerror, 500_000)
        writes = len(kernel.writes)
        self.advance(5)
        self.assertGreaterEqual(len(kernel.writes) - writes, 4)

    def test_unsynchronizedOnce(self) -> None:
        """
        Without a source, STA_UNSYNC is written once, not every second.
        """
        kernel = FakeKernel(STA_NANO)
        self.makeDaemon("server 192.0.2.1\n", kernel)
        self.advance(10)
        self.assertTrue(kernel.status & STA_UNSYNC)
        self.assertEqual(kernel.writes.count(ADJ_STATUS | ADJ_MAXERROR | ADJ_ESTERROR), 1)

    def test_openLoopWritesNothing(self) -> None:
        """
        With the clock not adjusted (--no-clock-adjust, disable ntp) the
        kernel's status is never written.
        """
        kernel = FakeKernel(STA_NANO)
        self.makeDaemon("server 127.127.1.0\n", kernel, adjust=False)
        self.advance(20)
        self.assertEqual(kernel.writes, [])
