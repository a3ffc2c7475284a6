# -*- test-case-name: tests.net.test_udp -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A Twisted UDP port that reads kernel receive timestamps and packet info.

Stock L{twisted.internet.udp.Port} reads with C{recvfrom}, which loses the
two things an NTP server needs besides the bytes: when the datagram arrived
(C{SO_TIMESTAMPNS}: the kernel stamps it in the softirq, before any
scheduling delay of ours) and to which address it was sent (C{IP_PKTINFO},
C{IPV6_RECVPKTINFO}: on a wildcard socket this tells a unicast request from
a broadcast one, and which local address to answer from), and whether it
was reassembled from IP fragments (C{IP_RECVFRAGSIZE},
C{IPV6_RECVFRAGSIZE}: a client drops such replies, see
L{ReceivedDatagram.fragmentSize}).

Our datagrams are never fragmented by the kernel: every socket sets
C{IP_MTU_DISCOVER} (C{IPV6_MTU_DISCOVER}) to C{IP_PMTUDISC_PROBE}, so that
what we send carries Don't Fragment and ignores the path MTU that ICMP
"fragmentation needed" messages (which anybody can forge) would lower; a
datagram larger than the interface's MTU is refused with C{EMSGSIZE}
rather than split.

L{TimestampingPort} reads with C{recvmsg}, and hands the protocol a
L{ReceivedDatagram}; it sends with C{sendmsg} and a packet-info control
message so that a reply leaves from the address its request arrived on.
"""

from __future__ import annotations

import errno
import socket
import struct
from dataclasses import dataclass
from typing import Any, Callable

from twisted.internet import udp
from ntpservice._log import Logger

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
IPV6_MTU_DISCOVER = getattr(socket, "IPV6_MTU_DISCOVER", 23)
IP_PMTUDISC_PROBE = getattr(socket, "IP_PMTUDISC_PROBE", 3)
IPV6_PMTUDISC_PROBE = getattr(socket, "IPV6_PMTUDISC_PROBE", 3)
IP_RECVFRAGSIZE = getattr(socket, "IP_RECVFRAGSIZE", 25)
"""Linux >= 4.10: the largest fragment's size of a reassembled datagram."""
IPV6_RECVFRAGSIZE = getattr(socket, "IPV6_RECVFRAGSIZE", 77)

_TIMESPEC = struct.Struct("@qq")
_IN_PKTINFO = struct.Struct("@i4s4s")
_IN6_PKTINFO = struct.Struct("@16sI")
_INT = struct.Struct("@i")
_ANCILLARY_SIZE = (
    socket.CMSG_SPACE(_TIMESPEC.size)
    + socket.CMSG_SPACE(max(_IN_PKTINFO.size, _IN6_PKTINFO.size))
    + socket.CMSG_SPACE(_INT.size)
)

_READ_IGNORE = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR}
_READ_REFUSED = {errno.ECONNREFUSED}


UNICAST = "unicast"
"""A datagram sent to one of our unicast addresses."""
BROADCAST = "broadcast"
"""A datagram sent to an IPv4 broadcast address."""
MULTICAST = "multicast"
"""A datagram sent to a multicast group."""
DESTINATION_KINDS = (UNICAST, BROADCAST, MULTICAST)
"""Every destination kind, the default of a route."""


