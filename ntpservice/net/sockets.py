# -*- test-case-name: tests.net.test_sockets -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The one owner of a daemon's sockets.

Theory of operation. The service binds the sockets (a wildcard socket per
address family, or one per address with C{-I} and C{interface listen}) and
adds each one's protocol here, keyed by the local address it is bound to;
a later interface tracker adds and removes them as addresses come and go.
Everything that sends (associations' polls, mode plugins' unsolicited
packets, broadcasts) goes through L{SocketOwner.send}, which picks the
socket:

 1. a socket bound to the requested local address, if there is one;
 2. else the wildcard socket of the destination's family, with the local
    address in C{IP_PKTINFO}/C{IPV6_PKTINFO} when one is requested (so the
    packet leaves from it);
 3. else any socket of that family.

Replies to received datagrams do not come here: they leave from the socket
and address the request came to (L{NTPDatagramProtocol.sendReply}).

Multicast groups are joined and left on the wildcard sockets (or the socket
of the family) for one interface or the default one.

Without a wildcard socket (C{interface ignore wildcard}: one socket per
address), a packet with no requested local address leaves from the socket
bound to the address the kernel's routing would choose for its
destination (L{routeSource}: a connected UDP socket's name, as ntpd's
C{findinterface} does; nothing is sent), remembered per destination until
the local addresses change.

Interface changes. The interface tracker
(L{ntpservice.net.interfaces.InterfaceTracker}) tells the owner of every
local address added or removed, after the service opened or closed the
sockets bound to it; the owner forgets its route choices (an association
whose local address vanished picks a new one at its next poll) and tells
the L{IInterfaceObserver <ntpservice.interfaces.IInterfaceObserver>}s
subscribed with L{SocketOwner.addInterfaceObserver}.
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Callable

from ntpservice._log import Logger
from ntpservice.core import counters as C

WILDCARDS = {socket.AF_INET: "0.0.0.0", socket.AF_INET6: "::"}
"""The wildcard address of each family."""

IP_MULTICAST_ALL = 49
"""Linux: deliver every group joined by any socket (1) or only this one's (0)."""


def familyOf(address: str) -> int:
    """
    C{AF_INET6} for an address with a colon, else C{AF_INET}.
    """
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def isMulticast(address: str) -> bool:
    """
    Whether C{address} is an IPv4 (224.0.0.0/4) or IPv6 (ff00::/8) group.
    """
    if ":" in address:
        return address.lower().startswith("ff")
    first = address.split(".", 1)[0]
    return first.isdigit() and 224 <= int(first) <= 239


