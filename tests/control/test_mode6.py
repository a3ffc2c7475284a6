# -*- test-case-name: tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.control.mode6} (its server, variables, runtime
configuration and events): the mode 6 server in a real L{NTPDaemon}, with
a fake clock, a memory reactor and a fake reply sender.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted.internet.interfaces import IHostnameResolver
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.auth.keyring import loadKeyRing
from ntpservice.auth.keys import KeyRing, SymmetricKey, formatKeysFile
from ntpservice.auth.mac import STATISTICS as MAC_STATISTICS
from ntpservice.auth.mac import signControl, verifyControl
from ntpservice.config import ConfigError, parseString
from ntpservice.control.kernel import KernelState
from ntpservice.control.mode6 import variables as mode6variables
from ntpservice.control.mode6 import (
    BUDGET_BURST,
    BUDGET_RATE,
    GLOBAL_BUDGET_BURST,
    MAX_UNAUTHENTICATED_FRAGMENTS,
    PEER_VARIABLES,
    SYSTEM_DEFAULT_VARIABLES,
    ControlHandler,
    RateLimiter,
    isLoopback,
)
from ntpservice.core import control as K
from ntpservice.core import status as S
from ntpservice.core import counters as C
from ntpservice.core.counters import PacketCounters
from ntpservice.core.selection import SelectionResult
from ntpservice.daemon import NTPDaemon
from ntpservice.interfaces import IDatagramHandler
from ntpservice.net.multiplexer import ModeTable
from ntpservice.net.udp import ReceivedDatagram
from ntpservice.plugins import enabledPlugins, loadModePlugins
from tests.helpers import fastPathForTests, FakeClock

T0 = 1_790_000_000 * 10**9
LOCALHOST = ("127.0.0.1", 40000)
REMOTE = ("198.51.100.7", 40000)
KEY = SymmetricKey(1, "SHA1", bytes.fromhex("0123456789abcdef0123456789abcdef01234567"))
OTHER_KEY = SymmetricKey(2, "MD5", b"tulip")
RING = KeyRing([KEY, OTHER_KEY], trusted=[1, 2])

BASE = """
server 127.127.1.0
fudge 127.127.1.0 stratum 3
server 192.0.2.1 iburst
server 192.0.2.2 key 2
pool pool.example.org iburst
controlkey 1
trustedkey 1 2
"""


class Sender:
    """A fake L{IReplySender}: records what is sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendReply(self, datagram: Any, data: Any) -> None:
        self.sent.append(data() if callable(data) else data)

    def now(self) -> int:
        return T0


class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name


@implementer(IHostnameResolver)
class PendingResolver:
    """
    A name resolver whose answers the test gives later (as a real one
    answers from a thread).
    """

    def __init__(self) -> None:
        self.pending: list[tuple[Any, str]] = []

    def resolveHostName(self, receiver: Any, hostName: str, portNumber: int = 0,
                        addressTypes: Any = None, transportSemantics: str = "TCP") -> Any:
        resolution = _Resolution(hostName)
        receiver.resolutionBegan(resolution)
        self.pending.append((receiver, hostName))
        return resolution

    def answer(self, name: str, address: str) -> None:
        for receiver, hostName in list(self.pending):
            if hostName == name:
                self.pending.remove((receiver, hostName))
                receiver.addressResolved(IPv4Address("UDP", address, 0))
                receiver.resolutionComplete()


def advance(daemon: NTPDaemon, seconds: float, step: float = 0.5) -> None:
    """Let C{seconds} pass on the daemon's clock and its reactor together."""
    for _ in range(int(seconds / step)):
        daemon.clock.time += int(step * 1e9)
        daemon.reactor.advance(step)


def localID(daemon: NTPDaemon) -> int:
    """The association ID of the LOCAL clock 127.127.1.0."""
    for association in daemon.engine.associations:
        if association.address == "127.127.1.0":
            return int(association.associd)
    raise AssertionError("no LOCAL clock association")


START_BURST = 10.0
"""Seconds: the LOCAL clock's start burst is over (it is the system peer)."""
NOW = T0 + int(START_BURST * 1e9)
"""The time of a daemon's clock when L{makeDaemon} returns it."""


_DEFAULT: Any = object()


def makeDaemon(text: str = BASE, keyring: KeyRing = RING,
               resolver: PendingResolver | None = None,
               fastPath: Any = _DEFAULT) -> NTPDaemon:
    """
    A started daemon for C{text}, L{START_BURST} seconds after its start
    (a LOCAL clock is selected by then).
    """
    configuration = parseString(text)
    reactor = MemoryReactorClock()
    reactor.nameResolver = resolver or PendingResolver()
    clock = FakeClock(T0)
    daemon = NTPDaemon(
        configuration,
        clock,
        reactor,
        PacketCounters(),
        ModeTable(),
        enabledPlugins(loadModePlugins(), configuration),
        keyring=keyring,
        fastPath=fastPathForTests() if fastPath is _DEFAULT else fastPath,
    )
    daemon.start()
    advance(daemon, START_BURST)
    return daemon


class ServerTestCase(SynchronousTestCase):
    """
    Sends requests to a daemon's control handler and reads the answers.
    """

    config = BASE

    @property
    def localID(self) -> int:
        """The LOCAL clock's association ID."""
        return localID(self.daemon)

    def setUp(self) -> None:
        self.resolver = PendingResolver()
        self.daemon = makeDaemon(self.config, resolver=self.resolver)
        self.handler = self.daemon.control
        self.sender = Sender()
        self.sequence = 0

    def send(self, datagram: bytes, source: tuple[str, int] = LOCALHOST) -> list[bytes]:
        """Deliver one datagram; return what was sent back."""
        before = len(self.sender.sent)
        self.handler.datagramReceived(
            None, ReceivedDatagram(datagram, source, rxTime=self.daemon.clock.now()), self.sender
        )
        return self.sender.sent[before:]

    def request(self, opcode: int, associd: int = 0, data: bytes = b"",
                source: tuple[str, int] = LOCALHOST, key: Any = None) -> list[bytes]:
        self.sequence += 1
        encoded = K.ControlMessage(opcode, self.sequence, associd=associd, data=data).encode()
        if key is not None:
            encoded = signControl(encoded, key)
        return self.send(encoded, source)

    def answer(self, opcode: int, associd: int = 0, data: bytes = b"",
               source: tuple[str, int] = LOCALHOST, key: Any = None) -> K.ControlMessage:
        """
        The reassembled response (as one message with the whole data);
        fails on an error response.
        """
        datagrams = self.request(opcode, associd, data, source, key)
        self.assertTrue(datagrams, "no response")
        reassembler = K.Reassembler()
        last = None
        for datagram in datagrams:
            last = K.ControlMessage.decode(datagram)
            self.assertFalse(last.error, f"error {last.errorCode}")
            self.assertEqual(last.sequence, self.sequence)
            reassembler.add(last)
        assert last is not None and reassembler.data is not None
        return K.ControlMessage(last.opcode, last.sequence, last.status, last.associd,
                                data=reassembler.data, response=True)

    def error(self, opcode: int, associd: int = 0, data: bytes = b"",
              source: tuple[str, int] = LOCALHOST, key: Any = None) -> int:
        """The error code of the response."""
        [datagram] = self.request(opcode, associd, data, source, key)
        message = K.ControlMessage.decode(datagram)
        self.assertTrue(message.error)
        return message.errorCode

    def associations(self) -> dict[int, int]:
        data = self.answer(K.OP_READSTAT).data
        return dict(struct.unpack("!HH", data[i : i + 4]) for i in range(0, len(data), 4))

    def variables(self, associd: int = 0, names: str = "") -> dict[str, str]:
        return dict(K.parseVariables(self.answer(K.OP_READVAR, associd, names.encode()).data))

    def byAddress(self, srcadr: str) -> int:
        for associd in self.associations():
            if self.variables(associd).get("srcadr") == srcadr:
                return associd
        raise AssertionError(f"no association with {srcadr}")


