# -*- test-case-name: tests.net.test_sockets -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.net.sockets}: the one owner of a daemon's sockets.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core import counters as C
from ntpservice.net.sockets import SocketOwner, boundAddress


class FakeSocket:
    def __init__(self) -> None:
        self.options: dict[tuple[int, int], Any] = {}
        self.calls: list[tuple[int, int, Any]] = []

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        self.options[level, option] = value
        self.calls.append((level, option, value))

    def getsockopt(self, level: int, option: int) -> Any:
        return self.options.get((level, option), 64)


class FakePort:
    """A bound port that records what it sends (as TimestampingPort.sendFrom)."""

    def __init__(self, host: str, family: int = socket.AF_INET) -> None:
        self.host = host
        self.addressFamily = family
        self.socket = FakeSocket()
        self.sent: list[tuple[bytes, tuple[str, int], str | None, int | None]] = []

    def getHost(self) -> Any:
        if self.addressFamily == socket.AF_INET6:
            return IPv6Address("UDP", self.host, 123)
        return IPv4Address("UDP", self.host, 123)

    def sendFrom(self, data: Any, addr: tuple[str, int], localAddress: str | None = None) -> None:
        ttl = self.socket.options.get((socket.IPPROTO_IP, socket.IP_TTL))
        self.sent.append((data() if callable(data) else data, addr, localAddress, ttl))


class FakeProtocol:
    def __init__(self, transport: FakePort) -> None:
        self.transport = transport


def owner(*ports: FakePort) -> tuple[SocketOwner, C.PacketCounters]:
    counters = C.PacketCounters()
    sockets = SocketOwner(counters)
    for port in ports:
        sockets.add(FakeProtocol(port))
    return sockets, counters


class SocketOwnerTests(SynchronousTestCase):
    """
    L{SocketOwner} keeps the sockets by local address and picks one for
    each datagram sent.
    """

    def test_keyedByBoundAddress(self) -> None:
        """
        Sockets are known by the address they are bound to, the wildcard
        address of their family when bound to none; a second socket for one
        address is refused; removed sockets are forgotten.
        """
        wild4, wild6 = FakePort("0.0.0.0"), FakePort("::", socket.AF_INET6)
        one = FakePort("192.0.2.1")
        sockets, _ = owner(wild4, wild6, one)
        self.assertEqual(sockets.addresses(), ["0.0.0.0", "::", "192.0.2.1"])
        self.assertRaises(ValueError, sockets.add, FakeProtocol(FakePort("192.0.2.1")))
        self.assertIs(sockets.remove("192.0.2.1").transport, one)
        self.assertEqual(sockets.addresses(), ["0.0.0.0", "::"])
        self.assertEqual(boundAddress(FakePort("")), "0.0.0.0")

    def test_sendPicksTheSocket(self) -> None:
        """
        A datagram leaves from the socket bound to the requested local
        address; otherwise from the wildcard socket of its family, with the
        local address asked of the kernel; the destination's family decides.
        """
        wild4, wild6 = FakePort("0.0.0.0"), FakePort("::", socket.AF_INET6)
        one = FakePort("192.0.2.1")
        sockets, counters = owner(wild4, wild6, one)
        sockets.send(b"a", ("198.51.100.1", 123), localAddress="192.0.2.1")
        sockets.send(b"b", ("198.51.100.1", 123), localAddress="192.0.2.7")
        sockets.send(b"c", ("198.51.100.1", 123))
        sockets.send(b"d", ("2001:db8::1", 123))
        self.assertEqual([s[0] for s in one.sent], [b"a"])
        self.assertEqual([(s[0], s[2]) for s in wild4.sent], [(b"b", "192.0.2.7"), (b"c", None)])
        self.assertEqual([s[0] for s in wild6.sent], [b"d"])
        self.assertEqual(counters[C.SENT], 4)

    def test_noSocket(self) -> None:
        """
        With no socket of the destination's family, nothing is sent and
        C{send.nosocket} is counted.
        """
        sockets, counters = owner(FakePort("0.0.0.0"))
        self.assertFalse(sockets.send(b"x", ("2001:db8::1", 123)))
        self.assertEqual(counters["send.nosocket"], 1)

    def test_callableData(self) -> None:
        """
        Data given as a callable is produced at the send (the transmit
        timestamp is read last).
        """
        port = FakePort("0.0.0.0")
        sockets, _ = owner(port)
        sockets.send(lambda: b"late", ("198.51.100.1", 123))
        self.assertEqual(port.sent[0][0], b"late")

    def test_ttlForOneDatagram(self) -> None:
        """
        A TTL applies to the one datagram: it is set before the send and the
        socket's previous value restored after.
        """
        port = FakePort("0.0.0.0")
        sockets, _ = owner(port)
        sockets.send(b"x", ("198.51.100.1", 123), ttl=3)
        self.assertEqual(port.sent[0][3], 3)
        self.assertEqual(port.socket.options[socket.IPPROTO_IP, socket.IP_TTL], 64)
        sockets.send(b"y", ("224.0.1.1", 123), ttl=5)
        calls = [c for c in port.socket.calls if c[1] == socket.IP_MULTICAST_TTL]
        self.assertEqual([c[2] for c in calls], [5, 64])

    def test_groups(self) -> None:
        """
        Joining an IPv4 group turns off IP_MULTICAST_ALL on the socket and
        adds the membership; leaving drops it; IPv6 groups join by
        interface index; a unicast address is refused.
        """
        wild4, wild6 = FakePort("0.0.0.0"), FakePort("::", socket.AF_INET6)
        sockets, _ = owner(wild4, wild6)
        self.assertTrue(sockets.joinGroup("224.0.1.1", "192.0.2.1"))
        membership = socket.inet_aton("224.0.1.1") + socket.inet_aton("192.0.2.1")
        self.assertIn((socket.IPPROTO_IP, 49, 0), wild4.socket.calls)
        self.assertIn((socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership), wild4.socket.calls)
        self.assertTrue(sockets.leaveGroup("224.0.1.1", "192.0.2.1"))
        self.assertIn((socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, membership), wild4.socket.calls)
        self.assertTrue(sockets.joinGroup("ff05::101", 2))
        [(level, option, value)] = wild6.socket.calls
        self.assertEqual((level, option), (socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP))
        self.assertEqual(value[16:], (2).to_bytes(4, "little"))
        self.assertRaises(ValueError, sockets.joinGroup, "192.0.2.1")