class SocketOwner:
    """
    The bound sockets of one daemon, by local address.

    @ivar counters: where unsendable packets are counted (C{send.nosocket}).
    @ivar interfaces: the local addresses the tracker knows, by address
        (L{ntpservice.net.interfaces.InterfaceAddress}).
    @ivar servesLocal: whether what arrives at a local address is served
        (the service's C{interface} rules and C{-L}), for listeners that
        follow the sockets (NTS-KE on TCP); C{None}: every address is.
    """

    _log = Logger()

    def __init__(
        self,
        counters: C.PacketCounters | None = None,
        router: Callable[[str], str | None] | None = None,
    ) -> None:
        """
        @param router: the local address the kernel would send from to a
            destination (L{routeSource} by default).
        """
        self.counters = counters if counters is not None else C.PacketCounters()
        self._protocols: dict[str, Any] = {}
        self._routeSource = router if router is not None else routeSource
        self._routes: dict[str, str | None] = {}
        self._interfaceObservers: list[Any] = []
        self.interfaces: dict[str, Any] = {}
        self.servesLocal: Callable[[str], bool] | None = None

    # -- interfaces ----------------------------------------------------

    def addInterfaceObserver(self, observer: Any) -> None:
        """
        Tell C{observer}, an L{IInterfaceObserver
        <ntpservice.interfaces.IInterfaceObserver>}, of every local address
        added or removed from now on; it is first told of each address
        known now, as added.
        """
        self._interfaceObservers.append(observer)
        for address in list(self.interfaces.values()):
            observer.interfaceAdded(address)

    def removeInterfaceObserver(self, observer: Any) -> None:
        self._interfaceObservers.remove(observer)

    def interfaceAdded(self, address: Any) -> None:
        """
        The tracker found a local address (L{IInterfaceObserver
        <ntpservice.interfaces.IInterfaceObserver>}).
        """
        self.interfaces[address.address] = address
        self._routes.clear()
        self._tell("interfaceAdded", address)

    def interfaceRemoved(self, address: Any) -> None:
        """
        A local address went away.
        """
        self.interfaces.pop(address.address, None)
        self._routes.clear()
        self._tell("interfaceRemoved", address)

    def _tell(self, method: str, address: Any) -> None:
        for observer in list(self._interfaceObservers):
            try:
                getattr(observer, method)(address)
            except Exception:
                self._log.failure(
                    "Interface observer {observer!r} failed on {method}",
                    observer=observer,
                    method=method,
                )

    # -- the table -----------------------------------------------------

    def add(self, protocol: Any, address: str | None = None) -> str:
        """
        Add a bound socket.

        @param protocol: its protocol (an L{NTPDatagramProtocol}), whose
            C{transport} is the bound port.
        @param address: the local address it is bound to; by default the
            transport's (C{getHost().host}), the wildcard address of its
            family when it is bound to none.
        @return: the address it is known by.
        @raise ValueError: if a socket is already known by that address.
        """
        if address is None:
            address = boundAddress(protocol.transport)
        if address in self._protocols:
            raise ValueError(f"a socket bound to {address} exists already")
        self._protocols[address] = protocol
        return address

    def remove(self, address: str) -> Any:
        """
        Forget the socket bound to C{address} (the caller closes it).

        @return: its protocol, or C{None}.
        """
        return self._protocols.pop(address, None)

    def addresses(self) -> list[str]:
        """
        The local addresses of the known sockets, in the order they came.
        """
        return list(self._protocols)

    def protocol(self, address: str) -> Any:
        """
        The protocol of the socket bound to C{address}, or C{None}.
        """
        return self._protocols.get(address)

    def _transportFor(
        self, destination: str, localAddress: str | None
    ) -> tuple[Any, str | None]:
        """
        The transport to send to C{destination} through, and the local
        address to ask of it (C{None}: the kernel chooses).
        """
        family = familyOf(destination)
        candidates = []
        for address, protocol in self._protocols.items():
            transport = protocol.transport
            if transport is None or familyOf(address) != family:
                continue
            if localAddress is not None and address == localAddress:
                return transport, None
            candidates.append((address, transport))
        for address, transport in candidates:
            if address == WILDCARDS[family]:
                return transport, localAddress
        if localAddress is None and len(candidates) > 1 and not isMulticast(destination):
            if destination not in self._routes:
                if len(self._routes) > 4096:
                    self._routes.clear()
                self._routes[destination] = self._routeSource(destination)
            source = self._routes[destination]
            for address, transport in candidates:
                if address == source:
                    return transport, None
        if candidates:
            return candidates[0][1], None
        return None, None

    # -- sending -------------------------------------------------------

    def send(
        self,
        data: bytes | Callable[[], bytes],
        destination: tuple[str, int],
        localAddress: str | None = None,
        ttl: int | None = None,
        interface: int | None = None,
    ) -> bool:
        """
        Send a datagram.

        @param data: the bytes, or a callable returning them, called as the
            last step before the system call (a transmit timestamp read in
            it is as late as can be).
        @param destination: C{(address, port)}: unicast, broadcast or
            multicast.
        @param localAddress: the local address to send from, or C{None}.
        @param ttl: the IP TTL (hop limit) of this datagram, or C{None} for
            the socket's default; for a multicast destination, the multicast
            TTL.
        @param interface: for a multicast destination, the index of the
            interface to send it out of, or C{None} for the one the routing
            table chooses.
        @return: whether a socket took it (when none, it is counted as
            C{send.nosocket}).
        """
        transport, pktinfo = self._transportFor(destination[0], localAddress)
        if transport is None:
            self.counters.count("send.nosocket")
            return False
        restore = _setTTL(transport, destination[0], ttl)
        restoreInterface = _setMulticastInterface(transport, destination[0], interface)
        try:
            sendFrom = getattr(transport, "sendFrom", None)
            if sendFrom is not None:
                if pktinfo is not None:
                    sendFrom(data, destination, pktinfo)
                else:
                    sendFrom(data, destination)
            else:
                transport.write(data() if callable(data) else data, destination)
        finally:
            if restore is not None:
                restore()
            if restoreInterface is not None:
                restoreInterface()
        self.counters.count(C.SENT)
        return True

    def allowBroadcast(self) -> None:
        """
        Let the IPv4 sockets send to broadcast addresses (C{SO_BROADCAST}):
        a broadcast server asks for it before its first packet.
        """
        for address, protocol in self._protocols.items():
            sock = getattr(protocol.transport, "socket", None)
            if sock is not None and familyOf(address) == socket.AF_INET:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)

    def disableMulticastLoop(self) -> None:
        """
        Do not deliver our own multicast packets back to this host
        (C{IP_MULTICAST_LOOP}, C{IPV6_MULTICAST_LOOP} off): a host that is
        both a multicast server and client must not hear itself.
        """
        for address, protocol in self._protocols.items():
            sock = getattr(protocol.transport, "socket", None)
            if sock is None:
                continue
            if familyOf(address) == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)

    # -- multicast groups ------------------------------------------------

    def joinGroup(self, group: str, interface: str | int | None = None) -> bool:
        """
        Receive the datagrams sent to a multicast group, on one interface
        (an address for IPv4, an index for IPv6) or the default one.

        @param interface: an IPv4 address, or an interface index (either
            family).
        @return: whether a socket of the group's family joined it.
        @raise OSError: when the kernel refuses (no such interface, the
            group already joined there).
        """
        return self._membership(group, interface, join=True)

    def leaveGroup(self, group: str, interface: str | int | None = None) -> bool:
        """
        Stop receiving a multicast group.

        @return: whether a socket of the group's family left it.
        """
        return self._membership(group, interface, join=False)

    def _membership(
        self, group: str, interface: str | int | None, join: bool
    ) -> bool:
        if not isMulticast(group):
            raise ValueError(f"{group} is not a multicast group")
        family = familyOf(group)
        transport, _ = self._transportFor(group, None)
        sock = getattr(transport, "socket", None)
        if sock is None:
            if transport is None:
                return False
            # A transport without a socket (the simulator's) joins itself.
            method = transport.joinGroup if join else transport.leaveGroup
            method(group, "" if interface is None else str(interface))
            return True
        if family == socket.AF_INET:
            if isinstance(interface, int):
                # struct ip_mreqn: the group, any address, the interface.
                request = (
                    socket.inet_pton(socket.AF_INET, group)
                    + socket.inet_pton(socket.AF_INET, "0.0.0.0")
                    + struct.pack("@i", interface)
                )
            else:
                local = interface if isinstance(interface, str) else "0.0.0.0"
                request = socket.inet_pton(socket.AF_INET, group) + socket.inet_pton(
                    socket.AF_INET, local
                )
            option = socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP
            if join:
                # A wildcard socket would otherwise get every group any
                # socket of the host joined.
                sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            sock.setsockopt(socket.IPPROTO_IP, option, request)
        else:
            index = interface if isinstance(interface, int) else 0
            request = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index)
            option = socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP
            sock.setsockopt(socket.IPPROTO_IPV6, option, request)
        self._log.info(
            "{verb} multicast group {group}{on}",
            verb="Joined" if join else "Left",
            group=group,
            on="" if interface is None else f" on {interface}",
        )
        return True