@dataclass(frozen=True, slots=True)
class ReceivedDatagram:
    """
    One datagram as the kernel delivered it.

    @ivar data: the payload.
    @ivar source: the sender as C{(host, port)}.
    @ivar destination: the destination address in the IP header (a
        broadcast or multicast address for such datagrams), or C{None} when
        the kernel did not say.
    @ivar localAddress: the local unicast address to answer from, or
        C{None} when unknown (the kernel then picks one).
    @ivar ifindex: the index of the interface the datagram came in on, or 0.
    @ivar rxTime: the kernel receive timestamp, ns since the Unix epoch in
        CLOCK_REALTIME; C{None} when the kernel gave none.
    @ivar fragmentSize: when the kernel reassembled the datagram from IP
        fragments, the size of the largest fragment (octets); 0 for a
        datagram that came whole. An NTP reply never needs fragments, and
        a forged fragment can replace part of a genuine reply (Malhotra et
        al., "The Security of NTP's Datagram Protocol", FC 2017): the
        daemon drops replies to its associations that came in fragments.
    """

    data: bytes
    source: tuple[str, int]
    destination: str | None = None
    localAddress: str | None = None
    ifindex: int = 0
    rxTime: int | None = None
    fragmentSize: int = 0

    @property
    def destinationKind(self) -> str:
        """
        L{UNICAST}, L{BROADCAST} or L{MULTICAST}: what kind of address the
        datagram was sent to (the multiplexer routes on it).
        """
        if self.isUnicast:
            return UNICAST
        destination = self.destination or ""
        if ":" in destination:
            return MULTICAST
        first = destination.split(".", 1)[0]
        if first.isdigit() and 224 <= int(first) <= 239:
            return MULTICAST
        return BROADCAST

    @property
    def isUnicast(self) -> bool:
        """
        Whether the datagram was sent to one of our unicast addresses (not
        to a broadcast or multicast address).

        On IPv4 the kernel reports the header destination and the local
        address it would answer from; they differ for a broadcast. When the
        kernel gave no packet info the datagram came in on a socket bound to
        a unicast address, which receives no broadcasts.
        """
        destination = self.destination
        if destination is None:
            return True
        # The kernel writes addresses in canonical form: no parsing needed
        # on this per-packet path (ipaddress costs microseconds).
        if ":" in destination:
            # IPv6 has no broadcast; multicast is ff00::/8.
            return not destination.lower().startswith("ff")
        first = destination.split(".", 1)[0]
        if not first.isdigit() or 224 <= int(first) <= 239:
            return False
        if destination == "255.255.255.255":
            return False
        return self.localAddress is None or self.localAddress == destination


def parseAncillary(
    ancdata: list[tuple[int, int, bytes]],
) -> tuple[int | None, str | None, str | None, int, int]:
    """
    Pull the receive timestamp, the packet info and the fragment size out
    of C{recvmsg}'s ancillary data.

    @return: C{(rxTimeNs, destination, localAddress, ifindex,
        fragmentSize)}.
    """
    rxTime = None
    destination = localAddress = None
    ifindex = fragmentSize = 0
    for level, kind, value in ancdata:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS:
            if len(value) >= _TIMESPEC.size:
                sec, nsec = _TIMESPEC.unpack_from(value)
                rxTime = sec * 1_000_000_000 + nsec
        elif level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            if len(value) >= _IN_PKTINFO.size:
                ifindex, specDst, addr = _IN_PKTINFO.unpack_from(value)
                localAddress = socket.inet_ntop(socket.AF_INET, specDst)
                destination = socket.inet_ntop(socket.AF_INET, addr)
        elif level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO:
            if len(value) >= _IN6_PKTINFO.size:
                addr, ifindex = _IN6_PKTINFO.unpack_from(value)
                destination = socket.inet_ntop(socket.AF_INET6, addr)
                localAddress = destination
        elif (level, kind) in _FRAGSIZE and len(value) >= _INT.size:
            fragmentSize = _INT.unpack_from(value)[0]
    return rxTime, destination, localAddress, ifindex, fragmentSize


_FRAGSIZE = {(socket.IPPROTO_IP, IP_RECVFRAGSIZE), (socket.IPPROTO_IPV6, IPV6_RECVFRAGSIZE)}


def setSocketOptions(skt: socket.socket, family: int) -> None:
    """
    The options of every NTP socket beyond timestamps and packet info:
    report reassembled datagrams (C{IP_RECVFRAGSIZE}), and never let the
    kernel fragment what we send (C{IP_PMTUDISC_PROBE}). A kernel that
    lacks an option (older than Linux 4.10 for the fragment size) is no
    error: the datagrams are then taken as they come.
    """
    if family == socket.AF_INET6:
        options = [(socket.IPPROTO_IPV6, IPV6_RECVFRAGSIZE, 1),
                   (socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE)]
    else:
        options = [(socket.IPPROTO_IP, IP_RECVFRAGSIZE, 1),
                   (socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)]
    for level, option, value in options:
        try:
            skt.setsockopt(level, option, value)
        except OSError:
            pass


def _pktinfoFor(family: int, localAddress: str, ifindex: int) -> list[Any]:
    """
    The control message that makes a datagram leave from C{localAddress}.
    """
    if family == socket.AF_INET6:
        info = _IN6_PKTINFO.pack(
            socket.inet_pton(socket.AF_INET6, localAddress), ifindex
        )
        return [(socket.IPPROTO_IPV6, IPV6_PKTINFO, info)]
    info = _IN_PKTINFO.pack(0, socket.inet_pton(socket.AF_INET, localAddress), b"\0" * 4)
    return [(socket.IPPROTO_IP, IP_PKTINFO, info)]


