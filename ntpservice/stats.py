# -*- test-case-name: tests.test_stats -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Statistics files in ntpd's formats: C{loopstats}, C{peerstats},
C{rawstats} and C{sysstats}, written in file generations (C{filegen}) under
C{statsdir}, so that the tools written for ntpd (NTPsec's C{ntpviz},
C{peer_summary}, scripts) read them unchanged.

Every line starts with the time it was written, read from the daemon's
clock driver: the Modified Julian Day and the seconds past UTC midnight
with three decimals (C{61030 3600.123}, as NTPsec's C{timespec_to_MJDtime}
prints them; fractions are truncated, not rounded). The fields that follow
are NTPsec 1.2's, with its C{printf} formats:

  - C{loopstats}, at each clock discipline update: offset (s, C{%.9f}),
    frequency (PPM, C{%.6f}), RMS jitter (s, C{%.9f}), RMS wander (PPM,
    C{%.6f}), time constant (log2 s, C{%d}).
  - C{peerstats}, each time an association's clock filter releases a new
    sample: source address, peer status word (hex, see
    L{ntpservice.core.status}), offset, delay, dispersion, jitter (s,
    C{%.9f}).
  - C{rawstats}, for every packet an association processed (accepted, or
    the first rejected one per request): source and destination addresses,
    T1-T4 as NTP-era seconds with nine decimals, then the leap indicator,
    version, mode, stratum, poll, precision, root delay and dispersion (s,
    C{%.6f}), refid, requests lost since the last response, bogus packets
    since the last request, and the sanity-check bits (hex, 0 if accepted).
  - C{sysstats}, hourly: seconds since the last line, then packet counters
    over that interval (see L{sysstatsCounts}).

C{clockstats}: for each sample of a reference clock whose driver reads a
timecode (the NMEA sentence, the SHM segment, the SOCK datagram), its
address and that timecode, as ntpd writes it; the LOCAL driver reads none
and writes none (as in ntpd). The other
names C{statistics} accepts (C{cryptostats}, C{protostats},
C{timingstats}, C{usestats}) are not written; a warning says so at start.

File generations follow ntpd's C{filegen}: the file is C{statsdir} +
C{file} + a suffix set by the type (L{FileGeneration.suffixFor}); with
C{link}, the plain name C{statsdir/file} is a symbolic link to the current
generation (ntpd makes a hard link: see L{FileGeneration}). Lines are
appended with single C{write} calls on a file opened C{O_APPEND}, whole
lines only, so an existing file is never truncated or interleaved; a file
whose last line was cut short (a crash) gets a newline first.

@see: NTPsec's ntpd/ntp_util.c and ntpd/ntp_filegen.c, and its
    monitoring commands page (monopt.html).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from zope.interface import implementer

from twisted.internet.task import LoopingCall

from ntpservice._log import Logger
from ntpservice.core import counters as C
from ntpservice.core.refid import formatRefid
from ntpservice.core.snapshot import peerSnapshot, systemMeasurements
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.interfaces import IDaemonObserver

MJD_UNIX_EPOCH = 40587
"""The Modified Julian Day of 1970-01-01."""

SECONDS_PER_DAY = 86400

NS_PER_SECOND = 1_000_000_000

DEFAULT_STATSDIR = "/var/log/ntpservice"
"""
The statistics directory without a C{statsdir} line (the systemd unit's
C{LogsDirectory}); ntpd's compiled-in default is C{/var/NTP/}.
"""

WRITTEN = ("clockstats", "loopstats", "peerstats", "rawstats", "sysstats")
"""The statistics ntpservice writes (C{clockstats}: reference clocks only)."""

SYSSTATS_INTERVAL = 3600.0
"""Seconds between C{sysstats} lines (ntpd: hourly)."""

FILEGEN_TYPES = ("none", "pid", "day", "week", "month", "year", "age")
"""The C{filegen} types."""