class HandlerTests(ServerTestCase):
    """
    The handler and its registration.
    """

    def test_registered(self) -> None:
        """
        The daemon registers its control handler for packet mode 6.
        """
        self.assertIs(self.daemon.modes.get(6), self.handler)
        verifyObject(IDatagramHandler, self.handler)

    def test_isLoopback(self) -> None:
        """
        127/8, ::1 and IPv4-mapped loopback are loopback; others not.
        """
        self.assertEqual(
            [isLoopback(a) for a in ("127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1",
                                    "192.0.2.1", "::", "nonsense")],
            [True, True, True, True, False, False, False],
        )

    def test_packageNames(self) -> None:
        """
        Every name the package offers is the one its modules define, so
        C{from ntpservice.control.mode6 import X} gives what it gave when
        the package was one module.
        """
        from ntpservice.control import mode6
        from ntpservice.control.mode6 import events, runtime, server

        modules = (server, mode6variables, runtime, events)
        for name in mode6.__all__:
            owners = [m for m in modules if getattr(m, name, None) is getattr(mode6, name)]
            self.assertTrue(owners, name)
        self.assertIs(mode6.ControlHandler, server.ControlHandler)
        self.assertIs(mode6.PEER_VARIABLES, mode6variables.PEER_VARIABLES)


class ReadStatTests(ServerTestCase):
    """
    READSTAT: the association list, with the LOCAL clock and the pool shown
    as ntpd shows them.
    """

    def test_list(self) -> None:
        """
        The list has the LOCAL clock, the pool and both servers, sorted by
        association ID, the LOCAL clock before the servers that follow it
        in the configuration; the system status says synchronized to the
        LOCAL clock.
        """
        response = self.answer(K.OP_READSTAT)
        status = K.decodeSystemStatus(response.status)
        self.assertEqual((status.leap, status.source), (0, S.SOURCE_LOCAL))
        self.assertEqual(status.lastEvent, S.EVNT_SYNC)
        ids = list(self.associations())
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(ids), 4)
        self.assertLess(self.localID, self.byAddress("192.0.2.1"))
        self.assertLess(self.localID, self.byAddress("192.0.2.2"))

    def test_peerStatusWords(self) -> None:
        """
        The LOCAL clock is configured, reachable and the system peer; the
        servers are configured, unreachable and rejected; the keyed one has
        authentication enabled, not yet authentic.
        """
        words = self.associations()
        local = K.decodePeerStatus(words[self.localID])
        self.assertEqual((local.conf, local.reach, local.tally), ("yes", "yes", "*"))
        plain = K.decodePeerStatus(words[self.byAddress("192.0.2.1")])
        self.assertEqual((plain.conf, plain.reach, plain.auth, plain.tally), ("yes", "no", "none", " "))
        self.assertEqual(plain.lastEventName, "mobilize")
        keyed = K.decodePeerStatus(words[self.byAddress("192.0.2.2")])
        self.assertEqual(keyed.auth, "bad")

    def test_selection(self) -> None:
        """
        The selection code follows the engine: the system peer is C{*},
        candidates C{+}, falsetickers C{x}.
        """
        engine = self.daemon.engine
        first, second = self.byAddress("192.0.2.1"), self.byAddress("192.0.2.2")
        engine.selection = SelectionResult(
            first, 0.0, 0.0, (first,), (first, second),
            {first: "sync", second: "falseticker"}, {},
        )
        engine.systemPeer = first
        words = self.associations()
        self.assertEqual(K.decodePeerStatus(words[first]).tally, "*")
        self.assertEqual(K.decodePeerStatus(words[second]).tally, "x")
        self.assertEqual(K.decodePeerStatus(words[self.localID]).tally, " ")
        self.assertEqual(K.decodeSystemStatus(self.answer(K.OP_READSTAT).status).source, S.SOURCE_NTP)
        self.assertEqual(self.variables()["peer"], str(first))

    def test_oneAssociation(self) -> None:
        """
        READSTAT for one association gives its default variables and status.
        """
        associd = self.byAddress("192.0.2.1")
        response = self.answer(K.OP_READSTAT, associd)
        self.assertEqual(dict(K.parseVariables(response.data))["srcadr"], "192.0.2.1")
        self.assertEqual(response.status, self.associations()[associd])

    def test_unknownAssociation(self) -> None:
        """
        An unknown association ID is BADASSOC.
        """
        self.assertEqual(self.error(K.OP_READSTAT, 999), K.ERR_BADASSOC)
        self.assertEqual(self.error(K.OP_READVAR, 999), K.ERR_BADASSOC)


