# -*- test-case-name: tests.interop.test_ntpviz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
NTPsec's C{ntpviz} (Debian package C{ntpsec-ntpviz}) plots the statistics
files our daemon writes.

The files come from our real daemon run in the simulator (see
L{tests.test_stats.simulatedStatistics}): four simulated hours across UTC
midnight, with three servers. ntpviz reads them with its own parser and
runs gnuplot over them; the test checks that it exits cleanly and produces
its report: C{index.html}, the local clock plots, and one offset and one
jitter plot per server.

ntpviz looks up host names (C{getfqdn}, and reverse lookups of every peer
address): run as root, it runs in a new network namespace of its own
(C{unshare --net}), so no lookup leaves the machine; otherwise its
resolver calls are stubbed out for the run.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers
from tests.test_stats import SERVERS, simulatedStatistics

pytestmark = pytest.mark.interop

NS = 1_000_000_000

START = datetime.datetime(2026, 1, 1, 22, 0, tzinfo=datetime.timezone.utc)
"""When the simulated run starts (true time)."""

HOURS = 4

_NO_RESOLVER = (
    "import runpy, socket, sys\n"
    "def _fail(*a, **k):\n"
    "    raise socket.herror('lookups disabled by the test')\n"
    "socket.gethostbyaddr = _fail\n"
    "socket.getfqdn = lambda name='': name or 'localhost'\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)
"""Run ntpviz (the first argument) with name lookups disabled."""


def _isoTime(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S")


class NtpvizTests(SynchronousTestCase):
    """
    ntpviz accepts our C{loopstats}, C{peerstats} and C{rawstats} files.
    """

    def setUp(self) -> None:
        self.ntpviz = peers.requireBinary("ntpviz")
        peers.requireBinary("gnuplot")
        self.workdir = tempfile.mkdtemp(prefix="ntpviz-")
        self.addCleanup(shutil.rmtree, self.workdir, True)

    def ntpvizCommand(self, arguments: list[str]) -> list[str]:
        """
        The command line that runs ntpviz with C{arguments}, isolated from
        the network.
        """
        unshare = shutil.which("unshare")
        if os.geteuid() == 0 and unshare is not None:
            return [unshare, "--net", self.ntpviz, *arguments]
        with open(self.ntpviz, "rb") as f:
            shebang = f.readline().decode("ascii", "replace")
        interpreter = shebang[2:].strip().split()[0] if shebang.startswith("#!") else "python3"
        return [interpreter, "-c", _NO_RESOLVER, self.ntpviz, *arguments]

    def test_plots(self) -> None:
        """
        ntpviz turns four hours of our statistics, split across two day
        files, into its HTML report with every local clock plot and an
        offset and a jitter plot for each server, without an error.
        """
        statsdir = os.path.join(self.workdir, "ntpstats")
        outdir = os.path.join(self.workdir, "report")
        os.mkdir(statsdir)
        run = simulatedStatistics(
            statsdir, HOURS * 3600, epochNs=int(START.timestamp()) * NS
        )
        self.assertIn("loopstats.20260102", os.listdir(statsdir))
        # ntpviz skips files last modified before its start time: give
        # them the time of their last line, whatever the real date is.
        end = run.host.clock.now() / NS
        for name in os.listdir(statsdir):
            os.utime(os.path.join(statsdir, name), (end, end), follow_symlinks=False)
        arguments = [
            "-d", statsdir,
            "-o", outdir,
            "-n", "ntpservice",
            "-s", _isoTime(START),
            "-e", _isoTime(START + datetime.timedelta(hours=HOURS)),
        ]
        result = peers.runCommand(self.ntpvizCommand(arguments), timeout=300, check=False)
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, output)
        self.assertNotIn("ERROR", output)
        self.assertNotIn("plot returned", output)
        self.assertNotIn("Traceback", output)
        plots = [
            "local-offset",
            "local-jitter",
            "local-stability",
            "local-offset-histogram",
            "peer-offsets",
            "peer-jitters",
        ]
        plots += [f"peer-offset-{address}" for address in SERVERS]
        plots += [f"peer-jitter-{address}" for address in SERVERS]
        with open(os.path.join(outdir, "index.html"), encoding="utf-8") as f:
            index = f.read()
        for plot in plots:
            path = os.path.join(outdir, plot + ".png")
            self.assertTrue(os.path.exists(path), f"{plot}.png missing:\n{output}")
            with open(path, "rb") as f:
                data = f.read()
            self.assertTrue(data.startswith(b"\x89PNG\r\n\x1a\n"), plot)
            self.assertGreater(len(data), 2000, plot)
            self.assertIn(f"src='{plot}.png'", index)
        self.assertIn("Local Clock Time/Frequency Offsets", index)
        with open(os.path.join(outdir, "summary.csv"), encoding="utf-8") as f:
            summary = f.read()
        for address in SERVERS:
            self.assertIn(address, summary)
