# -*- test-case-name: tests.test_logging -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.logging} and the class filter of
L{ntpservice._log}: C{logconfig}, C{logfile}, and the lines logged for
significant events.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, LogPublisher, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from ntpservice import _log, config
from ntpservice.core.system import SystemVariables
from ntpservice.logging import (
    FORMAT_CLASSES,
    NTPD_DEFAULT_MASK,
    LogconfigError,
    LogFile,
    SyncLogger,
    applyLogconfig,
    logMask,
)
from ntpservice.service import makeNTPService

ALL = frozenset((c, t) for c in ("clock", "peer", "sync", "sys")
                for t in ("info", "events", "status", "statistics"))


@pytest.mark.parametrize(
    "items, mask",
    [
        ((), None),
        (("=syncstatus",), {("sync", "status")}),
        (("syncstatus",), {("sync", "status")}),
        (("+sysevents",), NTPD_DEFAULT_MASK | {("sys", "events")}),
        (("-syncall",), set()),
        (("allall",), ALL),
        (("=allall", "-clockall"), {p for p in ALL if p[0] != "clock"}),
        (("=peerevents", "+allstatus"), {("peer", "events")} | {(c, "status") for c in ("clock", "peer", "sync", "sys")}),
        (("=syncevents", "syncinfo"), {("sync", "info")}),
    ],
)
def test_logMask(items: tuple[str, ...], mask: Any) -> None:
    """
    C{logconfig} keywords start from ntpd's default (C{sync} messages):
    C{=} or no prefix sets, C{+} adds, C{-} removes; C{all} stands for
    every class or every type.
    """
    assert logMask(items) == (None if mask is None else frozenset(mask))


def test_logMaskRefuses() -> None:
    """
    An unknown keyword is refused.
    """
    with pytest.raises(LogconfigError):
        logMask(["+syncstuff"])
    with pytest.raises(LogconfigError):
        logMask(["=nothing"])


class LogFilterTests(SynchronousTestCase):
    """
    The loggers of ntpservice honour the C{logconfig} mask.
    """

    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.logger = _log.Logger(namespace="test", observer=self.events.append)
        self.addCleanup(_log.setLogMask, None)

    def test_classified(self) -> None:
        """
        Informational messages of a class left out are dropped; warnings,
        and messages without a class, are kept.
        """
        applyLogconfig(["=syncstatus"])
        self.logger.info("sync", ntpClass="sync", ntpType="status")
        self.logger.info("peer", ntpClass="peer", ntpType="events")
        self.logger.warn("peer warning", ntpClass="peer", ntpType="events")
        self.logger.info("no class")
        self.assertEqual(
            [e["log_format"] for e in self.events], ["sync", "peer warning", "no class"]
        )

    def test_formatTable(self) -> None:
        """
        The daemon's event lines, which do not name their class, are
        classified by their format string.
        """
        applyLogconfig(["=peerevents"])
        demobilized = "Demobilized association {associd} ({address}): {reason}"
        self.logger.info(demobilized, associd=1, address="192.0.2.1", reason="x")
        self.logger.info("No system peer{why}: {state}", why="", state="unsynchronized")
        self.assertEqual([e["log_format"] for e in self.events], [demobilized])

    def test_noLogconfig(self) -> None:
        """
        Without C{logconfig} every class is logged.
        """
        applyLogconfig([])
        self.logger.info("clock", ntpClass="clock", ntpType="info")
        self.logger.info("No system peer{why}: {state}", why="", state="x")
        self.assertEqual(len(self.events), 2)

    def test_formatsExist(self) -> None:
        """
        Every format string of the table is one the daemon or a mode
        plugin logs, verbatim (so that the table cannot silently rot).
        """
        from ntpservice import daemon
        from ntpservice.modes import client, pool

        for format in FORMAT_CLASSES:
            self.assertTrue(
                _literalIn(format, daemon, client, pool), f"format not found: {format!r}"
            )


