# -*- test-case-name: tests.scenarios -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
What the scenario tests share: a client host running our real daemon
(L{SimHost.runDaemon <ntpservice.sim.hosts.SimHost.runDaemon>}) against
reference servers on a simulated network, and a record of the client's
true clock error, system peer and poll interval on a regular grid of true
time.

Every scenario is deterministic: one seed fixes the network's delays and
losses and every oscillator's wander; the daemon's own randomness comes
from the host's seeded stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from zope.interface import implementer

from ntpservice.core.discipline import Discipline
from ntpservice.interfaces import IDaemonObserver
from ntpservice.sim.hosts import ReferenceServer, SimHost, Simulation
from ntpservice.sim.network import LinkSpec

CLIENT = "10.0.1.1"
"""The client's address."""

LAN = LinkSpec(delay=1e-3, jitter=100e-6)
"""1 ms each way plus exponential jitter of mean 100 us."""


@dataclass
class LeapSite:
    """
    Scenarios 011 and 012 (issue 15): a reference server that announces and
    inserts a leap second, our server synchronized to it, our client to the
    server, over a quiet LAN.
    """

    sim: Simulation
    reference: ReferenceServer
    server: SimHost
    client: SimHost
    serverDaemon: Any
    clientDaemon: Any


LEAP_LAN = LinkSpec(delay=0.5e-3, jitter=20e-6)
LEAP_REFERENCE, LEAP_SERVER, LEAP_CLIENT = "192.0.2.1", "192.0.2.10", "192.0.2.20"


def leapSite(seed: int, startNs: int, serverConfig: str = "") -> LeapSite:
    """
    Build L{LeapSite} at C{startNs} (ns since the epoch) and start both
    daemons; the reference announces the leap second from the start.

    @param serverConfig: more ntp.conf lines for our server.
    """
    sim = Simulation(seed, epochNs=startNs)
    reference = sim.addReferenceServer(LEAP_REFERENCE)
    reference.leap = 1
    reference.clock.setLeap(1)
    server = sim.addHost(LEAP_SERVER, name="server", offset=0.05, freqPPM=3.0,
                         wanderPPBPerSecond=1.0)
    client = sim.addHost(LEAP_CLIENT, name="client", offset=-0.05, freqPPM=-4.0,
                         wanderPPBPerSecond=1.0)
    sim.link(LEAP_SERVER, LEAP_REFERENCE, LEAP_LAN)
    sim.link(LEAP_CLIENT, LEAP_SERVER, LEAP_LAN)
    serverDaemon = server.runDaemon(f"server {LEAP_REFERENCE} iburst\n" + serverConfig)
    clientDaemon = client.runDaemon(f"server {LEAP_SERVER} iburst\n")
    return LeapSite(sim, reference, server, client, serverDaemon, clientDaemon)


def serverAddress(index: int) -> str:
    """
    @param index: 0, 1, ...
    @return: the address of the C{index}th server.
    """
    return f"10.0.0.{index + 1}"


@dataclass
class Snapshot:
    """
    The client at one instant of true time.

    @ivar time: true seconds since the start.
    @ivar error: the client clock's error, seconds (clock minus true
        time), or minus the error of the clock it is compared with.
    @ivar systemPeer: the address of the system peer, or C{None}.
    @ivar pollLog2: the system poll exponent.
    @ivar state: the discipline's state.
    """

    time: float
    error: float
    systemPeer: str | None
    pollLog2: int
    state: str


@implementer(IDaemonObserver)
@dataclass
class DaemonRecorder:
    """
    A daemon observer that records, in true seconds, the clock steps (with
    their offsets) and the accepted clock updates.
    """

    simulation: Simulation
    steps: list[tuple[float, float]] = field(default_factory=list)
    updates: list[float] = field(default_factory=list)
    peerEvents: list[tuple[float, int, str]] = field(default_factory=list)
    systemPeers: list[tuple[float, int | None]] = field(default_factory=list)

    def clockStepped(self, offset: float) -> None:
        self.steps.append((self.simulation.seconds(), offset))

    def associationEvent(self, associd: int, address: str, event: str) -> None:
        self.peerEvents.append((self.simulation.seconds(), associd, event))

    def systemPeerChanged(self, associd: int | None, address: str | None) -> None:
        self.systemPeers.append((self.simulation.seconds(), associd))

    def clockUpdated(self, now: float) -> None:
        self.updates.append(self.simulation.seconds())


