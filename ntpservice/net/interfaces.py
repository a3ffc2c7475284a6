# -*- test-case-name: tests.net.test_interfaces -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The interface tracker: the host's local addresses as they come and go.

Theory of operation. L{InterfaceTracker} lists the local addresses (a
C{RTM_GETADDR} dump over rtnetlink, L{listAddresses}) when it starts, again
every C{-U} seconds (a L{LoopingCall}; ntpd's default 300 s, 0 turns the
timer off), and at once when the kernel announces an address change (a
raw C{AF_NETLINK} socket subscribed to C{RTMGRP_IPV4_IFADDR} and
C{RTMGRP_IPV6_IFADDR}, read in the reactor: L{AddressEvents}). Each scan is
compared with the previous one and every L{IInterfaceObserver
<ntpservice.interfaces.IInterfaceObserver>} hears of each address added
(C{interfaceAdded}) and removed (C{interfaceRemoved}), in the order the
observers registered: the service first (it opens and closes the sockets
bound per address, and logs ntpd's "Listen normally on" and "Deleting
interface" lines), then the socket owner (it forgets its route choices and
tells the plugins that subscribed through
L{SocketOwner.addInterfaceObserver
<ntpservice.net.sockets.SocketOwner.addInterfaceObserver>}).

An IPv6 address still tentative (duplicate address detection, about a
second) is left out until the kernel announces it usable. An IPv4 address
whose label is not its interface's name (C{eth0:1}) is a I{virtual}
interface (ntpd's C{-L} ignores them).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from twisted.internet.task import LoopingCall

from ntpservice._log import Logger

DEFAULT_INTERVAL = 300.0
"""Seconds between scans without C{-U} (ntpd's default)."""

NETLINK_ROUTE = 0
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_FLAGS = 8
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40

_NLMSGHDR = struct.Struct("=LHHLL")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")


@dataclass(frozen=True, slots=True)
class InterfaceAddress:
    """
    One local address.

    @ivar address: the address, in its canonical text form.
    @ivar prefixLength: the prefix length of its network, in bits.
    @ivar ifindex: the index of its interface.
    @ivar name: the name of its interface (C{eth0}).
    @ivar label: its label: the interface name, or an alias (C{eth0:1})
        for a virtual IPv4 interface; the interface name for IPv6.
    @ivar flags: the kernel's C{IFA_F_*} flags.
    """

    address: str
    prefixLength: int
    ifindex: int
    name: str
    label: str = ""
    flags: int = 0

    @property
    def family(self) -> int:
        """C{AF_INET6} or C{AF_INET}."""
        return socket.AF_INET6 if ":" in self.address else socket.AF_INET

    @property
    def displayName(self) -> str:
        """Its label, else its interface's name, as ntpd's log shows it."""
        return self.label or self.name

    @property
    def virtual(self) -> bool:
        """Whether it is an IPv4 alias (C{eth0:1}): ntpd's virtual interface."""
        return bool(self.label) and self.label != self.name

    @property
    def linkLocal(self) -> bool:
        """Whether it is an IPv6 link-local address (bound only with a scope)."""
        return ipaddress.ip_address(self.address).is_link_local and ":" in self.address

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback


def _attributes(data: bytes, offset: int, end: int) -> Iterable[tuple[int, bytes]]:
    while offset + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            return
        yield kind, data[offset + _RTATTR.size : offset + length]
        offset += (length + 3) & ~3


def parseAddressMessages(
    data: bytes, indexToName: Callable[[int], str] = socket.if_indextoname
) -> tuple[list[tuple[int, InterfaceAddress]], bool]:
    """
    Parse rtnetlink messages.

    @param data: one datagram read from a C{NETLINK_ROUTE} socket.
    @return: the C{RTM_NEWADDR}/C{RTM_DELADDR} messages as (message type,
        address), and whether the datagram ended a dump (C{NLMSG_DONE} or
        an error).
    """
    out: list[tuple[int, InterfaceAddress]] = []
    done = False
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break
        end = offset + length
        if kind in (NLMSG_DONE, NLMSG_ERROR):
            done = True
        elif kind in (RTM_NEWADDR, RTM_DELADDR):
            body = offset + _NLMSGHDR.size
            family, prefixLength, flags, _scope, index = _IFADDRMSG.unpack_from(data, body)
            attrs = dict(_attributes(data, body + _IFADDRMSG.size, end))
            raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
            if raw is not None and family in (socket.AF_INET, socket.AF_INET6):
                if IFA_FLAGS in attrs and len(attrs[IFA_FLAGS]) >= 4:
                    flags = struct.unpack("=I", attrs[IFA_FLAGS][:4])[0]
                try:
                    name = indexToName(index)
                except OSError:
                    name = str(index)
                label = attrs.get(IFA_LABEL, b"").split(b"\0", 1)[0].decode(
                    "utf-8", "replace"
                )
                address = str(ipaddress.ip_address(socket.inet_ntop(family, raw)))
                out.append(
                    (
                        kind,
                        InterfaceAddress(
                            address, prefixLength, index, name, label or name, flags
                        ),
                    )
                )
        offset += (length + 3) & ~3
    return out, done


def listAddresses() -> list[InterfaceAddress]:
    """
    The host's local addresses, from an C{RTM_GETADDR} dump (about 16 us),
    usable ones only (no tentative or failed IPv6 address).
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        sock.settimeout(5.0)
        sock.bind((0, 0))
        request = _NLMSGHDR.pack(
            _NLMSGHDR.size + _IFADDRMSG.size, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0
        ) + _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        sock.send(request)
        addresses: list[InterfaceAddress] = []
        for _ in range(10000):
            messages, done = parseAddressMessages(sock.recv(65536))
            addresses.extend(a for kind, a in messages if kind == RTM_NEWADDR)
            if done:
                break
    finally:
        sock.close()
    return [a for a in addresses if not a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)]


class AddressEvents:
    """
    The kernel's address announcements (rtnetlink multicast groups), read
    in the reactor: each datagram calls C{changed()} once.
    """

    def __init__(self, reactor: Any, changed: Callable[[], None]) -> None:
        self._reactor = reactor
        self._changed = changed
        self._socket: socket.socket | None = None

    def start(self) -> bool:
        """
        Subscribe. @return: whether the kernel accepted (else the timer
        alone notices changes).
        """
        try:
            sock = socket.socket(
                socket.AF_NETLINK,
                socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                NETLINK_ROUTE,
            )
            sock.bind((0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
        except (OSError, AttributeError):
            return False
        self._socket = sock
        self._reactor.addReader(self)
        return True

    def stop(self) -> None:
        if self._socket is not None:
            self._reactor.removeReader(self)
            self._socket.close()
            self._socket = None

    # IReadDescriptor
    def fileno(self) -> int:
        return self._socket.fileno() if self._socket is not None else -1

    def logPrefix(self) -> str:
        return "rtnetlink"

    def connectionLost(self, reason: Any) -> None:
        self.stop()

    def doRead(self) -> None:
        seen = False
        for _ in range(1000):
            if self._socket is None:
                break
            try:
                self._socket.recv(65536)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    break
                if e.errno == errno.ENOBUFS:
                    # Announcements were lost: a scan catches up.
                    seen = True
                    continue
                raise
            seen = True
        if seen:
            self._changed()


class InterfaceTracker:
    """
    Follows the host's local addresses (see the module docstring).

    @ivar addresses: the current addresses, by address.
    @ivar interval: seconds between scans (0: no timer).
    """

    _log = Logger()

    def __init__(
        self,
        reactor: Any,
        interval: float = DEFAULT_INTERVAL,
        scan: Callable[[], list[InterfaceAddress]] = listAddresses,
        events: bool = True,
    ) -> None:
        """
        @param scan: lists the addresses (L{listAddresses}; tests pass
            their own).
        @param events: whether to listen to the kernel's announcements.
        """
        self._reactor = reactor
        self.interval = interval
        self._scan = scan
        self._events = AddressEvents(reactor, self._eventSeen) if events else None
        self._observers: list[Any] = []
        self._loop: LoopingCall | None = None
        self._pending: Any = None
        self.addresses: dict[str, InterfaceAddress] = {}

    def addObserver(self, observer: Any) -> None:
        """
        Tell C{observer} (an L{IInterfaceObserver
        <ntpservice.interfaces.IInterfaceObserver>}) of every address
        added and removed from now on, after the observers added before it.
        """
        self._observers.append(observer)

    def removeObserver(self, observer: Any) -> None:
        self._observers.remove(observer)

    def start(self) -> None:
        """
        Scan now (each address found is announced as added), then follow
        the kernel's announcements and scan every L{interval} seconds.
        """
        self.rescan()
        if self._events is not None and not self._events.start():
            self._log.warn(
                "No rtnetlink address events here; address changes are noticed "
                "by the scan every {interval:g} s",
                interval=self.interval,
            )
        if self.interval > 0:
            self._loop = LoopingCall(self.rescan)
            self._loop.clock = self._reactor
            self._loop.start(self.interval, now=False)

    def stop(self) -> None:
        if self._events is not None:
            self._events.stop()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None

    def _eventSeen(self) -> None:
        # Several announcements in a burst (an address and its routes, a
        # primary address and its secondaries) give one scan.
        if self._pending is None or not self._pending.active():
            self._pending = self._reactor.callLater(0.05, self.rescan)

    def rescan(self) -> tuple[list[InterfaceAddress], list[InterfaceAddress]]:
        """
        List the addresses and announce the differences.

        @return: the addresses added and removed.
        """
        try:
            found = {a.address: a for a in self._scan()}
        except OSError as e:
            self._log.error("Cannot list the local addresses: {error}", error=str(e))
            return [], []
        previous = self.addresses
        removed = [a for key, a in previous.items() if found.get(key) != a]
        added = [a for key, a in found.items() if previous.get(key) != a]
        self.addresses = found
        for address in removed:
            self._tell("interfaceRemoved", address)
        for address in added:
            self._tell("interfaceAdded", address)
        return added, removed

    def _tell(self, method: str, address: InterfaceAddress) -> None:
        for observer in list(self._observers):
            try:
                getattr(observer, method)(address)
            except Exception:
                self._log.failure(
                    "Interface observer {observer!r} failed on {method}",
                    observer=observer,
                    method=method,
                )
