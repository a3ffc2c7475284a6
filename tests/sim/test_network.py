# -*- test-case-name: tests.sim.test_network -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.sim.network}.
"""

from __future__ import annotations

import random
import statistics
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import CannotListenError, InvalidAddressError
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.net.udp import ReceivedDatagram
from ntpservice.sim.network import (
    DEFAULT_LINK,
    EPHEMERAL_PORTS,
    LOOPBACK,
    SIM_IFINDEX,
    TWO_EXPONENTIALS,
    LinkCounters,
    LinkSpec,
    SimNetwork,
    SimTransport,
    runUntil,
)

A = "10.0.0.1"
B = "10.0.0.2"
C = "10.0.0.3"
PORT = 123


class Recorder(DatagramProtocol):
    """
    Records every datagram with the true time it arrived.
    """

    noisy = False

    def __init__(self, reactor: Clock) -> None:
        self.reactor = reactor
        self.received: list[tuple[float, ReceivedDatagram]] = []
        self.stopped = False

    def datagramReceivedWithInfo(self, datagram: ReceivedDatagram) -> None:
        self.received.append((self.reactor.seconds(), datagram))

    def stopProtocol(self) -> None:
        self.stopped = True

    @property
    def payloads(self) -> list[bytes]:
        return [d.data for _t, d in self.received]

    @property
    def times(self) -> list[float]:
        return [t for t, _d in self.received]


class PlainRecorder(DatagramProtocol):
    """
    A protocol with only C{datagramReceived}.
    """

    noisy = False

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Any]] = []

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))


def makeNetwork(
    seed: int = 1, defaultLink: LinkSpec = DEFAULT_LINK
) -> tuple[Clock, SimNetwork]:
    reactor = Clock()
    return reactor, SimNetwork(reactor, random.Random(seed), defaultLink)


def pair(
    network: SimNetwork, reactor: Clock
) -> tuple[SimTransport, Recorder, SimTransport, Recorder]:
    ra, rb = Recorder(reactor), Recorder(reactor)
    ta = network.bind(A, PORT, ra)
    tb = network.bind(B, PORT, rb)
    return ta, ra, tb, rb


class LinkSpecTests(SynchronousTestCase):
    """
    L{LinkSpec} validates its fields and splits the asymmetry between the
    two directions.
    """

    def test_directions(self) -> None:
        """
        A to B takes C{delay + asymmetry / 2}, B to A C{delay - asymmetry /
        2}: the round trip is C{2 * delay}.
        """
        spec = LinkSpec(delay=0.010, asymmetry=0.002)
        self.assertAlmostEqual(spec.forwardDelay, 0.011)
        self.assertAlmostEqual(spec.reverseDelay, 0.009)
        self.assertAlmostEqual(spec.forwardDelay + spec.reverseDelay, 0.020)
        self.assertEqual(spec.reversed(), LinkSpec(delay=0.010, asymmetry=-0.002))

    def test_invalid(self) -> None:
        """
        Negative or non-finite delays, an asymmetry that would make a
        direction negative and a loss outside 0..1 are refused.
        """
        for kw in [
            {"delay": -1e-3},
            {"delay": float("inf")},
            {"delay": float("nan")},
            {"jitter": -1e-3},
            {"delay": 1e-3, "asymmetry": 3e-3},
            {"delay": 1e-3, "asymmetry": -3e-3},
            {"asymmetry": float("nan")},
            {"loss": -0.1},
            {"loss": 1.5},
            {"loss": float("nan")},
            {"distribution": "uniform"},
        ]:
            self.assertRaises(ValueError, LinkSpec, **kw)

    def test_extremes(self) -> None:
        """
        A one-way delay of zero (asymmetry of twice the delay) and a loss of
        1 are allowed.
        """
        spec = LinkSpec(delay=1e-3, asymmetry=2e-3, loss=1.0)
        self.assertEqual(spec.reverseDelay, 0.0)
        self.assertEqual(spec.forwardDelay, 2e-3)


class DeliveryTests(SynchronousTestCase):
    """
    Datagrams reach the destination's protocol after the link's delay.
    """

    def test_delay(self) -> None:
        """
        Without jitter a datagram arrives exactly C{delay} after it was
        sent, not before.
        """
        reactor, network = makeNetwork()
        network.link(A, B, LinkSpec(delay=0.010))
        ta, ra, tb, rb = pair(network, reactor)
        ta.write(b"hello", (B, PORT))
        reactor.advance(0.00999)
        self.assertEqual(rb.received, [])
        reactor.advance(0.00001)
        self.assertEqual(rb.payloads, [b"hello"])
        self.assertAlmostEqual(rb.times[0], 0.010, places=12)

    def test_receivedDatagram(self) -> None:
        """
        The protocol gets a L{ReceivedDatagram} with the sender's address
        and port, the destination as both header destination and local
        address, interface 1 and no receive time (the receiving host stamps
        it with its own clock); it is a unicast datagram.
        """
        reactor, network = makeNetwork()
        ta, ra, tb, rb = pair(network, reactor)
        client = Recorder(reactor)
        tc = network.bind(A, 0, client)
        tc.write(b"x", (B, PORT))
        reactor.advance(1)
        [(_t, datagram)] = rb.received
        self.assertEqual(
            datagram,
            ReceivedDatagram(
                b"x",
                (A, tc.port),
                destination=B,
                localAddress=B,
                ifindex=SIM_IFINDEX,
                rxTime=None,
            ),
        )
        self.assertTrue(datagram.isUnicast)

    def test_sendFrom(self) -> None:
        """
        C{sendFrom} sends from the bound address, whatever local address it
        is given, and returns the reply to the sender's port.
        """
        reactor, network = makeNetwork()
        ta, ra, tb, rb = pair(network, reactor)
        tb.sendFrom(b"reply", (A, PORT), localAddress=B, ifindex=7)
        reactor.advance(1)
        [(_t, datagram)] = ra.received
        self.assertEqual((datagram.data, datagram.source), (b"reply", (B, PORT)))

    def test_jitter(self) -> None:
        """
        Jitter adds a non-negative exponential delay of the given mean (and
        standard deviation): no datagram arrives before the base delay, and
        the excess averages about C{jitter}.
        """
        reactor, network = makeNetwork()
        network.link(A, B, LinkSpec(delay=0.010, jitter=0.001))
        ta, ra, tb, rb = pair(network, reactor)
        n = 4000
        sent = []
        for i in range(n):
            sent.append(reactor.seconds())
            ta.write(i.to_bytes(4, "big"), (B, PORT))
            runUntil(reactor, reactor.seconds() + 0.1)
        self.assertEqual(len(rb.received), n)
        excess = [
            t - sent[int.from_bytes(p, "big")] - 0.010
            for t, p in zip(rb.times, rb.payloads)
        ]
        self.assertGreaterEqual(min(excess), -1e-9)
        self.assertApproximates(statistics.fmean(excess), 0.001, 0.0001)
        self.assertApproximates(statistics.pstdev(excess), 0.001, 0.0001)

    def test_twoExponentials(self) -> None:
        """
        With L{TWO_EXPONENTIALS} the jitter keeps its mean but is the sum of
        two exponentials of half the mean: its standard deviation is the
        mean over the square root of two, and few datagrams arrive near the
        base delay (under a tenth of the mean excess: about 1.7 %, against
        9.5 % for an exponential).
        """
        reactor, network = makeNetwork()
        network.link(
            A, B, LinkSpec(delay=0.010, jitter=0.001, distribution=TWO_EXPONENTIALS)
        )
        ta, ra, tb, rb = pair(network, reactor)
        n = 4000
        sent = []
        for i in range(n):
            sent.append(reactor.seconds())
            ta.write(i.to_bytes(4, "big"), (B, PORT))
            runUntil(reactor, reactor.seconds() + 0.1)
        excess = [
            t - sent[int.from_bytes(p, "big")] - 0.010
            for t, p in zip(rb.times, rb.payloads)
        ]
        self.assertGreaterEqual(min(excess), -1e-9)
        self.assertApproximates(statistics.fmean(excess), 0.001, 0.0001)
        self.assertApproximates(statistics.pstdev(excess), 0.001 / 2**0.5, 0.0001)
        near = sum(1 for e in excess if e < 0.0001) / n
        self.assertLess(near, 0.04)

    def test_reordering(self) -> None:
        """
        Nothing keeps datagrams in order: sent together over a jittery
        link, they arrive shuffled, each at its own time.
        """
        reactor, network = makeNetwork()
        network.link(A, B, LinkSpec(delay=0.010, jitter=0.001))
        ta, ra, tb, rb = pair(network, reactor)
        for i in range(100):
            ta.write(bytes([i]), (B, PORT))
        runUntil(reactor, 1)
        order = [p[0] for p in rb.payloads]
        self.assertNotEqual(order, sorted(order))
        self.assertEqual(sorted(order), list(range(100)))
        self.assertEqual(rb.times, sorted(rb.times))
        self.assertEqual(len(set(rb.times)), 100)

    def test_loss(self) -> None:
        """
        A lossy link loses about the configured fraction of the datagrams;
        the counters add up.
        """
        reactor, network = makeNetwork(seed=7)
        network.link(A, B, LinkSpec(delay=0.001, loss=0.1))
        ta, ra, tb, rb = pair(network, reactor)
        n = 10000
        for _ in range(n):
            ta.write(b"x", (B, PORT))
            runUntil(reactor, reactor.seconds() + 0.0005)
        counters = network.counters(A, B)
        self.assertGreater(counters.inFlight, 0)
        runUntil(reactor, reactor.seconds() + 1)
        self.assertEqual(counters.inFlight, 0)
        self.assertApproximates(counters.lost / n, 0.1, 0.012)
        self.assertEqual(len(rb.received), n - counters.lost)
        self.assertEqual(
            counters,
            LinkCounters(sent=n, lost=counters.lost, delivered=n - counters.lost),
        )
        self.assertEqual(network.totals, counters)
        self.assertEqual(network.counters(B, A), LinkCounters())

    def test_totalLoss(self) -> None:
        """
        A link with loss 1 delivers nothing: a partition.
        """
        reactor, network = makeNetwork()
        network.link(A, B, LinkSpec(loss=1.0))
        ta, ra, tb, rb = pair(network, reactor)
        for _ in range(100):
            ta.write(b"x", (B, PORT))
            tb.write(b"y", (A, PORT))
        reactor.advance(1)
        self.assertEqual((ra.received, rb.received), ([], []))
        self.assertEqual(network.totals.lost, 200)

    def test_asymmetry(self) -> None:
        """
        The asymmetry lengthens the direction from the first address given
        to L{SimNetwork.link} to the second and shortens the other one;
        L{SimNetwork.spec} reports it seen from either side.
        """
        reactor, network = makeNetwork()
        network.link(B, A, LinkSpec(delay=0.010, asymmetry=0.002))
        ta, ra, tb, rb = pair(network, reactor)
        tb.write(b"b-to-a", (A, PORT))
        ta.write(b"a-to-b", (B, PORT))
        reactor.pump([0.001] * 20)
        self.assertAlmostEqual(ra.times[0], 0.011, places=9)
        self.assertAlmostEqual(rb.times[0], 0.009, places=9)
        self.assertEqual(network.spec(B, A).asymmetry, 0.002)
        self.assertEqual(network.spec(A, B).asymmetry, -0.002)

    def test_relink(self) -> None:
        """
        Linking a pair again replaces the link in both directions (whatever
        the order of the addresses); the counters go on.
        """
        reactor, network = makeNetwork()
        network.link(A, B, LinkSpec(delay=0.010))
        ta, ra, tb, rb = pair(network, reactor)
        ta.write(b"1", (B, PORT))
        reactor.advance(1)
        network.link(B, A, LinkSpec(delay=0.020, asymmetry=0.010))
        ta.write(b"2", (B, PORT))
        tb.write(b"3", (A, PORT))
        reactor.advance(0.015)
        self.assertEqual(rb.payloads, [b"1", b"2"])
        self.assertEqual(ra.payloads, [])
        reactor.advance(0.010)
        self.assertEqual(ra.payloads, [b"3"])
        self.assertEqual(network.counters(A, B).delivered, 2)

    def test_defaultLink(self) -> None:
        """
        Addresses never linked use the network's default link; the stock
        default has 100 us delay and 100 us jitter.
        """
        self.assertEqual(DEFAULT_LINK, LinkSpec(delay=1e-4, jitter=1e-4))
        reactor, network = makeNetwork(defaultLink=LinkSpec(delay=0.5))
        ta, ra, tb, rb = pair(network, reactor)
        ta.write(b"x", (B, PORT))
        reactor.advance(0.4999)
        self.assertEqual(rb.received, [])
        reactor.advance(0.0001)
        self.assertEqual(len(rb.received), 1)
        self.assertEqual(network.spec(A, B), LinkSpec(delay=0.5))

    def test_loopback(self) -> None:
        """
        A datagram to the sender's own address arrives at once (on the next
        reactor turn) and is never lost; an address cannot be linked to
        itself.
        """
        reactor, network = makeNetwork(defaultLink=LinkSpec(delay=1, loss=1.0))
        server = Recorder(reactor)
        network.bind(A, PORT, server)
        client = network.bind(A, 0, Recorder(reactor))
        client.write(b"x", (A, PORT))
        self.assertEqual(server.received, [])
        reactor.advance(0)
        self.assertEqual(server.payloads, [b"x"])
        self.assertEqual(network.spec(A, A), LOOPBACK)
        self.assertRaises(ValueError, network.link, A, A, LinkSpec())

    def test_callablePayload(self) -> None:
        """
        A callable payload is called once, when the datagram is sent (not
        when it arrives), even if the datagram is then lost.
        """
        reactor, network = makeNetwork()
        network.link(A, B, LinkSpec(delay=0.010))
        ta, ra, tb, rb = pair(network, reactor)
        calls: list[float] = []

        def payload() -> bytes:
            calls.append(reactor.seconds())
            return b"at %f" % reactor.seconds()

        reactor.advance(5)
        ta.sendFrom(payload, (B, PORT))
        self.assertEqual(calls, [5.0])
        reactor.advance(1)
        self.assertEqual(rb.payloads, [b"at 5.000000"])
        network.link(A, B, LinkSpec(loss=1.0))
        ta.write(payload, (B, PORT))
        self.assertEqual(len(calls), 2)

    def test_unknownDestination(self) -> None:
        """
        A datagram to an address or port where nothing is bound is dropped
        on arrival and counted as unreachable.
        """
        reactor, network = makeNetwork()
        ta, ra, tb, rb = pair(network, reactor)
        ta.write(b"x", (C, PORT))
        ta.write(b"y", (B, 9999))
        reactor.advance(1)
        self.assertEqual(rb.received, [])
        self.assertEqual(network.counters(A, C).unreachable, 1)
        self.assertEqual(network.counters(A, B).unreachable, 1)
        self.assertEqual(network.totals.unreachable, 2)
        self.assertEqual(network.totals.delivered, 0)

    def test_plainProtocol(self) -> None:
        """
        A protocol without C{datagramReceivedWithInfo} gets the bytes and
        the source through C{datagramReceived}.
        """
        reactor, network = makeNetwork()
        plain = PlainRecorder()
        network.bind(B, PORT, plain)
        sender = network.bind(A, PORT, Recorder(reactor))
        sender.write(b"x", (B, PORT))
        reactor.advance(1)
        self.assertEqual(plain.received, [(b"x", (A, PORT))])

    def test_ipv6(self) -> None:
        """
        IPv6 addresses work and are normalized; sending across families is
        refused.
        """
        reactor, network = makeNetwork()
        r6 = Recorder(reactor)
        t6 = network.bind("FD00:0::1", PORT, r6)
        self.assertEqual(t6.getHost(), IPv6Address("UDP", "fd00::1", PORT))
        other = network.bind("fd00::2", PORT, Recorder(reactor))
        other.write(b"x", ("fd00:0:0::1", PORT))
        reactor.advance(1)
        self.assertEqual(r6.received[0][1].source, ("fd00::2", PORT))
        self.assertRaises(InvalidAddressError, other.write, b"x", (A, PORT))


class DeterminismTests(SynchronousTestCase):
    """
    One seed gives one network: the same arrival times, whatever else
    happens on other paths.
    """

    def arrivals(self, seed: int, noise: bool = False) -> list[float]:
        reactor, network = makeNetwork(seed)
        network.link(A, B, LinkSpec(delay=0.010, jitter=0.002, loss=0.2))
        ta, ra, tb, rb = pair(network, reactor)
        tc = network.bind(C, PORT, Recorder(reactor))
        for i in range(200):
            ta.write(i.to_bytes(2, "big"), (B, PORT))
            if noise:
                tc.write(b"noise", (B, PORT))
                tb.write(b"noise", (A, PORT))
            runUntil(reactor, reactor.seconds() + 0.5)
        runUntil(reactor, reactor.seconds() + 1)
        return [t for t, d in rb.received if d.source[0] == A]

    def test_sameSeed(self) -> None:
        """
        The same seed gives the same arrival times.
        """
        self.assertEqual(self.arrivals(42), self.arrivals(42))

    def test_otherSeed(self) -> None:
        """
        Another seed gives other arrival times.
        """
        self.assertNotEqual(self.arrivals(42), self.arrivals(43))

    def test_pathsIndependent(self) -> None:
        """
        Traffic on other paths (other senders, the reverse direction) does
        not change the delays and losses of a path.
        """
        self.assertEqual(self.arrivals(42), self.arrivals(42, noise=True))


class EndpointTests(SynchronousTestCase):
    """
    Binding, ephemeral ports, unbinding.
    """

    def test_makeConnection(self) -> None:
        """
        Binding connects the protocol to its transport, which reports the
        bound address.
        """
        reactor, network = makeNetwork()
        protocol = Recorder(reactor)
        transport = network.bind(A, PORT, protocol)
        self.assertIs(protocol.transport, transport)
        self.assertEqual(transport.getHost(), IPv4Address("UDP", A, PORT))
        self.assertTrue(network.isBound(A, PORT))

    def test_conflict(self) -> None:
        """
        An address and port can be bound once.
        """
        reactor, network = makeNetwork()
        network.bind(A, PORT, Recorder(reactor))
        self.assertRaises(CannotListenError, network.bind, A, PORT, Recorder(reactor))
        self.assertRaises(CannotListenError, network.bind, A, 70000, Recorder(reactor))

    def test_ephemeral(self) -> None:
        """
        Port 0 binds the lowest free ephemeral port, then the next ones.
        """
        reactor, network = makeNetwork()
        low = EPHEMERAL_PORTS[0]
        network.bind(A, low + 1, Recorder(reactor))
        ports = [network.bind(A, 0, Recorder(reactor)).port for _ in range(3)]
        self.assertEqual(ports, [low, low + 2, low + 3])
        self.assertEqual(network.bind(B, 0, Recorder(reactor)).port, low)

    def test_invalidAddress(self) -> None:
        """
        Host names are refused: the network knows IP addresses only.
        """
        reactor, network = makeNetwork()
        self.assertRaises(
            InvalidAddressError, network.bind, "server", PORT, Recorder(reactor)
        )
        transport = network.bind(A, PORT, Recorder(reactor))
        self.assertRaises(InvalidAddressError, transport.write, b"x", ("server", PORT))

    def test_stopListening(self) -> None:
        """
        After C{stopListening} the protocol is stopped, datagrams in flight
        to the endpoint are dropped as unreachable, sending raises, and the
        address and port can be bound again.
        """
        reactor, network = makeNetwork()
        network.link(A, B, LinkSpec(delay=0.010))
        ta, ra, tb, rb = pair(network, reactor)
        ta.write(b"x", (B, PORT))
        d = tb.stopListening()
        self.assertIsNone(self.successResultOf(d))
        self.assertTrue(rb.stopped)
        self.assertIsNone(rb.transport)
        self.assertFalse(network.isBound(B, PORT))
        reactor.advance(1)
        self.assertEqual(rb.received, [])
        self.assertEqual(network.counters(A, B).unreachable, 1)
        self.assertRaises(RuntimeError, tb.write, b"y", (A, PORT))
        self.successResultOf(tb.stopListening())
        network.bind(B, PORT, Recorder(reactor))


class GroupTests(SynchronousTestCase):
    """
    Datagrams to a group reach every member but the sender.
    """

    def test_multicast(self) -> None:
        """
        A member gets the datagram with the group as destination and its own
        address as local address (so it is not unicast); the sender and
        non-members get nothing; each copy travels its own link.
        """
        reactor, network = makeNetwork()
        network.link(A, B, LinkSpec(delay=0.001))
        network.link(A, C, LinkSpec(delay=0.002))
        ta, ra, tb, rb = pair(network, reactor)
        rc = Recorder(reactor)
        network.bind(C, PORT, rc)
        outsider = Recorder(reactor)
        network.bind("10.0.0.4", PORT, outsider)
        group = "224.0.1.1"
        for address in (A, B):
            network.join(group, address)
        self.successResultOf(network._endpoints[(C, PORT)].joinGroup(group))
        self.assertEqual(network.members(group), [A, B, C])
        ta.write(b"m", (group, PORT))
        runUntil(reactor, 1)
        self.assertEqual((ra.received, outsider.received), ([], []))
        [(tB, dB)] = rb.received
        [(tC, dC)] = rc.received
        self.assertAlmostEqual(tB, 0.001)
        self.assertAlmostEqual(tC, 0.002)
        self.assertEqual((dB.destination, dB.localAddress), (group, B))
        self.assertEqual((dC.destination, dC.localAddress), (group, C))
        self.assertFalse(dB.isUnicast)
        self.assertEqual(network.totals.sent, 2)

    def test_broadcastAndLeave(self) -> None:
        """
        A broadcast address works as a group (not unicast to the members);
        a member that left gets nothing more, and an empty group is
        forgotten (a datagram to it is unicast to nobody).
        """
        reactor, network = makeNetwork()
        ta, ra, tb, rb = pair(network, reactor)
        broadcast = "10.0.0.255"
        network.join(broadcast, B)
        ta.write(b"1", (broadcast, PORT))
        reactor.advance(1)
        self.assertFalse(rb.received[0][1].isUnicast)
        self.successResultOf(tb.leaveGroup(broadcast))
        network.leave(broadcast, B)
        network.leave("224.0.0.9", B)
        ta.write(b"2", (broadcast, PORT))
        reactor.advance(1)
        self.assertEqual(rb.payloads, [b"1"])
        self.assertEqual(network.members(broadcast), [])
        self.assertEqual(network.counters(A, broadcast).unreachable, 1)


class RunUntilTests(SynchronousTestCase):
    """
    L{runUntil} advances a C{task.Clock} one deadline at a time.
    """

    def test_eachCallAtItsTime(self) -> None:
        """
        Each call reads the time it was scheduled for, calls scheduled by
        calls run if they fall due in time, and the clock ends at the target.
        """
        reactor = Clock()
        seen: list[tuple[str, float]] = []

        def record(name: str) -> None:
            seen.append((name, reactor.seconds()))
            if name == "b":
                reactor.callLater(0.5, record, "c")

        reactor.callLater(1.1, record, "a")
        reactor.callLater(2.2, record, "b")
        reactor.callLater(3.0, record, "late")
        runUntil(reactor, 2.9)
        self.assertEqual(seen, [("a", 1.1), ("b", 2.2), ("c", 2.7)])
        self.assertAlmostEqual(reactor.seconds(), 2.9, places=12)
        runUntil(reactor, 1.0)
        self.assertAlmostEqual(reactor.seconds(), 2.9, places=12)

    def test_resetCall(self) -> None:
        """
        A call moved earlier with C{reset} still runs at its new time.
        """
        reactor = Clock()
        seen: list[float] = []
        reactor.callLater(5, lambda: seen.append(reactor.seconds()))
        late = reactor.callLater(10, lambda: seen.append(reactor.seconds()))
        late.reset(1)
        runUntil(reactor, 20)
        self.assertEqual(seen, [1.0, 5.0])

    def test_notFinite(self) -> None:
        """
        An infinite target is refused.
        """
        self.assertRaises(ValueError, runUntil, Clock(), float("inf"))