class ReadVarTests(ServerTestCase):
    """
    READVAR with ntpd's names and formats.
    """

    def test_systemDefaults(self) -> None:
        """
        Without names: ntpd's default system variables, in its order, with
        the values of the daemon: synchronized to the LOCAL clock at
        stratum 4 (fudge 3 + 1).
        """
        response = self.answer(K.OP_READVAR)
        items = K.parseVariables(response.data)
        self.assertEqual([name for name, _ in items], list(SYSTEM_DEFAULT_VARIABLES))
        values = dict(items)
        self.assertEqual(values["stratum"], "4")
        self.assertEqual(values["leap"], "0")
        self.assertEqual(values["refid"], "127.127.1.0")
        self.assertEqual(values["peer"], str(self.localID))
        self.assertEqual(values["precision"], "-20")
        self.assertTrue(values["version"].startswith("ntpservice "))
        self.assertEqual(values["clock"], K.formatTimestamp(K.secondsToTimestamp(NOW / 1e9)))
        self.assertIn(b'version="ntpservice', response.data)
        self.assertTrue(response.data.endswith(b"\r\n"))

    def test_systemNamed(self) -> None:
        """
        Named variables come in the order asked, non-default ones too.
        """
        values = K.parseVariables(self.answer(K.OP_READVAR, 0, b"offset,stratum,mru_enabled").data)
        self.assertEqual([n for n, _ in values], ["offset", "stratum", "mru_enabled"])
        self.assertEqual(dict(values)["mru_enabled"], "1")

    def test_setvar(self) -> None:
        """
        setvar lines add system variables; those marked default come with
        the defaults.
        """
        daemon = makeDaemon(BASE + 'setvar location = "rack 7" default\nsetvar owner=ops\n')
        self.handler, self.daemon = daemon.control, daemon
        values = self.variables()
        self.assertEqual(values["location"], "rack 7")
        self.assertNotIn("owner", values)
        self.assertEqual(self.variables(0, "owner"), {"owner": "ops"})

    def test_unknownVariable(self) -> None:
        """
        An unknown name is UNKNOWNVAR, for the system and for a peer.
        """
        self.assertEqual(self.error(K.OP_READVAR, 0, b"stratum,nosuch"), K.ERR_UNKNOWNVAR)
        associd = self.byAddress("192.0.2.1")
        self.assertEqual(self.error(K.OP_READVAR, associd, b"nosuch"), K.ERR_UNKNOWNVAR)

    def test_peer(self) -> None:
        """
        A server's variables: ntpd's names in ntpd's order, an unreached
        server at stratum 16 with refid INIT, hmode 3, its key.
        """
        associd = self.byAddress("192.0.2.2")
        items = K.parseVariables(self.answer(K.OP_READVAR, associd).data)
        names = [name for name, _ in items]
        self.assertEqual(names, [n for n in PEER_VARIABLES if n in names])
        values = dict(items)
        self.assertEqual(
            (values["hmode"], values["stratum"], values["refid"], values["keyid"], values["reach"]),
            ("3", "16", "INIT", "2", "0x0"),
        )
        self.assertEqual(values["dispersion"], "16000.000000")
        self.assertEqual(len(values["filtdelay"].split()), 8)
        self.assertNotIn("srchost", values)

    def test_peerNamed(self) -> None:
        """
        Named peer variables come in ntpd's table order, whatever the
        order asked.
        """
        associd = self.byAddress("192.0.2.1")
        items = K.parseVariables(self.answer(K.OP_READVAR, associd, b"reach,srcadr,sent").data)
        self.assertEqual([n for n, _ in items], ["srcadr", "reach", "sent"])

    def test_local(self) -> None:
        """
        The LOCAL clock: 127.127.1.0, srchost LOCAL(0) (ntpq's type C{l}),
        refid LOCL as text, the fudge stratum, reach growing every 64 s.
        """
        values = self.variables(self.localID)
        self.assertEqual(
            (values["srcadr"], values["srchost"], values["refid"], values["stratum"], values["hmode"]),
            ("127.127.1.0", "LOCAL(0)", "LOCL", "3", "3"),
        )
        self.assertEqual(values["reach"], "0x1")
        advance(self.daemon, 200)
        self.assertEqual(self.variables(self.localID)["reach"], "0xf")

    def test_pool(self) -> None:
        """
        The pool line: address 0.0.0.0, srchost the pool's name, refid POOL
        (ntpq's type C{p}), stratum 16.
        """
        pool = next(
            a for a in self.associations() if self.variables(a).get("refid") == "POOL"
        )
        values = self.variables(pool)
        self.assertEqual(
            (values["srcadr"], values["srchost"], values["stratum"]),
            ("0.0.0.0", "pool.example.org", "16"),
        )

    def test_readClock(self) -> None:
        """
        READCLOCK gives the LOCAL clock's variables; BADASSOC for a network
        server.
        """
        values = dict(K.parseVariables(self.answer(K.OP_READCLOCK, self.localID).data))
        self.assertEqual((values["name"], values["stratum"]), ("LOCAL(0)", "3"))
        self.assertEqual(self.error(K.OP_READCLOCK, self.byAddress("192.0.2.1")), K.ERR_BADASSOC)

    def test_readClockSystem(self) -> None:
        """
        READCLOCK for association 0 is ntpd's "system clock": the system
        peer if it is a reference clock, else the first reference clock.
        So the LOCAL clock answers while a network server is the system
        peer too; without any reference clock the answer is BADASSOC.
        """
        local = self.answer(K.OP_READCLOCK, self.localID).data
        self.assertEqual(self.answer(K.OP_READCLOCK).data, local)
        associd = self.byAddress("192.0.2.1")
        self.daemon.engine.systemPeer = associd
        self.assertEqual(self.handler.variables.systemPeerID(), associd)
        self.assertEqual(self.answer(K.OP_READCLOCK).data, local)
        daemon = makeDaemon(BASE.replace("server 127.127.1.0\n", "").replace(
            "fudge 127.127.1.0 stratum 3\n", ""))
        self.handler, self.daemon = daemon.control, daemon
        self.assertEqual(self.error(K.OP_READCLOCK), K.ERR_BADASSOC)


class ErrorTests(ServerTestCase):
    """
    Malformed requests and unsupported operations.
    """

    def test_badOpcodes(self) -> None:
        """
        WRITEVAR, WRITECLOCK, traps and unknown opcodes are BADOP.
        """
        for opcode in (K.OP_WRITEVAR, K.OP_WRITECLOCK, K.OP_SETTRAP, 20, K.OP_UNSETTRAP):
            self.assertEqual(self.error(opcode), K.ERR_BADOP, opcode)

    def test_unspec(self) -> None:
        """
        Opcode 0 answers the status word without data.
        """
        response = self.answer(K.OP_UNSPEC)
        self.assertEqual(response.data, b"")
        self.assertEqual(response.status, self.answer(K.OP_READSTAT).status)

    def test_dropped(self) -> None:
        """
        Responses, fragments, non-zero offsets, garbage and unknown
        versions are dropped and counted.
        """
        counters = self.daemon.counters
        for message in (
            K.ControlMessage(K.OP_READVAR, 1, response=True),
            K.ControlMessage(K.OP_READVAR, 1, more=True),
            K.ControlMessage(K.OP_READVAR, 1, offset=4),
            K.ControlMessage(K.OP_READVAR, 1, version=6),
        ):
            self.assertEqual(self.send(message.encode()), [])
        self.assertEqual(self.send(b"\x16\x02"), [])
        self.assertEqual(counters["control.malformed"], 4)
        self.assertEqual(counters["control.badversion"], 1)

    def test_badLength(self) -> None:
        """
        A request whose length is not a multiple of 4 is BADFMT.
        """
        datagram = K.ControlMessage(K.OP_READVAR, 1, data=b"a").encode()[:13]
        [reply] = self.send(datagram)
        self.assertEqual(K.ControlMessage.decode(reply).errorCode, K.ERR_BADFMT)


class AccessTests(ServerTestCase):
    """
    Who is answered.
    """

    def test_localhostOnlyByDefault(self) -> None:
        """
        Without restrict lines, only loopback sources are answered.
        """
        self.assertEqual(self.request(K.OP_READVAR, source=REMOTE), [])
        self.assertEqual(self.daemon.counters["control.notlocal"], 1)
        self.assertTrue(self.request(K.OP_READVAR, source=("::1", 5000)))

    def test_restrictLines(self) -> None:
        """
        With restrict lines, a configured entry without noquery admits its
        network; the built-in default does not; noquery refuses, also for
        loopback.
        """
        daemon = makeDaemon(BASE + "restrict 198.51.100.0 mask 255.255.255.0 nomodify\n"
                            "restrict 203.0.113.5 noquery\n")
        self.handler, self.daemon = daemon.control, daemon
        self.assertTrue(self.request(K.OP_READVAR, source=REMOTE))
        self.assertEqual(self.request(K.OP_READVAR, source=("192.0.2.99", 4000)), [])
        self.assertEqual(self.request(K.OP_READVAR, source=("203.0.113.5", 4000)), [])
        self.assertEqual(daemon.counters["control.noquery"], 1)
        self.assertTrue(self.request(K.OP_READVAR, source=LOCALHOST))

    def test_defaultNoquery(self) -> None:
        """
        ntpd's usual lines: noquery by default, free for localhost.
        """
        daemon = makeDaemon(
            BASE + "restrict default kod limited nomodify nopeer noquery\nrestrict 127.0.0.1\n"
        )
        self.handler, self.daemon = daemon.control, daemon
        self.assertTrue(self.request(K.OP_READVAR))
        self.assertEqual(self.request(K.OP_READVAR, source=REMOTE), [])

    def test_notUnicast(self) -> None:
        """
        A request sent to a broadcast address is not answered.
        """
        datagram = ReceivedDatagram(
            K.ControlMessage(K.OP_READVAR, 1).encode(), LOCALHOST,
            destination="127.255.255.255", localAddress="127.0.0.1", rxTime=T0,
        )
        self.handler.datagramReceived(None, datagram, self.sender)
        self.assertEqual(self.sender.sent, [])
        self.assertEqual(self.daemon.counters["control.notunicast"], 1)

    def test_rateLimited(self) -> None:
        """
        A source sending faster than its bucket allows is dropped and
        counted; others are still answered; the bucket refills with time.
        """
        self.handler._limiter = RateLimiter(burst=5, rate=1.0)
        answered = [bool(self.request(K.OP_READVAR)) for _ in range(8)]
        self.assertEqual(answered, [True] * 5 + [False] * 3)
        self.assertEqual(self.daemon.counters["control.ratelimited"], 3)
        self.assertTrue(self.request(K.OP_READVAR, source=("127.0.0.2", 1)))
        self.daemon.reactor.advance(2)
        self.assertTrue(self.request(K.OP_READVAR))

    def test_globalRateLimit(self) -> None:
        """
        All sources together share a second bucket.
        """
        limiter = RateLimiter(burst=10, rate=1.0, globalBurst=3, globalRate=1.0)
        self.assertEqual(
            [limiter.allow(f"127.0.0.{i}", 0.0) for i in range(5)], [True] * 3 + [False] * 2
        )

    def test_boundedSources(self) -> None:
        """
        The limiter forgets the oldest sources beyond its bound.
        """
        limiter = RateLimiter(maxSources=3)
        for i in range(10):
            limiter.allow(f"192.0.2.{i}", 0.0)
        self.assertEqual(len(limiter._sources), 3)


