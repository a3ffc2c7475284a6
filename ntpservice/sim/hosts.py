# -*- test-case-name: tests.sim.test_hosts -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Simulated hosts running the real daemon code, and the L{Simulation} that
holds them.

A L{Simulation} owns true time (a C{task.Clock}), the seeded randomness and
a L{SimNetwork}. Each L{SimHost} has its own L{SimulatedClock} (offset,
frequency error, wander) read against that true time, and the daemon's real
pieces: its packet counters, its mode table and its
L{NTPDatagramProtocol} bound at C{(address, 123)} on the simulated network.
L{SimHost.addServer} registers the real L{ServerMode}, so a simulated server
answers byte for byte as the daemon does. The client engine plugs into the
same attributes: it registers its handlers in L{SimHost.modes}, counts in
L{SimHost.counters}, sends with L{SimHost.protocol}, arms timers on
L{SimHost.reactor}, draws from L{SimHost.rng} and corrects
L{SimHost.clock}.

Hours of simulated time run in seconds: L{Simulation.run} jumps from one
pending call to the next, and the clocks integrate their error lazily when
read.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

from ntpservice.sim.clock import SimClock

from ntpservice.clock.simulated import DEFAULT_EPOCH_NS, SimulatedClock
from ntpservice.core.counters import PacketCounters
from ntpservice.core.packet import LEAP_NONE
from ntpservice.core.refid import refidFromASCII
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.modes.server import SERVED_MODES, ServerMode
from ntpservice.net.multiplexer import ModeTable, NTPDatagramProtocol
from ntpservice.net.udp import ReceivedDatagram
from ntpservice.service import NTP_PORT
from ntpservice.sim.network import (
    DEFAULT_LINK,
    LinkSpec,
    SimNetwork,
    SimTransport,
    normalizeAddress,
    runUntil,
)

__all__ = [
    "REFERENCE_ROOT_DISPERSION",
    "REFERENCE_UPDATE_INTERVAL",
    "ReferenceServer",
    "SimHost",
    "Simulation",
]

REFERENCE_ROOT_DISPERSION = 10e-6
"""The root dispersion a L{ReferenceServer} reports at each update of its
reference clock, seconds (it then grows at PHI until the next update)."""

REFERENCE_UPDATE_INTERVAL = 16
"""How often a L{ReferenceServer}'s reference time advances, seconds of its
clock (a reference clock polled every 16 s: poll 4)."""


