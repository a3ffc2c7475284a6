# -*- test-case-name: tests.interop.test_broadcast -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Broadcast and multicast modes (issue 12) between network namespaces, with
real peers.

Which real peers can take part: chronyd 4.3 is a broadcast *server*
(C{broadcast INTERVAL ADDRESS}: to a subnet broadcast address, an IPv4
group or an IPv6 group) and a plain server for the calibration volley, but
no broadcast client; NTPsec 1.2 has dropped both broadcast server and
client (its NEWS: "support for broadcast/multicast clients has been
dropped", then "We have dropped support for Broadcast servers"). So:
chronyd is the server our C{broadcastclient}/C{multicastclient} listens
to; our own daemons are the servers of seed 002's site (four multicast
servers with their own keys); tshark judges every mode 5 packet we send,
and NTPsec's C{ntpq -p} shows what our client made of it (type C{b}, for
the association's whole life: seed 002's failure was an association that
turned into a unicast one, C{u}).
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import Any

import pytest
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.association import BURST_INTERVAL
from ntpservice.core.peer import VOLLEY_REQUESTS
from tests.interop import peers

pytestmark = [pytest.mark.interop, pytest.mark.netns]

SELECTED = re.compile(r"Selected (?P<address>\S+) \(association \d+\) as system peer")

KEYS = "".join(f"{n} MD5 secret-number-{n}\n" for n in range(1, 6))

SEED_002_RESTRICT = (
    "restrict -4 default kod notrap nomodify nopeer noquery notrust\n"
    "restrict -6 default kod notrap nomodify nopeer noquery notrust\n"
    "restrict ::1\n"
    "restrict 127.0.0.1\n"
)


def peerRows(text: str) -> list[list[str]]:
    """
    The association rows of C{ntpq -p -n}: each split in words, with the
    tally code as its own first word (C{" "} when there is none).
    """
    rows = []
    for line in text.splitlines()[2:]:
        if not line.strip():
            continue
        rows.append([line[0], *line[1:].split()])
    return rows


class BroadcastSite(SynchronousTestCase):
    """
    A network of namespaces, with helpers to start the daemons.
    """

    hosts = 2

    def setUp(self) -> None:
        peers.requireRoot()
        self.ntpq = peers.requireBinary("ntpq")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.network = peers.Network(hosts=self.hosts)
        self.network.__enter__()
        self.addCleanup(self.network.close)

    def subnetBroadcast(self) -> str:
        return self.network.subnet.replace("0/24", "255")

    def startChronyBroadcaster(self, index: int, destinations: list[str]) -> Any:
        peers.requireBinary("chronyd")
        host = self.network.hosts[index]
        workdir = os.path.join(self.workdir, f"chrony{index}")
        os.makedirs(workdir)
        server = peers.startChronydServer(
            workdir,
            port=123,
            netns=host,
            stratum=2,
            extraConfig=[f"broadcast 16 {d}" for d in destinations],
        )
        self.addCleanup(server.stop)
        return server

    def startOurs(self, index: int, config: str, name: str) -> Any:
        host = self.network.hosts[index]
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir)
        keys = os.path.join(workdir, "ntp.keys")
        with open(keys, "w") as f:
            f.write(KEYS)
        os.chmod(keys, 0o600)
        config = config.replace("KEYS", keys)
        ours = peers.startNtpservice(
            workdir,
            config + f"driftfile {workdir}/ntp.drift\n",
            port=123,
            netns=host,
            name=name,
        )
        self.addCleanup(ours.stop)
        return ours

    def ntpqPeers(self, index: int) -> list[list[str]]:
        result = peers.runCommand(
            [self.ntpq, "-n", "-p", "127.0.0.1"], netns=self.network.hosts[index]
        )
        return peerRows(str(result.stdout))

    def ourPeers(self, index: int) -> list[list[str]]:
        """
        Our C{ntpservice-q -n -p}'s rows (it shows classic ntpq's C{m} for a
        multicast client association, where NTPsec's ntpq shows C{b}).
        """
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (peers.REPOSITORY_ROOT, env.get("PYTHONPATH", "")) if p
        )
        result = peers.runCommand(
            [sys.executable, "-m", "ntpservice.control.ntpq", "-n", "-p", "127.0.0.1"],
            netns=self.network.hosts[index],
            env=env,
        )
        return peerRows(str(result.stdout))

    def waitForRows(
        self, index: int, predicate: Any, timeout: float, step: float = 2.0
    ) -> list[list[str]]:
        deadline = time.monotonic() + timeout
        rows: list[list[str]] = []
        while time.monotonic() < deadline:
            rows = self.ntpqPeers(index)
            if predicate(rows):
                return rows
            time.sleep(step)
        self.fail(f"ntpq -p never showed what was awaited: {rows}")


