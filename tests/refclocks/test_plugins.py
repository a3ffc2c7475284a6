# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.refclocks}: finding and checking reference clock
plugins, and a third-party driver's samples reaching selection through the
engine's entry point.
"""

from __future__ import annotations

import random
from typing import Any

from zope.interface.verify import verifyObject

from twisted.trial.unittest import SynchronousTestCase

import tests.toyrefclocks
from ntpservice.core.association import AssociationSettings, RefClockSource
from ntpservice.core.discipline import Discipline, DisciplineSettings
from ntpservice.core.engine import Engine, PollRefClock
from ntpservice.interfaces import IRefClock, IRefClockFactory
from ntpservice.refclocks import (
    RefClockConfigError,
    RefClockOptions,
    RefClockPluginError,
    byDriverType,
    checkRefClockPlugins,
    loadRefClockPlugins,
)
from ntpservice.refclocks.local import (
    DISPERSION,
    LocalClockFactory,
    LocalRefClock,
)
from tests.toyrefclocks.toy import TOY_OFFSET, ToyClockFactory

T0 = 1_790_000_000.0


class BuiltinPluginTests(SynchronousTestCase):
    """
    The built-in drivers.
    """

    def test_local(self) -> None:
        """
        LOCAL is found in L{ntpservice.refclocks}, provides
        L{IRefClockFactory} and says what ntpd's driver 1 is: name
        C{local}, refid LOCL, stratum 5, a last-resort driver.
        """
        plugins = byDriverType(loadRefClockPlugins())
        local = plugins[1]
        self.assertTrue(verifyObject(IRefClockFactory, local))
        self.assertEqual(
            (local.name, local.refid, local.stratum, local.lastResort),
            ("local", b"LOCL", 5, True),
        )

    def test_localSamples(self) -> None:
        """
        A LOCAL clock delivers a sample at start and at each poll: offset
        0, dispersion 10 ms, no leap, at the sink's time; none once stopped.
        """
        sink = RecordingSink()
        clock = LocalClockFactory().build(RefClockOptions(unit=0), sink, None)
        self.assertTrue(verifyObject(IRefClock, clock))
        self.assertIsInstance(clock, LocalRefClock)
        clock.start()
        clock.poll()
        clock.stop()
        clock.poll()
        self.assertEqual(sink.samples, [(0.0, DISPERSION, 0, T0)] * 2)


class RecordingSink:
    """An L{IRefClockSink} that keeps what it is given."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, int, float]] = []

    def now(self) -> float:
        return T0

    def sample(self, offset: float, dispersion: float, leap: int, time: float) -> None:
        self.samples.append((offset, dispersion, leap, time))


class CheckTests(SynchronousTestCase):
    """
    L{checkRefClockPlugins} refuses what cannot be loaded together.
    """

    def test_notAPlugin(self) -> None:
        """
        An object that does not provide L{IRefClockFactory} is refused.
        """
        with self.assertRaises(RefClockPluginError) as raised:
            checkRefClockPlugins([object()])
        self.assertIn("not a valid reference clock plugin", str(raised.exception))

    def test_duplicateName(self) -> None:
        """
        Two drivers with one name are refused, naming it.
        """
        other = ToyClockFactory()
        other.driverType = 98
        with self.assertRaises(RefClockPluginError) as raised:
            checkRefClockPlugins([ToyClockFactory(), other])
        self.assertIn("'toy'", str(raised.exception))

    def test_duplicateType(self) -> None:
        """
        Two drivers with one driver type are refused, naming both.
        """
        other = ToyClockFactory()
        other.name = "other"
        other.driverType = 1
        with self.assertRaises(RefClockPluginError) as raised:
            checkRefClockPlugins([LocalClockFactory(), other])
        self.assertEqual(
            str(raised.exception),
            "driver type 1 is claimed by both the 'local' and the 'other' "
            "reference clock plugins",
        )

    def test_badDefaults(self) -> None:
        """
        A driver type outside 1-255, a refid longer than 4 bytes, a
        stratum above 15: refused.
        """
        for attribute, value in (("driverType", 0), ("refid", b"TOOLONG"), ("stratum", 16)):
            plugin = ToyClockFactory()
            setattr(plugin, attribute, value)
            self.assertRaises(RefClockPluginError, checkRefClockPlugins, [plugin])


class SinkToEngine:
    """The sink a daemon gives a clock: bound to its association."""

    def __init__(self, engine: Engine, associd: int) -> None:
        self.engine, self.associd, self.time = engine, associd, T0

    def now(self) -> float:
        return self.time

    def sample(self, offset: float, dispersion: float, leap: int, time: float) -> None:
        self.engine.refclockSample(self.associd, offset, dispersion, leap, time, self.time)


