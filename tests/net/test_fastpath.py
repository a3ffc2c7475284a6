# -*- test-case-name: tests.net.test_fastpath -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.net.fastpath} and the C extension behind it: the
compiled path decides and answers exactly as the Python path does (bytes,
decisions, counters, MRU list), and everything else goes to Python.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import tempfile
from typing import Any

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from ntpservice.core import counters as C
from ntpservice.core.mru import MRUList, MRUSettings
from ntpservice.core.restrict import RestrictRule, RestrictTable
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.modes.server import SERVED_MODES, ServerMode
from ntpservice.net import fastpath
from ntpservice.net.multiplexer import ModeTable, NTPDatagramProtocol
from ntpservice.net.udp import ReceivedDatagram
from tests.helpers import FakeClock

T0 = 1_790_000_000 * 10**9
TX_DELAY = 37_000
LOCAL4 = "203.0.113.1"
LOCAL6 = "2001:db8:ff::1"

RULES = [
    RestrictRule("restrict", "default", flags=frozenset({"limited", "kod"})),
    RestrictRule("restrict", "192.0.2.0", mask="255.255.255.0", flags=frozenset({"ignore"})),
    RestrictRule("restrict", "198.51.100.64", prefixLength=26, flags=frozenset({"noserve"})),
    RestrictRule("restrict", "198.18.0.0", prefixLength=16, flags=frozenset({"version"})),
    RestrictRule("restrict", "2001:db8:1::", prefixLength=48, flags=frozenset({"notrust"})),
    RestrictRule(
        "restrict", "2001:db8:2::", prefixLength=48,
        flags=frozenset({"serverresponse fuzz", "nomodify"}),
    ),
    RestrictRule("restrict", "198.51.100.200", flags=frozenset({"ignore", "ntpport"})),
    RestrictRule("restrict", "198.51.100.10", flags=frozenset({"limited"})),
    RestrictRule("restrict", "198.51.100.11", flags=frozenset()),
    RestrictRule("restrict", "198.51.100.12", flags=frozenset({"flake"})),
]


def _module() -> Any:
    module, why = fastpath.loadExtension()
    if module is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            raise AssertionError(f"the fast path must be built in CI: {why}")
        raise SkipTest(f"the fast path is not built here: {why}")
    return module


class _Transport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendFrom(self, data: Any, addr: Any, local: Any = None, ifindex: int = 0) -> None:
        self.sent.append(data() if callable(data) else data)


def request(
    version: int = 4,
    mode: int = 3,
    poll: int = 6,
    precision: int = -20,
    xmt: bytes | None = None,
    length: int = 48,
    rng: random.Random | None = None,
) -> bytes:
    rng = rng or random.Random(1)
    body = struct.pack(
        "!BBbbII4sQQQ",
        (0 << 6) | (version << 3) | mode,
        rng.randrange(0, 17),
        poll,
        precision,
        rng.getrandbits(32),
        rng.getrandbits(32),
        rng.randbytes(4),
        rng.getrandbits(64),
        rng.getrandbits(64),
        rng.getrandbits(64),
    )
    body += xmt if xmt is not None else rng.randbytes(8)
    return (body + rng.randbytes(max(0, length - 48)))[:length]


LEAK_SEED = 0x5EED_1EA4_2026_1207
"""The seed of the C{discard leak} draws, the same for both paths."""


class _Discard:
    """C{discard} settings: ntpd's defaults and a C{leak}."""

    average = 3
    minimum = 2
    monitor = 3000

    def __init__(self, leak: int = 2) -> None:
        self.leak = leak