def _literalIn(format: str, *modules: Any) -> bool:
    """Whether C{format} is a string literal (possibly implicitly joined)."""
    import ast

    for module in modules:
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.Constant) and node.value == format:
                return True
    return False


class LogFileTests(SynchronousTestCase):
    """
    Tests for L{LogFile}.
    """

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.path = os.path.join(self.directory, "ntp.log")
        self.publisher = LogPublisher()
        self.logger = _log.Logger(namespace="ntpservice.test", observer=self.publisher)

    def read(self, path: str | None = None) -> str:
        with open(path or self.path) as f:
            return f.read()

    def test_logsToFile(self) -> None:
        """
        Once started, every event is appended to the file as a readable
        line; after L{LogFile.stop} nothing more is.
        """
        with open(self.path, "w") as f:
            f.write("earlier\n")
        logFile = LogFile(self.path, self.publisher)
        self.assertTrue(logFile.start())
        self.logger.info("Selected {address} as system peer", address="192.0.2.1")
        logFile.stop()
        self.logger.info("after stop")
        text = self.read()
        self.assertTrue(text.startswith("earlier\n"))
        self.assertIn("[ntpservice.test#info] Selected 192.0.2.1 as system peer\n", text)
        self.assertNotIn("after stop", text)

    def test_reopen(self) -> None:
        """
        L{LogFile.reopen} (SIGHUP) continues in a new file once the old one
        was moved away.
        """
        logFile = LogFile(self.path, self.publisher)
        logFile.start()
        self.addCleanup(logFile.stop)
        self.logger.info("one")
        os.rename(self.path, self.path + ".1")
        logFile.reopen()
        self.logger.info("two")
        self.assertIn("one", self.read(self.path + ".1"))
        self.assertNotIn("two", self.read(self.path + ".1"))
        self.assertIn("two", self.read())

    def test_cannotOpen(self) -> None:
        """
        A file that cannot be opened is reported, and logging goes on
        without it.
        """
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        logFile = LogFile(os.path.join(self.directory, "missing", "x.log"), self.publisher)
        self.assertFalse(logFile.start())
        errors = [e for e in events if e.get("log_level") == LogLevel.error]
        self.assertEqual(len(errors), 1)
        self.assertIn("missing", errors[0]["path"])


# -- synchronization lines ----------------------------------------------------


@dataclass
class FakeSettings:
    name: str | None = None
    refclock: Any = None


@dataclass
class FakeAssociation:
    address: str
    settings: FakeSettings = field(default_factory=FakeSettings)


@dataclass
class FakeAssociations:
    byID: dict[int, FakeAssociation] = field(default_factory=dict)


@dataclass
class FakeDiscipline:
    offset: float = 0.00025


@dataclass
class FakeEngine:
    system: SystemVariables = field(default_factory=SystemVariables)
    systemPeer: int | None = None
    associations: FakeAssociations = field(default_factory=FakeAssociations)
    discipline: FakeDiscipline = field(default_factory=FakeDiscipline)


@dataclass
class FakeDaemon:
    engine: FakeEngine = field(default_factory=FakeEngine)