class ThirdPartyTests(SynchronousTestCase):
    """
    A driver from a package outside L{ntpservice}.
    """

    def test_foundAndVerified(self) -> None:
        """
        The toy driver is found with C{getPlugins} in the tests' own
        package and verified.
        """
        [toy] = loadRefClockPlugins(tests.toyrefclocks)
        self.assertEqual((toy.name, toy.driverType), ("toy", 99))

    def test_samplesSelected(self) -> None:
        """
        Built from its plugin, the toy clock's samples go through the
        engine's entry point: at each poll the engine asks the driver
        (L{PollRefClock}), the driver delivers, and once its filter is
        full enough the toy clock is the system peer, at stratum 1 with
        its refid, its offset measured.
        """
        [factory] = loadRefClockPlugins(tests.toyrefclocks)
        engine = Engine(
            precisionLog2=-20,
            discipline=Discipline(DisciplineSettings()),
            rng=random.Random(3),
        )
        source = RefClockSource(
            factory.driverType, 0, factory.stratum, factory.refid,
            factory.precision, factory.lastResort,
        )
        association = engine.mobilize(
            AssociationSettings(source.address, minPollLog2=4, maxPollLog2=4,
                                refclock=source),
            T0,
        )
        sink = SinkToEngine(engine, association.associd)
        clock: Any = factory.build(RefClockOptions(unit=0), sink, None)
        clock.start()
        for _ in range(10):
            deadline = engine.nextDeadline()
            assert deadline is not None
            sink.time = deadline
            for action in engine.poll(deadline):
                if isinstance(action, PollRefClock):
                    clock.poll()
        self.assertEqual(clock.polls, 10)
        self.assertEqual(engine.systemPeer, association.associd)
        self.assertEqual((engine.system.stratum, engine.system.refid), (1, b"TOY\0"))
        self.assertAlmostEqual(association.offset, TOY_OFFSET)


class DaemonTests(SynchronousTestCase):
    """
    The daemon runs the reference clock of a C{server 127.127.t.u} line
    with its plugin.
    """

    def makeDaemon(self, text: str) -> Any:
        from twisted.internet.testing import MemoryReactorClock

        from ntpservice.config import parseString
        from ntpservice.core.counters import PacketCounters
        from ntpservice.daemon import NTPDaemon
        from ntpservice.net.multiplexer import ModeTable
        from ntpservice.plugins import enabledPlugins, loadModePlugins
        from tests.helpers import FakeClock

        configuration = parseString(text)
        self.reactor = MemoryReactorClock()
        self.clock = FakeClock(int(T0 * 1e9))
        daemon = NTPDaemon(
            configuration,
            self.clock,
            self.reactor,
            PacketCounters(),
            ModeTable(),
            enabledPlugins(loadModePlugins(), configuration),
            refclocks=loadRefClockPlugins(tests.toyrefclocks),
            clockAdjust=False,
        )
        daemon.start()
        self.addCleanup(daemon.stop)
        return daemon

    def advance(self, seconds: float) -> None:
        for _ in range(int(seconds)):
            self.clock.time += 10**9
            self.reactor.advance(1)

    def test_toyClockSelected(self) -> None:
        """
        C{server 127.127.99.0 minpoll 4}: the toy driver's association
        (127.127.99.0, named TOY(0)) is polled every 16 s, its samples
        reach the engine, and it becomes the system peer at stratum 1;
        stopping the daemon stops the clock.
        """
        daemon = self.makeDaemon("server 127.127.99.0 minpoll 4 maxpoll 4\n")
        [association] = list(daemon.engine.associations)
        self.assertEqual(
            (association.address, association.settings.name), ("127.127.99.0", "TOY(0)")
        )
        [clock] = [running.clock for running in daemon.refclocks.values()]
        self.assertTrue(clock.started)
        self.advance(16 * 8 + 2)
        self.assertGreaterEqual(clock.polls, 8)
        self.assertEqual(daemon.engine.systemPeer, association.associd)
        self.assertEqual((daemon.engine.system.stratum, daemon.engine.system.refid),
                         (1, b"TOY\0"))
        daemon.stop()
        self.assertTrue(clock.stopped)

    def test_clockSampleObserved(self) -> None:
        """
        Each sample a driver delivers is told to the daemon's observers
        (C{clockSample}: what C{clockstats} writes) with the clock's
        address and its timecode.
        """
        daemon = self.makeDaemon("server 127.127.99.0 minpoll 4 maxpoll 4\n")

        from zope.interface import implementer

        from ntpservice.interfaces import IDaemonObserver

        @implementer(IDaemonObserver)
        class Recorder:
            def __init__(self) -> None:
                self.samples: list[tuple[int, str, str]] = []

            def clockSample(self, associd: int, address: str, timecode: str) -> None:
                self.samples.append((associd, address, timecode))

        recorder = Recorder()
        daemon.addObserver(recorder)
        [running] = daemon.refclocks.values()
        running.clock.timecode = "TOY 42"
        self.advance(40)
        [association] = list(daemon.engine.associations)
        self.assertTrue(recorder.samples)
        self.assertEqual(set(recorder.samples), {(association.associd, "127.127.99.0", "TOY 42")})

    def test_unknownDriver(self) -> None:
        """
        A driver type no plugin provides is refused when the daemon is
        built, with the line and the drivers that are installed.
        """
        e = self.assertRaises(RefClockConfigError, self.makeDaemon, "server 127.127.77.0\n")
        self.assertIn(":1: server 127.127.77.0: no reference clock driver of type 77", str(e))
        self.assertIn("99 toy", str(e))
