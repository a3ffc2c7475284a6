# -*- test-case-name: tests.sim.test_hosts -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.sim.hosts}: simulated hosts running the real server,
measured by a hand-made client.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from zope.interface import implementer

from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.clock.simulated import SimulatedClock
from ntpservice.core import counters as C
from ntpservice.core.packet import (
    LEAP_NONE,
    LEAP_NOTINSYNC,
    MODE_CLIENT,
    MODE_SERVER,
    NTPPacket,
)
from ntpservice.core.refid import refidFromASCII
from ntpservice.core.system import PHI, SystemVariables
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.interfaces import IDatagramHandler, IReplySender
from ntpservice.modes.server import ServerMode
from ntpservice.net.multiplexer import NTPDatagramProtocol
from ntpservice.net.udp import ReceivedDatagram
from ntpservice.sim.hosts import (
    REFERENCE_ROOT_DISPERSION,
    REFERENCE_UPDATE_INTERVAL,
    ReferenceServer,
    SimHost,
    Simulation,
)
from ntpservice.sim.network import LinkSpec

SERVER = "10.0.0.1"
CLIENT = "10.0.0.2"
NTP = 123


@dataclass(frozen=True)
class Sample:
    """
    One measurement by the hand-made client, with the truth beside it.

    @ivar offset: server minus client, seconds (RFC 5905 theta).
    @ivar delay: round-trip delay, seconds (RFC 5905 delta).
    @ivar clientError: the client clock's error (clock minus true time)
        when the reply arrived, seconds.
    """

    reply: NTPPacket
    offset: float
    delay: float
    clientError: float


def measure(
    t1: NTPTimestamp, t2: NTPTimestamp, t3: NTPTimestamp, t4: NTPTimestamp
) -> tuple[float, float]:
    """
    @return: offset and delay. @see: RFC 5905 section 8.
    """
    return ((t2 - t1) + (t3 - t4)) / 2, (t4 - t1) - (t3 - t2)


class Requester(DatagramProtocol):
    """
    A hand-made SNTP client: sends mode-3 requests stamped with its host's
    clock and records what each reply measures.
    """

    noisy = False

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.sent: list[NTPTimestamp] = []
        self._outstanding: set[NTPTimestamp] = set()
        self.samples: list[Sample] = []

    def request(self, server: str) -> None:
        t1 = NTPTimestamp.fromUnixNanoseconds(self.clock.now())
        packet = NTPPacket(leap=LEAP_NOTINSYNC, version=4, mode=MODE_CLIENT, xmt=t1)
        assert self.transport is not None
        self.transport.write(packet.encode(), (server, NTP))
        self.sent.append(t1)
        self._outstanding.add(t1)

    def datagramReceivedWithInfo(self, datagram: ReceivedDatagram) -> None:
        t4 = NTPTimestamp.fromUnixNanoseconds(self.clock.now())
        reply = NTPPacket.decode(datagram.data)
        assert reply.org in self._outstanding, "reply to no request of ours"
        self._outstanding.discard(reply.org)
        offset, delay = measure(reply.org, reply.rec, reply.xmt, t4)
        self.samples.append(Sample(reply, offset, delay, self.clock.error()))


@implementer(IDatagramHandler)
class ReplyRecorder:
    """
    A mode-4 handler for a host's own L{NTPDatagramProtocol}, as the client
    engine will register one.
    """

    def __init__(self) -> None:
        self.received: list[tuple[NTPPacket, ReceivedDatagram]] = []

    def datagramReceived(
        self, packet: NTPPacket, datagram: ReceivedDatagram, sender: IReplySender
    ) -> None:
        self.received.append((packet, datagram))


def requester(sim: Simulation, host: SimHost) -> Requester:
    client = Requester(host.clock)
    host.bind(0, client)
    return client


