# -*- test-case-name: tests.interop.test_leapfile -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Issue 15: NTPsec's C{ntpq -c rv}, unchanged, against our daemon with a
C{leapfile}: the system variables C{leap}, C{tai}, C{leapsec} and
C{expire} as ntpq prints them (ntpd's C{YYYYMMDDHHMM} for the last two),
and the leap second announced to a client (ntpdig) during its last month;
the file read again on SIGHUP.

Our daemon runs on port 123 in a network namespace of its own, synchronized
to its LOCAL clock (stratum 1), clock adjustment off, without CAP_SYS_TIME.
The expected values are read from the file by this test (not by the
daemon's parser).
"""

from __future__ import annotations

import calendar
import datetime
import os
import re
import signal
import time

import pytest

from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers
from tests.test_leapseconds import leapFileText, utc

pytestmark = [pytest.mark.interop, pytest.mark.netns]

DEBIAN_FILE = "/usr/share/zoneinfo/leap-seconds.list"
NTP_UNIX_OFFSET = 2_208_988_800
SELECTED = re.compile(r"Selected 127\.127\.1\.0 \(association \d+\)")


def ntpqStamp(unix: float) -> str:
    """ntpd's C{YYYYMMDDHHMM} of a Unix time."""
    return datetime.datetime.fromtimestamp(unix, datetime.timezone.utc).strftime("%Y%m%d%H%M")


def fileValues(path: str) -> tuple[int, str, str]:
    """
    C{(tai, leapsec, expire)} a leap seconds file gives now, read here with
    no help from the daemon's parser: the last entry not in the future and
    the C{#@} line.
    """
    now = time.time()
    tai = leapsec = expire = None
    with open(path) as f:
        for line in f:
            if line.startswith("#@"):
                expire = int(line.split()[1]) - NTP_UNIX_OFFSET
            elif line.strip() and not line.startswith("#"):
                when, offset = (int(field) for field in line.split()[:2])
                if when - NTP_UNIX_OFFSET <= now:
                    tai, leapsec = offset, when - NTP_UNIX_OFFSET
    assert tai is not None and leapsec is not None and expire is not None, path
    return tai, ntpqStamp(leapsec), ntpqStamp(expire)


def rvVariables(output: str) -> dict[str, str]:
    """C{name=value} pairs of ntpq's C{rv} output (values unquoted)."""
    variables = {}
    for item in re.split(r",\s*", output.replace("\n", " ")):
        name, sep, value = item.strip().partition("=")
        if sep:
            variables[name] = value.strip().strip('"')
    return variables


class LeapfileRvTests(SynchronousTestCase):
    """
    ntpq -c rv against our daemon with a leap seconds file.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        self.ntpq = peers.requireBinary("ntpq")
        peers.requireBinary("ntpdig")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.netns = peers.NetNamespace()
        self.netns.create()
        self.addCleanup(self.netns.close)

    def startWith(self, leapfile: str) -> peers.DaemonProcess:
        ours = peers.startNtpservice(
            self.workdir,
            "server 127.127.1.0\n"
            "fudge 127.127.1.0 stratum 0\n"
            f"leapfile {leapfile}\n"
            f"driftfile {self.workdir}/ntp.drift\n",
            port=123,
            netns=self.netns,
        )
        self.addCleanup(ours.stop)
        ours.waitForOutput(SELECTED, timeout=60)
        ours.assertNoSysTime()
        return ours

    def rv(self) -> tuple[str, dict[str, str]]:
        result = peers.runCommand([self.ntpq, "-n", "-c", "rv", "127.0.0.1"], netns=self.netns)
        return result.stdout, rvVariables(result.stdout)

    def test_debianFile(self) -> None:
        """
        With Debian's leap-seconds.list (or, without it, a test-written
        file with its hash), ntpq -c rv shows leap=00, tai, leapsec and
        expire as the file gives them now: TAI - UTC, the last leap second
        and the expiry, each C{YYYYMMDDHHMM}.
        """
        path = DEBIAN_FILE
        if not os.path.exists(path):
            path = os.path.join(self.workdir, "leap-seconds.list")
            with open(path, "w") as f:
                f.write(leapFileText(time.time() + 180 * 86400,
                                     [(utc(1972, 1, 1), 10), (utc(2017, 1, 1), 37)]))
        tai, leapsec, expire = fileValues(path)
        ours = self.startWith(path)
        output, variables = self.rv()
        self.assertEqual(
            {name: variables.get(name) for name in ("leap", "tai", "leapsec", "expire")},
            {"leap": "00", "tai": str(tai), "leapsec": leapsec, "expire": expire},
            output,
        )
        self.assertRegex(output.splitlines()[0], r"^associd=0 status=0[0-9a-f]{3} leap_none, ")
        expires = datetime.datetime.strptime(expire, "%Y%m%d%H%M").replace(
            tzinfo=datetime.timezone.utc
        )
        if expires.timestamp() < time.time():
            # Debian 12's file expired on 2026-06-28: the warning at start.
            self.assertIn(f"leapfile {path} expired on {expires:%Y-%m-%d}", ours.output())

    def nextMonth(self) -> float:
        """The first second of next month (UTC)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        if now.day == calendar.monthrange(now.year, now.month)[1] and now.hour == 23:
            peers.unavailable("too close to the end of the month")
        following = (now.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
        return float(calendar.timegm((following.year, following.month, 1, 0, 0, 0)))

    def test_reloadedOnHangup(self) -> None:
        """
        SIGHUP reads the file again at once (its modification time put back,
        so that only the signal can tell): ntpq -c rv shows the new file's
        expire.
        """
        leap = self.nextMonth()
        path = os.path.join(self.workdir, "leap-seconds.list")
        entries = [(utc(1972, 1, 1), 10), (utc(2017, 1, 1), 37), (leap, 38)]
        with open(path, "w") as f:
            f.write(leapFileText(leap + 100 * 86400, entries))
        before = os.stat(path)
        ours = self.startWith(path)
        renewed = leap + 200 * 86400
        with open(path, "w") as f:
            f.write(leapFileText(renewed, entries))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        self.assertEqual(self.rv()[1]["expire"], ntpqStamp(leap + 100 * 86400))
        assert ours.pid is not None
        os.kill(ours.pid, signal.SIGHUP)
        day = datetime.datetime.fromtimestamp(renewed, datetime.timezone.utc)
        ours.waitForOutput(rf"Leap seconds file \S+ read: .*expires {day:%Y-%m-%d}", timeout=30)
        output, variables = self.rv()
        self.assertEqual(variables.get("expire"), ntpqStamp(renewed), output)

    def test_announced(self) -> None:
        """
        A file (hash checked) with a leap second at the end of this month:
        ntpq -c rv shows leap=01 and the status word's leap_add_sec, tai
        and leapsec the last leap second passed, expire the file's; a
        client (ntpdig) sees the leap indicator (ntpdig's add-leap) and stratum 1.
        """
        leap = self.nextMonth()
        expires = leap + 150 * 86400
        path = os.path.join(self.workdir, "leap-seconds.list")
        with open(path, "w") as f:
            f.write(leapFileText(expires, [(utc(1972, 1, 1), 10), (utc(2017, 1, 1), 37),
                                           (leap, 38)]))
        self.startWith(path)
        output, variables = self.rv()
        self.assertEqual(
            {name: variables.get(name) for name in ("leap", "tai", "leapsec", "expire")},
            {"leap": "01", "tai": "37", "leapsec": "201701010000", "expire": ntpqStamp(expires)},
            output,
        )
        self.assertRegex(output.splitlines()[0], r"^associd=0 status=4[0-9a-f]{3} leap_add_sec, ")
        [reply] = peers.runNtpdig("127.0.0.1", 1, netns=self.netns)
        self.assertEqual((reply["leap"], reply["stratum"]), ("add-leap", 1), reply)