class _RecordingSocket:
    """A socket that records the options set on it."""

    def __init__(self) -> None:
        self.options: list[tuple[int, int, Any]] = []

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        self.options.append((level, option, value))

    def getsockopt(self, level: int, option: int) -> int:
        return 64


class BroadcastingOptionsTests(SynchronousTestCase):
    """
    L{SocketOwner.allowBroadcast}, L{SocketOwner.disableMulticastLoop} and
    the multicast interface of L{SocketOwner.send}.
    """

    def setUp(self) -> None:
        self.sock = _RecordingSocket()
        self.sent: list[Any] = []
        sent = self.sent
        sock = self.sock

        class Transport:
            socket = sock

            def sendFrom(self, data: object, destination: object, *rest: object) -> None:
                sent.append((destination, list(sock.options)))

        class Protocol:
            transport = Transport()

        self.owner = SocketOwner()
        self.owner.add(Protocol(), "0.0.0.0")

    def test_broadcastAndLoop(self) -> None:
        """
        C{SO_BROADCAST} on, multicast loop off.
        """
        self.owner.allowBroadcast()
        self.owner.disableMulticastLoop()
        self.assertEqual(
            self.sock.options,
            [
                (socket.SOL_SOCKET, socket.SO_BROADCAST, 1),
                (socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0),
            ],
        )

    def test_multicastInterface(self) -> None:
        """
        A multicast packet for interface 3 leaves with C{IP_MULTICAST_IF}
        set to a C{struct ip_mreqn} naming index 3, and the default (index
        0) is restored after.
        """
        import struct

        self.assertTrue(self.owner.send(b"x" * 48, ("224.0.1.1", 123), None, None, 3))
        (destination, during), = self.sent
        self.assertEqual(destination, ("224.0.1.1", 123))
        level, option, value = during[-1]
        self.assertEqual((level, option), (socket.IPPROTO_IP, socket.IP_MULTICAST_IF))
        self.assertEqual(struct.unpack("@i", value[8:12]), (3,))
        level, option, value = self.sock.options[-1]
        self.assertEqual(option, socket.IP_MULTICAST_IF)
        self.assertEqual(struct.unpack("@i", value[8:12]), (0,))

    def test_unicastUntouched(self) -> None:
        """
        An interface given for a unicast destination changes nothing.
        """
        self.assertTrue(self.owner.send(b"x" * 48, ("192.0.2.1", 123), None, None, 3))
        self.assertEqual(self.sock.options, [])