class SimHostTests(SynchronousTestCase):
    """
    L{SimHost} runs the daemon's real protocol on the simulated network.
    """

    def test_assembly(self) -> None:
        """
        A host binds the daemon's real L{NTPDatagramProtocol} at (address,
        123) with its clock, and exposes the pieces the client engine needs.
        """
        sim = Simulation(seed=1)
        host = sim.addHost("10.0.0.7", name="alice", offset=0.5)
        self.assertEqual(host.name, "alice")
        self.assertIs(sim.hosts["alice"], host)
        self.assertTrue(sim.network.isBound("10.0.0.7", NTP))
        self.assertIs(host.protocol.transport, host.transport)
        self.assertIs(host.protocol.modes, host.modes)
        self.assertIs(host.protocol.counters, host.counters)
        self.assertIsInstance(host.protocol, NTPDatagramProtocol)
        self.assertIs(host.reactor, sim.reactor)
        self.assertAlmostEqual(host.clock.error(), 0.5)
        self.assertEqual(host.protocol.now(), host.clock.now())
        self.assertEqual(repr(host), "<SimHost alice at 10.0.0.7>")

    def test_initial(self) -> None:
        """
        A new host is unsynchronized, with its clock's precision, and does
        not serve: requests are counted and dropped.
        """
        sim = Simulation(seed=1)
        host = sim.addHost(SERVER, precision=-23)
        self.assertEqual(host.system, SystemVariables(precision=-23))
        self.assertIsNone(host.server)
        self.assertIsNone(host.modes.get(3))
        client = requester(sim, sim.addHost(CLIENT))
        client.request(SERVER)
        sim.run(1)
        self.assertEqual(client.samples, [])
        self.assertEqual(host.counters[C.NO_HANDLER], 1)

    def test_addServer(self) -> None:
        """
        C{addServer} registers the real L{ServerMode} for modes 0 and 3,
        counting in the host's counters; a second call is refused, and
        after C{removeServer} the host can serve again.
        """
        sim = Simulation(seed=1)
        host = sim.addHost(SERVER)
        server = host.addServer()
        self.assertIsInstance(server, ServerMode)
        self.assertIs(host.modes.get(0), server)
        self.assertIs(host.modes.get(3), server)
        self.assertIs(host.server, server)
        self.assertIs(server.counters, host.counters)
        self.assertRaises(ValueError, host.addServer)
        host.removeServer()
        host.removeServer()
        self.assertIsNone(host.modes.get(0))
        self.assertIsNone(host.modes.get(3))
        self.assertIsNone(host.server)
        host.addServer()

    def test_addServerConflict(self) -> None:
        """
        If another handler holds mode 3, C{addServer} fails and leaves mode
        0 free.
        """
        sim = Simulation(seed=1)
        host = sim.addHost(SERVER)
        other = ReplyRecorder()
        host.modes.register(3, other)
        self.assertRaises(ValueError, host.addServer)
        self.assertIsNone(host.modes.get(0))
        self.assertIs(host.modes.get(3), other)
        self.assertIsNone(host.server)

    def test_stop(self) -> None:
        """
        C{stop} takes the host off the network.
        """
        sim = Simulation(seed=1)
        host = sim.addHost(SERVER)
        host.stop()
        self.assertFalse(sim.network.isBound(SERVER, NTP))

    def test_duplicateName(self) -> None:
        """
        Host names are unique.
        """
        sim = Simulation(seed=1)
        sim.addHost(SERVER, name="a")
        self.assertRaises(ValueError, sim.addHost, CLIENT, name="a")
        self.assertRaises(ValueError, sim.addReferenceServer, CLIENT, name="a")

    def test_unsynchronizedServer(self) -> None:
        """
        A host that serves before it synchronizes answers as the daemon
        does: leap 3, stratum 0, the INIT kiss code; its counters count the
        request and the reply.
        """
        sim = Simulation(seed=1)
        server = sim.addHost(SERVER)
        server.addServer()
        client = requester(sim, sim.addHost(CLIENT))
        client.request(SERVER)
        sim.run(1)
        [sample] = client.samples
        self.assertEqual(sample.reply.leap, LEAP_NOTINSYNC)
        self.assertEqual(sample.reply.kissCode, "INIT")
        self.assertEqual(server.counters[C.RECEIVED], 1)
        self.assertEqual(server.counters[C.SENT], 1)

    def test_serverFollowsSystem(self) -> None:
        """
        Served system variables given as a value become the host's system
        variables, and what the system process sets later is served.
        """
        sim = Simulation(seed=1)
        server = sim.addHost(SERVER)
        first = SystemVariables(leap=LEAP_NONE, stratum=3, refid=b"\x0a\0\0\x09")
        server.addServer(first)
        self.assertIs(server.system, first)
        client = requester(sim, sim.addHost(CLIENT))
        client.request(SERVER)
        sim.run(1)
        server.system = SystemVariables(
            leap=LEAP_NONE, stratum=4, refid=b"\x0a\0\0\x08"
        )
        client.request(SERVER)
        sim.run(1)
        self.assertEqual([s.reply.stratum for s in client.samples], [3, 4])
        self.assertEqual(client.samples[1].reply.refid, b"\x0a\0\0\x08")
        self.assertRaises(ValueError, server.addServer)

    def test_serverCallable(self) -> None:
        """
        A callable source of system variables is asked at every request.
        """
        sim = Simulation(seed=1)
        server = sim.addHost(SERVER)
        asked: list[float] = []

        def system() -> SystemVariables:
            asked.append(sim.seconds())
            return SystemVariables(leap=LEAP_NONE, stratum=2, refid=b"\x0a\0\0\x05")

        server.addServer(system)
        client = requester(sim, sim.addHost(CLIENT))
        sim.link(CLIENT, SERVER, LinkSpec(delay=0.25))
        client.request(SERVER)
        sim.run(1)
        self.assertEqual(asked, [0.25])
        self.assertEqual(client.samples[0].reply.stratum, 2)


