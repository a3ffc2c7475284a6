# -*- test-case-name: tests.interop.test_failover -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Issue 9, as a new user met it: our daemon, a client of chronyd servers in
namespaces, when its system peer (chronyd) is killed. With one server it
stops claiming to be synchronized; with the LOCAL clock configured, LOCAL's
association takes over; with two servers, the other one does. NTPsec's ntpq (C{-p},
C{rv}), our metrics and our log must agree.

The client polls every 8 s (C{minpoll 3 maxpoll 3}) so that the polls the
rules count pass in seconds: a source that answered none of its last five
polls is unfit (40 s), one that answered none of its last three gives way
to one that answers (24 s).
"""

from __future__ import annotations

import os
import re
import sys
import time

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers
from tests.interop.test_client import SELECTED

pytestmark = [pytest.mark.interop, pytest.mark.netns]

POLL = 8.0
"""Seconds between our client's polls (minpoll 3 maxpoll 3)."""

METRICS_PORT = 9123

LOST = re.compile(
    r"No system peer \(association (?P<associd>\d+) left: (?P<reason>[a-z]+)\): "
    r"(?P<state>.*)"
)
RESELECTED = re.compile(
    r"Selected (?P<address>\S+) \(association \d+\) as system peer "
    r"\(association \d+ left: (?P<reason>[a-z]+)\)"
)

FETCH_METRICS = (
    "import sys, urllib.request; "
    "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
)


