# -*- test-case-name: tests.test_stats -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.stats}: ntpd's statistics line formats, file
generations, and the statistics written by the real daemon in the
simulator.
"""

from __future__ import annotations

import datetime
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any

import pytest
from twisted.internet.task import Clock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.clock.simulated import DEFAULT_EPOCH_NS
from ntpservice.core.association import (
    TEST_BOGUS,
    AssociationSettings,
    ReceiveResult,
)
from ntpservice.core.counters import PacketCounters
from ntpservice.core.filter import FilterOutput
from ntpservice.core.packet import MODE_SERVER, NTPPacket
from ntpservice.core.snapshot import StatusEvents
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.net.udp import ReceivedDatagram
from ntpservice.stats import (
    DEFAULT_STATSDIR,
    FileGeneration,
    StatisticsError,
    StatisticsWriter,
    SysstatsCounts,
    checkFileName,
    formatNTPTimestamp,
    formatRawRefid,
    loopstatsLine,
    mjdTime,
    peerstatsLine,
    rawstatsLine,
    statsPrefix,
    sysstatsCounts,
    sysstatsLine,
)

NS = 1_000_000_000

MJD_TIME = r"(\d+) (\d+)\.(\d{3})"
F9 = r"-?\d+\.\d{9}"
F6 = r"-?\d+\.\d{6}"
NTP_TIME = r"\d+\.\d{9}"

LINE_FORMATS = {
    # NTPsec 1.2's printf formats, field for field.
    "loopstats": re.compile(rf"{MJD_TIME} {F9} {F6} {F9} {F6} -?\d+\Z"),
    "peerstats": re.compile(rf"{MJD_TIME} (\S+) [0-9a-f]+ {F9} {F9} {F9} {F9}\Z"),
    "rawstats": re.compile(
        rf"{MJD_TIME} (\S+) (\S+) {NTP_TIME} {NTP_TIME} {NTP_TIME} {NTP_TIME} "
        rf"[0-3] [0-7] [0-7] \d+ -?\d+ -?\d+ {F6} {F6} \S+ \d+ \d+ [0-9a-f]+\Z"
    ),
    "sysstats": re.compile(rf"{MJD_TIME} \d+(?: \d+){{11}}\Z"),
}
"""What a line of each statistics file must look like."""

SERVERS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")
CLIENT = "10.0.0.10"


def unixFromLine(line: str) -> float:
    """The Unix time at the start of a statistics line."""
    day, seconds = line.split()[:2]
    return (int(day) - 40587) * 86400 + float(seconds)


@dataclass
class SimulatedRun:
    """What L{simulatedStatistics} ran."""

    simulation: Any
    host: Any
    daemon: Any
    writer: StatisticsWriter


def simulatedStatistics(
    statsdir: str,
    seconds: float,
    *,
    seed: int = 1,
    epochNs: int = DEFAULT_EPOCH_NS,
    extra: str = "",
) -> SimulatedRun:
    """
    Run our real daemon (engine, client mode, discipline) on a simulated
    host polling three simulated reference servers, with every statistics
    file written under C{statsdir}, for C{seconds} of simulated time.

    @param epochNs: the true time at which the simulation starts.
    @param extra: more configuration lines.
    """
    from ntpservice.daemon import NTPDaemon
    from ntpservice.plugins import enabledPlugins, loadModePlugins, registryFor
    from ntpservice.sim.hosts import Simulation

    simulation = Simulation(seed, epochNs=epochNs)
    for i, address in enumerate(SERVERS):
        simulation.addReferenceServer(address, offset=0.0005 * i)
    host = simulation.addHost(CLIENT, offset=0.05, freqPPM=12.0, wanderPPBPerSecond=1.0)
    text = "".join(f"server {address} iburst\n" for address in SERVERS)
    text += f"statsdir {statsdir}\nstatistics loopstats peerstats rawstats sysstats\n"
    text += extra
    plugins = loadModePlugins()
    configuration = config.parseString(text, "<sim>", registry=registryFor(plugins))
    daemon = NTPDaemon(
        configuration,
        host.clock,
        host.reactor,
        host.counters,
        host.modes,
        enabledPlugins(plugins, configuration),
        rng=host.rng,
    )
    daemon.setSenders([host.protocol])
    writer = StatisticsWriter.fromConfiguration(configuration, daemon, pid=4242)
    assert writer is not None
    writer.start()
    daemon.start()
    simulation.run(seconds)
    writer.stop()
    daemon.stop()
    return SimulatedRun(simulation, host, daemon, writer)


# -- line formats -----------------------------------------------------------


@pytest.mark.parametrize(
    "nowNs, text",
    [
        (0, "40587 0.000"),
        (DEFAULT_EPOCH_NS, "61041 0.000"),
        (DEFAULT_EPOCH_NS + 3600 * NS + 123_456_789, "61041 3600.123"),
        (DEFAULT_EPOCH_NS + 86399 * NS + 999_999_999, "61041 86399.999"),
        (DEFAULT_EPOCH_NS + 86400 * NS, "61042 0.000"),
    ],
)
def test_mjdTime(nowNs: int, text: str) -> None:
    """
    Lines start with the Modified Julian Day and the seconds past UTC
    midnight, milliseconds truncated.
    """
    assert mjdTime(nowNs) == text


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "0.000000000"),
        (0, "0.000000000"),
        ((3976214400 << 32) | 0x80000000, "3976214400.500000000"),
        ((1 << 32) | 0xFFFFFFFF, "2.000000000"),
        ((0xFFFFFFFF << 32) | 0xFFFFFFFF, "0.000000000"),
        ((5 << 32) | 0x1, "5.000000000"),
        ((5 << 32) | 0x5, "5.000000001"),
    ],
)
def test_formatNTPTimestamp(value: int | None, text: str) -> None:
    """
    Timestamps are era seconds and nine rounded decimals, as ntpd's
    C{ulfptoa(ts, 9)} prints them.
    """
    timestamp = None if value is None else NTPTimestamp(value)
    assert formatNTPTimestamp(timestamp) == text


@pytest.mark.parametrize(
    "refid, stratum, text",
    [
        (b"GPS\0", 1, ".GPS."),
        (b"LOCL", 1, ".LOCL."),
        (b"RATE", 16, "82.65.84.69"),
        (bytes([192, 0, 2, 1]), 2, "192.0.2.1"),
        (b"A B\n", 1, ".A.B.."),
    ],
)
def test_formatRawRefid(refid: bytes, stratum: int, text: str) -> None:
    """
    Refids are NTPsec's C{refid_str}: dotted quads above stratum 1, text
    between dots otherwise, with nothing that could split the line.
    """
    assert formatRawRefid(refid, stratum) == text


class LineFormatTests(SynchronousTestCase):
    """
    The lines are ntpd's, field for field.
    """

    now = DEFAULT_EPOCH_NS + 75440 * NS + 31_000_000

    def test_loopstats(self) -> None:
        """
        C{loopstats}: offset, frequency (PPM), jitter, wander (PPM), time
        constant.
        """
        line = loopstatsLine(self.now, 6.019e-06, 13.778190, 0.000351733, 0.0133806, 6)
        self.assertEqual(line, "61041 75440.031 0.000006019 13.778190 0.000351733 0.013381 6")
        self.assertRegex(line, LINE_FORMATS["loopstats"])

    def test_peerstats(self) -> None:
        """
        C{peerstats}: address, status word in hex, offset, delay,
        dispersion, jitter.
        """
        line = peerstatsLine(
            self.now, "192.0.2.1", 0x9614, -0.001605376, 0.0, 0.001424877, 0.000958674
        )
        self.assertEqual(
            line,
            "61041 75440.031 192.0.2.1 9614 -0.001605376 0.000000000 "
            "0.001424877 0.000958674",
        )
        self.assertRegex(line, LINE_FORMATS["peerstats"])

    def test_rawstats(self) -> None:
        """
        C{rawstats}: NTPsec 1.2's nineteen fields after the time.
        """
        packet = NTPPacket(
            leap=0,
            version=4,
            mode=MODE_SERVER,
            stratum=1,
            poll=13,
            precision=-29,
            rootDelay=16,
            rootDispersion=32,
            refid=b"NIST",
            rec=NTPTimestamp((3867818701 << 32) | 0x26F7E5CA),
            xmt=NTPTimestamp((3867818701 << 32) | 0x26F80000),
        )
        line = rawstatsLine(
            self.now,
            "2610:20:6f15:15::27",
            "2604:a880:1:20::17:5001",
            NTPTimestamp((3867818701 << 32) | 0x1E8D0000),
            packet,
            NTPTimestamp((3867818702 << 32) | 0xC4BA0000),
            lost=0,
            bogons=1,
            flash=0x2000,
        )
        self.assertEqual(
            line,
            "61041 75440.031 2610:20:6f15:15::27 2604:a880:1:20::17:5001 "
            "3867818701.119338989 3867818701.152220117 3867818701.152221680 "
            "3867818702.768463135 0 4 4 1 13 -29 0.000244 0.000488 .NIST. 0 1 2000",
        )
        self.assertRegex(line, LINE_FORMATS["rawstats"])

    def test_rawstatsUnknown(self) -> None:
        """
        An unknown destination is C{-}; a packet of stratum 0 (a kiss) is
        shown at stratum 16, with its refid as a dotted quad, as ntpd does.
        """
        packet = NTPPacket(mode=MODE_SERVER, stratum=0, refid=b"RATE")
        line = rawstatsLine(self.now, "192.0.2.1", None, None, packet, NTPTimestamp(1))
        fields = line.split()
        self.assertEqual(fields[3:5], ["-", "0.000000000"])
        self.assertEqual(fields[11], "16")
        self.assertEqual(fields[16], "82.65.84.69")

    def test_sysstats(self) -> None:
        """
        C{sysstats}: the seconds since the last line, then eleven counters.
        """
        counts = SysstatsCounts(100, 90, 0, 0, 2, 3, 1, 4, 5, 6, 0)
        line = sysstatsLine(self.now, 3600, counts)
        self.assertEqual(line, "61041 75440.031 3600 100 90 0 0 2 3 1 4 5 6 0")
        self.assertRegex(line, LINE_FORMATS["sysstats"])

    def test_sysstatsCounts(self) -> None:
        """
        The daemon's counters map onto ntpd's: access drops and interface
        drops are "restricted", malformed datagrams "bad length", MAC
        failures "bad authentication", unserved modes and versions
        "declined"; processed is what is left of the received; packets by
        version are the multiplexer's counts.
        """
        counts = sysstatsCounts(
            {
                "received": 100,
                "sent": 80,
                "malformed": 3,
                "nohandler": 1,
                "badversion": 2,
                "notunicast": 1,
                "interfacedrop": 1,
                "access.ignored": 2,
                "access.noquery": 1,
                "access.ratelimited": 5,
                "access.kodsent": 4,
                "access.badauth": 1,
                "auth.bad_mac": 1,
                "peer.auth.failed": 1,
                "processed": 40,
                "version.current": 90,
                "version.old": 6,
                "version.1": 2,
                "version.1.client": 1,
            }
        )
        self.assertEqual(
            counts,
            SysstatsCounts(
                received=100,
                processed=100 - 4 - 3 - 4 - 5,
                restricted=4,
                badLength=3,
                badAuth=2,
                declined=4,
                limitRejected=5,
                kodSent=4,
                newVersion=90,
                oldVersion=6,
                version1=2,
            ),
        )


# -- file generations -----------------------------------------------------------


def utcNs(*args: int) -> int:
    """ns since the Unix epoch of a UTC date and time."""
    when = datetime.datetime(*args, tzinfo=datetime.timezone.utc)  # type: ignore[misc]
    return int(when.timestamp()) * NS


@pytest.mark.parametrize(
    "kind, nowNs, suffix",
    [
        ("none", utcNs(2026, 1, 1), ""),
        ("pid", utcNs(2026, 1, 1), ".#4242"),
        ("day", utcNs(2026, 1, 1, 23, 59, 59), ".20260101"),
        ("day", utcNs(2026, 1, 2), ".20260102"),
        ("week", utcNs(2026, 1, 1), ".2026w01"),
        ("week", utcNs(2027, 1, 1), ".2026w53"),
        ("week", utcNs(2024, 12, 30), ".2025w01"),
        ("month", utcNs(2026, 2, 28, 12), ".202602"),
        ("year", utcNs(2026, 12, 31, 23), ".2026"),
        ("age", utcNs(2026, 1, 1), ".a00000000"),
        ("age", utcNs(2026, 1, 2, 0, 0, 1), ".a00086400"),
        ("age", utcNs(2026, 1, 3, 12), ".a00172800"),
    ],
)
def test_suffix(kind: str, nowNs: int, suffix: str) -> None:
    """
    File generation suffixes follow ntpd's C{filegen} types (week: ISO
    8601 year and week; age: whole days of uptime, in seconds).
    """
    generation = FileGeneration("/x/loopstats", kind, pid=4242, startNs=utcNs(2026, 1, 1))
    assert generation.suffixFor(nowNs) == suffix


class FileGenerationTests(SynchronousTestCase):
    """
    Tests for L{FileGeneration}: appending, rotating, linking.
    """

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp()
        self.addCleanup(_removeTree, self.directory)
        self.base = os.path.join(self.directory, "loopstats")
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def read(self, name: str) -> str:
        with open(os.path.join(self.directory, name)) as f:
            return f.read()

    def test_appendAndRotateAtMidnight(self) -> None:
        """
        Lines go to the file of their UTC day, written whole and readable
        at once; at midnight a new file starts and the plain name links to
        it.
        """
        generation = FileGeneration(self.base, "day", pid=1)
        self.addCleanup(generation.close)
        self.assertTrue(generation.write(utcNs(2026, 1, 1, 23, 59, 58), "one"))
        self.assertTrue(generation.write(utcNs(2026, 1, 1, 23, 59, 59), "two"))
        self.assertEqual(self.read("loopstats.20260101"), "one\ntwo\n")
        self.assertEqual(os.readlink(self.base), "loopstats.20260101")
        self.assertTrue(generation.write(utcNs(2026, 1, 2), "three"))
        self.assertEqual(self.read("loopstats.20260101"), "one\ntwo\n")
        self.assertEqual(self.read("loopstats.20260102"), "three\n")
        self.assertEqual(os.readlink(self.base), "loopstats.20260102")
        self.assertEqual(self.read("loopstats"), "three\n")
        self.assertEqual(
            sorted(os.listdir(self.directory)),
            ["loopstats", "loopstats.20260101", "loopstats.20260102"],
        )

    def test_appendsToExistingContent(self) -> None:
        """
        An existing file is appended to, never truncated; when its last
        line was cut short, it is ended first so that the new line stays
        whole.
        """
        path = self.base + ".20260101"
        with open(path, "w") as f:
            f.write("old line\ncut sho")
        generation = FileGeneration(self.base, "day", link=False)
        self.assertTrue(generation.write(utcNs(2026, 1, 1, 1), "new line"))
        generation.close()
        generation = FileGeneration(self.base, "day", link=False)
        self.assertTrue(generation.write(utcNs(2026, 1, 1, 2), "newer line"))
        generation.close()
        self.assertEqual(self.read("loopstats.20260101"), "old line\ncut sho\nnew line\nnewer line\n")
        self.assertFalse(os.path.lexists(self.base))

    def test_typeNone(self) -> None:
        """
        Type C{none} writes the plain name, and makes no link.
        """
        generation = FileGeneration(self.base, "none")
        generation.write(utcNs(2026, 1, 1), "a")
        generation.write(utcNs(2027, 1, 1), "b")
        generation.close()
        self.assertFalse(os.path.islink(self.base))
        self.assertEqual(self.read("loopstats"), "a\nb\n")

    def test_regularFileAtLinkName(self) -> None:
        """
        A regular file in the way of the link is kept under
        C{NAME.PIDCn}, as ntpd keeps it.
        """
        with open(self.base, "w") as f:
            f.write("precious\n")
        generation = FileGeneration(self.base, "day", pid=77)
        generation.write(utcNs(2026, 1, 1), "a")
        generation.close()
        self.assertEqual(self.read("loopstats.77C0"), "precious\n")
        self.assertEqual(os.readlink(self.base), "loopstats.20260101")

    def test_reopen(self) -> None:
        """
        After L{FileGeneration.close} (log rotation moved the file away),
        the next line opens the file again.
        """
        generation = FileGeneration(self.base, "pid", pid=9, link=False)
        generation.write(utcNs(2026, 1, 1), "a")
        os.rename(self.base + ".#9", self.base + ".#9.old")
        generation.close()
        generation.write(utcNs(2026, 1, 1), "b")
        generation.close()
        self.assertEqual(self.read("loopstats.#9.old"), "a\n")
        self.assertEqual(self.read("loopstats.#9"), "b\n")

    def test_unwritable(self) -> None:
        """
        A file that cannot be opened loses its lines, with one warning
        until it can be written again.
        """
        generation = FileGeneration(os.path.join(self.directory, "missing", "x"), "day")
        self.assertFalse(generation.write(utcNs(2026, 1, 1), "a"))
        self.assertFalse(generation.write(utcNs(2026, 1, 1, 1), "b"))
        warnings = [e for e in self.events if e.get("log_level") == LogLevel.warn]
        self.assertEqual(len(warnings), 1)
        self.assertIn("missing", warnings[0]["path"])
        os.mkdir(os.path.join(self.directory, "missing"))
        self.assertTrue(generation.write(utcNs(2026, 1, 1, 2), "c"))
        generation.close()

    def test_checkFileName(self) -> None:
        """
        A C{filegen} file name may not leave the statistics directory.
        """
        checkFileName("loopstats")
        checkFileName("sub/peers")
        for name in ("", "/etc/passwd", "../x", "a/../../x"):
            self.assertRaises(StatisticsError, checkFileName, name)

    def test_statsPrefix(self) -> None:
        """
        C{statsdir} gets a trailing slash; without one the default is used.
        """
        self.assertEqual(statsPrefix("/var/log/ntp"), "/var/log/ntp/")
        self.assertEqual(statsPrefix("/var/log/ntp/"), "/var/log/ntp/")
        self.assertEqual(statsPrefix(None), DEFAULT_STATSDIR + "/")


def _removeTree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# -- the writer --------------------------------------------------------------


class FakeClock:
    def __init__(self, nowNs: int) -> None:
        self.nowNs = nowNs

    def now(self) -> int:
        return self.nowNs


@dataclass
class FakeDiscipline:
    offset: float = 0.000123456
    freqPPM: float = -12.5
    jitter: float = 0.0000456
    wander: float = 0.0123
    timeConstant: int = 7
    state: str = "FSET"
    pollLog2: int = 6


@dataclass
class FakeSelection:
    status: dict[int, str] = field(default_factory=dict)


@dataclass
class FakeEngine:
    discipline: FakeDiscipline = field(default_factory=FakeDiscipline)
    system: SystemVariables = field(default_factory=SystemVariables)
    selection: FakeSelection | None = None
    systemPeer: int | None = None
    localClock: None = None


@dataclass
class FakeAssociation:
    associd: int
    settings: AssociationSettings
    reach: int = 1
    sent: int = 1
    flash: int = 0

    @property
    def address(self) -> str:
        return self.settings.address


class FakeDaemon:
    def __init__(self, nowNs: int) -> None:
        self.clock = FakeClock(nowNs)
        self.reactor = Clock()
        self.engine = FakeEngine()
        self.counters = PacketCounters()
        self.observers: list[Any] = []
        self.events = StatusEvents(self.engine)

    def notify(self, event: str, *args: Any) -> None:
        """As the daemon reports: its event counts first, then observers."""
        for observer in (self.events, *self.observers):
            method = getattr(observer, event, None)
            if method is not None:
                method(*args)

    def addObserver(self, observer: Any) -> None:
        self.observers.append(observer)

    def removeObserver(self, observer: Any) -> None:
        self.observers.remove(observer)


def parse(text: str) -> config.Configuration:
    from ntpservice.plugins import loadModePlugins, registryFor

    return config.parseString(text, "test.conf", registry=registryFor(loadModePlugins()))


class StatisticsWriterTests(SynchronousTestCase):
    """
    Tests for L{StatisticsWriter} driven by hand.
    """

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp()
        self.addCleanup(_removeTree, self.directory)
        self.daemon = FakeDaemon(DEFAULT_EPOCH_NS + 3600 * NS + 5_000_000)

    def writer(self, lines: str = "") -> StatisticsWriter:
        configuration = parse(f"statsdir {self.directory}\n{lines}")
        writer = StatisticsWriter.fromConfiguration(configuration, self.daemon, pid=5)
        assert writer is not None
        writer.start()
        self.addCleanup(writer.stop)
        return writer

    def lines(self, name: str) -> list[str]:
        path = os.path.join(self.directory, name)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return f.read().splitlines()

    def test_nothingEnabled(self) -> None:
        """
        Without C{statistics} or an enabling C{filegen}, or after C{disable
        stats}, nothing is written.
        """
        self.assertIsNone(StatisticsWriter.fromConfiguration(parse(""), self.daemon))
        self.assertIsNone(
            StatisticsWriter.fromConfiguration(
                parse("statistics loopstats\ndisable stats\n"), self.daemon
            )
        )
        self.assertIsNone(
            StatisticsWriter.fromConfiguration(
                parse("filegen loopstats disable\n"), self.daemon
            )
        )

    def test_filegenSettings(self) -> None:
        """
        Each statistics name takes its file name, type and link from its
        C{filegen} line; names ntpservice does not write are listed as
        ignored.
        """
        writer = self.writer(
            "statistics loopstats usestats protostats\n"
            "filegen peerstats file peers type week nolink enable\n"
        )
        self.assertEqual(sorted(writer.generations), ["loopstats", "peerstats"])
        peers = writer.generations["peerstats"]
        self.assertEqual(peers.basePath, os.path.join(self.directory, "peers"))
        self.assertEqual((peers.type, peers.link), ("week", False))
        loops = writer.generations["loopstats"]
        self.assertEqual((loops.type, loops.link), ("day", True))
        self.assertEqual(writer.ignored, ("protostats", "usestats"))

    def test_badFileName(self) -> None:
        """
        A C{filegen} file name leaving the directory is refused.
        """
        self.assertRaises(
            StatisticsError,
            StatisticsWriter.fromConfiguration,
            parse("filegen loopstats file ../../etc/x\n"),
            self.daemon,
        )

    def test_clockstats(self) -> None:
        """
        Each sample of a reference clock that read a timecode writes a
        C{clockstats} line (time, address, timecode); one without (the
        LOCAL clock) writes none.
        """
        writer = self.writer("statistics clockstats\n")
        writer.clockSample(1, "127.127.20.0", "$GPZDA,225107.00,06,12,2026,00,00*4B")
        writer.clockSample(2, "127.127.1.0", "")
        [line] = self.lines("clockstats")
        self.assertRegex(
            line, rf"{MJD_TIME} 127\.127\.20\.0 \$GPZDA,225107\.00,06,12,2026,00,00\*4B\Z"
        )

    def test_loopstats(self) -> None:
        """
        Each discipline update writes a C{loopstats} line with the
        discipline's state, at the daemon clock's time.
        """
        writer = self.writer("statistics loopstats\n")
        self.assertEqual(self.daemon.observers, [writer])
        writer.clockUpdated(0.0)
        self.assertEqual(
            self.lines("loopstats.20260101"),
            ["61041 3600.005 0.000123456 -12.500000 0.000045600 0.012300 7"],
        )

    def test_peerstatsAndRawstats(self) -> None:
        """
        A packet whose sample the clock filter released writes a
        C{peerstats} line with the status word; every accepted packet, and
        the first rejected one per request, writes a C{rawstats} line.
        """
        writer = self.writer("statistics peerstats rawstats\n")
        association = FakeAssociation(3, AssociationSettings("192.0.2.3"), reach=1, sent=1)
        self.daemon.engine.selection = FakeSelection({3: "sync"})
        self.daemon.engine.systemPeer = 3
        self.daemon.notify("associationEvent", 3, "192.0.2.3", "mobilize")
        self.daemon.notify("systemPeerChanged", 3, "192.0.2.3")
        packet = NTPPacket(
            leap=0,
            mode=MODE_SERVER,
            stratum=2,
            refid=bytes([192, 0, 2, 99]),
            rec=NTPTimestamp(1 << 32),
            xmt=NTPTimestamp(2 << 32),
        )
        datagram = ReceivedDatagram(b"", ("192.0.2.3", 123), "192.0.2.10", "192.0.2.10")
        update = FilterOutput(0.001, 0.002, 0.003, 0.0004, 0.0)
        t1, t4 = NTPTimestamp(1 << 32), NTPTimestamp(3 << 32)
        # The engine reports the first reply of an empty reach register.
        self.daemon.notify("associationEvent", 3, "192.0.2.3", "reachable")
        writer.peerPacket(association, packet, ReceiveResult(True, 0, update), t1, t4, datagram)
        bogus = ReceiveResult(False, TEST_BOGUS)
        writer.peerPacket(association, packet, bogus, t1, t4, datagram)
        writer.peerPacket(association, packet, bogus, t1, t4, datagram)
        association.sent = 3
        writer.peerPacket(association, packet, ReceiveResult(True, 0, None), t1, t4, datagram)
        # Configured, reachable, system peer; three events (mobilize, system
        # peer, reachable), the last one "reachable".
        self.assertEqual(
            self.lines("peerstats"),
            ["61041 3600.005 192.0.2.3 9634 0.001000000 0.002000000 0.003000000 0.000400000"],
        )
        raw = self.lines("rawstats")
        self.assertEqual(len(raw), 3)
        for line in raw:
            self.assertRegex(line, LINE_FORMATS["rawstats"])
        self.assertEqual(
            raw[0],
            "61041 3600.005 192.0.2.3 192.0.2.10 1.000000000 1.000000000 "
            "2.000000000 3.000000000 0 4 4 2 0 0 0.000000 0.000000 192.0.2.99 0 0 0",
        )
        self.assertTrue(raw[1].endswith(" 0 1 2"))
        # Two requests went out since the last response, and one answered:
        # one was lost; the bogus packets were before this request.
        self.assertTrue(raw[2].endswith(" 1 0 0"))

    def test_sysstatsHourly(self) -> None:
        """
        Every hour a C{sysstats} line counts the packets of that hour,
        NTPv4, older versions and NTPv1 included, and the daemon's counters
        start a new statistics interval.
        """
        self.writer("statistics sysstats\n")
        counters = self.daemon.counters
        counters.count("received", 10)
        counters.count("version.current", 9)
        counters.count("version.old", 1)
        counters.count("version.1", 1)
        self.daemon.clock.nowNs += 3600 * NS
        self.daemon.reactor.advance(3600)
        counters.count("received", 4)
        counters.count("version.current", 4)
        counters.count("malformed", 1)
        self.daemon.clock.nowNs += 3600 * NS
        self.daemon.reactor.advance(3600)
        self.assertEqual(
            self.lines("sysstats"),
            [
                "61041 7200.005 3600 10 10 9 1 0 0 0 0 0 0 1",
                "61041 10800.005 3600 4 3 4 0 0 1 0 0 0 0 0",
            ],
        )
        # The daemon's counters start a new interval with each line (what
        # ntpq's sysstats shows as "since reset").
        self.assertEqual(counters.resetAt, self.daemon.clock.nowNs)
        self.assertEqual(counters.sinceReset()["received"], 0)

    def test_stop(self) -> None:
        """
        L{StatisticsWriter.stop} stops observing and the hourly timer.
        """
        writer = self.writer("statistics sysstats\n")
        writer.stop()
        self.assertEqual(self.daemon.observers, [])
        self.assertEqual(self.daemon.reactor.getDelayedCalls(), [])


class SimulatedDaemonTests(SynchronousTestCase):
    """
    The real daemon, run in the simulator, writes well-formed statistics.
    """

    def test_daemonStatistics(self) -> None:
        """
        Two simulated hours across UTC midnight give day files of each
        statistics type, every line in ntpd's format and stamped with the
        daemon's clock, and links to the current day's files.
        """
        directory = tempfile.mkdtemp()
        self.addCleanup(_removeTree, directory)
        start = utcNs(2026, 3, 1, 22, 30)
        run = simulatedStatistics(directory, 2 * 3600, epochNs=start)
        files = sorted(os.listdir(directory))
        self.assertEqual(
            files,
            [
                f"{name}{suffix}"
                for name in ("loopstats", "peerstats", "rawstats", "sysstats")
                for suffix in ("", ".20260301", ".20260302")
            ],
        )
        for name in ("loopstats", "peerstats", "rawstats"):
            self.assertEqual(os.readlink(os.path.join(directory, name)), f"{name}.20260302")
        clockEnd = run.host.clock.now() / NS
        for fileName in files:
            if "." not in fileName:
                continue
            name, day = fileName.split(".")
            with open(os.path.join(directory, fileName)) as f:
                lines = f.read().splitlines()
            self.assertTrue(lines, fileName)
            mjd = (datetime.date(int(day[:4]), int(day[4:6]), int(day[6:])) - datetime.date(1858, 11, 17)).days
            previous = 0.0
            for line in lines:
                self.assertRegex(line, LINE_FORMATS[name])
                self.assertEqual(int(line.split()[0]), mjd)
                when = unixFromLine(line)
                self.assertGreaterEqual(when, previous)
                self.assertLessEqual(when, clockEnd)
                self.assertGreater(when, start / NS - 1)
                previous = when
        with open(os.path.join(directory, "peerstats.20260302")) as f:
            peers = {line.split()[2] for line in f}
        self.assertEqual(peers, set(SERVERS))
        with open(os.path.join(directory, "sysstats.20260302")) as f:
            self.assertEqual(len(f.read().splitlines()), 1)
        # Synchronized: the last loopstats offsets are small, the frequency
        # corrects the simulated +12 PPM.
        with open(os.path.join(directory, "loopstats.20260302")) as f:
            last = f.read().splitlines()[-1].split()
        self.assertLess(abs(float(last[2])), 0.001)
        self.assertLess(abs(float(last[3]) + 12.0), 1.5)
