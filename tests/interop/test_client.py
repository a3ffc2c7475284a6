# -*- test-case-name: tests.interop.test_client -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Our daemon as a client of real servers (chronyd, NTPsec's ntpd), each on a
host of its own: two network namespaces on one bridge. Clock adjustment is
off and no process holds CAP_SYS_TIME; both hosts share this machine's
clock, so the true offset is zero.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers

pytestmark = [pytest.mark.interop, pytest.mark.netns]

SELECTED = re.compile(
    r"Selected (?P<address>\S+) \(association \d+\) as system peer"
    r"(?: \(association \d+ left: [^)]*\))?; "
    r"stratum (?P<stratum>\d+), refid \S+, offset (?P<offset>[-+.\d]+) s"
)
MAX_SYNC_SECONDS = 10.0
MAX_OFFSET = 100e-6


class ClientOfRealServersTests(SynchronousTestCase):
    """
    With C{iburst}, our daemon selects a chronyd or NTPsec server as its
    system peer within 10 s, measures it within 100 us, and serves one
    stratum below it to ntpdig.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        peers.requireBinary("ntpdig")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.network = peers.Network(hosts=2)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.serverHost, self.clientHost = self.network.hosts

    def clientOf(self, server: peers.DaemonProcess, serverStratum: int) -> None:
        # A server that has just started may answer unsynchronized for a
        # moment; the clock for our time to sync starts when it is ready.
        peers.waitForNtp(
            self.serverHost.address, 123, 15.0, netns=self.serverHost, synchronised=True
        )
        config = (
            f"server {self.serverHost.address} iburst\n"
            f"driftfile {self.workdir}/ntp.drift\n"
        )
        started = time.monotonic()
        with peers.startNtpservice(
            self.workdir, config, port=123, netns=self.clientHost, name="client"
        ) as ours:
            match = ours.waitForOutput(SELECTED, timeout=MAX_SYNC_SECONDS + 5)
            elapsed = time.monotonic() - started
            ours.assertNoSysTime()
            [reply] = peers.runNtpdig("127.0.0.1", 1, netns=self.clientHost)
        self.assertEqual(match.group("address"), self.serverHost.address)
        self.assertLess(elapsed, MAX_SYNC_SECONDS, ours.output())
        self.assertLess(abs(float(match.group("offset"))), MAX_OFFSET, match.group(0))
        self.assertEqual(int(match.group("stratum")), serverStratum + 1)
        self.assertEqual(reply["stratum"], serverStratum + 1, reply)

    def test_chronydServer(self) -> None:
        """
        A chronyd server at stratum 2: we select it and serve stratum 3.
        """
        peers.requireBinary("chronyd")
        with peers.startChronydServer(
            self.workdir, port=123, netns=self.serverHost, stratum=2
        ) as server:
            self.clientOf(server, 2)

    def test_ntpsecServer(self) -> None:
        """
        An NTPsec server (orphan stratum 5): we select it and serve stratum
        6.
        """
        peers.requireBinary("ntpd")
        with peers.startNtpsecServer(
            self.workdir, self.serverHost, orphanStratum=5,
            host=self.serverHost.address,
        ) as server:
            self.clientOf(server, 5)


class QuitAfterSetTests(SynchronousTestCase):
    """
    C{-q}: set the clock once, then exit with status 0 (with clock
    adjustment off, the setting is what the no-adjust driver records).
    """

    def test_quit(self) -> None:
        """
        Against a chronyd server on a loopback port, C{twistd ntp -q} exits
        by itself with status 0 after logging that the clock was set.
        """
        import subprocess
        import sys

        peers.requireBinary("chronyd")
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        serverPort = peers.freePort()
        with peers.startChronydServer(workdir, port=serverPort, stratum=2):
            peers.waitForNtp("127.0.0.1", serverPort, 15.0, synchronised=True)
            config = os.path.join(workdir, "q.conf")
            with open(config, "w") as f:
                f.write(
                    f"server 127.0.0.1 port {serverPort} iburst\n"
                    f"driftfile {workdir}/q.drift\n"
                )
            env = dict(os.environ, PYTHONPATH=peers.REPOSITORY_ROOT)
            argv = peers.withoutSysTime(
                peers.ntpserviceCommand(config, peers.freePort(), ("-q", "-I", "127.0.0.1"))
            )
            started = time.monotonic()
            result = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=env)
            elapsed = time.monotonic() - started
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("exiting as -q asks", result.stdout)
        self.assertLess(elapsed, 60)