class Paths:
    """
    The same server twice: the Python path (the multiplexer and the server
    mode with a pure MRU list) and the C path (the extension's C{handle},
    with its own MRU list), fed the same requests.
    """

    def __init__(
        self,
        system: SystemVariables,
        rules: list[RestrictRule] = RULES,
        leak: int = 2,
    ) -> None:
        module = _module()
        self.sysvars = system
        self.counters = C.PacketCounters()
        self.table = RestrictTable.fromRules(rules)
        self.table.addInterface(LOCAL4)
        settings = MRUSettings(maxdepth=50, mindepth=20, maxage=64)
        self.mru = MRUList(settings, _Discard(leak=leak), leakSeed=LEAK_SEED)
        self.clock = FakeClock(T0)
        self.clock.kernelTimescale = True  # type: ignore[misc]
        modes = ModeTable()
        server = ServerMode(self.system, self.counters, self.table, self.mru, 3)
        for mode in SERVED_MODES:
            modes.register(mode, server)
        self.protocol = NTPDatagramProtocol(modes, self.counters, self.clock)
        self.transport = _Transport()
        self.protocol.makeConnection(self.transport)  # type: ignore[arg-type]
        self.fp = module.FastPath(
            threads=1, mindepth=20, maxdepth=50, maxage=64, minage=-1, random=False,
            leak=leak, leakSeed=LEAK_SEED,
        )
        self.restrictions = self.table
        glue = fastpath.FastPath(module)
        glue.fp = self.fp
        glue._daemon = self
        glue.pushRestrict()
        glue.pushSystem()
        self.glue = glue

    def system(self) -> SystemVariables:
        """What the daemon's C{system()} gives: the current variables."""
        return self.sysvars

    def python(self, data: bytes, source: tuple[str, int], destination: str,
               local: str | None, rxNs: int) -> tuple[str, bytes | None, dict[str, int]]:
        before = self.counters.snapshot()
        self.clock.time = rxNs + TX_DELAY
        sent = len(self.transport.sent)
        self.protocol.datagramReceivedWithInfo(
            ReceivedDatagram(data, source, destination, local, 3, rxNs)
        )
        after = self.counters.snapshot()
        delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        if len(self.transport.sent) > sent:
            return "sent", self.transport.sent[-1], delta
        return "drop", None, delta

    def compiled(self, data: bytes, source: tuple[str, int], destination: str,
                 local: str | None, rxNs: int) -> tuple[str, bytes | None, dict[str, int]]:
        outcome, reply = self.fp.handle(
            data, source[0], source[1], destination, local, 3, rxNs, rxNs + TX_DELAY
        )
        delta = {
            k: v for k, v in self.fp.takeCounters().items() if not k.startswith("fastpath.")
        }
        if outcome in ("reply", "kod"):
            return "sent", reply, delta
        return outcome, None, delta


def _paths(system: SystemVariables) -> Paths:
    return Paths(system)


SYSTEM = SystemVariables(
    leap=0,
    stratum=2,
    precision=-23,
    rootDelay=0.0123,
    rootDispersion=0.0456,
    refid=b"\xc0\x00\x02\x01",
    reftime=NTPTimestamp.fromUnixNanoseconds(T0 - 3 * 10**9),
    lastUpdateNs=T0 - 17 * 10**9 - 123,
)