class ExchangeTests(SynchronousTestCase):
    """
    A hand-made client measures the real server over the simulated network:
    offset and delay come out as the model says.
    """

    def test_asymmetricLink(self) -> None:
        """
        Against a perfect reference over a 10 ms link with 1 ms asymmetry
        (client to server the longer way), a client whose clock is 200 ms
        fast and gains 20 ppm measures an offset of minus its error plus
        half the asymmetry, and a delay of twice 10 ms.
        """
        sim = Simulation(seed=1)
        reference = sim.addReferenceServer(SERVER)
        host = sim.addHost(CLIENT, offset=0.2, freqPPM=20)
        sim.link(CLIENT, SERVER, LinkSpec(delay=0.010, asymmetry=0.001))
        client = requester(sim, host)
        sim.run(100)
        client.request(SERVER)
        sim.run(1)
        [sample] = client.samples
        self.assertEqual(sample.reply.mode, MODE_SERVER)
        self.assertApproximates(sample.offset, -sample.clientError + 0.0005, 1e-6)
        self.assertApproximates(sample.delay, 0.020, 1e-6)
        self.assertEqual(reference.counters[C.SENT], 1)

    def test_asymmetryOtherWay(self) -> None:
        """
        With the long way from server to client, the offset is wrong by
        minus half the asymmetry.
        """
        sim = Simulation(seed=1)
        sim.addReferenceServer(SERVER)
        host = sim.addHost(CLIENT, offset=-0.3)
        sim.link(SERVER, CLIENT, LinkSpec(delay=0.010, asymmetry=0.001))
        client = requester(sim, host)
        client.request(SERVER)
        sim.run(1)
        [sample] = client.samples
        self.assertApproximates(sample.offset, 0.3 - 0.0005, 1e-6)
        self.assertApproximates(sample.delay, 0.020, 1e-6)

    def test_fastServer(self) -> None:
        """
        A server host whose clock is 50 ms fast is measured 50 ms ahead by a
        perfect client over a symmetric link.
        """
        sim = Simulation(seed=1)
        server = sim.addHost(SERVER, offset=0.050)
        server.addServer(
            SystemVariables(leap=LEAP_NONE, stratum=2, refid=b"\x0a\0\0\x63")
        )
        host = sim.addHost(CLIENT)
        sim.link(CLIENT, SERVER, LinkSpec(delay=0.010))
        client = requester(sim, host)
        client.request(SERVER)
        sim.run(1)
        [sample] = client.samples
        self.assertApproximates(sample.offset, 0.050, 1e-6)
        self.assertApproximates(sample.delay, 0.020, 1e-6)
        self.assertEqual(sample.reply.stratum, 2)

    def test_hostProtocolAsClient(self) -> None:
        """
        A host's own daemon protocol (port 123) can be the client, as the
        client engine will use it: a mode-4 handler registered in its modes
        gets the reply stamped on arrival with the host's clock.
        """
        sim = Simulation(seed=1)
        sim.addReferenceServer(SERVER)
        host = sim.addHost(CLIENT, offset=-0.125)
        sim.link(CLIENT, SERVER, LinkSpec(delay=0.004))
        recorder = ReplyRecorder()
        host.modes.register(MODE_SERVER, recorder)
        t1 = NTPTimestamp.fromUnixNanoseconds(host.clock.now())
        request = NTPPacket(mode=MODE_CLIENT, xmt=t1).encode()
        host.transport.write(request, (SERVER, NTP))
        sim.run(1)
        [(reply, datagram)] = recorder.received
        self.assertEqual(datagram.source, (SERVER, NTP))
        self.assertIsNotNone(datagram.rxTime)
        t4 = NTPTimestamp.fromUnixNanoseconds(datagram.rxTime)  # type: ignore[arg-type]
        offset, delay = measure(reply.org, reply.rec, reply.xmt, t4)
        self.assertEqual(reply.org, t1)
        self.assertApproximates(offset, 0.125, 1e-6)
        self.assertApproximates(delay, 0.008, 1e-6)
        self.assertEqual(host.counters[C.RECEIVED], 1)


