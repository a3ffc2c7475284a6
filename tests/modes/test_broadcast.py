# -*- test-case-name: tests.modes.test_broadcast -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.modes.broadcast} and the broadcast client's peer
process (L{ntpservice.core.peer.BroadcastClientProcess}): our daemons on
simulated hosts, a broadcast/multicast server and its clients.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.dispatch import ASSOC_BCLIENT
from ntpservice.core.peer import VOLLEY_REQUESTS
from ntpservice.sim.hosts import Simulation
from ntpservice.sim.network import LinkSpec

KEYS = "1 MD5 one-secret\n2 MD5 two-secret\n3 MD5 three-secret\n4 MD5 four-secret\n5 MD5 five\n"

REFERENCE = "10.0.0.1"
GROUP = "224.0.1.1"

# Seed 002's client restrictions (notrust: only authenticated packets).
SEED_002_RESTRICT = (
    "restrict -4 default kod notrap nomodify nopeer noquery notrust\n"
    "restrict -6 default kod notrap nomodify nopeer noquery notrust\n"
    "restrict ::1\n"
)


def noInterfaces() -> list[Any]:
    """The simulator's hosts have no interfaces: one copy, one join."""
    return []


class Site:
    """
    A simulated site: one reference server, broadcast servers synchronized
    to it, broadcast clients.
    """

    def __init__(self, seed: int = 2) -> None:
        self.sim = Simulation(seed)
        self.sim.addReferenceServer(REFERENCE)
        self.servers: list[Any] = []
        self.clients: list[Any] = []

    def addServer(self, address: str, lines: str, keys: str | None = None) -> Any:
        host = self.sim.addHost(address, offset=0.0005)
        self.sim.link(address, REFERENCE, LinkSpec(delay=1e-3, jitter=1e-5))
        daemon = host.runDaemon(
            f"server {REFERENCE} iburst minpoll 4\n" + lines, keyring=keys
        )
        daemon.instances["broadcast"].interfaces = noInterfaces
        self.servers.append(host)
        return daemon

    def addClient(self, address: str, lines: str, keys: str | None = None) -> Any:
        host = self.sim.addHost(address, offset=0.02, freqPPM=5.0)
        for server in self.servers:
            self.sim.link(address, server.address, LinkSpec(delay=2e-3, jitter=2e-5))
        daemon = host.runDaemon(lines, keyring=keys)
        self.clients.append(host)
        return daemon

    def run(self, seconds: float, step: float | None = None, observe: Any = None) -> None:
        if step is None:
            self.sim.run(seconds)
        else:
            self.sim.run(seconds, step=step, observe=observe)


class MulticastClientTests(SynchronousTestCase):
    """
    A multicast client mobilizes one association of association mode 6 per
    server, calibrates its delay with a short volley, then only listens.
    """

    def setUp(self) -> None:
        self.site = Site()
        self.site.addServer("10.0.0.2", f"broadcast {GROUP} minpoll 4\n")
        self.daemon = self.site.addClient(
            "10.0.1.1", f"multicastclient {GROUP}\ndisable auth\n"
        )
        self.hmodes: set[int] = set()

        def observe(sim: Any) -> None:
            for association in self.daemon.associations:
                self.hmodes.add(association.hmode)

        self.site.run(1200, step=10, observe=observe)

    def test_mobilizedAndSynchronized(self) -> None:
        """
        One ephemeral association with the server, in association mode 6,
        became the system peer; the client's clock is within 1 ms.
        """
        associations = list(self.daemon.associations)
        self.assertEqual([a.address for a in associations], ["10.0.0.2"])
        association = associations[0]
        self.assertEqual(association.hmode, ASSOC_BCLIENT)
        self.assertEqual(association.settings.lifecycle, "ephemeral")
        self.assertEqual(self.daemon.engine.systemPeer, association.associd)
        self.assertLess(abs(self.site.clients[0].clock.error()), 1e-3)

    def test_neverUnicast(self) -> None:
        """
        Seed 002: the association is a broadcast client for its whole life,
        never a unicast client.
        """
        self.assertEqual(self.hmodes, {ASSOC_BCLIENT})

    def test_onlyTheVolleyIsSent(self) -> None:
        """
        After the calibration volley the client sends nothing to the
        server: at most one burst of requests in twenty minutes.
        """
        counters = self.site.sim.network.counters("10.0.1.1", "10.0.0.2")
        self.assertGreater(counters.sent, 0)
        self.assertLessEqual(counters.sent, VOLLEY_REQUESTS)
        association = next(iter(self.daemon.associations))
        self.assertTrue(association.process.listening)
        self.assertGreater(association.process.delay, 0.003)
        self.assertLess(association.process.delay, 0.006)

    def test_listensAtTheServersInterval(self) -> None:
        """
        The association's reach register is full (the poll that just
        shifted it aside): it hears every broadcast (one per 16 s) and
        counts them at that interval.
        """
        association = next(iter(self.daemon.associations))
        self.assertGreaterEqual(bin(association.reach).count("1"), 7)
        self.assertEqual(association.ppoll, 4)


