# -*- test-case-name: tests.nts.test_client -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.nts.client} and L{ntpservice.nts.server}: an NTS
client session against the server's request handling, without sockets
(NTS-KE replaced by a fake exchange, time by L{task.Clock}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, task
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.authenticator import NTSAuthenticator, isAuthenticating, NO_AUTHENTICATION
from ntpservice.core.packet import MODE_CLIENT, NTPPacket
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.nts import protocol as P
from ntpservice.nts.client import MAX_COOKIES, NTSClientSession
from ntpservice.nts.cookies import CookieKeys, MasterKeys
from ntpservice.nts.ke import KEResult, NTSKEError
from ntpservice.nts.server import checkRequest, protectReply
from ntpservice.core.server import encodeServerReply

C2S, S2C = b"c" * 32, b"s" * 32


class FakeExchange:
    """
    Stands for L{ntpservice.nts.ke.exchange}: each call returns a Deferred
    the test fires.
    """

    def __init__(self, masterKeys: MasterKeys) -> None:
        self.masterKeys = masterKeys
        self.calls: list[defer.Deferred[KEResult]] = []

    def __call__(self, *args: Any) -> defer.Deferred[KEResult]:
        d: defer.Deferred[KEResult] = defer.Deferred()
        self.calls.append(d)
        return d

    def succeed(self, cookies: int = 8) -> None:
        keys = CookieKeys(15, C2S, S2C)
        self.calls[-1].callback(
            KEResult(15, C2S, S2C, [self.masterKeys.seal(keys) for _ in range(cookies)],
                     "192.0.2.1", 123)
        )

    def fail(self, reason: str) -> None:
        self.calls[-1].errback(NTSKEError(reason))


def serve(masterKeys: MasterKeys, data: bytes) -> tuple[str, bytes | None]:
    """
    What our server does with a request: its outcome and reply.
    """
    packet = NTPPacket.decode(data)
    request = checkRequest(data, packet, masterKeys)
    if request.outcome != "ok":
        return request.outcome, None
    header = encodeServerReply(packet, SystemVariables(), NTPTimestamp(1 << 32), 0)
    return "ok", protectReply(header, request, len(data), masterKeys)


class SessionTests(SynchronousTestCase):
    """
    A client session and our server's handling of its requests.
    """

    def setUp(self) -> None:
        self.clock = task.Clock()
        self.masterKeys = MasterKeys.load(None, 0.0)
        self.exchange = FakeExchange(self.masterKeys)
        self.session = NTSClientSession("nts.test", self.clock, self.exchange)
        self.keyed: list[NTSClientSession] = []
        self.session.start(self.keyed.append)
        self.request = NTPPacket(mode=MODE_CLIENT, xmt=NTPTimestamp(12345 << 32)).encode()

    def exchangeOnce(self) -> tuple[bytes, bytes]:
        data = self.session.sign(self.request)
        assert data is not None
        outcome, reply = serve(self.masterKeys, data)
        self.assertEqual(outcome, "ok")
        assert reply is not None
        return data, reply

    def test_authenticator(self) -> None:
        """
        The core's NTS authenticator carries the session and authenticates.
        """
        authenticator = NTSAuthenticator(self.session)
        self.assertEqual(authenticator.kind, "nts")
        self.assertIsNone(authenticator.keyID)
        self.assertTrue(isAuthenticating(authenticator))
        self.assertFalse(isAuthenticating(NO_AUTHENTICATION))

    def test_roundTrip(self) -> None:
        """
        After NTS-KE the session protects a request with a cookie and seven
        placeholders once the jar is short; our server verifies it and
        answers with as many fresh cookies, no larger than the request; the
        session verifies the reply and its jar is full again.
        """
        self.exchange.succeed()
        self.assertEqual(self.keyed, [self.session])
        data, reply = self.exchangeOnce()
        request = NTPPacket.decode(data)
        self.assertEqual(
            [e.fieldType for e in request.extensions],
            [P.EF_UNIQUE_IDENTIFIER, P.EF_COOKIE, P.EF_AUTHENTICATOR],
        )
        self.assertLessEqual(len(reply), len(data))
        self.assertTrue(self.session.verify(reply, NTPPacket.decode(reply)))
        self.assertEqual(len(self.session.cookies), MAX_COOKIES)

    def test_placeholders(self) -> None:
        """
        With three cookies left the request carries four placeholders and
        the reply brings five cookies, which fill the jar.
        """
        self.exchange.succeed(cookies=4)
        data, reply = self.exchangeOnce()
        kinds = [e.fieldType for e in NTPPacket.decode(data).extensions]
        self.assertEqual(kinds.count(P.EF_COOKIE_PLACEHOLDER), 4)
        self.assertLessEqual(len(reply), len(data))
        self.assertTrue(self.session.verify(reply, NTPPacket.decode(reply)))
        self.assertEqual(len(self.session.cookies), 8)

    def test_replayRefused(self) -> None:
        """
        A reply seen twice is refused the second time (its identifier was
        answered), and counted.
        """
        self.exchange.succeed()
        _, reply = self.exchangeOnce()
        self.assertTrue(self.session.verify(reply, NTPPacket.decode(reply)))
        self.assertFalse(self.session.verify(reply, NTPPacket.decode(reply)))
        self.assertEqual(self.session.counters["replay"], 1)

    def test_forgedRefused(self) -> None:
        """
        A reply whose header was changed does not verify.
        """
        self.exchange.succeed()
        _, reply = self.exchangeOnce()
        forged = reply[:40] + bytes([reply[40] ^ 1]) + reply[41:]
        self.assertFalse(self.session.verify(forged, NTPPacket.decode(forged)))
        self.assertEqual(self.session.counters["bad"], 1)

    def test_forgedRequestDropped(self) -> None:
        """
        Our server drops a request whose authenticator does not verify, and
        answers one with a cookie it cannot open with an NTS NAK.
        """
        self.exchange.succeed()
        data = self.session.sign(self.request)
        assert data is not None
        forged = data[:45] + bytes([data[45] ^ 1]) + data[46:]
        self.assertEqual(serve(self.masterKeys, forged)[0], "badauth")
        other = MasterKeys.load(None, 0.0)
        self.assertEqual(serve(other, data)[0], "nak")

    def test_nakRekeys(self) -> None:
        """
        An NTS NAK answering our request empties the jar and runs NTS-KE
        again at once.
        """
        from ntpservice.nts.server import nakFor

        self.exchange.succeed()
        data = self.session.sign(self.request)
        assert data is not None
        packet = NTPPacket.decode(data)
        uid = packet.extensions[0].value
        nak = nakFor(packet, uid)
        self.assertFalse(self.session.verify(nak, NTPPacket.decode(nak)))
        self.assertEqual(self.session.cookies, [])
        self.assertEqual(self.session.counters["nak"], 1)
        self.assertEqual(len(self.exchange.calls), 2)

    def test_exhaustionRekeys(self) -> None:
        """
        When no reply comes, each request uses a cookie; once none is left
        nothing is sent and NTS-KE runs again.
        """
        self.exchange.succeed(cookies=2)
        self.assertIsNotNone(self.session.sign(self.request))
        self.assertIsNotNone(self.session.sign(self.request))
        self.assertIsNone(self.session.sign(self.request))
        self.assertEqual(len(self.exchange.calls), 2)
        self.exchange.succeed()
        self.assertIsNotNone(self.session.sign(self.request))

    def test_backoff(self) -> None:
        """
        A failed NTS-KE is retried after 4 s, then 8 s, 16 s...; a success
        resets the delay.
        """
        self.exchange.fail("TLS certificate not accepted")
        self.assertEqual(self.session.lastError, "TLS certificate not accepted")
        self.clock.advance(3.9)
        self.assertEqual(len(self.exchange.calls), 1)
        self.clock.advance(0.1)
        self.assertEqual(len(self.exchange.calls), 2)
        self.exchange.fail("again")
        self.clock.advance(7.9)
        self.assertEqual(len(self.exchange.calls), 2)
        self.clock.advance(0.1)
        self.assertEqual(len(self.exchange.calls), 3)
        self.exchange.succeed()
        self.assertEqual(self.keyed, [self.session])
        self.assertIsNone(self.session.lastError)

    def test_stop(self) -> None:
        """
        A stopped session schedules nothing more.
        """
        self.exchange.fail("refused")
        self.session.stop()
        self.clock.advance(100)
        self.assertEqual(len(self.exchange.calls), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class HandlerTests(SynchronousTestCase):
    """
    L{NTSServerHandler}: NTS requests through the plain server, counted.
    """

    def test_counted(self) -> None:
        """
        A genuine request is answered through the plain server, protected
        (its cookies counted as made); a tampered one is dropped and counted
        as C{nts.badauth}; one with an unknown cookie gets a NAK, counted as
        C{nts.nak}.
        """
        from ntpservice.core.counters import PacketCounters
        from ntpservice.nts.server import NTSServerHandler

        masterKeys = MasterKeys.load(None, 0.0)
        exchange = FakeExchange(masterKeys)
        session = NTSClientSession("nts.test", task.Clock(), exchange)
        session.start(lambda s: None)
        exchange.succeed()
        counters = PacketCounters()
        answered: list[Any] = []

        class Server:
            def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
                header = encodeServerReply(packet, SystemVariables(), NTPTimestamp(1), 0)
                sender.sendReply(datagram, lambda: header)

        class Sender:
            now = staticmethod(lambda: 0)

            def sendReply(self, datagram: Any, data: Any) -> None:
                answered.append(data() if callable(data) else data)

        class Datagram:
            def __init__(self, data: bytes) -> None:
                self.data = data

        handler = NTSServerHandler(Server(), lambda: masterKeys, counters)
        request = NTPPacket(mode=MODE_CLIENT).encode()
        genuine = session.sign(request)
        assert genuine is not None
        packet = NTPPacket.decode(genuine)
        self.assertTrue(handler.claims(packet, None))
        self.assertFalse(handler.claims(NTPPacket.decode(request), None))
        handler.datagramReceived(packet, Datagram(genuine), Sender())
        self.assertEqual(len(answered), 1)
        self.assertTrue(session.verify(answered[0], NTPPacket.decode(answered[0])))
        self.assertEqual(counters["nts.ok"], 1)
        self.assertEqual(counters["nts.cookie.make"], 1)
        tampered = genuine[:-1] + bytes([genuine[-1] ^ 1])
        handler.datagramReceived(NTPPacket.decode(tampered), Datagram(tampered), Sender())
        self.assertEqual(len(answered), 1)
        self.assertEqual(counters["nts.badauth"], 1)
        other = NTSServerHandler(Server(), lambda: MasterKeys.load(None, 0.0), counters)
        other.datagramReceived(packet, Datagram(genuine), Sender())
        self.assertEqual(NTPPacket.decode(answered[1]).kissCode, "NTSN")
        self.assertEqual(counters["nts.nak"], 1)


class SizeTests(SynchronousTestCase):
    """
    A reply is never larger than its request (RFC 8915 section 5.7).
    """

    def test_fewerCookiesWhenShort(self) -> None:
        """
        When the request is too short to hold a reply with every cookie it
        asks for, the reply carries as many as fit, down to none.
        """
        from ntpservice.nts.server import NTSRequest

        masterKeys = MasterKeys.load(None, 0.0)
        request = NTSRequest("ok", b"u" * 32, CookieKeys(15, C2S, S2C), cookies=8)
        header = bytes(48)
        full = protectReply(header, request, 10_000, masterKeys)
        self.assertEqual(len(full), 48 + 36 + 40 + 8 * 108)
        for length in (len(full) - 1, 48 + 36 + 40 + 3 * 108 + 50, 48 + 36 + 40, 100):
            made: list[int] = []
            reply = protectReply(header, request, length, masterKeys, made=made.append)
            self.assertLessEqual(len(reply), max(length, 48 + 36 + 40), length)
            self.assertEqual(len(reply), 48 + 36 + 40 + made[0] * 108)
