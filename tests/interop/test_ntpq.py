# -*- test-case-name: tests.interop.test_ntpq -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
NTPsec's C{ntpq}, unchanged, against our daemon: C{-p}, C{-c rv},
C{-c as}, C{-c mrulist} and an authenticated C{:config}; and our
C{ntpservice-q} printing the same.

ntpq only talks to port 123, so each test runs our daemon on port 123 in a
network namespace of its own, with four associations: the LOCAL clock, a
chronyd server in the same namespace (on another port), an unreachable
server and a pool whose name does not resolve. Clock adjustment is off and
no process holds CAP_SYS_TIME.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from typing import Any

import pytest

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.control import ntpq as ours
from tests.interop import peers

pytestmark = [pytest.mark.interop]

CHRONY_PORT = 11123
CHRONY_STRATUM = 3
LOCAL_STRATUM = 1
SHA1_KEY = "0123456789abcdef0123456789abcdef01234567"
SELECTED = re.compile(r"Selected 127\.0\.0\.1 \(association (?P<associd>\d+)\) as system peer")

ROW = re.compile(
    r"^(?P<tally>.)(?P<remote>.{15}) (?P<refid>.{15}) +(?P<st>\d+) (?P<t>.) +(?P<when>\S+)"
    r" +(?P<poll>\S+) +(?P<reach>\d+) +(?P<delay>\S+) +(?P<offset>\S+) +(?P<jitter>\S+)$"
)
STABLE_COLUMNS = ("tally", "remote", "refid", "st", "t", "poll", "reach")


def peerRows(output: str) -> dict[str, dict[str, str]]:
    """The rows of C{-p} output by remote, each column stripped."""
    rows = {}
    for line in output.splitlines()[2:]:
        match = ROW.match(line)
        assert match is not None, f"not a peers row: {line!r}"
        row = {k: v.strip() for k, v in match.groupdict().items()}
        rows[row["remote"]] = row
    return rows


