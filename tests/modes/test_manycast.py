# -*- test-case-name: tests.modes.test_manycast -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.modes.manycast}: manycast servers and a manycast
client, our daemons on simulated hosts.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.dispatch import ASSOC_CLIENT
from ntpservice.sim.hosts import Simulation
from ntpservice.sim.network import LinkSpec

KEYS = "1 MD5 manycast-secret\n2 MD5 other-secret\n"
REFERENCE = "10.0.0.1"
GROUP = "239.1.1.1"


def noInterfaces() -> list[Any]:
    """The simulator's hosts have no interfaces."""
    return []


class Site:
    """
    A reference server, manycast servers (synchronized to it, or not), a
    manycast client.
    """

    def __init__(self, seed: int = 4) -> None:
        self.sim = Simulation(seed)
        self.sim.addReferenceServer(REFERENCE)
        self.servers: dict[str, Any] = {}

    def addServer(self, address: str, synchronized: bool = True, keys: str = KEYS) -> Any:
        host = self.sim.addHost(address, offset=0.001)
        self.sim.link(address, REFERENCE, LinkSpec(delay=1e-3, jitter=1e-5))
        lines = f"keys /k\ntrustedkey 1\nmanycastserver {GROUP}\n"
        if synchronized:
            lines = f"server {REFERENCE} iburst minpoll 4\n" + lines
        daemon = host.runDaemon(lines, keyring=keys)
        self.servers[address] = host
        return daemon

    def addClient(self, address: str, lines: str) -> Any:
        host = self.sim.addHost(address, offset=0.01)
        daemon = host.runDaemon(lines, keyring=KEYS)
        daemon.instances["manycastclient"].interfaces = noInterfaces
        self.client = host
        return daemon


class ManycastTests(SynchronousTestCase):
    """
    A manycast client with a key finds the synchronized manycast servers
    that answer with that key, and only them.
    """

    def setUp(self) -> None:
        self.site = Site()
        for n in (2, 3, 4):
            self.site.addServer(f"10.0.0.{n}")
        self.site.addServer("10.0.0.5", synchronized=False)
        self.site.addServer("10.0.0.6", keys="1 MD5 a-different-secret\n")
        self.daemon = self.site.addClient(
            "10.0.1.1",
            f"keys /k\ntrustedkey 1\nmanycastclient {GROUP} key 1 minpoll 4 maxpoll 6\n",
        )
        self.site.sim.run(600)

    def addresses(self) -> list[str]:
        return sorted(a.address for a in self.daemon.associations)

    def test_findsTheSynchronizedOnes(self) -> None:
        """
        Exactly the three synchronized servers with the right key: client
        associations (mode 3), ephemeral, authenticated with key 1; one is
        the system peer.
        """
        self.assertEqual(self.addresses(), ["10.0.0.2", "10.0.0.3", "10.0.0.4"])
        for association in self.daemon.associations:
            self.assertEqual(association.hmode, ASSOC_CLIENT)
            self.assertEqual(association.settings.lifecycle, "ephemeral")
            self.assertEqual(association.settings.key, 1)
        self.assertIsNotNone(self.daemon.engine.systemPeer)
        unsynchronized = self.site.servers["10.0.0.5"]
        self.assertGreater(unsynchronized.counters["manycast.unsynchronized"], 0)
        wrongKey = self.site.servers["10.0.0.6"]
        self.assertGreater(wrongKey.counters["manycast.unauthenticated"], 0)

    def test_slowerWithEnoughServers(self) -> None:
        """
        With C{tos minclock} (3) servers reachable the client solicits only
        once per C{maxpoll} interval (64 s), not every C{minpoll} (16 s).
        """
        solicitor = self.daemon.instances["manycastclient"].solicitors[0]
        sent = solicitor.sent
        self.site.sim.run(320)
        self.assertIn(solicitor.sent - sent, (4, 5, 6))

    def test_quietAtMaxclock(self) -> None:
        """
        With C{tos maxclock} associations, the client is quiet.
        """
        site = Site(seed=6)
        for n in (2, 3):
            site.addServer(f"10.0.0.{n}")
        daemon = site.addClient(
            "10.0.1.1",
            "keys /k\ntrustedkey 1\ntos minclock 1 maxclock 2\n"
            f"manycastclient {GROUP} key 1 minpoll 4 maxpoll 6\n",
        )
        site.sim.run(300)
        self.assertEqual(len(daemon.associations), 2)
        solicitor = daemon.instances["manycastclient"].solicitors[0]
        sent = solicitor.sent
        site.sim.run(600)
        self.assertEqual(solicitor.sent, sent)

    def test_deadServerReplaced(self) -> None:
        """
        One server stops: its association ages out and the client solicits
        again; a new server started later is found without a restart.
        """
        gone = self.site.servers["10.0.0.2"]
        gone.daemon.stop()
        gone.stop()
        # Eight polls to empty the reach register, ten more unanswered: at
        # most 18 polls of 64 s.
        self.site.sim.run(1300)
        self.assertEqual(self.addresses(), ["10.0.0.3", "10.0.0.4"])
        self.site.addServer("10.0.0.7")
        self.site.sim.run(600)
        self.assertEqual(self.addresses(), ["10.0.0.3", "10.0.0.4", "10.0.0.7"])

    def test_expandingRing(self) -> None:
        """
        Each solicitation's TTL is one more than the last, up to 7.
        """
        solicitor = self.daemon.instances["manycastclient"].solicitors[0]
        self.assertEqual(solicitor.maxTTL, 7)
        self.assertEqual(solicitor.ttl, min(1 + solicitor.sent, 7))

    def test_noReplyToAGroup(self) -> None:
        """
        Our unicast server still refuses requests sent to a group it does
        not serve as a manycast server.
        """
        host = self.site.servers["10.0.0.3"]
        self.assertEqual(host.counters["not_unicast"], 0)


class WithoutManycastServerTests(SynchronousTestCase):
    """
    Without a C{manycastserver} line, mode 3 keeps its one owner.
    """

    def test_noClaim(self) -> None:
        """
        The manycast plugins claim no route unless configured.
        """
        sim = Simulation(1)
        host = sim.addHost("10.0.0.9")
        daemon = host.runDaemon("server 10.0.0.1\n")
        self.assertEqual(daemon.instances["manycastserver"].claimedModes, ())
        self.assertEqual(daemon.instances["manycastclient"].claimedModes, ())
        self.assertIn(3, host.modes._uniform)