class ChronyBroadcastServerTests(BroadcastSite):
    """
    chronyd broadcasts every 16 s; our client listens.
    """

    def _listenTo(
        self,
        destination: str,
        clientLines: str,
        address: str,
        listen: float = 50.0,
        ourType: str = "m",
    ) -> None:
        """
        @param listen: seconds to watch after the selection: the type stays
            C{b} and nothing but broadcasts passes.
        """
        self.startChronyBroadcaster(0, [destination])
        client = self.network.hosts[1]
        workdir = os.path.join(self.workdir, "capture")
        os.makedirs(workdir)
        with peers.capture(workdir, 123, interface="eth0", netns=client, duration=600):
            ours = self.startOurs(1, clientLines + "disable auth\n", "client")
            ours.waitForOutput(SELECTED, timeout=120)
            rows = self.waitForRows(
                1, lambda rows: rows and rows[0][0] == "*", timeout=60
            )
            self.assertEqual([row[1] for row in rows], [address])
            self.assertEqual(rows[0][4], "b")
            calibrated = time.time()
            # More broadcasts: the association only listens.
            seen: set[str] = set()
            deadline = time.monotonic() + listen
            while time.monotonic() < deadline:
                seen |= {row[4] for row in self.ntpqPeers(1)}
                time.sleep(5)
            self.assertEqual(seen, {"b"})
            self.assertEqual([row[4] for row in self.ourPeers(1)], [ourType])
        packets = peers.tsharkDecode(os.path.join(workdir, "capture.pcapng"))
        ourAddresses = {client.address, client.address6}
        requests = [p for p in packets if p.source in ourAddresses and p.mode == 3]
        # The volley: at most VOLLEY_REQUESTS requests, 2 s apart. The
        # association may be selected from its second sample, before the
        # volley's third reply ends it: requests may follow the selection
        # for the rest of the volley, never after.
        self.assertGreater(len(requests), 0)
        self.assertLessEqual(len(requests), VOLLEY_REQUESTS, requests)
        volleyEnd = calibrated + VOLLEY_REQUESTS * BURST_INTERVAL
        late = [p for p in requests if p.time > volleyEnd]
        self.assertEqual(late, [], "mode 3 from our client after the volley")
        broadcasts = [p for p in packets if p.mode == 5]
        self.assertGreater(len(broadcasts), 2)

    def test_broadcastClient(self) -> None:
        """
        chronyd broadcasting to the subnet's broadcast address: our
        C{broadcastclient} mobilizes one association, calibrates, selects
        it; NTPsec's C{ntpq -p} shows it as C{b} all along, and after the
        calibration volley our client sends no mode 3 packet.
        """
        self._listenTo(
            self.subnetBroadcast(),
            "broadcastclient\n",
            self.network.hosts[0].address,
            listen=180.0,
            ourType="b",
        )

    def test_multicastClient(self) -> None:
        """
        The same with chronyd sending to the IPv4 group 224.0.1.1 and our
        C{multicastclient 224.0.1.1}.
        """
        self._listenTo(
            "224.0.1.1", "multicastclient 224.0.1.1\n", self.network.hosts[0].address
        )

    def test_ipv6Multicast(self) -> None:
        """
        The same with chronyd sending to the IPv6 group ff05::101 and our
        C{multicastclient ff05::101}.
        """
        self._listenTo(
            "ff05::101", "multicastclient ff05::101\n", self.network.hosts[0].address6
        )