class NtpqAgainstOurDaemonTests(SynchronousTestCase):
    """
    ntpq and ntpservice-q against our daemon, in a namespace.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        self.ntpq = peers.requireBinary("ntpq")
        peers.requireBinary("chronyd")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.keys = os.path.join(self.workdir, "ntp.keys")
        with open(self.keys, "w") as f:
            f.write(f"1 SHA1 {SHA1_KEY}\n2 MD5 tulip\n")
        os.chmod(self.keys, 0o600)
        self.namespace = peers.NetNamespace()
        self.namespace.create()
        self.addCleanup(self.namespace.close)
        chronyd = peers.startChronydServer(
            self.workdir, port=CHRONY_PORT, netns=self.namespace, stratum=CHRONY_STRATUM
        )
        self.addCleanup(chronyd.stop)
        config = (
            "server 127.127.1.0\n"
            f"fudge 127.127.1.0 stratum {LOCAL_STRATUM}\n"
            f"server 127.0.0.1 port {CHRONY_PORT} iburst\n"
            "server 192.0.2.1 iburst\n"
            "pool pool.ntpservice.invalid iburst\n"
            f"keys {self.keys}\n"
            "trustedkey 1 2\n"
            "controlkey 1\n"
            f"driftfile {self.workdir}/ntp.drift\n"
        )
        self.daemon = peers.startNtpservice(
            self.workdir, config, port=123, netns=self.namespace
        )
        self.addCleanup(self.daemon.stop)
        match = self.daemon.waitForOutput(SELECTED, timeout=30)
        self.chronyID = int(match.group("associd"))
        self.daemon.assertNoSysTime()

    def run_ntpq(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = peers.runCommand(
            [self.ntpq, "-n", *args, "127.0.0.1"], netns=self.namespace, check=False
        )
        self.record("ntpq", args, result)
        if check:
            self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def run_ours(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (peers.REPOSITORY_ROOT, env.get("PYTHONPATH", "")) if p
        )
        result = peers.runCommand(
            [sys.executable, "-m", "ntpservice.control.ntpq", "-n", *args, "127.0.0.1"],
            netns=self.namespace, check=False, env=env,
        )
        self.record("ntpservice-q", args, result)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def record(self, program: str, args: tuple[str, ...], result: Any) -> None:
        """Keep every transcript in the work directory, for the report."""
        with open(os.path.join(self.workdir, "transcript.txt"), "a") as f:
            f.write(f"$ {program} -n {' '.join(args)} 127.0.0.1\n{result.stdout}{result.stderr}\n")

    def test_peers(self) -> None:
        """
        ntpq -p shows the four associations with their true types and
        values: the chronyd server is the system peer (*, u, stratum 3),
        the LOCAL clock is type l at its fudge stratum with refid .LOCL.,
        the unreachable server is .INIT. at stratum 16, the pool is type p
        with refid .POOL.; ntpservice-q prints the same rows.
        """
        for attempt in range(3):
            theirs = peerRows(self.run_ntpq("-p").stdout)
            mine = peerRows(self.run_ours("-p").stdout)
            if all(
                {k: theirs[r][k] for k in STABLE_COLUMNS} == {k: mine[r][k] for k in STABLE_COLUMNS}
                for r in theirs
            ) and set(theirs) == set(mine):
                break
            time.sleep(1)  # a poll landed between the two; try again
        self.assertEqual(set(theirs), {"LOCAL(0)", "127.0.0.1", "192.0.2.1", "pool.ntpservice"})
        for remote in theirs:
            self.assertEqual(
                {k: theirs[remote][k] for k in STABLE_COLUMNS},
                {k: mine[remote][k] for k in STABLE_COLUMNS},
                remote,
            )
        chrony = theirs["127.0.0.1"]
        self.assertEqual(
            (chrony["tally"], chrony["t"], chrony["st"], chrony["refid"]),
            ("*", "u", str(CHRONY_STRATUM), "127.127.1.1"),
        )
        self.assertNotEqual(chrony["reach"], "0")
        self.assertLess(abs(float(chrony["offset"])), 1.0)
        local = theirs["LOCAL(0)"]
        self.assertEqual(
            (local["t"], local["st"], local["refid"], local["poll"]),
            ("l", str(LOCAL_STRATUM), ".LOCL.", "64"),
        )
        unreachable = theirs["192.0.2.1"]
        self.assertEqual(
            (unreachable["tally"], unreachable["t"], unreachable["st"], unreachable["refid"],
             unreachable["reach"], unreachable["when"]),
            ("", "u", "16", ".INIT.", "0", "-"),
        )
        pool = theirs["pool.ntpservice"]
        self.assertEqual((pool["t"], pool["st"], pool["refid"]), ("p", "16", ".POOL."))

    def test_rvAndAssociations(self) -> None:
        """
        ntpq -c rv shows the daemon synchronized to chronyd (stratum 4,
        refid 127.0.0.1, peer its association), ntpq -c as its association
        as sys.peer, ntpq -c 'rv ID' its variables; ntpservice-q prints the
        same.
        """
        rv = self.run_ntpq("-c", "rv").stdout
        self.assertRegex(rv.splitlines()[0], r"^associd=0 status=06[0-9a-f]{2} leap_none, sync_ntp, ")
        flat = rv.replace("\n", " ")
        self.assertIn(f"stratum={CHRONY_STRATUM + 1},", flat)
        self.assertIn("refid=127.0.0.1,", flat)
        self.assertIn(f"peer={self.chronyID},", flat)
        self.assertIn("leap=00,", flat)
        self.assertIn('version="ntpservice', flat)
        for name in ("rootdelay", "rootdisp", "reftime", "tc", "offset", "frequency",
                     "sys_jitter", "clk_jitter", "clock", "clk_wander", "precision"):
            self.assertIn(f"{name}=", flat)
        mine = self.run_ours("-c", "rv").stdout
        self.assertEqual(mine.splitlines()[0].split()[:3], rv.splitlines()[0].split()[:3])
        self.assertIn(f"peer={self.chronyID},", mine.replace("\n", " "))

        table = self.run_ntpq("-c", "as").stdout
        rows = {int(line.split()[1]): line for line in table.splitlines()[3:]}
        self.assertEqual(len(rows), 4)
        self.assertRegex(rows[self.chronyID], r"yes\s+yes\s+none\s+sys\.peer")
        self.assertEqual(self.run_ours("-c", "as").stdout.splitlines()[:3], table.splitlines()[:3])

        peer = self.run_ntpq("-c", f"rv {self.chronyID}").stdout.replace("\n", " ")
        for expected in ("srcadr=127.0.0.1,", f"srcport={CHRONY_PORT},", "hmode=3,",
                         f"stratum={CHRONY_STRATUM},", "pmode=4,", "flash=00 ok"):
            self.assertIn(expected, peer)
        for name in ("reach", "unreach", "hpoll", "ppoll", "keyid", "delay", "offset",
                     "dispersion", "jitter", "filtdelay", "filtoffset", "filtdisp", "dstadr"):
            self.assertIn(name, peer)

    def test_mrulist(self) -> None:
        """
        ntpq -c mrulist goes through the nonce handshake and lists the
        client that probed the daemon (version 4); ntpservice-q lists the
        same addresses.
        """
        output = self.run_ntpq("-c", "mrulist").stdout
        lines = output.splitlines()
        header = lines.index(ours.MRU_HEADER)
        rows = [line for line in lines[header + 2 :] if not line.startswith("#")]
        self.assertTrue(rows, output)
        fields = rows[0].split()
        # 127.0.0.1 is both the probing client (mode 3) and, once replies
        # are recorded too (as ntpd records them), the chronyd server
        # (mode 4): the entry shows its last packet.
        self.assertEqual((fields[-1], fields[5]), ("127.0.0.1", "4"))
        self.assertIn(fields[4], ("3", "4"))
        mine = self.run_ours("-c", "mrulist").stdout.splitlines()
        mineRows = [line for line in mine[mine.index(ours.MRU_HEADER) + 2 :]
                    if not line.startswith("#")]
        self.assertEqual([r.split()[-1] for r in mineRows], [r.split()[-1] for r in rows])

    def test_config(self) -> None:
        """
        An authenticated ntpq :config adds a server by address (at once)
        and by name (resolved without blocking), and unpeer removes one; a
        trusted key that is not the controlkey is refused.
        """
        auth = ("-k", self.keys, "-a", "1")
        result = self.run_ntpq(*auth, "-c", ":config server 192.0.2.7 iburst")
        self.assertEqual(result.stdout.strip(), "Config Succeeded")
        self.assertIn("192.0.2.7", peerRows(self.run_ntpq("-p").stdout))

        result = self.run_ntpq(*auth, "-c", f":config server localhost port {CHRONY_PORT + 1}")
        self.assertEqual(result.stdout.strip(), "Config Succeeded")
        deadline = time.monotonic() + 10
        while True:
            table = self.run_ntpq("-c", "as").stdout
            if len(table.splitlines()) - 3 == 6:
                break
            self.assertLess(time.monotonic(), deadline, table)
            time.sleep(0.2)

        result = self.run_ntpq(*auth, "-c", ":config unpeer 192.0.2.7")
        self.assertEqual(result.stdout.strip(), "Config Succeeded")
        self.assertNotIn("192.0.2.7", peerRows(self.run_ntpq("-p").stdout))

        result = self.run_ntpq("-k", self.keys, "-a", "2", "-c", ":config server 192.0.2.8",
                               check=False)
        self.assertIn("***Server error code PERMISSION", result.stdout + result.stderr)
        self.assertNotIn("192.0.2.8", peerRows(self.run_ntpq("-p").stdout))

        result = self.run_ntpq(*auth, "-c", ":config restrict default", check=False)
        self.assertIn("cannot be configured at run time", result.stdout)

        # A key that is not in the keys file is refused as in ntp.conf.
        result = self.run_ntpq(*auth, "-c", ":config server 192.0.2.9 key 99", check=False)
        self.assertEqual(
            result.stdout.strip(), f"line 1: key 99 is not in the keys file {self.keys}"
        )
        self.assertNotIn("192.0.2.9", peerRows(self.run_ntpq("-p").stdout))

    def test_statistics(self) -> None:
        """
        ntpq's sysstats, authinfo, iostats, kerninfo and sysinfo show a
        value for every line (no ???, no unknown variable): packets by
        version (chronyd's NTPv4 replies), the two keys, datagrams
        received and sent, the kernel clock read only. ntpservice-q's cv
        without an association shows the LOCAL clock.
        """
        commands = ("sysstats", "authinfo", "iostats", "kerninfo", "sysinfo")
        outputs = {}
        for command in commands:
            result = self.run_ntpq("-c", command)
            self.assertNotIn("???", result.stdout + result.stderr, command)
            self.assertNotIn("Unknown variable", result.stderr, command)
            self.assertEqual(result.stderr, "", command)
            outputs[command] = result.stdout

        def value(command: str, legend: str) -> str:
            for line in outputs[command].splitlines():
                if line.strip().startswith(legend):
                    return line.strip()[len(legend):].split()[0]
            raise AssertionError(f"no {legend!r} in {command}: {outputs[command]}")

        self.assertGreater(int(value("sysstats", "current version:")), 0)
        self.assertGreater(int(value("sysstats", "packets received:")), 0)
        self.assertGreater(int(value("sysstats", "control requests:")), 0)
        self.assertEqual(value("authinfo", "stored keys:"), "2")
        self.assertGreater(int(value("iostats", "received packets:")), 0)
        self.assertGreater(int(value("iostats", "packets sent:")), 0)
        self.assertEqual(value("kerninfo", "frequency tolerance:"), "500")
        float(value("kerninfo", "pll frequency:"))
        self.assertEqual(value("sysinfo", "stratum:"), str(CHRONY_STRATUM + 1))

        mine = self.run_ours("-c", "cv").stdout
        self.assertEqual(mine.splitlines()[0], "associd=0 status=0000 no events, clk_unspec,")
        self.assertIn('name="LOCAL(0)"', mine)


class FormatAgainstNtpsecTests(SynchronousTestCase):
    """
    ntpservice-q's peer line and cooked variables are NTPsec's: the same
    variables formatted by NTPsec's own library (the one its ntpq uses)
    give the same text.
    """

    SCRIPT = r"""
import json, sys
sys.path.append("/usr/lib/python3/dist-packages")
import ntp.util
cases = json.load(sys.stdin)
out = []
for status, variables, now in cases:
    import time
    time.time = lambda now=now: now
    parsed = []
    for name, value in variables:
        try:
            cast = int(value, 0)
        except ValueError:
            try:
                cast = float(value)
            except ValueError:
                cast = value
        parsed.append((name, (cast, value)))
    summary = ntp.util.PeerSummary("peers", 2, 0, False, termwidth=80)
    summary.header()
    out.append(summary.summary(status, ntp.util.OrderedDict(parsed), 1))
print(json.dumps(out))
"""

    def test_peerLines(self) -> None:
        """
        For servers, the LOCAL clock and a pool, the lines are equal.
        """
        ntpqPath = peers.requireBinary("ntpq")
        with open(ntpqPath) as f:
            interpreter = f.readline()[2:].strip().split()[0]
        now = 1_790_000_000.0

        def stamp(seconds: float) -> str:
            from ntpservice.core import control as K

            return K.formatTimestamp(K.secondsToTimestamp(seconds))

        cases = [
            (0x963A, [("srcadr", "192.0.2.1"), ("hmode", "3"), ("stratum", "2"),
                      ("ppoll", "6"), ("hpoll", "7"), ("refid", "192.0.2.254"),
                      ("reftime", stamp(now - 100)), ("rec", stamp(now - 37)),
                      ("reach", "0x3f"), ("delay", "0.250123"), ("offset", "-12.012345"),
                      ("jitter", "1234.003210")], now),
            (0x9014, [("srcadr", "127.127.1.0"), ("srchost", "LOCAL(0)"), ("hmode", "3"),
                      ("stratum", "10"), ("ppoll", "6"), ("hpoll", "6"), ("refid", "LOCL"),
                      ("rec", stamp(now - 3000)), ("reach", "0xff"), ("delay", "0.000000"),
                      ("offset", "0.000000"), ("jitter", "0.000000")], now),
            (0x8011, [("srcadr", "0.0.0.0"), ("srchost", "pool.ntp.org"), ("hmode", "3"),
                      ("stratum", "16"), ("ppoll", "10"), ("hpoll", "6"), ("refid", "POOL"),
                      ("reftime", "0x00000000.00000000"), ("reach", "0x0"),
                      ("delay", "0.000"), ("offset", "0.000"), ("jitter", "0.000")], now),
            (0x9124, [("srcadr", "2001:db8::1"), ("hmode", "1"), ("stratum", "3"),
                      ("ppoll", "10"), ("hpoll", "10"), ("refid", "10.1.2.3"),
                      ("rec", stamp(now - 90000)), ("reach", "0x1"), ("delay", "100000.5"),
                      ("offset", "-99999.25"), ("jitter", "0.5")], now),
        ]
        result = subprocess.run(
            [interpreter, "-c", self.SCRIPT], input=json.dumps(cases),
            capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0:
            peers.unavailable(f"NTPsec's Python library does not run: {result.stderr}")
        theirs = json.loads(result.stdout)
        self.assertEqual(len(theirs), len(cases))
        for (status, variables, when), line in zip(cases, theirs):
            self.assertEqual(ours.peerLine(status, variables, when) + "\n", line)
