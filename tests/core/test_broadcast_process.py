# -*- test-case-name: tests.core.test_broadcast_process -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.peer.BroadcastClientProcess} and
L{ntpservice.core.peer.broadcastPacket}: the broadcast client's on-wire
protocol, without a network.
"""

from __future__ import annotations

import random

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.association import Association, AssociationSettings
from ntpservice.core.dispatch import ASSOC_BCLIENT
from ntpservice.core.packet import MODE_BROADCAST, MODE_SERVER, NTPPacket
from ntpservice.core.peer import (
    TEST_BOGUS,
    TEST_DUPLICATE,
    TEST_INVALID,
    TEST_UNSYNC,
    BroadcastClientProcess,
    acceptsMode,
    broadcastPacket,
)
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp

NOW = 1_700_000_000.0


def ts(seconds: float) -> NTPTimestamp:
    return NTPTimestamp.fromUnixNanoseconds(int(seconds * 1e9))


def synchronizedSystem() -> SystemVariables:
    return SystemVariables(
        leap=0, stratum=2, precision=-20, rootDelay=0.01, rootDispersion=0.001,
        refid=b"GPS\0", reftime=ts(NOW - 10), lastUpdateNs=int((NOW - 10) * 1e9), poll=4,
    )


def bclient() -> Association:
    settings = AssociationSettings(
        "192.0.2.1", hmode=ASSOC_BCLIENT, minPollLog2=4, maxPollLog2=17,
        lifecycle="ephemeral",
    )
    return Association.mobilize(1, settings, NOW, -20, random.Random(1))


def _replace(packet: NTPPacket, **changes: object) -> NTPPacket:
    from dataclasses import replace

    return replace(packet, **changes)  # type: ignore[arg-type]


class BroadcastPacketTests(SynchronousTestCase):
    """
    L{broadcastPacket} is the server's mode 5 packet.
    """

    def test_fields(self) -> None:
        """
        Mode 5, the system's stratum, refid and reference time, the poll
        given, no origin or receive timestamp, the transmit time given.
        """
        packet = broadcastPacket(synchronizedSystem(), 6, 3, int(NOW * 1e9))
        self.assertEqual((packet.mode, packet.version, packet.poll), (MODE_BROADCAST, 3, 6))
        self.assertEqual((packet.stratum, packet.refid), (2, b"GPS\0"))
        self.assertTrue(packet.org.isZero and packet.rec.isZero)
        self.assertEqual(packet.xmt, ts(NOW))
        self.assertEqual(len(packet.encode()), 48)


class ListeningTests(SynchronousTestCase):
    """
    Once calibrated, each broadcast is a sample: T3 + delay/2 - T4.
    """

    def setUp(self) -> None:
        self.association = bclient()
        self.process = self.association.process
        assert isinstance(self.process, BroadcastClientProcess)
        self.process.calibrated(0.004)

    def receive(self, packet: NTPPacket, at: float):  # type: ignore[no-untyped-def]
        return self.association.receive(packet, ts(at), at, -20)

    def test_offset(self) -> None:
        """
        A broadcast sent at T3 by the server's clock, arriving at T4 by
        ours: offset T3 + 2 ms - T4, delay 4 ms.
        """
        packet = broadcastPacket(synchronizedSystem(), 4, 4, int((NOW + 0.5) * 1e9))
        result = self.receive(packet, NOW + 0.503)
        self.assertTrue(result.accepted)
        offset, delay, _ = self.association.filter.stages()[0]
        self.assertAlmostEqual(offset, -0.001, places=6)
        self.assertAlmostEqual(delay, 0.004, places=6)
        self.assertEqual(self.association.reach, 1)

    def test_duplicateAndReplay(self) -> None:
        """
        The same broadcast twice is a duplicate; an older one (a replay)
        is bogus.
        """
        first = broadcastPacket(synchronizedSystem(), 4, 4, int((NOW + 16) * 1e9))
        older = broadcastPacket(synchronizedSystem(), 4, 4, int(NOW * 1e9))
        self.assertTrue(self.receive(first, NOW + 16.002).accepted)
        self.assertEqual(self.receive(first, NOW + 16.003).flash, TEST_DUPLICATE)
        self.assertEqual(self.receive(older, NOW + 16.004).flash, TEST_BOGUS)

    def test_unsynchronizedServer(self) -> None:
        """
        A broadcast with leap indicator 3 gives no sample.
        """
        packet = _replace(broadcastPacket(synchronizedSystem(), 4, 4, int(NOW * 1e9)), leap=3)
        self.assertEqual(self.receive(packet, NOW + 0.002).flash, TEST_UNSYNC)

    def test_sendsNothing(self) -> None:
        """
        A listening association's polls send nothing, and it takes no
        server reply (mode 4 is not among its accepted modes).
        """
        self.assertIsNone(self.association.poll(NOW + 20, synchronizedSystem()))
        self.assertEqual(self.association.sent, 0)
        self.assertFalse(acceptsMode(self.process, MODE_SERVER))


class CalibrationTests(SynchronousTestCase):
    """
    Before it listens, the association sends a volley of client requests
    and measures the delay from their replies.
    """

    def test_volley(self) -> None:
        """
        Requests go out while calibrating (mode 4 replies are accepted);
        broadcasts meanwhile give no sample; three replies end the volley
        with their smallest delay, after which nothing is sent.
        """
        association = bclient()
        process = association.process
        assert isinstance(process, BroadcastClientProcess)
        self.assertTrue(acceptsMode(process, MODE_SERVER))
        early = broadcastPacket(synchronizedSystem(), 4, 4, int(NOW * 1e9))
        self.assertEqual(association.receive(early, ts(NOW + 0.003), NOW, -20).flash, TEST_INVALID)
        now = NOW + 1
        for delay in (0.006, 0.004, 0.005):
            request = association.poll(now, synchronizedSystem())
            assert request is not None
            association.sentAt(ts(now))
            system = synchronizedSystem()
            reply = NTPPacket(
                leap=0, version=4, mode=MODE_SERVER, stratum=2, poll=4, precision=-20,
                rootDelay=0, rootDispersion=0, refid=b"GPS\0", reftime=system.reftime,
                org=request.packet.xmt, rec=ts(now + delay / 2), xmt=ts(now + delay / 2),
            )
            result = association.receive(reply, ts(now + delay), now + delay, -20)
            self.assertTrue(result.accepted)
            now += 2
        self.assertTrue(process.listening)
        self.assertAlmostEqual(process.delay, 0.004, places=6)
        self.assertFalse(acceptsMode(process, MODE_SERVER))
        self.assertIsNone(association.poll(now + 20, synchronizedSystem()))
