# -*- test-case-name: tests.sim.test_network -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A deterministic simulated UDP network, driven by a C{task.Clock} that
serves as true time.

Endpoints bind an C{(address, port)} with L{SimNetwork.bind} and get a
L{SimTransport}: a UDP transport that our real protocols
(L{ntpservice.net.multiplexer.NTPDatagramProtocol}) use unchanged. A
datagram sent through it reaches the destination's protocol after a
simulated one-way transit time, with C{reactor.callLater}, as a
L{ReceivedDatagram} whose C{rxTime} is C{None}: the receiving protocol
stamps it with its own host's (simulated) clock on arrival, as it does a
datagram that came without a kernel timestamp.

Link model. Each pair of addresses has a L{LinkSpec} (L{SimNetwork.link};
pairs never linked use the network's default). One direction of a link
delivers a datagram after::

    transit = base + jitter * X,   X ~ Exp(1)

where C{base} is the spec's C{delay} plus or minus half its C{asymmetry}
(see L{LinkSpec}). The random part is exponential, non-negative, of mean
(and standard deviation) C{jitter}: the delay model of chrony's simulation
tests on clknetsim (C{(+ base_delay (* jitter (exponential)))} in
chrony's C{test/simulation/test.common}), which mimics queueing: most
datagrams take about the base delay, a few much longer. With
C{distribution=TWO_EXPONENTIALS} it is the sum of two exponentials of mean
C{jitter / 2} each (gamma of shape 2): the same mean, but no peak at the
minimum, as when a datagram queues at two routers; a loop tuned to the
exponential's many near-minimum delays cannot lean on them there. Nothing keeps
datagrams in order: when jitter makes a later datagram faster, it arrives
first. Each datagram is lost independently with probability C{loss}.

Randomness. The network draws one 64-bit seed from the C{random.Random} it
is given; each direction of each pair of addresses then has its own
stream, seeded from that value and the two addresses. A direction's
delays and losses therefore depend only on the seed and on how many
datagrams went that way before: adding traffic, a host or a timer
elsewhere leaves them unchanged, so two algorithms can be compared on
the same network.

Groups. L{SimNetwork.join} adds an address to a group (a multicast or
broadcast address); a datagram sent to the group reaches every endpoint
bound to the destination port on a member address except the sender's
own, each copy over its own link (its own delay and loss). It arrives
with the group as C{destination} and the member's address as
C{localAddress}, as the kernel's packet info reports it, so
L{ReceivedDatagram.isUnicast} is false for it.

Errors raised by a receiving protocol propagate out of
C{task.Clock.advance}: in a simulation a bug must fail the run, not be
logged and forgotten as the real port does.

Time. C{task.Clock.advance(n)} first moves time to the end of the jump and
then runs every call that fell due within it, so those calls all read the
later time. Advance with L{runUntil} (or
L{Simulation.run <ntpservice.sim.hosts.Simulation.run>}), which stops at
each deadline, so that each arrival is stamped at its own time. Every
pending call costs C{task.Clock} a sort of its list: keep bursts of
datagrams in flight to hundreds, not tens of thousands.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import random
from dataclasses import dataclass, replace
from typing import Any, Callable

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import CannotListenError, InvalidAddressError
from twisted.internet.interfaces import IReactorTime

from ntpservice.net.udp import ReceivedDatagram

__all__ = [
    "DEFAULT_LINK",
    "DISTRIBUTIONS",
    "EXPONENTIAL",
    "TWO_EXPONENTIALS",
    "EPHEMERAL_PORTS",
    "LOOPBACK",
    "SIM_IFINDEX",
    "LinkCounters",
    "LinkSpec",
    "SimNetwork",
    "SimTransport",
    "normalizeAddress",
    "runUntil",
]

SIM_IFINDEX = 1
"""The interface index every simulated datagram arrives on."""

EPHEMERAL_PORTS = (32768, 60999)
"""The range ports bound as 0 are chosen from, as Linux's default
C{ip_local_port_range}; lowest free port first."""


EXPONENTIAL = "exponential"
"""L{LinkSpec.distribution}: the jitter is exponential (the default)."""

TWO_EXPONENTIALS = "two-exponentials"
"""L{LinkSpec.distribution}: the jitter is the sum of two exponentials,
each of half the mean."""

DISTRIBUTIONS = (EXPONENTIAL, TWO_EXPONENTIALS)
"""The distributions of a link's jitter."""


def runUntil(reactor: Any, until: float) -> None:
    """
    Advance a C{task.Clock} to C{until}, one pending deadline at a time, so
    that every call runs at (and reads) the time it was scheduled for.
    Time between deadlines costs nothing. Nothing happens if the clock
    already reads C{until} or later.

    @param reactor: a C{task.Clock}.
    @param until: seconds, in the reactor's time.
    @raise ValueError: if C{until} is not finite.
    """
    if not math.isfinite(until):
        raise ValueError(f"cannot run until {until!r}")
    while True:
        calls = reactor.getDelayedCalls()
        if not calls:
            break
        nextDue = getattr(reactor, "nextDue", None)
        if nextDue is not None:
            due = nextDue()
        else:
            # DelayedCall.reset() does not re-sort task.Clock's list.
            due = min(call.getTime() for call in calls)
        if due > until:
            break
        reactor.advance(max(0.0, due - reactor.seconds()))
        # now + (due - now) can round below due once; the second difference
        # is exact (Sterbenz), so this ends.
        while reactor.seconds() < due:
            reactor.advance(due - reactor.seconds())
    now = reactor.seconds()
    if now < until:
        reactor.advance(until - now)


def _checkSeconds(name: str, value: float) -> float:
    """
    @raise ValueError: unless C{value} is finite and not negative.
    """
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{name} must be a finite, non-negative number of seconds: {value!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """
    The properties of the link between two addresses A and B (the first and
    second arguments of L{SimNetwork.link}).

    @ivar delay: the mean of the two base one-way delays, seconds.
    @ivar jitter: the mean (which is also the standard deviation) of the
        exponentially distributed random delay added to each datagram,
        seconds; 0 for none.
    @ivar asymmetry: the base delay from A to B minus the base delay from B
        to A, seconds: A to B takes C{delay + asymmetry / 2}, B to A takes
        C{delay - asymmetry / 2}, and the round trip C{2 * delay}. A client
        at A of a server at B then measures an offset wrong by
        C{+asymmetry / 2} (RFC 5905 section 8: the offset assumes equal
        one-way delays). Its magnitude must not exceed C{2 * delay}.
    @ivar loss: the probability that a datagram is lost, 0 to 1, in each
        direction independently.
    @ivar distribution: the distribution of the jitter, one of
        L{DISTRIBUTIONS}: L{EXPONENTIAL} (the default) or
        L{TWO_EXPONENTIALS} (the sum of two exponentials of mean
        C{jitter / 2}); its mean is C{jitter} either way.
    """

    delay: float = 0.0
    jitter: float = 0.0
    asymmetry: float = 0.0
    loss: float = 0.0
    distribution: str = EXPONENTIAL

    def __post_init__(self) -> None:
        """
        @raise ValueError: if a delay is negative or not finite, if the
            asymmetry would make a one-way delay negative, or if C{loss} is
            not a probability.
        """
        _checkSeconds("delay", self.delay)
        _checkSeconds("jitter", self.jitter)
        if not math.isfinite(self.asymmetry) or abs(self.asymmetry) > 2 * self.delay:
            raise ValueError(
                f"asymmetry must be finite and at most 2 * delay in magnitude "
                f"(a one-way delay cannot be negative): {self.asymmetry!r}"
            )
        if not (0.0 <= self.loss <= 1.0):
            raise ValueError(f"loss must be a probability from 0 to 1: {self.loss!r}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be one of {', '.join(DISTRIBUTIONS)}: "
                f"{self.distribution!r}"
            )

    @property
    def forwardDelay(self) -> float:
        """
        The base one-way delay from A to B, seconds.
        """
        return max(0.0, self.delay + self.asymmetry / 2)

    @property
    def reverseDelay(self) -> float:
        """
        The base one-way delay from B to A, seconds.
        """
        return max(0.0, self.delay - self.asymmetry / 2)

    def reversed(self) -> LinkSpec:
        """
        The same link seen from B: the asymmetry changes sign.
        """
        return replace(self, asymmetry=-self.asymmetry)


DEFAULT_LINK = LinkSpec(delay=1e-4, jitter=1e-4)
"""The link between addresses never linked explicitly, unless the network
is given another: 100 us base delay and 100 us mean jitter each way, the
defaults of chrony's simulation tests (a LAN)."""

LOOPBACK = LinkSpec()
"""The path from an address to itself: no delay, no loss."""


@dataclass(slots=True)
class LinkCounters:
    """
    What happened to the datagrams sent one way (or, for
    L{SimNetwork.totals}, on the whole network).

    @ivar sent: datagrams sent (a group datagram counts once per member it
        was sent to).
    @ivar lost: datagrams the link lost.
    @ivar delivered: datagrams handed to a protocol.
    @ivar unreachable: datagrams that arrived where no endpoint was bound
        (an unknown address or port, or an endpoint that stopped
        listening in the meantime), and were dropped.
    """

    sent: int = 0
    lost: int = 0
    delivered: int = 0
    unreachable: int = 0

    @property
    def inFlight(self) -> int:
        """
        Datagrams sent that have not yet arrived (nor been lost).
        """
        return self.sent - self.lost - self.delivered - self.unreachable


class _Path:
    """
    One direction between two addresses: its parameters, its random stream
    and its counters.
    """

    __slots__ = ("base", "jitter", "loss", "twice", "rng", "counters")

    def __init__(self, rng: random.Random) -> None:
        self.base = 0.0
        self.jitter = 0.0
        self.loss = 0.0
        self.twice = False
        self.rng = rng
        self.counters = LinkCounters()

    def configure(self, base: float, spec: LinkSpec) -> None:
        self.base = base
        self.jitter = spec.jitter
        self.loss = spec.loss
        self.twice = spec.distribution == TWO_EXPONENTIALS

    def transit(self) -> float | None:
        """
        Draw the fate of one datagram.

        @return: its transit time, seconds, or C{None} if it is lost. A
            lossy link draws the loss first, then (for every datagram, lost
            or not) the jitter, so the sequence of delays does not depend
            on which datagrams were lost.
        """
        rng = self.rng
        lost = bool(self.loss) and rng.random() < self.loss
        transit = self.base
        if self.twice:
            rate = 2.0 / self.jitter if self.jitter else 0.0
            if rate:
                transit += rng.expovariate(rate) + rng.expovariate(rate)
        elif self.jitter:
            transit += rng.expovariate(1.0 / self.jitter)
        return None if lost else transit


def _parseAddress(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """
    @raise InvalidAddressError: if C{host} is not an IP address literal.
    """
    try:
        return ipaddress.ip_address(host)
    except (ValueError, TypeError):
        raise InvalidAddressError(
            host, "the simulated network takes IP address literals only"
        ) from None


def normalizeAddress(host: str) -> str:
    """
    The canonical text of an IP address (IPv6 compressed, lowercase).

    @raise InvalidAddressError: if C{host} is not an IP address literal.
    """
    return str(_parseAddress(host))


class SimNetwork:
    """
    A simulated UDP network: endpoints, links between addresses, groups.
    See the module docstring for the model.

    @ivar reactor: true time: every datagram is delivered with its
        C{callLater}.
    @ivar defaultLink: the L{LinkSpec} of pairs of addresses never linked.
    @ivar totals: the L{LinkCounters} of the whole network.
    """

    def __init__(
        self,
        reactor: IReactorTime,
        rng: random.Random,
        defaultLink: LinkSpec = DEFAULT_LINK,
    ) -> None:
        """
        @param reactor: a C{task.Clock} (any C{IReactorTime} works).
        @param rng: the network draws one 64-bit seed from it, at once, from
            which every direction's random stream is derived.
        @param defaultLink: see L{defaultLink}.
        """
        self.reactor = reactor
        self.defaultLink = defaultLink
        self.totals = LinkCounters()
        self._seed = rng.getrandbits(64)
        self._links: dict[tuple[str, str], LinkSpec] = {}
        self._paths: dict[tuple[str, str], _Path] = {}
        self._endpoints: dict[tuple[str, int], SimTransport] = {}
        self._groups: dict[str, dict[str, None]] = {}
        self._nextPort: dict[str, int] = {}
        self._addresses: dict[str, tuple[str, int]] = {}

    # Links

    def link(self, a: str, b: str, spec: LinkSpec) -> None:
        """
        Set the link between C{a} and C{b}, both directions, replacing any
        previous one. Datagrams already in flight keep their arrival time.

        @param a: side A of C{spec} (its asymmetry is A-to-B minus B-to-A).
        @param b: side B.
        @raise ValueError: if C{a} and C{b} are the same address.
        @raise InvalidAddressError: if either is not an IP address.
        """
        a = normalizeAddress(a)
        b = normalizeAddress(b)
        if a == b:
            raise ValueError(f"cannot link {a} to itself (loopback has no link)")
        self._links[(a, b)] = spec
        self._links.pop((b, a), None)
        for key in ((a, b), (b, a)):
            path = self._paths.get(key)
            if path is not None:
                self._configure(path, *key)

    def spec(self, a: str, b: str) -> LinkSpec:
        """
        The link between C{a} and C{b}, seen from C{a}: its asymmetry is the
        delay from C{a} to C{b} minus the delay back.
        """
        a = normalizeAddress(a)
        b = normalizeAddress(b)
        if a == b:
            return LOOPBACK
        spec = self._links.get((a, b))
        if spec is not None:
            return spec
        spec = self._links.get((b, a))
        if spec is not None:
            return spec.reversed()
        return self.defaultLink

    def counters(self, source: str, destination: str) -> LinkCounters:
        """
        The counters of the direction from C{source} to C{destination}.
        """
        path = self._path(normalizeAddress(source), normalizeAddress(destination))
        return path.counters

    def _path(self, source: str, destination: str) -> _Path:
        key = (source, destination)
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = _Path(
                random.Random(f"{self._seed}:{source}>{destination}")
            )
            self._configure(path, source, destination)
        return path

    def _configure(self, path: _Path, source: str, destination: str) -> None:
        spec = self.spec(source, destination)
        path.configure(spec.forwardDelay, spec)

    # Groups

    def join(self, group: str, address: str) -> None:
        """
        Make C{address} a member of C{group}: datagrams sent to C{group}
        reach the endpoints bound on C{address} (to the destination port).
        A broadcast address is a group like any other: the hosts that should
        hear it join it.
        """
        members = self._groups.setdefault(normalizeAddress(group), {})
        members[normalizeAddress(address)] = None

    def leave(self, group: str, address: str) -> None:
        """
        Remove C{address} from C{group}; nothing happens if it was not a
        member.
        """
        group = normalizeAddress(group)
        members = self._groups.get(group)
        if members is None:
            return
        members.pop(normalizeAddress(address), None)
        if not members:
            del self._groups[group]

    def members(self, group: str) -> list[str]:
        """
        The member addresses of C{group}, in the order they joined.
        """
        return list(self._groups.get(normalizeAddress(group), ()))

    # Endpoints

    def bind(self, address: str, port: int, protocol: Any) -> SimTransport:
        """
        Bind C{protocol} to C{(address, port)} and connect it to its new
        transport (C{protocol.makeConnection}), as C{listenUDP} does.

        @param address: an IP address literal (no wildcard: a simulated host
            binds its own address).
        @param port: 1-65535, or 0 for a free ephemeral port.
        @param protocol: a C{DatagramProtocol}; it receives
            L{ReceivedDatagram}s through C{datagramReceivedWithInfo} when it
            has that method, else C{(data, (host, port))} through
            C{datagramReceived}.
        @raise CannotListenError: if the address and port are taken, or no
            ephemeral port is free.
        @raise InvalidAddressError: if C{address} is not an IP address.
        """
        address = normalizeAddress(address)
        if not 0 <= port <= 65535:
            raise CannotListenError(address, port, OSError(errno.EINVAL, "bad port"))
        if port == 0:
            port = self._ephemeralPort(address)
        key = (address, port)
        if key in self._endpoints:
            raise CannotListenError(
                address, port, OSError(errno.EADDRINUSE, "Address already in use")
            )
        transport = SimTransport(self, address, port, protocol)
        self._endpoints[key] = transport
        protocol.makeConnection(transport)
        return transport

    def isBound(self, address: str, port: int) -> bool:
        """
        Whether an endpoint is bound to C{(address, port)}.
        """
        return (normalizeAddress(address), port) in self._endpoints

    def _ephemeralPort(self, address: str) -> int:
        low, high = EPHEMERAL_PORTS
        start = self._nextPort.get(address, low)
        span = high - low + 1
        for i in range(span):
            port = low + (start - low + i) % span
            if (address, port) not in self._endpoints:
                self._nextPort[address] = port + 1 if port < high else low
                return port
        raise CannotListenError(
            address, 0, OSError(errno.EADDRINUSE, "no free ephemeral port")
        )

    def _unbind(self, transport: SimTransport) -> None:
        key = (transport.address, transport.port)
        if self._endpoints.get(key) is transport:
            del self._endpoints[key]

    # Datagrams

    def send(
        self, source: tuple[str, int], data: bytes, destination: tuple[str, int]
    ) -> None:
        """
        Put a datagram on the network (L{SimTransport.sendFrom} calls this).

        @param source: the sender's C{(address, port)}, normalized.
        @param data: the payload.
        @param destination: C{(host, port)}: a unicast address or a group.
        @raise InvalidAddressError: if the destination is not an IP address
            of the sender's family.
        """
        host, port = destination[0], int(destination[1])
        dst, version = self._resolve(host)
        srcAddress, srcPort = source
        if version != self._resolve(srcAddress)[1]:
            raise InvalidAddressError(
                host, f"not an address of the family of {srcAddress}"
            )
        members = self._groups.get(dst)
        if members is None:
            self._route(srcAddress, srcPort, data, dst, port, dst)
            return
        for member in list(members):
            if member != srcAddress:
                self._route(srcAddress, srcPort, data, member, port, dst)

    def _resolve(self, host: str) -> tuple[str, int]:
        """
        @return: the normalized address and its IP version, cached (parsing
            addresses is a good part of the cost of a datagram).
        @raise InvalidAddressError: if C{host} is not an IP address.
        """
        cached = self._addresses.get(host)
        if cached is None:
            parsed = _parseAddress(host)
            if len(self._addresses) > 65536:
                self._addresses.clear()
            cached = self._addresses[host] = (str(parsed), parsed.version)
        return cached

    def _route(
        self,
        srcAddress: str,
        srcPort: int,
        data: bytes,
        dstAddress: str,
        dstPort: int,
        headerDestination: str,
    ) -> None:
        path = self._path(srcAddress, dstAddress)
        path.counters.sent += 1
        self.totals.sent += 1
        transit = path.transit()
        if transit is None:
            path.counters.lost += 1
            self.totals.lost += 1
            return
        self.reactor.callLater(
            transit,
            self._arrive,
            path,
            data,
            srcAddress,
            srcPort,
            dstAddress,
            dstPort,
            headerDestination,
        )

    def _arrive(
        self,
        path: _Path,
        data: bytes,
        srcAddress: str,
        srcPort: int,
        dstAddress: str,
        dstPort: int,
        headerDestination: str,
    ) -> None:
        endpoint = self._endpoints.get((dstAddress, dstPort))
        if endpoint is None:
            path.counters.unreachable += 1
            self.totals.unreachable += 1
            return
        path.counters.delivered += 1
        self.totals.delivered += 1
        protocol = endpoint.protocol
        deliver = getattr(protocol, "datagramReceivedWithInfo", None)
        if deliver is None:
            protocol.datagramReceived(data, (srcAddress, srcPort))
            return
        deliver(
            ReceivedDatagram(
                data,
                (srcAddress, srcPort),
                destination=headerDestination,
                localAddress=dstAddress,
                ifindex=SIM_IFINDEX,
                rxTime=None,
            )
        )


class SimTransport:
    """
    The UDP transport of one endpoint bound on a L{SimNetwork}: what
    C{listenUDP} would return, and what L{NTPDatagramProtocol
    <ntpservice.net.multiplexer.NTPDatagramProtocol>} sends replies through
    (L{sendFrom}, like L{TimestampingPort.sendFrom
    <ntpservice.net.udp.TimestampingPort.sendFrom>}).

    @ivar network: the network it is bound on.
    @ivar address: the bound address (normalized).
    @ivar port: the bound port.
    @ivar protocol: the protocol datagrams are delivered to.
    @ivar listening: C{False} once L{stopListening} was called.
    """

    def __init__(
        self, network: SimNetwork, address: str, port: int, protocol: Any
    ) -> None:
        self.network = network
        self.address = address
        self.port = port
        self.protocol = protocol
        self.listening = True

    def __repr__(self) -> str:
        return f"<SimTransport {self.address} port {self.port}>"

    def write(
        self, datagram: bytes | Callable[[], bytes], addr: tuple[str, int]
    ) -> None:
        """
        Send C{datagram} to C{addr} (C{(host, port)}).

        @param datagram: the bytes, or a callable returning them, called now.
        """
        self.sendFrom(datagram, addr)

    def sendFrom(
        self,
        datagram: bytes | Callable[[], bytes],
        addr: tuple[str, int],
        localAddress: str | None = None,
        ifindex: int = 0,
    ) -> None:
        """
        Send C{datagram} to C{addr} from this endpoint.

        @param datagram: the bytes, or a zero-argument callable returning
            them, called once, now, before the datagram enters the network
            (even if the network then loses it): a server passes one that
            reads its clock and stamps the transmit timestamp.
        @param addr: the destination C{(host, port)}: a unicast address or a
            group.
        @param localAddress: ignored: a simulated endpoint is bound to one
            address and sends from it, as a real socket bound to a unicast
            address does.
        @param ifindex: ignored.
        @raise RuntimeError: if the transport stopped listening (a real port
            has no socket any more).
        @raise InvalidAddressError: if C{addr} is not an IP address of this
            endpoint's family.
        """
        if not self.listening:
            raise RuntimeError(f"{self!r} is not listening any more")
        data = datagram() if callable(datagram) else datagram
        self.network.send((self.address, self.port), bytes(data), addr)

    def getHost(self) -> IPv4Address | IPv6Address:
        """
        The bound address, as Twisted's UDP ports report it.
        """
        if ":" in self.address:
            return IPv6Address("UDP", self.address, self.port)
        return IPv4Address("UDP", self.address, self.port)

    def stopListening(self) -> defer.Deferred[None]:
        """
        Unbind: datagrams still in flight to this endpoint will be dropped
        (counted as unreachable), and the protocol is stopped
        (C{doStop}), as a real port does.

        @return: a L{Deferred} that has already fired.
        """
        if self.listening:
            self.listening = False
            self.network._unbind(self)
            self.protocol.doStop()
        return defer.succeed(None)

    def joinGroup(self, addr: str, interface: str = "") -> defer.Deferred[int]:
        """
        Join the group C{addr} with this endpoint's address (see
        L{SimNetwork.join}), like Twisted's multicast ports.

        @param interface: ignored.
        """
        self.network.join(addr, self.address)
        return defer.succeed(1)

    def leaveGroup(self, addr: str, interface: str = "") -> defer.Deferred[None]:
        """
        Leave the group C{addr} (see L{SimNetwork.leave}).

        @param interface: ignored.
        """
        self.network.leave(addr, self.address)
        return defer.succeed(None)