class SimHost:
    """
    One host on a L{SimNetwork}, running the daemon's real code.

    @ivar network: the network the host is on.
    @ivar reactor: true time (the network's reactor): arm timers here.
    @ivar address: the host's address (normalized).
    @ivar name: a name for reports; the address by default.
    @ivar clock: the host's clock driver, normally a L{SimulatedClock}.
    @ivar rng: this host's own random stream, for its daemon's draws (poll
        randomization and the like).
    @ivar counters: the daemon's L{PacketCounters}.
    @ivar modes: the daemon's L{ModeTable}: register mode handlers here.
    @ivar system: the L{SystemVariables} the server reports when it was
        given no other source (see L{addServer}); unsynchronized at first.
    @ivar server: the L{ServerMode}, or C{None} until L{addServer}.
    @ivar protocol: the L{NTPDatagramProtocol} bound at C{(address, port)}.
    @ivar transport: its L{SimTransport}.
    """

    def __init__(
        self,
        network: SimNetwork,
        address: str,
        clock: SimulatedClock,
        name: str | None = None,
        rng: random.Random | None = None,
        accept: Callable[[ReceivedDatagram], bool] | None = None,
        port: int = NTP_PORT,
    ) -> None:
        """
        @param network: the network to bind on.
        @param address: the host's IP address.
        @param clock: the host's clock (any L{IClockDriver
            <ntpservice.interfaces.IClockDriver>} works; observers of the
            truth need a L{SimulatedClock}).
        @param name: see L{name}.
        @param rng: see L{rng}; by default seeded from the address.
        @param accept: the interface filter of the protocol, or C{None}.
        @param port: the port to bind, 123 by default.
        """
        self.network = network
        self.reactor = network.reactor
        self.address = normalizeAddress(address)
        self.name = name if name is not None else self.address
        self.clock = clock
        self.rng = rng if rng is not None else random.Random(f"host:{self.address}")
        self.counters = PacketCounters()
        self.modes = ModeTable()
        self.system = SystemVariables(precision=clock.precision())
        self.server: ServerMode | None = None
        self.protocol = NTPDatagramProtocol(self.modes, self.counters, clock, accept)
        self.transport: SimTransport = network.bind(self.address, port, self.protocol)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} at {self.address}>"

    def runDaemon(
        self, configurationText: str, plugins: Any = None, keyring: Any = None
    ) -> Any:
        """
        Run our real daemon (L{ntpservice.daemon.NTPDaemon}: mode plugins,
        associations, engine, discipline, keys) on this host, configured by
        an ntp.conf text and built by
        L{assembleDaemon <ntpservice.assembly.assembleDaemon>} as
        C{twistd ntp} builds it; its clock corrections go to this host's
        clock, its randomness comes from L{rng}.

        As C{twistd ntp} with C{--no-clock-adjust} or C{disable ntp}, the
        daemon runs its discipline open loop when the configuration says
        C{disable ntp} or the host's clock does not adjust (a
        L{SimulatedClock} made with C{adjusts=False}).

        @param plugins: the mode plugins (default: every installed one the
            configuration leaves enabled).
        @param keyring: the keys: C{None} reads the keys file the
            configuration's C{keys} line names (none without one); the
            text of a keys file is read instead of that file, trusted as
            the configuration's C{trustedkey} lines say; a
            L{KeyRing <ntpservice.auth.keys.KeyRing>} is used as it is.
        @return: the started daemon.
        @raise ntpservice.config.ConfigError: C{FILE:LINE: message} for a
            bad configuration or keys, the configuration's file named
            C{<NAME>} after the host.
        """
        from ntpservice import config
        from ntpservice.assembly import assembleDaemon
        from ntpservice.plugins import loadModePlugins, registryFor

        available = loadModePlugins() if plugins is None else plugins
        configuration = config.parseString(
            configurationText, f"<{self.name}>", registry=registryFor(available)
        )
        daemon = assembleDaemon(
            configuration,
            self.clock,
            self.reactor,
            self.counters,
            self.modes,
            plugins=available,
            keyring=keyring,
            rng=self.rng,
        )
        daemon.setSenders([self.protocol])
        daemon.start()
        self.daemon = daemon
        return daemon

    def currentSystem(self) -> SystemVariables:
        """
        @return: L{system} as it is now.
        """
        return self.system

    def addServer(
        self,
        system: Callable[[], SystemVariables] | SystemVariables | None = None,
    ) -> ServerMode:
        """
        Answer client requests (packet modes 0 and 3) with the real
        L{ServerMode}, as the daemon's server plugin does.

        @param system: what to report. C{None}: L{system}, read afresh for
            every request (so what the scenario or an engine sets there
            later is served). A L{SystemVariables}: it becomes L{system},
            served the same way. A callable: what it returns at each
            request.
        @return: the server.
        @raise ValueError: if the host already serves, or another handler
            holds mode 0 or 3 (nothing is registered then).
        """
        if self.server is not None:
            raise ValueError(f"{self!r} already serves")
        if isinstance(system, SystemVariables):
            self.system = system
            system = None
        server = ServerMode(
            system if system is not None else self.currentSystem, self.counters
        )
        registered: list[int] = []
        try:
            for mode in SERVED_MODES:
                self.modes.register(mode, server)
                registered.append(mode)
        except ValueError:
            for mode in registered:
                self.modes.unregister(mode)
            raise
        self.server = server
        return server

    def removeServer(self) -> None:
        """
        Stop answering client requests; nothing happens if the host does not
        serve.
        """
        server = self.server
        if server is None:
            return
        for mode in SERVED_MODES:
            if self.modes.get(mode) is server:
                self.modes.unregister(mode)
        self.server = None

    def bind(self, port: int, protocol: object) -> SimTransport:
        """
        Bind another endpoint on this host's address (a client socket on an
        ephemeral port, say).

        @param port: the port, or 0 for an ephemeral one.
        """
        return self.network.bind(self.address, port, protocol)

    def stop(self) -> None:
        """
        Unbind the daemon's socket: the host leaves the network.
        """
        self.transport.stopListening()