class ReferenceServerTests(SynchronousTestCase):
    """
    L{ReferenceServer} serves a stratum-1 GPS reference.
    """

    def test_reply(self) -> None:
        """
        The reply says leap 0, stratum 1, refid GPS, precision -20, root
        delay 0 and a small root dispersion; the reference time is at most
        one update interval old.
        """
        sim = Simulation(seed=1)
        sim.addReferenceServer(SERVER)
        client = requester(sim, sim.addHost(CLIENT))
        sim.run(1000)
        client.request(SERVER)
        sim.run(1)
        [sample] = client.samples
        reply = sample.reply
        self.assertEqual(
            (reply.leap, reply.stratum, reply.refid, reply.precision, reply.rootDelay),
            (LEAP_NONE, 1, b"GPS\0", -20, 0),
        )
        self.assertTrue(
            REFERENCE_ROOT_DISPERSION - 2**-16
            <= reply.rootDispersionSeconds
            <= REFERENCE_ROOT_DISPERSION + PHI * REFERENCE_UPDATE_INTERVAL + 2**-16
        )
        age = reply.rec - reply.reftime
        self.assertTrue(0 <= age < REFERENCE_UPDATE_INTERVAL, age)

    def test_referenceAdvances(self) -> None:
        """
        The reference time advances with the server's clock, one update
        interval at a time, and is the host's system variables.
        """
        sim = Simulation(seed=1)
        server = sim.addReferenceServer(SERVER, refid="PPS")
        first = server.referenceSystem()
        self.assertIs(server.system, first)
        sim.run(REFERENCE_UPDATE_INTERVAL - 1)
        self.assertIs(server.referenceSystem(), first)
        sim.run(1)
        second = server.referenceSystem()
        self.assertEqual(second.reftime - first.reftime, REFERENCE_UPDATE_INTERVAL)
        self.assertEqual(second.refid, refidFromASCII("PPS"))
        self.assertTrue(second.synchronized)

    def test_direct(self) -> None:
        """
        A reference server can be built on a network without a
        L{Simulation}; its clock is then perfect.
        """
        sim = Simulation(seed=1)
        server = ReferenceServer(sim.network, "10.0.0.9")
        self.assertEqual(server.clock.error(), 0.0)
        self.assertEqual(server.modes.get(3), server.server)
        self.assertRaises(
            ValueError, ReferenceServer, sim.network, "10.0.0.8", refid=""
        )
        self.assertRaises(
            ValueError, ReferenceServer, sim.network, "10.0.0.8", updateInterval=0
        )


