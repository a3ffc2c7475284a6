# -*- test-case-name: tests.core.test_server -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.server} and L{ntpservice.core.system}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.packet import (
    LEAP_NONE,
    LEAP_NOTINSYNC,
    MODE_ACTIVE,
    MODE_CLIENT,
    MODE_RESERVED,
    MODE_SERVER,
    NTPPacket,
)
from ntpservice.core.server import buildServerReply, isClientRequest, stampTransmit
from ntpservice.core.system import PHI, SystemVariables
from ntpservice.core.timestamps import NTPTimestamp, decodeShort

NOW = 1_790_000_000 * 10**9


class IsClientRequestTests(SynchronousTestCase):
    """
    L{isClientRequest} accepts what RFC 5905 section 9.2 answers.
    """

    def test_versions(self) -> None:
        """
        Mode 3 requests of versions 1 to 4 are answered; 0, 5, 6 and 7 are
        not.
        """
        for version in range(8):
            self.assertEqual(
                (
                    isClientRequest(NTPPacket(version=version, mode=MODE_CLIENT))
                    if version
                    else False
                ),
                1 <= version <= 4,
                version,
            )

    def test_ntpv1ModeZero(self) -> None:
        """
        NTPv1 had no mode field: a version 1 packet with mode 0 is a client
        request; mode 0 of a later version is not.
        """
        self.assertTrue(isClientRequest(NTPPacket(version=1, mode=MODE_RESERVED)))
        self.assertFalse(isClientRequest(NTPPacket(version=4, mode=MODE_RESERVED)))

    def test_otherModes(self) -> None:
        """
        Symmetric and server packets are not client requests.
        """
        self.assertFalse(isClientRequest(NTPPacket(mode=MODE_ACTIVE)))
        self.assertFalse(isClientRequest(NTPPacket(mode=MODE_SERVER)))


class BuildServerReplyTests(SynchronousTestCase):
    """
    L{buildServerReply} fills the header as RFC 5905 Figure 31 says.
    """

    request = NTPPacket(
        version=3,
        mode=MODE_CLIENT,
        poll=7,
        xmt=NTPTimestamp(0x0123456789ABCDEF),
        org=NTPTimestamp(55),
        rec=NTPTimestamp(66),
    )

    def test_unsynchronized(self) -> None:
        """
        Before the first synchronization the reply says leap 3, stratum 0
        (MAXSTRAT on the wire) and refid INIT.
        """
        reply = buildServerReply(
            self.request, SystemVariables(precision=-23), NTPTimestamp(99), NOW
        )
        self.assertEqual(reply.leap, LEAP_NOTINSYNC)
        self.assertEqual(reply.stratum, 0)
        self.assertEqual(reply.refid, b"INIT")
        self.assertEqual(reply.precision, -23)
        self.assertTrue(reply.reftime.isZero)

    def test_onWire(self) -> None:
        """
        The origin is the request's transmit timestamp verbatim, the receive
        timestamp is the arrival time, the version and poll are echoed, the
        mode is 4, and the transmit timestamp is left for the shell.
        """
        reply = buildServerReply(self.request, SystemVariables(), NTPTimestamp(99), NOW)
        self.assertEqual(reply.org, self.request.xmt)
        self.assertEqual(reply.rec, NTPTimestamp(99))
        self.assertEqual(reply.version, 3)
        self.assertEqual(reply.mode, MODE_SERVER)
        self.assertEqual(reply.poll, 7)
        self.assertTrue(reply.xmt.isZero)
        self.assertIsNone(reply.mac)
        self.assertEqual(reply.extensions, ())

    def test_synchronized(self) -> None:
        """
        A synchronized system reports its stratum, refid, reference time and
        root delay, and a root dispersion grown at PHI since the update.
        """
        system = SystemVariables(
            leap=LEAP_NONE,
            stratum=3,
            rootDelay=0.25,
            rootDispersion=0.5,
            refid=b"\x0a\x00\x00\x01",
            reftime=NTPTimestamp(12345 << 32),
            lastUpdateNs=NOW - 1000 * 10**9,
        )
        reply = buildServerReply(self.request, system, NTPTimestamp(99), NOW)
        self.assertEqual(reply.leap, LEAP_NONE)
        self.assertEqual(reply.stratum, 3)
        self.assertEqual(reply.refid, b"\x0a\x00\x00\x01")
        self.assertEqual(reply.reftime, NTPTimestamp(12345 << 32))
        self.assertAlmostEqual(decodeShort(reply.rootDelay), 0.25, places=4)
        self.assertAlmostEqual(
            decodeShort(reply.rootDispersion), 0.5 + PHI * 1000, places=4
        )


class StampTransmitTests(SynchronousTestCase):
    """
    L{stampTransmit} writes the transmit timestamp and nothing else.
    """

    def test_stamp(self) -> None:
        """
        Bytes 40-47 become the timestamp; the rest is unchanged.
        """
        encoded = NTPPacket(mode=MODE_SERVER, stratum=2).encode()
        stamped = stampTransmit(encoded, NTPTimestamp(0x1122334455667788))
        self.assertEqual(len(stamped), len(encoded))
        self.assertEqual(stamped[:40], encoded[:40])
        self.assertEqual(
            NTPPacket.decode(stamped).xmt, NTPTimestamp(0x1122334455667788)
        )


class SystemVariablesTests(SynchronousTestCase):
    """
    L{SystemVariables} maps stratum and grows dispersion.
    """

    def test_packetStratum(self) -> None:
        """
        Stratum 16 goes on the wire as 0; others as they are.
        """
        self.assertEqual(SystemVariables().packetStratum(), 0)
        self.assertEqual(SystemVariables(stratum=2).packetStratum(), 2)

    def test_synchronized(self) -> None:
        """
        Synchronized means leap below 3 and stratum below 16.
        """
        self.assertFalse(SystemVariables().synchronized)
        self.assertTrue(SystemVariables(leap=0, stratum=2).synchronized)
        self.assertFalse(SystemVariables(leap=0, stratum=16).synchronized)

    def test_dispersionNeverShrinks(self) -> None:
        """
        A clock read before the last update does not shrink dispersion.
        """
        system = SystemVariables(rootDispersion=0.1, lastUpdateNs=NOW)
        self.assertEqual(system.rootDispersionAt(NOW - 10**9), 0.1)


class EncodeServerReplyTests(SynchronousTestCase):
    """
    L{encodeServerReply} is L{buildServerReply}, encoded.
    """

    def test_sameBytes(self) -> None:
        """
        For synchronized and unsynchronized systems, the bytes are those of
        the packet L{buildServerReply} builds.
        """
        from ntpservice.core.server import encodeServerReply

        request = NTPPacket(version=3, mode=MODE_CLIENT, poll=7, xmt=NTPTimestamp(99))
        for system in (
            SystemVariables(precision=-23),
            SystemVariables(
                leap=LEAP_NONE, stratum=3, rootDelay=0.25, rootDispersion=0.5,
                refid=b"\x0a\x00\x00\x01", reftime=NTPTimestamp(12345 << 32),
                lastUpdateNs=NOW - 10**9,
            ),
        ):
            self.assertEqual(
                encodeServerReply(request, system, NTPTimestamp(5), NOW),
                buildServerReply(request, system, NTPTimestamp(5), NOW).encode(),
            )
