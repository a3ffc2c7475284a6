# -*- test-case-name: tests.core.test_association -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Peer processes: the on-wire protocol of each association mode, apart from
the source it feeds (L{ntpservice.core.association.Association}: clock
filter, reach register, poll state, peer variables).

Theory of operation. RFC 5905's dispatch table (L{ntpservice.core.dispatch})
decides which packets reach an association (PROC); the association's peer
process then decides what they mean: it builds the packet of each poll
(L{PeerProcess.request}), checks what arrives against its own on-wire state
(L{PeerProcess.receive}: the bogus and duplicate tests, kisses, the header
tests), computes the sample and hands it to the source's one entry point
(C{acceptSample}). One process per association mode, chosen by the mode
(L{peerProcessFor}); a mode that does not exist yet (symmetric, broadcast
client, manycast client: issues 11 and 12) is a new class in L{PROCESSES}.

@see: RFC 5905 sections 8, 9.2 and Appendix A.5.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ntpservice.core.constants import MAXDISP
from ntpservice.core.dispatch import ASSOC_CLIENT
from ntpservice.core.filter import FilterOutput, Sample
from ntpservice.core.packet import LEAP_NOTINSYNC, MAX_STRATUM, MODE_CLIENT, NTPPacket
from ntpservice.core.system import PHI, SystemVariables
from ntpservice.core.timestamps import ZERO, NTPTimestamp, encodeShort

# ntpd's peer status bits ("flash") that the peer process sets.
TEST_DUPLICATE = 0x0001
TEST_BOGUS = 0x0002
TEST_INVALID = 0x0004
TEST_UNSYNC = 0x0020
TEST_STRATUM = 0x0040
TEST_HEADER = 0x0080


@dataclass(frozen=True, slots=True)
class Transmission:
    """
    A packet to send now, and what the association remembers about it.

    @ivar packet: the packet (without MAC: the shell signs it when the
        association has a key).
    @ivar t1: when it was sent, as the local clock read it.
    """

    packet: NTPPacket
    t1: NTPTimestamp


@dataclass(frozen=True, slots=True)
class ReceiveResult:
    """
    What an arriving packet did to the association.

    @ivar accepted: whether it produced a sample.
    @ivar flash: the sanity-check bits it failed (0 when accepted).
    @ivar update: the peer variables the clock filter released, or C{None}.
    @ivar kissCode: the kiss code of a Kiss-o'-Death that passed the
        origin check, or C{None}.
    @ivar demobilize: whether the association should go away (a DENY or
        RSTR kiss on an ephemeral or preemptable association).
    """

    accepted: bool
    flash: int = 0
    update: FilterOutput | None = None
    kissCode: str | None = None
    demobilize: bool = False


class PeerProcess(Protocol):
    """
    The on-wire protocol of one association mode.
    """

    @property
    def lastT1(self) -> NTPTimestamp | None:
        """When the outstanding request was sent, or C{None}."""
        ...

    def request(self, source: Any, now: float, system: SystemVariables) -> Transmission:
        """The packet to send at this poll of C{source}."""
        ...

    def sentAt(self, t1: NTPTimestamp) -> None:
        """The exact send time of the outstanding request."""
        ...

    def receive(
        self,
        source: Any,
        packet: NTPPacket,
        t4: NTPTimestamp,
        now: float,
        precisionLog2: int,
    ) -> ReceiveResult:
        """Check a packet that matched C{source}; feed its sample."""
        ...

    def clear(self) -> None:
        """Forget the on-wire state (after a step, RFC 5905 clear())."""
        ...