class ConfigureTests(ServerTestCase):
    """
    CONFIGURE (ntpq :config), authenticated with the controlkey.
    """

    def configure(self, text: str, key: Any = KEY) -> str:
        datagrams = self.request(K.OP_CONFIGURE, 0, text.encode(), key=key)
        self.assertEqual(len(datagrams), 1)
        message = K.ControlMessage.decode(datagrams[0])
        self.assertFalse(message.error)
        auth = verifyControl(datagrams[0], len(message.data), RING)
        self.assertTrue(auth.authenticated, "the response is not signed")
        return message.data.decode().rstrip()

    def test_needsControlKey(self) -> None:
        """
        Without a MAC, with another trusted key, or with a bad MAC: PERMISSION.
        """
        self.assertEqual(self.error(K.OP_CONFIGURE, 0, b"server 192.0.2.9"), K.ERR_PERMISSION)
        self.assertEqual(
            self.error(K.OP_CONFIGURE, 0, b"server 192.0.2.9", key=OTHER_KEY), K.ERR_PERMISSION
        )
        self.assertEqual(self.daemon.engine.find("192.0.2.9", 123), None)

    def test_noControlKey(self) -> None:
        """
        A daemon without controlkey refuses every CONFIGURE.
        """
        daemon = makeDaemon(BASE.replace("controlkey 1\n", ""))
        self.handler, self.daemon = daemon.control, daemon
        self.assertEqual(self.error(K.OP_CONFIGURE, 0, b"server 192.0.2.9", key=KEY), K.ERR_PERMISSION)

    def test_addServer(self) -> None:
        """
        ':config server ADDRESS' mobilizes a client association at once.
        """
        self.assertEqual(self.configure("server 192.0.2.9 iburst minpoll 4"), "Config Succeeded")
        association = self.daemon.engine.find("192.0.2.9", 123)
        self.assertIsNotNone(association)
        self.assertTrue(association.settings.iburst)
        self.assertEqual(association.settings.minPollLog2, 4)
        self.assertIn(association.associd, self.associations())

    def test_addServerByName(self) -> None:
        """
        A name is resolved without blocking: the answer comes before the
        resolution, the association when it completes.
        """
        self.assertEqual(self.configure("server ntp.example.net iburst"), "Config Succeeded")
        self.assertEqual([name for _, name in self.resolver.pending][-1], "ntp.example.net")
        self.assertIsNone(self.daemon.engine.find("203.0.113.50", 123))
        self.resolver.answer("ntp.example.net", "203.0.113.50")
        association = self.daemon.engine.find("203.0.113.50", 123)
        self.assertEqual(association.settings.name, "ntp.example.net")
        self.assertEqual(self.variables(association.associd)["srchost"], "ntp.example.net")

    def test_unresolvedNameShown(self) -> None:
        """
        A server name that has not resolved yet is shown as an association
        with address 0.0.0.0, the name as srchost and refid DNS; once it
        resolves, that entry is gone and the real association is there.
        """
        self.assertEqual(self.configure("server later.example.net"), "Config Succeeded")
        pending = [
            a for a in self.associations() if self.variables(a)["refid"] == "DNS"
        ]
        self.assertEqual(len(pending), 1)
        values = self.variables(pending[0])
        self.assertEqual(
            (values["srcadr"], values["srchost"], values["stratum"]),
            ("0.0.0.0", "later.example.net", "16"),
        )
        self.resolver.answer("later.example.net", "203.0.113.80")
        self.assertNotIn(pending[0], self.associations())
        self.assertEqual(
            [a for a in self.associations() if self.variables(a)["refid"] == "DNS"], []
        )
        self.assertIsNotNone(self.daemon.engine.find("203.0.113.80", 123))

    def test_unpeerWhileResolving(self) -> None:
        """
        ':config unpeer NAME' for a server line whose name is still
        resolving cancels it: when the name answers, nothing is mobilized.
        """
        self.assertEqual(self.configure("server slow.example.net"), "Config Succeeded")
        self.assertEqual(self.configure("unpeer slow.example.net"), "Config Succeeded")
        self.resolver.answer("slow.example.net", "203.0.113.70")
        self.assertIsNone(self.daemon.engine.find("203.0.113.70", 123))
        self.assertNotEqual(self.configure("unpeer slow.example.net"), "Config Succeeded")

    def test_runtimeRoutedToOwner(self) -> None:
        """
        Runtime lines go to the mode instance that owns their directive.
        """
        self.assertIs(
            self.daemon.runtimeConfigurable("server"), self.daemon.instances["client"]
        )
        self.assertIs(self.daemon.runtimeConfigurable("pool"), self.daemon.instances["pool"])
        self.assertIsNone(self.daemon.runtimeConfigurable("broadcast"))

    def test_unpeer(self) -> None:
        """
        ':config unpeer ADDRESS' (or an association ID) demobilizes.
        """
        associd = self.byAddress("192.0.2.1")
        self.assertEqual(self.configure("unpeer 192.0.2.1"), "Config Succeeded")
        self.assertNotIn(associd, self.associations())
        other = self.byAddress("192.0.2.2")
        self.assertEqual(self.configure(f"unpeer {other}"), "Config Succeeded")
        self.assertNotIn(other, self.associations())

    def test_pool(self) -> None:
        """
        ':config pool NAME' adds a pool association (refid POOL); unpeer
        NAME removes it.
        """
        self.assertEqual(self.configure("pool other.example.org"), "Config Succeeded")
        pools = [a for a in self.associations() if self.variables(a)["refid"] == "POOL"]
        self.assertEqual(len(pools), 2)
        self.assertEqual(self.configure("unpeer other.example.org"), "Config Succeeded")
        pools = [a for a in self.associations() if self.variables(a)["refid"] == "POOL"]
        self.assertEqual(len(pools), 1)

    def test_poolMobilizes(self) -> None:
        """
        A pool added at run time is resolved without blocking and mobilizes
        ephemeral associations from its addresses (not configured); once
        unpeered, a late answer mobilizes nothing.
        """
        self.configure("pool pool.example.net iburst")
        self.assertIn("pool.example.net", [name for _, name in self.resolver.pending])
        self.resolver.answer("pool.example.net", "203.0.113.60")
        association = self.daemon.engine.find("203.0.113.60", 123)
        self.assertEqual(association.settings.lifecycle, "ephemeral")
        self.assertEqual(K.decodePeerStatus(self.associations()[association.associd]).conf, "no")
        self.configure("pool gone.example.net")
        self.configure("unpeer gone.example.net")
        self.resolver.answer("gone.example.net", "203.0.113.61")
        self.assertIsNone(self.daemon.engine.find("203.0.113.61", 123))

    def test_errors(self) -> None:
        """
        Errors are answered as text, one line each, and nothing changes:
        unknown directives, ones not allowed at run time, bad options,
        duplicates, reference clocks, unknown unpeer targets.
        """
        text = self.configure(
            "frobnicate 1\n"
            "restrict default\n"
            "server 192.0.2.1\n"
            "server 192.0.2.20 bogus\n"
            "server 127.127.1.1\n"
            "unpeer 192.0.2.99\n"
        )
        lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
        self.assertEqual(len(lines), 6, text)
        self.assertTrue(lines[0].startswith("line 1: 'frobnicate'"))
        self.assertIn("has an association already", lines[2])
        self.assertIn("bogus", lines[3])
        self.assertIn("reference clocks", lines[4])
        self.assertIn("no association for 192.0.2.99", lines[5])
        self.assertIsNone(self.daemon.engine.find("192.0.2.20", 123))

    def test_keyNotInKeysFile(self) -> None:
        """
        A server or pool line whose key is not in the keys file, or not
        trusted, is refused at run time as the same line in the
        configuration file is, with the same message, and nothing is
        mobilized; a trusted key of the file is accepted.
        """
        untrusted = SymmetricKey(3, "AES128CMAC", bytes(range(16)))
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(formatKeysFile(KeyRing([KEY, OTHER_KEY, untrusted])))
        text = BASE + f"keys {path}\n"
        ring = loadKeyRing(parseString(text))
        daemon = makeDaemon(text, keyring=ring, resolver=self.resolver)
        self.handler, self.daemon = daemon.control, daemon
        pending = len(self.resolver.pending)
        for line in ("server 192.0.2.9 key 99", "pool pool.example.net key 99",
                     "server 192.0.2.9 key 3"):
            with self.assertRaises(ConfigError) as raised:
                loadKeyRing(parseString(text + line + "\n"))
            self.assertEqual(self.configure(line), f"line 1: {raised.exception.message}")
        self.assertIn(f"key 99 is not in the keys file {path}", self.configure("server 192.0.2.9 key 99"))
        self.assertIsNone(self.daemon.engine.find("192.0.2.9", 123))
        self.assertEqual(len(self.resolver.pending), pending)
        self.assertEqual(self.configure("server 192.0.2.9 key 2"), "Config Succeeded")
        self.assertEqual(self.daemon.engine.find("192.0.2.9", 123).settings.key, 2)

    def test_keyWithoutKeysFile(self) -> None:
        """
        Without a keys file, a key is refused at run time as in the
        configuration file: it needs one.
        """
        self.assertEqual(
            self.configure("server 192.0.2.9 key 1"),
            "line 1: key 1 needs a keys file: add a 'keys FILE' line",
        )
        self.assertIsNone(self.daemon.engine.find("192.0.2.9", 123))

    def test_localClockStays(self) -> None:
        """
        The LOCAL clock cannot be removed at run time.
        """
        self.assertIn("LOCAL", self.configure(f"unpeer {self.localID}"))

    def test_nomodify(self) -> None:
        """
        nomodify refuses runtime configuration, with ntpd's message.
        """
        daemon = makeDaemon(BASE + "restrict 127.0.0.1 nomodify\n")
        self.handler, self.daemon = daemon.control, daemon
        self.assertIn("nomodify", self.configure("server 192.0.2.9"))
        self.assertIsNone(daemon.engine.find("192.0.2.9", 123))


