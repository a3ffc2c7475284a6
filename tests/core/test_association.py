# -*- test-case-name: tests.core.test_association -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.association}: the peer and poll processes, with
a hand-driven server (an L{AssociationPair} in the style of h11's
ConnectionPair: requests go through a real server reply builder).
"""

from __future__ import annotations

import random
from dataclasses import replace

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.association import (
    BURST_COUNT,
    TEST_BOGUS,
    TEST_DUPLICATE,
    TEST_HEADER,
    TEST_NEGATIVE_DELAY,
    TEST_STRATUM,
    TEST_UNSYNC,
    UNREACH,
    Association,
    AssociationSettings,
    AssociationTable,
)
from ntpservice.core.packet import MODE_SERVER, NTPPacket
from ntpservice.core.server import buildServerReply, stampTransmit
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp

T0 = 1_790_000_000.0
SERVER = SystemVariables(leap=0, stratum=1, refid=b"GPS\0", precision=-20)


def ts(seconds: float) -> NTPTimestamp:
    return NTPTimestamp.fromUnixNanoseconds(round(seconds * 1e9))


class AssociationPair:
    """
    A client association and a server whose clock is C{serverOffset}
    seconds ahead, joined by a link of C{delay} seconds each way.
    """

    def __init__(self, settings: AssociationSettings | None = None,
                 serverOffset: float = 0.0, delay: float = 0.01,
                 server: SystemVariables = SERVER) -> None:
        self.settings = settings or AssociationSettings("192.0.2.1", iburst=True)
        self.association = Association.mobilize(
            1, self.settings, T0, -20, random.Random(1)
        )
        self.serverOffset = serverOffset
        self.delay = delay
        self.server = server
        self.now = T0
        self.lastRequest: NTPPacket | None = None

    def poll(self) -> NTPPacket | None:
        """Advance to the next poll and send."""
        self.now = max(self.now, self.association.nextPoll)
        transmission = self.association.poll(self.now, SystemVariables())
        if transmission is None:
            return None
        self.lastRequest = transmission.packet
        return transmission.packet

    def reply(self, request: NTPPacket, **changes: object) -> NTPPacket:
        """The server's reply to C{request}, built by the real server code."""
        arrival = self.now + self.delay + self.serverOffset
        reply = buildServerReply(request, self.server, ts(arrival), int(arrival * 1e9))
        stamped = stampTransmit(reply.encode(), ts(arrival + 0.0001))
        packet = NTPPacket.decode(stamped)
        return replace(packet, **changes) if changes else packet

    def deliver(self, reply: NTPPacket):  # type: ignore[no-untyped-def]
        t4 = self.now + 2 * self.delay + 0.0001
        return self.association.receive(reply, ts(t4), t4, -20)

    def exchange(self, **changes: object):  # type: ignore[no-untyped-def]
        request = self.poll()
        assert request is not None
        return self.deliver(self.reply(request, **changes))