class ClientProcess:
    """
    The client's peer process (association mode 3): requests with a random
    transmit-timestamp nonce, as chrony sends (the real send time is kept
    apart as T1), and server replies checked against it.

    @ivar xmt: the nonce of the outstanding request, or C{None}.
    @ivar t1: when the outstanding request was sent.
    @ivar org: the server transmit timestamp of the last reply (the
        duplicate test).
    """

    __slots__ = ("xmt", "t1", "org")

    def __init__(self) -> None:
        self.xmt: NTPTimestamp | None = None
        self.t1: NTPTimestamp | None = None
        self.org: NTPTimestamp = ZERO

    @property
    def lastT1(self) -> NTPTimestamp | None:
        return self.t1

    def request(self, source: Any, now: float, system: SystemVariables) -> Transmission:
        """
        Build the request (RFC 5905 Figure 30). Its transmit timestamp is a
        random 64-bit nonce: the server echoes it as the origin, which
        defeats off-path spoofing better than a clock reading would.
        """
        xmt = NTPTimestamp(source.rng.getrandbits(64) or 1)
        t1 = NTPTimestamp.fromUnixNanoseconds(int(now * 1e9))
        self.xmt = xmt
        self.t1 = t1
        packet = NTPPacket(
            leap=system.leap,
            version=source.settings.version,
            mode=MODE_CLIENT,
            stratum=system.packetStratum(),
            poll=source.hpoll,
            precision=system.precision,
            rootDelay=encodeShort(system.rootDelay),
            rootDispersion=encodeShort(system.rootDispersion),
            refid=system.refid,
            reftime=system.reftime,
            xmt=xmt,
        )
        return Transmission(packet, t1)

    def sentAt(self, t1: NTPTimestamp) -> None:
        if self.xmt is not None:
            self.t1 = t1

    def receive(
        self,
        source: Any,
        packet: NTPPacket,
        t4: NTPTimestamp,
        now: float,
        precisionLog2: int,
    ) -> ReceiveResult:
        """
        Check a server reply and, when it passes, hand its sample to the
        source.

        @see: RFC 5905 sections 8 and 9.2, Appendix A.5.1.1.
        """
        # Bogus (test 2): a reply must echo the nonce of our outstanding
        # request; a replay or an off-path forgery does not.
        if self.xmt is None or packet.org != self.xmt:
            if packet.xmt == self.org and not packet.xmt.isZero:
                return source.fail(TEST_DUPLICATE)  # type: ignore[no-any-return]
            return source.fail(TEST_BOGUS)  # type: ignore[no-any-return]
        # Duplicate (test 1): the same server transmit timestamp twice.
        if packet.xmt == self.org:
            return source.fail(TEST_DUPLICATE)  # type: ignore[no-any-return]
        t1 = self.t1
        assert t1 is not None
        self.xmt = None
        self.org = packet.xmt
        if packet.isKissOfDeath:
            return source.kiss(packet, now)  # type: ignore[no-any-return]
        # Invalid (test 3): the server has not stored our timestamps.
        if packet.xmt.isZero or packet.rec.isZero:
            return source.fail(TEST_INVALID)  # type: ignore[no-any-return]
        source.takeHeader(packet)
        # Server unsynchronized (test 6) and stratum (test 7).
        if source.leap == LEAP_NOTINSYNC:
            return source.fail(TEST_UNSYNC)  # type: ignore[no-any-return]
        if source.stratum >= MAX_STRATUM:
            return source.fail(TEST_STRATUM)  # type: ignore[no-any-return]
        # Header values (test 8): root distance beyond reason, or a
        # reference time after the transmit time.
        if source.rootDelay / 2 + source.rootDispersion >= MAXDISP or (
            not packet.reftime.isZero and (packet.xmt - packet.reftime) < 0
        ):
            return source.fail(TEST_HEADER)  # type: ignore[no-any-return]
        source.markReply()
        # The on-wire calculation (RFC 5905 section 8). Differences of NTP
        # timestamps are exact and era-safe.
        t2, t3 = packet.rec, packet.xmt
        offset = ((t2 - t1) + (t3 - t4)) / 2
        precision = 2.0**precisionLog2
        delay = max((t4 - t1) - (t3 - t2), precision)
        # Invalid delay (test 4 of the seeds).
        if delay > MAXDISP:
            return source.fail(TEST_INVALID)  # type: ignore[no-any-return]
        disp = 2.0**packet.precision + precision + PHI * (t4 - t1)
        return source.acceptSample(Sample(offset, delay, disp, now), now)  # type: ignore[no-any-return]

    def clear(self) -> None:
        self.xmt = self.t1 = None
        self.org = ZERO


PROCESSES: dict[int, type[ClientProcess]] = {ASSOC_CLIENT: ClientProcess}
"""The peer process of each association mode (the rows of RFC 5905's
dispatch table that PROC packets; the others join with their modes)."""


def peerProcessFor(hmode: int, refclock: bool = False) -> PeerProcess | None:
    """
    A fresh peer process for an association of mode C{hmode}.

    @param refclock: whether the association is a reference clock's, which
        has no peer process (its driver delivers samples).
    @raise ValueError: for an association mode without a peer process.
    """
    if refclock:
        return None
    factory = PROCESSES.get(hmode)
    if factory is None:
        raise ValueError(f"no peer process for association mode {hmode}")
    return factory()