class ByteIdenticalTests(SynchronousTestCase):
    """
    On a corpus of requests, the compiled path sends the same bytes, makes
    the same decisions, counts the same counters and leaves the same MRU
    list as the Python path; what it does not handle it leaves to Python.
    """

    def corpus(self) -> list[tuple[bytes, tuple[str, int], str, str | None, int]]:
        rng = random.Random(20261206)
        items = []
        t = T0
        sources = [
            ("198.51.100.7", 40000), ("198.51.100.8", 123), ("192.0.2.9", 5000),
            ("198.51.100.70", 1234), ("198.18.3.4", 999), ("2001:db8:1::5", 4444),
            ("2001:db8:2::6", 5555), ("2001:db8:3::7", 6666), ("198.51.100.200", 123),
            ("198.51.100.200", 124), ("198.51.100.10", 7000), ("198.51.100.11", 7001),
            ("::ffff:198.51.100.9", 4321), ("224.0.1.1", 123), ("203.0.113.1", 123),
        ]
        for i in range(600):
            source = sources[rng.randrange(len(sources))]
            local = LOCAL6 if ":" in source[0] else LOCAL4
            version = rng.choice([1, 2, 3, 4, 4, 4])
            poll = rng.choice([-7, 0, 2, 3, 4, 6, 10, 17, 127])
            data = request(version=version, poll=poll, precision=rng.randrange(-30, 0), rng=rng)
            t += rng.choice([1, 1000, 400_000_000, 1_600_000_000, 3 * 10**9, 9 * 10**9])
            items.append((data, source, local, local, t))
        return items

    def test_corpus(self) -> None:
        """
        Every request of the corpus gets the same answer (the same bytes,
        or the same drop) and the same counters from both paths; kisses
        and rate limiting included, the C{discard leak} draws too (one
        seed for both; a leaked request is answered with time and counted
        as C{ratelimit.leaked}). The MRU lists end up the same.
        """
        paths = _paths(SYSTEM)
        handled = sent = leaked = 0
        for data, source, destination, local, rxNs in self.corpus():
            compiled = paths.compiled(data, source, destination, local, rxNs)
            python = paths.python(data, source, destination, local, rxNs)
            if compiled[0] == "punt":
                self.assertEqual(source, ("198.51.100.12", 7002))  # never here
            self.assertEqual(compiled, python, (source, data.hex()))
            handled += 1
            sent += compiled[0] == "sent"
            entry = paths.mru.get(source[0])
            if (entry is not None and entry.overLimit and entry.leaked
                    and "limited" in entry.flags and compiled[0] != "punt"):
                self.assertEqual(compiled[0], "sent")
                assert compiled[1] is not None
                self.assertNotEqual(compiled[1][12:16], b"RATE")
                self.assertEqual(compiled[2].get("ratelimit.leaked"), 1)
                leaked += 1
        self.assertGreater(leaked, 5)
        self.assertGreater(sent, 50)
        self.assertLess(sent, handled)
        mine = [(e.address, e.port, e.count, e.leak, e.dropped, e.lastKiss, e.flags)
                for e in paths.mru]
        shared = fastpath.SharedMRUList(paths.glue, paths.mru.settings, None)
        theirs = [(e.address, e.port, e.count, e.leak, e.dropped, e.lastKiss, e.flags)
                  for e in shared]
        self.assertEqual(mine, theirs)

    def test_kissAndDrop(self) -> None:
        """
        With C{discard leak 0} (ntpd's rule), a burst from one address gets
        one reply, one RATE kiss (leap 3, stratum 0, the request's
        timestamps) and then nothing, from both paths.
        """
        paths = Paths(SYSTEM, leak=0)
        outcomes = []
        for i in range(4):
            data = request(poll=1, rng=random.Random(i))
            compiled = paths.compiled(data, ("198.51.100.7", 40000 + i), LOCAL4, LOCAL4, T0 + i)
            python = paths.python(data, ("198.51.100.7", 40000 + i), LOCAL4, LOCAL4, T0 + i)
            self.assertEqual(compiled, python)
            outcomes.append(compiled)
        self.assertEqual([o[0] for o in outcomes], ["sent", "sent", "drop", "drop"])
        kiss = outcomes[1][1]
        assert kiss is not None
        self.assertEqual(kiss[0] >> 6, 3)
        self.assertEqual(kiss[1], 0)
        self.assertEqual(kiss[2], 3)  # the poll raised to discard average
        self.assertEqual(kiss[12:16], b"RATE")

    def test_leak(self) -> None:
        """
        With C{discard leak 2}, of 200 back-to-back requests from one
        address (a spoofed flood), the first is answered, and of the 199
        over the limit about one in four (between 30 and 70) is answered
        with time rather than dropped, the same ones in both paths; no
        RATE kiss is sent (they break only the guard time).
        """
        paths = _paths(SYSTEM)
        outcomes = []
        for i in range(200):
            data = request(poll=6, rng=random.Random(i))
            rxNs = T0 + i * 10_000_000
            compiled = paths.compiled(data, ("198.51.100.7", 123), LOCAL4, LOCAL4, rxNs)
            python = paths.python(data, ("198.51.100.7", 123), LOCAL4, LOCAL4, rxNs)
            self.assertEqual(compiled, python)
            outcomes.append(compiled)
        self.assertEqual(outcomes[0][0], "sent")
        kisses = [i for i, (what, reply, _) in enumerate(outcomes)
                  if reply is not None and reply[12:16] == b"RATE"]
        self.assertEqual(kisses, [])
        times = [i for i, (what, reply, _) in enumerate(outcomes[1:], 1)
                 if reply is not None and reply[12:16] != b"RATE"]
        self.assertGreaterEqual(len(times), 30, times)
        self.assertLessEqual(len(times), 70, times)
        entry = paths.mru.get("198.51.100.7")
        assert entry is not None
        self.assertEqual(entry.dropped, 199 - len(times))

    def test_fuzzedReference(self) -> None:
        """
        C{serverresponse fuzz} rounds the reference time down to 64 s in
        both paths.
        """
        paths = _paths(SYSTEM)
        data = request()
        compiled = paths.compiled(data, ("2001:db8:2::9", 1), LOCAL6, LOCAL6, T0)
        python = paths.python(data, ("2001:db8:2::9", 1), LOCAL6, LOCAL6, T0)
        self.assertEqual(compiled, python)
        assert compiled[1] is not None
        self.assertEqual(struct.unpack("!Q", compiled[1][16:24])[0] & ((64 << 32) - 1), 0)

    def test_unsynchronized(self) -> None:
        """
        An unsynchronized server (leap 3, stratum 16 sent as 0, refid INIT,
        no last update) answers the same from both paths.
        """
        paths = _paths(SystemVariables(precision=-20))
        data = request()
        self.assertEqual(
            paths.compiled(data, ("198.51.100.7", 1), LOCAL4, LOCAL4, T0),
            paths.python(data, ("198.51.100.7", 1), LOCAL4, LOCAL4, T0),
        )

    def test_systemPushed(self) -> None:
        """
        After the system variables change and are pushed, the compiled
        path answers with the new ones.
        """
        paths = _paths(SYSTEM)
        paths.sysvars = SystemVariables(leap=1, stratum=3, refid=b"abcd", precision=-18)
        paths.glue.pushSystem()
        data = request()
        compiled = paths.compiled(data, ("198.51.100.7", 1), LOCAL4, LOCAL4, T0)
        self.assertEqual(compiled, paths.python(data, ("198.51.100.7", 1), LOCAL4, LOCAL4, T0))
        assert compiled[1] is not None
        self.assertEqual(compiled[1][1], 3)

    def test_punted(self) -> None:
        """
        Everything but the common request goes to the Python path,
        untouched (nothing counted, nothing recorded): other lengths (MACs,
        extension fields), other modes and versions, broadcast and
        multicast destinations, source port 0, C{flake}, and the address
        and port of an association.
        """
        paths = _paths(SYSTEM)
        cases = [
            (request(length=68), ("198.51.100.7", 1), LOCAL4, LOCAL4),
            (request(length=47), ("198.51.100.7", 1), LOCAL4, LOCAL4),
            (request(mode=4), ("198.51.100.7", 1), LOCAL4, LOCAL4),
            (request(mode=1), ("198.51.100.7", 1), LOCAL4, LOCAL4),
            (request(version=1, mode=0), ("198.51.100.7", 1), LOCAL4, LOCAL4),
            (request(version=5), ("198.51.100.7", 1), LOCAL4, LOCAL4),
            (request(version=0), ("198.51.100.7", 1), LOCAL4, LOCAL4),
            (request(), ("198.51.100.7", 1), "203.0.113.255", LOCAL4),
            (request(), ("198.51.100.7", 1), "255.255.255.255", LOCAL4),
            (request(), ("198.51.100.7", 1), "224.0.1.1", LOCAL4),
            (request(), ("2001:db8:3::7", 1), "ff05::101", "ff05::101"),
            (request(), ("198.51.100.7", 0), LOCAL4, LOCAL4),
            (request(), ("198.51.100.12", 7002), LOCAL4, LOCAL4),
            (request(), ("198.51.100.30", 123), LOCAL4, LOCAL4),
        ]
        paths.fp.setAssociations([("198.51.100.30", 123)])
        for data, source, destination, local in cases:
            self.assertEqual(
                paths.compiled(data, source, destination, local, T0),
                ("punt", None, {}),
                (data[:1].hex(), len(data), source, destination),
            )
        self.assertEqual(list(paths.fp.mruEntries()), [[]])
        # Another port of the association's address is a client.
        self.assertEqual(
            paths.compiled(request(), ("198.51.100.30", 124), LOCAL4, LOCAL4, T0)[0], "sent"
        )