class MRUTests(ServerTestCase):
    """
    REQ_NONCE and READ_MRU.
    """

    config = BASE + "enable monitor\n"

    def nonce(self, source: tuple[str, int] = LOCALHOST) -> str:
        text = self.answer(K.OP_REQ_NONCE, source=source).data.decode().strip()
        self.assertTrue(text.startswith("nonce="))
        return text

    def test_handshake(self) -> None:
        """
        With a nonce from REQ_NONCE, READ_MRU lists the clients, oldest
        first, and ends with now=; the response carries a new nonce.
        """
        mru = self.daemon.mru
        base = T0 / 1e9
        mru.observe("192.0.2.10", 123, 3, 4, base - 20)
        mru.observe("192.0.2.11", 4000, 3, 3, base - 10)
        nonce = self.nonce()
        self.daemon.clock.time += 10**6
        values = K.parseVariables(self.answer(K.OP_READ_MRU, 0, f"{nonce}, frags=32".encode()).data)
        names = dict(values)
        self.assertEqual(names["addr.0"], "192.0.2.10:123")
        self.assertEqual(names["addr.1"], "192.0.2.11:4000")
        self.assertEqual(names["mv.1"], str((3 << 3) | 3))
        self.assertIn("now", names)
        self.assertNotEqual("nonce=" + names["nonce"], nonce)

    def test_badNonce(self) -> None:
        """
        Without a valid nonce (none, forged, another port's, expired)
        nothing is sent.
        """
        nonce = self.nonce()
        for data in (b"frags=32", b"nonce=000000000000000000000000, frags=32"):
            self.assertEqual(self.request(K.OP_READ_MRU, 0, data), [])
        self.assertEqual(
            self.request(K.OP_READ_MRU, 0, f"{nonce}, frags=32".encode(), source=("127.0.0.1", 40001)),
            [],
        )
        self.daemon.clock.time += 17 * 10**9
        self.assertEqual(self.request(K.OP_READ_MRU, 0, f"{nonce}, frags=32".encode()), [])
        self.assertEqual(self.daemon.counters["control.badnonce"], 4)

    def test_paging(self) -> None:
        """
        A list longer than one response comes in several, each within the
        fragment limit asked for.
        """
        base = T0 / 1e9
        for i in range(60):
            self.daemon.mru.observe(f"198.51.100.{i + 1}", 123, 3, 4, base - 100 + i)
        nonce = self.nonce()
        datagrams = self.request(K.OP_READ_MRU, 0, f"{nonce}, frags=2".encode())
        self.assertEqual(len(datagrams), 2)
        self.assertTrue(K.ControlMessage.decode(datagrams[0]).more)

    def test_noMonitor(self) -> None:
        """
        Without an MRU list (disable monitor, no limited), the list is
        empty and complete.
        """
        daemon = makeDaemon(BASE + "disable monitor\n")
        self.handler, self.daemon = daemon.control, daemon
        nonce = self.nonce()
        names = dict(K.parseVariables(self.answer(K.OP_READ_MRU, 0, f"{nonce}, frags=32".encode()).data))
        self.assertIn("now", names)
        self.assertNotIn("addr.0", names)

    def test_nomrulist(self) -> None:
        """
        nomrulist refuses READ_MRU with PERMISSION.
        """
        daemon = makeDaemon(self.config + "restrict 127.0.0.1 nomrulist\n")
        self.handler, self.daemon = daemon.control, daemon
        nonce = self.nonce()
        self.assertEqual(self.error(K.OP_READ_MRU, 0, f"{nonce}, frags=32".encode()), K.ERR_PERMISSION)

    def test_monitorVariables(self) -> None:
        """
        The mru_* variables (ntpq monstats) describe the list.
        """
        self.daemon.mru.observe("192.0.2.10", 123, 3, 4, NOW / 1e9 - 30)
        values = self.variables(0, "mru_enabled,mru_hashslots,mru_depth,mru_oldest_age")
        self.assertEqual(
            values,
            {"mru_enabled": "1", "mru_hashslots": "1", "mru_depth": "1", "mru_oldest_age": "30"},
        )


