# -*- test-case-name: tests.attacks.test_replay -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Replayed packets against the real daemon: a server's reply replayed to
its client (RFC 5905 section 8, tests 1 and 2; Malhotra et al.,
"Attacking the Network Time Protocol", NDSS 2016, section III on replays
and the origin check), and a symmetric peer's authenticated mode 1 packet
replayed, next to unauthenticated ones forged from the peer's address
(CVE-2015-1799: ntpd before 4.2.8p2 updated a symmetric association's
state from packets that failed authentication, so that an off-path
attacker could break the association; the simulator version is in
L{tests.modes.test_symmetric}).

Our defences: a client's reply must echo the random nonce of the
outstanding request (bogus, C{peer.bogus}) and carry a new transmit
timestamp (duplicate, C{peer.duplicate}); an authenticated association
checks the MAC before its peer process sees the packet
(C{peer.auth.failed}), so nothing forged changes its state, and a
replayed authentic packet is a duplicate.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.attacks.clientcase import POLL, WAIT, ClientAttackCase, waitFor
from tests.interop import peers
from tests.interop.test_symmetric import KEYS_TEXT, writeKeys

pytestmark = [pytest.mark.interop, pytest.mark.netns]

REPLAYS = 5


class ServerReplayTests(ClientAttackCase):
    """
    Our client and one server; the attacker replays the server's replies.
    """

    def drops(self) -> int:
        return self.dropped("peer.bogus") + self.dropped("peer.duplicate")

    def settledProcessed(self) -> float:
        """
        The daemon's count of processed packets, once it stayed the same for
        a second (at most 10 s).
        """
        last = self.metrics()["ntpservice_packets_processed_total"]
        for _ in range(10):
            time.sleep(1.0)
            now = self.metrics()["ntpservice_packets_processed_total"]
            if now == last:
                break
            last = now
        return last

    def test_replayedReplyIgnored(self) -> None:
        """
        A genuine reply replayed five times at once (duplicates) and five
        times while the next request is outstanding (bogus: its origin is
        an old nonce) is dropped ten times and counted; nothing else
        changes: no sample from it (the replies accepted are the server's
        own), the server stays the system peer, and the offset stays
        within a millisecond (a replayed reply taken as an answer to a
        later request would be off by the time between them).
        """
        server = self.servers[0]
        fake = self.fakeServer(server)
        daemon = self.ours(f"server {server.address} iburst {POLL}\n")
        self.assertEqual(waitFor(self.selected, WAIT), server.address,
                         self.ntpq("-p") + daemon.output())
        fake.drain()
        request = fake.nextRequest()
        reply = bytes.fromhex(request["reply"])
        # From here until the replays are counted the server answers
        # nothing, and its genuine reply to that request may still be on
        # its way in (a loaded machine): count from once it was processed.
        fake.command(silent=True)
        processed = self.settledProcessed()
        before = self.drops()
        self.forge(server.address, 123, request["port"], reply, count=REPLAYS)
        self.assertTrue(waitFor(lambda: self.drops() - before >= REPLAYS, 15))
        fake.drain()
        fake.nextRequest()
        self.forge(server.address, 123, request["port"], reply, count=REPLAYS)
        self.assertEqual(
            waitFor(lambda: self.drops() - before >= 2 * REPLAYS, 15)
            and self.drops() - before, 2 * REPLAYS)
        self.assertEqual(self.metrics()["ntpservice_packets_processed_total"], processed)
        fake.command(silent=False)
        fake.nextRequest()
        self.assertTrue(waitFor(
            lambda: self.metrics()["ntpservice_packets_processed_total"] > processed, 15))
        self.assertEqual(self.selected(), server.address)
        offset = self.metrics()[
            f'ntpservice_association_offset_seconds{{associd="1",address="{server.address}"}}']
        self.assertLess(abs(offset), 0.001)


class SymmetricReplayTests(ClientAttackCase):
    """
    CVE-2015-1799 on the real daemon: ours and chronyd as symmetric peers
    with an MD5 key; the attacker, on path, replays chronyd's packets and
    forges unauthenticated ones from its address.
    """

    def test_symmetricReplayAndForgeryIgnored(self) -> None:
        """
        chronyd's authentic mode 1 packet replayed five times is dropped as
        a duplicate (or bogus, should chronyd's next packet have come
        first); five unauthenticated mode 1 packets forged from
        chronyd's address (answering our last packet, as CVE-2015-1799's
        attacker would forge them) are dropped by the MAC check; the
        association with chronyd stays reachable and selected, and
        chronyd's next packets are still processed.
        """
        peer = self.servers[0]
        workdir = os.path.join(self.workdir, "chrony")
        os.makedirs(workdir)
        chronyKeys = writeKeys(workdir, KEYS_TEXT, "chrony", "chrony.keys")
        chrony = peers.startChronydServer(
            workdir, port=123, netns=peer, stratum=1,
            extraConfig=[f"keyfile {chronyKeys}",
                         f"peer {self.client.address} key 1 {POLL}"])
        self.addCleanup(chrony.stop)
        ourKeys = writeKeys(self.workdir, KEYS_TEXT, "ntpsec", "ntp.keys")
        daemon = self.ours(f"keys {ourKeys}\ntrustedkey 1 3\n"
                           f"peer {peer.address} key 1 {POLL}\n")
        self.assertEqual(waitFor(self.selected, WAIT * 2), peer.address,
                         self.ntpq("-p") + daemon.output())
        [seen] = self.sniff(peer.address, mode=1)
        captured = bytes.fromhex(seen["payload"])
        self.assertGreater(len(captured), 48)  # it carries its MAC
        duplicates = self.dropped("peer.duplicate") + self.dropped("peer.bogus")
        failed = self.dropped("peer.auth.failed")
        processed = self.metrics()["ntpservice_packets_processed_total"]
        self.forge(peer.address, 123, 123, captured, count=REPLAYS)
        # Unauthenticated: the captured header, the transmit timestamp
        # moved on, no MAC.
        forged = bytearray(captured[:48])
        forged[40:48] = os.urandom(8)
        self.forge(peer.address, 123, 123, bytes(forged), count=REPLAYS)
        self.assertTrue(waitFor(
            lambda: self.dropped("peer.duplicate") + self.dropped("peer.bogus")
            - duplicates >= REPLAYS
            and self.dropped("peer.auth.failed") - failed >= REPLAYS, 15),
            self.metrics())
        self.assertTrue(waitFor(
            lambda: self.metrics()["ntpservice_packets_processed_total"] >= processed + 2,
            30), self.ntpq("-p"))
        self.assertEqual(self.selected(), peer.address, self.ntpq("-p"))
        self.assertNotIn("emobiliz", daemon.output())
