# -*- test-case-name: tests.refclocks.test_local -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.refclocks.local}: ntpd's LOCAL clock.
"""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.core.packet import LEAP_NONE
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.refclocks.local import (
    DISPERSION,
    UPDATE_INTERVAL,
    LocalClock,
    LocalClockError,
    findLocalClock,
)
from ntpservice.service import makeNTPService

NOW = 1_790_000_000 * 10**9


def find(text: str) -> LocalClock | None:
    c = config.parseString(text, "t.conf")
    return findLocalClock(c.associations, c.refclocks)


class FindLocalClockTests(SynchronousTestCase):
    """
    L{findLocalClock} reads C{server 127.127.1.u} and its C{fudge} line.
    """

    def test_none(self) -> None:
        """
        No LOCAL clock configured: C{None}.
        """
        self.assertIsNone(find("server 192.0.2.1\nserver 127.127.20.0\n"))

    def test_default(self) -> None:
        """
        The driver stratum defaults to 5, the refid to LOCL.
        """
        self.assertEqual(find("server 127.127.1.0\n"), LocalClock(0, 5, b"LOCL"))

    def test_fudge(self) -> None:
        """
        C{fudge stratum} and C{fudge refid} are honoured; time and flag
        options are accepted.
        """
        self.assertEqual(
            find(
                "server 127.127.1.1\n"
                "fudge 127.127.1.1 stratum 10 refid XYZ time1 0.1 flag1 1\n"
            ),
            LocalClock(1, 10, b"XYZ\0"),
        )

    def test_lowestStratumWins(self) -> None:
        """
        Of several units, the one with the lowest stratum is used.
        """
        clock = find(
            "server 127.127.1.0\nserver 127.127.1.1\n"
            "fudge 127.127.1.0 stratum 12\nfudge 127.127.1.1 stratum 8\n"
        )
        self.assertEqual(clock, LocalClock(1, 8, b"LOCL"))

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
        ):
            e = self.assertRaises(LocalClockError, find, "server 127.127.1.0\n" + text)
            self.assertTrue(str(e).startswith("t.conf:2: "), str(e))
            self.assertIn(words, str(e))


class LocalClockTests(SynchronousTestCase):
    """
    A daemon with the LOCAL clock serves one stratum below the driver's.
    """

    def test_systemVariables(self) -> None:
        """
        Synchronized, stratum + 1, refid 127.127.1.u (as ntpd's clients see
        a LOCAL clock above stratum 0), reference time now.
        """
        system = LocalClock(0, 10).systemVariables(NOW, -22)
        self.assertEqual(system.leap, LEAP_NONE)
        self.assertEqual(system.stratum, 11)
        self.assertEqual(system.refid, bytes((127, 127, 1, 0)))
        self.assertEqual(system.precision, -22)
        self.assertEqual(system.rootDispersion, DISPERSION)
        self.assertEqual(system.reftime, NTPTimestamp.fromUnixNanoseconds(NOW))
        self.assertTrue(system.synchronized)

    def test_stratumZeroNamesItself(self) -> None:
        """
        At driver stratum 0 (a stratum 1 server) the refid is the clock's
        own: LOCL, or the fudge refid.
        """
        self.assertEqual(LocalClock(0, 0).systemVariables(NOW, -22).refid, b"LOCL")
        self.assertEqual(
            LocalClock(0, 0, b"GPS\0").systemVariables(NOW, -22).refid, b"GPS\0"
        )

    def test_serviceUpdates(self) -> None:
        """
        The service is synchronized to the LOCAL clock from the start, and
        refreshes the reference time every update interval.
        """
        reactor = MemoryReactorClock()
        service = makeNTPService(
            config.parseString("server 127.127.1.0\n", "t.conf"),
            clockAdjust=False,
            interfaces=("127.0.0.1",),
            port=0,
            reactor=reactor,
        )
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(service.system.stratum, 6)
        first = service.system.reftime
        reactor.advance(UPDATE_INTERVAL)
        self.assertNotEqual(service.system.reftime, first)
