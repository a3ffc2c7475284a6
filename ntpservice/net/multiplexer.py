# -*- test-case-name: tests.net.test_multiplexer -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The multiplexer: one L{NTPDatagramProtocol} per bound address.

It stamps, decodes, drops and counts malformed datagrams, and hands each
packet to the handler registered for its mode in a L{ModeTable}. It knows no
mode by name: association-mode plugins register themselves in the table.
Modes 6 and 7 (control and private) have no NTP header; their handlers get
the raw datagram and decode it themselves.
"""

from __future__ import annotations

from typing import Any, Callable

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
from ntpservice.interfaces import IClockDriver, IDatagramHandler, IReplySender
from ntpservice.net.udp import ReceivedDatagram

_RAW_MODES = frozenset({MODE_CONTROL, MODE_PRIVATE})


class ModeTable:
    """
    Which handler takes the packets of each mode (0-7).

    A mode has at most one handler; registering a second one for the same
    mode is an error, so two plugins can never silently fight over packets.
    """

    def __init__(self) -> None:
        self._handlers: dict[int, Any] = {}
        self.associations: Any = None

    def setAssociations(self, associations: Any) -> None:
        """
        Consult C{associations} first: an object whose C{match(packet,
        datagram)} returns the handler for a packet that belongs to an
        association (the engine, by RFC 5905's dispatch table), or C{None}
        to fall through to the handler of the packet's mode.
        """
        self.associations = associations

    def register(self, mode: int, handler: Any) -> None:
        """
        Route the packets of C{mode} to C{handler}.

        @param mode: a packet mode, 0-7.
        @param handler: an L{IDatagramHandler} provider.
        @raise ValueError: if C{mode} is out of range or already taken.
        """
        if not 0 <= mode <= 7:
            raise ValueError(f"packet mode must be 0-7, not {mode}")
        verifyObject(IDatagramHandler, handler)
        if mode in self._handlers:
            raise ValueError(
                f"packet mode {mode} is already handled by {self._handlers[mode]!r}"
            )
        self._handlers[mode] = handler

    def unregister(self, mode: int) -> None:
        """
        Stop routing C{mode} anywhere.
        """
        self._handlers.pop(mode, None)

    def get(self, mode: int) -> Any:
        """
        The handler for C{mode}, or C{None}.
        """
        return self._handlers.get(mode)


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
        handler = self.modes.get(mode)
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
