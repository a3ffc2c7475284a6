# -*- test-case-name: tests.nts.test_listener -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for the NTS-KE listener of L{ntpservice.modes.nts.NTSMode}: it
listens where the NTP sockets are bound (the daemon's socket owner), and
follows them as addresses come and go; and for L{ntpservice.nts.ke.listenKE}
binding IPv6-only and per-device listeners.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet import reactor as globalReactor
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.assembly import assembleDaemon
from ntpservice.clock.simulated import SimulatedClock
from ntpservice.core.counters import PacketCounters
from ntpservice.modes.nts import NTSMode
from ntpservice.net.interfaces import InterfaceAddress
from ntpservice.net.multiplexer import ModeTable
from ntpservice.nts import ke
from ntpservice.plugins import loadModePlugins, registryFor
from tests.nts.certs import makeCA, makeServer


class FakeTransport:
    """
    A bound UDP port, as the socket owner sees it.
    """

    def __init__(self, device: str | None = None) -> None:
        self.device = device

    def getHost(self) -> Any:
        from twisted.internet.address import IPv4Address

        return IPv4Address("UDP", "0.0.0.0", 123)


class FakeProtocol:
    def __init__(self, device: str | None = None) -> None:
        self.transport = FakeTransport(device)


class FakePort:
    """
    A TCP listening port made by L{Listener}.
    """

    def __init__(self, interface: str, v6only: bool, device: str | None) -> None:
        self.interface = interface
        self.v6only = v6only
        self.device = device
        self.listening = True

    def stopListening(self) -> Any:
        self.listening = False
        return self.closing

    closing: Any = None
    """What L{stopListening} returns: a Deferred that fires when the
    socket has closed, or C{None} (closed at once)."""


class Listener:
    """
    Stands for L{ke.listenKE}: records each listener, refusing the
    addresses in C{refused}.
    """

    def __init__(self) -> None:
        self.refused: set[str] = set()
        self.ports: list[FakePort] = []
        # The Deferred the ports made from now on return from stopListening.
        self.closing: Any = None

    def __call__(
        self, reactor: Any, port: int, factory: Any, context: Any, interface: str,
        v6only: bool = False, device: str | None = None,
    ) -> FakePort:
        if interface in self.refused:
            raise CannotListenError(interface, port, OSError(97, "no IPv6"))
        made = FakePort(interface, v6only, device)
        made.closing = self.closing
        self.ports.append(made)
        return made

    def open(self) -> list[tuple[str, bool, str | None]]:
        return sorted((p.interface, p.v6only, p.device) for p in self.ports if p.listening)


def address(text: str) -> InterfaceAddress:
    return InterfaceAddress(text, 64 if ":" in text else 24, 2, "eth0", "eth0")


class ListenerTests(SynchronousTestCase):
    """
    The NTS-KE listeners follow the daemon's NTP sockets.
    """

    def setUp(self) -> None:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        server = makeServer(directory, makeCA(directory))
        text = f"nts enable cert {server.cert} key {server.key} cookie {directory}/k\n"
        configuration = config.parseString(
            text, "t.conf", registry=registryFor(loadModePlugins())
        )
        reactor = Clock()
        self.daemon = assembleDaemon(
            configuration, SimulatedClock(reactor), reactor, PacketCounters(), ModeTable()
        )
        self.listener = Listener()

    def start(self, *addresses: str, device: str | None = None) -> NTSMode:
        for bound in addresses:
            self.daemon.sockets.add(FakeProtocol(device), bound)
        mode = NTSMode(self.daemon)
        mode.listen = self.listener
        mode.start()
        self.addCleanup(mode.stop)
        return mode

    def test_wildcardDualStack(self) -> None:
        """
        With the wildcard sockets of both families, NTS-KE listens on one
        dual-stack C{::} socket.
        """
        self.start("0.0.0.0", "::")
        self.assertEqual(self.listener.open(), [("::", False, None)])

    def test_ipv6Fallback(self) -> None:
        """
        Where C{::} cannot be bound (no IPv6), it listens on C{0.0.0.0}.
        """
        self.listener.refused.add("::")
        mode = self.start("0.0.0.0", "::")
        self.assertEqual(self.listener.open(), [("0.0.0.0", False, None)])
        self.assertEqual(len(mode.listening), 1)

    def test_ipv4Only(self) -> None:
        """
        With C{-4} (or without IPv6: only the IPv4 wildcard socket) it
        listens on C{0.0.0.0} only.
        """
        self.start("0.0.0.0")
        self.assertEqual(self.listener.open(), [("0.0.0.0", False, None)])

    def test_ipv6Only(self) -> None:
        """
        With C{-6} it listens on C{::}, IPv6 only.
        """
        self.start("::")
        self.assertEqual(self.listener.open(), [("::", True, None)])

    def test_device(self) -> None:
        """
        With C{-I eth0} (wildcard sockets bound to the device) the listener
        is bound to the device too.
        """
        self.start("0.0.0.0", "::", device="eth0")
        self.assertEqual(self.listener.open(), [("::", False, "eth0")])

    def test_perAddress(self) -> None:
        """
        With sockets bound per address (C{interface ignore wildcard}) it
        listens on exactly those addresses.
        """
        self.start("10.0.0.1", "2001:db8::1")
        self.assertEqual(
            self.listener.open(), [("10.0.0.1", False, None), ("2001:db8::1", False, None)]
        )

    def test_followsAddresses(self) -> None:
        """
        An address whose NTP socket is opened later gets a listener when the
        tracker announces it; one whose socket is closed loses its listener.
        """
        mode = self.start("10.0.0.1")
        sockets = self.daemon.sockets
        sockets.add(FakeProtocol(), "10.0.0.2")
        sockets.interfaceAdded(address("10.0.0.2"))
        self.assertEqual(
            self.listener.open(), [("10.0.0.1", False, None), ("10.0.0.2", False, None)]
        )
        sockets.remove("10.0.0.1")
        sockets.interfaceRemoved(address("10.0.0.1"))
        self.assertEqual(self.listener.open(), [("10.0.0.2", False, None)])
        self.assertEqual(list(mode.listeners), [("10.0.0.2", None)])

    def test_addressBackBeforeClosed(self) -> None:
        """
        An address that goes away and comes back before its listener's
        socket has closed (Twisted closes it on the reactor's next turn) is
        bound again once it has, not at once (which found the port in use),
        and not after the mode stopped.
        """
        closing = Deferred()
        self.listener.closing = closing
        mode = self.start("10.0.0.1")
        sockets = self.daemon.sockets
        sockets.remove("10.0.0.1")
        sockets.interfaceRemoved(address("10.0.0.1"))
        sockets.add(FakeProtocol(), "10.0.0.1")
        sockets.interfaceAdded(address("10.0.0.1"))
        self.assertEqual(len(self.listener.ports), 1)
        self.assertEqual(mode.listeners, {})
        closing.callback(None)
        self.assertEqual(self.listener.open(), [("10.0.0.1", False, None)])
        self.assertEqual(len(self.listener.ports), 2)
        later = Deferred()
        self.listener.closing = later
        sockets.remove("10.0.0.1")
        sockets.interfaceRemoved(address("10.0.0.1"))
        sockets.add(FakeProtocol(), "10.0.0.1")
        mode.stop()
        later.callback(None)
        self.assertEqual(self.listener.open(), [])

    def test_ignoredAddress(self) -> None:
        """
        An address that appears without an NTP socket (an ignored one) gets
        no listener.
        """
        self.start("10.0.0.1")
        self.daemon.sockets.interfaceAdded(address("10.0.0.3"))
        self.assertEqual(self.listener.open(), [("10.0.0.1", False, None)])

    def test_noAddressYet(self) -> None:
        """
        Without any socket at start it listens nowhere, and starts listening
        when an address gets its socket.
        """
        mode = self.start()
        self.assertEqual(mode.listening, [])
        self.daemon.sockets.add(FakeProtocol(), "10.0.0.4")
        self.daemon.sockets.interfaceAdded(address("10.0.0.4"))
        self.assertEqual(self.listener.open(), [("10.0.0.4", False, None)])

    def test_servesLocal(self) -> None:
        """
        The NTS-KE factory serves a connection to a local address only when
        the socket owner's C{servesLocal} (the C{interface} rules, C{-L})
        does; without it, every one.
        """
        mode = self.start("0.0.0.0")
        self.assertTrue(mode._factory.servesLocal("10.0.0.1"))
        self.daemon.sockets.servesLocal = lambda local: local != "10.0.0.1"
        self.assertFalse(mode._factory.servesLocal("10.0.0.1"))
        self.assertTrue(mode._factory.servesLocal("10.0.0.2"))

    def test_stop(self) -> None:
        """
        Stopping closes every listener and ends following the addresses.
        """
        mode = self.start("10.0.0.1")
        mode.stop()
        self.assertEqual(self.listener.open(), [])
        self.daemon.sockets.add(FakeProtocol(), "10.0.0.5")
        self.daemon.sockets.interfaceAdded(address("10.0.0.5"))
        self.assertEqual(self.listener.open(), [])


class ListenKETests(SynchronousTestCase):
    """
    The sockets of L{ke.listenKE}'s listeners are IPv6 only, or bound to a
    device, on request.
    """

    def socketOf(self, interface: str, v6only: bool = False, device: str | None = None) -> Any:
        port = ke._KEPort(0, None, interface=interface, reactor=globalReactor)
        port.v6only = v6only
        port.device = device
        try:
            made = port.createInternetSocket()
        except OSError as e:
            raise self.skipTest(f"cannot make the socket here: {e}")
        self.addCleanup(made.close)
        return made

    def test_v6only(self) -> None:
        """
        An IPv6-only listener has C{IPV6_V6ONLY} set; a plain C{::} one
        takes IPv4 too.
        """
        for v6only in (True, False):
            made = self.socketOf("::", v6only)
            self.assertEqual(
                made.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY), int(v6only)
            )

    def test_device(self) -> None:
        """
        A listener for a device is bound to it (C{SO_BINDTODEVICE}).
        """
        made = self.socketOf("127.0.0.1", device="lo")
        bound = made.getsockopt(socket.SOL_SOCKET, ke.SO_BINDTODEVICE, 16)
        self.assertEqual(bound.rstrip(b"\0"), b"lo")

    def test_plainThroughReactor(self) -> None:
        """
        A listener neither IPv6 only nor bound to a device is the reactor's
        C{listenSSL}.
        """
        from twisted.internet.testing import MemoryReactor

        reactor = MemoryReactor()
        factory = ke.KEServerFactory(lambda: None, reactor)  # type: ignore[arg-type,return-value]
        ke.listenKE(reactor, 4460, factory, None, "10.0.0.1")
        self.assertEqual(
            [(port, interface) for port, _, _, _, interface in reactor.sslServers],
            [(4460, "10.0.0.1")],
        )
