# -*- test-case-name: tests.clock.test_drivers,tests.net.test_multiplexer -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Every zope.interface of ntpservice, with the docstrings that are the contract.

Units: absolute times are integer nanoseconds since the Unix epoch (the unit
of C{clock_gettime} and of C{SO_TIMESTAMPNS}); offsets and durations handed
to a clock driver are float seconds; frequencies are float parts per million.
"""

from zope.interface import Attribute, Interface


class IClockDriver(Interface):
    """
    The system clock as the daemon sees it: read it, and correct it.

    Three providers exist: L{ntpservice.clock.linux.LinuxClock} (the real
    kernel clock, through adjtimex), L{ntpservice.clock.noadjust.NoAdjustClock}
    (reads the real clock, records what it would have done, changes nothing)
    and L{ntpservice.clock.simulated.SimulatedClock} (an oscillator with
    frequency error and wander, driven by a Twisted C{IReactorTime}).

    A driver never decides anything: the discipline in the core decides, the
    driver carries out.
    """

    name = Attribute("A short C{str} naming the driver, for logs: C{'linux'}.")

    canAdjust = Attribute(
        "C{bool}: whether corrections change a real clock. C{False} for the "
        "no-adjust driver, so the daemon can say so at start-up."
    )

    kernelTimescale = Attribute(
        "C{bool}: whether L{now} reads CLOCK_REALTIME, the timescale of the "
        "kernel's packet timestamps (SO_TIMESTAMPNS). When C{False} (a "
        "simulated clock) the shell stamps arriving packets with L{now}."
    )

    def now() -> int:
        """
        Read the clock.

        @return: nanoseconds since the Unix epoch (1970-01-01 UTC), as an
            C{int}.
        """

    def precision() -> int:
        """
        The precision of L{now}, as the RFC 5905 C{precision} field.

        @return: the log2 of the clock's resolution (or reading cost) in
            seconds, a negative C{int}: C{-20} is about a microsecond.
        """

    def slew(offset: float) -> None:
        """
        Amortize a correction gradually (the clock is never stepped).

        @param offset: seconds to add to the clock over time; positive when
            the clock is behind.
        """

    def step(offset: float) -> None:
        """
        Set the clock at once by C{offset} seconds (positive: forward).
        """

    def setFrequency(freqPPM: float) -> None:
        """
        Set the frequency correction of the oscillator.

        @param freqPPM: parts per million added to the clock rate; positive
            makes the clock run faster. Within +-500 (the NTP tolerance).
        """

    def setLeap(leap: int) -> None:
        """
        Arm or disarm a leap second at the end of the current UTC day.

        @param leap: the RFC 5905 leap indicator: 0 none, 1 insert,
            2 delete, 3 unsynchronized (treated as 0).
        """

    def status() -> "ClockStatus":
        """
        What the driver knows of the clock's state.

        @return: a L{ntpservice.clock.ClockStatus}.
        """


class IDatagramHandler(Interface):
    """
    Something the multiplexer hands decoded datagrams to.

    The multiplexer (L{ntpservice.net.multiplexer.NTPDatagramProtocol}) knows
    no mode by name: it reads the mode field of each datagram and calls the
    handler registered for that mode number. Association-mode plugins
    provide this interface (and more) in a later issue; the server side
    answering mode 3 is the first.
    """

    def datagramReceived(
        packet: object, datagram: "ReceivedDatagram", sender: "IReplySender"
    ) -> None:
        """
        Handle one datagram.

        @param packet: the decoded L{ntpservice.core.packet.NTPPacket} for
            modes 0-5; C{None} for modes 6 and 7, whose handlers decode
            C{datagram.data} themselves.
        @param datagram: the raw bytes with their addresses and receive
            timestamp (L{ntpservice.net.udp.ReceivedDatagram}); its C{rxTime}
            is always set, in the clock driver's timescale.
        @param sender: where to send replies and read the clock.
        """


class IReplySender(Interface):
    """
    What a L{IDatagramHandler} answers through: the protocol of the bound
    address the datagram arrived on.
    """

    def sendReply(
        datagram: "ReceivedDatagram", data: "bytes | Callable[[], bytes]"
    ) -> None:
        """
        Send C{data} to C{datagram}'s source, from the local address
        C{datagram} was sent to.

        @param data: the datagram, or a callable that returns it and is
            called as the last step before the system call (so a transmit
            timestamp read inside it is as late as it can be).
        """

    def now() -> int:
        """
        Read the clock driver: ns since the Unix epoch.
        """
