# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.refclocks.nmea}: NMEA sentences from a serial line
(a pty here), and the receiver's own pulses on a PPS device (the fake
device of L{tests.refclocks.test_pps}: the kernel here offers none).
"""

from __future__ import annotations

import calendar
import functools
import os
import pty

import datetime

from twisted.internet import reactor, task
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from ntpservice import config
from ntpservice.core.counters import PacketCounters
from ntpservice.daemon import NTPDaemon
from ntpservice.net.multiplexer import ModeTable
from ntpservice.plugins import enabledPlugins, loadModePlugins
from ntpservice.refclocks import (
    RefClockConfigError,
    RefClockOptions,
    loadRefClockPlugins,
    refClockLines,
)
from ntpservice.refclocks.nmea import (
    PPS_DISPERSION,
    NmeaClockFactory,
    checksumOK,
    parseSentence,
)
from tests.helpers import FakeClock
from tests.refclocks.test_plugins import RecordingSink
from tests.refclocks.test_pps import FakeDevice

T = calendar.timegm((2026, 12, 6, 22, 51, 7))


def sentence(body: str) -> str:
    return f"${body}*{functools.reduce(lambda a, c: a ^ ord(c), body, 0):02X}"


RMC = sentence("GPRMC,225107.00,A,4807.038,N,01131.000,E,0.0,0.0,061226,,,A")
ZDA = sentence("GPZDA,225107.50,06,12,2026,00,00")
GGA = sentence("GPGGA,225107.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")


class ParseTests(SynchronousTestCase):
    """
    RMC, ZDA and GGA give the reference time; bad ones are counted.
    """

    def test_sentences(self) -> None:
        """
        RMC and ZDA carry date and time; GGA takes today's date.
        """
        self.assertEqual(parseSentence(RMC, T + 0.2), ("ok", T))
        self.assertEqual(parseSentence(ZDA, T + 0.2), ("ok", T + 0.5))
        self.assertEqual(parseSentence(GGA, T + 0.2), ("ok", T))

    def test_refused(self) -> None:
        """
        A bad checksum is C{badformat}; an RMC without a fix (status V)
        and a GGA of quality 0 are C{baddata}; other sentences are
        ignored.
        """
        self.assertFalse(checksumOK(RMC[:-1] + "0"))
        self.assertEqual(parseSentence(RMC.replace("*", "0*"), T)[0], "badformat")
        self.assertEqual(
            parseSentence(sentence("GPRMC,225107.00,V,,,,,,,061226,,,N"), T)[0], "baddata"
        )
        self.assertEqual(
            parseSentence(sentence("GPGGA,225107.00,,,,,0,00,,,M,,M,,"), T)[0], "baddata"
        )
        self.assertEqual(parseSentence(sentence("GPGSV,1,1,00"), T)[0], "ignored")


class ClockTests(SynchronousTestCase):
    """
    One sample a second, the median at each poll, time1 added.
    """

    def test_median(self) -> None:
        """
        The first sentence of each second is a sample (offset reference -
        receive); the median plus time1 is delivered at the poll.
        """
        sink = RecordingSink()
        clock = NmeaClockFactory().build(RefClockOptions(time1=0.1), sink, None)
        for second, delay in ((0, 0.12), (1, 0.10), (2, 0.14)):
            rmc = sentence(
                f"GPRMC,22510{7 + second}.00,A,4807.038,N,01131.000,E,0.0,0.0,061226,,,A"
            )
            gga = sentence(
                f"GPGGA,22510{7 + second}.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"
            )
            clock.sentenceReceived(rmc, T + second + delay)
            clock.sentenceReceived(gga, T + second + delay + 0.01)
        clock.poll()
        [(offset, dispersion, leap, when)] = sink.samples
        self.assertAlmostEqual(offset, -0.12 + 0.1, places=6)
        self.assertEqual((leap, when), (0, T + 0.12))
        clock.poll()
        self.assertEqual(clock.noreply, 1)

    def test_badBaud(self) -> None:
        """
        A speed the driver does not offer is refused with the line.
        """
        e = self.assertRaises(
            RefClockConfigError, refClockLines,
            config.parseString("refclock nmea unit 0 baud 1234\n", "t.conf"),
        )
        self.assertTrue(str(e).startswith("t.conf:1: nmea baud must be one of"), str(e))


class PtyTests(TestCase):
    """
    Sentences written to a pty reach the driver.
    """

    def test_pty(self) -> None:
        """
        The driver opens the pty's slave raw and reads the sentences the
        master side writes.
        """
        master, slave = pty.openpty()
        path = os.ttyname(slave)
        self.addCleanup(os.close, master)
        self.addCleanup(os.close, slave)
        sink = RecordingSink()
        clock = NmeaClockFactory().build(
            RefClockOptions(path=path, baud=4800), sink, reactor
        )
        clock.start()
        self.addCleanup(clock.stop)
        os.write(master, (RMC + "\r\n" + GGA + "\r\n").encode())

        def check() -> None:
            self.assertEqual(clock.timecode, RMC)
            clock.poll()
            self.assertEqual(len(sink.samples), 1)

        return task.deferLater(reactor, 0.3, check)


def rmcAt(second: float) -> str:
    """An RMC sentence (a fix) for the whole second C{second}."""
    t = datetime.datetime.fromtimestamp(int(second), datetime.timezone.utc)
    return sentence(
        f"GPRMC,{t.strftime('%H%M%S')}.00,A,4807.038,N,01131.000,E,0.0,0.0,"
        f"{t.strftime('%d%m%y')},,,A"
    )


class OwnPpsTests(SynchronousTestCase):
    """
    C{flag1 1}: the receiver's pulses on a PPS device time the sentences'
    seconds, as NTPsec's NMEA driver does.
    """

    def clock(self, **options: object) -> tuple[object, RecordingSink, FakeDevice]:
        sink = RecordingSink()
        device = FakeDevice()
        options.setdefault("flags", ((1, True),))
        clock = NmeaClockFactory().build(
            RefClockOptions(**options), sink, None  # type: ignore[arg-type]
        )
        # As start() leaves it, without the serial device.
        clock._fetch, clock._ppsFd = device.fetch, device.open(clock.ppsPath)
        return clock, sink, device

    def test_ppsPath(self) -> None:
        """
        With C{flag1 1} the PPS device is C{ppspath}, by default
        C{/dev/gpsppsU} as in ntpd; without flag1 no PPS is read.
        """
        factory = NmeaClockFactory()
        sink = RecordingSink()
        self.assertEqual(
            factory.build(RefClockOptions(unit=2, flags=((1, True),)), sink, None).ppsPath,
            "/dev/gpspps2",
        )
        self.assertEqual(
            factory.build(
                RefClockOptions(flags=((1, True),), ppspath="/dev/pps0"), sink, None
            ).ppsPath,
            "/dev/pps0",
        )
        self.assertIsNone(factory.build(RefClockOptions(ppspath="/dev/pps0"), sink, None).ppsPath)

    def test_ppsDeviceMissing(self) -> None:
        """
        A PPS device that cannot be opened stops the clock's start with an
        error naming it.
        """
        clock = NmeaClockFactory().build(
            RefClockOptions(path=os.devnull, ppspath="/nonexistent/pps0", flags=((1, True),)),
            RecordingSink(), None,
        )
        e = self.assertRaises(OSError, clock.start)
        self.assertIn("cannot open the PPS device /nonexistent/pps0", str(e))

    def test_pulsesTimeTheSeconds(self) -> None:
        """
        Sentences read 0.1-0.3 s after their second, each after a pulse
        0.4 ms after the second began: the sample is the pulse's (-0.4 ms,
        plus time1), not the sentences' latency, with the PPS's dispersion;
        a pulse seen again (no new edge) is not paired.
        """
        clock, sink, device = self.clock(time1=0.0001, time2=0.2)
        for second, delay in ((0, 0.3), (1, 0.1), (2, 0.2)):
            device.edges = (second + 1, T + second + 0.0004, 0, 0.0)
            clock.sentenceReceived(rmcAt(T + second), T + second + delay)
        clock.sentenceReceived(rmcAt(T + 3), T + 3.2)  # the same edge as before
        clock.poll()
        [(offset, dispersion, leap, when)] = sink.samples
        self.assertAlmostEqual(offset, -0.0004 + 0.0001, places=6)
        self.assertEqual((dispersion, leap, clock.pulses), (PPS_DISPERSION, 0, 3))
        self.assertAlmostEqual(when, T + 1.0004, places=6)

    def test_gate(self) -> None:
        """
        A pulse more than L{PPS_GATE} before the sentence, or after it, is
        not its second's: without pairs the poll delivers the sentences'
        median plus time2 (NTPsec's serial fudge).
        """
        clock, sink, device = self.clock(time1=0.0001, time2=0.05)
        device.edges = (1, T - 0.5, 0, 0.0)
        clock.sentenceReceived(rmcAt(T), T + 0.5)
        device.edges = (2, T + 1.7, 0, 0.0)
        clock.sentenceReceived(rmcAt(T + 1), T + 1.6)
        clock.poll()
        [(offset, dispersion, leap, when)] = sink.samples
        self.assertAlmostEqual(offset, -0.5 + 0.05, places=6)
        self.assertEqual(clock.pulses, 0)

    def test_clearEdge(self) -> None:
        """
        C{flag2 1} pairs the clear edge instead of the assert edge.
        """
        clock, sink, device = self.clock(flags=((1, True), (2, True)))
        device.edges = (1, T + 0.0004, 1, T + 0.0002)
        clock.sentenceReceived(rmcAt(T), T + 0.2)
        clock.poll()
        self.assertAlmostEqual(sink.samples[0][0], -0.0002, places=6)


class OwnPpsDaemonTests(SynchronousTestCase):
    """
    The daemon with an NMEA receiver and its own pulses, no prefer peer.
    """

    def test_selectedWithoutPrefer(self) -> None:
        """
        C{refclock nmea ... ppspath /dev/pps0 flag1 1} alone: the pulses
        count without a prefer peer (the sentences number the seconds), the
        association is selected and its offset is the pulses' (-0.4 ms),
        not the sentences' latency (0.15 s).
        """
        configuration = config.parseString(
            f"refclock nmea unit 0 path {os.devnull} ppspath /dev/pps0 flag1 1 "
            "minpoll 4 maxpoll 4\n",
            "t.conf",
        )
        clock = FakeClock(T * 10**9)
        fakeReactor = MemoryReactorClock()
        device = FakeDevice()
        factory = NmeaClockFactory()
        built = []

        class WithFakePps(NmeaClockFactory):
            def build(self, options, sink, reactor):  # type: ignore[no-untyped-def]
                nmea = factory.build(options, sink, reactor)
                nmea._fetch, nmea._openPps = device.fetch, device.open
                built.append(nmea)
                return nmea

        drivers = [p for p in loadRefClockPlugins() if p.driverType != 20] + [WithFakePps()]
        daemon = NTPDaemon(
            configuration, clock, fakeReactor, PacketCounters(), ModeTable(),
            enabledPlugins(loadModePlugins(), configuration), refclocks=drivers,
            clockAdjust=False,
        )
        daemon.start()
        self.addCleanup(daemon.stop)
        [nmea] = built
        for _ in range(200):
            clock.time += 10**9
            second = clock.time // 10**9
            device.edges = (int(second), second + 0.0004, 0, 0.0)
            nmea.sentenceReceived(rmcAt(second), second + 0.15)
            fakeReactor.advance(1)
        [association] = list(daemon.engine.associations)
        self.assertNotEqual(association.reach, 0)
        self.assertAlmostEqual(association.offset, -0.0004, places=5)
        self.assertEqual(daemon.engine.systemPeer, association.associd)
        self.assertEqual(nmea.pulses, 200)
