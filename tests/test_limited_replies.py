# -*- test-case-name: tests.test_limited_replies -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
C{limited} is for the requests we answer, never for the replies on our
associations: the daemon on simulated hosts, under our own C{etc/ntp.conf}
access lines, while someone sends requests with its server's address.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.packet import MODE_CLIENT, NTPPacket
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.sim.hosts import Simulation
from ntpservice.sim.network import LinkSpec

SERVER = "10.0.0.1"
CLIENT = "10.0.1.1"

ACCESS = (
    "restrict default kod limited nomodify nopeer noquery notrap\n"
    "restrict source kod limited nomodify noquery notrap\n"
)
"""The access lines of C{etc/ntp.conf}."""


class Spoofer(DatagramProtocol):
    """
    Sends client requests from the server's address (a socket of its own
    on the server's host: another port, the same address, as a spoofed
    datagram would look).
    """

    noisy = False

    def __init__(self, target: str) -> None:
        self.target = target
        self.sent = 0

    def send(self) -> None:
        xmt = NTPTimestamp(0xE9A1B2C3_00000000 + self.sent)
        packet = NTPPacket(version=4, mode=MODE_CLIENT, xmt=xmt)
        assert self.transport is not None
        self.transport.write(packet.encode(), (self.target, 123))
        self.sent += 1

    def datagramReceived(self, data: bytes, address: Any) -> None:
        pass


class SpoofedRequestsTests(SynchronousTestCase):
    """
    One spoofed request a second from the server's address.
    """

    def test_serverStaysReachable(self) -> None:
        """
        The spoofed requests are rate limited (dropped or kissed), while
        every genuine reply of the server reaches its association: after
        ten minutes the reach register is 0xff (it fell to 0x20 before)
        and the server is the system peer.
        """
        sim = Simulation(11)
        server = sim.addReferenceServer(SERVER)
        client = sim.addHost(CLIENT)
        sim.link(CLIENT, SERVER, LinkSpec(delay=1e-3, jitter=1e-5))
        daemon = client.runDaemon(f"server {SERVER} iburst\n{ACCESS}")
        spoofer = Spoofer(CLIENT)
        server.bind(0, spoofer)
        sending = LoopingCall(spoofer.send)
        sending.clock = sim.reactor
        sending.start(1.0)
        sim.run(600)
        sending.stop()
        [association] = daemon.engine.associations.byID.values()
        self.assertEqual(association.reach, 0xFF)
        self.assertEqual(daemon.engine.systemPeer, association.associd)
        limited = client.counters["access.ratelimited"]
        self.assertGreater(limited, spoofer.sent // 2)
        self.assertGreater(client.counters["access.kodsent"], 0)

    def test_repliesNotRecorded(self) -> None:
        """
        The replies are not recorded in the MRU list, so they cannot count
        against the server's own requests: without spoofing, after ten
        minutes of polling the list has no entry for the server.
        """
        sim = Simulation(12)
        sim.addReferenceServer(SERVER)
        client = sim.addHost(CLIENT)
        daemon = client.runDaemon(f"server {SERVER} iburst\n{ACCESS}")
        sim.run(600)
        [association] = daemon.engine.associations.byID.values()
        self.assertEqual(association.reach, 0xFF)
        self.assertIsNotNone(daemon.mru)
        self.assertIsNone(daemon.mru.get(SERVER))