class TimestampingPort(udp.Port):
    """
    A UDP port that delivers L{ReceivedDatagram}s, with kernel receive
    timestamps and packet info, to C{protocol.datagramReceivedWithInfo}.

    @ivar device: the name of the network interface the socket is bound to
        with C{SO_BINDTODEVICE}, or C{None}.
    """

    _log = Logger()

    def __init__(
        self,
        port: int,
        proto: Any,
        interface: str = "",
        maxPacketSize: int = 8192,
        reactor: Any = None,
        device: str | None = None,
        reusePort: bool = False,
    ) -> None:
        """
        @param device: bind to this interface (C{SO_BINDTODEVICE}).
        @param reusePort: set C{SO_REUSEPORT} before binding, so that the
            fast path's threads can bind their own sockets beside this one
            (L{ntpservice.net.fastpath}).
        """
        super().__init__(port, proto, interface, maxPacketSize, reactor)
        self.device = device
        self.reusePort = reusePort
        self._pktinfoCache: dict[tuple[str, int], list[Any]] = {}

    def createInternetSocket(self) -> socket.socket:
        """
        Create the socket with timestamping and packet info turned on.
        """
        skt: socket.socket = super().createInternetSocket()
        skt.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if self.reusePort:
            skt.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_REUSEPORT", 15), 1)
        if self.addressFamily == socket.AF_INET6:
            skt.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            skt.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        else:
            skt.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        setSocketOptions(skt, self.addressFamily)
        if self.device:
            skt.setsockopt(
                socket.SOL_SOCKET, SO_BINDTODEVICE, self.device.encode() + b"\0"
            )
        return skt

    def doRead(self) -> None:
        """
        Read datagrams with their ancillary data until the socket is empty
        or L{maxThroughput} bytes were read.
        """
        read = 0
        recvmsg: Callable[..., Any] = self.socket.recvmsg
        deliver = self.protocol.datagramReceivedWithInfo
        isV6 = self.addressFamily == socket.AF_INET6
        while read < self.maxThroughput:
            try:
                data, ancdata, _flags, addr = recvmsg(
                    self.maxPacketSize, _ANCILLARY_SIZE
                )
            except OSError as se:
                if se.errno in _READ_IGNORE:
                    return
                if se.errno in _READ_REFUSED:
                    return
                raise
            read += len(data)
            if isV6:
                addr = addr[:2]
            rxTime, destination, localAddress, ifindex, fragmentSize = parseAncillary(
                ancdata
            )
            try:
                deliver(
                    ReceivedDatagram(
                        data, addr, destination, localAddress, ifindex, rxTime,
                        fragmentSize,
                    )
                )
            except BaseException:
                self._log.failure("Unhandled error delivering a datagram")

    def sendFrom(
        self,
        datagram: bytes | Callable[[], bytes],
        addr: tuple[str, int],
        localAddress: str | None = None,
        ifindex: int = 0,
    ) -> None:
        """
        Send C{datagram} to C{addr}, from C{localAddress} when given (so a
        reply on a wildcard socket leaves from the address its request came
        to).

        @param datagram: the bytes, or a callable returning them, called as
            the very last step before the system call: a server passes one
            that reads the clock and stamps the transmit timestamp, so that
            nothing but the system call separates the two.

        Errors from the kernel for one datagram (unreachable, no buffer
        space) are logged and the datagram dropped: they must not close the
        port.
        """
        ancillary = None
        if localAddress is not None and self.interface in ("", "::", "0.0.0.0"):
            key = (localAddress, ifindex)
            ancillary = self._pktinfoCache.get(key)
            if ancillary is None:
                if len(self._pktinfoCache) > 4096:
                    self._pktinfoCache.clear()
                ancillary = self._pktinfoCache[key] = _pktinfoFor(
                    self.addressFamily, localAddress, ifindex
                )
        for _attempt in range(3):
            data = datagram() if callable(datagram) else datagram
            try:
                if ancillary is None:
                    self.socket.sendto(data, addr)
                else:
                    self.socket.sendmsg([data], ancillary, 0, addr)
                return
            except OSError as se:
                if se.errno == errno.EINTR:
                    continue
                self._log.debug(
                    "Sending to {addr} failed: {error}", addr=addr, error=se.strerror
                )
                return
