# -*- test-case-name: tests.interop.test_multicast_interfaces -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Seed 000's DSL box as a multicast client (issue 13), in network
namespaces: chronyd sends to 224.0.1.1 every 16 s; our C{multicastclient
224.0.1.1} runs with C{-U 10}. (a) Its address A is replaced by B on the
same interface, as PPP does: it keeps receiving the group, stays
synchronized, and C{ntpq -p} still shows C{b}. (b) Its interface is
deleted and created again (a PPP reconnect: a new interface index): it
joins the group on the new interface (the socket owner logs one line
for the leave, one for the join), and keeps
receiving.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from tests.interop import peers
from tests.interop.test_broadcast import BroadcastSite

pytestmark = [pytest.mark.interop, pytest.mark.netns]

GROUP = "224.0.1.1"
SELECTED = re.compile(r"Selected (?P<address>\S+) \(association (?P<associd>\d+)\) as system peer")


class MulticastDSLBoxTests(BroadcastSite):
    """
    The multicast client's interface changes under it.
    """

    def setUp(self) -> None:
        super().setUp()
        peers.requireBinary("chronyd")
        self.server, self.box = self.network.hosts
        self.a = self.box.address
        self.b = self.network.subnet.rsplit(".", 1)[0] + ".102"

    def received(self, associd: str) -> int:
        result = self.box.run(
            [self.ntpq, "-n", "-c", f"rv {associd} received", "127.0.0.1"],
            timeout=30, check=False,
        )
        found = re.search(r"received=(\d+)", result.stdout)
        return int(found.group(1)) if found else -1

    def start(self) -> tuple[peers.DaemonProcess, str, int]:
        """
        chronyd sends to the group; our client listens with C{-U 10}
        until it selects the server.

        @return: our daemon, the association id, its received count.
        """
        self.startChronyBroadcaster(0, [GROUP])
        workdir = os.path.join(self.workdir, "box")
        os.makedirs(workdir)
        ours = peers.startNtpservice(
            workdir,
            f"multicastclient {GROUP}\ndisable auth\ndriftfile {workdir}/ntp.drift\n",
            port=123, netns=self.box, name="box", extraArgs=("-U", "10"),
        )
        self.addCleanup(ours.stop)
        selected = ours.waitForOutput(SELECTED, timeout=120)
        self.assertEqual(selected.group("address"), self.server.address)
        associd = selected.group("associd")
        return ours, associd, self.received(associd)

    def keepsReceiving(self, ours: peers.DaemonProcess, associd: str, before: int) -> None:
        """
        At least two more packets of the group arrive (chronyd sends one
        every 16 s), the association is still the system peer, shown as
        C{b}.
        """
        deadline = time.monotonic() + 10 + 4 * 16 + 30
        count = before
        while time.monotonic() < deadline:
            count = self.received(associd)
            if count >= before + 2:
                break
            time.sleep(2)
        else:
            self.fail(f"received {count} (before: {before})\n{ours.output()}")
        rows = self.waitForRows(1, lambda rows: rows and rows[0][0] == "*", timeout=60)
        self.assertEqual([row[1] for row in rows], [self.server.address])
        self.assertEqual(rows[0][4], "b")
        self.assertTrue(ours.running())
        self.assertNotIn("Cannot join", ours.output())

    def test_addressReplaced(self) -> None:
        """
        A replaced by B on eth0: the interface keeps its membership (no
        join or leave is needed, none is logged), new packets of the group
        arrive, and the association stays the system peer, shown as C{b}.
        """
        ours, associd, before = self.start()
        eth0 = self.box.interface
        self.box.run(["ip", "addr", "del", f"{self.a}/24", "dev", eth0])
        self.box.run(["ip", "addr", "add", f"{self.b}/24", "brd", "+", "dev", eth0])
        ours.waitForOutput(
            re.compile(rf"Listen normally on \d+ {eth0} {re.escape(self.b)}:123"), timeout=15
        )
        self.keepsReceiving(ours, associd, before)
        self.assertNotIn("Left multicast", ours.output())
        self.assertEqual(len(re.findall("Joined multicast group", ours.output())), 1)

    def test_interfaceRecreated(self) -> None:
        """
        eth0 deleted, then created again with B (a PPP reconnect: a new
        interface index): the group is left on the old interface and
        joined on the new one, one log line each, and packets of the group
        arrive again; the association stays the system peer, C{b}.
        """
        ours, associd, before = self.start()
        eth0 = self.box.interface
        old = int(self.box.run(["cat", f"/sys/class/net/{eth0}/ifindex"]).stdout)
        self.box.run(["ip", "link", "del", eth0])
        ours.waitForOutput(
            re.compile(rf"Left multicast group {GROUP} on {old}\b"), timeout=15
        )
        # The switch's end went with it: a new pair, as addHost makes it.
        port = f"vh{self.box.index}"
        self.network.switch.run(
            ["ip", "link", "add", port, "type", "veth", "peer", "name", eth0,
             "netns", self.box.name]
        )
        self.network.switch.run(
            ["ip", "link", "set", port, "master", self.network.BRIDGE, "up"]
        )
        self.box.run(["ip", "addr", "add", f"{self.b}/24", "brd", "+", "dev", eth0])
        self.box.run(["ip", "link", "set", eth0, "up"])
        self.box.run(["ip", "route", "add", "224.0.0.0/4", "dev", eth0])
        new = int(self.box.run(["cat", f"/sys/class/net/{eth0}/ifindex"]).stdout)
        self.assertNotEqual(new, old)
        ours.waitForOutput(
            re.compile(rf"Joined multicast group {GROUP} on {new}\b"), timeout=15
        )
        self.keepsReceiving(ours, associd, before)
        self.assertEqual(
            len(re.findall(rf"Joined multicast group {GROUP} on {new}\b", ours.output())), 1
        )
