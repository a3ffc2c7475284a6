# -*- test-case-name: tests.scenarios.011_campus -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Scenario 011, seed 003's campus network (issue 11): core servers, each with
its own upstream, peering symmetrically so that time flows from the
survivors when one loses its sources; and, when every core server loses
UTC, orphan mode (C{tos orphan 5}) keeping the subnet on one timescale.

Hosts: a reference server (10.0.0.1, stratum 1), core servers 10.0.1.1 to
10.0.1.3 (C{server 10.0.0.1} and C{peer} lines to each other) and orphan
children 10.0.2.1 to 10.0.2.4 (C{server} lines to every core server), all
with the same C{tos orphan 5 orphanwait 120}, polling every 16 to 64 s
over LAN links (1 ms plus exponential jitter of mean 100 us). Clocks start
up to 10 ms and 10 ppm off, with 1 ppb/s of wander.

Measured with seed 3: after the reference is cut, the subnet agrees on
core server 10.0.1.1 (the smallest address) within 420 s (orphanwait 120
s plus the time for the reference to fall silent, five polls, and for the
core servers' transient loops to unwind); the clocks then agree within
0.09 ms. When 10.0.1.1 dies, everyone follows 10.0.1.2 within 460 s; when
the reference returns every core server follows it, and every child a
core server, within 220 s, without a step.
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.sim.hosts import SimHost, Simulation
from ntpservice.sim.network import LinkSpec
from tests.scenarios.harness import LAN, DaemonRecorder

REFERENCE = "10.0.0.1"
CORES = ("10.0.1.1", "10.0.1.2", "10.0.1.3")
CHILDREN = ("10.0.2.1", "10.0.2.2", "10.0.2.3", "10.0.2.4")
TOS = "tos orphan 5 orphanwait 120\n"
POLL = "minpoll 4 maxpoll 6"
DEAD = LinkSpec(delay=LAN.delay, jitter=LAN.jitter, loss=1.0)


class Campus:
    """
    The campus of seed 003 on a simulated network.

    @ivar hosts: address to (host, daemon).
    @ivar recorders: a L{DaemonRecorder} per host (the clock steps).
    """

    def __init__(self, seed: int = 3) -> None:
        self.sim = Simulation(seed, defaultLink=LAN)
        self.sim.addReferenceServer(REFERENCE)
        rng = random.Random(seed)
        self.hosts: dict[str, tuple[SimHost, Any]] = {}
        self.recorders: list[DaemonRecorder] = []
        for address in CORES + CHILDREN:
            host = self.sim.addHost(
                address,
                offset=rng.uniform(-0.01, 0.01),
                freqPPM=rng.uniform(-10, 10),
                wanderPPBPerSecond=1.0,
            )
            if address in CORES:
                config = f"server {REFERENCE} iburst {POLL}\n" + "".join(
                    f"peer {other} {POLL}\n" for other in CORES if other != address
                )
            else:
                config = "".join(f"server {core} iburst {POLL}\n" for core in CORES)
            daemon = host.runDaemon(TOS + config)
            recorder = DaemonRecorder(self.sim)
            daemon.addObserver(recorder)
            self.recorders.append(recorder)
            self.hosts[address] = (host, daemon)

    def systemPeer(self, address: str) -> str | None:
        engine = self.hosts[address][1].engine
        association = engine.associations.byID.get(engine.systemPeer)
        return None if association is None else association.address

    def error(self, address: str) -> float:
        return float(self.hosts[address][0].clock.error())

    def isOrphan(self, address: str) -> bool:
        return bool(self.hosts[address][1].engine.isOrphan)

    def steps(self) -> int:
        return sum(len(r.steps) for r in self.recorders)

    def cut(self, address: str, *others: str) -> None:
        """Every datagram between C{address} and C{others} is lost."""
        for other in others:
            self.sim.link(address, other, DEAD)

    def heal(self, address: str, *others: str) -> None:
        for other in others:
            self.sim.link(address, other, LAN)

    def waitUntil(self, predicate: Any, limit: float, step: float = 10.0) -> float:
        """
        Run until C{predicate()} holds, at most C{limit} seconds.

        @return: the seconds it took.
        @raise AssertionError: if it never held.
        """
        start = self.sim.seconds()
        while not predicate():
            if self.sim.seconds() - start >= limit:
                raise AssertionError(f"not within {limit} s")
            self.sim.run(step)
        return self.sim.seconds() - start

    def following(self, parent: str) -> bool:
        """
        Whether every other host follows C{parent}: the children and the
        other core servers have it as system peer, and it is the orphan
        parent.
        """
        return self.isOrphan(parent) and all(
            self.systemPeer(a) == parent for a in CORES + CHILDREN if a != parent
        )

    def spread(self, among: tuple[str, ...] = CORES + CHILDREN) -> float:
        errors = [self.error(a) for a in among]
        return max(errors) - min(errors)


@cache
def orphanRun() -> dict[str, Any]:
    """
    The campus synchronized for 20 minutes, the reference cut off from
    every core server, then 10.0.1.1 dead, then the reference back.

    @return: what was measured.
    """
    campus = Campus()
    out: dict[str, Any] = {"campus": campus}
    campus.sim.run(1200)
    out["synchronized"] = {a: campus.systemPeer(a) for a in CORES}
    campus.cut(REFERENCE, *CORES)
    out["toOrphan"] = campus.waitUntil(lambda: campus.following("10.0.1.1"), 1200)
    out["spread"] = _spreadFor(campus, 600)
    campus.cut("10.0.1.1", *CORES[1:], *CHILDREN)
    out["toNext"] = campus.waitUntil(
        lambda: campus.isOrphan("10.0.1.2")
        and all(campus.systemPeer(a) == "10.0.1.2" for a in ("10.0.1.3",) + CHILDREN),
        1800,
    )
    stepsBefore = campus.steps()
    campus.heal(REFERENCE, *CORES)
    out["toUTC"] = campus.waitUntil(
        lambda: all(campus.systemPeer(a) == REFERENCE for a in CORES[1:])
        and all(campus.systemPeer(a) in CORES[1:] for a in CHILDREN),
        900,
    )
    out["steps"] = campus.steps() - stepsBefore
    return out


def _spreadFor(campus: Campus, seconds: float) -> float:
    """The largest spread of the clocks over C{seconds}, sampled every 10 s."""
    worst = 0.0
    for _ in range(int(seconds // 10)):
        campus.sim.run(10)
        worst = max(worst, campus.spread())
    return worst


class SymmetricBackupTests(SynchronousTestCase):
    """
    Two core servers peering: one loses its upstream and follows the other.
    """

    def test_followsThePeer(self) -> None:
        """
        10.0.1.2 has its own upstream and peers with 10.0.1.1; when its
        upstream link dies it selects 10.0.1.1 within three of its polls
        (plus the 10 s between checks), at stratum 3, and its clock stays
        within 1 ms.
        """
        sim = Simulation(4, defaultLink=LAN)
        sim.addReferenceServer(REFERENCE)
        sim.addReferenceServer("10.0.0.2")
        a = sim.addHost("10.0.1.1", offset=0.002, freqPPM=4.0)
        b = sim.addHost("10.0.1.2", offset=-0.003, freqPPM=-6.0)
        a.runDaemon(f"server {REFERENCE} iburst {POLL}\npeer 10.0.1.2 {POLL}\n")
        daemon = b.runDaemon(f"server 10.0.0.2 iburst {POLL}\npeer 10.0.1.1 {POLL}\n")
        sim.run(1200)
        engine = daemon.engine
        peerOf = lambda: getattr(  # noqa: E731
            engine.associations.byID.get(engine.systemPeer), "address", None
        )
        self.assertEqual(peerOf(), "10.0.0.2")
        sim.link("10.0.1.2", "10.0.0.2", DEAD)
        start = sim.seconds()
        while peerOf() != "10.0.1.1" and sim.seconds() - start < 3600:
            sim.run(10)
        self.assertLessEqual(sim.seconds() - start, 3 * 2**engine.system.poll + 10)
        self.assertEqual(engine.system.stratum, 3)
        sim.run(1200)
        self.assertEqual(peerOf(), "10.0.1.1")
        self.assertLess(abs(b.clock.error()), 1e-3)


class OrphanTests(SynchronousTestCase):
    """
    Three core servers and four children lose every UTC source.
    """

    def test_synchronizedFirst(self) -> None:
        """
        With the reference reachable, every core server follows it.
        """
        self.assertEqual(set(orphanRun()["synchronized"].values()), {REFERENCE})

    def test_oneParent(self) -> None:
        """
        Within C{orphanwait} plus a few polls of losing the reference (at
        most 1200 s; measured 420 s), 10.0.1.1, the smallest address, is
        the orphan parent and every other host follows it.
        """
        self.assertLessEqual(orphanRun()["toOrphan"], 1200)

    def test_clocksAgree(self) -> None:
        """
        Following one parent, the subnet's clocks agree within 1 ms
        (measured: 0.09 ms).
        """
        self.assertLess(orphanRun()["spread"], 1e-3)

    def test_nextParent(self) -> None:
        """
        When the orphan parent dies, 10.0.1.2 becomes the orphan parent and
        every remaining host follows it (measured: 460 s).
        """
        self.assertLessEqual(orphanRun()["toNext"], 1800)

    def test_utcReturns(self) -> None:
        """
        When the reference returns, the core servers follow it and the
        children follow a core server (measured: 220 s), without a step.
        """
        run = orphanRun()
        self.assertLessEqual(run["toUTC"], 900)
        self.assertEqual(run["steps"], 0)


class ForgedFloodTests(SynchronousTestCase):
    """
    A forged unauthenticated mode 1 flood mobilizes nothing.
    """

    def test_flood(self) -> None:
        """
        A core server with C{enable auth} (the default) receives a thousand
        unauthenticated symmetric active packets from a hundred addresses:
        it mobilizes no association for them and keeps following its
        reference.
        """
        from ntpservice.core.packet import MODE_ACTIVE, NTPPacket
        from ntpservice.core.timestamps import NTPTimestamp

        sim = Simulation(5, defaultLink=LAN)
        sim.addReferenceServer(REFERENCE)
        core = sim.addHost("10.0.1.1")
        daemon = core.runDaemon(f"server {REFERENCE} iburst {POLL}\n")
        sim.run(300)
        forgers = [sim.addHost(f"10.0.7.{i}") for i in range(1, 101)]
        for n in range(10):
            for forger in forgers:
                packet = NTPPacket(
                    leap=0, mode=MODE_ACTIVE, stratum=1, poll=4,
                    xmt=NTPTimestamp.fromUnixNanoseconds(forger.clock.now()),
                )
                forger.transport.write(packet.encode(), ("10.0.1.1", 123))
            sim.run(1)
        sim.run(300)
        addresses = [a.address for a in daemon.engine.associations]
        self.assertEqual(addresses, [REFERENCE])
        self.assertEqual(core.counters["symmetric.mobilized"], 0)
        self.assertEqual(core.counters["symmetric.declined"], 1000)
