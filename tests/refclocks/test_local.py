# -*- test-case-name: tests.refclocks.test_local -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.refclocks.local}: ntpd's LOCAL clock, an ordinary
reference clock association of a last-resort driver.
"""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.core.counters import PacketCounters
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.daemon import NTPDaemon
from ntpservice.net.multiplexer import ModeTable
from ntpservice.plugins import enabledPlugins, loadModePlugins
from ntpservice.refclocks import (
    RefClockConfigError,
    RefClockLine,
    byDriverType,
    loadRefClockPlugins,
    refClockLines,
)
from ntpservice.refclocks.local import BURST, BURST_INTERVAL
from tests.helpers import FakeClock

NOW = 1_790_000_000 * 10**9
SETTLED = BURST * BURST_INTERVAL + 2
"""Seconds after the start: the LOCAL clock's start burst is over."""


def lines(text: str) -> list[RefClockLine]:
    c = config.parseString(text, "t.conf")
    return refClockLines(c, byDriverType(loadRefClockPlugins()))


def started(text: str) -> NTPDaemon:
    """A daemon for C{text}, started on a fake clock at L{NOW}."""
    configuration = config.parseString(text, "t.conf")
    daemon = NTPDaemon(
        configuration,
        FakeClock(NOW),
        MemoryReactorClock(),
        PacketCounters(),
        ModeTable(),
        enabledPlugins(loadModePlugins(), configuration),
    )
    daemon.start()
    return daemon


def advance(daemon: NTPDaemon, seconds: float, step: float = 0.5) -> None:
    """Let C{seconds} pass on the daemon's clock and its reactor together."""
    for _ in range(int(seconds / step)):
        daemon.clock.time += int(step * 1e9)
        daemon.reactor.advance(step)


class RefClockLinesTests(SynchronousTestCase):
    """
    L{refClockLines} reads C{server 127.127.1.u} and its C{fudge} line as
    it reads any reference clock's.
    """

    def test_none(self) -> None:
        """
        No LOCAL clock configured: no line of driver 1.
        """
        self.assertEqual(
            [l for l in lines("server 192.0.2.1\nserver 127.127.28.0\n") if l.driverType == 1],
            [],
        )

    def test_default(self) -> None:
        """
        The driver stratum defaults to 5, the refid to LOCL, the name to
        LOCAL(u).
        """
        [local] = lines("server 127.127.1.0\n")
        self.assertEqual(
            (local.address, local.stratum, local.refid, local.name, local.factory.lastResort),
            ("127.127.1.0", 5, b"LOCL", "LOCAL(0)", True),
        )

    def test_fudge(self) -> None:
        """
        C{fudge stratum} and C{fudge refid} are honoured; time and flag
        options are accepted.
        """
        [local] = lines(
            "server 127.127.1.1\n"
            "fudge 127.127.1.1 stratum 10 refid XYZ time1 0.1 flag1 1\n"
        )
        self.assertEqual((local.options.unit, local.stratum, local.refid), (1, 10, b"XYZ\0"))
        self.assertEqual((local.options.time1, local.options.flag(1)), (0.1, True))

    def test_badFudge(self) -> None:
        """
        A stratum out of range or an unknown option is refused with the
        file and line.
        """
        for text, words in (
            ("fudge 127.127.1.0 stratum 16", "between 0 and 15"),
            ("fudge 127.127.1.0 stratum x", "between 0 and 15"),
            ("fudge 127.127.1.0 refid TOOLONG", "1 to 4"),
            ("fudge 127.127.1.0 stratum", "needs a value"),
            ("fudge 127.127.1.0 colour blue", "not a reference clock option"),
        ):
            e = self.assertRaises(RefClockConfigError, lines, "server 127.127.1.0\n" + text)
            self.assertTrue(str(e).startswith("t.conf:2: "), str(e))
            self.assertIn(words, str(e))


class LocalClockTests(SynchronousTestCase):
    """
    A daemon with the LOCAL clock serves one stratum below the driver's,
    through an ordinary reference clock association.
    """

    def test_systemVariables(self) -> None:
        """
        Within its start burst the LOCAL clock is the system peer:
        synchronized, stratum + 1, refid 127.127.1.u (as ntpd's clients
        see a LOCAL clock above stratum 0), the reference time its last
        sample's, a small root dispersion; the clock is never corrected.
        """
        daemon = started("server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n")
        self.assertIsNone(daemon.engine.systemPeer)
        advance(daemon, SETTLED)
        system = daemon.engine.system
        peer = daemon.engine.associations.byID[daemon.engine.systemPeer]
        self.assertEqual(peer.address, "127.127.1.0")
        self.assertEqual(system.stratum, 11)
        self.assertEqual(system.refid, bytes((127, 127, 1, 0)))
        self.assertEqual(system.precision, -20)
        self.assertTrue(0 < system.rootDispersion < 0.1, system.rootDispersion)
        self.assertEqual(system.reftime, peer.reftime)
        self.assertTrue(system.synchronized)
        self.assertEqual(
            [name for name, _ in daemon.clock.actions if name in ("slew", "step")], []
        )

    def test_selectableWithinSeconds(self) -> None:
        """
        The start burst makes the LOCAL clock the system peer within a
        few seconds of the start.
        """
        daemon = started("server 127.127.1.0\n")
        advance(daemon, 5)
        self.assertIsNotNone(daemon.engine.systemPeer)
        self.assertEqual(daemon.engine.system.stratum, 6)

    def test_stratumZeroNamesItself(self) -> None:
        """
        At driver stratum 0 (a stratum 1 server) the refid is the clock's
        own: LOCL, or the fudge refid.
        """
        for fudge, refid in (("", b"LOCL"), (" refid GPS", b"GPS\0")):
            daemon = started(f"server 127.127.1.0\nfudge 127.127.1.0 stratum 0{fudge}\n")
            advance(daemon, SETTLED)
            self.assertEqual((daemon.engine.system.stratum, daemon.engine.system.refid),
                             (1, refid))

    def test_lowestStratumWins(self) -> None:
        """
        Of several units, the one with the lowest stratum is the system
        peer.
        """
        daemon = started(
            "server 127.127.1.0\nserver 127.127.1.1\n"
            "fudge 127.127.1.0 stratum 12\nfudge 127.127.1.1 stratum 8\n"
        )
        advance(daemon, SETTLED)
        peer = daemon.engine.associations.byID[daemon.engine.systemPeer]
        self.assertEqual((peer.address, daemon.engine.system.stratum), ("127.127.1.1", 9))

    def test_updates(self) -> None:
        """
        Each poll (every 64 s) delivers a sample, which refreshes the
        reference time.
        """
        daemon = started("server 127.127.1.0\n")
        advance(daemon, SETTLED)
        first = daemon.engine.system.reftime
        advance(daemon, 70)
        self.assertNotEqual(daemon.engine.system.reftime, first)
        self.assertGreater(
            daemon.engine.system.reftime.toUnixNanoseconds(NOW), first.toUnixNanoseconds(NOW)
        )