class BroadcastDelayTests(SynchronousTestCase):
    """
    With C{broadcastdelay}, no volley: the client never sends.
    """

    def test_noVolley(self) -> None:
        """
        The configured delay is used, nothing is sent to the server, and
        the client synchronizes.
        """
        site = Site()
        site.addServer("10.0.0.2", f"broadcast {GROUP} minpoll 4\n")
        daemon = site.addClient(
            "10.0.1.1", f"multicastclient {GROUP}\nbroadcastdelay 0.004\ndisable auth\n"
        )
        site.run(900)
        self.assertEqual(site.sim.network.counters("10.0.1.1", "10.0.0.2").sent, 0)
        association = next(iter(daemon.associations))
        self.assertEqual(association.process.delay, 0.004)
        self.assertIsNotNone(daemon.engine.systemPeer)


class BroadcastAddressTests(SynchronousTestCase):
    """
    C{broadcastclient} listens to packets sent to a broadcast address.
    """

    def test_broadcastAddress(self) -> None:
        """
        A server sending to 10.0.255.255 is heard by a C{broadcastclient}
        (the simulator delivers a broadcast address to its members), not by
        a client with only C{multicastclient}.
        """
        site = Site()
        site.addServer("10.0.0.2", "broadcast 10.0.255.255 minpoll 4\n")
        listener = site.addClient("10.0.1.1", "broadcastclient\ndisable auth\n")
        deaf = site.addClient("10.0.1.2", f"multicastclient {GROUP}\ndisable auth\n")
        for host in site.clients:
            site.sim.network.join("10.0.255.255", host.address)
        site.run(600)
        self.assertEqual([a.hmode for a in listener.associations], [ASSOC_BCLIENT])
        self.assertEqual(list(deaf.associations), [])
        self.assertGreater(site.clients[1].counters["bclient.notlistening"], 0)


class AuthenticationTests(SynchronousTestCase):
    """
    While C{enable auth} is on (the default), only a server that signs its
    broadcasts with a trusted key mobilizes an association.
    """

    def test_unauthenticatedRefused(self) -> None:
        """
        Without C{disable auth}, an unsigned broadcast mobilizes nothing.
        """
        site = Site()
        site.addServer("10.0.0.2", f"broadcast {GROUP} minpoll 4\n")
        daemon = site.addClient("10.0.1.1", f"multicastclient {GROUP}\n")
        site.run(300)
        self.assertEqual(list(daemon.associations), [])
        self.assertGreater(site.clients[0].counters["bclient.unauthenticated"], 0)

    def test_seed002Site(self) -> None:
        """
        Seed 002: four multicast servers, each with its own key; a client
        trusting keys 1-4 with seed 002's restrict lines mobilizes four
        associations that stay in association mode 6 (never unicast), each
        requiring its server's key; one is the system peer, and the client
        serves stratum + 1. A fifth server signing with an untrusted key
        mobilizes nothing.
        """
        site = Site(seed=5)
        for n in range(1, 6):
            site.addServer(
                f"10.0.0.{n + 1}",
                f"keys /etc/ntp.keys\ntrustedkey {n}\nbroadcast {GROUP} key {n} minpoll 6\n",
                keys=KEYS,
            )
        daemon = site.addClient(
            "10.0.1.1",
            "keys /etc/ntp/ntp.keys\ntrustedkey 1 2 3 4\n"
            + SEED_002_RESTRICT
            + f"multicastclient {GROUP}\n",
            keys=KEYS,
        )
        hmodes: set[int] = set()

        def observe(sim: Any) -> None:
            for association in daemon.associations:
                hmodes.add(association.hmode)

        site.run(1800, step=30, observe=observe)
        associations = list(daemon.associations)
        self.assertEqual(
            sorted(a.address for a in associations),
            ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"],
        )
        self.assertEqual(hmodes, {ASSOC_BCLIENT})
        self.assertEqual(
            sorted((a.address, a.settings.key) for a in associations),
            [("10.0.0.2", 1), ("10.0.0.3", 2), ("10.0.0.4", 3), ("10.0.0.5", 4)],
        )
        self.assertIn(daemon.engine.systemPeer, [a.associd for a in associations])
        peer = daemon.associations.get(daemon.engine.systemPeer)
        self.assertEqual(daemon.system().stratum, peer.stratum + 1)
        self.assertGreater(site.clients[0].counters["bclient.auth"], 0)


