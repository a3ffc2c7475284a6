# -*- test-case-name: tests.modes.test_broadcast -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The network interfaces multicast and broadcast modes work on: which ones
can carry multicast (up, C{IFF_MULTICAST}, not loopback), by name and
index, read from the kernel without blocking (C{if_nameindex} and the
flags in C{/sys/class/net}).

Modes that join groups or send to them do it per interface, through one
function each, so that the interface tracker (issue 13) can call it again
for an interface that appears: L{InterfaceFollower} is the
L{IInterfaceObserver <ntpservice.interfaces.IInterfaceObserver>} they
subscribe (C{daemon.sockets.addInterfaceObserver}). It tells its mode of
an interface the first time one of its addresses appears (an interface
that carries multicast) and when its last address goes with the interface
itself (a PPP link torn down: its index is gone); an address replaced on
an interface that stays (A then B) changes nothing, the kernel keeping the
memberships of the interface.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from zope.interface import implementer

from ntpservice.interfaces import IInterfaceObserver

IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_MULTICAST = 0x1000


@dataclass(frozen=True, slots=True)
class Interface:
    """
    One network interface.

    @ivar name: its name (C{eth0}).
    @ivar index: its index (C{if_nametoindex}).
    @ivar flags: its C{IFF_*} flags.
    """

    name: str
    index: int
    flags: int

    @property
    def carriesMulticast(self) -> bool:
        """Up, multicast-capable and not the loopback interface."""
        return (
            self.flags & (IFF_UP | IFF_MULTICAST) == (IFF_UP | IFF_MULTICAST)
            and not self.flags & IFF_LOOPBACK
        )


def interfaceFlags(name: str, sysfs: str = "/sys/class/net") -> int:
    """
    The C{IFF_*} flags of interface C{name}, 0 when they cannot be read.
    """
    try:
        with open(f"{sysfs}/{name}/flags") as f:
            return int(f.read().strip(), 16)
    except (OSError, ValueError):
        return 0


def listInterfaces(sysfs: str = "/sys/class/net") -> list[Interface]:
    """
    Every interface of this network namespace, in index order.
    """
    try:
        pairs = socket.if_nameindex()
    except OSError:
        return []
    return sorted(
        (Interface(name, index, interfaceFlags(name, sysfs)) for index, name in pairs),
        key=lambda i: i.index,
    )


def multicastInterfaces(sysfs: str = "/sys/class/net") -> list[Interface]:
    """
    The interfaces that carry multicast and broadcast: up, multicast
    capable, not loopback.
    """
    return [i for i in listInterfaces(sysfs) if i.carriesMulticast]


