# -*- test-case-name: tests.modes.test_symmetric -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for the symmetric plugin (L{ntpservice.modes.symmetric}): symmetric
active associations from C{peer} lines, and the mobilization rules of
symmetric passive associations (seed 004, CVE-2015-1799), with our real
daemon on simulated hosts.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.auth.keys import parseKeysText
from ntpservice.auth.mac import signPacket
from ntpservice.core.dispatch import ASSOC_ACTIVE, ASSOC_PASSIVE
from ntpservice.core.packet import MODE_ACTIVE, MODE_PASSIVE, NTPPacket
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.sim.hosts import SimHost, Simulation
from ntpservice.sim.network import LinkSpec

REFERENCE = "10.0.0.1"
ACTIVE = "10.0.1.1"
PASSIVE = "10.0.1.2"
FORGER = "10.0.9.9"
LAN = LinkSpec(delay=1e-3, jitter=1e-5)

KEYS = (
    "1 SHA1 0123456789abcdef0123456789abcdef01234567\n"
    "2 MD5 anothersecret\n"
)
"""Key 1 trusted on both sides; key 2 known but not trusted by the passive side."""


class Catcher(DatagramProtocol):
    """
    Records what a raw socket receives.
    """

    def __init__(self) -> None:
        self.packets: list[NTPPacket] = []

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.packets.append(NTPPacket.decode(data))


def activePacket(xmt: float, poll: int = 6) -> NTPPacket:
    return NTPPacket(
        leap=0, mode=MODE_ACTIVE, stratum=2, poll=poll, precision=-20,
        refid=b"\x0a\x00\x00\x01",
        xmt=NTPTimestamp.fromUnixNanoseconds(int(xmt * 1e9)),
    )


class SymmetricWorld:
    """
    A reference server, an active host (ours, with the reference as
    upstream and C{peer PASSIVE ...}) and a passive host (ours, no
    upstream and no C{peer} line).
    """

    def __init__(self, activeOptions: str = "", passiveConfig: str = "",
                 activeKeys: str = KEYS, seed: int = 11) -> None:
        self.sim = Simulation(seed, defaultLink=LAN)
        self.sim.addReferenceServer(REFERENCE)
        self.active = self.sim.addHost(ACTIVE, offset=0.001)
        self.passive = self.sim.addHost(PASSIVE, offset=-0.05, freqPPM=3.0)
        self.activeDaemon = self.active.runDaemon(
            f"server {REFERENCE} iburst minpoll 4 maxpoll 4\n"
            f"peer {PASSIVE} minpoll 4 maxpoll 4 {activeOptions}\n"
            "trustedkey 1 2\n",
            keyring=activeKeys,
        )
        self.passiveDaemon = self.passive.runDaemon(
            "trustedkey 1\n" + passiveConfig, keyring=KEYS
        )

    def passiveAssociations(self) -> list[Any]:
        return list(self.passiveDaemon.engine.associations)


