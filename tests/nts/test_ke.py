# -*- test-case-name: tests.nts.test_ke -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.nts.ke}: the NTS-KE server's bounds on a
connection, and its TLS context.
"""

from __future__ import annotations

import os

from OpenSSL import SSL

from twisted.internet import task
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.nts import protocol as P
from ntpservice.nts.cookies import MasterKeys
from ntpservice.nts.ke import KEServerFactory, serverContext
from tests.nts.certs import makeCA, makeServer


class Transport(StringTransport):
    """
    A transport that records an abort and has a TLS handle.
    """

    aborted = False
    negotiatedProtocol = P.ALPN_NTSKE

    def abortConnection(self) -> None:
        self.aborted = True

    def getHandle(self) -> object:
        return Handle()


class Handle:
    def export_keying_material(self, label: bytes, length: int, context: bytes) -> bytes:
        return bytes([context[-1]]) * length


class BoundsTests(SynchronousTestCase):
    """
    A slow or malicious client holds a connection only so long, with only
    so much data, and only so many at once.
    """

    def setUp(self) -> None:
        self.clock = task.Clock()
        self.counted: list[str] = []
        keys = MasterKeys.load(None, 0.0)
        self.factory = KEServerFactory(
            lambda: keys, self.clock, lambda name, n=1: self.counted.append(name),
            timeout=10.0, maxRequest=1024, maxConnections=2,
        )

    def connect(self, host: str = "192.0.2.1") -> tuple[object, Transport]:
        protocol = self.factory.buildProtocol(None)
        address = (IPv6Address if ":" in host else IPv4Address)("TCP", host, 4460)
        transport = Transport(peerAddress=address)
        protocol.makeConnection(transport)
        return protocol, transport

    def test_answered(self) -> None:
        """
        A complete request is answered and the connection closed; its timer
        is cancelled.
        """
        protocol, transport = self.connect()
        request = P.encodeRecords([
            P.uint16Record(P.RECORD_NEXT_PROTOCOL, [0], critical=True),
            P.uint16Record(P.RECORD_AEAD, [15], critical=True),
            P.Record(P.RECORD_END, critical=True),
        ])
        protocol.dataReceived(request[:5])  # type: ignore[attr-defined]
        protocol.dataReceived(request[5:])  # type: ignore[attr-defined]
        records, complete, _ = P.splitRecords(transport.value())
        self.assertTrue(complete)
        self.assertEqual(sum(r.recordType == P.RECORD_COOKIE for r in records), 8)
        self.assertTrue(transport.disconnecting)
        protocol.connectionLost(None)  # type: ignore[attr-defined]
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertIn("ke.ok", self.counted)

    def test_localAddressNotServed(self) -> None:
        """
        A connection to a local address the C{interface} rules do not serve
        (C{servesLocal} says no; an IPv4 address reached through a
        dual-stack socket is asked as IPv4) is aborted at once, unanswered,
        and counted as C{ke.ignored}; one to a served address is admitted.
        """
        asked: list[str] = []

        def servesLocal(local: str) -> bool:
            asked.append(local)
            return local != "192.0.2.99"

        self.factory.servesLocal = servesLocal
        protocol = self.factory.buildProtocol(None)
        transport = Transport(
            hostAddress=IPv6Address("TCP", "::ffff:192.0.2.99", 4460),
            peerAddress=IPv4Address("TCP", "192.0.2.1", 5000),
        )
        protocol.makeConnection(transport)
        self.assertTrue(transport.aborted)
        self.assertEqual(asked, ["192.0.2.99"])
        self.assertIn("ke.ignored", self.counted)
        self.assertEqual(self.factory.admitted, 0)
        protocol.connectionLost(None)  # type: ignore[attr-defined]
        self.assertEqual(self.factory.open, 0)
        _, served = self.connect()
        self.assertFalse(served.aborted)
        self.assertEqual(self.factory.admitted, 1)

    def test_timeout(self) -> None:
        """
        A connection that has not finished its exchange in 10 s is aborted.
        """
        _, transport = self.connect()
        self.clock.advance(9.9)
        self.assertFalse(transport.aborted)
        self.clock.advance(0.1)
        self.assertTrue(transport.aborted)
        self.assertIn("ke.timeout", self.counted)

    def test_tooLarge(self) -> None:
        """
        More than 1024 bytes without End of Message abort the connection.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(P.Record(0x4000, b"x" * 1100).encode())  # type: ignore[attr-defined]
        self.assertTrue(transport.aborted)
        self.assertEqual(transport.value(), b"")
        self.assertIn("ke.toolarge", self.counted)

    def test_tooMany(self) -> None:
        """
        Beyond the limit of connections at once, new ones are closed at
        once; a closed one makes room.
        """
        first, _ = self.connect()
        self.connect()
        _, third = self.connect()
        self.assertTrue(third.aborted)
        self.assertIn("ke.refused", self.counted)
        first.connectionLost(None)  # type: ignore[attr-defined]
        self.factory.open -= 1  # the refused one's connectionLost
        _, fourth = self.connect()
        self.assertFalse(fourth.aborted)

    def test_tooManyFromOneAddress(self) -> None:
        """
        Beyond 16 connections at once from one address, its new ones are
        closed at once; other addresses still get in.
        """
        self.factory.maxConnections = 256
        for _ in range(16):
            _, transport = self.connect("192.0.2.7")
            self.assertFalse(transport.aborted)
        _, refused = self.connect("192.0.2.7")
        self.assertTrue(refused.aborted)
        self.assertIn("ke.refused", self.counted)
        _, other = self.connect("192.0.2.8")
        self.assertFalse(other.aborted)

    def test_ipv6Prefix(self) -> None:
        """
        The addresses of one IPv6 /64 count as one address; an IPv4-mapped
        address counts as the IPv4 address.
        """
        self.factory.maxConnections = 256
        self.factory.maxPerAddress = 2
        self.connect("2001:db8:1:2::1")
        self.connect("2001:db8:1:2::2")
        _, refused = self.connect("2001:db8:1:2:ffff::3")
        self.assertTrue(refused.aborted)
        _, other = self.connect("2001:db8:1:3::1")
        self.assertFalse(other.aborted)
        self.connect("192.0.2.9")
        self.connect("::ffff:192.0.2.9")
        _, mapped = self.connect("192.0.2.9")
        self.assertTrue(mapped.aborted)

    def test_busiestMakesRoom(self) -> None:
        """
        With every slot taken, a connection from an address holding none
        takes the place of the oldest connection of the busiest address
        (slow-loris clients cannot lock new clients out); one from an
        address as busy as any other is refused, and a closed evicted
        connection frees nothing twice.
        """
        self.factory.maxConnections = 3
        first, firstTransport = self.connect("192.0.2.1")
        self.connect("192.0.2.1")
        self.connect("192.0.2.2")
        newcomer, transport = self.connect("192.0.2.3")
        self.assertFalse(transport.aborted)
        self.assertTrue(firstTransport.aborted)
        self.assertIn("ke.evicted", self.counted)
        _, refused = self.connect("192.0.2.4")
        self.assertTrue(refused.aborted)
        self.assertIn("ke.refused", self.counted)
        first.connectionLost(None)  # type: ignore[attr-defined]
        self.assertEqual(self.factory.admitted, 3)
        self.assertEqual({k: len(v) for k, v in self.factory.byAddress.items()},
                         {"192.0.2.1": 1, "192.0.2.2": 1, "192.0.2.3": 1})
        newcomer.connectionLost(None)  # type: ignore[attr-defined]
        self.assertEqual(self.factory.admitted, 2)
        self.assertNotIn("192.0.2.3", self.factory.byAddress)

    def test_noALPN(self) -> None:
        """
        A client that did not negotiate ALPN ntske/1 is dropped after the
        handshake.
        """
        protocol, transport = self.connect()
        transport.negotiatedProtocol = None  # type: ignore[assignment]
        protocol.handshakeCompleted()  # type: ignore[attr-defined]
        self.assertTrue(transport.aborted)