class OnWireTests(SynchronousTestCase):
    """
    The on-wire protocol: offset and delay from four timestamps, and the
    origin check.
    """

    def test_offsetAndDelay(self) -> None:
        """
        A server 25 ms ahead over a symmetric 10 ms link measures +25 ms
        offset and 20 ms delay.
        """
        pair = AssociationPair(serverOffset=0.025)
        result = pair.exchange()
        self.assertTrue(result.accepted)
        self.assertIsNotNone(result.update)
        self.assertLess(abs(result.update.offset - 0.025), 1e-6)
        self.assertLess(abs(result.update.delay - 0.020), 1e-6)
        self.assertEqual(pair.association.reach & 1, 1)

    def test_randomNonce(self) -> None:
        """
        The request's transmit timestamp is a random nonce, not the time.
        """
        pair = AssociationPair()
        first = pair.poll()
        assert first is not None
        self.assertGreater(abs(first.xmt - ts(T0)), 1000)

    def test_bogus(self) -> None:
        """
        A reply whose origin is not our nonce (a forgery, or an answer to
        another request) is dropped (test 2).
        """
        pair = AssociationPair()
        request = pair.poll()
        assert request is not None
        forged = pair.reply(request, org=NTPTimestamp(12345))
        result = pair.deliver(forged)
        self.assertFalse(result.accepted)
        self.assertEqual(result.flash, TEST_BOGUS)
        self.assertTrue(pair.deliver(pair.reply(request)).accepted)

    def test_replay(self) -> None:
        """
        The same reply twice is a duplicate the second time (test 1).
        """
        pair = AssociationPair()
        request = pair.poll()
        assert request is not None
        reply = pair.reply(request)
        self.assertTrue(pair.deliver(reply).accepted)
        self.assertEqual(pair.deliver(reply).flash, TEST_DUPLICATE)

    def test_unsynchronizedServer(self) -> None:
        """
        Leap 3 (test 6) and stratum 16 (test 7) are not samples; the server
        is not counted as reachable. A server that has never synchronized
        sends stratum 0 with the kiss code INIT, which is informational.
        """
        pair = AssociationPair(server=SystemVariables())
        result = pair.exchange()
        self.assertFalse(result.accepted)
        self.assertEqual(result.kissCode, "INIT")
        self.assertEqual(pair.association.reach, 0)
        self.assertFalse(pair.association.stopped)
        pair = AssociationPair(server=replace(SERVER, leap=3))
        self.assertEqual(pair.exchange().flash, TEST_UNSYNC)
        self.assertEqual(pair.association.reach, 0)
        pair = AssociationPair()
        self.assertEqual(pair.exchange(stratum=16).flash, TEST_STRATUM)

    def test_badHeader(self) -> None:
        """
        A root distance beyond reason is refused (test 8).
        """
        pair = AssociationPair()
        self.assertEqual(pair.exchange(rootDispersion=0xFFFFFFFF).flash, TEST_HEADER)


    def negativeDelay(self, pair: AssociationPair, seconds: float):  # type: ignore[no-untyped-def]
        """
        Exchange with a reply whose T2 is C{seconds}/2 earlier and T3
        C{seconds}/2 later than the truth: the same offset, a delay
        C{seconds} smaller.
        """
        request = pair.poll()
        assert request is not None
        reply = pair.reply(request)
        return pair.deliver(replace(reply, rec=reply.rec.add(-seconds / 2),
                                    xmt=reply.xmt.add(seconds / 2)))

    def test_negativeDelayRejected(self) -> None:
        """
        A reply whose timestamps give a negative delay (the server claims
        to have held the request longer than the round trip took: a
        malicious server or a forged reply shrinking its delay to win the
        selection) is rejected, not clamped: no sample, flash
        L{TEST_NEGATIVE_DELAY}. It still counts in the reach register (the
        server answered).
        """
        pair = AssociationPair()
        result = self.negativeDelay(pair, 0.1)
        self.assertFalse(result.accepted)
        self.assertEqual(result.flash, TEST_NEGATIVE_DELAY)
        self.assertEqual(pair.association.flash, TEST_NEGATIVE_DELAY)
        self.assertIsNone(result.update)
        self.assertEqual(pair.association.reach & 1, 1)

    def test_negativeDelayBeyondPrecisions(self) -> None:
        """
        The tolerance is the two precisions (2**-20 s each here): a delay
        of -3 us, beyond their sum (1.9 us), is rejected.
        """
        pair = AssociationPair(delay=0.0)
        self.assertEqual(self.negativeDelay(pair, 3e-6).flash, TEST_NEGATIVE_DELAY)

    def test_negativeDelayWithinPrecisionsClamped(self) -> None:
        """
        A delay of -1 us, within the two clocks' precisions (the reading
        error of a true delay near zero), is clamped to our precision as
        RFC 5905 does.
        """
        pair = AssociationPair(delay=0.0)
        result = self.negativeDelay(pair, 1e-6)
        self.assertTrue(result.accepted, result)
        self.assertIsNotNone(result.update)
        self.assertEqual(result.update.delay, 2.0**-20)