class ReferenceServer(SimHost):
    """
    A stratum-1 server synchronized to a perfect reference: for client
    scenarios. Its clock has no error unless one is given (a falseticker
    is a reference server with a wrong clock).

    It serves the leap indicator of its L{leap} attribute (0 unless a
    scenario announces a leap second with it), stratum 1, the refid given
    (C{GPS}), its clock's
    precision, root delay 0 and a root dispersion of
    L{REFERENCE_ROOT_DISPERSION} at each update of its reference, which
    happens every L{REFERENCE_UPDATE_INTERVAL} seconds of its clock (the
    reference time advances then, and the root dispersion grows at PHI in
    between, as the real daemon's does).
    """

    def __init__(
        self,
        network: SimNetwork,
        address: str,
        clock: SimulatedClock | None = None,
        name: str | None = None,
        refid: str = "GPS",
        rootDispersion: float = REFERENCE_ROOT_DISPERSION,
        updateInterval: int = REFERENCE_UPDATE_INTERVAL,
        rng: random.Random | None = None,
    ) -> None:
        """
        @param clock: by default a perfect L{SimulatedClock} on the
            network's reactor.
        @param refid: 1 to 4 ASCII characters.
        @param rootDispersion: seconds.
        @param updateInterval: whole seconds of the server's clock.
        @raise ValueError: if C{refid} is not valid or the interval not
            positive.
        """
        if clock is None:
            clock = SimulatedClock(network.reactor)
        if updateInterval <= 0:
            raise ValueError("updateInterval must be positive")
        self.refid = refidFromASCII(refid)
        self.rootDispersion = rootDispersion
        self._updateNs = int(updateInterval) * 1_000_000_000
        self._pollLog2 = max(0, int(updateInterval).bit_length() - 1)
        self._lastUpdate: int | None = None
        self.leap = LEAP_NONE
        super().__init__(network, address, clock, name=name, rng=rng)
        self.addServer(self.referenceSystem)

    def referenceSystem(self) -> SystemVariables:
        """
        The system variables of the reference at the last update before
        now (the server calls this for every request); they also become
        L{system}.
        """
        now = self.clock.now()
        update = now - now % self._updateNs
        if update != self._lastUpdate:
            self._lastUpdate = update
            self.system = SystemVariables(
                leap=self.leap,
                stratum=1,
                precision=self.clock.precision(),
                rootDelay=0.0,
                rootDispersion=self.rootDispersion,
                refid=self.refid,
                reftime=NTPTimestamp.fromUnixNanoseconds(update),
                lastUpdateNs=update,
                poll=self._pollLog2,
            )
        return self.system