class DeadServerTests(SynchronousTestCase):
    """
    Our client loses its system peer, a chronyd server that is killed.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        peers.requireBinary("chronyd")
        self.ntpq = peers.requireBinary("ntpq")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.network = peers.Network(hosts=3)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.clientHost = self.network.hosts[2]

    def startServer(self, index: int) -> peers.DaemonProcess:
        host = self.network.hosts[index]
        workdir = os.path.join(self.workdir, f"server{index}")
        os.makedirs(workdir)
        server = peers.startChronydServer(workdir, port=123, netns=host, stratum=2)
        self.addCleanup(server.stop)
        peers.waitForNtp(host.address, 123, 15.0, netns=host, synchronised=True)
        return server

    def startClient(self, servers: int, extra: str = "") -> peers.DaemonProcess:
        config = "".join(
            f"server {self.network.hosts[i].address} iburst minpoll 3 maxpoll 3\n"
            for i in range(servers)
        )
        config += extra + f"driftfile {self.workdir}/ntp.drift\n"
        ours = peers.startNtpservice(
            self.workdir,
            config,
            port=123,
            netns=self.clientHost,
            name="client",
            extraArgs=("--metrics-port", str(METRICS_PORT)),
        )
        self.addCleanup(ours.stop)
        ours.waitForOutput(SELECTED, timeout=20)
        ours.assertNoSysTime()
        return ours

    def run_ntpq(self, *args: str) -> str:
        result = peers.runCommand(
            [self.ntpq, "-n", *args, "127.0.0.1"], netns=self.clientHost
        )
        return str(result.stdout)

    def metrics(self) -> str:
        result = peers.runCommand(
            [
                sys.executable,
                "-c",
                FETCH_METRICS,
                f"http://127.0.0.1:{METRICS_PORT}/metrics",
            ],
            netns=self.clientHost,
        )
        return str(result.stdout)

    def systemPeerRows(self) -> list[str]:
        return [
            line
            for line in self.run_ntpq("-p").splitlines()
            if line.startswith(("*", "o"))
        ]

    def test_oneServer(self) -> None:
        """
        The only server is killed: within five polls (plus one of slack)
        the log says the system peer was left as unreachable, ntpq -p shows
        no system peer, rv shows C{sync_unspec} and C{peer=0}, the
        association's flash has C{peer_unreach}, and the metrics say not
        synchronized.
        """
        server = self.startServer(0)
        ours = self.startClient(1)
        self.assertIn("sync_ntp", self.run_ntpq("-c", "rv"))
        self.assertIn("ntpservice_synchronized 1", self.metrics())
        killed = time.monotonic()
        server.stop()
        match = ours.waitForOutput(LOST, timeout=6 * POLL + 10)
        elapsed = time.monotonic() - killed
        self.assertLess(elapsed, 6 * POLL, ours.output())
        # Unreachable (five polls unanswered), or its distance past maxdist
        # first when the polls come late on a loaded machine.
        self.assertIn(match.group("reason"), ("unreachable", "distance"))
        self.assertEqual(match.group("state"), "unsynchronized")
        self.assertEqual(self.systemPeerRows(), [])
        rv = self.run_ntpq("-c", "rv").replace("\n", " ")
        self.assertNotIn("sync_ntp", rv)
        self.assertIn("sync_unspec", rv)
        self.assertRegex(rv, r"\bpeer=0\b")
        peer = self.run_ntpq("-c", f"rv {match.group('associd')} flash")
        self.assertIn("peer_unreach", peer)
        metrics = self.metrics()
        self.assertIn("ntpservice_synchronized 0", metrics)
        self.assertNotIn('selection="sync"', metrics)
        # Each change is logged once.
        self.assertEqual(len(LOST.findall(ours.output())), 1, ours.output())

    def test_oneServerPlusLocal(self) -> None:
        """
        The only server is killed and the LOCAL clock is configured at
        stratum 10: within five polls the LOCAL clock's association is the
        system peer (one log line, rv: C{sync_local}, stratum 11, peer its
        association) and the daemon serves stratum 11 to ntpdig.
        """
        peers.requireBinary("ntpdig")
        server = self.startServer(0)
        ours = self.startClient(1, "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n")
        # LOCAL may be selected first, within seconds; the server follows.
        address = re.escape(self.network.hosts[0].address)
        ours.waitForOutput(rf"Selected {address} \(association \d+\)", timeout=40)
        killed = time.monotonic()
        server.stop()
        match = ours.waitForOutput(
            re.compile(RESELECTED.pattern.replace("(?P<address>\\S+)", r"(?P<address>127\.127\.1\.0)")),
            timeout=6 * POLL + 10,
        )
        self.assertLess(time.monotonic() - killed, 6 * POLL, ours.output())
        self.assertEqual(match.group("reason"), "unreachable")
        self.assertIsNone(LOST.search(ours.output()), ours.output())
        rv = self.run_ntpq("-c", "rv").replace("\n", " ")
        self.assertIn("sync_local", rv)
        self.assertRegex(rv, r"\bstratum=11\b")
        local = [row for row in self.systemPeerRows() if "LOCAL(0)" in row]
        self.assertEqual(len(local), 1, self.run_ntpq("-p"))
        self.assertIn("ntpservice_synchronized 1", self.metrics())
        [reply] = peers.runNtpdig("127.0.0.1", 1, netns=self.clientHost)
        self.assertEqual(reply["stratum"], 11, reply)

    def test_twoServers(self) -> None:
        """
        Of two servers, the system peer is killed: within three polls (plus
        one of slack) the other is the system peer, and ntpq -p shows it
        with C{*}.
        """
        servers = {
            self.network.hosts[0].address: self.startServer(0),
            self.network.hosts[1].address: self.startServer(1),
        }
        ours = self.startClient(2)
        first = ours.waitForOutput(SELECTED, timeout=20).group("address")
        killed = time.monotonic()
        servers[first].stop()
        match = ours.waitForOutput(RESELECTED, timeout=4 * POLL + 10)
        self.assertLess(time.monotonic() - killed, 4 * POLL, ours.output())
        [other] = set(servers) - {first}
        self.assertEqual(match.group("address"), other)
        self.assertIn(match.group("reason"), ("unreachable", "distance"))
        [row] = self.systemPeerRows()
        self.assertIn(other, row)
        self.assertIn("sync_ntp", self.run_ntpq("-c", "rv"))