class KissTests(SynchronousTestCase):
    """
    Kiss-o'-Death packets count only when they pass the origin check.
    """

    def kiss(self, code: bytes, pair: AssociationPair, spoofed: bool = False):  # type: ignore[no-untyped-def]
        request = pair.poll()
        assert request is not None
        changes: dict[str, object] = dict(stratum=0, leap=3, refid=code)
        if spoofed:
            changes["org"] = NTPTimestamp(999)
        return pair.deliver(pair.reply(request, **changes))

    def test_spoofedDenyIgnored(self) -> None:
        """
        A DENY whose origin does not match our request is a forgery: it
        does not stop polling.
        """
        pair = AssociationPair()
        result = self.kiss(b"DENY", pair, spoofed=True)
        self.assertIsNone(result.kissCode)
        self.assertFalse(pair.association.stopped)

    def test_spoofedZeroOriginIgnored(self) -> None:
        """
        RATE, DENY and RSTR kisses with a zero origin (CVE-2015-7704: ntpd
        before 4.2.8p4 took them) are bogus: no kiss is taken, polling
        goes on at the same interval.
        """
        for code in (b"RATE", b"DENY", b"RSTR"):
            pair = AssociationPair()
            hpoll = pair.association.hpoll
            request = pair.poll()
            assert request is not None
            result = pair.deliver(pair.reply(request, stratum=0, leap=3, refid=code,
                                             org=NTPTimestamp(0)))
            self.assertEqual((result.kissCode, result.flash), (None, TEST_BOGUS))
            self.assertFalse(pair.association.stopped)
            self.assertEqual(pair.association.hpoll, hpoll)

    def test_kissesWithoutTransmitTimestamp(self) -> None:
        """
        Two genuine kisses in a row whose transmit timestamps are both zero
        are both taken: a zero transmit timestamp is no timestamp, so the
        second is not a duplicate of the first.
        """
        pair = AssociationPair()
        for code in (b"RATE", b"DENY"):
            request = pair.poll()
            assert request is not None
            result = pair.deliver(pair.reply(request, stratum=0, leap=3, refid=code,
                                             xmt=NTPTimestamp(0), rec=NTPTimestamp(0)))
            self.assertEqual(result.kissCode, code.decode())
        self.assertTrue(pair.association.stopped)

    def test_denyStops(self) -> None:
        """
        A genuine DENY stops polling; a persistent association stays.
        """
        pair = AssociationPair()
        result = self.kiss(b"DENY", pair)
        self.assertEqual(result.kissCode, "DENY")
        self.assertFalse(result.demobilize)
        self.assertTrue(pair.association.stopped)
        self.assertIsNone(pair.poll())

    def test_rstrDemobilizesEphemeral(self) -> None:
        """
        RSTR on an ephemeral association asks for demobilization.
        """
        pair = AssociationPair(AssociationSettings("192.0.2.1", lifecycle="ephemeral"))
        self.assertTrue(self.kiss(b"RSTR", pair).demobilize)

    def test_rateBacksOff(self) -> None:
        """
        RATE doubles the poll interval.
        """
        pair = AssociationPair(AssociationSettings("192.0.2.1"))
        before = pair.association.hpoll
        self.kiss(b"RATE", pair)
        self.assertEqual(pair.association.hpoll, before + 1)
        self.assertGreaterEqual(pair.association.nextPoll - pair.now, 2.0 ** (before + 1))