class SharedMRUListTests(SynchronousTestCase):
    """
    L{fastpath.SharedMRUList} behaves as L{MRUList}: the same entries, in
    the same order, with the same rate limiter, recycling and statistics.
    """

    def test_sameAsPure(self) -> None:
        """
        A random sequence of observations from 40 addresses into a list of
        at most 25 gives the same verdicts (the C{discard leak} draws
        included, one seed for both), entries and statistics in both.
        """
        module = _module()
        settings = MRUSettings(maxdepth=25, mindepth=10, maxage=30)
        pure = MRUList(settings, leakSeed=LEAK_SEED)
        glue = fastpath.FastPath(module)
        glue.fp = module.FastPath(
            threads=1, mindepth=10, maxdepth=25, maxage=30, minage=-1, random=False,
            leakSeed=LEAK_SEED,
        )
        shared = fastpath.SharedMRUList(glue, settings, None)
        rng = random.Random(7)
        now = 1000.0
        addresses = [f"10.0.{i // 10}.{i}" for i in range(30)] + [
            f"2001:db8::{i:x}" for i in range(10)
        ]
        flags = frozenset({"limited", "kod"})
        for _ in range(3000):
            now += rng.choice([0.0, 0.3, 0.6, 1.4, 2.5, 8.0, 40.0])
            address = rng.choice(addresses)
            port = rng.randrange(1, 65536)
            a = pure.observe(address, port, 3, 4, now, flags)
            b = shared.observe(address, port, 3, 4, now, flags)
            if a is None:
                self.assertIsNone(b)
                continue
            assert b is not None
            self.assertEqual(
                (a.overLimit, a.kissAllowed, a.leaked, a.leak, a.count),
                (b.overLimit, b.kissAllowed, b.leaked, b.leak, b.count),
            )
            if a.overLimit:
                a.dropped += 1
                b.dropped += 1
                a.lastKiss = now
                b.lastKiss = now
        fields = lambda e: (e.address, e.port, e.first, e.last, e.count, e.leak,  # noqa: E731
                            e.dropped, e.lastKiss, e.flags)
        self.assertEqual([fields(e) for e in pure], [fields(e) for e in shared])
        self.assertEqual(len(pure), len(shared))
        for name in ("peakEntries", "newEntries", "recycledOld", "recycledFull",
                     "notRecorded", "existing"):
            self.assertEqual(getattr(pure, name), getattr(shared, name), name)
        oldest = pure.oldest()
        assert oldest is not None
        self.assertEqual(fields(oldest), fields(shared.oldest()))
        self.assertEqual(fields(pure.get(addresses[3]) or oldest),
                         fields(shared.get(addresses[3]) or oldest))
        shared.remove(oldest.address)
        self.assertNotIn(oldest.address, shared)
        shared.clear()
        self.assertEqual(len(shared), 0)

    def test_shardsFollowTheSteering(self) -> None:
        """
        With two threads, an IPv4 address lives in shard C{address mod 2},
        an IPv6 address in shard C{last 32 bits mod 2}: the function of
        the BPF program that steers datagrams to threads.
        """
        module = _module()
        fp = module.FastPath(threads=2)
        self.assertEqual(fp.shardOf("127.0.0.2"), 0)
        self.assertEqual(fp.shardOf("127.0.0.3"), 1)
        self.assertEqual(fp.shardOf("2001:db8::5"), 1)
        self.assertEqual(fp.shardOf("2001:db8::1:4"), 0)

    def test_program(self) -> None:
        """
        The steering program loads the source address (or its last 32
        bits) from the network header, takes it modulo the number of
        threads and returns it.
        """
        program = fastpath.reuseportProgram(3, 2)
        self.assertEqual(len(program), 24)
        code, _jt, _jf, k = struct.unpack("HBBI", program[:8])
        self.assertEqual((code, k), (0x20, (-0x100000 + 12) & 0xFFFFFFFF))
        self.assertEqual(struct.unpack("HBBI", program[8:16]), (0x94, 0, 0, 3))


