# -*- test-case-name: tests.net.test_udp -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.net.udp}: real sockets on loopback, read by hand
(L{MemoryReactor} stands in for the reactor, so nothing waits).
"""

from __future__ import annotations

import os
import socket
import struct
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
        self.assertEqual(parseAncillary([]), (None, None, None, 0, 0))

    def test_parseAncillaryFragmentSize(self) -> None:
        """
        The kernel's IP_RECVFRAGSIZE (IPV6_RECVFRAGSIZE) control message, the
        largest fragment's size of a reassembled datagram, is reported.
        """
        from ntpservice.net.udp import IP_RECVFRAGSIZE, IPV6_RECVFRAGSIZE

        size = struct.pack("@i", 44)
        self.assertEqual(parseAncillary([(socket.IPPROTO_IP, IP_RECVFRAGSIZE, size)])[4], 44)
        self.assertEqual(
            parseAncillary([(socket.IPPROTO_IPV6, IPV6_RECVFRAGSIZE, size)])[4], 44)


class FragmentTests(SynchronousTestCase):
    """
    Our sockets never let the kernel fragment what we send, and report the
    datagrams the kernel reassembled from IP fragments.
    """

    def test_neverFragmented(self) -> None:
        """
        IPv4 and IPv6 sockets send with Don't Fragment whatever the path MTU
        says (IP_PMTUDISC_PROBE): a datagram larger than the interface's
        MTU is refused by the kernel, not split.
        """
        from ntpservice.net.udp import IP_MTU_DISCOVER, IPV6_MTU_DISCOVER

        port, _ = _listen(self, "127.0.0.1")
        self.assertEqual(port.socket.getsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER), 3)
        try:
            port6, _ = _listen(self, "::1")
        except Exception as e:
            raise self.skipTest(f"IPv6 loopback unusable: {e}")  # type: ignore[misc]
        self.assertEqual(port6.socket.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER), 3)

    def test_fragmentSize(self) -> None:
        """
        A datagram sent whole has a fragment size of 0; one sent as two IP
        fragments (forged with a raw socket: root only) is delivered with
        the size of its largest fragment.
        """
        if os.geteuid() != 0:
            raise self.skipTest("raw sockets need root")  # type: ignore[misc]
        from tests.attacks import spoof

        port, collector = _listen(self, "127.0.0.1")
        number = port.getHost().port
        sender = _sender(self, socket.AF_INET)
        sender.sendto(b"w" * 48, ("127.0.0.1", number))
        packets = spoof.fragments("127.0.0.1", 4444, "127.0.0.1", number, bytes(48), 24,
                                  ident=0x4242)
        spoof.send(packets)
        deadline = time.monotonic() + 2
        while len(collector.received) < 2 and time.monotonic() < deadline:
            port.doRead()
        whole, fragmented = collector.received
        self.assertEqual(whole.fragmentSize, 0)
        self.assertEqual(fragmented.data, bytes(48))
        self.assertEqual(fragmented.fragmentSize, 20 + 32)