class FragmentLimitTests(ServerTestCase):
    """
    Responses to unauthenticated requests are bounded.
    """

    def test_cap(self) -> None:
        """
        A response beyond the unauthenticated cap is refused with
        PERMISSION (and counted); signed with a trusted key, it is sent.
        """
        lines = "".join(f"server 10.0.{i // 200}.{i % 200 + 1}\n" for i in range(1000))
        daemon = makeDaemon(BASE + lines)
        self.handler, self.daemon = daemon.control, daemon
        self.assertGreater(4 * 1004, MAX_UNAUTHENTICATED_FRAGMENTS * K.MAX_DATA_LEN)
        self.assertEqual(self.error(K.OP_READSTAT), K.ERR_PERMISSION)
        self.assertEqual(daemon.counters["control.toolarge"], 1)
        datagrams = self.request(K.OP_READSTAT, key=OTHER_KEY)
        self.assertEqual(len(datagrams), 9)
        for datagram in datagrams:
            message = K.ControlMessage.decode(datagram)
            self.assertTrue(verifyControl(datagram, len(message.data), RING).authenticated)


ALLOWED = (
    "restrict default nomodify nopeer noquery\nrestrict 127.0.0.1\n"
    "restrict 198.51.100.0 mask 255.255.255.0\n"
)
"""Loopback and 198.51.100.0/24 may query and configure; the rest may not."""


