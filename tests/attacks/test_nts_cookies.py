# -*- test-case-name: tests.attacks.test_nts_cookies -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
NTS cookies under attack (RFC 8915 section 10, Security Considerations;
sections 5.7 and 6 on NTS NAKs and cookies): an attacker forges cookies,
tampers with a request's authenticator, replays a captured request (its
cookie and Unique Identifier), and forges an NTS NAK to a client.

The defences, against the real daemon (our NTS server on loopback) and
our NTS client session: a cookie the server cannot open gets an
unauthenticated NTS NAK that carries no time (every timestamp is the
request's) and is no larger than the request (section 10's amplification
rule), counted under C{nts.nak}; a request whose authenticator does not
verify gets nothing, counted under C{nts.badauth}; a replayed request is
answered (the server keeps no state, as RFC 8915 intends) with replies
sealed under keys only the genuine client holds, no larger than the
request, and the client takes one reply per request (its Unique
Identifier), so the replayed answers are refused; a forged NAK whose
Unique Identifier is not the outstanding request's is ignored (the
client keeps its cookies). The interop view of the same is in
L{tests.interop.test_nts}.
"""

from __future__ import annotations

import os
import socket
import urllib.request

import pytest
from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.packet import MODE_CLIENT, NTPPacket
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.nts import protocol as P
from ntpservice.nts.client import NTSClientSession
from tests.interop import peers
from tests.interop.test_nts import ntsServerConfig
from tests.nts.certs import makeCA, makeServer
from tests.nts.kehelper import keExchange

pytestmark = pytest.mark.interop

REPLAYS = 5


class CookieAttackTests(SynchronousTestCase):
    """
    Our NTS server on loopback, a genuine client session (NTS-KE done),
    and an attacker's socket.
    """

    def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        ca = makeCA(self.workdir)
        server = makeServer(self.workdir, ca, ("nts.test",), ("127.0.0.1",))
        self.port = peers.freePort()
        kePort = peers.freePort()
        self.metricsPort = peers.freePort()
        daemon = peers.startNtpservice(
            self.workdir, ntsServerConfig(self.workdir, server.cert, server.key, kePort),
            port=self.port, synchronised=True,
            extraArgs=("--metrics-port", str(self.metricsPort)))
        self.addCleanup(daemon.stop)
        result = keExchange(kePort, ca[0].cert)
        self.session = NTSClientSession("127.0.0.1", None, lambda *a: defer.succeed(result))
        self.session.start(lambda s: None)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)
        self.sock.settimeout(2.0)
        self.sock.connect(("127.0.0.1", self.port))

    def ask(self, data: bytes) -> bytes | None:
        self.sock.send(data)
        try:
            return self.sock.recv(4096)
        except socket.timeout:
            return None

    def counter(self, name: str) -> int:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metricsPort}/metrics", timeout=10
        ) as response:
            text = response.read().decode()
        key = f'ntpservice_other_events_total{{name="{name}"}}'
        for line in text.splitlines():
            if line.startswith(key + " "):
                return int(float(line.rsplit(" ", 1)[1]))
        return 0

    def request(self) -> bytes:
        nonce = NTPTimestamp(int.from_bytes(os.urandom(8), "big") | 1)
        header = NTPPacket(mode=MODE_CLIENT, xmt=nonce).encode()
        signed = self.session.sign(header)
        assert signed is not None
        return signed

    def test_forgedCookie(self) -> None:
        """
        A request whose cookie is random octets of a genuine cookie's
        length (with a random Unique Identifier and authenticator) gets an
        NTS NAK: kiss code NTSN, the request's Unique Identifier, no other
        field, every timestamp the request's own (no time to learn), no
        larger than the request; counted under C{nts.nak}.
        """
        genuine = NTPPacket.decode(self.request())
        cookieLength = len(genuine.extensions[1].value)
        uid = os.urandom(32)
        forged = (genuine.encode()[:48] + P.field(P.EF_UNIQUE_IDENTIFIER, uid).encode()
                  + P.field(P.EF_COOKIE, os.urandom(cookieLength)).encode()
                  + P.authenticatorField(os.urandom(16), os.urandom(16)).encode())
        before = self.counter("nts.nak")
        nak = self.ask(forged)
        assert nak is not None
        packet = NTPPacket.decode(nak)
        self.assertEqual(packet.kissCode, "NTSN")
        self.assertEqual([(e.fieldType, e.value) for e in packet.extensions],
                         [(P.EF_UNIQUE_IDENTIFIER, uid)])
        request = NTPPacket.decode(forged)
        self.assertEqual({packet.org, packet.rec, packet.xmt}, {request.xmt})
        self.assertLessEqual(len(nak), len(forged))
        self.assertEqual(self.counter("nts.nak") - before, 1)

    def test_tamperedAuthenticator(self) -> None:
        """
        A genuine request with one bit of its authenticator flipped is not
        answered at all, and counted under C{nts.badauth}.
        """
        before = self.counter("nts.badauth")
        tampered = bytearray(self.request())
        tampered[-1] ^= 1
        self.assertIsNone(self.ask(bytes(tampered)))
        self.assertEqual(self.counter("nts.badauth") - before, 1)

    def test_replayedRequest(self) -> None:
        """
        A captured genuine request replayed five times is answered each
        time (the server is stateless), each reply no larger than the
        request; the genuine client takes the first reply and refuses the
        five others (their Unique Identifier answers a request already
        answered).
        """
        request = self.request()
        before = self.counter("nts.ok")
        replies = [self.ask(request) for _ in range(1 + REPLAYS)]
        self.assertTrue(all(r is not None and len(r) <= len(request) for r in replies))
        verdicts = [self.session.verify(r, NTPPacket.decode(r)) for r in replies
                    if r is not None]
        self.assertEqual(verdicts, [True] + [False] * REPLAYS)
        self.assertEqual(self.counter("nts.ok") - before, 1 + REPLAYS)

    def test_forgedNakIgnored(self) -> None:
        """
        An NTS NAK forged to the client with a Unique Identifier that is
        not its outstanding request's (an off-path attacker's guess) is
        refused: the client keeps its cookies and does not start a new
        NTS-KE; the genuine reply is still taken.
        """
        request = self.request()
        cookies = list(self.session.cookies)
        kiss = NTPPacket(leap=3, mode=4, stratum=0, refid=b"NTSN",
                         org=NTPPacket.decode(request).xmt).encode()
        nak = kiss + P.field(P.EF_UNIQUE_IDENTIFIER, os.urandom(32)).encode()
        self.assertFalse(self.session.verify(nak, NTPPacket.decode(nak)))
        self.assertEqual(self.session.cookies, cookies)
        reply = self.ask(request)
        assert reply is not None
        self.assertTrue(self.session.verify(reply, NTPPacket.decode(reply)))
