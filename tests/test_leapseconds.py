# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.leapseconds} (the leap seconds file) and for what
the daemon does with it: the leap indicator it announces, the kernel
armed on the right day, warnings for an expired file, reloads.
"""

from __future__ import annotations

import calendar
import hashlib
import os
import re
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.core.counters import PacketCounters
from ntpservice.daemon import NTPDaemon
from ntpservice.leapseconds import (
    NTP_UNIX_OFFSET,
    LeapFileError,
    expiryWarning,
    loadLeapFile,
    parseLeapSeconds,
)
from ntpservice.net.multiplexer import ModeTable
from ntpservice.plugins import enabledPlugins, loadModePlugins
from tests.helpers import FakeClock

DEBIAN_FILE = "/usr/share/zoneinfo/leap-seconds.list"

LEAP = calendar.timegm((2027, 1, 1, 0, 0, 0))
"""A leap second inserted at the end of 2026-12-31 (a made-up one)."""


def utc(*fields: int) -> float:
    return float(calendar.timegm(tuple(fields) + (0,) * (6 - len(fields))))


def leapFileText(expires: float, entries: list[tuple[float, int]],
                 updated: float = utc(2026, 7, 1), hashed: bool = True) -> str:
    """A leap seconds file in the IERS format, with its SHA-1 hash."""
    lines = [
        "# a test leap seconds file",
        f"#$\t{int(updated) + NTP_UNIX_OFFSET}",
        f"#@\t{int(expires) + NTP_UNIX_OFFSET}",
    ]
    lines += [f"{int(when) + NTP_UNIX_OFFSET}\t{tai}\t# entry" for when, tai in entries]
    text = "\n".join(lines) + "\n"
    if hashed:
        digest = hashlib.sha1()
        for line in lines[1:]:
            body = line[2:] if line.startswith("#") else line.split("#")[0]
            digest.update(re.sub(r"\D", "", body).encode())
        words = [digest.hexdigest()[i : i + 8].lstrip("0") or "0" for i in range(0, 40, 8)]
        text += "#h\t" + " ".join(words) + "\n"
    return text


ENTRIES = [(utc(1972, 1, 1), 10), (utc(2017, 1, 1), 37), (LEAP, 38)]


class ParseTests(SynchronousTestCase):
    """
    Reading the file.
    """

    def test_debianFile(self) -> None:
        """
        Debian's leap-seconds.list is read with its hash checked: TAI - UTC
        37 since 2017.
        """
        if not os.path.exists(DEBIAN_FILE):
            raise self.skipTest(f"no {DEBIAN_FILE}")  # type: ignore[misc]
        table = loadLeapFile(DEBIAN_FILE)
        self.assertEqual(table.taiOffset(utc(2020, 1, 1)), 37)
        self.assertEqual(table.lastLeap(utc(2020, 1, 1)), utc(2017, 1, 1))

    def test_entries(self) -> None:
        """
        TAI - UTC before, at and after each entry; the next leap second
        and its sign.
        """
        table = parseLeapSeconds(leapFileText(utc(2027, 6, 28), ENTRIES), "f")
        self.assertEqual(table.taiOffset(utc(2016, 12, 31)), 10)
        self.assertEqual(table.taiOffset(utc(2017, 1, 1)), 37)
        self.assertEqual(table.taiOffset(LEAP), 38)
        self.assertEqual(table.nextLeap(utc(2026, 12, 6)), (LEAP, 1))
        self.assertIsNone(table.nextLeap(LEAP))

    def test_hash(self) -> None:
        """
        A file whose hash does not match (an edited entry), or without a
        hash, is refused with its path unless the hash is ignored.
        """
        good = leapFileText(utc(2027, 6, 28), ENTRIES)
        edited = good.replace("\t38\t", "\t39\t")
        e = self.assertRaises(LeapFileError, parseLeapSeconds, edited, "leap.list")
        self.assertIn("leap.list: the hash (#h) does not match", str(e))
        self.assertEqual(parseLeapSeconds(edited, "leap.list", checkHash=False).taiOffset(LEAP), 39)
        unhashed = leapFileText(utc(2027, 6, 28), ENTRIES, hashed=False)
        e = self.assertRaises(LeapFileError, parseLeapSeconds, unhashed, "leap.list")
        self.assertIn("no hash", str(e))

    def test_malformed(self) -> None:
        """
        A malformed data line is refused with its line number.
        """
        text = leapFileText(utc(2027, 6, 28), ENTRIES).replace("\t37\t", "\tx\t")
        e = self.assertRaises(LeapFileError, parseLeapSeconds, text, "leap.list")
        self.assertTrue(str(e).startswith("leap.list:5: "), str(e))


class AnnounceTests(SynchronousTestCase):
    """
    When a leap second is announced and when the kernel is armed.
    """

    def setUp(self) -> None:
        self.table = parseLeapSeconds(leapFileText(utc(2027, 6, 28), ENTRIES), "f")

    def test_lastMonth(self) -> None:
        """
        The leap indicator announces the leap second during the last month
        before it (December 2026), not before, not after.
        """
        self.assertEqual(self.table.leapIndicator(utc(2026, 11, 30, 23, 59)), 0)
        self.assertEqual(self.table.leapIndicator(utc(2026, 12, 1)), 1)
        self.assertEqual(self.table.leapIndicator(LEAP - 1), 1)
        self.assertEqual(self.table.leapIndicator(LEAP), 0)

    def test_kernelLastDay(self) -> None:
        """
        The kernel is armed within the last day only (it inserts the
        second at the end of the UTC day it is armed on).
        """
        self.assertEqual(self.table.kernelLeap(utc(2026, 12, 30, 23)), 0)
        self.assertEqual(self.table.kernelLeap(utc(2026, 12, 31, 0, 0, 1)), 1)
        self.assertEqual(self.table.kernelLeap(LEAP + 1), 0)

    def test_expiry(self) -> None:
        """
        An expired file, and one expiring within 30 days, are warned about.
        """
        self.assertIn("expired on 2027-06-28", expiryWarning(self.table, utc(2027, 7, 1)) or "")
        self.assertIn("expires on 2027-06-28", expiryWarning(self.table, utc(2027, 6, 10)) or "")
        self.assertIsNone(expiryWarning(self.table, utc(2027, 1, 10)))


class DaemonTests(SynchronousTestCase):
    """
    The daemon with a C{leapfile}.
    """

    def daemon(self, expires: float, now: float, entries: list[tuple[float, int]] = ENTRIES,
               extra: str = "server 127.127.1.0\n") -> NTPDaemon:
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(leapFileText(expires, entries))
        configuration = config.parseString(f"leapfile {path}\n{extra}", "t.conf")
        self.clock = FakeClock(int(now * 1e9))
        self.reactor = MemoryReactorClock()
        daemon = NTPDaemon(
            configuration, self.clock, self.reactor, PacketCounters(), ModeTable(),
            enabledPlugins(loadModePlugins(), configuration),
        )
        self.path = path
        return daemon

    def advance(self, daemon: NTPDaemon, seconds: float, step: float = 1.0) -> None:
        for _ in range(int(seconds / step)):
            self.clock.time += int(step * 1e9)
            self.reactor.advance(step)

    def logged(self) -> None:
        """Keep the log events from now on (see L{lines})."""
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self._events = events

    def lines(self) -> list[str]:
        from twisted.logger import formatEvent

        return [formatEvent(e) for e in self._events]

    def test_expiredWarnedAtStart(self) -> None:
        """
        A leap seconds file past its expiry gives a warning at start-up.
        """
        self.logged()
        daemon = self.daemon(expires=utc(2026, 6, 28), now=utc(2026, 12, 6))
        daemon.start()
        self.addCleanup(daemon.stop)
        self.assertTrue(any("expired on 2026-06-28" in line for line in self.lines()),
                        self.lines())

    def test_announcedAndArmed(self) -> None:
        """
        Synchronized (to the LOCAL clock) in December 2026, the system
        announces the leap second of the file; the clock is armed on
        2026-12-31 only, and disarmed after the leap second.
        """
        daemon = self.daemon(expires=utc(2027, 6, 28), now=utc(2026, 12, 30, 23, 59, 50))
        daemon.start()
        self.addCleanup(daemon.stop)
        self.advance(daemon, 5)
        self.assertEqual(daemon.engine.system.leap, 1)
        self.assertEqual([a for a in self.clock.actions if a[0] == "leap"], [])
        self.advance(daemon, 10)
        self.assertEqual([a for a in self.clock.actions if a[0] == "leap"], [("leap", 1)])
        self.clock.time = int((LEAP - 2) * 1e9)
        self.advance(daemon, 4)
        self.assertEqual([a for a in self.clock.actions if a[0] == "leap"],
                         [("leap", 1), ("leap", 0)])

    def test_badFileRefused(self) -> None:
        """
        A leap seconds file that cannot be used is refused when the daemon
        is built.
        """
        configuration = config.parseString("leapfile /nonexistent/leap.list\n", "t.conf")
        e = self.assertRaises(
            LeapFileError, NTPDaemon, configuration, FakeClock(), MemoryReactorClock(),
            PacketCounters(), ModeTable(), [],
        )
        self.assertIn("/nonexistent/leap.list", str(e))

    def test_reloadedWhenChanged(self) -> None:
        """
        A changed file is read again within a minute; a broken one is
        reported and the one in use kept.
        """
        daemon = self.daemon(expires=utc(2027, 6, 28), now=utc(2026, 6, 1))
        daemon.start()
        self.addCleanup(daemon.stop)
        with open(self.path, "w") as f:
            f.write(leapFileText(utc(2027, 12, 28), ENTRIES))
        os.utime(self.path, (1, 1))
        self.advance(daemon, 61)
        assert daemon.leapTable is not None
        self.assertEqual(daemon.leapTable.expires, utc(2027, 12, 28))
        with open(self.path, "w") as f:
            f.write("garbage\n")
        os.utime(self.path, (2, 2))
        self.advance(daemon, 61)
        self.assertEqual(daemon.leapTable.expires, utc(2027, 12, 28))

    def test_ntpqVariables(self) -> None:
        """
        C{ntpq rv} has C{tai}, C{leapsec} and C{expire} (ntpd's names and
        formats) with a leap seconds file, after the default variables.
        """
        daemon = self.daemon(expires=utc(2027, 6, 28), now=utc(2026, 12, 6))
        daemon.start()
        self.addCleanup(daemon.stop)
        items = daemon.control.variables.systemItems([])
        self.assertEqual(
            items[-3:],
            [("tai", "37"), ("leapsec", "201701010000"), ("expire", "202706280000")],
        )


class SmearConfigurationTests(SynchronousTestCase):
    """
    C{leapsmearinterval SECONDS}.
    """

    def test_parsed(self) -> None:
        """
        The interval is kept; a negative or too long one is refused with
        the line.
        """
        parsed = config.parseString("leapsmearinterval 7200\n", "t.conf")
        self.assertEqual(parsed.leapSmearInterval.value, 7200)  # type: ignore[union-attr]
        for bad in ("-1", "200000", "x"):
            e = self.assertRaises(
                config.ConfigError, config.parseString, f"leapsmearinterval {bad}\n", "t.conf"
            )
            self.assertTrue(str(e).startswith("t.conf:1: "), str(e))

    def test_noSmearServesTheEngine(self) -> None:
        """
        Without C{leapsmearinterval} the served system variables are the
        engine's, unsmeared.
        """
        configuration = config.parseString("server 192.0.2.1\n", "t.conf")
        daemon = NTPDaemon(
            configuration, FakeClock(), MemoryReactorClock(), PacketCounters(), ModeTable(), []
        )
        self.assertIs(daemon.system(), daemon.engine.system)
        self.assertEqual(daemon.system().smearNs, 0)