class GroupMembership:
    """
    The multicast groups one mode listens to, joined one interface at a
    time through the daemon's L{SocketOwner
    <ntpservice.net.sockets.SocketOwner>}.

    @ivar groups: the groups (literal addresses, canonical form).
    @ivar joined: C{(group, interface index or None)} pairs joined.
    """

    def __init__(self, sockets: Any, groups: Iterable[str], log: Any) -> None:
        self._sockets = sockets
        self.groups = [canonicalAddress(g) for g in groups]
        self.joined: list[tuple[str, int | None]] = []
        self._log = log
        self.follower: InterfaceFollower | None = None

    def follow(self, **kwargs: Any) -> None:
        """
        Join the groups on each interface that appears from now on, and
        forget those of an interface that goes, as the daemon's interface
        tracker says (an L{InterfaceFollower} subscribed to the socket
        owner); one log line each. Nothing to do without groups, or
        without a socket owner that tells of interfaces (the simulator).

        @param kwargs: passed to L{InterfaceFollower} (tests).
        """
        subscribe = getattr(self._sockets, "addInterfaceObserver", None)
        if not self.groups or subscribe is None or self.follower is not None:
            return
        self.follower = InterfaceFollower(self._appeared, self._gone, **kwargs)
        subscribe(self.follower)

    def unfollow(self) -> None:
        """Stop following the interfaces."""
        if self.follower is not None:
            self._sockets.removeInterfaceObserver(self.follower)
            self.follower = None

    def _appeared(self, interface: Interface) -> None:
        # The socket owner logs each join and leave, one line each.
        self.joinOn(interface.index)

    def _gone(self, interface: Interface) -> None:
        self.leaveOn(interface.index)

    def __contains__(self, address: object) -> bool:
        return address in self.groups

    def joinAll(self, interfaces: list[Interface]) -> None:
        """
        Join on every interface given, or once on the default interface
        when there is none (the simulator's hosts).
        """
        if not self.groups:
            return
        if not interfaces:
            self.joinOn(None)
        for interface in interfaces:
            self.joinOn(interface.index)

    def joinOn(self, interface: int | None) -> int:
        """
        Join every group on interface C{interface} (an index; C{None}: the
        default one). The interface tracker calls this for an interface
        that appears; a group of the other family, or one the kernel
        refuses there, is logged and skipped.

        @return: how many groups were joined.
        """
        if self._sockets is None:
            return 0
        count = 0
        for group in self.groups:
            if (group, interface) in self.joined:
                continue
            try:
                ok = self._sockets.joinGroup(group, interface)
            except (OSError, ValueError) as e:
                if isinstance(e, OSError) and e.errno == errno.EADDRINUSE:
                    # Joined there already (through the default
                    # interface at start): a member, not a second join.
                    self.joined.append((group, interface))
                    continue
                self._log.warn(
                    "Cannot join multicast group {group} on interface {interface}: "
                    "{error}",
                    group=group,
                    interface=interface,
                    error=str(e),
                )
                continue
            if ok:
                self.joined.append((group, interface))
                count += 1
        return count

    def leaveOn(self, interface: int | None) -> None:
        """
        Leave the groups joined on C{interface} (it is going away).
        """
        for group, index in list(self.joined):
            if index != interface:
                continue
            self.joined.remove((group, index))
            if self._sockets is not None:
                try:
                    self._sockets.leaveGroup(group, interface)
                except (OSError, ValueError):
                    pass

    def leaveAll(self) -> None:
        """Leave every group joined, and stop following the interfaces."""
        self.unfollow()
        for interface in {index for _, index in self.joined}:
            self.leaveOn(interface)


def interfaceIndexes() -> set[int]:
    """
    The indexes of the interfaces that exist now (C{if_nameindex}).
    """
    try:
        return {index for index, _ in socket.if_nameindex()}
    except OSError:
        return set()


@implementer(IInterfaceObserver)
class InterfaceFollower:
    """
    Follows the interfaces that carry multicast, from the interface
    tracker's address events, for one mode: C{appeared(interface)} when an
    interface that carries multicast gets its first address (or is found
    at start), C{gone(interface)} when the last address of one goes with
    the interface itself.

    @ivar interfaces: the interfaces followed, by index.
    """

    def __init__(
        self,
        appeared: Callable[[Interface], None],
        gone: Callable[[Interface], None],
        flags: Callable[[str], int] = interfaceFlags,
        present: Callable[[], set[int]] = interfaceIndexes,
    ) -> None:
        """
        @param flags: the C{IFF_*} flags of an interface, by name
            (L{interfaceFlags}; tests pass their own).
        @param present: the indexes of the interfaces that exist
            (L{interfaceIndexes}; tests pass their own).
        """
        self._appeared = appeared
        self._gone = gone
        self._flags = flags
        self._present = present
        self.interfaces: dict[int, Interface] = {}
        self._addresses: dict[int, set[str]] = {}

    def interfaceAdded(self, address: Any) -> None:
        addresses = self._addresses.setdefault(address.ifindex, set())
        addresses.add(address.address)
        if address.ifindex in self.interfaces:
            return
        interface = Interface(address.name, address.ifindex, self._flags(address.name))
        if not interface.carriesMulticast:
            return
        self.interfaces[interface.index] = interface
        self._appeared(interface)

    def interfaceRemoved(self, address: Any) -> None:
        addresses = self._addresses.get(address.ifindex, set())
        addresses.discard(address.address)
        if addresses:
            return
        self._addresses.pop(address.ifindex, None)
        interface = self.interfaces.get(address.ifindex)
        if interface is None or address.ifindex in self._present():
            # The interface stays: its memberships too, for its next
            # address.
            return
        del self.interfaces[address.ifindex]
        self._gone(interface)


def canonicalAddress(address: str) -> str:
    """
    C{address} as the kernel writes it (C{ff05::101}, C{224.0.1.1}).

    @raise ValueError: if it is not an IP address.
    """
    return ipaddress.ip_address(address).compressed
