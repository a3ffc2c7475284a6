# -*- test-case-name: tests.net.test_multiplexer -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The multiplexer: one L{NTPDatagramProtocol} per bound address.

It stamps, decodes, drops and counts malformed datagrams, and hands each
packet that matches no association to the handler its L{ModeTable} routes
it to, by packet mode and destination kind (unicast, broadcast, multicast),
after asking the claimants of that route. It knows no mode by name:
association-mode plugins register themselves in the table.
Modes 6 and 7 (control and private) have no NTP header; their handlers get
the raw datagram and decode it themselves.
"""

from __future__ import annotations

from typing import Any, Callable, Tuple, Union

from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted.internet.protocol import DatagramProtocol
from ntpservice._log import Logger

from ntpservice.core import counters as C
from ntpservice.core.packet import (
    MODE_CONTROL,
    MODE_PRIVATE,
    NTPPacket,
    PacketError,
    peekHeader,
)
from ntpservice.interfaces import (
    IClockDriver,
    IDatagramHandler,
    IPacketClaimant,
    IReplySender,
)
from ntpservice.net.udp import DESTINATION_KINDS, UNICAST, ReceivedDatagram

_RAW_MODES = frozenset({MODE_CONTROL, MODE_PRIVATE})


RouteSpec = Union[int, Tuple[int, str]]
"""
What a plugin's C{packetModes} lists: a packet mode (every destination
kind), or C{(mode, kind)} for the datagrams of one destination kind.
"""


def routeKeys(spec: RouteSpec) -> list[tuple[int, str]]:
    """
    The C{(mode, destination kind)} keys a route specification covers.

    @param spec: a mode, or C{(mode, kind)}.
    @raise ValueError: for a mode outside 0-7 or an unknown kind.
    """
    if isinstance(spec, tuple):
        mode, kind = spec
        kinds: tuple[str, ...] = (kind,)
    else:
        mode, kinds = spec, DESTINATION_KINDS
    if not isinstance(mode, int) or not 0 <= mode <= 7:
        raise ValueError(f"packet mode must be 0-7, not {mode!r}")
    for kind in kinds:
        if kind not in DESTINATION_KINDS:
            raise ValueError(
                f"destination kind must be one of {', '.join(DESTINATION_KINDS)}, "
                f"not {kind!r}"
            )
    return [(mode, kind) for kind in kinds]


class ModeTable:
    """
    The routing table of the multiplexer: which handler takes a packet that
    matched no association, by its mode and the kind of address it was sent
    to (L{UNICAST}, L{BROADCAST}, L{MULTICAST}).

    Two kinds of entry:

      - an B{owner} (L{register}): at most one per C{(mode, kind)};
        registering a second one is an error naming both, so two plugins
        can never silently fight over packets (a unicast server and a
        manycast server share mode 3 by owning different kinds);
      - B{claimants} (L{claim}): any number per key, asked in the order they
        came, before the owner, whether they C{claims(packet, datagram)};
        the first that does gets the packet (a manycast client takes the
        mode 4 replies to its own solicitations from servers it has no
        association with, by their origin timestamp).
    """

    def __init__(self) -> None:
        self._handlers: dict[tuple[int, str], Any] = {}
        self._claimants: dict[tuple[int, str], list[Any]] = {}
        # Modes with one owner for every destination kind and no claimant:
        # their packets need no destination kind (the server's hot path).
        self._uniform: dict[int, Any] = {}
        self.associations: Any = None

    def _refresh(self, mode: int) -> None:
        """Recompute whether C{mode} routes the same whatever the kind."""
        keys = routeKeys(mode)
        owners = {id(self._handlers.get(key)) for key in keys}
        handler = self._handlers.get(keys[0])
        if (
            handler is not None
            and len(owners) == 1
            and not any(self._claimants.get(key) for key in keys)
        ):
            self._uniform[mode] = handler
        else:
            self._uniform.pop(mode, None)

    def setAssociations(self, associations: Any) -> None:
        """
        Consult C{associations} first: an object whose C{match(packet,
        datagram)} returns the handler for a packet that belongs to an
        association (the engine, by RFC 5905's dispatch table), or C{None}
        to fall through to the routes of the packet's mode.
        """
        self.associations = associations

    def register(self, spec: RouteSpec, handler: Any) -> None:
        """
        Route the packets of a mode (of every destination kind, or of one)
        to C{handler}.

        @param spec: a packet mode 0-7, or C{(mode, kind)}.
        @param handler: an L{IDatagramHandler} provider.
        @raise ValueError: if the mode or kind is invalid, or a key is
            already owned (nothing is registered then).
        """
        keys = routeKeys(spec)
        verifyObject(IDatagramHandler, handler)
        for key in keys:
            owner = self._handlers.get(key)
            if owner is not None and owner is not handler:
                raise ValueError(
                    f"packet mode {key[0]} ({key[1]}) is already handled by {owner!r}"
                )
        for key in keys:
            self._handlers[key] = handler
        self._refresh(keys[0][0])

    def claim(self, spec: RouteSpec, claimant: Any) -> None:
        """
        Ask C{claimant} about each packet of a mode (and destination kind)
        before the owner.

        @param claimant: an L{IPacketClaimant} provider.
        """
        keys = routeKeys(spec)
        verifyObject(IPacketClaimant, claimant)
        for key in keys:
            claimants = self._claimants.setdefault(key, [])
            if claimant not in claimants:
                claimants.append(claimant)
        self._refresh(keys[0][0])

    def unregister(self, mode: int, handler: Any = None) -> None:
        """
        Stop routing C{mode} to C{handler} (as owner or claimant), or to
        anything when C{handler} is C{None}.
        """
        for key in routeKeys(mode):
            if handler is None or self._handlers.get(key) is handler:
                self._handlers.pop(key, None)
            claimants = self._claimants.get(key, [])
            for claimant in list(claimants):
                if handler is None or claimant is handler:
                    claimants.remove(claimant)
        self._refresh(mode)

    def get(self, mode: int, kind: str = UNICAST) -> Any:
        """
        The owner of C{(mode, kind)}, or C{None}.
        """
        return self._handlers.get((mode, kind))

    def route(self, mode: int, packet: Any, datagram: ReceivedDatagram) -> Any:
        """
        The handler for a packet that matched no association: the first
        claimant that claims it, else the owner of its mode and destination
        kind, else C{None}.
        """
        uniform = self._uniform.get(mode)
        if uniform is not None:
            return uniform
        key = (mode, datagram.destinationKind)
        for claimant in self._claimants.get(key, ()):
            if claimant.claims(packet, datagram):
                return claimant
        return self._handlers.get(key)


@implementer(IReplySender)
class NTPDatagramProtocol(DatagramProtocol):
    """
    Decode, count and dispatch the datagrams of one bound address.

    @ivar modes: the L{ModeTable} consulted for every datagram.
    @ivar counters: the L{PacketCounters} updated for every datagram.
    @ivar accept: a predicate on L{ReceivedDatagram}s; datagrams it refuses
        are dropped and counted (C{interface drop}).
    """

    _log = Logger()

    def __init__(
        self,
        modes: ModeTable,
        counters: C.PacketCounters,
        clock: Any,
        accept: Callable[[ReceivedDatagram], bool] | None = None,
    ) -> None:
        verifyObject(IClockDriver, clock)
        self.modes = modes
        self.counters = counters
        self._clock = clock
        self.accept = accept
        self._useKernelTime = bool(getattr(clock, "kernelTimescale", False))

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """
        A datagram from a plain transport (no kernel timestamp): stamp it
        with the clock driver now.
        """
        rxTime = self._clock.now()
        self.datagramReceivedWithInfo(ReceivedDatagram(datagram, addr, rxTime=rxTime))

    def datagramReceivedWithInfo(self, datagram: ReceivedDatagram) -> None:
        """
        A datagram with its kernel receive timestamp and packet info.

        The kernel timestamp is used when the clock driver reads the same
        timescale (CLOCK_REALTIME); otherwise (a simulated clock) the
        datagram is stamped with the driver's time on arrival.
        """
        if datagram.rxTime is None or not self._useKernelTime:
            datagram = ReceivedDatagram(
                datagram.data,
                datagram.source,
                datagram.destination,
                datagram.localAddress,
                datagram.ifindex,
                self._clock.now(),
            )
        counters = self.counters
        counters.count(C.RECEIVED)
        if self.accept is not None and not self.accept(datagram):
            counters.count(C.INTERFACE_DROP)
            return
        data = datagram.data
        try:
            _leap, version, mode = peekHeader(data)
        except PacketError:
            counters.count(C.MALFORMED)
            return
        packet: NTPPacket | None = None
        if mode not in _RAW_MODES:
            C.countVersion(counters, version, mode, len(data))
            try:
                packet = NTPPacket.decode(data)
            except PacketError as e:
                counters.count(C.MALFORMED)
                self._log.debug(
                    "Dropped a malformed datagram from {source}: {error}",
                    source=datagram.source,
                    error=str(e),
                )
                return
            associations = self.modes.associations
            if associations is not None:
                handler = associations.match(packet, datagram)
                if handler is not None:
                    handler.datagramReceived(packet, datagram, self)
                    return
        handler = self.modes.route(mode, packet, datagram)
        if handler is None:
            counters.count(C.NO_HANDLER)
            return
        handler.datagramReceived(packet, datagram, self)

    def sendReply(
        self, datagram: ReceivedDatagram, data: bytes | Callable[[], bytes]
    ) -> None:
        """
        Send C{data} back to where C{datagram} came from, from the local
        address it was sent to.

        @param data: the bytes, or a callable returning them that is called
            as late as possible before the system call (see
            L{TimestampingPort.sendFrom}).
        """
        transport = self.transport
        if transport is None:
            return
        sendFrom = getattr(transport, "sendFrom", None)
        if sendFrom is not None:
            sendFrom(data, datagram.source, datagram.localAddress, datagram.ifindex)
        else:
            transport.write(data() if callable(data) else data, datagram.source)
        self.counters.count(C.SENT)

    def now(self) -> int:
        """
        Read the clock driver (ns since the Unix epoch).
        """
        return int(self._clock.now())
