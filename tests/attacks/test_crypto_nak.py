# -*- test-case-name: tests.attacks.test_crypto_nak -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Forged crypto-NAKs against a client with a symmetric-key association
(CVE-2016-1547, "Crypto-NAK Preemptable Association Denial of Service",
found by Cisco Talos; Malhotra et al., "Attacking the Network Time
Protocol", NDSS 2016, discuss the same off-path denial of service): ntpd
before 4.2.8p7 demobilized a preemptable association on a crypto-NAK (a
reply whose MAC is a bare key ID of zero), which anybody can forge from
the server's address.

Our daemon checks the MAC of every packet for an authenticated association
before its peer process sees it: a crypto-NAK is counted under
C{peer.auth.cryptonak} and changes nothing (the outstanding request stays
outstanding, so the genuine reply is still taken); it never demobilizes
an association.

Hosts: our client with a C{server ... key 1} line, chronyd answering with
that MD5 key, and the attacker.
"""

from __future__ import annotations

import os
import struct

import pytest

from tests.attacks.clientcase import POLL, WAIT, ClientAttackCase, waitFor
from tests.interop import peers
from tests.interop.test_symmetric import KEYS_TEXT, writeKeys

pytestmark = [pytest.mark.interop, pytest.mark.netns]

NAKS = 20


def cryptoNak(origin: bytes) -> bytes:
    """
    A synchronized-looking server reply (mode 4, stratum 1) with origin
    C{origin} whose MAC is a crypto-NAK: four zero octets.
    """
    header = struct.pack("!BBbbII4s", (0 << 6) | (4 << 3) | 4, 1, 3, -20, 0, 16, b"GPS\0")
    return header + os.urandom(8) + origin + os.urandom(16) + b"\0" * 4


class CryptoNakTests(ClientAttackCase):
    """
    The attacker floods our keyed client with crypto-NAKs from its server.
    """

    def test_cryptoNakDisturbsNothing(self) -> None:
        """
        Twenty crypto-NAKs, with random and zero origins, forged from the
        server's address to our client's port: all counted under
        C{peer.auth.cryptonak}; the association is neither demobilized nor
        unselected, and the genuine replies of the next polls are taken.
        """
        server = self.servers[0]
        workdir = os.path.join(self.workdir, "chrony")
        os.makedirs(workdir)
        chronyKeys = writeKeys(workdir, KEYS_TEXT, "chrony", "chrony.keys")
        chrony = peers.startChronydServer(workdir, port=123, netns=server, stratum=1,
                                          extraConfig=[f"keyfile {chronyKeys}"])
        self.addCleanup(chrony.stop)
        ourKeys = writeKeys(self.workdir, KEYS_TEXT, "ntpsec", "ntp.keys")
        daemon = self.ours(f"keys {ourKeys}\ntrustedkey 1 3\n"
                           f"server {server.address} key 1 iburst {POLL}\n")
        self.assertEqual(waitFor(self.selected, WAIT), server.address,
                         self.ntpq("-p") + daemon.output())
        before = self.dropped("peer.auth.cryptonak")
        for origin in (os.urandom(8), b"\0" * 8):
            # Our client sends from port 123 (the server's replies go there).
            self.forge(server.address, 123, 123, cryptoNak(origin), count=NAKS // 2)
        self.assertEqual(
            waitFor(lambda: self.dropped("peer.auth.cryptonak") - before >= NAKS, 15)
            and self.dropped("peer.auth.cryptonak") - before, NAKS)
        # Two more polls: the genuine replies are still taken.
        received = self.metrics()['ntpservice_packets_processed_total']
        self.assertTrue(waitFor(
            lambda: self.metrics()['ntpservice_packets_processed_total'] >= received + 2,
            30), self.ntpq("-p"))
        self.assertEqual(self.selected(), server.address, self.ntpq("-p"))
        self.assertNotIn("emobiliz", daemon.output())