class BudgetTests(ServerTestCase):
    """
    Answers to unproven addresses come out of a per-source and a global
    byte budget (CVE-2013-5211; Rossow, NDSS 2014).
    """

    config = BASE + "enable monitor\n" + ALLOWED

    def octets(self, datagrams: list[bytes]) -> int:
        return sum(len(d) for d in datagrams)

    def test_perSource(self) -> None:
        """
        An allowed remote address gets answers until they reach
        L{BUDGET_BURST} octets; the rest are dropped and counted; the
        budget refills at L{BUDGET_RATE} octets a second; loopback and
        other addresses are not affected.
        """
        sent = 0
        answered = []
        for _ in range(60):
            datagrams = self.request(K.OP_READVAR, source=REMOTE)
            answered.append(bool(datagrams))
            sent += self.octets(datagrams)
        self.assertLessEqual(sent, BUDGET_BURST)
        self.assertGreater(sent, BUDGET_BURST // 2)
        self.assertIn(False, answered)
        self.assertEqual(answered.index(False), answered.count(True))
        self.assertEqual(self.daemon.counters["control.overbudget"], answered.count(False))
        self.assertTrue(self.request(K.OP_READVAR))
        self.assertTrue(self.request(K.OP_READVAR, source=("198.51.100.8", 40000)))
        self.assertEqual(self.request(K.OP_READVAR, source=REMOTE), [])
        advance(self.daemon, 2 * BUDGET_BURST / BUDGET_RATE, step=4.0)
        self.assertTrue(self.request(K.OP_READVAR, source=REMOTE))

    def test_global(self) -> None:
        """
        Fresh addresses share the global budget: a request from each of
        many draws at most L{GLOBAL_BUDGET_BURST} octets in all.
        """
        sent = sum(
            self.octets(self.request(K.OP_READVAR, source=(f"198.51.100.{i}", 123)))
            for i in range(1, 255)
        )
        self.assertLessEqual(sent, GLOBAL_BUDGET_BURST)
        self.assertGreater(self.daemon.counters["control.overbudget"], 0)

    def test_floodRatio(self) -> None:
        """
        A flood of every opcode from one allowed address draws fewer
        octets than it sends.
        """
        received = sent = 0
        for _ in range(20):
            for opcode in range(32):
                datagram = K.ControlMessage(opcode, opcode + 1).encode()
                received += len(datagram)
                sent += self.octets(self.send(datagram, source=REMOTE))
        self.assertLessEqual(sent, received)
        self.assertEqual(self.daemon.counters["control.sentoctets"], sent)
        self.assertEqual(self.daemon.counters["control.receivedoctets"], received)
        values = self.variables(0, "ctl_sentoctets,ctl_overbudget")
        self.assertEqual(int(values["ctl_sentoctets"]), sent)
        self.assertEqual(int(values["ctl_overbudget"]),
                         self.daemon.counters["control.overbudget"])
        self.assertNotIn("ctl_overbudget", self.variables())

    def test_nonceProves(self) -> None:
        """
        READ_MRU with a valid nonce is answered past an exhausted budget
        (the nonce proves the address); a signed request is not (a MAC
        proves who made it, not who sends it).
        """
        self.daemon.mru.observe("192.0.2.10", 123, 3, 4, T0 / 1e9 - 20)
        nonce = self.answer(K.OP_REQ_NONCE, source=REMOTE).data.decode().strip()
        while self.request(K.OP_READVAR, source=REMOTE):
            pass
        self.assertTrue(self.request(K.OP_READ_MRU, 0, f"{nonce}, frags=32".encode(),
                                     source=REMOTE))
        self.assertEqual(self.request(K.OP_READVAR, source=REMOTE, key=OTHER_KEY), [])

    def test_cheapAnswersToo(self) -> None:
        """
        Error answers come out of the budget as well.
        """
        self.handler._limiter = RateLimiter(burst=10**6, globalBurst=10**6)
        for _ in range(BUDGET_BURST // 12 + 1):
            if not self.request(K.OP_WRITEVAR, source=REMOTE):
                break
        else:
            self.fail("error answers are not budgeted")
        self.assertEqual(self.daemon.counters["control.overbudget"], 1)


class WriteFreshnessTests(ServerTestCase):
    """
    Write requests (CONFIGURE) are fresh and executed once.
    """

    config = BASE + ALLOWED

    def nonce(self, source: tuple[str, int] = REMOTE) -> str:
        # Nonces made at one instant for one address and port are equal.
        self.daemon.clock.time += 10**6
        text = self.answer(K.OP_REQ_NONCE, source=source).data.decode().strip()
        self.assertTrue(text.startswith("nonce="))
        return text

    def signed(self, text: str, sequence: int = 7, key: Any = KEY) -> bytes:
        return signControl(K.ControlMessage(K.OP_CONFIGURE, sequence, data=text.encode()).encode(),
                           key)

    def text(self, datagrams: list[bytes]) -> str:
        [datagram] = datagrams
        message = K.ControlMessage.decode(datagram)
        self.assertFalse(message.error, f"error {message.errorCode}")
        return message.data.decode().rstrip()

    def errorCode(self, datagrams: list[bytes]) -> int:
        [datagram] = datagrams
        message = K.ControlMessage.decode(datagram)
        self.assertTrue(message.error)
        return message.errorCode

    def test_executedOnce(self) -> None:
        """
        A signed request with a nonce given to its address and port is
        executed; the same datagram again gets the same answer without
        being executed; another request with that nonce is refused, and so
        is the same datagram once the nonce expired.
        """
        datagram = self.signed(f"# {self.nonce()}\nserver 192.0.2.9")
        first = self.send(datagram, REMOTE)
        self.assertEqual(self.text(first), "Config Succeeded")
        associations = set(self.associations())
        self.assertEqual(self.send(datagram, REMOTE), first)
        self.assertEqual(self.daemon.counters["control.retransmitted"], 1)
        self.assertEqual(set(self.associations()), associations)

        nonce = K.ControlMessage.decode(datagram).data.decode().splitlines()[0][2:]
        other = self.signed(f"# {nonce}\nunpeer 192.0.2.9", sequence=8)
        self.assertEqual(self.errorCode(self.send(other, REMOTE)), K.ERR_PERMISSION)
        self.assertEqual(self.daemon.counters["control.replayed"], 1)
        self.assertIsNotNone(self.daemon.engine.find("192.0.2.9", 123))

        advance(self.daemon, K.NONCE_TIMEOUT + 1)
        self.send(self.signed(f"# {self.nonce()}\nunpeer 192.0.2.9"), REMOTE)
        self.assertIsNone(self.daemon.engine.find("192.0.2.9", 123))
        self.assertEqual(self.errorCode(self.send(datagram, REMOTE)), K.ERR_PERMISSION)
        self.assertEqual(self.daemon.counters["control.replayed"], 2)
        self.assertIsNone(self.daemon.engine.find("192.0.2.9", 123))

    def test_foreignNonce(self) -> None:
        """
        A nonce given to another port, or a made-up one, is refused.
        """
        nonce = self.nonce(("198.51.100.7", 40001))
        for text in (f"# {nonce}\nserver 192.0.2.9", "# nonce=0123456789abcdef01234567\nserver 192.0.2.9"):
            self.assertEqual(self.errorCode(self.send(self.signed(text), REMOTE)), K.ERR_PERMISSION)
        self.assertEqual(self.daemon.counters["control.replayed"], 2)
        self.assertIsNone(self.daemon.engine.find("192.0.2.9", 123))

    def test_remoteNeedsNonce(self) -> None:
        """
        Without a nonce, a signed request from a remote address is refused
        (counted as control.nononce), and logged once for several.
        """
        from twisted.logger import formatEvent, globalLogPublisher

        events: list[dict[str, object]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        for sequence in range(3):
            self.assertEqual(
                self.errorCode(self.send(self.signed("server 192.0.2.9", sequence), REMOTE)),
                K.ERR_PERMISSION,
            )
        self.assertEqual(self.daemon.counters["control.nononce"], 3)
        self.assertIsNone(self.daemon.engine.find("192.0.2.9", 123))
        lines = [formatEvent(e) for e in events if "Refused a runtime" in formatEvent(e)]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("198.51.100.7", lines[0])

    def test_loopbackWithoutNonce(self) -> None:
        """
        From loopback a signed request without a nonce (NTPsec's ntpq) is
        executed; the same datagram within NONCE_TIMEOUT seconds is
        answered again, not executed again.
        """
        datagram = self.signed("server 192.0.2.9")
        first = self.send(datagram)
        self.assertEqual(self.text(first), "Config Succeeded")
        self.assertEqual(self.text(self.send(self.signed("unpeer 192.0.2.9", 8))),
                         "Config Succeeded")
        self.assertEqual(self.send(datagram), first)
        self.assertIsNone(self.daemon.engine.find("192.0.2.9", 123))
        self.assertEqual(self.daemon.counters["control.retransmitted"], 1)

    def test_unauthenticated(self) -> None:
        """
        With a nonce but without the controlkey's MAC (none, another
        trusted key): refused before the nonce is looked at.
        """
        text = f"# {self.nonce()}\nserver 192.0.2.9"
        unsigned = K.ControlMessage(K.OP_CONFIGURE, 3, data=text.encode()).encode()
        self.assertEqual(self.errorCode(self.send(unsigned, REMOTE)), K.ERR_PERMISSION)
        self.assertEqual(self.errorCode(self.send(self.signed(text, key=OTHER_KEY), REMOTE)),
                         K.ERR_PERMISSION)
        self.assertEqual(self.daemon.counters["control.unauthorized"], 2)
        self.assertEqual(self.text(self.send(self.signed(text), REMOTE)), "Config Succeeded")

    def test_boundedMemory(self) -> None:
        """
        Executed writes are forgotten once their nonce expired.
        """
        for i in range(5):
            self.send(self.signed(f"# {self.nonce()}\nserver 192.0.2.{20 + i}"), REMOTE)
        self.assertEqual(len(self.handler._writes), 5)
        advance(self.daemon, K.NONCE_TIMEOUT + 1)
        self.send(self.signed(f"# {self.nonce()}\nserver 192.0.2.30"), REMOTE)
        self.assertEqual(len(self.handler._writes), 1)


class EventTests(ServerTestCase):
    """
    The events of the status words follow the daemon.
    """

    def test_systemPeerEvents(self) -> None:
        """
        A new system peer is a sys_peer event for it and clock_sync for the
        system; a step is clock_step.
        """
        associd = self.byAddress("192.0.2.1")
        self.daemon._notify("systemPeerChanged", associd, "192.0.2.1")
        self.assertEqual(K.decodePeerStatus(self.associations()[associd]).lastEventName, "sys_peer")
        self.daemon._notify("clockStepped", 0.5)
        status = K.decodeSystemStatus(self.answer(K.OP_READSTAT).status)
        self.assertEqual(status.lastEvent, S.EVNT_CLOCKRESET)

    def test_reachability(self) -> None:
        """
        The engine's reach changes are the peer events C{reachable} and
        C{unreachable}, each counted once.
        """
        from ntpservice.core.engine import ReachChanged

        associd = self.byAddress("192.0.2.1")
        self.daemon._do([ReachChanged(associd, "192.0.2.1", True)])
        status = K.decodePeerStatus(self.associations()[associd])
        self.assertEqual(status.lastEventName, "reachable")
        self.daemon._do([ReachChanged(associd, "192.0.2.1", False)])
        again = K.decodePeerStatus(self.associations()[associd])
        self.assertEqual(again.lastEventName, "unreachable")
        self.assertEqual(again.eventCount, status.eventCount + 1)

    def test_kissEvents(self) -> None:
        """
        A RATE kiss is the peer event C{rate_exceeded} in ntpq's status
        word too, as in C{peerstats} (both read the daemon's one event
        bookkeeping; mode 6 used not to count kisses).
        """
        from ntpservice.core.association import ReceiveResult

        associd = self.byAddress("192.0.2.1")
        association = self.daemon.engine.associations.byID[associd]
        before = K.decodePeerStatus(self.associations()[associd])
        result = ReceiveResult(False, 0, kissCode="RATE")
        self.daemon._notify("peerPacket", association, None, result, None, None, None)
        after = K.decodePeerStatus(self.associations()[associd])
        self.assertEqual(after.lastEventName, "rate_exceeded")
        self.assertEqual(after.eventCount, before.eventCount + 1)

    def test_demobilizeForgets(self) -> None:
        """
        A demobilized association leaves the list.
        """
        associd = self.byAddress("192.0.2.1")
        self.daemon.demobilize(associd, "test")
        self.assertNotIn(associd, self.associations())
        self.assertNotIn(associd, self.handler.events.peers)


NTPQ_SYSSTATS = ("ss_uptime", "ss_numctlreq")
NTPQ_SYSSTATS2 = (
    "ss_reset", "ss_received", "ss_thisver", "ss_oldver", "ss_ver1", "ss_ver1client",
    "ss_ver1zero", "ss_ver1symm", "ss_badformat", "ss_badauth", "ss_declined",
    "ss_restricted", "ss_limited", "ss_kodsent", "ss_processed",
)
NTPQ_AUTHINFO = (
    "authreset", "authkeys", "authfreek", "authklookups", "authknotfound", "authencrypts",
    "authdigestencrypts", "authcmacencrypts", "authdecrypts", "authdigestdecrypts",
    "authdigestfails", "authcmacdecrypts", "authcmacfails", "authkuncached", "authkexpired",
)
NTPQ_IOSTATS = (
    "iostats_reset", "total_rbuf", "free_rbuf", "used_rbuf", "rbuf_lowater", "io_dropped",
    "io_ignored", "io_received", "io_sent", "io_sendfailed", "io_wakeups", "io_goodwakeups",
)
NTPQ_KERNINFO = (
    "koffset", "kfreq", "kmaxerr", "kesterr", "kstflags", "ktimeconst", "kprecis", "kfreqtol",
    "kppsfreq", "kppsstab", "kppsjitter", "kppscalibdur", "kppscalibs", "kppsjitexc",
    "kppsstbexc", "kppscaliberrs",
)
NTPQ_SYSINFO = (
    "peeradr", "peermode", "leap", "stratum", "precision", "rootdelay", "rootdisp", "rootdist",
    "refid", "reftime", "sys_jitter", "clk_jitter", "clk_wander", "authdelay",
)
"""The variables NTPsec's ntpq (1.2) asks for in sysstats, authinfo, iostats,
kerninfo and sysinfo (sysstats asks for the second list with and without _r)."""


class StatisticsTests(ServerTestCase):
    """
    The system variables of ntpq's sysstats, authinfo, iostats and
    kerninfo.
    """

    def test_everyNtpqVariable(self) -> None:
        """
        Each command's request, as ntpq sends it (all its names at once),
        is answered with every name; the counters and times are integers
        (ntpq shows a rate only for those, and ??? otherwise).
        """
        counts = NTPQ_SYSSTATS2 + tuple(name + "_r" for name in NTPQ_SYSSTATS2)
        for names in (NTPQ_SYSSTATS, counts, NTPQ_AUTHINFO, NTPQ_IOSTATS, NTPQ_KERNINFO,
                      NTPQ_SYSINFO):
            values = self.variables(0, ",".join(names))
            self.assertEqual(set(values), set(names))
            for name in names:
                if name.startswith(("ss_", "io", "auth")) and name not in ("authdelay",):
                    self.assertRegex(values[name], r"^\d+$", name)

    def test_sysstats(self) -> None:
        """
        The packet counters since the last reset (the hourly sysstats
        line) and, with _r, since the start, mapped as in the sysstats
        file; ss_reset is the time since that reset. Before any reset the
        interval is the daemon's uptime.
        """
        self.daemon.reactor.advance(700 - START_BURST)
        counters = self.daemon.counters
        before = self.variables(0, "ss_uptime,ss_reset,ss_reset_r")
        self.assertEqual(before, {"ss_uptime": "700", "ss_reset": "700", "ss_reset_r": "700"})
        for name, n in ((C.RECEIVED, 12), (C.VERSION_CURRENT, 9), (C.VERSION_OLD, 3),
                        (C.VERSION1, 2), (C.VERSION1_CLIENT, 1), (C.VERSION1_ZERO, 1),
                        (C.MALFORMED, 1), ("access.ratelimited", 2), ("access.kodsent", 1)):
            counters.count(name, n)
        counters.reset(NOW - 600 * 10**9)
        counters.count(C.RECEIVED, 4)
        counters.count(C.VERSION_CURRENT, 3)
        counters.count(C.VERSION1, 1)
        counters.count(C.VERSION1_SYMMETRIC, 1)
        counters.count(C.VERSION_OLD, 1)
        names = NTPQ_SYSSTATS2 + tuple(name + "_r" for name in NTPQ_SYSSTATS2)
        values = self.variables(0, ",".join(names))
        self.assertEqual(
            {name: values[name] for name in NTPQ_SYSSTATS2},
            {
                "ss_reset": "600", "ss_received": "4", "ss_thisver": "3", "ss_oldver": "1",
                "ss_ver1": "1", "ss_ver1client": "0", "ss_ver1zero": "0", "ss_ver1symm": "1",
                "ss_badformat": "0", "ss_badauth": "0", "ss_declined": "0",
                "ss_restricted": "0", "ss_limited": "0", "ss_kodsent": "0", "ss_processed": "4",
            },
        )
        self.assertEqual(
            {name: values[name + "_r"] for name in NTPQ_SYSSTATS2},
            {
                "ss_reset": "700", "ss_received": "16", "ss_thisver": "12", "ss_oldver": "4",
                "ss_ver1": "3", "ss_ver1client": "1", "ss_ver1zero": "1", "ss_ver1symm": "1",
                "ss_badformat": "1", "ss_badauth": "0", "ss_declined": "0",
                "ss_restricted": "0", "ss_limited": "2", "ss_kodsent": "1",
                "ss_processed": "13",
            },
        )

    def test_authinfo(self) -> None:
        """
        The keys, and what the process's MACs did: a request signed with a
        trusted key is one key lookup and one digest verified, its signed
        answer one digest computed; a bad digest is a failed verification.
        """
        def counts() -> dict[str, int]:
            values = self.variables(0, ",".join(NTPQ_AUTHINFO))
            return {name: int(values[name]) for name in NTPQ_AUTHINFO}

        before = counts()
        self.assertEqual(before["authkeys"], 2)
        # The test signs its requests: the same process-wide counters see it.
        self.answer(K.OP_READVAR, 0, b"stratum", key=KEY)
        request = K.ControlMessage(K.OP_READVAR, 99, data=b"stratum").encode()
        signed = signControl(request, KEY)
        self.send(signed[:-1] + bytes([signed[-1] ^ 1]))
        after = counts()
        delta = {name: after[name] - before[name] for name in NTPQ_AUTHINFO}
        self.assertEqual(
            {name: n for name, n in delta.items() if n},
            {
                "authklookups": 2,
                "authdecrypts": 2,
                "authdigestdecrypts": 2,
                "authdigestfails": 1,
                # Two requests signed here, one answer signed by the server.
                "authencrypts": 3,
                "authdigestencrypts": 3,
            },
        )
        self.assertEqual(after["authklookups"], MAC_STATISTICS.lookups)

    def test_iostats(self) -> None:
        """
        Datagrams received, sent, not sent and dropped by interface rules
        (ignored); no receive buffers, nothing dropped for want of one.
        """
        counters = self.daemon.counters
        # The servers' requests of the start burst found no socket.
        failed = int(self.variables(0, "io_sendfailed")["io_sendfailed"])
        for name, n in ((C.RECEIVED, 10), (C.SENT, 7), (C.INTERFACE_DROP, 2),
                        ("send.nosocket", 1)):
            counters.count(name, n)
        values = self.variables(0, ",".join(NTPQ_IOSTATS))
        self.assertEqual(
            values,
            {
                "iostats_reset": str(int(START_BURST)), "total_rbuf": "0", "free_rbuf": "0",
                "used_rbuf": "0", "rbuf_lowater": "0", "io_dropped": "0", "io_ignored": "2",
                "io_received": "10", "io_sent": "7", "io_sendfailed": str(failed + 1),
                "io_wakeups": "10", "io_goodwakeups": "10",
            },
        )

    def test_kerninfo(self) -> None:
        """
        The kernel variables come from the daemon's clock driver through
        L{mode6variables.readKernelState}, which is only called when one of them is
        asked for.
        """
        clocks: list[Any] = []

        def read(clock: Any) -> KernelState:
            clocks.append(clock)
            return KernelState(freq=65536 * 3, status=0x2001, constant=4)

        self.patch(mode6variables, "readKernelState", read)
        self.variables()
        self.variables(0, "stratum,ss_uptime")
        self.assertEqual(clocks, [])
        values = self.variables(0, ",".join(NTPQ_KERNINFO))
        self.assertEqual(clocks, [self.daemon.clock])
        self.assertEqual(
            (values["kfreq"], values["kstflags"], values["ktimeconst"], values["kppsfreq"]),
            ("3.000000", "pll nano", "4", "0"),
        )

    def test_kerninfoWithoutKernel(self) -> None:
        """
        A clock driver that reports no state (the tests' fake) shows zeros.
        """
        values = self.variables(0, "koffset,kfreq,kstflags")
        self.assertEqual(values, {"koffset": "0.000000", "kfreq": "0.000000", "kstflags": ""})
