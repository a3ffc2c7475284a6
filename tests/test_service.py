# -*- test-case-name: tests.test_service -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.service}: the assembled daemon answering over real
loopback sockets, driven by hand (no global reactor).
"""

from __future__ import annotations

import errno
import io
import os
import socket
import sys
import time

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice import service as service_module
from ntpservice.core.packet import LEAP_NOTINSYNC, MODE_CLIENT, MODE_SERVER, NTPPacket
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.net.udp import ReceivedDatagram
from ntpservice.service import (
    InterfaceRule,
    ListenSpec,
    interfaceFilter,
    listenSpecs,
    makeNTPService,
    resolveDriftFile,
)


def parse(text: str) -> config.Configuration:
    return config.parseString(text, "test.conf")


def datagramTo(local: str, ifindex: int = 0) -> ReceivedDatagram:
    return ReceivedDatagram(b"", ("192.0.2.9", 123), local, local, ifindex, 1)


class ServiceTests(SynchronousTestCase):
    """
    The service built from a configuration binds in
    C{privilegedStartService} and answers client requests.
    """

    def startService(self, text: str = "", **kw: object) -> object:
        service = makeNTPService(
            parse(text),
            port=0,
            interfaces=("127.0.0.1",),
            reactor=MemoryReactorClock(),
            **kw,  # type: ignore[arg-type]
        )
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        return service

    def test_answersOverLoopback(self) -> None:
        """
        A client request over loopback gets an unsynchronized server reply
        whose origin is the request's transmit timestamp and whose receive
        and transmit timestamps are this machine's time.
        """
        service = self.startService(clockAdjust=False)
        [port] = service.ports  # type: ignore[attr-defined]
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(client.close)
        client.settimeout(2)
        xmt = NTPTimestamp(0x0102030405060708)
        before = time.time_ns()
        client.sendto(
            NTPPacket(mode=MODE_CLIENT, xmt=xmt).encode(),
            ("127.0.0.1", port.getHost().port),
        )
        client.setblocking(False)
        deadline = time.monotonic() + 2
        data = None
        while data is None and time.monotonic() < deadline:
            port.doRead()
            try:
                data = client.recv(100)
            except BlockingIOError:
                pass
        after = time.time_ns()
        assert data is not None
        reply = NTPPacket.decode(data)
        self.assertEqual(reply.mode, MODE_SERVER)
        self.assertEqual(reply.leap, LEAP_NOTINSYNC)
        self.assertEqual(reply.stratum, 0)
        self.assertEqual(reply.org, xmt)
        rec = reply.rec.toUnixNanoseconds(before)
        sent = reply.xmt.toUnixNanoseconds(before)
        self.assertTrue(before <= rec <= sent <= after)

    def test_noClockAdjust(self) -> None:
        """
        C{--no-clock-adjust} and C{disable ntp} select the no-adjust driver.
        """
        self.assertEqual(makeNTPService(parse(""), clockAdjust=False).clock.name, "noadjust")
        self.assertEqual(makeNTPService(parse("disable ntp")).clock.name, "noadjust")
        self.assertEqual(makeNTPService(parse("")).clock.name, "linux")

    def test_bindFailureOneLine(self) -> None:
        """
        A port that cannot be bound ends the daemon with one line on
        standard error and a non-zero exit status.
        """
        taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        service = makeNTPService(
            parse(""),
            port=taken.getsockname()[1],
            interfaces=("127.0.0.1",),
            reactor=MemoryReactorClock(),
        )
        stderr = io.StringIO()
        self.patch(sys, "__stderr__", stderr)
        self.patch(service_module, "_isDevNull", lambda fd: False)
        exc = self.assertRaises(SystemExit, service.privilegedStartService)
        self.assertEqual(exc.code, 1)
        [line] = stderr.getvalue().splitlines()
        self.assertIn(f"cannot bind UDP port {taken.getsockname()[1]} on 127.0.0.1", line)
        self.assertIn(os.strerror(errno.EADDRINUSE), line)
        self.assertEqual(service.ports, [])

    def test_bindFailureDaemonized(self) -> None:
        """
        Once twistd has daemonized (standard error is /dev/null), the
        failure is a L{StartupError} that twistd hands to its parent.
        """
        taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        service = makeNTPService(
            parse(""),
            port=taken.getsockname()[1],
            interfaces=("127.0.0.1",),
            reactor=MemoryReactorClock(),
        )
        self.patch(service_module, "_isDevNull", lambda fd: True)
        exc = self.assertRaises(
            service_module.StartupError, service.privilegedStartService
        )
        self.assertTrue(str(exc).startswith("cannot bind UDP port"), str(exc))


class ListenSpecsTests(SynchronousTestCase):
    """
    L{listenSpecs} turns C{-I} into sockets.
    """

    def test_default(self) -> None:
        """
        Without C{-I}: one wildcard socket per family.
        """
        self.assertIn(ListenSpec("0.0.0.0"), listenSpecs(()))

    def test_addressesAndNames(self) -> None:
        """
        An address binds that address; a name binds wildcard sockets to the
        device.
        """
        self.assertEqual(
            listenSpecs(("192.0.2.1", "eth0")),
            [
                ListenSpec("192.0.2.1"),
                ListenSpec("0.0.0.0", "eth0"),
                ListenSpec("::", "eth0"),
            ],
        )


class InterfaceFilterTests(SynchronousTestCase):
    """
    L{interfaceFilter} applies C{interface} lines as ntpd does: the last
    matching rule wins.
    """

    def filterFor(self, text: str):  # type: ignore[no-untyped-def]
        from ntpservice.service import interfaceRules

        return interfaceFilter(
            interfaceRules(parse(text)), indexToName={2: "eth0", 3: "eth1"}.__getitem__
        )

    def test_noRules(self) -> None:
        """
        No C{interface} line, no filter.
        """
        self.assertIsNone(self.filterFor(""))

    def test_lastMatchWins(self) -> None:
        """
        C{interface drop all} then C{interface listen 127.0.0.1} serves
        only loopback.
        """
        accept = self.filterFor("interface drop all\ninterface listen 127.0.0.1\n")
        self.assertTrue(accept(datagramTo("127.0.0.1")))
        self.assertFalse(accept(datagramTo("192.0.2.1")))

    def test_prefixAndFamily(self) -> None:
        """
        Prefixes and families match as in ntpd.
        """
        accept = self.filterFor("interface ignore ipv6\ninterface drop 10.0.0.0/8\n")
        self.assertFalse(accept(datagramTo("::1")))
        self.assertFalse(accept(datagramTo("10.1.2.3")))
        self.assertTrue(accept(datagramTo("192.0.2.1")))

    def test_names(self) -> None:
        """
        Interface names match the interface the datagram came in on.
        """
        accept = self.filterFor("interface drop eth1\n")
        self.assertTrue(accept(datagramTo("192.0.2.1", 2)))
        self.assertFalse(accept(datagramTo("192.0.2.2", 3)))

    def test_wildcardIgnoredForUnicast(self) -> None:
        """
        C{interface ignore wildcard} does not stop unicast service.
        """
        accept = self.filterFor("interface ignore wildcard\n")
        self.assertTrue(accept(datagramTo("192.0.2.1")))

    def test_ruleMake(self) -> None:
        """
        Address rules parse their prefix once.
        """
        rule = InterfaceRule.make("drop", "address", "10.0.0.0/8")
        self.assertEqual(str(rule.network), "10.0.0.0/8")


class DriftFileTests(SynchronousTestCase):
    """
    L{resolveDriftFile} finds a writable place for the drift file.
    """

    def test_writable(self) -> None:
        """
        A path in a writable directory is kept.
        """
        path = os.path.join(self.mktemp(), "ntp.drift")
        self.assertEqual(resolveDriftFile(path), path)

    def test_fallback(self) -> None:
        """
        An unwritable directory falls back to the state directory.
        """
        state = os.path.abspath(self.mktemp())
        self.patch(os, "environ", dict(os.environ, STATE_DIRECTORY=state))
        blocked = os.path.abspath(self.mktemp())
        with open(blocked, "w"):
            pass
        self.assertEqual(
            resolveDriftFile(os.path.join(blocked, "sub", "ntp.drift")),
            os.path.join(state, "ntp.drift"),
        )

    def test_none(self) -> None:
        """
        No driftfile line, no drift file.
        """
        self.assertIsNone(resolveDriftFile(None))


class KeysReloadTests(SynchronousTestCase):
    """
    SIGHUP re-reads the keys file without touching associations.
    """

    def test_reload(self) -> None:
        """
        A changed keys file replaces the ring; associations stay; a broken
        one is refused and the old ring kept.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        keys = os.path.join(directory, "ntp.keys")
        with open(keys, "w") as f:
            f.write("1 MD5 first\n")
        os.chmod(keys, 0o600)
        configuration = parse(
            f"keys {keys}\ntrustedkey 1\nserver 192.0.2.1 key 1\n"
        )
        service = makeNTPService(
            configuration,
            port=0,
            interfaces=("127.0.0.1",),
            clockAdjust=False,
            reactor=MemoryReactorClock(),
        )
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        associations = list(service.daemon.engine.associations.byID)
        first = service.daemon.keyring[1]
        with open(keys, "w") as f:
            f.write("1 MD5 second\n")
        service.reloadKeys()
        self.assertNotEqual(service.daemon.keyring[1], first)
        self.assertEqual(list(service.daemon.engine.associations.byID), associations)
        reloaded = service.daemon.keyring
        with open(keys, "w") as f:
            f.write("1 NOPE x\n")
        service.reloadKeys()
        self.assertIs(service.daemon.keyring, reloaded)