class SyncLoggerTests(SynchronousTestCase):
    """
    Tests for L{SyncLogger}: one line when synchronization is gained, one
    when it is lost.
    """

    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.daemon = FakeDaemon()
        self.logger = SyncLogger(self.daemon)

    def lines(self) -> list[str]:
        from twisted.logger import formatEvent

        return [
            formatEvent(e) for e in self.events if e.get("log_namespace", "").endswith("SyncLogger")
        ]

    def synchronize(self) -> None:
        engine = self.daemon.engine
        engine.associations.byID[2] = FakeAssociation("192.0.2.2")
        engine.systemPeer = 2
        engine.system = SystemVariables(leap=0, stratum=3)

    def test_gainedAndLost(self) -> None:
        """
        The first update that leaves the clock synchronized logs where it
        is synchronized to; losing the system peer logs the loss; nothing
        is logged while the state does not change.
        """
        self.logger.systemPeerChanged(2, "192.0.2.2")
        self.assertEqual(self.lines(), [])
        self.synchronize()
        self.logger.clockUpdated(1.0)
        self.logger.clockUpdated(2.0)
        self.daemon.engine.systemPeer = None
        self.logger.systemPeerChanged(None, None)
        self.logger.systemPeerChanged(None, None)
        self.assertEqual(
            self.lines(),
            [
                "Clock synchronized to 192.0.2.2: stratum 3, offset +0.000250 s",
                "Clock no longer synchronized: no system peer",
            ],
        )
        classes = {(e["ntpClass"], e["ntpType"]) for e in self.events if "ntpClass" in e}
        self.assertEqual(classes, {("sync", "status")})

    def test_step(self) -> None:
        """
        A step that resets the system variables is logged as the reason
        synchronization was lost.
        """
        self.synchronize()
        self.logger.clockUpdated(1.0)
        self.daemon.engine.system = SystemVariables()
        self.daemon.engine.systemPeer = None
        self.logger.clockStepped(0.5)
        self.assertEqual(
            self.lines()[-1], "Clock no longer synchronized: the clock was stepped by +0.500000 s"
        )

    def test_localClock(self) -> None:
        """
        Synchronization to the LOCAL clock (a reference clock association
        like any other) names it, by its name and its address.
        """
        engine = self.daemon.engine
        engine.associations.byID[1] = FakeAssociation(
            "127.127.1.0", FakeSettings("LOCAL(0)", object())
        )
        engine.systemPeer = 1
        engine.system = SystemVariables(leap=0, stratum=6)
        self.logger.clockUpdated(1.0)
        self.assertEqual(
            self.lines(),
            ["Clock synchronized to LOCAL(0) (127.127.1.0): stratum 6, offset +0.000250 s"],
        )


# -- the service --------------------------------------------------------------


class ServiceLoggingTests(SynchronousTestCase):
    """
    The service opens the C{logfile}, applies C{logconfig}, writes the
    statistics files, and undoes it all when it stops.
    """

    def test_logfileAndStatistics(self) -> None:
        """
        With C{logfile}, C{logconfig} and C{statistics} lines the started
        service logs to the file, filters classes, and writes statistics
        under C{statsdir}; SIGHUP's handler reopens the files; stopping
        closes them and restores the default mask.
        """
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory, True)
        logPath = os.path.join(directory, "ntp.log")
        statsdir = os.path.join(directory, "stats")
        configuration = config.parseString(
            f"logfile {logPath}\nlogconfig =syncall\nstatsdir {statsdir}\n"
            "statistics loopstats sysstats\n",
            "test.conf",
        )
        reactor = MemoryReactorClock()
        service = makeNTPService(
            configuration, port=0, interfaces=("127.0.0.1",), reactor=reactor, clockAdjust=False
        )
        service.privilegedStartService()
        service.startService()
        try:
            self.assertEqual(_log.getLogMask(), frozenset(("sync", t) for t in ("info", "events", "status", "statistics")))
            self.assertIsNotNone(service.statistics)
            self.assertEqual(sorted(service.statistics.generations), ["loopstats", "sysstats"])
            self.assertTrue(os.path.isdir(statsdir))
            reactor.advance(3600)
            os.rename(logPath, logPath + ".1")
            service.hangup()
            with open(logPath + ".1") as f:
                rotated = f.read()
            self.assertIn("ntpservice started", rotated)
            self.assertIn("Writing statistics loopstats sysstats", rotated)
            with open(logPath) as f:
                self.assertIn("Keys reloaded", f.read())
        finally:
            service.stopService()
        self.assertIsNone(service.logFile)
        self.assertIsNone(service.statistics)
        self.assertIsNone(_log.getLogMask())
        [sysstats] = [n for n in os.listdir(statsdir) if n.startswith("sysstats.")]
        with open(os.path.join(statsdir, sysstats)) as f:
            self.assertEqual(len(f.read().splitlines()), 1)