def routeSource(destination: str) -> str | None:
    """
    The local address the kernel's routing chooses to reach C{destination}
    (a UDP socket connected to it, never sending), or C{None} when there
    is no route.
    """
    family = familyOf(destination)
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((destination, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return None


def boundAddress(transport: Any) -> str:
    """
    The local address a transport is bound to; the wildcard address of its
    family when it is bound to none.
    """
    host = str(transport.getHost().host)
    if host in ("", "0.0.0.0", "::"):
        family = getattr(transport, "addressFamily", familyOf(host or "0.0.0.0"))
        return WILDCARDS.get(family, "0.0.0.0")
    return host


def _setTTL(transport: Any, destination: str, ttl: int | None) -> Callable[[], None] | None:
    """
    Set the TTL of the next datagram on C{transport}'s socket.

    @return: a function that restores the previous value, or C{None} when
        nothing was changed (no TTL asked, or no socket to set it on).
    """
    sock = getattr(transport, "socket", None)
    if ttl is None or sock is None:
        return None
    if ":" in destination:
        level = socket.IPPROTO_IPV6
        option = (
            socket.IPV6_MULTICAST_HOPS if isMulticast(destination) else socket.IPV6_UNICAST_HOPS
        )
    else:
        level = socket.IPPROTO_IP
        option = socket.IP_MULTICAST_TTL if isMulticast(destination) else socket.IP_TTL
    previous = sock.getsockopt(level, option)
    sock.setsockopt(level, option, ttl)
    return lambda: sock.setsockopt(level, option, previous)


def _setMulticastInterface(
    transport: Any, destination: str, interface: int | None
) -> Callable[[], None] | None:
    """
    Send the next multicast datagram on C{transport}'s socket out of
    interface C{interface} (C{IP_MULTICAST_IF} with a C{struct ip_mreqn},
    C{IPV6_MULTICAST_IF}).

    @return: a function that restores the default (the routing table's
        choice), or C{None} when nothing was changed.
    """
    sock = getattr(transport, "socket", None)
    if interface is None or sock is None or not isMulticast(destination):
        return None
    if ":" in destination:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, interface)
        return lambda: sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, 0)
    any4 = socket.inet_pton(socket.AF_INET, "0.0.0.0")
    sock.setsockopt(
        socket.IPPROTO_IP,
        socket.IP_MULTICAST_IF,
        any4 + any4 + struct.pack("@i", interface),
    )
    return lambda: sock.setsockopt(
        socket.IPPROTO_IP, socket.IP_MULTICAST_IF, any4 + any4 + struct.pack("@i", 0)
    )
