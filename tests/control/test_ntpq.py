# -*- test-case-name: tests.control.test_ntpq -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.control.ntpq}: C{ntpservice-q}, its reports in
ntpq's formats, and its commands against our daemon over loopback.
"""

from __future__ import annotations

import io
import os
import re

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.auth.keys import KeyRing, formatKeysFile
from ntpservice.control import ntpq
from ntpservice.control.client import MRUEntry
from ntpservice.core import control as K
from ntpservice.core import status as S
from ntpservice.core.timestamps import NTPTimestamp
from tests.control.helpers import LoopbackServer, daemonResponder
from tests.control.test_mode6 import BASE, KEY, T0, localID, makeDaemon

NOW = 1_790_000_000.0


def stamp(seconds: float) -> str:
    return K.formatTimestamp(K.secondsToTimestamp(seconds))


SERVER_VARIABLES = [
    ("srcadr", "192.0.2.1"),
    ("srcport", "123"),
    ("hmode", "3"),
    ("stratum", "2"),
    ("ppoll", "6"),
    ("hpoll", "6"),
    ("refid", "192.0.2.254"),
    ("reftime", stamp(NOW - 100)),
    ("rec", stamp(NOW - 37)),
    ("reach", "0x3f"),
    ("delay", "0.250000"),
    ("offset", "-0.012345"),
    ("jitter", "0.003210"),
]


class FormatTests(SynchronousTestCase):
    """
    The reports look like ntpq's, character for character.
    """

    def test_peersHeader(self) -> None:
        """
        The header and rule of ntpq -p on an 80-column output.
        """
        self.assertEqual(
            ntpq.peersHeader(),
            "     remote           refid      st t when poll reach   delay   offset   jitter\n"
            + "=" * 79,
        )

    def test_serverLine(self) -> None:
        """
        A unicast server, system peer: tally *, type u, when from rec,
        reach in octal, 6-decimal values with four decimals.
        """
        status = K.peerStatus(configured=True, authEnabled=False, authentic=False,
                              reachable=True, selection=S.SELECT_SYSPEER)
        self.assertEqual(
            ntpq.peerLine(status, SERVER_VARIABLES, NOW),
            "*192.0.2.1       192.0.2.254      2 u   37   64   77   0.2500  -0.0123   0.0032",
        )

    def test_localClockLine(self) -> None:
        """
        The LOCAL clock: named by srchost, type l, refid in dots.
        """
        variables = [
            ("srcadr", "127.127.1.0"), ("hmode", "3"), ("stratum", "10"), ("ppoll", "6"),
            ("hpoll", "6"), ("refid", "LOCL"), ("rec", stamp(NOW - 3)), ("reach", "0x1"),
            ("delay", "0.000000"), ("offset", "0.000000"), ("jitter", "0.000000"),
            ("srchost", "LOCAL(0)"),
        ]
        self.assertEqual(
            ntpq.peerLine(0x9000, variables, NOW),
            " LOCAL(0)        .LOCL.          10 l    3   64    1   0.0000   0.0000   0.0000",
        )

    def test_poolLine(self) -> None:
        """
        A pool: its name, refid .POOL., type p, never heard: when is -.
        """
        variables = [
            ("srcadr", "0.0.0.0"), ("hmode", "3"), ("stratum", "16"), ("ppoll", "10"),
            ("hpoll", "6"), ("refid", "POOL"), ("reftime", stamp(0)), ("rec", "0x00000000.00000000"),
            ("reach", "0x0"), ("delay", "0.000"), ("offset", "0.000"), ("jitter", "0.000"),
            ("srchost", "pool.ntp.org"),
        ]
        self.assertEqual(
            ntpq.peerLine(0x8000, variables, NOW),
            " pool.ntp.org    .POOL.          16 p    -   64    0    0.000    0.000    0.000",
        )

    def test_types(self) -> None:
        """
        The t column from hmode and the other variables.
        """
        cases = [
            ({"hmode": "1", "srcadr": "192.0.2.1"}, "s"),
            ({"hmode": "2", "srcadr": "192.0.2.1"}, "S"),
            ({"hmode": "5", "srcadr": "192.0.2.255"}, "B"),
            ({"hmode": "5", "srcadr": "224.0.1.1"}, "M"),
            ({"hmode": "6", "srcadr": "192.0.2.1"}, "b"),
            ({"hmode": "6", "srcadr": "192.0.2.1", "dstadr": "192.0.2.255"}, "b"),
            ({"hmode": "6", "srcadr": "192.0.2.1", "dstadr": "224.0.1.1"}, "m"),
            ({"hmode": "6", "srcadr": "2001:db8::1", "dstadr": "ff05::101"}, "m"),
            ({"hmode": "3", "srcadr": "224.0.1.1"}, "a"),
            ({"hmode": "3", "srcadr": "192.0.2.1"}, "u"),
            ({"hmode": "0", "srcadr": "192.0.2.1"}, "?"),
        ]
        for variables, expected in cases:
            self.assertEqual(ntpq.peerType(variables), expected, variables)

    def test_intervals(self) -> None:
        """
        when and poll: seconds to 2048, then minutes, hours, days.
        """
        self.assertEqual(
            [ntpq.prettyInterval(s) for s in (0, -5, 64, 2048, 3000, 7200 * 3, 86400 * 5, 1.5)],
            ["-", "-", "64", "2048", "50m", "6h", "5d", "-"],
        )

    def test_fixed8(self) -> None:
        """
        Numbers in 8 characters, fewer decimals as they grow.
        """
        self.assertEqual(ntpq.fixed8(0.25, 3), "   0.250")
        self.assertEqual(ntpq.fixed8(12345.678, 3), "12345.68")
        self.assertEqual(ntpq.fixed8(-1234.5, 4), "-1234.50")
        self.assertEqual(ntpq.fixed8(123456789.0, 3), "123456789")
        self.assertEqual(ntpq.fixed8(".", 3), "       .")

    def test_associations(self) -> None:
        """
        ntpq -c as: header, rule, one row per configured or reachable
        association.
        """
        words = [
            (11, 0x963A),
            (12, 0x8011),
            (13, 0x0000),
            (14, 0x1424),
        ]
        self.assertEqual(
            ntpq.associationsReport(words),
            "\n"
            "ind assid status  conf reach auth condition  last_event cnt\n"
            "===========================================================\n"
            "  1    11  963a   yes   yes  none  sys.peer    sys_peer  3\n"
            "  2    12  8011   yes    no  none    reject    mobilize  1\n"
            "  4    14  1424    no   yes  none candidate   reachable  2",
        )

    def test_cookedVariables(self) -> None:
        """
        rv: timestamps as dates, leap in binary, reach in octal, flash by
        name, floats as Python shows them, strings in double quotes,
        wrapped under the width.
        """
        text = ntpq.cookVariables(
            [
                ("leap", "0"), ("stratum", "2"), ("rootdelay", "0.000"), ("refid", "LOCL"),
                ("reftime", "0xeeac95f8.78cd4644"), ("reach", "0x3f"), ("flash", "0x1400"),
                ("version", "ntpservice 1.0"),
                ("filtdelay", " 0.06 0.04 0.00"),
            ],
            NOW,
        )
        self.assertEqual(
            text,
            "leap=00, stratum=2, rootdelay=0.0, refid=LOCL,\n"
            "reftime=eeac95f8.78cd4644 2026-11-21T22:13:12.471Z, reach=077,\n"
            'flash=1400 peer_dist peer_unreach, version="ntpservice 1.0",\n'
            " filtdelay =0.06\t0.04\t0.00\n",
        )
        self.assertTrue(all(len(line) <= 78 for line in text.splitlines()))

    def test_statusDescriptions(self) -> None:
        """
        The status lines of rv.
        """
        self.assertEqual(
            ntpq.describeSystemStatus(0x0615), "leap_none, sync_ntp, 1 event, clock_sync"
        )
        self.assertEqual(
            ntpq.describePeerStatus(0x963A), "conf, reach, sel_sys.peer, 3 events, sys_peer"
        )
        self.assertEqual(ntpq.describePeerStatus(0x0000), ", sel_reject, no events")

    def test_mruLine(self) -> None:
        """
        One mrulist row: last seen, average interval, restriction bits and
        code, mode, version, count, score, drops, port, address.
        """
        entry = MRUEntry(
            address="192.0.2.5",
            port=40123,
            last=NTPTimestamp.fromUnixNanoseconds(int((NOW - 12) * 1e9)),
            first=NTPTimestamp.fromUnixNanoseconds(int((NOW - 112) * 1e9)),
            count=11,
            mode=3,
            version=4,
            restrictions=0x20,
            score=12.0,
            dropped=2,
        )
        self.assertEqual(
            ntpq.mruLine(entry, NOW),
            "     12     10   20 L 3 4     11   12.000      2 40123 192.0.2.5",
        )

    def test_prettyDate(self) -> None:
        """
        A timestamp in hex and as a UTC date with milliseconds.
        """
        self.assertEqual(
            ntpq.prettyDate("0xeeac95f8.80000000", NOW),
            "eeac95f8.80000000 2026-11-21T22:13:12.500Z",
        )


class CommandTests(SynchronousTestCase):
    """
    ntpservice-q against our daemon's control handler on loopback.
    """

    def setUp(self) -> None:
        self.daemon = makeDaemon(BASE + "enable monitor\n")
        self.server = LoopbackServer(daemonResponder(self.daemon))
        self.addCleanup(self.server.close)

    def run_(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        status = ntpq.main(["-P", str(self.server.port), "-t", "2", *argv, "127.0.0.1"], out, err)
        return status, out.getvalue(), err.getvalue()

    def test_peers(self) -> None:
        """
        -p lists every association: the LOCAL clock (l), the pool (p), the
        servers (u).
        """
        status, out, err = self.run_("-n", "-p")
        self.assertEqual((status, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(lines[0], ntpq.peersHeader().splitlines()[0])
        rows = {line[1:17].strip(): line for line in lines[2:]}
        # Names are cut at 15 characters, as ntpq cuts them.
        self.assertEqual(set(rows), {"LOCAL(0)", "pool.example.or", "192.0.2.1", "192.0.2.2"})
        self.assertRegex(rows["LOCAL(0)"], r"^\*LOCAL\(0\)\s+\.LOCL\.\s+3 l ")
        self.assertRegex(rows["pool.example.or"], r"\.POOL\.\s+16 p ")
        self.assertRegex(rows["192.0.2.1"], r"\.INIT\.\s+16 u ")

    def test_rv(self) -> None:
        """
        -c rv prints the status line and the system variables.
        """
        status, out, err = self.run_("-c", "rv")
        self.assertEqual(status, 0, err)
        self.assertTrue(out.startswith("associd=0 status=0"))
        self.assertIn("leap_none, sync_local", out.splitlines()[0])
        self.assertIn("stratum=4", out)
        self.assertIn('version="ntpservice', out)

    def test_rvAssociation(self) -> None:
        """
        -c 'rv ASSOCID' prints one association's variables; with names,
        only those and no status line.
        """
        local = localID(self.daemon)
        status, out, err = self.run_("-c", f"rv {local}")
        self.assertEqual(status, 0, err)
        self.assertTrue(out.startswith(f"associd={local} status="))
        self.assertIn("srcadr=127.127.1.0", out)
        status, out, err = self.run_("-c", f"rv {local} stratum,refid")
        self.assertEqual(out, "stratum=3, refid=LOCL\n")

    def test_clockvar(self) -> None:
        """
        -c 'cv ASSOCID' prints the LOCAL clock's variables with the clock
        status line.
        """
        local = localID(self.daemon)
        status, out, err = self.run_("-c", f"cv {local}")
        self.assertEqual(status, 0, err)
        self.assertEqual(out.splitlines()[0], f"associd={local} status=0000 no events, clk_unspec,")
        self.assertIn('name="LOCAL(0)"', out)

    def test_clockvarSystem(self) -> None:
        """
        -c cv without an association asks for association 0, which the
        server answers with its reference clock (the LOCAL clock here, as
        ntpd answers with the system peer's clock or its first one); a
        server without one: a message saying so, and status 1.
        """
        status, out, err = self.run_("-c", "cv")
        self.assertEqual(status, 0, err)
        self.assertEqual(out.splitlines()[0], "associd=0 status=0000 no events, clk_unspec,")
        self.assertIn('name="LOCAL(0)"', out)
        daemon = makeDaemon(
            BASE.replace("server 127.127.1.0\n", "").replace("fudge 127.127.1.0 stratum 3\n", "")
        )
        server = LoopbackServer(daemonResponder(daemon))
        self.addCleanup(server.close)
        self.server = server
        status, out, err = self.run_("-c", "cv")
        self.assertEqual(
            (status, out, err),
            (1, "", "***The server has no reference clock "
                    "(clockvar shows a reference clock's variables)\n"),
        )

    def test_as(self) -> None:
        """
        -c as prints the association table.
        """
        status, out, err = self.run_("-c", "as")
        self.assertEqual(status, 0, err)
        rows = out.splitlines()[3:]
        self.assertEqual(len(rows), 4)
        self.assertTrue(any("sys.peer" in row for row in rows))

    def test_mrulist(self) -> None:
        """
        -c mrulist prints recent clients, newest first.
        """
        for i in range(3):
            self.daemon.mru.observe(f"192.0.2.{i + 1}", 123, 3, 4, T0 / 1e9 - 10 + i)
        status, out, err = self.run_("-n", "-c", "mrulist")
        self.assertEqual(status, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[1], ntpq.MRU_HEADER)
        self.assertEqual([line.split()[-1] for line in lines[3:6]],
                         ["192.0.2.3", "192.0.2.2", "192.0.2.1"])
        self.assertTrue(lines[-1].startswith("# Collected 3 slots"))

    def test_config(self) -> None:
        """
        -k KEYS -a 1 -c ':config ...' configures; without a key it fails.
        """
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(formatKeysFile(KeyRing([KEY])))
        status, out, err = self.run_("-k", path, "-a", "1", "-c", ":config server 192.0.2.99")
        self.assertEqual((status, out, err), (0, "Config Succeeded\n", ""))
        self.assertIsNotNone(self.daemon.engine.find("192.0.2.99", 123))
        status, out, err = self.run_("-c", ":config server 192.0.2.98")
        self.assertEqual((status, err), (1, "***Invalid key identifier\n"))

    def test_serverError(self) -> None:
        """
        A server error is printed as ntpq prints it, and the status is 1.
        """
        status, out, err = self.run_("-c", "rv 999")
        self.assertEqual((status, err), (1, "***Server error code BADASSOC\n"))

    def test_unknownCommand(self) -> None:
        """
        An unknown command is reported.
        """
        status, out, err = self.run_("-c", "frobnicate")
        self.assertEqual((status, err), (1, "***Command `frobnicate' unknown\n"))

    def test_noCommand(self) -> None:
        """
        Without -p or -c there is nothing to do: status 2.
        """
        out, err = io.StringIO(), io.StringIO()
        self.assertEqual(ntpq.main(["127.0.0.1"], out, err), 2)

    def test_version(self) -> None:
        """
        -V prints the version.
        """
        out = io.StringIO()
        self.assertEqual(ntpq.main(["-V"], out, io.StringIO()), 0)
        self.assertRegex(out.getvalue(), r"^ntpservice-q \S+\n$")