class ContextTests(SynchronousTestCase):
    """
    The server's TLS context.
    """

    def test_tls13Only(self) -> None:
        """
        The context refuses anything below TLS 1.3, and a key that is not
        the certificate's.
        """
        directory = self.mktemp()
        os.makedirs(directory)
        ca = makeCA(directory)
        server = makeServer(directory, ca)
        other = makeServer(directory, ca, stem="other")
        context = serverContext(server.cert, server.key)
        self.assertRaises(SSL.Error, serverContext, server.cert, other.key)
        for maximum, fails in ((SSL.TLS1_2_VERSION, True), (SSL.TLS1_3_VERSION, False)):
            clientContext = SSL.Context(SSL.TLS_METHOD)
            clientContext.set_max_proto_version(maximum)
            clientContext.set_alpn_protos([P.ALPN_NTSKE])
            self.assertEqual(handshakeFails(context, clientContext), fails, maximum)


def handshakeFails(serverContext: object, clientContext: object) -> bool:
    """
    Run a TLS handshake in memory: whether it fails.
    """
    server = SSL.Connection(serverContext, None)  # type: ignore[arg-type]
    server.set_accept_state()
    client = SSL.Connection(clientContext, None)  # type: ignore[arg-type]
    client.set_connect_state()
    try:
        for _ in range(10):
            for connection in (client, server):
                try:
                    connection.do_handshake()
                except SSL.WantReadError:
                    pass
            for source, sink in ((client, server), (server, client)):
                try:
                    sink.bio_write(source.bio_read(65536))
                except SSL.WantReadError:
                    pass
        return client.get_protocol_version_name() != "TLSv1.3"
    except SSL.Error:
        return True


class CAFileTests(SynchronousTestCase):
    """
    The client's CA file is read bounded, as every file the configuration
    names.
    """

    def test_boundedRead(self) -> None:
        """
        A FIFO is refused unread (no blocking in C{open}) and a file larger
        than L{MAX_PEM_BYTES} is refused whole, each with an L{OSError}; a
        real CA file gives its certificate.
        """
        from ntpservice.nts.ke import _readCertificates
        from ntpservice.nts.settings import MAX_PEM_BYTES

        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        ca = makeCA(directory)
        self.assertEqual(len(_readCertificates(ca[0].cert)), 1)
        fifo = os.path.join(directory, "fifo")
        os.mkfifo(fifo)
        self.assertRaises(OSError, _readCertificates, fifo)
        large = os.path.join(directory, "large.pem")
        with open(ca[0].cert, "rb") as f:
            pem = f.read()
        with open(large, "wb") as f:
            f.write(pem * (MAX_PEM_BYTES // len(pem) + 1))
        error = self.assertRaises(OSError, _readCertificates, large)
        self.assertIn("too large", str(error))