class Seed002SiteTests(BroadcastSite):
    """
    Seed 002's site with our daemons: four multicast servers on their own
    hosts (synchronized to a chronyd server), each signing with its own
    MD5 key; one client host trusting keys 1-4 with seed 002's restrict
    lines; a fifth server signing with key 5, which the client does not
    trust.
    """

    hosts = 7

    def startSite(self, group: str) -> None:
        reference = self.network.hosts[0]
        workdir = os.path.join(self.workdir, "reference")
        os.makedirs(workdir)
        server = peers.startChronydServer(workdir, port=123, netns=reference, stratum=2)
        self.addCleanup(server.stop)
        address = reference.address if ":" not in group else reference.address6
        for n in range(1, 6):
            self.startOurs(
                n,
                f"server {address} iburst minpoll 4\n"
                f"keys KEYS\ntrustedkey {n}\n"
                f"broadcast {group} key {n} minpoll 4 ttl 1\n",
                f"server{n}",
            )
        self.client = self.network.hosts[6]
        workdir = os.path.join(self.workdir, "capture")
        os.makedirs(workdir)
        self.capturePath = os.path.join(workdir, "capture.pcapng")
        with peers.capture(workdir, 123, interface="eth0", netns=self.client, duration=600):
            self.ours = self.startOurs(
                6,
                "keys KEYS\ntrustedkey 1 2 3 4\n"
                + SEED_002_RESTRICT
                + f"multicastclient {group}\n",
                "client",
            )
            self.ours.waitForOutput(SELECTED, timeout=240)
            expected = {
                (self.network.hosts[n].address6 if ":" in group else self.network.hosts[n].address)
                for n in range(1, 5)
            }
            self.rows = self.waitForRows(
                6,
                lambda rows: {row[1] for row in rows} == expected
                and any(row[0] == "*" for row in rows),
                timeout=180,
            )
            # Our ntpq shows m once each association's last packet came to
            # the group (the volley's replies are unicast).
            for _ in range(30):
                self.ours = self.ourPeers(6)
                if self.ours and {row[4] for row in self.ours} == {"m"}:
                    break
                time.sleep(2)
            self.rv = str(
                peers.runCommand(
                    [self.ntpq, "-n", "-c", "rv 0 stratum", "127.0.0.1"], netns=self.client
                ).stdout
            )

    def check(self, group: str) -> None:
        rows = self.rows
        self.assertEqual(len(rows), 4, rows)
        self.assertEqual({row[4] for row in rows}, {"b"})
        self.assertEqual({row[4] for row in self.ours}, {"m"})
        peer = [row for row in rows if row[0] == "*"]
        self.assertEqual(len(peer), 1)
        stratum = int(peer[0][3])
        self.assertIn(f"stratum={stratum + 1}", self.rv)
        fifth = self.network.hosts[5]
        self.assertNotIn(fifth.address, {row[1] for row in rows})
        self.assertNotIn(fifth.address6, {row[1] for row in rows})
        packets = peers.tsharkDecode(self.capturePath)
        servers = {
            self.network.hosts[n].address for n in range(1, 6)
        } | {self.network.hosts[n].address6 for n in range(1, 6)}
        broadcasts = [p for p in packets if p.mode == 5 and p.source in servers]
        self.assertGreater(len(broadcasts), 5)
        self.assertEqual([p.problems for p in broadcasts if p.problems], [])
        self.assertEqual({p.destination for p in broadcasts}, {group})
        # The fifth server did broadcast: the client heard it and refused.
        self.assertIn(
            fifth.address6 if ":" in group else fifth.address,
            {p.source for p in broadcasts},
        )
        # Every broadcast carries a MAC: 48 bytes of header, 4 of key ID,
        # 16 of MD5.
        self.assertEqual({len(p.payload) for p in broadcasts}, {68})
        # Replies to the clients' volleys are never larger than the request.
        requests = {
            (p.source, p.sourcePort): len(p.payload) for p in packets if p.mode == 3
        }
        for p in packets:
            if p.mode == 4 and (p.destination, p.destinationPort) in requests:
                self.assertLessEqual(
                    len(p.payload), requests[p.destination, p.destinationPort]
                )

    def test_ipv4(self) -> None:
        """
        Over 224.0.1.1: after a few minutes the four trusted servers'
        associations are all type C{b} (never C{u}), one of them is the
        system peer, the client serves stratum + 1; the fifth server
        mobilizes nothing; tshark decodes every mode 5 packet without a
        warning, each with its MAC.
        """
        self.startSite("224.0.1.1")
        self.check("224.0.1.1")

    def test_ipv6(self) -> None:
        """
        The same over the IPv6 group ff05::101.
        """
        self.startSite("ff05::101")
        self.check("ff05::101")


class LinkLocalGroupTests(BroadcastSite):
    """
    Our multicast server and client over the link-local IPv6 group
    ff02::101: its packets come from the server's link-local address.
    """

    hosts = 3

    def test_ff02(self) -> None:
        """
        Our server (synchronized to chronyd) sends to ff02::101 out of its
        interface; our C{multicastclient ff02::101} mobilizes one
        association with the server's link-local address, calibrates
        (a measured delay, not the 4 ms default) and selects it.
        """
        reference = self.network.hosts[0]
        workdir = os.path.join(self.workdir, "reference")
        os.makedirs(workdir)
        server = peers.startChronydServer(workdir, port=123, netns=reference, stratum=2)
        self.addCleanup(server.stop)
        self.startOurs(
            1, f"server {reference.address} iburst minpoll 4\nbroadcast ff02::101 minpoll 4\n",
            "server",
        )
        ours = self.startOurs(2, "multicastclient ff02::101\ndisable auth\n", "client")
        ours.waitForOutput(SELECTED, timeout=180)
        rows = self.waitForRows(2, lambda rows: rows and rows[0][0] == "*", timeout=60)
        self.assertEqual(len(rows), 1)
        self.assertTrue(rows[0][1].startswith("fe80::"), rows)
        self.assertEqual(rows[0][4], "b")
        self.assertLess(float(rows[0][8]), 2.0)
