# -*- test-case-name: tests.net.test_interfaces -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.net.interfaces}: rtnetlink address messages, the
tracker's scans and announcements, and the socket owner's part (route
choices, the plugins' interface observers).
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from zope.interface import implementer

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.interfaces import IInterfaceObserver
from ntpservice.net import interfaces as I
from ntpservice.net.interfaces import InterfaceAddress, InterfaceTracker
from ntpservice.net.sockets import SocketOwner


def addressMessage(kind: int, family: int, address: str, prefix: int, index: int,
                   label: str | None = None, flags: int = 0) -> bytes:
    """One RTM_NEWADDR/RTM_DELADDR message as the kernel sends it."""
    raw = socket.inet_pton(family, address)
    attrs = b""
    for attr, value in ((I.IFA_ADDRESS, raw), (I.IFA_LOCAL, raw)):
        attrs += struct.pack("=HH", 4 + len(value), attr) + value
    if label is not None:
        value = label.encode() + b"\0"
        pad = (-len(value)) % 4
        attrs += struct.pack("=HH", 4 + len(value), I.IFA_LABEL) + value + b"\0" * pad
    attrs += struct.pack("=HHI", 8, I.IFA_FLAGS, flags)
    body = struct.pack("=BBBBI", family, prefix, flags & 0xFF, 0, index) + attrs
    return struct.pack("=LHHLL", 16 + len(body), kind, 0, 1, 0) + body


class ParseTests(SynchronousTestCase):
    """
    L{I.parseAddressMessages} reads the kernel's address messages.
    """

    def test_messages(self) -> None:
        """
        IPv4 (with an alias label: a virtual interface) and IPv6 addresses,
        added and removed, with their interface names and flags; the dump's
        end is seen.
        """
        data = (
            addressMessage(I.RTM_NEWADDR, socket.AF_INET, "10.0.0.1", 24, 2, "eth0:1")
            + addressMessage(I.RTM_DELADDR, socket.AF_INET6, "2001:DB8::1", 64, 2,
                             flags=I.IFA_F_TENTATIVE)
            + struct.pack("=LHHLL", 20, I.NLMSG_DONE, 0, 1, 0) + b"\0" * 4
        )
        messages, done = I.parseAddressMessages(data, {2: "eth0"}.__getitem__)
        self.assertTrue(done)
        (kind4, v4), (kind6, v6) = messages
        self.assertEqual((kind4, kind6), (I.RTM_NEWADDR, I.RTM_DELADDR))
        self.assertEqual((v4.address, v4.prefixLength, v4.name, v4.label), ("10.0.0.1", 24, "eth0", "eth0:1"))
        self.assertTrue(v4.virtual)
        self.assertEqual((v6.address, v6.name, v6.label), ("2001:db8::1", "eth0", "eth0"))
        self.assertFalse(v6.virtual)
        self.assertTrue(v6.flags & I.IFA_F_TENTATIVE)

    def test_listAddresses(self) -> None:
        """
        The real dump of this host's addresses has the loopback address on
        C{lo}.
        """
        addresses = {a.address: a for a in I.listAddresses()}
        self.assertEqual(addresses["127.0.0.1"].name, "lo")


@implementer(IInterfaceObserver)
class Recorder:
    def __init__(self, name: str, log: list[tuple[str, str, str]]) -> None:
        self.name = name
        self.log = log

    def interfaceAdded(self, address: InterfaceAddress) -> None:
        self.log.append((self.name, "added", address.address))

    def interfaceRemoved(self, address: InterfaceAddress) -> None:
        self.log.append((self.name, "removed", address.address))


A = InterfaceAddress("192.0.2.1", 24, 3, "ppp0")
B = InterfaceAddress("192.0.2.77", 24, 3, "ppp0")
LO = InterfaceAddress("127.0.0.1", 8, 1, "lo")


class TrackerTests(SynchronousTestCase):
    """
    L{InterfaceTracker} scans at start, every C{-U} seconds and on the
    kernel's announcements, and tells its observers of each difference.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.current = [LO, A]
        self.scans = 0
        self.log: list[tuple[str, str, str]] = []

        def scan() -> list[InterfaceAddress]:
            self.scans += 1
            return list(self.current)

        self.tracker = InterfaceTracker(self.clock, 10.0, scan=scan, events=False)
        self.tracker.addObserver(Recorder("first", self.log))
        self.tracker.addObserver(Recorder("second", self.log))
        self.tracker.start()
        self.addCleanup(self.tracker.stop)

    def test_startAnnounces(self) -> None:
        """
        Each address found at start is announced as added, to the
        observers in the order they registered.
        """
        self.assertEqual(
            self.log,
            [("first", "added", "127.0.0.1"), ("second", "added", "127.0.0.1"),
             ("first", "added", "192.0.2.1"), ("second", "added", "192.0.2.1")],
        )

    def test_periodicScan(self) -> None:
        """
        An address replaced as PPP does (A removed, B added) is noticed at
        the next scan, U seconds later: removals first.
        """
        del self.log[:]
        self.current = [LO, B]
        self.clock.advance(9.9)
        self.assertEqual(self.log, [])
        self.clock.advance(0.1)
        self.assertEqual(
            self.log,
            [("first", "removed", "192.0.2.1"), ("second", "removed", "192.0.2.1"),
             ("first", "added", "192.0.2.77"), ("second", "added", "192.0.2.77")],
        )

    def test_eventsCoalesced(self) -> None:
        """
        A burst of kernel announcements gives one scan, at once (50 ms),
        not at the next timer.
        """
        before = self.scans
        self.current = [LO]
        for _ in range(5):
            self.tracker._eventSeen()
        self.clock.advance(0.05)
        self.assertEqual(self.scans, before + 1)
        self.assertEqual(self.log[-1], ("second", "removed", "192.0.2.1"))

    def test_noTimer(self) -> None:
        """
        C{-U 0}: no periodic scan (only announcements).
        """
        tracker = InterfaceTracker(self.clock, 0, scan=lambda: [], events=False)
        tracker.start()
        self.assertEqual([c for c in self.clock.getDelayedCalls() if c.func == tracker.rescan], [])
        tracker.stop()


class FakeTransport:
    def __init__(self, address: str) -> None:
        self.address = address
        self.sent: list[Any] = []

    def sendFrom(self, data: Any, destination: Any, local: Any = None) -> None:
        self.sent.append((destination, local))


class FakeProtocol:
    def __init__(self, address: str) -> None:
        self.transport = FakeTransport(address)


class SocketOwnerInterfaceTests(SynchronousTestCase):
    """
    The socket owner's part in interface changes.
    """

    def test_observersTold(self) -> None:
        """
        An observer subscribed with C{addInterfaceObserver} is told of the
        addresses known already, then of each change.
        """
        owner = SocketOwner()
        owner.interfaceAdded(LO)
        log: list[tuple[str, str, str]] = []
        owner.addInterfaceObserver(Recorder("plugin", log))
        owner.interfaceAdded(A)
        owner.interfaceRemoved(A)
        self.assertEqual(
            log,
            [("plugin", "added", "127.0.0.1"), ("plugin", "added", "192.0.2.1"),
             ("plugin", "removed", "192.0.2.1")],
        )

    def test_routeChoice(self) -> None:
        """
        Without a wildcard socket, a packet without a local address leaves
        from the socket bound to the address the routing chooses; the
        choice is remembered until the addresses change, then made again
        (an association whose local address vanished picks a new one).
        """
        routes = {"198.51.100.1": "192.0.2.1"}
        asked: list[str] = []

        def router(destination: str) -> str | None:
            asked.append(destination)
            return routes.get(destination)

        owner = SocketOwner(router=router)
        lo, a, b = FakeProtocol("127.0.0.1"), FakeProtocol("192.0.2.1"), FakeProtocol("192.0.2.77")
        owner.add(lo, "127.0.0.1")
        owner.add(a, "192.0.2.1")
        owner.send(b"x", ("198.51.100.1", 123))
        owner.send(b"x", ("198.51.100.1", 123))
        self.assertEqual(len(a.transport.sent), 2)
        self.assertEqual(asked, ["198.51.100.1"])
        owner.remove("192.0.2.1")
        owner.interfaceRemoved(A)
        owner.add(b, "192.0.2.77")
        owner.interfaceAdded(B)
        routes["198.51.100.1"] = "192.0.2.77"
        owner.send(b"x", ("198.51.100.1", 123))
        self.assertEqual(len(b.transport.sent), 1)
        self.assertEqual(asked, ["198.51.100.1", "198.51.100.1"])
