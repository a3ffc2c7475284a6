# -*- test-case-name: tests.modes.test_server -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.modes.server}: the server answering through the
multiplexer, with a fake clock and transport.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core import counters as C
from ntpservice.core.packet import MODE_CLIENT, MODE_SERVER, NTPPacket
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.modes.server import SERVED_MODES, ServerMode
from ntpservice.net.multiplexer import ModeTable, NTPDatagramProtocol
from ntpservice.net.udp import ReceivedDatagram
from tests.helpers import FakeClock

T0 = 1_790_000_000 * 10**9
CLIENT = ("198.51.100.7", 40000)


class Transport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int], str | None, int]] = []

    def sendFrom(self, data: object, addr: tuple[str, int], local: str | None, ifindex: int) -> None:
        if callable(data):
            data = data()
        assert isinstance(data, bytes)
        self.sent.append((data, addr, local, ifindex))


class ServerModeTests(SynchronousTestCase):
    """
    L{ServerMode} answers client requests sent to unicast addresses.
    """

    def setUp(self) -> None:
        self.clock = FakeClock(T0, tick=1000)
        self.clock.kernelTimescale = True  # type: ignore[misc]
        self.counters = C.PacketCounters()
        self.system = SystemVariables(leap=0, stratum=2, refid=b"GPS\0", precision=-22)
        modes = ModeTable()
        server = ServerMode(lambda: self.system, self.counters)
        for mode in SERVED_MODES:
            modes.register(mode, server)
        self.protocol = NTPDatagramProtocol(modes, self.counters, self.clock)
        self.transport = Transport()
        self.protocol.makeConnection(self.transport)  # type: ignore[arg-type]

    def deliver(self, packet: bytes, destination: str = "203.0.113.1", local: str = "203.0.113.1") -> None:
        self.protocol.datagramReceivedWithInfo(
            ReceivedDatagram(packet, CLIENT, destination, local, 2, T0 - 5000)
        )

    def test_reply(self) -> None:
        """
        A mode 3 request gets a mode 4 reply from the address it was sent
        to, with the kernel receive time and a later transmit time.
        """
        xmt = NTPTimestamp(0xDEADBEEF_01234567)
        self.deliver(NTPPacket(mode=MODE_CLIENT, xmt=xmt, poll=6).encode())
        [(data, addr, local, ifindex)] = self.transport.sent
        self.assertEqual((addr, local, ifindex), (CLIENT, "203.0.113.1", 2))
        reply = NTPPacket.decode(data)
        self.assertEqual(reply.mode, MODE_SERVER)
        self.assertEqual(reply.org, xmt)
        self.assertEqual(reply.rec, NTPTimestamp.fromUnixNanoseconds(T0 - 5000))
        self.assertEqual(reply.xmt, NTPTimestamp.fromUnixNanoseconds(T0))
        self.assertEqual((reply.stratum, reply.refid, reply.precision), (2, b"GPS\0", -22))
        self.assertEqual(self.counters[C.SENT], 1)

    def test_replyNotLarger(self) -> None:
        """
        A reply is never larger than its request, whatever the request
        carries.
        """
        for request in (
            NTPPacket(mode=MODE_CLIENT).encode(),
            NTPPacket(mode=MODE_CLIENT).encode() + b"\x00\x00\x00\x00",
        ):
            self.deliver(request)
            self.assertLessEqual(len(self.transport.sent[-1][0]), len(request))

    def test_versionEchoed(self) -> None:
        """
        Versions 1 to 4 are answered with the same version.
        """
        for version in (1, 2, 3, 4):
            self.deliver(NTPPacket(version=version, mode=MODE_CLIENT).encode())
            self.assertEqual(NTPPacket.decode(self.transport.sent[-1][0]).version, version)

    def test_badVersionDropped(self) -> None:
        """
        Versions 5-7 are dropped and counted.
        """
        for version in (5, 6, 7):
            self.deliver(NTPPacket(version=version, mode=MODE_CLIENT).encode())
        self.assertEqual(self.transport.sent, [])
        self.assertEqual(self.counters[C.BAD_VERSION], 3)

    def test_broadcastNotAnswered(self) -> None:
        """
        A request sent to a broadcast or multicast address is never
        answered.
        """
        request = NTPPacket(mode=MODE_CLIENT).encode()
        self.deliver(request, "203.0.113.255", "203.0.113.1")
        self.deliver(request, "255.255.255.255", "203.0.113.1")
        self.deliver(request, "224.0.1.1", "203.0.113.1")
        self.assertEqual(self.transport.sent, [])
        self.assertEqual(self.counters[C.NOT_UNICAST], 3)

    def test_serverPacketsIgnored(self) -> None:
        """
        Mode 4 packets arriving with no handler are not answered.
        """
        self.deliver(NTPPacket(mode=MODE_SERVER).encode())
        self.assertEqual(self.transport.sent, [])
        self.assertEqual(self.counters[C.NO_HANDLER], 1)


