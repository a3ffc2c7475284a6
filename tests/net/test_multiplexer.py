# -*- test-case-name: tests.net.test_multiplexer -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.net.multiplexer}.
"""

from __future__ import annotations

from zope.interface import implementer

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core import counters as C
from ntpservice.core.packet import MODE_CLIENT, MODE_SERVER, NTPPacket
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.interfaces import IDatagramHandler, IPacketClaimant
from ntpservice.net.multiplexer import ModeTable, NTPDatagramProtocol, routeKeys
from ntpservice.net.udp import BROADCAST, MULTICAST, UNICAST, ReceivedDatagram
from tests.helpers import FakeClock


@implementer(IDatagramHandler)
class RecordingHandler:
    def __init__(self) -> None:
        self.received: list[tuple[object, ReceivedDatagram]] = []

    def datagramReceived(self, packet, datagram, sender) -> None:  # type: ignore[no-untyped-def]
        self.received.append((packet, datagram))


class FakeDatagramTransport:
    def __init__(self) -> None:
        self.written: list[tuple[bytes, object]] = []

    def write(self, data: bytes, addr: object) -> None:
        self.written.append((data, addr))


def makeProtocol(**kw: object) -> tuple[NTPDatagramProtocol, ModeTable, C.PacketCounters]:
    modes = ModeTable()
    counters = C.PacketCounters()
    protocol = NTPDatagramProtocol(modes, counters, FakeClock(), **kw)  # type: ignore[arg-type]
    return protocol, modes, counters


SOURCE = ("192.0.2.1", 123)


class ModeTableTests(SynchronousTestCase):
    """
    L{ModeTable} routes each mode to at most one handler.
    """

    def test_duplicate(self) -> None:
        """
        Registering a second handler for a mode is an error.
        """
        table = ModeTable()
        table.register(3, RecordingHandler())
        self.assertRaises(ValueError, table.register, 3, RecordingHandler())

    def test_range(self) -> None:
        """
        Modes outside 0-7 are refused.
        """
        self.assertRaises(ValueError, ModeTable().register, 8, RecordingHandler())

    def test_verified(self) -> None:
        """
        A handler that does not provide L{IDatagramHandler} is refused.
        """
        self.assertRaises(Exception, ModeTable().register, 3, object())

    def test_unregister(self) -> None:
        """
        An unregistered mode has no handler.
        """
        table = ModeTable()
        table.register(3, RecordingHandler())
        table.unregister(3)
        self.assertIsNone(table.get(3))


class NTPDatagramProtocolTests(SynchronousTestCase):
    """
    L{NTPDatagramProtocol} decodes, counts, drops and dispatches.
    """

    def test_dispatchByMode(self) -> None:
        """
        A well-formed packet reaches the handler of its mode, decoded, with
        its receive time.
        """
        protocol, modes, counters = makeProtocol()
        client, server = RecordingHandler(), RecordingHandler()
        modes.register(MODE_CLIENT, client)
        modes.register(MODE_SERVER, server)
        request = NTPPacket(mode=MODE_CLIENT, xmt=NTPTimestamp(42))
        protocol.datagramReceived(request.encode(), SOURCE)
        self.assertEqual(len(client.received), 1)
        self.assertEqual(server.received, [])
        packet, datagram = client.received[0]
        self.assertEqual(packet, request)
        self.assertEqual(datagram.source, SOURCE)
        self.assertEqual(datagram.rxTime, 1_790_000_000 * 10**9)
        self.assertEqual(counters[C.RECEIVED], 1)

    def test_malformedDroppedAndCounted(self) -> None:
        """
        Truncated or garbage datagrams are dropped, counted as malformed,
        and never reach a handler or raise.
        """
        protocol, modes, counters = makeProtocol()
        handler = RecordingHandler()
        modes.register(MODE_CLIENT, handler)
        good = NTPPacket(mode=MODE_CLIENT).encode()
        for bad in (b"", good[:47], good + b"\x00" * 7, b"\x23" + b"\xff" * 60):
            protocol.datagramReceived(bad, SOURCE)
        self.assertEqual(handler.received, [])
        self.assertEqual(counters[C.MALFORMED], 4)

    def test_noHandler(self) -> None:
        """
        A packet of a mode nobody handles is dropped and counted.
        """
        protocol, modes, counters = makeProtocol()
        protocol.datagramReceived(NTPPacket(mode=5).encode(), SOURCE)
        self.assertEqual(counters[C.NO_HANDLER], 1)

    def test_countedByVersion(self) -> None:
        """
        Every NTP packet is counted by version on arrival, as ntpd counts
        them for C{ntpq sysstats}: NTPv4 as the current version, NTPv1-3 as
        older ones, 48-octet NTPv1 packets also by mode (client, zero,
        symmetric active); versions 0 and 5-7 in neither, mode 6 packets
        not at all; a malformed NTPv4 packet still counts as NTPv4.
        """
        protocol, modes, counters = makeProtocol()
        modes.register(MODE_CLIENT, RecordingHandler())
        modes.register(6, RecordingHandler())
        v4 = NTPPacket(mode=MODE_CLIENT).encode()
        for first in (0x23, 0x1B, 0x13, 0x0B, 0x08, 0x09, 0x0C, 0x03, 0x2B):
            protocol.datagramReceived(bytes([first]) + v4[1:], SOURCE)
        protocol.datagramReceived(b"\x0b" + v4[1:] + b"\x00" * 4, SOURCE)
        protocol.datagramReceived(v4[:47], SOURCE)
        protocol.datagramReceived(b"\x16\x01\x00\x01" + bytes(8), SOURCE)
        self.assertEqual(
            {name: counters[name] for name in (
                C.VERSION_CURRENT, C.VERSION_OLD, C.VERSION1, C.VERSION1_CLIENT,
                C.VERSION1_ZERO, C.VERSION1_SYMMETRIC)},
            {
                C.VERSION_CURRENT: 2,
                C.VERSION_OLD: 7,
                C.VERSION1: 4,
                C.VERSION1_CLIENT: 1,
                C.VERSION1_ZERO: 1,
                C.VERSION1_SYMMETRIC: 1,
            },
        )

    def test_rawModes(self) -> None:
        """
        Mode 6 and 7 datagrams have no NTP header: their handler gets the
        raw datagram and no packet.
        """
        protocol, modes, counters = makeProtocol()
        handler = RecordingHandler()
        modes.register(6, handler)
        protocol.datagramReceived(b"\x16\x01\x00\x01", SOURCE)
        self.assertEqual(handler.received[0][0], None)
        self.assertEqual(handler.received[0][1].data, b"\x16\x01\x00\x01")

    def test_acceptFilter(self) -> None:
        """
        Datagrams the accept predicate refuses are counted and dropped.
        """
        protocol, modes, counters = makeProtocol(accept=lambda d: False)
        handler = RecordingHandler()
        modes.register(MODE_CLIENT, handler)
        protocol.datagramReceived(NTPPacket(mode=MODE_CLIENT).encode(), SOURCE)
        self.assertEqual(handler.received, [])
        self.assertEqual(counters[C.INTERFACE_DROP], 1)

    def test_kernelTimestampIgnoredForSimulatedClock(self) -> None:
        """
        A clock driver outside the kernel's timescale stamps arrivals with
        its own time, not the kernel's.
        """
        protocol, modes, counters = makeProtocol()
        handler = RecordingHandler()
        modes.register(MODE_CLIENT, handler)
        protocol.datagramReceivedWithInfo(
            ReceivedDatagram(NTPPacket().encode(), SOURCE, rxTime=5)
        )
        self.assertEqual(handler.received[0][1].rxTime, 1_790_000_000 * 10**9)

    def test_sendReplyPlainTransport(self) -> None:
        """
        On a transport without C{sendFrom}, replies go through C{write} to
        the source, and are counted.
        """
        protocol, modes, counters = makeProtocol()
        transport = FakeDatagramTransport()
        protocol.makeConnection(transport)  # type: ignore[arg-type]
        protocol.sendReply(ReceivedDatagram(b"", SOURCE), b"reply")
        self.assertEqual(transport.written, [(b"reply", SOURCE)])
        self.assertEqual(counters[C.SENT], 1)


@implementer(IPacketClaimant)
class OriginClaimant(RecordingHandler):
    """
    A spawner in the manner of a manycast client: it takes the mode 4
    replies whose origin timestamp is one of its solicitations.
    """

    claimedModes = ((4, UNICAST),)

    def __init__(self, *solicitations: NTPTimestamp) -> None:
        super().__init__()
        self.solicitations = set(solicitations)

    def claims(self, packet, datagram) -> bool:  # type: ignore[no-untyped-def]
        return packet.org in self.solicitations


def datagramTo(destination: str, mode: int = MODE_CLIENT, org: int = 0) -> ReceivedDatagram:
    packet = NTPPacket(mode=mode, stratum=2, org=NTPTimestamp(org), xmt=NTPTimestamp(7 << 32))
    return ReceivedDatagram(packet.encode(), SOURCE, destination, "10.0.0.1", rxTime=1)


class RoutingTests(SynchronousTestCase):
    """
    Packets that match no association are routed by packet mode and
    destination kind, claimants first.
    """

    def test_routeKeys(self) -> None:
        """
        A mode covers every destination kind; C{(mode, kind)} one; bad
        modes and kinds are refused.
        """
        self.assertEqual(
            routeKeys(3), [(3, UNICAST), (3, BROADCAST), (3, MULTICAST)]
        )
        self.assertEqual(routeKeys((5, BROADCAST)), [(5, BROADCAST)])
        self.assertRaises(ValueError, routeKeys, 9)
        self.assertRaises(ValueError, routeKeys, (3, "anycast"))

    def test_ownersByDestinationKind(self) -> None:
        """
        Two handlers share a mode by owning different destination kinds
        (a unicast and a manycast server), and each gets its own packets.
        """
        protocol, modes, counters = makeProtocol()
        unicast, manycast = RecordingHandler(), RecordingHandler()
        modes.register((3, UNICAST), unicast)
        modes.register((3, MULTICAST), manycast)
        protocol.datagramReceivedWithInfo(datagramTo("10.0.0.1"))
        protocol.datagramReceivedWithInfo(datagramTo("224.0.1.1"))
        protocol.datagramReceivedWithInfo(datagramTo("10.0.0.255"))
        self.assertEqual([d.destination for _, d in unicast.received], ["10.0.0.1"])
        self.assertEqual([d.destination for _, d in manycast.received], ["224.0.1.1"])
        self.assertEqual(counters[C.NO_HANDLER], 1)

    def test_conflictPerKey(self) -> None:
        """
        A second owner of any key already owned is refused, naming the
        first, and nothing of it is registered.
        """
        modes = ModeTable()
        first = RecordingHandler()
        modes.register((3, MULTICAST), first)
        second = RecordingHandler()
        error = self.assertRaises(ValueError, modes.register, 3, second)
        self.assertIn(repr(first), str(error))
        self.assertIsNone(modes.get(3, UNICAST))

    def test_claimantOriginCheck(self) -> None:
        """
        A mode 4 reply from an unknown server reaches the claimant only if
        its origin is one of the claimant's solicitations; otherwise the
        owner (or nobody) gets it.
        """
        protocol, modes, counters = makeProtocol()
        solicitation = NTPTimestamp((1000 << 32) | 5)
        spawner, owner = OriginClaimant(solicitation), RecordingHandler()
        modes.claim((4, UNICAST), spawner)
        modes.register(4, owner)
        protocol.datagramReceivedWithInfo(
            datagramTo("10.0.0.1", MODE_SERVER, solicitation.value)
        )
        protocol.datagramReceivedWithInfo(datagramTo("10.0.0.1", MODE_SERVER, 12345))
        self.assertEqual([p.org for p, _ in spawner.received], [solicitation])
        self.assertEqual([p.org for p, _ in owner.received], [NTPTimestamp(12345)])

    def test_claimantAddedLater(self) -> None:
        """
        A mode owned whole routes without looking at the destination; a
        claimant added later is still asked first, and removing it restores
        the owner.
        """
        modes = ModeTable()
        owner = RecordingHandler()
        modes.register(4, owner)
        solicitation = NTPTimestamp(99)
        datagram = datagramTo("10.0.0.1", MODE_SERVER, 99)
        packet = NTPPacket.decode(datagram.data)
        self.assertIs(modes.route(4, packet, datagram), owner)
        spawner = OriginClaimant(solicitation)
        modes.claim((4, UNICAST), spawner)
        self.assertIs(modes.route(4, packet, datagram), spawner)
        modes.unregister(4, spawner)
        self.assertIs(modes.route(4, packet, datagram), owner)

    def test_claimantVerified(self) -> None:
        """
        A claimant must provide L{IPacketClaimant}.
        """
        self.assertRaises(Exception, ModeTable().claim, 4, RecordingHandler())

    def test_unregisterClaimant(self) -> None:
        """
        An unregistered claimant is no longer asked.
        """
        modes = ModeTable()
        spawner = OriginClaimant(NTPTimestamp(1))
        modes.claim(4, spawner)
        modes.unregister(4, spawner)
        self.assertIsNone(
            modes.route(4, NTPPacket(mode=MODE_SERVER, org=NTPTimestamp(1)),
                        datagramTo("10.0.0.1", MODE_SERVER, 1))
        )


class ReceivedDatagramTests(SynchronousTestCase):
    """
    L{ReceivedDatagram.isUnicast} tells broadcasts and multicasts apart.
    """

    def test_unicast(self) -> None:
        """
        Destination equal to the local address, or unknown, is unicast.
        """
        self.assertTrue(ReceivedDatagram(b"", SOURCE).isUnicast)
        self.assertTrue(
            ReceivedDatagram(b"", SOURCE, "10.0.0.1", "10.0.0.1").isUnicast
        )
        self.assertTrue(ReceivedDatagram(b"", SOURCE, "2001:db8::1", "2001:db8::1").isUnicast)

    def test_broadcast(self) -> None:
        """
        A subnet broadcast (destination differs from the local address) and
        the limited broadcast are not unicast.
        """
        self.assertFalse(
            ReceivedDatagram(b"", SOURCE, "10.0.0.255", "10.0.0.1").isUnicast
        )
        self.assertFalse(
            ReceivedDatagram(b"", SOURCE, "255.255.255.255", "10.0.0.1").isUnicast
        )

    def test_multicast(self) -> None:
        """
        IPv4 and IPv6 multicast destinations are not unicast.
        """
        self.assertFalse(ReceivedDatagram(b"", SOURCE, "224.0.1.1", "10.0.0.1").isUnicast)
        self.assertFalse(ReceivedDatagram(b"", SOURCE, "ff05::101", "ff05::101").isUnicast)

    def test_destinationKind(self) -> None:
        """
        L{ReceivedDatagram.destinationKind} names the kind of address.
        """
        for destination, local, kind in [
            (None, None, UNICAST),
            ("10.0.0.1", "10.0.0.1", UNICAST),
            ("10.0.0.255", "10.0.0.1", BROADCAST),
            ("255.255.255.255", "10.0.0.1", BROADCAST),
            ("224.0.1.1", "10.0.0.1", MULTICAST),
            ("ff05::101", "ff05::101", MULTICAST),
            ("2001:db8::1", "2001:db8::1", UNICAST),
        ]:
            datagram = ReceivedDatagram(b"", SOURCE, destination, local)
            self.assertEqual(datagram.destinationKind, kind, destination)


class PacketCountersTests(SynchronousTestCase):
    """
    L{C.PacketCounters} counts by name and keeps the start of the current
    statistics interval.
    """

    def test_sinceReset(self) -> None:
        """
        Before any reset, the interval is the whole life of the counters;
        L{C.PacketCounters.reset} returns the counts of the interval that
        ends and starts the next one at the given time; the totals go on.
        """
        counters = C.PacketCounters()
        self.assertIsNone(counters.resetAt)
        counters.count(C.RECEIVED, 5)
        self.assertEqual(counters.sinceReset(), {C.RECEIVED: 5})
        self.assertEqual(counters.reset(1000), {C.RECEIVED: 5})
        self.assertEqual(counters.resetAt, 1000)
        counters.count(C.RECEIVED, 2)
        counters.count(C.SENT)
        self.assertEqual(counters.sinceReset(), {C.RECEIVED: 2, C.SENT: 1})
        self.assertEqual(counters.snapshot(), {C.RECEIVED: 7, C.SENT: 1})
        self.assertEqual(counters.reset(2000), {C.RECEIVED: 2, C.SENT: 1})
        self.assertEqual(counters.sinceReset(), {C.RECEIVED: 0, C.SENT: 0})
