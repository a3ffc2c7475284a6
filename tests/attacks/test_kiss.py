# -*- test-case-name: tests.attacks.test_kiss -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Spoofed Kiss-o'-Death packets against our client (CVE-2015-7704,
CVE-2015-7705; Malhotra, Cohen, Brakke and Goldberg, "Attacking the
Network Time Protocol", NDSS 2016, section IV): an off-path attacker who
knows which server a client uses forges RATE, DENY or RSTR kisses from the
server's address; ntpd before 4.2.8p4 obeyed a kiss whatever its origin
timestamp, and stopped polling (DENY, RSTR) or polled every 36 hours
(RATE, with the forged poll field).

Our client takes a kiss only when its origin timestamp is the random
nonce of the outstanding request (L{ntpservice.core.peer.ClientProcess}):
a forged kiss with a wrong or a zero origin fails the bogus test and is
counted under C{peer.bogus}; the association keeps polling at its
interval and stays the system peer. A genuine kiss (the server's, with the
right origin) is honoured as before.

Hosts: our client, a server (L{tests.attacks.fakeserver}, honest until it
is told to kiss) and the attacker, on one bridge.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.attacks.clientcase import POLL, WAIT, ClientAttackCase, kissPacket, waitFor

pytestmark = [pytest.mark.interop, pytest.mark.netns]

POLL_SECONDS = 8.0


class SpoofedKissTests(ClientAttackCase):
    """
    Our client with one server; the attacker forges kisses from it.
    """

    def setUp(self) -> None:
        super().setUp()
        self.server = self.servers[0]
        self.fake = self.fakeServer(self.server)
        self.daemon = self.ours(f"server {self.server.address} iburst {POLL}\n")
        self.assertEqual(waitFor(self.selected, WAIT), self.server.address,
                         self.ntpq("-p") + self.daemon.output())

    def test_forgedKissesIgnored(self) -> None:
        """
        RATE, DENY and RSTR kisses forged from the server's address, each
        with a random wrong origin and with a zero origin, arrive while a
        request is outstanding: all six are dropped and counted under
        C{peer.bogus}, none is counted as a kiss received, the association
        polls again at its interval and stays the system peer.
        """
        before = self.dropped("peer.bogus")
        self.fake.command(silent=True)
        self.fake.drain()
        request = self.fake.nextRequest()
        port = request["port"]
        nonce = bytes.fromhex(request["request"])[40:48]
        for code in ("RATE", "DENY", "RSTR"):
            for origin in (os.urandom(8), b"\0" * 8):
                self.assertNotEqual(origin, nonce)
                self.forge(self.server.address, 123, port, kissPacket(code, origin))
        self.fake.command(silent=False)
        self.assertEqual(
            waitFor(lambda: self.dropped("peer.bogus") - before >= 6, 15) and
            self.dropped("peer.bogus") - before, 6)
        # It keeps polling at its interval: two more requests, each within
        # one poll interval (plus slack) of the one before.
        last = request["time"]
        for _ in range(2):
            following = self.fake.nextRequest(POLL_SECONDS * 2)
            self.assertLessEqual(following["time"] - last, POLL_SECONDS * 1.5)
            last = following["time"]
        self.assertEqual(self.selected(), self.server.address, self.ntpq("-p"))
        metrics = self.metrics()
        self.assertFalse([k for k in metrics if k.startswith("ntpservice_kod_received")],
                         metrics)
        self.assertNotIn("Kiss-o'-Death", self.daemon.output())

    def test_forgedKissAfterReplyIgnored(self) -> None:
        """
        A kiss forged with the origin of a request that the server has
        already answered (an attacker who saw the request, too late) is a
        replay: dropped and counted, nothing changes.
        """
        self.fake.drain()
        request = self.fake.nextRequest()
        nonce = bytes.fromhex(request["request"])[40:48]
        before = self.dropped("peer.bogus") + self.dropped("peer.duplicate")
        self.forge(self.server.address, 123, request["port"], kissPacket("DENY", nonce))
        self.assertTrue(waitFor(
            lambda: self.dropped("peer.bogus") + self.dropped("peer.duplicate") > before,
            15))
        following = self.fake.nextRequest(POLL_SECONDS * 2)
        self.assertLessEqual(following["time"] - request["time"], POLL_SECONDS * 1.5)
        self.assertNotIn("Kiss-o'-Death", self.daemon.output())

    def test_genuineKissHonoured(self) -> None:
        """
        The server's own RATE kiss, whose origin is the nonce of our
        request, is honoured: logged and counted as a RATE kiss received,
        not as a drop; then its DENY kiss stops the polling (no request in
        one and a half poll intervals).
        """
        self.fake.command(kissOnce="RATE")
        self.daemon.waitForOutput(
            re.compile(r"Kiss-o'-Death RATE from " + re.escape(self.server.address)),
            timeout=POLL_SECONDS * 3)
        self.assertTrue(waitFor(
            lambda: self.metrics().get('ntpservice_kod_received_total{code="RATE"}') == 1,
            15), self.metrics())
        self.fake.command(kissOnce="DENY")
        self.daemon.waitForOutput(
            re.compile(r"Kiss-o'-Death DENY from " + re.escape(self.server.address)),
            timeout=POLL_SECONDS * 4)
        self.fake.drain()
        with self.assertRaises(AssertionError):
            self.fake.nextRequest(POLL_SECONDS * 1.5)