class ServerAccessTests(SynchronousTestCase):
    """
    C{restrict} lines and rate limiting on the server path, with real
    packets through the multiplexer.
    """

    def makeServer(self, text: str) -> tuple[Transport, C.PacketCounters]:
        import random

        from ntpservice import config
        from ntpservice.core.mru import MRUList, MRUSettings
        from ntpservice.coreconfig import restrictTable

        configuration = config.parseString(text, "t.conf")
        counters = C.PacketCounters()
        table = restrictTable(configuration.restrictions)
        mru = MRUList(MRUSettings(), configuration.discard, random.Random(0).random)
        server = ServerMode(
            lambda: SystemVariables(
                leap=0, stratum=2, reftime=NTPTimestamp((1000 << 32) | 12345)
            ),
            counters,
            table,
            mru,
            3,
        )
        modes = ModeTable()
        for mode in SERVED_MODES:
            modes.register(mode, server)
        clock = FakeClock(T0)
        clock.kernelTimescale = True  # type: ignore[misc]
        self.protocol = NTPDatagramProtocol(modes, counters, clock)
        transport = Transport()
        self.protocol.makeConnection(transport)  # type: ignore[arg-type]
        return transport, counters

    def request(self, at: float, source: tuple[str, int] = CLIENT) -> None:
        self.protocol.datagramReceivedWithInfo(
            ReceivedDatagram(
                NTPPacket(mode=MODE_CLIENT, xmt=NTPTimestamp(77)).encode(),
                source,
                "203.0.113.1",
                "203.0.113.1",
                2,
                int(at * 1e9),
            )
        )

    def test_ignore(self) -> None:
        """
        C{restrict ADDRESS ignore} drops everything from it, silently.
        """
        transport, counters = self.makeServer(f"restrict {CLIENT[0]} ignore\n")
        self.request(1000.0)
        self.assertEqual(transport.sent, [])
        self.assertEqual(counters["access.ignored"], 1)
        self.request(1000.0, ("198.51.100.8", 123))
        self.assertEqual(len(transport.sent), 1)

    def test_serverResponseFuzz(self) -> None:
        """
        C{serverresponse fuzz}: the reply's reference time is rounded down
        to 64 s (ntpd's SRVRSP_FUZZ); without it, it is exact.
        """
        transport, _ = self.makeServer(
            f"restrict {CLIENT[0]} serverresponse fuzz\n"
        )
        self.request(1000.0)
        self.request(1000.0, ("198.51.100.8", 123))
        fuzzed, exact = (NTPPacket.decode(sent[0]).reftime for sent in transport.sent)
        self.assertEqual(fuzzed, NTPTimestamp(960 << 32))
        self.assertEqual(exact, NTPTimestamp((1000 << 32) | 12345))

    def test_noserve(self) -> None:
        """
        C{noserve} drops time requests.
        """
        transport, counters = self.makeServer("restrict default noserve\n")
        self.request(1000.0)
        self.assertEqual(transport.sent, [])
        self.assertEqual(counters["access.noserve"], 1)

    def test_limitedKod(self) -> None:
        """
        C{limited kod}: a client polling every second is answered at first,
        then sent a RATE kiss that echoes its own timestamp and carries
        none of ours, and the kisses are themselves rate limited.
        """
        transport, counters = self.makeServer("restrict default kod limited\n")
        for second in range(30):
            self.request(1000.0 + second)
        replies = [NTPPacket.decode(d) for d, *_ in transport.sent]
        kisses = [r for r in replies if r.isKissOfDeath]
        self.assertTrue(any(not r.isKissOfDeath for r in replies))
        self.assertGreaterEqual(len(kisses), 1)
        self.assertLess(len(kisses), 10)
        for kiss in kisses:
            self.assertEqual(kiss.kissCode, "RATE")
            self.assertEqual(kiss.org, NTPTimestamp(77))
            self.assertEqual(kiss.xmt, NTPTimestamp(77))
        self.assertGreater(counters["access.ratelimited"], 0)
        self.assertEqual(counters["access.kodsent"], len(kisses))

    def test_limitedWithoutKod(self) -> None:
        """
        C{limited} without C{kod} drops the excess silently.
        """
        transport, counters = self.makeServer("restrict default limited\n")
        for second in range(30):
            self.request(1000.0 + second)
        replies = [NTPPacket.decode(d) for d, *_ in transport.sent]
        self.assertFalse(any(r.isKissOfDeath for r in replies))
        self.assertLess(len(replies), 30)


