# -*- test-case-name: tests.interop.test_manycast -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Manycast (issue 12, seed 001) between network namespaces: our manycast
servers (synchronized to a chronyd server, or not at all) and our
manycast client with a key. No real peer does manycast (NTPsec removed
it; chrony never had it): our own daemons on both sides, chronyd as the
reference, tshark as the judge of sizes.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers
from tests.interop.test_broadcast import KEYS, peerRows

pytestmark = [pytest.mark.interop, pytest.mark.netns]

GROUP = "239.1.1.1"


class ManycastSiteTests(SynchronousTestCase):
    """
    Host 0: chronyd, the reference. Hosts 1-3: synchronized manycast
    servers; host 4: an unsynchronized one; host 5: the manycast client;
    host 6: a server started later.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        peers.requireBinary("chronyd")
        self.ntpq = peers.requireBinary("ntpq")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.network = peers.Network(hosts=7)
        self.network.__enter__()
        self.addCleanup(self.network.close)

    def startOurs(self, index: int, config: str, name: str) -> Any:
        host = self.network.hosts[index]
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir)
        keys = os.path.join(workdir, "ntp.keys")
        with open(keys, "w") as f:
            f.write(KEYS)
        os.chmod(keys, 0o600)
        ours = peers.startNtpservice(
            workdir,
            config.replace("KEYS", keys) + f"driftfile {workdir}/ntp.drift\n",
            port=123,
            netns=host,
            name=name,
        )
        self.addCleanup(ours.stop)
        return ours

    def startServer(self, index: int, synchronized: bool = True) -> Any:
        reference = self.network.hosts[0].address
        lines = f"keys KEYS\ntrustedkey 1\nmanycastserver {GROUP}\n"
        if synchronized:
            lines = f"server {reference} iburst minpoll 4\n" + lines
        ours = self.startOurs(index, lines, f"server{index}")
        if synchronized:
            peers.waitForNtp(
                self.network.hosts[index].address,
                123,
                60.0,
                netns=self.network.hosts[index],
                synchronised=True,
            )
        return ours

    def rows(self) -> list[list[str]]:
        result = peers.runCommand(
            [self.ntpq, "-n", "-p", "127.0.0.1"], netns=self.network.hosts[5]
        )
        return peerRows(str(result.stdout))

    def waitForAddresses(self, expected: set[str], timeout: float) -> list[list[str]]:
        deadline = time.monotonic() + timeout
        rows: list[list[str]] = []
        while time.monotonic() < deadline:
            rows = self.rows()
            if {row[1] for row in rows} == expected:
                return rows
            time.sleep(2)
        self.fail(f"expected {sorted(expected)}, ntpq -p shows {rows}")

    def test_manycast(self) -> None:
        """
        The keyed manycast client finds exactly the three synchronized
        servers; one of them stopped, it keeps the two others (C{tos
        minclock 2}) and its association with the stopped one ages out; a
        server started afterwards is found without a restart. No reply to
        a solicitation is larger than the solicitation.
        """
        workdir = os.path.join(self.workdir, "reference")
        os.makedirs(workdir)
        reference = peers.startChronydServer(
            workdir, port=123, netns=self.network.hosts[0], stratum=2
        )
        self.addCleanup(reference.stop)
        servers = {n: self.startServer(n) for n in (1, 2, 3)}
        self.startServer(4, synchronized=False)
        client = self.network.hosts[5]
        address = {n: self.network.hosts[n].address for n in range(7)}
        capturedir = os.path.join(self.workdir, "capture")
        os.makedirs(capturedir)
        with peers.capture(capturedir, 123, interface="eth0", netns=client, duration=600):
            self.startOurs(
                5,
                "keys KEYS\ntrustedkey 1\ntos minclock 2\n"
                f"manycastclient {GROUP} key 1 minpoll 3 maxpoll 4\n"
                "restrict 127.0.0.1\n",
                "client",
            )
            rows = self.waitForAddresses({address[1], address[2], address[3]}, 120)
            self.assertNotIn(address[4], {row[1] for row in rows})
            servers[1].stop()
            # Unreachable: eight polls to empty the reach register and ten
            # more, at most 16 s apart.
            self.waitForAddresses({address[2], address[3]}, 400)
            self.startServer(6)
            self.waitForAddresses({address[2], address[3], address[6]}, 120)
        packets = peers.tsharkDecode(os.path.join(capturedir, "capture.pcapng"))
        solicitations = [p for p in packets if p.mode == 3 and p.destination == GROUP]
        self.assertGreater(len(solicitations), 0)
        size = {len(p.payload) for p in solicitations}
        self.assertEqual(size, {68})
        replies = [p for p in packets if p.mode == 4 and p.destination == client.address]
        self.assertGreater(len(replies), 0)
        self.assertLessEqual(max(len(p.payload) for p in replies), 68)
        self.assertEqual([p.problems for p in packets if p.problems], [])
