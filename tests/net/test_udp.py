# -*- test-case-name: tests.net.test_udp -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.net.udp}: real sockets on loopback, read by hand
(L{MemoryReactor} stands in for the reactor, so nothing waits).
"""

from __future__ import annotations

import socket
import time

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.net.udp import ReceivedDatagram, TimestampingPort, parseAncillary


class Collector:
    def __init__(self) -> None:
        self.received: list[ReceivedDatagram] = []
        self.transport = None

    def makeConnection(self, transport: object) -> None:
        self.transport = transport

    def doStart(self) -> None:
        pass

    def doStop(self) -> None:
        pass

    def datagramReceivedWithInfo(self, datagram: ReceivedDatagram) -> None:
        self.received.append(datagram)


def _listen(testCase: SynchronousTestCase, interface: str) -> tuple[TimestampingPort, Collector]:
    collector = Collector()
    port = TimestampingPort(0, collector, interface, reactor=MemoryReactorClock())
    port.startListening()
    testCase.addCleanup(port.stopListening)
    return port, collector


def _sender(testCase: SynchronousTestCase, family: int) -> socket.socket:
    s = socket.socket(family, socket.SOCK_DGRAM)
    testCase.addCleanup(s.close)
    s.settimeout(2)
    return s


class TimestampingPortTests(SynchronousTestCase):
    """
    L{TimestampingPort} delivers datagrams with kernel timestamps and packet
    info, and replies from the address a datagram came to.
    """

    def _roundTrip(self, wildcard: str, loopback: str, family: int) -> None:
        port, collector = _listen(self, wildcard)
        sender = _sender(self, family)
        before = time.time_ns()
        sender.sendto(b"hello", (loopback, port.getHost().port))
        deadline = time.monotonic() + 2
        while not collector.received and time.monotonic() < deadline:
            port.doRead()
        after = time.time_ns()
        [datagram] = collector.received
        self.assertEqual(datagram.data, b"hello")
        self.assertEqual(datagram.source, (loopback, sender.getsockname()[1]))
        self.assertEqual(datagram.destination, loopback)
        self.assertEqual(datagram.localAddress, loopback)
        self.assertTrue(datagram.isUnicast)
        self.assertNotEqual(datagram.ifindex, 0)
        assert datagram.rxTime is not None
        self.assertTrue(before <= datagram.rxTime <= after)
        port.sendFrom(b"reply", datagram.source, datagram.localAddress, datagram.ifindex)
        data, addr = sender.recvfrom(100)
        self.assertEqual(data, b"reply")
        self.assertEqual(addr[:2], (loopback, port.getHost().port))

    def test_ipv4Wildcard(self) -> None:
        """
        A wildcard IPv4 socket reports the destination and receive time.
        """
        self._roundTrip("0.0.0.0", "127.0.0.1", socket.AF_INET)

    def test_ipv6Wildcard(self) -> None:
        """
        A wildcard IPv6 socket (v6 only) does the same.
        """
        if not socket.has_ipv6:
            raise self.skipTest("no IPv6 here")  # type: ignore[misc]
        try:
            self._roundTrip("::", "::1", socket.AF_INET6)
        except OSError as e:
            raise self.skipTest(f"IPv6 loopback unusable: {e}")  # type: ignore[misc]

    def test_boundAddress(self) -> None:
        """
        A socket bound to one address replies from it with plain sendto.
        """
        self._roundTrip("127.0.0.1", "127.0.0.1", socket.AF_INET)

    def test_sendErrorsDoNotRaise(self) -> None:
        """
        A send the kernel refuses is logged, not raised.
        """
        port, _ = _listen(self, "127.0.0.1")
        port.sendFrom(b"x" * 70000, ("127.0.0.1", 9))

    def test_parseAncillaryEmpty(self) -> None:
        """
        Without ancillary data nothing is known.
        """
        self.assertEqual(parseAncillary([]), (None, None, None, 0))