class ServerAuthenticationTests(SynchronousTestCase):
    """
    The server answers authenticated requests with the same key, anything
    else that claims a MAC with a crypto-NAK, and survives any trailer.
    """

    KEYS = "1 MD5 secret1\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n"

    def setUp(self) -> None:
        from ntpservice.auth.keys import parseKeysText

        self.ring = parseKeysText(self.KEYS, "k").withTrusted({1})
        self.counters = C.PacketCounters()
        server = ServerMode(
            lambda: SystemVariables(leap=0, stratum=2),
            self.counters,
            keyring=lambda: self.ring,
        )
        modes = ModeTable()
        for mode in SERVED_MODES:
            modes.register(mode, server)
        clock = FakeClock(T0)
        clock.kernelTimescale = True  # type: ignore[misc]
        self.protocol = NTPDatagramProtocol(modes, self.counters, clock)
        self.transport = Transport()
        self.protocol.makeConnection(self.transport)  # type: ignore[arg-type]

    def send(self, data: bytes) -> bytes | None:
        before = len(self.transport.sent)
        self.protocol.datagramReceivedWithInfo(
            ReceivedDatagram(data, CLIENT, "203.0.113.1", "203.0.113.1", 2, T0)
        )
        if len(self.transport.sent) == before:
            return None
        return self.transport.sent[-1][0]

    def test_signedWithSameKey(self) -> None:
        """
        A request signed with a trusted key gets a reply signed with it,
        which verifies, and is no larger than the request.
        """
        from ntpservice.auth.mac import AuthStatus, signPacket, verifyPacket

        request = signPacket(NTPPacket(mode=MODE_CLIENT).encode(), self.ring[1])
        reply = self.send(request)
        assert reply is not None
        self.assertEqual(len(reply), len(request))
        result = verifyPacket(reply, NTPPacket.decode(reply), self.ring)
        self.assertEqual((result.status, result.keyID), (AuthStatus.OK, 1))

    def test_untrustedAndWrongGetCryptoNAK(self) -> None:
        """
        An untrusted key, an unknown key and a wrong digest get a crypto-NAK:
        a 4-byte zero trailer.
        """
        from ntpservice.auth.keys import parseKeysText
        from ntpservice.auth.mac import signPacket

        header = NTPPacket(mode=MODE_CLIENT).encode()
        other = parseKeysText("1 MD5 wrong\n9 MD5 nine\n", "o")
        for request in (
            signPacket(header, self.ring[2]),
            signPacket(header, other[9]),
            signPacket(header, other[1]),
        ):
            reply = self.send(request)
            assert reply is not None
            self.assertEqual(len(reply), 52)
            self.assertEqual(reply[48:], b"\0\0\0\0")

    def test_fuzzedTrailers(self) -> None:
        """
        Random and truncated trailers never raise: each request is answered
        (plainly, or with a crypto-NAK) or dropped and counted.
        """
        from hypothesis import given, settings
        from hypothesis import strategies as st

        header = NTPPacket(mode=MODE_CLIENT).encode()

        @settings(max_examples=300, deadline=None)
        @given(st.binary(max_size=120))
        def check(trailer: bytes) -> None:
            reply = self.send(header + trailer)
            if reply is not None:
                self.assertLessEqual(len(reply), len(header + trailer))

        check()
