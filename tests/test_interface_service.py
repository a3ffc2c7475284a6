# -*- test-case-name: tests.test_interface_service -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for the service's part in interface tracking
(L{ntpservice.service.NTPService} as the tracker's first observer): sockets
bound per address opened and closed, C{interface} rules and C{-L} applied
to new addresses, ntpd's log lines.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.config import parseString
from ntpservice.net.interfaces import InterfaceAddress, InterfaceTracker
from ntpservice.net.udp import ReceivedDatagram
from ntpservice.service import makeNTPService, wildcardIgnored, interfaceRules

LO = InterfaceAddress("127.0.0.1", 8, 1, "lo")
SECOND = InterfaceAddress("127.0.0.2", 8, 1, "lo")
ALIAS = InterfaceAddress("127.0.0.3", 8, 1, "lo", "lo:1")


class PerAddressTests(SynchronousTestCase):
    """
    With C{interface ignore wildcard}, each served local address gets a
    socket of its own, opened and closed as addresses come and go.
    """

    def start(self, text: str, addresses: list[InterfaceAddress], **kw: Any) -> Any:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.current = list(addresses)
        reactor = MemoryReactorClock()
        service = makeNTPService(
            parseString("interface ignore wildcard\n" + text),
            port=0,
            clockAdjust=False,
            reactor=reactor,
            **kw,
        )
        service.tracker = InterfaceTracker(
            reactor, 10.0, scan=lambda: list(self.current), events=False
        )
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        return service

    def lines(self) -> list[str]:
        return [formatEvent(e) for e in self.events]

    def bound(self, service: Any) -> list[str]:
        return sorted(port.interface for port in service.ports)

    def test_rule(self) -> None:
        """
        C{interface ignore wildcard} is the last C{wildcard} rule that says
        ignore or drop.
        """
        self.assertTrue(wildcardIgnored(interfaceRules(parseString("interface drop wildcard\n"))))
        self.assertFalse(
            wildcardIgnored(
                interfaceRules(
                    parseString("interface ignore wildcard\ninterface listen wildcard\n")
                )
            )
        )

    def test_followsAddresses(self) -> None:
        """
        No wildcard socket; one per address, with ntpd's "Listen normally
        on" line. An address that goes away loses its socket ("Deleting
        interface"); one that comes back is bound again, and the socket
        owner sends through it.
        """
        service = self.start("", [LO, SECOND])
        self.assertEqual(self.bound(service), ["127.0.0.1", "127.0.0.2"])
        self.assertEqual(
            sorted(service.daemon.sockets.addresses()), ["127.0.0.1", "127.0.0.2"]
        )
        self.assertTrue(any("Listen normally on 0 lo 127.0.0.1:0" in line for line in self.lines()))
        self.current = [LO]
        service.tracker.rescan()
        self.assertEqual(self.bound(service), ["127.0.0.1"])
        self.assertEqual(service.daemon.sockets.addresses(), ["127.0.0.1"])
        [deleted] = [line for line in self.lines() if "Deleting interface" in line]
        self.assertIn("Deleting interface #1 lo, 127.0.0.2#0, interface stats: active_time=0 secs", deleted)
        self.current = [LO, SECOND]
        service.tracker.rescan()
        self.assertEqual(self.bound(service), ["127.0.0.1", "127.0.0.2"])
        self.assertIn("127.0.0.2", service.daemon.sockets.addresses())
        self.assertTrue(any("Listen normally on 2 lo 127.0.0.2:0" in line for line in self.lines()))

    def test_linkLocalNotBound(self) -> None:
        """
        An IPv6 link-local address gets no socket of its own, and no
        "Listen normally" line says it is served.
        """
        linkLocal = InterfaceAddress("fe80::1", 64, 2, "eth0")
        service = self.start("", [LO, linkLocal])
        self.assertEqual(self.bound(service), ["127.0.0.1"])
        self.assertFalse(any("fe80::1" in line and "Listen" in line for line in self.lines()))

    def test_rulesApplyToNewAddresses(self) -> None:
        """
        C{interface ignore ADDRESS}: no socket; C{-L}: none for a virtual
        interface (C{lo:1}); C{interface drop ADDRESS}: a socket whose
        datagrams are dropped ("Listen and drop on").
        """
        service = self.start(
            "interface ignore 127.0.0.2\n", [LO], noVirtual=True
        )
        self.current = [LO, SECOND, ALIAS]
        service.tracker.rescan()
        self.assertEqual(self.bound(service), ["127.0.0.1"])
        service = self.start("interface drop 127.0.0.2\n", [LO, SECOND])
        self.assertEqual(self.bound(service), ["127.0.0.1", "127.0.0.2"])
        self.assertTrue(any("Listen and drop on 1 lo 127.0.0.2:0" in line for line in self.lines()))
        datagram = ReceivedDatagram(b"", ("127.0.0.9", 1), "127.0.0.2", "127.0.0.2", 1, 0)
        self.assertFalse(service._accept(datagram))


    def test_addressFamily(self) -> None:
        """
        C{-4}/C{-6} apply to the tracked addresses too: with C{-4} an IPv6
        address gets no socket of its own and is not served, with C{-6} an
        IPv4 address (as ntpd's C{-4}/C{-6} never bind the other family).
        """
        v6 = InterfaceAddress("::1", 128, 1, "lo")
        service = self.start("", [LO, v6], ipVersion=4)
        self.assertEqual(self.bound(service), ["127.0.0.1"])
        self.assertFalse(service.servesLocalAddress("::1"))
        self.assertTrue(service.servesLocalAddress("127.0.0.1"))
        self.assertFalse(any("::1" in line and "Listen" in line for line in self.lines()))
        service = self.start("", [LO, v6], ipVersion=6)
        self.assertEqual(self.bound(service), ["::1"])
        self.assertFalse(service.servesLocalAddress("127.0.0.1"))
        self.assertFalse(service.servesLocalAddress("127.0.0.9"))


class WildcardTests(SynchronousTestCase):
    """
    With wildcard sockets (the default) addresses are tracked, logged and
    filtered, and no socket is added.
    """

    def test_wildcard(self) -> None:
        """
        A new address is logged as served; C{-L} drops what arrives at a
        virtual interface.
        """
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        reactor = MemoryReactorClock()
        service = makeNTPService(
            parseString(""), port=0, interfaces=("127.0.0.1",), clockAdjust=False,
            reactor=reactor, noVirtual=True,
        )
        current = [LO]
        service.tracker = InterfaceTracker(reactor, 10.0, scan=lambda: list(current), events=False)
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        current.append(ALIAS)
        service.tracker.rescan()
        self.assertEqual(len(service.ports), 1)
        datagram = ReceivedDatagram(b"", ("127.0.0.9", 1), "127.0.0.3", "127.0.0.3", 1, 0)
        self.assertFalse(service._accept(datagram))
        self.assertTrue(
            any("Listen normally on" in formatEvent(e) and "127.0.0.1:0" in formatEvent(e) for e in events)
        )

    def test_servesLocalAddress(self) -> None:
        """
        The listeners that follow the sockets (NTS-KE) are told through the
        socket owner which local addresses are served: not a virtual
        interface's with C{-L}, not one an C{interface ignore} or C{drop}
        line matches, whether the tracker knows it or not.
        """
        reactor = MemoryReactorClock()
        service = makeNTPService(
            parseString("interface drop 127.0.0.4\n"), port=0, clockAdjust=False,
            reactor=reactor, noVirtual=True,
        )
        current = [LO, ALIAS]
        service.tracker = InterfaceTracker(reactor, 10.0, scan=lambda: list(current), events=False)
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        serves = service.daemon.sockets.servesLocal
        self.assertTrue(serves("127.0.0.1"))
        self.assertFalse(serves("127.0.0.3"))
        self.assertFalse(serves("127.0.0.4"))
        self.assertTrue(serves("127.0.0.5"))

    def test_servesEveryAddressWithoutRules(self) -> None:
        """
        Without C{interface} lines nor C{-L} every local address is served
        (the socket owner has no predicate).
        """
        service = makeNTPService(
            parseString(""), port=0, clockAdjust=False, reactor=MemoryReactorClock()
        )
        self.assertIsNone(service.daemon.sockets.servesLocal)
