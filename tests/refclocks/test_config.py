# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.refclocks.refClockLines}: reference clocks as ntpd
writes them (C{server 127.127.t.u} + C{fudge}) and as NTPsec does
(C{refclock NAME unit N ...}).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.refclocks import (
    RefClockConfigError,
    RefClockLine,
    byDriverType,
    loadRefClockPlugins,
    refClockLines,
)


def lines(text: str) -> list[RefClockLine]:
    return refClockLines(config.parseString(text, "t.conf"))


class SyntaxTests(SynchronousTestCase):
    """
    Both syntaxes give the same clock.
    """

    def test_ntpsec(self) -> None:
        """
        C{refclock shm unit 2 refid GPS prefer minpoll 4 time1 0.1 flag1
        1}: the SHM driver, unit 2, its options and association flags.
        """
        [line] = lines("refclock shm unit 2 refid GPS prefer minpoll 4 time1 0.1 flag1 1\n")
        self.assertEqual(
            (line.address, line.name, line.refid, line.stratum, line.prefer, line.minPollLog2),
            ("127.127.28.2", "SHM(2)", b"GPS\0", 0, True, 4),
        )
        self.assertEqual((line.options.time1, line.options.flag(1)), (0.1, True))
        self.assertEqual(line.options.source, "t.conf:1")

    def test_classic(self) -> None:
        """
        C{server 127.127.28.0 prefer} with C{fudge 127.127.28.0 refid GPS
        stratum 1 time2 0.5}: the same driver, the fudge options applied.
        """
        [line] = lines(
            "server 127.127.28.0 prefer noselect\n"
            "fudge 127.127.28.0 refid GPS stratum 1 time2 0.5\n"
        )
        self.assertEqual(
            (line.address, line.refid, line.stratum, line.prefer, line.noselect),
            ("127.127.28.0", b"GPS\0", 1, True, True),
        )
        self.assertEqual(line.options.time2, 0.5)

    def test_fudgeAfterRefclock(self) -> None:
        """
        A C{fudge} line names a C{refclock} line's clock by its address.
        """
        [line] = lines("refclock shm unit 1\nfudge 127.127.28.1 refid PPS\n")
        self.assertEqual(line.refid, b"PPS\0")

    def test_pathAndMode(self) -> None:
        """
        NTPsec's C{path}, C{ppspath}, C{baud} and C{mode} are kept for the
        driver.
        """
        [line] = lines("refclock shm unit 3 mode 1 path /dev/x ppspath /dev/pps0 baud 9600\n")
        self.assertEqual(
            (line.options.mode, line.options.path, line.options.ppspath, line.options.baud),
            (1, "/dev/x", "/dev/pps0", 9600),
        )

    def test_order(self) -> None:
        """
        The clocks come in the order of their lines.
        """
        found = lines("refclock shm unit 4\nserver 127.127.1.0\n")
        self.assertEqual([l.address for l in found], ["127.127.28.4", "127.127.1.0"])


class RefusedTests(SynchronousTestCase):
    """
    What cannot be honoured is refused with C{FILE:LINE}.
    """

    def assertRefused(self, text: str, words: str, line: int = 1) -> None:
        e = self.assertRaises(RefClockConfigError, lines, text)
        self.assertTrue(str(e).startswith(f"t.conf:{line}: "), str(e))
        self.assertIn(words, str(e))

    def test_unknownDriver(self) -> None:
        """
        A driver name or type no plugin provides, naming those installed.
        """
        self.assertRefused("refclock gizmo unit 0\n", "no such reference clock driver")
        self.assertRefused("refclock gizmo unit 0\n", "local")
        self.assertRefused("server 127.127.77.0\n", "no reference clock driver of type 77")

    def test_unknownOption(self) -> None:
        """
        An option C{refclock} does not know, or a bad value.
        """
        self.assertRefused("refclock shm unit 0 colour blue\n", "unknown option 'colour'")
        self.assertRefused("refclock shm unit 999\n", "unit must be between 0 and 255")
        self.assertRefused("refclock shm unit 0 stratum 16\n", "between 0 and 15")
        self.assertRefused("refclock shm unit 0 flag1 2\n", "flag1 must be 0 or 1")
        self.assertRefused("refclock shm unit 0 refid\n", "needs a value")

    def test_twice(self) -> None:
        """
        One clock configured twice (in either syntax).
        """
        self.assertRefused(
            "server 127.127.28.0\nrefclock shm unit 0\n", "configured already", line=2
        )

    def test_installedDrivers(self) -> None:
        """
        The built-in drivers: LOCAL (1), NMEA (20), PPS (22), SHM (28) and
        SOCK (47).
        """
        drivers = byDriverType(loadRefClockPlugins())
        self.assertEqual(
            [(t, drivers[t].name) for t in sorted(drivers)],
            [(1, "local"), (20, "nmea"), (22, "pps"), (28, "shm"), (47, "sock")],
        )