class PollTests(SynchronousTestCase):
    """
    The poll process: iburst, burst, back-off, reach.
    """

    def test_iburst(self) -> None:
        """
        With iburst, an unreachable server gets a burst of eight packets, 2
        s apart once replies come, and the poll interval returns to minpoll
        afterwards.
        """
        pair = AssociationPair(AssociationSettings("192.0.2.1", iburst=True))
        times = []
        for _ in range(BURST_COUNT):
            times.append(pair.now if pair.lastRequest else pair.association.nextPoll)
            self.assertTrue(pair.exchange().accepted)
            times[-1] = pair.association.lastSent
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertEqual(gaps, [2.0] * (BURST_COUNT - 1))
        self.assertFalse(pair.association.inBurst)
        pair.poll()
        self.assertGreaterEqual(pair.association.nextPoll - pair.now, 64)

    def test_burstWaitsForReply(self) -> None:
        """
        After a packet of a burst goes unanswered, the next waits 16 s.
        """
        pair = AssociationPair(AssociationSettings("192.0.2.1", iburst=True))
        pair.poll()
        self.assertEqual(pair.association.nextPoll - pair.now, 16.0)

    def test_burstWaitsNoLongerThanMaxpoll(self) -> None:
        """
        With C{maxpoll 3} a burst's unanswered packet is followed 8 s later,
        not 16 s: no poll comes later than maxpoll asks, also while the
        server is silent; with C{maxpoll 4} and more, 16 s.
        """
        for maxPoll, wait in ((3, 8.0), (4, 16.0)):
            pair = AssociationPair(
                AssociationSettings(
                    "192.0.2.1", iburst=True, minPollLog2=3, maxPollLog2=maxPoll
                )
            )
            for _ in range(3):
                pair.poll()
                self.assertEqual(pair.association.nextPoll - pair.now, wait)

    def test_burstEndsWhenServerFallsSilent(self) -> None:
        """
        A server that answered earlier packets of a burst but not the last
        one (within 4 s) ends the burst: the next poll is a regular one, which shifts the
        reach register, so that the silence is seen at the poll interval
        (not 16 s per remaining packet of the burst).
        """
        pair = AssociationPair(AssociationSettings("192.0.2.1", iburst=True))
        pair.exchange()
        pair.exchange()
        self.assertTrue(pair.association.inBurst)
        pair.poll()
        self.assertEqual(pair.association.nextPoll - pair.now, 4.0)
        reach = pair.association.reach
        pair.poll()
        association = pair.association
        self.assertFalse(association.inBurst)
        self.assertEqual(association.reach, (reach << 1) & 0xFF)
        self.assertGreaterEqual(association.nextPoll - pair.now, 64)

    def test_fitnessWindows(self) -> None:
        """
        A source is C{answering} while any of its last three polls (the
        outstanding one included) was answered, and C{selectable} while any
        of its last five was.
        """
        association = AssociationPair().association
        for reach, answering, selectable in [
            (0b1, True, True),
            (0b100, True, True),
            (0b1000, False, True),
            (0b10000, False, True),
            (0b100000, False, False),
        ]:
            association.reach = reach
            self.assertEqual(association.answering, answering, bin(reach))
            self.assertEqual(association.selectable, selectable, bin(reach))

    def test_noIburstWithoutOption(self) -> None:
        """
        Without iburst the first polls are minpoll apart.
        """
        pair = AssociationPair(AssociationSettings("192.0.2.1"))
        pair.exchange()
        self.assertGreaterEqual(pair.association.nextPoll - pair.now, 64)

    def test_burstSize(self) -> None:
        """
        burst keeps the average spacing at least 16 s: one packet at 16 s,
        two at 32 s, eight from 128 s.
        """
        association = AssociationPair().association
        self.assertEqual(
            [association._burstSize(p) for p in (4, 5, 6, 7, 10)], [1, 2, 4, 8, 8]
        )

    def test_burstUpdatesSystemOnlyAfter(self) -> None:
        """
        During a C{burst} the system is not updated; during an C{iburst}
        it is.
        """
        pair = AssociationPair(AssociationSettings("192.0.2.1", burst=True, minPollLog2=7))
        pair.exchange()
        pair.now += 128
        pair.association.nextPoll = pair.now
        pair.exchange()
        self.assertTrue(pair.association.inBurst)
        self.assertFalse(pair.association.updatesSystem)
        iburst = AssociationPair(AssociationSettings("192.0.2.1", iburst=True))
        iburst.exchange()
        self.assertTrue(iburst.association.inBurst)
        self.assertTrue(iburst.association.updatesSystem)

    def test_unreachableBackOff(self) -> None:
        """
        After UNREACH unanswered polls the poll interval doubles each poll,
        up to maxpoll.
        """
        pair = AssociationPair(AssociationSettings("192.0.2.1", maxPollLog2=8))
        for _ in range(UNREACH):
            pair.poll()
        self.assertEqual(pair.association.hpoll, 6)
        pair.poll()
        self.assertEqual(pair.association.hpoll, 7)
        pair.poll()
        pair.poll()
        self.assertEqual(pair.association.hpoll, 8)

    def test_pollSoon(self) -> None:
        """
        L{Association.pollSoon} brings the next poll forward to minpoll from
        now when it is later, and never puts it off, nor cuts a burst
        short.
        """
        pair = AssociationPair(
            AssociationSettings("192.0.2.1", minPollLog2=6, maxPollLog2=10)
        )
        pair.exchange()
        for _ in range(8):
            pair.exchange()
        association = pair.association
        association.nextPoll = pair.now + 1024
        association.pollSoon(pair.now + 10)
        self.assertEqual(association.nextPoll, pair.now + 10 + 64)
        association.nextPoll = pair.now + 30
        association.pollSoon(pair.now + 10)
        self.assertEqual(association.nextPoll, pair.now + 30)
        burst = AssociationPair(AssociationSettings("192.0.2.1", iburst=True))
        burst.poll()
        self.assertTrue(burst.association.inBurst)
        before = burst.association.nextPoll
        burst.association.pollSoon(burst.now)
        self.assertEqual(burst.association.nextPoll, before)

    def test_reachRegister(self) -> None:
        """
        The reach register shifts at each poll and records each reply.
        """
        pair = AssociationPair(AssociationSettings("192.0.2.1"))
        pair.exchange()
        pair.poll()
        pair.exchange()
        self.assertEqual(pair.association.reach, 0b101)


