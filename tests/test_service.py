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
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
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
    restrictFamily,
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


    def test_addressFamily(self) -> None:
        """
        With C{-4} or C{-6} only the sockets of that family are bound.
        """
        self.assertEqual(listenSpecs((), 4), [ListenSpec("0.0.0.0")])
        self.assertEqual(listenSpecs((), 6), [ListenSpec("::")])
        self.assertEqual(
            listenSpecs(("192.0.2.1", "::1", "eth0"), 6),
            [ListenSpec("::1"), ListenSpec("::", "eth0")],
        )


class RestrictFamilyTests(SynchronousTestCase):
    """
    L{restrictFamily} applies C{-4}/C{-6} to the association lines.
    """

    def test_names(self) -> None:
        """
        Host names are resolved in the chosen family, unless their line
        chose one itself; addresses and reference clocks are left alone;
        without C{-4}/C{-6} nothing changes.
        """
        configuration = parse(
            "server a.example.org\nserver -6 b.example.org\nserver 192.0.2.1\n"
            "pool pool.example.org\nserver 127.127.1.0\n"
        )
        self.assertIs(restrictFamily(configuration, None), configuration)
        lines = restrictFamily(configuration, 4).associations
        self.assertEqual(
            [(line.address, line.ipVersion) for line in lines],
            [
                ("a.example.org", 4),
                ("b.example.org", 6),
                ("192.0.2.1", None),
                ("pool.example.org", 4),
                ("127.127.1.0", None),
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


class LogCapture:
    """
    The text of the events logged while it observes the global log
    publisher, with their levels.
    """

    def __init__(self, case: SynchronousTestCase) -> None:
        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        case.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def lines(self, level: LogLevel | None = None) -> list[str]:
        """
        @return: the formatted messages, those of C{level} only if given.
        """
        return [
            formatEvent(e)
            for e in self.events
            if level is None or e.get("log_level") == level
        ]


WARNED_CONFIGURATION = """\
server 192.0.2.1 iburst
server 192.0.2.1
restrict default kod nomodify
crypto
driftfile {dir}/a.drift
driftfile {dir}/b.drift
tos minclock 5 maxclock 2 minsane 7
tos cohort 1
trap 192.0.2.5
"""

EXPECTED_WARNINGS = [
    "test.conf:2: duplicate server 192.0.2.1 ignored (the first is at test.conf:1)",
    "test.conf:3: kod does nothing without limited",
    "test.conf:4: autokey is not supported; 'crypto' is ignored",
    "test.conf:6: driftfile replaces the one at test.conf:5",
    "test.conf:7: tos: minsane (7) < minclock (5) <= maxclock (2) does not hold; "
    "the daemon will not select sources properly",
    "test.conf:8: tos cohort not implemented yet; ignored",
    "test.conf:9: trap has no effect: mode 6 traps are not implemented yet",
]
"""What the start-up log says about L{WARNED_CONFIGURATION}, in file order."""


class ConfigurationWarningsTests(SynchronousTestCase):
    """
    Every warning of the configuration, and every line the daemon does not
    act on, is logged at start as C{FILE:LINE: message} (and again on
    SIGHUP), in the order of the lines.
    """

    def makeService(self, text: str, **kw: object) -> service_module.NTPService:
        return makeNTPService(
            parse(text),
            port=0,
            interfaces=kw.pop("interfaces", ()),  # type: ignore[arg-type]
            clockAdjust=False,
            reactor=MemoryReactorClock(),
            **kw,  # type: ignore[arg-type]
        )

    def startService(self, text: str, **kw: object) -> service_module.NTPService:
        service = self.makeService(text, **kw)
        service.startService()
        self.addCleanup(service.stopService)
        return service

    def test_issueCasesLoggedAtStart(self) -> None:
        """
        A duplicate C{server} line (naming the first), C{kod} without
        C{limited}, C{crypto}, a second C{driftfile}, impossible C{tos}
        values, C{tos cohort} and C{trap} each give one warning-level line
        in the start-up log, in file order.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        log = LogCapture(self)
        self.startService(WARNED_CONFIGURATION.format(dir=directory))
        warnings = [
            line for line in log.lines(LogLevel.warn) if line.startswith("test.conf:")
        ]
        self.assertEqual(warnings, EXPECTED_WARNINGS)

    def test_hangupLogsThemAgain(self) -> None:
        """
        SIGHUP (L{NTPService.hangup}) logs the warnings again, for the
        reopened log file.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        service = self.startService(WARNED_CONFIGURATION.format(dir=directory))
        log = LogCapture(self)
        service.hangup()
        warnings = [
            line for line in log.lines(LogLevel.warn) if line.startswith("test.conf:")
        ]
        self.assertEqual(warnings, EXPECTED_WARNINGS)

    def test_runtimeConfigurationWarning(self) -> None:
        """
        A warning of a C{:config} line (autokey options on a runtime
        C{server} line) is logged with its location too.
        """
        service = self.startService("")
        log = LogCapture(self)
        control = service.daemon.control
        self.assertEqual(
            control.configure("server 127.0.0.1 port 9 autokey", "127.0.0.1"),
            "Config Succeeded",
        )
        self.assertIn(
            "ntpq 127.0.0.1:1: autokey is not supported; the server 127.0.0.1 "
            "autokey options are ignored",
            log.lines(LogLevel.warn),
        )

    def test_quietConfigurations(self) -> None:
        """
        The built-in default configuration has nothing to warn about.
        """
        service = self.makeService(config.DEFAULT_CONFIGURATION_TEXT)
        self.assertEqual(service.configurationWarnings(), [])

    def test_inactiveLines(self) -> None:
        """
        Each line, or part of a line, that is parsed but not acted on is
        named: options of associations, C{tos} and C{tinker} options,
        switches set against what the daemon does, restrict flags, MRU
        allocation knobs, the drift file's tolerance, C{fudge} lines no
        clock line names and C{fudge} options a driver ignores, and the
        directives that have no effect at all. What is acted on (a
        C{refclock} line of an installed driver, a C{leapfile}) is not
        named.
        """
        from tests.test_leapseconds import ENTRIES, leapFileText, utc

        leapfile = os.path.abspath(self.mktemp())
        with open(leapfile, "w") as f:
            f.write(leapFileText(utc(2099, 6, 28), ENTRIES))
        text = (
            "server 192.0.2.1 xleave ttl 3 iburst minpoll 4\n"  # 1
            "tos minclock 2 maxdist 2 ceiling 10 floor 2\n"  # 2
            "tinker step 0.2 huffpuff 7200 stepout 300\n"  # 3
            "enable mode7 monitor ntp stats\n"  # 4
            "disable kernel unpeer_crypto_early\n"  # 5
            "restrict 192.0.2.0 mask 255.255.255.0 mssntp nomodify\n"  # 6
            "mru maxdepth 100 initalloc 10\n"  # 7
            "driftfile /tmp/x.drift 1e-7\n"  # 8
            "server 127.127.1.0\n"  # 9
            "fudge 127.127.1.0 stratum 10 flag1 1\n"  # 10
            "fudge 127.127.8.0 mode 5\n"  # 11
            "refclock shm unit 0\n"  # 12
            f"leapfile {leapfile}\n"  # 13
            "broadcastdelay 0.004\n"  # 14
            "nonvolatile 1e-7\n"  # 15
            "dscp 46\n"  # 16
            "saveconfigdir /tmp\n"  # 17
            "pidfile /tmp/ntpd.pid\n"  # 18
            "requestkey 1\n"  # 19
            "rlimit memlock 32\n"  # 20
            "phone 123\n"  # 21
            "trap 192.0.2.5\n"  # 22
            "restrict ntp.example.org nomodify\n"  # 23
        )
        service = self.makeService(text)
        warnings = service.configurationWarnings()
        located = [w.split(":")[1] for w in warnings]
        self.assertEqual(
            located,
            [str(n) for n in range(1, 23) if n not in (9, 12, 13, 14)],
            "\n".join(warnings),
        )
        text = "\n".join(warnings)
        for words in (
            "test.conf:1: server 192.0.2.1: xleave, ttl not implemented yet",
            "test.conf:2: tos ceiling, floor not implemented yet",
            "test.conf:3: tinker huffpuff not implemented yet",
            "test.conf:4: enable mode7 not implemented yet",
            "test.conf:5: disable unpeer_crypto_early not implemented yet",
            "test.conf:6: restrict mssntp not implemented",
            "test.conf:7: mru initalloc ignored",
            "test.conf:8: driftfile tolerance ignored",
            "test.conf:10: fudge flag1 ignored by the LOCAL clock",
            "test.conf:11: fudge 127.127.8.0: no server or refclock line names it",
            "test.conf:19: requestkey has no effect: mode 7 is not answered",
            "test.conf:22: trap has no effect",
        ):
            self.assertIn(words, text)
        # A host name in a restrict line is resolved at start (without
        # blocking), not warned about.
        self.assertNotIn("test.conf:23", text)
        self.assertNotIn("kernel", text)
        # disable auth and broadcastdelay are acted on (the broadcast and
        # manycast modes), a broadcast line's ttl too.
        self.assertNotIn("auth", text)
        self.assertNotIn("broadcastdelay", text)
        self.assertNotIn("monitor", text)

    def test_inFileOrder(self) -> None:
        """
        L{service_module.inFileOrder} sorts by file (main file first, then
        includes in the order read), then line; lines without a location
        come last, and equal locations keep their order.
        """
        self.assertEqual(
            service_module.inFileOrder(
                ["b:1: x", "a:10: y", "no location", "a:2: z", "a:2: w", "c:1: v"],
                ["a", "b"],
            ),
            ["a:2: z", "a:2: w", "a:10: y", "b:1: x", "c:1: v", "no location"],
        )


class UnreachableServersTests(SynchronousTestCase):
    """
    The daemon sends its requests from the sockets it listens on, as ntpd
    does: with C{-I}, the start-up log names every server the bound sockets
    cannot reach.
    """

    def unreachable(self, text: str, *interfaces: str) -> list[str]:
        return service_module.unreachableServers(listenSpecs(interfaces), parse(text))

    def test_loopbackOnly(self) -> None:
        """
        With C{-I 127.0.0.1} (or the loopback device), a server on another
        address, a pool name and an IPv6 server cannot be reached; a
        loopback server and a reference clock can.
        """
        text = (
            "server 192.0.2.1 iburst\n"
            "pool pool.ntp.org iburst\n"
            "server 127.0.0.2 port 1234\n"
            "server 2001:db8::1\n"
            "server localhost\n"
            "server 127.127.1.0\n"
        )
        for interfaces in (("127.0.0.1",), ("lo",), ("127.0.0.1", "::1")):
            warnings = self.unreachable(text, *interfaces)
            self.assertEqual(
                [w.split(":")[1] for w in warnings], ["1", "2", "4"], warnings
            )
        [first] = self.unreachable("server 192.0.2.1\n", "127.0.0.1")
        self.assertEqual(
            first,
            "test.conf:1: server 192.0.2.1 cannot be reached: the daemon sends its "
            "requests from the addresses it listens on (-I 127.0.0.1); add an -I "
            "that leads to it, or leave -I out",
        )

    def test_otherListenings(self) -> None:
        """
        Without C{-I} (wildcard sockets) nothing is named; with a
        non-loopback address or interface, only loopback servers and other
        families are.
        """
        text = (
            "server 192.0.2.1\nserver 127.0.0.1\npool pool.ntp.org\n"
            "server 2001:db8::1\n"
        )
        self.assertEqual(self.unreachable(text), [])
        for interfaces in (("192.0.2.2",), ("eth0",)):
            warnings = self.unreachable(text, *interfaces)
            expected = ["2", "4"] if interfaces == ("192.0.2.2",) else ["2"]
            self.assertEqual([w.split(":")[1] for w in warnings], expected, warnings)

    def test_loggedAtStart(self) -> None:
        """
        The service logs the warning at start.
        """
        log = LogCapture(self)
        service = makeNTPService(
            parse("pool pool.ntp.org iburst\n"),
            port=0,
            interfaces=("127.0.0.1",),
            clockAdjust=False,
            reactor=MemoryReactorClock(),
        )
        service.startService()
        self.addCleanup(service.stopService)
        self.assertIn(
            "test.conf:1: pool pool.ntp.org cannot be reached: the daemon sends its "
            "requests from the addresses it listens on (-I 127.0.0.1); add an -I "
            "that leads to it, or leave -I out",
            log.lines(LogLevel.warn),
        )


class QuitTimeoutTests(SynchronousTestCase):
    """
    C{-q} gives up, with one error line and exit status 1, when the clock
    has not been set within its time limit.
    """

    def test_default(self) -> None:
        """
        By default: 128 s for a line with C{iburst} (its whole burst), four
        polls at C{minpoll} for one without, the longest of the lines, and
        256 s with no server or pool line; reference clocks do not count.
        """
        default = service_module.defaultQuitTimeout
        self.assertEqual(default(parse("server 192.0.2.1 iburst\n")), 128)
        self.assertEqual(default(parse("pool pool.ntp.org iburst minpoll 10\n")), 128)
        self.assertEqual(default(parse("server 192.0.2.1\n")), 256)
        self.assertEqual(default(parse("server 192.0.2.1 minpoll 4\n")), 64)
        self.assertEqual(
            default(parse("server 192.0.2.1 minpoll 3\nserver 192.0.2.2 iburst\n")), 128
        )
        self.assertEqual(
            default(parse("server 192.0.2.1 minpoll 8\npeer 192.0.2.3\n")), 1024
        )
        self.assertEqual(default(parse("")), 256)
        self.assertEqual(default(parse("server 127.127.1.0\n")), 256)

    def startService(self, text: str, quitTimeout: float | None = 10.0) -> tuple:
        reactor = MemoryReactorClock()
        service = makeNTPService(
            parse(text),
            clockAdjust=False,
            reactor=reactor,
            quit=True,
            quitTimeout=quitTimeout,
        )
        # Not bound: the requests go nowhere (counted as send.nosocket).
        service.startService()
        self.addCleanup(service.stopService)
        return service, reactor

    def exitTriggers(self, reactor: MemoryReactorClock) -> list:
        return [
            (f, args)
            for f, args, kw in reactor.triggers.get("after", {}).get("shutdown", [])
        ]

    def test_givesUp(self) -> None:
        """
        When nothing answers, the daemon logs one error line at the time
        limit, stops the reactor and exits with status 1 after the
        shutdown; not before the limit.
        """
        service, reactor = self.startService("server 127.0.0.1 port 9 iburst\n")
        log = LogCapture(self)
        reactor.advance(9.9)
        self.assertFalse(reactor.hasStopped)
        reactor.advance(0.2)
        self.assertTrue(reactor.hasStopped)
        self.assertEqual(service.daemon.exitStatus, 1)
        self.assertEqual(self.exitTriggers(reactor), [(service_module._exitNow, (1,))])
        self.assertEqual(
            log.lines(LogLevel.error),
            ["-q: the clock was not set within 10 s (no server answered); "
             "giving up, exit status 1"],
        )

    def test_answeredButNotSet(self) -> None:
        """
        When servers answered but none could be selected, the line says so.
        """
        service, reactor = self.startService(
            "server 127.0.0.1 port 9\nserver 127.0.0.2 port 9\n"
        )
        log = LogCapture(self)
        reactor.advance(1)
        first = next(iter(service.daemon.engine.associations))
        first.reach = 1
        reactor.advance(10)
        self.assertIn(
            "-q: the clock was not set within 10 s (1 of 2 servers answered, but "
            "none could be selected); giving up, exit status 1",
            log.lines(LogLevel.error),
        )

    def test_defaultUsed(self) -> None:
        """
        Without C{--quit-timeout} the service uses L{defaultQuitTimeout}.
        """
        service, reactor = self.startService(
            "server 127.0.0.1 port 9 minpoll 3\n", None
        )
        self.assertEqual(service.quitTimeout, 32)
        reactor.advance(31)
        self.assertFalse(reactor.hasStopped)
        reactor.advance(2)
        self.assertTrue(reactor.hasStopped)

    def test_setInTime(self) -> None:
        """
        Once the daemon has decided to exit (the clock was set: status 0),
        the time limit does nothing; stopping the service cancels it.
        """
        service, reactor = self.startService("server 127.0.0.1 port 9\n")
        service.daemon.exitStatus = 0
        log = LogCapture(self)
        reactor.advance(11)
        self.assertFalse(reactor.hasStopped)
        self.assertEqual(log.lines(LogLevel.error), [])
        service, reactor = self.startService("server 127.0.0.1 port 9\n")
        service.stopService()
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_noTimerWithoutQuit(self) -> None:
        """
        Without C{-q} there is no time limit.
        """
        reactor = MemoryReactorClock()
        service = makeNTPService(
            parse("server 127.0.0.1 port 9\n"), clockAdjust=False, reactor=reactor
        )
        service.startService()
        self.addCleanup(service.stopService)
        reactor.advance(10000)
        self.assertFalse(reactor.hasStopped)


class StartUpImportTests(SynchronousTestCase):
    """
    The daemon's start-up imports no more than it needs.
    """

    def test_metricsImportedOnDemand(self) -> None:
        """
        Importing the service does not import C{twisted.web} (the metrics
        endpoint's, a good part of the start-up time) until the endpoint is
        asked for; the default metrics address is the endpoint's.
        """
        import subprocess

        from ntpservice.control.metrics import DEFAULT_ADDRESS

        self.assertEqual(service_module.METRICS_ADDRESS, DEFAULT_ADDRESS)
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, ntpservice.service, ntpservice.tap; "
                "print(sorted(m for m in sys.modules if m.startswith('twisted.web')))",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        self.assertEqual(result.stdout.strip(), "[]", result.stderr)