class SymmetricActiveTests(SynchronousTestCase):
    """
    C{peer} lines: symmetric active associations.
    """

    def test_peersSynchronize(self) -> None:
        """
        Two of our daemons peering with each other, one with an upstream:
        both associations are symmetric, reachable both ways, and the host
        without an upstream follows the other at its stratum plus one.
        """
        sim = Simulation(3, defaultLink=LAN)
        sim.addReferenceServer(REFERENCE)
        a = sim.addHost(ACTIVE, offset=0.01, freqPPM=3)
        b = sim.addHost(PASSIVE, offset=-0.02, freqPPM=-5)
        da = a.runDaemon(f"server {REFERENCE} iburst minpoll 4 maxpoll 6\n"
                         f"peer {PASSIVE} minpoll 4 maxpoll 6\n")
        db = b.runDaemon(f"peer {ACTIVE} minpoll 4 maxpoll 6\n")
        sim.run(1800)
        [toA] = db.engine.associations
        self.assertEqual(toA.hmode, ASSOC_ACTIVE)
        self.assertNotEqual(toA.reach, 0)
        self.assertEqual(db.engine.systemPeer, toA.associd)
        self.assertEqual(db.engine.system.stratum, da.engine.system.stratum + 1)
        toB = da.engine.find(PASSIVE, 123)
        self.assertNotEqual(toB.reach, 0)
        # B is synchronized to A: a loop for A, never selected.
        self.assertNotEqual(da.engine.systemPeer, toB.associd)
        self.assertLess(abs(b.clock.error()), 1e-3)

    def test_burstWarned(self) -> None:
        """
        C{burst} and C{iburst} on a C{peer} line get a warning naming the
        line, and are not used.
        """
        events: list[dict[str, object]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        sim = Simulation(3, defaultLink=LAN)
        host = sim.addHost(ACTIVE)
        daemon = host.runDaemon(f"peer {PASSIVE} iburst burst\n")
        sim.run(1)
        lines = [formatEvent(e) for e in events]
        self.assertTrue(
            any(line.startswith("<10.0.1.1>:1: burst and iburst should not be used "
                                "with peer") for line in lines),
            lines,
        )
        [association] = daemon.engine.associations
        self.assertFalse(association.settings.iburst or association.settings.burst)


class PassiveMobilizationTests(SynchronousTestCase):
    """
    A symmetric active packet that matches no association mobilizes a
    passive association only when authenticated with a trusted key.
    """

    def test_trustedKey(self) -> None:
        """
        C{peer PASSIVE key 1}, key 1 trusted on the passive side: it
        mobilizes an ephemeral passive association with key 1, which
        exchanges both ways, and the passive host follows the active one.
        """
        world = SymmetricWorld("key 1")
        world.sim.run(900)
        [association] = world.passiveAssociations()
        self.assertEqual(association.hmode, ASSOC_PASSIVE)
        self.assertEqual(association.settings.lifecycle, "ephemeral")
        self.assertEqual(association.settings.key, 1)
        self.assertEqual(association.address, ACTIVE)
        self.assertNotEqual(association.reach, 0)
        self.assertEqual(world.passiveDaemon.engine.systemPeer, association.associd)
        self.assertLess(abs(world.passive.clock.error()), 1e-3)
        toPassive = world.activeDaemon.engine.find(PASSIVE, 123)
        self.assertNotEqual(toPassive.reach, 0)
        self.assertEqual(world.active.counters["peer.auth.failed"], 0)

    def test_untrustedKey(self) -> None:
        """
        A key the passive side has but does not trust: nothing is
        mobilized; the active side gets crypto-NAKs and never a sample.
        """
        world = SymmetricWorld("key 2")
        world.sim.run(600)
        self.assertEqual(world.passiveAssociations(), [])
        self.assertGreater(world.passive.counters["symmetric.declined"], 0)
        self.assertGreater(world.active.counters["peer.auth.cryptonak"], 0)
        self.assertEqual(world.activeDaemon.engine.find(PASSIVE, 123).reach, 0)

    def test_noKey(self) -> None:
        """
        Without a key (and C{enable auth}, the default), nothing is
        mobilized: the packet is answered statelessly in mode 2, as ntpd
        answers it, and nothing is kept.
        """
        world = SymmetricWorld("")
        world.sim.run(600)
        self.assertEqual(world.passiveAssociations(), [])
        self.assertGreater(world.passive.counters["symmetric.replied"], 0)

    def test_disableAuth(self) -> None:
        """
        With C{disable auth}, an unauthenticated peer mobilizes a passive
        association without a key.
        """
        world = SymmetricWorld("", "disable auth\n")
        world.sim.run(600)
        [association] = world.passiveAssociations()
        self.assertEqual(association.hmode, ASSOC_PASSIVE)
        self.assertIsNone(association.settings.key)

    def test_noepeer(self) -> None:
        """
        C{restrict default noepeer} refuses ephemeral peers even with a
        trusted key.
        """
        world = SymmetricWorld("key 1", "restrict default noepeer\n")
        world.sim.run(600)
        self.assertEqual(world.passiveAssociations(), [])

    def test_nopeerWithKey(self) -> None:
        """
        C{nopeer} only refuses unauthenticated peers: with a trusted key the
        passive association is mobilized.
        """
        world = SymmetricWorld("key 1", "restrict default nopeer\n")
        world.sim.run(600)
        self.assertEqual(len(world.passiveAssociations()), 1)

    def test_ignore(self) -> None:
        """
        C{restrict default ignore}: dropped, nothing answered or kept.
        """
        world = SymmetricWorld("key 1", "restrict default ignore\n")
        world.sim.run(600)
        self.assertEqual(world.passiveAssociations(), [])
        self.assertEqual(world.passive.counters["symmetric.replied"], 0)

    def test_demobilizedWhenUnreachable(self) -> None:
        """
        The passive association goes away once its peer stops answering.
        """
        world = SymmetricWorld("key 1")
        world.sim.run(600)
        self.assertEqual(len(world.passiveAssociations()), 1)
        world.sim.link(ACTIVE, PASSIVE, LinkSpec(delay=1e-3, loss=1.0))
        world.sim.run(3600)
        self.assertEqual(world.passiveAssociations(), [])


class ForgeryTests(SynchronousTestCase):
    """
    Forged packets: CVE-2015-1799 and crypto-NAKs.
    """

    def forger(self, world: SymmetricWorld, address: str = FORGER,
               port: int = 123) -> tuple[SimHost, Any, Catcher]:
        host = world.sim.addHost(address) if address != ACTIVE else world.active
        catcher = Catcher()
        transport = host.bind(port if address != ACTIVE else 0, catcher)
        return host, transport, catcher

    def test_unauthenticatedNeverReachesAuthenticatedPassive(self) -> None:
        """
        With an authenticated passive association in place, unauthenticated
        mode 1 and mode 2 packets (and crypto-NAKs) from the peer's own
        address and port are refused: the association's on-wire state does
        not change, it is not demobilized, and synchronization goes on.
        """
        world = SymmetricWorld("key 1")
        world.sim.run(600)
        [association] = world.passiveAssociations()
        process = association.process
        # The forger shares the active host's address and port 123: the
        # active daemon's own socket sends for it.
        send = world.active.transport.write
        now = world.sim.seconds() + 1_800_000_000
        for i in range(20):
            org, rec = process.org, process.rec
            forged = activePacket(now + i).encode()
            send(forged, (PASSIVE, 123))
            send(NTPPacket.decode(forged).__class__(
                leap=0, mode=MODE_PASSIVE, stratum=2,
                xmt=NTPTimestamp.fromUnixNanoseconds(int((now + i) * 1e9)),
            ).encode(), (PASSIVE, 123))
            send(forged + b"\0\0\0\0", (PASSIVE, 123))
            world.sim.run(0.01)
            self.assertEqual((process.org, process.rec), (org, rec))
            world.sim.run(5)
        self.assertEqual(world.passiveAssociations(), [association])
        self.assertGreater(world.passive.counters["peer.auth.failed"], 0)
        self.assertGreater(world.passive.counters["peer.auth.cryptonak"], 0)
        world.sim.run(300)
        self.assertEqual(world.passiveDaemon.engine.systemPeer, association.associd)

    def test_fragmentedReplyDropped(self) -> None:
        """
        A packet for an association that the kernel reassembled from IP
        fragments (the daemon is told the largest fragment's size) is
        dropped before its peer process sees it, and counted under
        C{peer.fragmented}: a forged second fragment could have rewritten
        its timestamps (Malhotra et al., FC 2017).
        """
        from ntpservice.net.udp import ReceivedDatagram

        world = SymmetricWorld()
        world.sim.run(600)
        daemon = world.activeDaemon
        association = daemon.engine.find(PASSIVE, 123)
        process = association.process
        org, rec, received = process.org, process.rec, association.received
        now = world.sim.seconds() + 1_800_000_000
        packet = activePacket(now)
        daemon.associationPacket(packet, ReceivedDatagram(
            packet.encode(), (PASSIVE, 123), rxTime=int(now * 1e9), fragmentSize=600))
        self.assertEqual(world.active.counters["peer.fragmented"], 1)
        self.assertEqual((process.org, process.rec, association.received),
                         (org, rec, received))

    def test_cryptoNAKDemobilizesNothing(self) -> None:
        """
        Crypto-NAKs forged from the passive host's address to the active
        host are noted and never demobilize anything.
        """
        world = SymmetricWorld("key 1")
        world.sim.run(600)
        send = world.passive.transport.write
        before = list(world.activeDaemon.engine.associations)
        for i in range(10):
            nak = activePacket(1_800_000_000 + i).encode() + b"\0\0\0\0"
            send(nak, (ACTIVE, 123))
            world.sim.run(1)
        self.assertEqual(list(world.activeDaemon.engine.associations), before)
        self.assertEqual(len(world.passiveAssociations()), 1)

    def test_forgedFloodMobilizesNothing(self) -> None:
        """
        A flood of unauthenticated and wrongly signed mode 1 packets from
        many addresses mobilizes nothing.
        """
        world = SymmetricWorld("key 1")
        world.sim.run(60)
        key = parseKeysText("1 SHA1 76543210fedcba9876543210fedcba9876543210\n")[1]
        hosts = [world.sim.addHost(f"10.0.8.{i}") for i in range(1, 21)]
        for round_ in range(10):
            for host in hosts:
                packet = activePacket(1_800_000_000 + round_).encode()
                host.transport.write(packet, (PASSIVE, 123))
                host.transport.write(signPacket(packet, key), (PASSIVE, 123))
            world.sim.run(2)
        addresses = {a.address for a in world.passiveAssociations()}
        self.assertEqual(addresses, {ACTIVE})