class AssociationTableTests(SynchronousTestCase):
    """
    L{AssociationTable} hands out IDs and finds associations by address.
    """

    def test_ids(self) -> None:
        """
        IDs count up and skip those in use.
        """
        table = AssociationTable()
        rng = random.Random(0)
        for n in range(3):
            a = Association.mobilize(table.newID(), AssociationSettings(f"192.0.2.{n}"), T0, -20, rng)
            table.add(a)
        self.assertEqual(sorted(table.byID), [1, 2, 3])
        self.assertIs(table.find("192.0.2.1", 123), table.byID[2])
        table.remove(2)
        self.assertIsNone(table.find("192.0.2.1", 123))

    def test_duplicateAddress(self) -> None:
        """
        Two associations with one address and port are refused.
        """
        table = AssociationTable()
        rng = random.Random(0)
        table.add(Association.mobilize(1, AssociationSettings("192.0.2.1"), T0, -20, rng))
        self.assertRaises(
            ValueError,
            table.add,
            Association.mobilize(2, AssociationSettings("192.0.2.1"), T0, -20, rng),
        )


class PeerProcessTests(SynchronousTestCase):
    """
    L{ntpservice.core.peer}: one peer process per association mode, holding
    the on-wire state apart from the source it feeds.
    """

    def test_chosenByMode(self) -> None:
        """
        A client association gets the client process; a reference clock's
        none; an association mode without a process is refused.
        """
        from ntpservice.core.peer import ClientProcess, peerProcessFor

        self.assertIsInstance(peerProcessFor(3), ClientProcess)
        self.assertIsNone(peerProcessFor(3, refclock=True))
        self.assertRaises(ValueError, peerProcessFor, 5)
        pair = AssociationPair()
        self.assertIsInstance(pair.association.process, ClientProcess)

    def test_onWireStateInTheProcess(self) -> None:
        """
        The nonce of the outstanding request and T1 live in the process;
        clearing the association clears them, so a reply to a request sent
        before a step is bogus.
        """
        pair = AssociationPair()
        request = pair.poll()
        assert request is not None
        process = pair.association.process
        self.assertEqual(process.xmt, request.xmt)
        self.assertEqual(pair.association.lastT1, process.t1)
        pair.association.clear(pair.now)
        self.assertIsNone(process.xmt)
        result = pair.deliver(pair.reply(request))
        self.assertFalse(result.accepted)
        self.assertEqual(result.flash, TEST_BOGUS)
