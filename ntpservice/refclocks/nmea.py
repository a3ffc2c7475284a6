# -*- test-case-name: tests.refclocks.test_nmea -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
ntpd's generic NMEA GPS driver (type 20, C{server 127.127.20.u} or NTPsec's
C{refclock nmea unit u}): the time a GPS receiver writes on a serial line
(or a pty), read directly.

    refclock nmea unit 0 path /dev/ttyS0 baud 9600 time1 0.120 refid GPS

The device is C{path}, by default C{/dev/gpsU} as in ntpd; C{baud} sets its
speed (default 9600; 4800 to 115200). Sentences with a valid checksum are
used: C{RMC} (time and date, only with status C{A}), C{ZDA} (time and date)
and C{GGA} (time, with today's date, only with a fix); the first of each
second gives the sample (the cycle's other sentences are the same second).
A sentence's time is the start of its second, but the receiver sends it
later, and the line is slow: C{time1} is that latency, added to the
offsets (measure it once against a good server). Samples are kept as they
come and their median is delivered at each poll, as ntpd does. Checksum
errors count as C{badformat}, sentences without a valid fix as C{baddata}.

The receiver's pulse-per-second output gives the precise start of each
second, and the sentences say which second it is: with C{flag1 1} the
driver reads the pulses on the PPS device C{ppspath} (default
C{/dev/gpsppsU}, as in ntpd; the kernel's RFC 2783 API, as the PPS driver
reads it), as NTPsec's NMEA driver does:

    refclock nmea unit 0 path /dev/ttyS0 ppspath /dev/pps0 flag1 1 refid GPS

Each second's first sentence is then paired with the last assert edge
(C{flag2 1}: the clear edge) if that edge is new and came at most
L{PPS_GATE} before the sentence was read: the sample is the sentence's
whole second minus the edge, its dispersion the PPS's. No prefer peer is
needed (unlike the PPS driver alone): the sentence numbers the second. A
poll with paired samples delivers their median plus C{time1} (NTPsec's
PPS fudge); a poll without (no pulse, or pulses out of the gate) delivers
the sentences' own median plus C{time2} (NTPsec's serial end-of-line
fudge). Without C{flag1}, C{time1} is the sentences' latency, as above.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import os
import statistics
import termios
from typing import Any, Callable

from zope.interface import implementer

from twisted.internet import abstract, fdesc
from twisted.plugin import IPlugin

from ntpservice.interfaces import IRefClock, IRefClockFactory, IRefClockSink
from ntpservice.refclocks.pps import PRECISION as PPS_PRECISION
from ntpservice.refclocks.pps import Edge, linuxFetch

NMEA_DRIVER_TYPE = 20
DEFAULT_BAUD = 9600
BAUDS = {
    4800: termios.B4800,
    9600: termios.B9600,
    19200: termios.B19200,
    38400: termios.B38400,
    57600: termios.B57600,
    115200: termios.B115200,
}
PRECISION = -10
"""log2 s: a serial line's NMEA timing, about a millisecond."""
DISPERSION = 2.0**PRECISION
PPS_DISPERSION = 2.0**PPS_PRECISION
PPS_GATE = 0.9
"""Seconds: a pulse is paired with a sentence read at most this long after
it (the sentence of a second comes after its pulse, by the receiver's and
the line's latency)."""


def checksumOK(sentence: str) -> bool:
    """Whether C{$BODY*HH} has a correct checksum."""
    if not sentence.startswith("$") or "*" not in sentence:
        return False
    body, _, given = sentence[1:].partition("*")
    computed = functools.reduce(lambda a, c: a ^ ord(c), body, 0)
    try:
        return int(given[:2], 16) == computed
    except ValueError:
        return False


def _hms(field: str) -> tuple[int, int, float] | None:
    if len(field) < 6 or not field[:6].isdigit():
        return None
    try:
        return int(field[0:2]), int(field[2:4]), float(field[4:])
    except ValueError:
        return None


def parseSentence(sentence: str, today: float) -> tuple[str, float | None]:
    """
    The reference time a sentence gives.

    @param today: the local time now (seconds), for the date of C{GGA}.
    @return: C{("ok", seconds)}, C{("badformat", None)} for a bad checksum
        or field, C{("baddata", None)} for a sentence without a valid fix,
        C{("ignored", None)} for other sentences.
    """
    sentence = sentence.strip()
    if not sentence.startswith("$"):
        return "ignored", None
    if not checksumOK(sentence):
        return "badformat", None
    fields = sentence[1:].partition("*")[0].split(",")
    kind = fields[0][2:]
    try:
        if kind == "RMC":
            if len(fields) < 10:
                return "badformat", None
            if fields[2] != "A":
                return "baddata", None
            hms, date = _hms(fields[1]), fields[9]
            if hms is None or len(date) != 6 or not date.isdigit():
                return "badformat", None
            day, month, year = int(date[0:2]), int(date[2:4]), 2000 + int(date[4:6])
        elif kind == "ZDA":
            if len(fields) < 5:
                return "badformat", None
            hms = _hms(fields[1])
            if hms is None:
                return "badformat", None
            day, month, year = int(fields[2]), int(fields[3]), int(fields[4])
        elif kind == "GGA":
            if len(fields) < 7:
                return "badformat", None
            if fields[6] in ("", "0"):
                return "baddata", None
            hms = _hms(fields[1])
            if hms is None:
                return "badformat", None
            t = datetime.datetime.fromtimestamp(int(today), datetime.timezone.utc)
            day, month, year = t.day, t.month, t.year
        else:
            return "ignored", None
        hour, minute, second = hms
        whole = calendar.timegm((year, month, day, hour, minute, 0))
    except (ValueError, OverflowError):
        return "badformat", None
    reference = whole + second
    if kind == "GGA" and reference - today > 43200:
        # Just after midnight UTC on our clock, the GPS's "today" was
        # yesterday.
        reference -= 86400
    return "ok", reference


class _Device(abstract.FileDescriptor):
    """The serial device, read as the reactor says it is readable."""

    def __init__(self, fd: int, clock: "NmeaRefClock", reactor: Any) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        self._fd = fd
        self._clock = clock

    def fileno(self) -> int:
        return self._fd

    def doRead(self) -> Any:
        return fdesc.readFromFD(self._fd, self._clock.dataReceived)

    def connectionLost(self, reason: Any) -> None:
        abstract.FileDescriptor.connectionLost(self, reason)


@implementer(IRefClock)
class NmeaRefClock:
    """
    One NMEA receiver: sentences read as they come, a sample per second,
    the median delivered at each poll.

    @ivar noreply: polls without a sample.
    @ivar badformat: sentences with a bad checksum or field.
    @ivar baddata: sentences without a valid fix.
    @ivar timecode: the last sentence used.
    @ivar ppsPath: the PPS device (C{flag1 1}), or C{None}.
    @ivar pulses: sentences paired with a pulse.
    """

    def __init__(
        self,
        path: str,
        baud: int,
        options: Any,
        sink: IRefClockSink,
        reactor: Any,
        ppsPath: str | None = None,
        fetch: Callable[[int], Edge] = linuxFetch,
        opener: Callable[[str], int] | None = None,
    ) -> None:
        self.path = path
        self.baud = baud
        self._options = options
        self._sink = sink
        self._reactor = reactor
        self._buffer = b""
        self._lastSecond: float | None = None
        self._samples: list[tuple[float, float]] = []
        self._device: _Device | None = None
        self.noreply = self.badformat = self.baddata = 0
        self.timecode = ""
        self.ppsPath = ppsPath
        self._fetch = fetch
        self._openPps = opener or (lambda p: os.open(p, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK))
        self._ppsFd: int | None = None
        self._lastPulse: int | None = None
        self._ppsSamples: list[tuple[float, float]] = []
        self.pulses = 0

    def start(self) -> None:
        """
        Open the device raw at L{baud}, 8N1, and read it (and open the PPS
        device, with C{flag1 1}).

        @raise OSError: when either cannot be opened.
        """
        if self.ppsPath is not None:
            try:
                self._ppsFd = self._openPps(self.ppsPath)
            except OSError as e:
                raise OSError(f"cannot open the PPS device {self.ppsPath}: {e}") from e
        fd = os.open(self.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            attributes = termios.tcgetattr(fd)
            speed = BAUDS[self.baud]
            attributes[0] = termios.IGNPAR  # iflag
            attributes[1] = 0  # oflag
            attributes[2] = termios.CS8 | termios.CREAD | termios.CLOCAL  # cflag
            attributes[3] = 0  # lflag: raw
            attributes[4] = attributes[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attributes)
        except termios.error:
            # Not a terminal (a FIFO or a file in tests): read it as it is.
            pass
        self._device = _Device(fd, self, self._reactor)
        self._device.startReading()

    def stop(self) -> None:
        if self._device is not None:
            self._device.stopReading()
            os.close(self._device.fileno())
            self._device = None
        if self._ppsFd is not None:
            try:
                os.close(self._ppsFd)
            except OSError:
                pass
            self._ppsFd = None

    def dataReceived(self, data: bytes) -> None:
        """Bytes from the device: complete lines are sentences."""
        now = self._sink.now()
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > 4096:
            self._buffer = b""
        for line in lines:
            self.sentenceReceived(line.decode("ascii", "replace").strip(), now)

    def sentenceReceived(self, sentence: str, received: float) -> None:
        """One sentence, read at local time C{received}."""
        status, reference = parseSentence(sentence, received)
        if status == "badformat":
            self.badformat += 1
            return
        if status == "baddata":
            self.baddata += 1
            return
        if reference is None:
            return
        second = float(int(reference))
        if self._lastSecond is not None and second <= self._lastSecond:
            # The cycle's other sentences (or an older one): one sample a
            # second.
            return
        self._lastSecond = second
        self.timecode = sentence
        self._samples.append((reference - received, received))
        edge = self._pulse(received)
        if edge is not None:
            self.pulses += 1
            self._ppsSamples.append((second - edge, edge))

    def _pulse(self, received: float) -> float | None:
        """
        The new edge on the PPS device that started the second of a
        sentence read at C{received}, or C{None}.
        """
        if self._ppsFd is None:
            return None
        try:
            aseq, atime, cseq, ctime = self._fetch(self._ppsFd)
        except OSError:
            return None
        sequence, edge = (cseq, ctime) if self._options.flag(2) else (aseq, atime)
        if sequence == self._lastPulse or edge == 0:
            return None
        if not 0.0 <= received - edge <= PPS_GATE:
            return None
        self._lastPulse = sequence
        return edge

    def poll(self) -> None:
        """
        Deliver the median of the samples since the last poll: those paired
        with a pulse when there are (plus C{time1}), else the sentences'
        own (plus C{time1}, or C{time2} with the PPS on).
        """
        samples, self._samples = self._samples, []
        ppsSamples, self._ppsSamples = self._ppsSamples, []
        if ppsSamples:
            samples, dispersion, fudge = ppsSamples, PPS_DISPERSION, self._options.time1
        elif self.ppsPath is not None:
            dispersion, fudge = DISPERSION, self._options.time2
        else:
            dispersion, fudge = DISPERSION, self._options.time1
        if not samples:
            self.noreply += 1
            return
        samples.sort()
        offset, received = samples[len(samples) // 2]
        jitter = statistics.pstdev(s[0] for s in samples) if len(samples) > 1 else 0.0
        self._sink.sample(offset + (fudge or 0.0), max(dispersion, jitter), 0, received)


@implementer(IPlugin, IRefClockFactory)
class NmeaClockFactory:
    """ntpd's driver 20, the generic NMEA GPS receiver."""

    name = "nmea"
    driverType = NMEA_DRIVER_TYPE
    description = "NMEA GPS receiver on a serial line"
    refid = b"GPS\0"
    stratum = 0
    precision = PRECISION
    lastResort = False
    burst = (8, 1.0)

    def checkOptions(self, options: Any) -> None:
        """
        Refuse a speed the driver does not offer.

        @raise ValueError: saying which speeds it offers.
        """
        baud = options.baud or DEFAULT_BAUD
        if baud not in BAUDS:
            raise ValueError(
                f"nmea baud must be one of {', '.join(map(str, sorted(BAUDS)))}, "
                f"not {baud}"
            )

    def build(self, options: Any, sink: IRefClockSink, reactor: Any) -> NmeaRefClock:
        """
        A receiver on C{options.path} (default C{/dev/gpsU}) at
        C{options.baud}, with C{flag1} its pulses on C{options.ppspath}
        (default C{/dev/gpsppsU}).

        @raise ValueError: for a speed the driver does not offer.
        """
        self.checkOptions(options)
        baud = options.baud or DEFAULT_BAUD
        path = options.path or f"/dev/gps{options.unit}"
        ppsPath = (options.ppspath or f"/dev/gpspps{options.unit}") if options.flag(1) else None
        return NmeaRefClock(path, baud, options, sink, reactor, ppsPath=ppsPath)


nmeaClockFactory = NmeaClockFactory()