def hourOfPolling(seed: int) -> tuple[Simulation, Requester, float]:
    """
    One simulated hour of a client with a wandering clock polling a
    reference every 64 s over a jittery, lossy link.

    @return: the simulation, the client and the wall time the run took.
    """
    sim = Simulation(seed)
    sim.addReferenceServer(SERVER)
    host = sim.addHost(CLIENT, offset=0.01, freqPPM=15, wanderPPBPerSecond=1.0)
    sim.link(CLIENT, SERVER, LinkSpec(delay=0.010, jitter=0.0005, loss=0.05))
    client = requester(sim, host)
    poll = LoopingCall(client.request, SERVER)
    poll.clock = sim.reactor
    poll.start(64, now=True)
    started = time.perf_counter()
    sim.run(3600)
    elapsed = time.perf_counter() - started
    poll.stop()
    return sim, client, elapsed


class SimulationTests(SynchronousTestCase):
    """
    L{Simulation} runs hours of true time quickly and deterministically.
    """

    def test_hourIsCheap(self) -> None:
        """
        An hour of polling every 64 s runs in well under a second of wall
        time; every reply measures the client's error to within the
        link's jitter.
        """
        sim, client, elapsed = hourOfPolling(seed=3)
        self.assertLess(elapsed, 1.0)
        self.assertEqual(len(client.sent), 57)
        self.assertAlmostEqual(sim.seconds(), 3600, places=6)
        self.assertEqual(len(client.samples), 57 - sim.network.totals.lost)
        self.assertGreater(len(client.samples), 45)
        for sample in client.samples:
            self.assertApproximates(sample.offset, -sample.clientError, 0.005)
            self.assertTrue(0.020 - 1e-6 <= sample.delay < 0.040)

    def test_deterministic(self) -> None:
        """
        The same seed gives the same measurements, to the bit; another seed
        gives others.
        """
        _, one, _ = hourOfPolling(seed=11)
        _, two, _ = hourOfPolling(seed=11)
        _, three, _ = hourOfPolling(seed=12)
        self.assertEqual(one.samples, two.samples)
        self.assertNotEqual(one.samples, three.samples)

    def test_clocksIndependent(self) -> None:
        """
        A host's clock wanders the same whatever other hosts exist.
        """

        def trajectory(extraHost: bool) -> list[float]:
            sim = Simulation(seed=5)
            if extraHost:
                other = sim.addHost("10.0.0.99", wanderPPBPerSecond=5.0)
            host = sim.addHost(CLIENT, wanderPPBPerSecond=5.0)
            errors = []

            def observe(s: Simulation) -> None:
                errors.append(host.clock.error())
                if extraHost:
                    other.clock.error()

            sim.run(600, step=60, observe=observe)
            return errors

        self.assertEqual(trajectory(False), trajectory(True))
        self.assertNotEqual(trajectory(False)[-1], 0.0)

    def test_runSteps(self) -> None:
        """
        With a step, time stops on the step grid and at the end; without,
        once at the end. Calls run at their own time.
        """
        sim = Simulation(seed=1)
        stops: list[float] = []
        calls: list[float] = []
        sim.reactor.callLater(4.5, lambda: calls.append(sim.seconds()))
        sim.run(10, step=3, observe=lambda s: stops.append(s.seconds()))
        self.assertEqual(stops, [3, 6, 9, 10])
        self.assertEqual(calls, [4.5])
        sim.run(5, observe=lambda s: stops.append(s.seconds()))
        self.assertEqual(stops[-1], 15)
        sim.runUntil(20)
        self.assertEqual(sim.seconds(), 20)

    def test_emptyRunIsFree(self) -> None:
        """
        A day with nothing to do takes no time.
        """
        sim = Simulation(seed=1)
        sim.addHost(SERVER, wanderPPBPerSecond=0)
        started = time.perf_counter()
        sim.run(86400)
        self.assertLess(time.perf_counter() - started, 0.1)
        self.assertEqual(sim.seconds(), 86400)

    def test_invalidRun(self) -> None:
        """
        Negative or non-finite durations and non-positive steps are
        refused.
        """
        sim = Simulation(seed=1)
        self.assertRaises(ValueError, sim.run, -1)
        self.assertRaises(ValueError, sim.run, float("inf"))
        self.assertRaises(ValueError, sim.run, 10, step=0)
        self.assertRaises(ValueError, sim.run, 10, step=float("nan"))

    def test_epoch(self) -> None:
        """
        Every clock reads the simulation's epoch (plus its error) at true
        time zero.
        """
        epoch = 1_900_000_000 * 10**9
        sim = Simulation(seed=1, epochNs=epoch)
        host = sim.addHost(SERVER, offset=0.001)
        self.assertEqual(host.clock.now(), epoch + 1_000_000)