class SwitchTests(SynchronousTestCase):
    """
    The switch that forces every packet down the Python path, and the
    fallback when the extension is missing.
    """

    def test_forcedOff(self) -> None:
        """
        C{NTPSERVICE_FASTPATH=off} (or C{0}, C{no}) forces the Python path;
        unset or C{on} does not.
        """
        for value in ("off", "0", "no", "OFF"):
            self.assertTrue(fastpath.forcedOff({fastpath.ENVIRONMENT: value}))
        for env in ({}, {fastpath.ENVIRONMENT: "on"}):
            self.assertFalse(fastpath.forcedOff(env))

    def test_createOff(self) -> None:
        """
        C{FastPath.create(mode="off")} gives no fast path.
        """
        self.assertIsNone(fastpath.FastPath.create(mode="off"))

    def test_missingExtension(self) -> None:
        """
        Without the extension, C{create} gives no fast path and says once,
        as a warning, that every request is answered in Python.
        """
        from twisted.logger import globalLogPublisher

        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        saved = sys.modules.get("_ntpservice_fastpath")
        sys.modules["_ntpservice_fastpath"] = None  # type: ignore[assignment]
        try:
            self.assertIsNone(fastpath.FastPath.create(mode="on"))
        finally:
            globalLogPublisher.removeObserver(events.append)
            if saved is not None:
                sys.modules["_ntpservice_fastpath"] = saved
            else:
                del sys.modules["_ntpservice_fastpath"]
        mine = [e for e in events if e.get("log_namespace") == "ntpservice.net.fastpath"]
        self.assertEqual(len(mine), 1)
        self.assertIn("every request is", mine[0]["log_format"])

    def test_buildWithoutCompiler(self) -> None:
        """
        Building with no working compiler succeeds without the extension
        and says why on standard error (C{pip install} goes on; the daemon
        then serves in Python).
        """
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, CC="/bin/false", LDSHARED="/bin/false")
            result = subprocess.run(
                [sys.executable, "setup.py", "-q", "build_ext",
                 "--build-lib", os.path.join(tmp, "lib"),
                 "--build-temp", os.path.join(tmp, "temp")],
                cwd=root, env=env, capture_output=True, text=True, timeout=300,
            )
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("could not be built", result.stderr)
            built = []
            for _dir, _subdirs, files in os.walk(tmp):
                built.extend(f for f in files if f.endswith(".so"))
            self.assertEqual(built, [])