class StatisticsError(Exception):
    """
    A C{filegen} cannot be used (a file name leaving the statistics
    directory).
    """


# -- line formats -------------------------------------------------------


def mjdTime(nowNs: int) -> str:
    """
    The date and time that start every statistics line.

    @param nowNs: ns since the Unix epoch (UTC).
    @return: C{"MJD SECONDS.mmm"}: the Modified Julian Day and the seconds
        past UTC midnight with milliseconds, truncated (NTPsec's
        C{timespec_to_MJDtime}).
    """
    seconds, ns = divmod(int(nowNs), NS_PER_SECOND)
    day, second = divmod(seconds, SECONDS_PER_DAY)
    return f"{day + MJD_UNIX_EPOCH} {second}.{ns // 1_000_000:03d}"


def formatNTPTimestamp(timestamp: NTPTimestamp | None) -> str:
    """
    An NTP timestamp as ntpd's C{ulfptoa(ts, 9)} prints it: the era
    seconds, a dot and nine decimals of fraction, rounded.

    @param timestamp: the timestamp, or C{None} (printed as zero).
    """
    if timestamp is None:
        return "0.000000000"
    seconds = timestamp.seconds
    nanoseconds = (timestamp.fraction * NS_PER_SECOND + (1 << 31)) >> 32
    if nanoseconds == NS_PER_SECOND:
        seconds, nanoseconds = (seconds + 1) & 0xFFFFFFFF, 0
    return f"{seconds}.{nanoseconds:09d}"


def formatRawRefid(refid: bytes, stratum: int) -> str:
    """
    A refid as C{rawstats} shows it (NTPsec's C{refid_str}): a dotted quad
    above stratum 1, else the text between dots (C{.GPS.}), shown as
    L{formatRefid <ntpservice.core.refid.formatRefid>} shows text.

    @param stratum: the packet stratum with 0 mapped to 16, as ntpd does.
    """
    return formatRefid(refid, stratum, dotted=True, unsynchronizedAsText=False)


def loopstatsLine(
    nowNs: int,
    offset: float,
    freqPPM: float,
    jitter: float,
    wanderPPM: float,
    timeConstant: int,
) -> str:
    """
    One C{loopstats} line (without newline).

    @param offset: the clock offset, seconds.
    @param freqPPM: the frequency correction, PPM.
    @param jitter: the RMS clock jitter, seconds.
    @param wanderPPM: the RMS frequency wander, PPM.
    @param timeConstant: the loop time constant, log2 seconds.
    """
    return (
        f"{mjdTime(nowNs)} {offset:.9f} {freqPPM:.6f} {jitter:.9f} "
        f"{wanderPPM:.6f} {int(timeConstant)}"
    )


def clockstatsLine(nowNs: int, address: str, timecode: str) -> str:
    """
    One C{clockstats} line (without newline): MJD, seconds of the day, the
    clock's address and its timecode.
    """
    return f"{mjdTime(nowNs)} {address} {timecode}"


def peerstatsLine(
    nowNs: int,
    address: str,
    statusWord: int,
    offset: float,
    delay: float,
    dispersion: float,
    jitter: float,
) -> str:
    """
    One C{peerstats} line (without newline).

    @param address: the source address (no port).
    @param statusWord: the peer status word (printed C{%x}).
    @param offset: seconds; C{delay}, C{dispersion}, C{jitter} too.
    """
    return (
        f"{mjdTime(nowNs)} {address} {statusWord:x} {offset:.9f} {delay:.9f} "
        f"{dispersion:.9f} {jitter:.9f}"
    )