SHARED_KEY = "1 SHA1 0123456789abcdef0123456789abcdef01234567\n"
"""The key the authenticating server and client share."""

WRONG_KEY = "1 SHA1 76543210fedcba9876543210fedcba9876543210\n"
"""Key 1 with another secret."""


class AuthenticationTests(SynchronousTestCase):
    """
    Hosts running our daemon (L{SimHost.runDaemon}) authenticate with
    symmetric keys: a client with C{server ADDRESS key N} synchronizes to
    a server that shares key N, and never to one that does not.
    """

    def exchange(self, clientKeys: str) -> tuple[SimHost, SimHost, object]:
        """
        Run a server (our daemon on its LOCAL clock, with a keys file that
        its configuration names) and a client 0.3 s off with the keys text
        C{clientKeys}, for ten minutes.

        @return: the server host, the client host and the client daemon.
        """
        keys = self.mktemp()
        with open(keys, "w") as f:
            f.write(SHARED_KEY)
        os.chmod(keys, 0o600)
        sim = Simulation(seed=5)
        server = sim.addHost(SERVER, name="server")
        client = sim.addHost(CLIENT, name="client", offset=0.3)
        sim.link(SERVER, CLIENT, LinkSpec(delay=1e-3, jitter=1e-5))
        server.runDaemon(
            "server 127.127.1.0\nfudge 127.127.1.0 stratum 1\n"
            f"keys {keys}\ntrustedkey 1\n"
        )
        daemon = client.runDaemon(
            f"server {SERVER} key 1 iburst\ntrustedkey 1\n", keyring=clientKeys
        )
        sim.run(600)
        return server, client, daemon

    def test_sharedKey(self) -> None:
        """
        With the key the server has, every reply is authentic: the client
        selects the server and its clock follows.
        """
        server, client, daemon = self.exchange(SHARED_KEY)
        [association] = daemon.engine.associations  # type: ignore[attr-defined]
        self.assertEqual(daemon.engine.systemPeer, association.associd)  # type: ignore[attr-defined]
        self.assertLess(abs(client.clock.error()), 1e-3)
        self.assertGreater(client.counters["processed"], 0)
        self.assertEqual(client.counters["peer.auth.cryptonak"], 0)
        self.assertEqual(client.counters["peer.auth.failed"], 0)
        self.assertEqual(server.counters["auth.bad_mac"], 0)

    def test_wrongKey(self) -> None:
        """
        With key 1 of another secret, the server answers with crypto-NAKs,
        which the client counts and never uses: it has no system peer and
        its clock keeps its error.
        """
        server, client, daemon = self.exchange(WRONG_KEY)
        self.assertIsNone(daemon.engine.systemPeer)  # type: ignore[attr-defined]
        self.assertAlmostEqual(client.clock.error(), 0.3, delta=1e-3)
        self.assertGreater(client.counters["peer.auth.cryptonak"], 0)
        self.assertEqual(client.counters["processed"], 0)
        self.assertGreater(server.counters["auth.bad_mac"], 0)
