# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.refclocks.nmea}: NMEA sentences from a serial line
(a pty here).
"""

from __future__ import annotations

import calendar
import functools
import os
import pty

from twisted.internet import reactor, task
from twisted.trial.unittest import SynchronousTestCase, TestCase

from ntpservice import config
from ntpservice.refclocks import RefClockConfigError, RefClockOptions, refClockLines
from ntpservice.refclocks.nmea import NmeaClockFactory, checksumOK, parseSentence
from tests.refclocks.test_plugins import RecordingSink

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