class Simulation:
    """
    A whole simulated world: true time, randomness, the network, the hosts.

    One seed determines everything: the network's delays and losses and
    every clock's wander. Each host's clock and C{rng} get their own stream,
    derived from the seed and the host's name, so adding a host or a timer
    does not change what the others see.

    @ivar seed: the seed.
    @ivar reactor: true time: a C{task.Clock}, at 0 when the simulation
        starts, which is C{epochNs} in every clock's timescale.
    @ivar rng: a random stream for the scenario's own use (seeded with
        C{seed}; the network drew its own seed from it first).
    @ivar network: the L{SimNetwork}.
    @ivar epochNs: true time when the reactor reads 0, ns since the Unix
        epoch.
    @ivar hosts: the hosts by name.
    """

    def __init__(
        self,
        seed: int,
        defaultLink: LinkSpec = DEFAULT_LINK,
        epochNs: int = DEFAULT_EPOCH_NS,
    ) -> None:
        """
        @param seed: any integer.
        @param defaultLink: the link between hosts never linked explicitly.
        @param epochNs: see L{epochNs}.
        """
        self.seed = seed
        self.epochNs = epochNs
        self.reactor = SimClock()
        self.rng = random.Random(seed)
        self.network = SimNetwork(self.reactor, self.rng, defaultLink)
        self.hosts: dict[str, SimHost] = {}

    def _stream(self, purpose: str) -> random.Random:
        return random.Random(f"{self.seed}:{purpose}")

    def makeClock(
        self,
        name: str,
        offset: float = 0.0,
        freqPPM: float = 0.0,
        wanderPPBPerSecond: float = 0.0,
        precision: int = -20,
    ) -> SimulatedClock:
        """
        A clock on this simulation's true time, with the wander stream of
        the host C{name}.

        @param offset: its initial error, seconds (clock minus true time).
        @param freqPPM: its oscillator's frequency error, ppm (positive
            gains time).
        @param wanderPPBPerSecond: the random walk of its frequency, ppb per
            second (see L{SimulatedClock}).
        @param precision: log2 seconds.
        """
        return SimulatedClock(
            self.reactor,
            offset=offset,
            freqPPM=freqPPM,
            wanderPPBPerSecond=wanderPPBPerSecond,
            rng=self._stream(f"clock:{name}"),
            precision=precision,
            epochNs=self.epochNs,
        )

    def _checkName(self, name: str) -> None:
        if name in self.hosts:
            raise ValueError(f"there is already a host named {name!r}")

    def addHost(
        self,
        address: str,
        name: str | None = None,
        offset: float = 0.0,
        freqPPM: float = 0.0,
        wanderPPBPerSecond: float = 0.0,
        precision: int = -20,
        accept: Callable[[ReceivedDatagram], bool] | None = None,
    ) -> SimHost:
        """
        Add a host with a clock of its own (see L{makeClock} for the clock's
        parameters). It does not serve until L{SimHost.addServer}.

        @param name: unique; the address by default.
        @raise ValueError: if the name is taken.
        @raise CannotListenError: if the address is taken.
        """
        name = name if name is not None else normalizeAddress(address)
        self._checkName(name)
        clock = self.makeClock(name, offset, freqPPM, wanderPPBPerSecond, precision)
        host = SimHost(
            self.network,
            address,
            clock,
            name=name,
            rng=self._stream(f"host:{name}"),
            accept=accept,
        )
        self.hosts[name] = host
        return host

    def addReferenceServer(
        self,
        address: str,
        name: str | None = None,
        refid: str = "GPS",
        offset: float = 0.0,
        freqPPM: float = 0.0,
        rootDispersion: float = REFERENCE_ROOT_DISPERSION,
    ) -> ReferenceServer:
        """
        Add a L{ReferenceServer}; its clock is perfect unless C{offset} or
        C{freqPPM} says otherwise.

        @raise ValueError: if the name is taken.
        """
        name = name if name is not None else normalizeAddress(address)
        self._checkName(name)
        server = ReferenceServer(
            self.network,
            address,
            self.makeClock(name, offset, freqPPM),
            name=name,
            refid=refid,
            rootDispersion=rootDispersion,
            rng=self._stream(f"host:{name}"),
        )
        self.hosts[name] = server
        return server

    def link(self, a: str, b: str, spec: LinkSpec) -> None:
        """
        Set the link between C{a} and C{b} (see L{SimNetwork.link}).
        """
        self.network.link(a, b, spec)

    def seconds(self) -> float:
        """
        True time, seconds since the start of the simulation.
        """
        return self.reactor.seconds()

    def run(
        self,
        seconds: float,
        step: float | None = None,
        observe: Callable[[Simulation], None] | None = None,
    ) -> None:
        """
        Run C{seconds} of true time, jumping from one pending call to the
        next (time between events costs nothing).

        @param seconds: how long, not negative.
        @param step: if given, time also stops every C{step} seconds from
            now (and at the end), and C{observe} is called there: a way to
            record the state of the hosts on a regular grid.
        @param observe: called with the simulation at each stop when C{step}
            is given, else once at the end.
        @raise ValueError: if C{seconds} or C{step} is not a finite number,
            C{seconds} negative or C{step} not positive.
        """
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seconds must be finite and not negative: {seconds!r}")
        if step is not None and not (math.isfinite(step) and step > 0):
            raise ValueError(f"step must be finite and positive: {step!r}")
        start = self.reactor.seconds()
        end = start + seconds
        if step is None:
            runUntil(self.reactor, end)
            if observe is not None:
                observe(self)
            return
        n = 1
        while True:
            stop = min(start + n * step, end)
            runUntil(self.reactor, stop)
            if observe is not None:
                observe(self)
            if stop >= end:
                return
            n += 1

    def runUntil(self, seconds: float) -> None:
        """
        Run until true time reads C{seconds} (nothing if it already does or
        is later).
        """
        runUntil(self.reactor, seconds)