class SilenceTests(SynchronousTestCase):
    """
    An association whose server falls silent is demobilized.
    """

    def test_demobilizedWhenSilent(self) -> None:
        """
        Ten of the server's intervals without a packet, and the ephemeral
        association is gone.
        """
        site = Site()
        site.addServer("10.0.0.2", f"broadcast {GROUP} minpoll 4\n")
        daemon = site.addClient("10.0.1.1", f"multicastclient {GROUP}\ndisable auth\n")
        site.run(300)
        self.assertEqual(len(daemon.associations), 1)
        site.servers[0].daemon.stop()
        site.servers[0].stop()
        site.run(600)
        self.assertEqual(list(daemon.associations), [])


class ServerTests(SynchronousTestCase):
    """
    The broadcast server sends only while synchronized.
    """

    def test_unsynchronizedServerIsSilent(self) -> None:
        """
        A server with no source sends no broadcast; one counted per tick.
        """
        sim = Simulation(3)
        host = sim.addHost("10.0.0.2")
        daemon = host.runDaemon(f"broadcast {GROUP} minpoll 4\n")
        daemon.instances["broadcast"].interfaces = noInterfaces
        sim.run(100)
        self.assertEqual(daemon.instances["broadcast"].broadcasters[0].sent, 0)
        self.assertGreater(host.counters["broadcast.unsynchronized"], 0)

    def test_perInterface(self) -> None:
        """
        A multicast packet goes out once per interface that carries
        multicast.
        """
        from ntpservice.net.groups import Interface

        site = Site()
        daemon = site.addServer("10.0.0.2", f"broadcast {GROUP} minpoll 4\n")
        sent: list[Any] = []
        send = daemon.sockets.send

        def recording(*args: Any) -> bool:
            sent.append(args)
            return bool(send(*args))

        daemon.sockets.send = recording
        daemon.instances["broadcast"].interfaces = lambda: [
            Interface("eth0", 2, 0x1003),
            Interface("eth1", 3, 0x1003),
        ]
        site.run(200)
        sent = [args for args in sent if args[1] == (GROUP, 123)]
        self.assertTrue(sent)
        self.assertEqual({args[4] for args in sent}, {2, 3})
        self.assertEqual({args[1] for args in sent}, {(GROUP, 123)})


class ExampleTests(SynchronousTestCase):
    """
    The examples in C{etc/} for these modes parse, and the daemon warns
    about none of their lines.
    """

    def test_examples(self) -> None:
        """
        Each file parses with the installed plugins; no line is named in
        a start-up warning (a C{broadcast} or C{manycastclient} line's
        C{ttl} is acted on); ours have no parser warning either.
        """
        import os

        from ntpservice import config, service
        from ntpservice.plugins import loadModePlugins, registryFor

        etc = os.path.join(os.path.dirname(__file__), "..", "..", "etc")
        registry = registryFor(loadModePlugins())
        for name in (
            "seed-002-site-client.conf",
            "seed-002-multicast-server.conf",
            "manycast-server.conf",
            "manycast-client.conf",
            "multicast-ipv6.conf",
        ):
            configuration = config.parseFile(os.path.join(etc, name), registry=registry)
            self.assertEqual(service.inactiveWarnings(configuration), [], name)
            if name == "seed-002-site-client.conf":
                self.assertEqual(
                    [a.directive for a in configuration.associations], ["multicastclient"]
                )
                self.assertEqual(configuration.trustedKeys, frozenset({1, 2, 3, 4}))
            if not name.startswith("seed-002-site-client"):
                # (Seed 002's client, as written, has kod without limited.)
                self.assertEqual(list(configuration.warnings), [], name)