def rawstatsLine(
    nowNs: int,
    source: str,
    destination: str | None,
    t1: NTPTimestamp | None,
    packet: Any,
    t4: NTPTimestamp,
    lost: int = 0,
    bogons: int = 0,
    flash: int = 0,
) -> str:
    """
    One C{rawstats} line (without newline), NTPsec 1.2's format.

    @param source: the server's address.
    @param destination: our address the packet came to, or C{None}
        (printed C{-}).
    @param t1: when the request was sent (ntpd prints its own send time,
        not the origin timestamp, which is a random nonce), or C{None}.
    @param packet: the L{NTPPacket<ntpservice.core.packet.NTPPacket>}
        (T2, T3 and the header fields are read from it).
    @param t4: when the packet arrived.
    @param lost: requests sent since the last response, less the one this
        answers.
    @param bogons: packets rejected since the last request.
    @param flash: the sanity-check bits that rejected this packet (0: it
        was accepted).
    """
    stratum = packet.stratum or 16
    return (
        f"{mjdTime(nowNs)} {source} {destination or '-'} "
        f"{formatNTPTimestamp(t1)} {formatNTPTimestamp(packet.rec)} "
        f"{formatNTPTimestamp(packet.xmt)} {formatNTPTimestamp(t4)} "
        f"{packet.leap} {packet.version} {packet.mode} {stratum} {packet.poll} "
        f"{packet.precision} {packet.rootDelaySeconds:.6f} "
        f"{packet.rootDispersionSeconds:.6f} {formatRawRefid(packet.refid, stratum)} "
        f"{max(0, lost)} {max(0, bogons)} {flash:x}"
    )


@dataclass(frozen=True, slots=True)
class SysstatsCounts:
    """
    The counters of one C{sysstats} line, in line order (NTPsec 1.2).

    @ivar received: datagrams received.
    @ivar processed: datagrams that passed the interface filter, decoding
        and access control: served or handed to an association.
    @ivar newVersion: NTPv4 packets (modes 0-5).
    @ivar oldVersion: NTPv1-3 packets (modes 0-5).
    @ivar restricted: dropped by C{restrict} (C{ignore}, C{noserve},
        C{noquery}, C{notrust}, C{flake}, bogus source port) or by an
        C{interface drop} rule.
    @ivar badLength: malformed datagrams.
    @ivar badAuth: packets whose MAC failed (requests and replies).
    @ivar declined: packets of a mode or version nobody serves, or sent
        to a broadcast or multicast address.
    @ivar limitRejected: requests over the rate limit (C{limited}).
    @ivar kodSent: kiss-o'-death packets sent.
    @ivar version1: NTPv1 packets of 48 octets (also in C{oldVersion}).
    """

    received: int = 0
    processed: int = 0
    newVersion: int = 0
    oldVersion: int = 0
    restricted: int = 0
    badLength: int = 0
    badAuth: int = 0
    declined: int = 0
    limitRejected: int = 0
    kodSent: int = 0
    version1: int = 0

    def fields(self) -> tuple[int, ...]:
        """The values in line order."""
        return (
            self.received,
            self.processed,
            self.newVersion,
            self.oldVersion,
            self.restricted,
            self.badLength,
            self.badAuth,
            self.declined,
            self.limitRejected,
            self.kodSent,
            self.version1,
        )


_ACCESS_NOT_RESTRICTED = frozenset({"access.ratelimited", "access.kodsent", "access.badauth"})


def sysstatsCounts(delta: Mapping[str, int]) -> SysstatsCounts:
    """
    Map the daemon's packet counters (L{ntpservice.core.counters}, over
    one interval) to ntpd's C{sysstats} counters.

    @param delta: counter name to the increase over the interval.
    """

    def get(name: str) -> int:
        return max(0, int(delta.get(name, 0)))

    restricted = get("interfacedrop") + sum(
        max(0, n)
        for name, n in delta.items()
        if name.startswith("access.") and name not in _ACCESS_NOT_RESTRICTED
    )
    badAuth = sum(
        max(0, n)
        for name, n in delta.items()
        if name.startswith("auth.") or name.startswith("peer.auth.")
    )
    declined = get("nohandler") + get("badversion") + get("notunicast")
    badLength = get("malformed")
    limited = get("access.ratelimited")
    received = get("received")
    processed = max(0, received - restricted - badLength - declined - limited)
    return SysstatsCounts(
        received=received,
        processed=processed,
        newVersion=get(C.VERSION_CURRENT),
        oldVersion=get(C.VERSION_OLD),
        version1=get(C.VERSION1),
        restricted=restricted,
        badLength=badLength,
        badAuth=badAuth,
        declined=declined,
        limitRejected=limited,
        kodSent=get("access.kodsent"),
    )