class ClientScenario:
    """
    A client running our daemon, polling reference servers.

    @ivar sim: the L{Simulation}.
    @ivar servers: the L{ReferenceServer}s, in address order.
    @ivar client: the client L{SimHost}.
    @ivar daemon: its running L{ntpservice.daemon.NTPDaemon}.
    @ivar record: a L{Snapshot} at every grid point run so far.
    @ivar events: the L{DaemonRecorder} watching the daemon.
    @ivar reference: the server whose clock the client's error is measured
        against (C{None}: true time).
    """

    def __init__(
        self,
        seed: int,
        servers: int = 1,
        offset: float = 0.0,
        freqPPM: float = 0.0,
        wanderPPBPerSecond: float = 1.0,
        link: LinkSpec = LAN,
        serverOffsets: Sequence[float] = (),
        options: str = "iburst",
        algorithm: str | None = None,
        extraConfiguration: str = "",
    ) -> None:
        """
        @param seed: the simulation's seed.
        @param servers: how many reference servers.
        @param offset: the client clock's initial error, seconds.
        @param freqPPM: its oscillator's frequency error, ppm.
        @param wanderPPBPerSecond: its oscillator's wander.
        @param link: the link between the client and every server.
        @param serverOffsets: the servers' clock errors, seconds (missing
            ones are 0: perfect).
        @param options: what follows C{server ADDRESS} on each line.
        @param algorithm: the discipline algorithm, or C{None} for the
            daemon's default.
        @param extraConfiguration: more ntp.conf lines.
        """
        self.sim = Simulation(seed)
        self.servers: list[ReferenceServer] = []
        for index in range(servers):
            serverOffset = serverOffsets[index] if index < len(serverOffsets) else 0.0
            self.servers.append(
                self.sim.addReferenceServer(serverAddress(index), offset=serverOffset)
            )
        self.client: SimHost = self.sim.addHost(
            CLIENT,
            offset=offset,
            freqPPM=freqPPM,
            wanderPPBPerSecond=wanderPPBPerSecond,
        )
        for index in range(servers):
            self.sim.link(CLIENT, serverAddress(index), link)
        configuration = "".join(
            f"server {serverAddress(index)} {options}\n" for index in range(servers)
        ) + extraConfiguration
        self.daemon: Any = self.client.runDaemon(configuration)
        if (
            algorithm is not None
            and algorithm != self.daemon.engine.discipline.algorithm
        ):
            old = self.daemon.engine.discipline
            self.daemon.engine.discipline = Discipline(
                replace(old.settings, algorithm=algorithm)
            )
        self.events = DaemonRecorder(self.sim)
        self.daemon.addObserver(self.events)
        self.record: list[Snapshot] = []
        self.reference: ReferenceServer | None = None

    def systemPeerAddress(self) -> str | None:
        """
        @return: the address of the system peer, or C{None}.
        """
        associd = self.daemon.engine.systemPeer
        if associd is None:
            return None
        association = self.daemon.engine.associations.byID.get(associd)
        return association.address if association is not None else None

    def error(self) -> float:
        """
        @return: the client clock's error now, seconds, against true time
            or L{reference}.
        """
        error = self.client.clock.error()
        if self.reference is not None:
            error -= self.reference.clock.error()
        return error

    def snapshot(self) -> Snapshot:
        """
        @return: the client as it is now.
        """
        return Snapshot(
            time=self.sim.seconds(),
            error=self.error(),
            systemPeer=self.systemPeerAddress(),
            pollLog2=self.daemon.engine.system.poll,
            state=self.daemon.engine.discipline.state,
        )

    def run(self, seconds: float, step: float = 1.0) -> None:
        """
        Run C{seconds} of true time, recording a L{Snapshot} every C{step}.
        """
        self.sim.run(
            seconds, step=step, observe=lambda sim: self.record.append(self.snapshot())
        )

    def runUntil(self, seconds: float, step: float = 1.0) -> None:
        """
        Run until true time reads C{seconds}, recording as L{run} does.
        """
        self.run(max(0.0, seconds - self.sim.seconds()), step)

    def between(self, start: float, end: float = math.inf) -> list[Snapshot]:
        """
        @return: the snapshots from C{start} to C{end} true seconds.
        """
        return [s for s in self.record if start <= s.time <= end]

    def maxError(self, start: float, end: float = math.inf) -> float:
        """
        @return: the largest absolute error from C{start} to C{end}, seconds.
        """
        return max(abs(s.error) for s in self.between(start, end))

    def rmsError(self, start: float, end: float = math.inf) -> float:
        """
        @return: the RMS error from C{start} to C{end}, seconds.
        """
        errors = [s.error for s in self.between(start, end)]
        return math.sqrt(math.fsum(e * e for e in errors) / len(errors))

    def settledBelow(self, bound: float, start: float = 0.0) -> float:
        """
        @return: the true seconds from which the absolute error stayed below
            C{bound} to the end of the record (from C{start}), or C{inf}.
        """
        since = math.inf
        for snapshot in self.between(start):
            if abs(snapshot.error) >= bound:
                since = math.inf
            elif since == math.inf:
                since = snapshot.time
        return since

    def firstTime(self, predicate: Any, start: float = 0.0) -> float:
        """
        @return: the first recorded true time from C{start} at which
            C{predicate(snapshot)} holds, or C{inf}.
        """
        for snapshot in self.between(start):
            if predicate(snapshot):
                return snapshot.time
        return math.inf
