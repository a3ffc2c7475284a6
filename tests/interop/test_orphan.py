# -*- test-case-name: tests.interop.test_orphan -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Orphan mode with real peers (issue 11, seed 003): one of ours and two
NTPsec ntpd as core servers of a subnet with no UTC source, all with
C{tos orphan 5} (NTPsec's C{peer} is a client line, so the core servers
are clients of each other), and an orphan child of each kind.

Ours has the smallest address: it is the orphan parent, and everyone
follows it; when it stops, everyone follows the next smallest, an NTPsec
core server. NTPsec's ntpq shows ours as ntpd shows an orphan parent
(stratum 5, refid 127.0.0.1).

Everything polls every 8 s (C{minpoll 3 maxpoll 3}), in namespaces, and no
daemon adjusts a clock (ours C{--no-clock-adjust}, NTPsec's without
CAP_SYS_TIME).
"""

from __future__ import annotations

import os
import time

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers

pytestmark = [pytest.mark.interop, pytest.mark.netns]

POLL = "minpoll 3 maxpoll 3"
TOS = "tos orphan 5 orphanwait 0"
WAIT = 240.0
"""Seconds the subnet may take to agree on a parent (bounded waits)."""


def systemPeer(ntpqPeers: str) -> tuple[str, list[str]] | None:
    """
    @return: the remote address and the fields of the C{*} row of C{ntpq
        -p} output, or C{None}.
    """
    for line in ntpqPeers.splitlines():
        if line.startswith("*"):
            fields = line[1:].split()
            return fields[0], fields
    return None


class OrphanSubnetTests(SynchronousTestCase):
    """
    Three core servers (ours, NTPsec, NTPsec) and two children (ours,
    NTPsec) in orphan mode.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        peers.requireBinary("ntpd")
        self.ntpqBinary = peers.requireBinary("ntpq")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.network = peers.Network(hosts=5)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.cores = self.network.hosts[:3]
        self.ourChild, self.theirChild = self.network.hosts[3:]

    def serverLines(self, hosts: list[peers.Host]) -> list[str]:
        return [f"server {h.address} iburst {POLL}" for h in hosts]

    def startOurs(self, host: peers.Host, name: str, servers: list[peers.Host]
                  ) -> peers.DaemonProcess:
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir)
        config = "\n".join(
            [TOS, f"driftfile {workdir}/ntp.drift", *self.serverLines(servers)]
        ) + "\n"
        daemon = peers.startNtpservice(workdir, config, port=123, netns=host, name=name)
        self.addCleanup(daemon.stop)
        return daemon

    def startNtpsec(self, host: peers.Host, name: str, servers: list[peers.Host]
                    ) -> peers.NtpsecServer:
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir)
        server = peers.startNtpsecServer(
            workdir, host, orphanStratum=5, extraConfig=self.serverLines(servers),
            name=name,
        )
        self.addCleanup(server.stop)
        return server

    def ntpq(self, host: peers.Host) -> str:
        return str(peers.runCommand([self.ntpqBinary, "-n", "-p", "127.0.0.1"],
                                    netns=host, check=False).stdout)

    def parents(self, hosts: list[peers.Host]) -> dict[str, str | None]:
        out = {}
        for host in hosts:
            row = systemPeer(self.ntpq(host))
            out[host.address] = None if row is None else row[0]
        return out

    def waitForParent(self, parent: peers.Host, followers: list[peers.Host]
                      ) -> dict[str, str | None]:
        deadline = time.monotonic() + WAIT
        while True:
            seen = self.parents(followers)
            if set(seen.values()) == {parent.address} or time.monotonic() > deadline:
                return seen
            time.sleep(4)

    def test_oneParentThenTheNext(self) -> None:
        """
        Every core server and child, ours and NTPsec's, selects ours (the
        smallest address) as the orphan parent; NTPsec's ntpq shows it at
        stratum 5 with refid 127.0.0.1, as ours does in C{rv} (leap 0). When
        ours stops, all of them move
        to the next smallest address, an NTPsec core server.
        """
        ourCore, ntpsecA, ntpsecB = self.cores
        ours = self.startOurs(ourCore, "core0", [ntpsecA, ntpsecB])
        self.startNtpsec(ntpsecA, "core1", [ourCore, ntpsecB])
        self.startNtpsec(ntpsecB, "core2", [ourCore, ntpsecA])
        self.startOurs(self.ourChild, "child-ours", self.cores)
        self.startNtpsec(self.theirChild, "child-ntpsec", self.cores)
        followers = [ntpsecA, ntpsecB, self.ourChild, self.theirChild]
        seen = self.waitForParent(ourCore, followers)
        self.assertEqual(set(seen.values()), {ourCore.address},
                         (seen, self.ntpq(self.theirChild), ours.output()[-3000:]))
        # NTPsec shows our orphan parent as ntpd shows one.
        row = systemPeer(self.ntpq(self.theirChild))
        assert row is not None
        self.assertEqual((row[1][1], row[1][2]), ("127.0.0.1", "5"), row)
        # Ours says so too: leap 0, stratum 5, refid 127.0.0.1, no peer.
        rv = str(peers.runCommand([self.ntpqBinary, "-n", "-c", "rv", "127.0.0.1"],
                                  netns=ourCore, check=False).stdout)
        rv = rv.replace("\n", " ")
        self.assertIn("leap_none", rv)
        self.assertRegex(rv, r"\bstratum=5\b")
        self.assertRegex(rv, r"\brefid=127\.0\.0\.1\b")
        ours.stop()
        seen = self.waitForParent(ntpsecA, [ntpsecB, self.ourChild, self.theirChild])
        self.assertEqual(set(seen.values()), {ntpsecA.address},
                         (seen, self.ntpq(self.ourChild)))