class OneHomeTests(SynchronousTestCase):
    """
    The daemon's MRU list is the fast path's: what the compiled path
    records, the Python path and mode 6 see, and the reverse.
    """

    def test_shared(self) -> None:
        """
        A daemon built with the fast path has a L{fastpath.SharedMRUList};
        a request answered by the compiled path and one observed by the
        Python path land in the same list, which the mode 6 variables
        lists.
        """
        module = _module()
        from tests.control.test_mode6 import BASE

        glue = fastpath.FastPath(module)
        configuration = BASE + "restrict default limited kod\n"
        from ntpservice.config import parseString
        from ntpservice.daemon import NTPDaemon
        from ntpservice.plugins import enabledPlugins, loadModePlugins
        from twisted.internet.testing import MemoryReactorClock

        parsed = parseString(configuration)
        daemon = NTPDaemon(
            parsed, FakeClock(T0), MemoryReactorClock(), C.PacketCounters(), ModeTable(),
            enabledPlugins(loadModePlugins(), parsed), fastPath=glue,
        )
        self.assertIsInstance(daemon.mru, fastpath.SharedMRUList)
        glue._daemon = daemon
        glue.pushRestrict()
        glue.pushSystem()
        outcome, _ = glue.fp.handle(request(), "198.51.100.7", 4000, None, None, 0, T0, T0)
        self.assertEqual(outcome, "reply")
        daemon.mru.observe("198.51.100.8", 123, 3, 4, T0 / 1e9 + 1)
        self.assertEqual([e.address for e in daemon.mru], ["198.51.100.8", "198.51.100.7"])
        entry = daemon.mru.get("198.51.100.7")
        assert entry is not None
        self.assertEqual((entry.port, entry.count, entry.flags),
                         (4000, 1, frozenset({"limited", "kod"})))
        self.assertEqual(len(daemon.mru), 2)