def sysstatsLine(nowNs: int, elapsedSeconds: int, counts: SysstatsCounts) -> str:
    """
    One C{sysstats} line (without newline).

    @param elapsedSeconds: seconds since the previous line (or the start).
    """
    values = " ".join(str(v) for v in counts.fields())
    return f"{mjdTime(nowNs)} {max(0, int(elapsedSeconds))} {values}"


# -- file generations ---------------------------------------------------


def statsPrefix(statsdir: str | None) -> str:
    """
    The path prefix of the statistics files: C{statsdir} with a trailing
    slash (ntpd adds one), or L{DEFAULT_STATSDIR}.
    """
    directory = statsdir or DEFAULT_STATSDIR
    return directory if directory.endswith("/") else directory + "/"


def checkFileName(name: str) -> None:
    """
    Refuse a C{filegen ... file NAME} that would leave the statistics
    directory (ntpd refuses C{..} components).

    @raise StatisticsError: if C{name} is empty, absolute or has a C{..}
        component.
    """
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise StatisticsError(
            f"filegen file name {name!r} must be a relative name without '..'"
        )


class FileGeneration:
    """
    One statistics file generation set (ntpd's C{FILEGEN}).

    The file written at time I{t} is C{basePath + suffixFor(t)}:

      - C{none}: no suffix;
      - C{pid}: C{.#PID} (the daemon's process ID);
      - C{day}: C{.YYYYMMDD}, the UTC date (a new file at UTC midnight);
      - C{week}: C{.YYYYwWW}, the ISO 8601 year and week (ntpd 4.2.8;
        NTPsec's code uses the day of the year modulo 7, which repeats);
      - C{month}: C{.YYYYMM}; C{year}: C{.YYYY};
      - C{age}: C{.aNNNNNNNN}, the daemon's uptime in seconds at the
        start of the current 24-hour period.

    With C{link} (and a type other than C{none}), C{basePath} is a
    symbolic link to the current file, replaced atomically at each change
    of generation. ntpd makes a hard link instead; like ntpd, a regular
    file found under that name is kept: renamed C{NAME.PIDCn} when it has
    no other link, else unlinked.

    @ivar basePath: the statistics directory prefix and file name.
    @ivar type: the generation type (L{FILEGEN_TYPES}).
    @ivar link: whether to keep the link.
    @ivar path: the file open now, or C{None}.
    """

    _log = Logger()

    def __init__(
        self,
        basePath: str,
        type: str = "day",
        link: bool = True,
        pid: int | None = None,
        startNs: int = 0,
    ) -> None:
        """
        @param basePath: prefix and file name (C{/var/log/ntp/loopstats}).
        @param pid: the process ID for C{pid} files and link conflicts
            (this process's by default).
        @param startNs: when the daemon started, ns since the Unix epoch,
            for C{age} files.
        @raise ValueError: on an unknown type.
        """
        if type not in FILEGEN_TYPES:
            raise ValueError(f"unknown filegen type {type!r}")
        self.basePath = basePath
        self.type = type
        self.link = link
        self.pid = os.getpid() if pid is None else pid
        self.startNs = startNs
        self.path: str | None = None
        self._fd: int | None = None
        self._conflicts = 0
        self._failed: str | None = None

    def __repr__(self) -> str:
        return f"<FileGeneration {self.basePath} type {self.type}>"

    def suffixFor(self, nowNs: int) -> str:
        """
        The suffix of the generation that C{nowNs} (ns since the Unix
        epoch, UTC) falls in.
        """
        kind = self.type
        if kind == "none":
            return ""
        if kind == "pid":
            return f".#{self.pid}"
        if kind == "age":
            uptime = max(0, (int(nowNs) - self.startNs) // NS_PER_SECOND)
            return f".a{uptime - uptime % SECONDS_PER_DAY:08d}"
        when = datetime.fromtimestamp(int(nowNs) // NS_PER_SECOND, timezone.utc)
        if kind == "day":
            return f".{when.year:04d}{when.month:02d}{when.day:02d}"
        if kind == "week":
            year, week, _ = when.isocalendar()
            return f".{year:04d}w{week:02d}"
        if kind == "month":
            return f".{when.year:04d}{when.month:02d}"
        return f".{when.year:04d}"

    def pathFor(self, nowNs: int) -> str:
        """The file that a line written at C{nowNs} goes to."""
        return self.basePath + self.suffixFor(nowNs)

    def write(self, nowNs: int, line: str) -> bool:
        """
        Append one line to the current generation, opening (and linking)
        a new one when the generation changed.

        @param line: the line, without its newline.
        @return: whether it was written; a failure is logged once until a
            write succeeds again.
        """
        path = self.pathFor(nowNs)
        try:
            if path != self.path or self._fd is None:
                self._open(path)
            assert self._fd is not None
            _writeAll(self._fd, (line + "\n").encode("utf-8", "replace"))
        except OSError as e:
            self._failure(path, e)
            return False
        self._failed = None
        return True

    def close(self) -> None:
        """
        Close the file; the next L{write} opens it again (SIGHUP: log
        rotation).
        """
        fd, self._fd = self._fd, None
        self.path = None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _open(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # A line cut short (a crash, a full disk): end it, so that
                # ours stays whole.
                _writeAll(fd, b"\n")
        except OSError:
            os.close(fd)
            raise
        self.close()
        self._fd = fd
        self.path = path
        if self.link and self.type != "none":
            self._linkTo(path)

    def _linkTo(self, path: str) -> None:
        link = self.basePath
        try:
            info: os.stat_result | None = os.lstat(link)
        except FileNotFoundError:
            info = None
        except OSError as e:
            self._log.warn("Cannot link {link}: {error}", link=link, error=e.strerror)
            return
        try:
            if info is not None and not stat.S_ISLNK(info.st_mode):
                if not stat.S_ISREG(info.st_mode):
                    self._log.warn(
                        "Cannot link {link} to the current statistics file: it "
                        "exists and is not a regular file",
                        link=link,
                    )
                    return
                if info.st_nlink <= 1:
                    saved = f"{link}.{self.pid}C{self._conflicts}"
                    self._conflicts += 1
                    os.rename(link, saved)
                    self._log.info(
                        "Saved {link} as {saved} to link it to the current "
                        "statistics file",
                        link=link,
                        saved=saved,
                    )
                else:
                    os.unlink(link)
            directory, name = os.path.split(link)
            temporary = os.path.join(directory, f".{name}.link")
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass
            os.symlink(os.path.basename(path), temporary)
            os.replace(temporary, link)
        except OSError as e:
            self._log.warn(
                "Cannot link {link} to {path}: {error}",
                link=link,
                path=path,
                error=e.strerror,
            )

    def _failure(self, path: str, error: OSError) -> None:
        key = f"{path}:{error.errno}"
        if self._failed == key:
            return
        self._failed = key
        self._log.warn(
            "Cannot write statistics file {path}: {error}; its lines are lost "
            "until it can be written",
            path=path,
            error=error.strerror or str(error),
        )


def _writeAll(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "short write")
        view = view[written:]


# -- the daemon observer -------------------------------------------------


@dataclass(slots=True)
class _RawState:
    """What C{rawstats} remembers about one association."""

    sentAtResponse: int
    sentSeen: int
    bogons: int = 0


@implementer(IDaemonObserver)
class StatisticsWriter:
    """
    The daemon observer (see L{NTPDaemon.addObserver
    <ntpservice.daemon.NTPDaemon.addObserver>}) that writes the statistics
    files.

    @ivar daemon: the L{NTPDaemon<ntpservice.daemon.NTPDaemon>}.
    @ivar generations: the L{FileGeneration} of each statistics name
        written.
    @ivar ignored: statistics names the configuration enables that
        ntpservice does not write.
    """

    _log = Logger()

    def __init__(
        self,
        daemon: Any,
        generations: Mapping[str, FileGeneration],
        ignored: Iterable[str] = (),
        interval: float = SYSSTATS_INTERVAL,
    ) -> None:
        """
        @param daemon: the daemon: its C{clock}, C{reactor}, C{engine},
            C{events} and C{counters} are read.
        @param generations: by statistics name (L{WRITTEN}).
        @param ignored: see L{ignored}.
        @param interval: seconds between C{sysstats} lines.
        """
        self.daemon = daemon
        self.generations = dict(generations)
        self.ignored = tuple(sorted(ignored))
        self.interval = interval
        self._raw: dict[int, _RawState] = {}
        self._timer: LoopingCall | None = None

    @classmethod
    def fromConfiguration(
        cls, configuration: Any, daemon: Any, pid: int | None = None
    ) -> StatisticsWriter | None:
        """
        The writer a configuration asks for: the names of
        C{configuration.statistics}, each with its last C{filegen} line,
        under C{statsdir}.

        @return: C{None} when no statistics are enabled, or after
            C{disable stats} (ntpd's C{stats} flag, on unless disabled).
        @raise StatisticsError: if a C{filegen} file name is not allowed.
        """
        enabled = set(configuration.statistics)
        if not enabled or not configuration.isEnabled("stats", default=True):
            return None
        statsdir = configuration.statsdir
        prefix = statsPrefix(statsdir.path if statsdir is not None else None)
        filegens = {f.name: f for f in configuration.filegens}
        startNs = int(daemon.clock.now())
        generations = {}
        for name in sorted(enabled & set(WRITTEN)):
            filegen = filegens.get(name)
            fileName = filegen.file if filegen is not None else name
            checkFileName(fileName)
            generations[name] = FileGeneration(
                prefix + fileName,
                filegen.type if filegen is not None else "day",
                filegen.link if filegen is not None else True,
                pid=pid,
                startNs=startNs,
            )
        return cls(daemon, generations, ignored=enabled - set(WRITTEN))

    # -- life cycle ------------------------------------------------------

    def start(self) -> None:
        """
        Create the statistics directory if it is missing, observe the
        daemon and start the hourly C{sysstats} timer.
        """
        for name in self.ignored:
            self._log.warn(
                "Statistics {name} are not written by ntpservice; "
                "'statistics {name}' has no effect",
                name=name,
            )
        directories = {os.path.dirname(g.basePath) for g in self.generations.values()}
        for directory in sorted(d for d in directories if d):
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as e:
                self._log.warn(
                    "Cannot create the statistics directory {directory}: {error}",
                    directory=directory,
                    error=e.strerror,
                )
        # The counters' statistics interval (ntpq's sysstats shows it too)
        # starts with the first sysstats line's.
        self.daemon.counters.reset(self._now())
        self.daemon.addObserver(self)
        if "sysstats" in self.generations:
            self._timer = LoopingCall(self.writeSysstats)
            self._timer.clock = self.daemon.reactor
            self._timer.start(self.interval, now=False)
        self._log.info(
            "Writing statistics {names} in {directory}",
            names=" ".join(sorted(self.generations)) or "(none)",
            directory=", ".join(sorted(directories)) or "(none)",
        )

    def stop(self) -> None:
        """
        Stop observing and close every file.
        """
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self._timer = None
        try:
            self.daemon.removeObserver(self)
        except ValueError:
            pass
        for generation in self.generations.values():
            generation.close()

    def reopen(self) -> None:
        """
        Close every file: the next line reopens it (after log rotation).
        """
        for generation in self.generations.values():
            generation.close()

    # -- observer events -------------------------------------------------

    def associationEvent(self, associd: int, address: str, event: str) -> None:
        if event == "demobilize":
            self._raw.pop(associd, None)

    def peerPacket(
        self,
        association: Any,
        packet: Any,
        result: Any,
        t1: NTPTimestamp | None,
        t4: NTPTimestamp,
        datagram: Any,
    ) -> None:
        now = self._now()
        raw = self.generations.get("rawstats")
        if raw is not None:
            line = self._rawLine(now, association, packet, result, t1, t4, datagram)
            if line is not None:
                raw.write(now, line)
        peers = self.generations.get("peerstats")
        update = result.update
        if peers is not None and update is not None:
            # The status word ntpq reads at this moment: the daemon's one
            # snapshot, its events counted by the daemon.
            snapshot = peerSnapshot(self.daemon.engine, association, self.daemon.events)
            peers.write(
                now,
                peerstatsLine(
                    now,
                    association.address,
                    snapshot.statusWord,
                    update.offset,
                    update.delay,
                    update.dispersion,
                    update.jitter,
                ),
            )

    def clockSample(self, associd: int, address: str, timecode: str) -> None:
        clocks = self.generations.get("clockstats")
        if clocks is None or not timecode:
            return
        now = self._now()
        clocks.write(now, clockstatsLine(now, address, timecode))

    def clockUpdated(self, now: float) -> None:
        loops = self.generations.get("loopstats")
        if loops is None:
            return
        nowNs = self._now()
        m = systemMeasurements(self.daemon.engine, nowNs)
        loops.write(
            nowNs,
            loopstatsLine(nowNs, m.offset, m.frequencyPPM, m.clockJitter, m.wander, m.timeConstant),
        )

    def writeSysstats(self) -> None:
        """
        Write a C{sysstats} line with the counters since the last one, and
        start counting again (the hourly timer calls this).
        """
        generation = self.generations.get("sysstats")
        now = self._now()
        counters = self.daemon.counters
        last = counters.resetAt if counters.resetAt is not None else now
        delta = counters.reset(now)
        elapsed = round((now - last) / NS_PER_SECOND)
        if generation is not None:
            generation.write(now, sysstatsLine(now, elapsed, sysstatsCounts(delta)))

    # -- helpers ----------------------------------------------------------

    def _now(self) -> int:
        return int(self.daemon.clock.now())

    def _rawLine(
        self,
        now: int,
        association: Any,
        packet: Any,
        result: Any,
        t1: NTPTimestamp | None,
        t4: NTPTimestamp,
        datagram: Any,
    ) -> str | None:
        """
        The C{rawstats} line of a packet, NTPsec's way: every accepted
        packet, and only the first rejected one per request.
        """
        sent = association.sent
        state = self._raw.get(association.associd)
        if state is None:
            state = _RawState(sentAtResponse=max(0, sent - 1), sentSeen=sent)
            self._raw[association.associd] = state
        if sent != state.sentSeen:
            state.sentSeen = sent
            state.bogons = 0
        outstanding = sent - state.sentAtResponse
        if result.accepted:
            state.sentAtResponse = sent
            lost, flash = outstanding - 1, 0
        else:
            state.bogons += 1
            if state.bogons > 1:
                return None
            lost, flash = outstanding, result.flash
        return rawstatsLine(
            now,
            association.address,
            getattr(datagram, "localAddress", None)
            or getattr(datagram, "destination", None),
            t1,
            packet,
            t4,
            lost=lost,
            bogons=state.bogons,
            flash=flash,
        )
