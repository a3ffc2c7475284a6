# -*- test-case-name: tests.attacks.test_mobilization -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Unauthenticated mobilization against the real daemon: symmetric active
packets (mode 1) that would make it mobilize a passive peer
(CVE-2015-1799's companion, and ntpd's long-standing "any mode 1 packet
gets a peer" that let attackers take a server's time: Malhotra et al.,
"Attacking the Network Time Protocol", NDSS 2016, section V), broadcasts
(mode 5) to a broadcast and a multicast client (CVE-2015-7973's setting:
broadcast clients follow whoever broadcasts), and a rogue manycast
server's mode 4 replies, with the right origin, to a keyed manycast
client.

Our defence is ntpd's rule with C{enable auth} on (the default):
nothing is mobilized from a packet that is not authenticated with a
trusted key (L{ntpservice.core.access.mayMobilize}). Each refusal is
counted (C{symmetric.declined}, C{bclient.unauthenticated},
C{manycast.unauthenticated}) and ntpq shows no new association. The
simulator versions are in L{tests.modes} and scenario 011.
"""

from __future__ import annotations

import os
import struct
import sys
import time

import pytest

from tests.attacks.clientcase import ClientAttackCase, waitFor
from tests.attacks.fakeserver import toNtp

pytestmark = [pytest.mark.interop, pytest.mark.netns]

KEYS = "1 MD5 OurMd5Secret\n"
MULTICAST = "224.0.1.1"
MANYCAST = "239.1.1.1"


def ntpPacket(mode: int, mac: bytes = b"") -> bytes:
    """
    A synchronized stratum 1 packet of C{mode} with the time of now, and
    C{mac} after it.
    """
    now = time.time()
    return struct.pack("!BBbbII4sQQQQ", (0 << 6) | (4 << 3) | mode, 1, 6, -20, 0, 16,
                       b"GPS\0", toNtp(now - 1), 0, 0, toNtp(now)) + mac


class MobilizationTests(ClientAttackCase):
    """
    Our daemon as a broadcast, multicast and manycast client (with a key
    for manycast), with C{enable auth} (the default); the attacker tries
    to get an association.
    """

    HOSTS = 2

    def setUp(self) -> None:
        super().setUp()
        keys = os.path.join(self.workdir, "ntp.keys")
        with open(keys, "w") as f:
            f.write(KEYS)
        os.chmod(keys, 0o600)
        self.daemon = self.ours(
            f"keys {keys}\ntrustedkey 1\nbroadcastclient\nmulticastclient {MULTICAST}\n"
            f"manycastclient {MANYCAST} key 1 minpoll 3 maxpoll 3\n")

    def assertNoAssociation(self) -> None:
        rows = self.peerRows()
        self.assertNotIn(self.attacker.address, rows, self.ntpq("-p"))
        self.assertNotIn("Mobilized", self.daemon.output())

    def test_symmetricActive(self) -> None:
        """
        Three unauthenticated mode 1 packets and three whose MAC does not
        verify (key 1, a wrong digest) are declined and counted; nothing
        is mobilized.
        """
        before = self.counter("symmetric.declined")
        self.forge(self.attacker.address, 123, 123, ntpPacket(1), count=3)
        self.forge(self.attacker.address, 123, 123,
                   ntpPacket(1, struct.pack("!I", 1) + os.urandom(16)), count=3)
        self.assertEqual(
            waitFor(lambda: self.counter("symmetric.declined") - before >= 6, 15)
            and self.counter("symmetric.declined") - before, 6)
        self.assertNoAssociation()

    def test_broadcastAndMulticast(self) -> None:
        """
        Unauthenticated broadcasts (mode 5) to the subnet's broadcast
        address and to the multicast group are counted under
        C{bclient.unauthenticated}; nothing is mobilized.
        """
        broadcast = self.network.subnet.replace(".0/24", ".255")
        before = self.counter("bclient.unauthenticated")
        code = ("import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                "s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1); "
                "s.bind(('0.0.0.0', 123)); "
                f"[s.sendto(bytes.fromhex(sys.argv[1]), ({broadcast!r}, 123)) for _ in range(3)]")
        self.attacker.run([sys.executable, "-c", code, ntpPacket(5).hex()], timeout=30)
        self.forge(self.attacker.address, 123, 123, ntpPacket(5), count=3, dst=MULTICAST)
        self.assertEqual(
            waitFor(lambda: self.counter("bclient.unauthenticated") - before >= 6, 15)
            and self.counter("bclient.unauthenticated") - before, 6, self.metrics())
        self.assertNoAssociation()

    def test_rogueManycastServer(self) -> None:
        """
        A rogue manycast server on the attacker's host hears our
        solicitations to the group and answers them, unauthenticated but
        with the right origin: its replies are counted under
        C{manycast.unauthenticated}; nothing is mobilized.
        """
        rogue = self.fakeServer(self.attacker, groups=(MANYCAST,))
        self.assertTrue(waitFor(lambda: self.counter("manycast.unauthenticated") >= 2, 40),
                        (rogue.requests, self.metrics()))
        self.assertTrue(rogue.requests)
        self.assertNoAssociation()
