# -*- test-case-name: tests.core.test_association,tests.core.test_symmetric -*-
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
from typing import Any, Callable, Protocol

from ntpservice.core.constants import MAXDISP
from ntpservice.core.dispatch import ASSOC_ACTIVE, ASSOC_BCLIENT, ASSOC_CLIENT, ASSOC_PASSIVE
from ntpservice.core.filter import FilterOutput, Sample
from ntpservice.core.packet import (
    LEAP_NOTINSYNC,
    MAX_STRATUM,
    MODE_ACTIVE,
    MODE_BROADCAST,
    MODE_CLIENT,
    MODE_PASSIVE,
    MODE_SERVER,
    NTPPacket,
)
from ntpservice.core.system import PHI, SystemVariables
from ntpservice.core.timestamps import ZERO, NTPTimestamp, encodeShort

# ntpd's peer status bits ("flash") that the peer process sets.
TEST_DUPLICATE = 0x0001
TEST_BOGUS = 0x0002
TEST_INVALID = 0x0004
TEST_UNSYNC = 0x0020
TEST_STRATUM = 0x0040
TEST_HEADER = 0x0080
TEST_NEGATIVE_DELAY = 0x2000
"""
Not one of ntpd's bits (it clamps a negative delay, as RFC 5905 does): a
sample whose round-trip delay is negative beyond what the two clocks'
precisions explain (see L{onWireSample}).
"""


@dataclass(frozen=True, slots=True)
class Transmission:
    """
    A packet to send now, and what the association remembers about it.

    @ivar packet: the packet (without MAC: the shell signs it when the
        association has a key).
    @ivar t1: when it was sent, as the local clock read it.
    @ivar stampTransmit: whether the shell must write the exact send time
        into the packet's transmit timestamp (before the MAC), as the
        last step before sending: symmetric peers compute their offset
        from it, so it cannot be a nonce.
    """

    packet: NTPPacket
    t1: NTPTimestamp
    stampTransmit: bool = False


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

    def request(
        self, source: Any, now: float, system: SystemVariables
    ) -> Transmission | None:
        """The packet to send at this poll of C{source}, or C{None}."""
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


def takeHeader(source: Any, packet: NTPPacket) -> ReceiveResult | None:
    """
    Take a packet's header into its source and run the header's sanity
    checks (RFC 5905 section 8, tests 6-8), for every peer process: a
    packet that passes them is a reply that counts in the reach register.

    @return: the failed L{ReceiveResult}, or C{None} when the header passed
        (the reply is then marked).
    """
    source.takeHeader(packet)
    # Server unsynchronized (test 6) and stratum (test 7).
    if source.leap == LEAP_NOTINSYNC:
        return source.fail(TEST_UNSYNC)  # type: ignore[no-any-return]
    if source.stratum >= MAX_STRATUM:
        return source.fail(TEST_STRATUM)  # type: ignore[no-any-return]
    # Header values (test 8): root distance beyond reason, or a reference
    # time after the transmit time.
    if source.rootDelay / 2 + source.rootDispersion >= MAXDISP or (
        not packet.reftime.isZero and (packet.xmt - packet.reftime) < 0
    ):
        return source.fail(TEST_HEADER)  # type: ignore[no-any-return]
    source.markReply()
    return None


def onWireSample(
    source: Any,
    packet: NTPPacket,
    t1: NTPTimestamp,
    t4: NTPTimestamp,
    now: float,
    precisionLog2: int,
) -> ReceiveResult:
    """
    The on-wire calculation (RFC 5905 section 8) of an exchange whose
    header passed L{takeHeader}, into the source's clock filter; a delay
    beyond L{MAXDISP} is invalid (test 4 of the seeds). Differences of NTP
    timestamps are exact and era-safe.

    A negative delay is rejected, not clamped (RFC 5905 clamps it to the
    precision): the server claims to have held the packet longer than the
    whole round trip took, which no honest server does, while a malicious
    server or a forged reply that moves T2 back and T3 forward by the same
    amount keeps its offset and makes its delay, and with it its root
    distance, as small as it likes, so that its samples win the clock
    filter and the selection. The tolerance is the sum of the two
    precisions: T4 - T1 is read on our clock and T3 - T2 on the server's,
    each difference of two readings off by up to one tick of its clock, so
    a true delay near zero computes as low as -(our tick + its tick) and
    no lower. A negative delay within it is clamped to our precision, as
    before.
    """
    t2, t3 = packet.rec, packet.xmt
    offset = ((t2 - t1) + (t3 - t4)) / 2
    precision = 2.0**precisionLog2
    delay = (t4 - t1) - (t3 - t2)
    if delay < -(precision + 2.0**packet.precision):
        return source.fail(TEST_NEGATIVE_DELAY)  # type: ignore[no-any-return]
    delay = max(delay, precision)
    if delay > MAXDISP:
        return source.fail(TEST_INVALID)  # type: ignore[no-any-return]
    disp = 2.0**packet.precision + precision + PHI * (t4 - t1)
    return source.acceptSample(Sample(offset, delay, disp, now), now)  # type: ignore[no-any-return]


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
        packet = systemPacket(system, MODE_CLIENT, source.settings.version,
                              source.hpoll, xmt)
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
        # Duplicate (test 1): the same server transmit timestamp twice (a
        # zero one is no timestamp: two kisses that carry none are not
        # duplicates of each other).
        if packet.xmt == self.org and not packet.xmt.isZero:
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
        failed = takeHeader(source, packet)
        if failed is not None:
            return failed
        return onWireSample(source, packet, t1, t4, now, precisionLog2)

    def clear(self) -> None:
        self.xmt = self.t1 = None
        self.org = ZERO


# -- symmetric modes (issue 11) ------------------------------------------


class SymmetricProcess:
    """
    The peer process of symmetric active (association mode 1) and
    symmetric passive (mode 2) associations: both sides send on their own
    poll timers, and each packet carries the other side's last transmit
    timestamp (C{org}) and the time it arrived (C{rec}), so that every
    packet that answers our latest one completes an exchange.

    Unlike a client's, our transmit timestamp is the real send time (the
    peer computes its offset from it): the shell writes it into the packet
    as the last step before sending (L{Transmission.stampTransmit}) and
    tells us through L{sentAt}.

    @ivar hmode: 1 (active) or 2 (passive): the mode of the packets sent.
    @ivar xmt: our outstanding transmit timestamp (T1 of the next
        exchange), or C{None} once a packet answered it.
    @ivar t1: when the outstanding packet was sent (equal to C{xmt}).
    @ivar org: the peer's transmit timestamp of its last packet (the
        duplicate test, and the C{org} of our next packet).
    @ivar rec: when that packet arrived, by our clock (the C{rec} of our
        next packet).
    @see: RFC 5905 sections 8 and 9.2, Appendix A.5.1.1 (receive, the
        symmetric branch), and ntpd's C{receive()}.
    """

    __slots__ = ("hmode", "xmt", "t1", "org", "rec")

    def __init__(self, hmode: int = ASSOC_ACTIVE) -> None:
        self.hmode = hmode
        self.xmt: NTPTimestamp | None = None
        self.t1: NTPTimestamp | None = None
        self.org: NTPTimestamp = ZERO
        self.rec: NTPTimestamp = ZERO

    @property
    def lastT1(self) -> NTPTimestamp | None:
        return self.t1

    def request(self, source: Any, now: float, system: SystemVariables) -> Transmission:
        """
        The packet of this poll: our system variables, the peer's last
        transmit timestamp as C{org} and its arrival time as C{rec}; the
        transmit timestamp is the poll time until the shell stamps the
        exact one.
        """
        t1 = NTPTimestamp.fromUnixNanoseconds(int(now * 1e9))
        self.xmt = self.t1 = t1
        mode = MODE_ACTIVE if self.hmode == ASSOC_ACTIVE else MODE_PASSIVE
        packet = systemPacket(system, mode, source.settings.version, source.hpoll, t1,
                              org=self.org, rec=self.rec)
        return Transmission(packet, t1, stampTransmit=True)

    def sentAt(self, t1: NTPTimestamp) -> None:
        if self.xmt is not None:
            self.xmt = self.t1 = t1

    def receive(
        self,
        source: Any,
        packet: NTPPacket,
        t4: NTPTimestamp,
        now: float,
        precisionLog2: int,
    ) -> ReceiveResult:
        """
        Check a symmetric packet and, when it answers our latest one, hand
        its sample to the source.

        Every packet that is not a duplicate updates C{org} and C{rec},
        even when it fails the origin check: symmetric packets cross (both
        sides poll on their own timers), and the next packet we send must
        answer the peer's latest one.

        @see: RFC 5905 Appendix A.5.1.1.
        """
        # Duplicate (test 1): its transmit timestamp is the one we hold.
        if not packet.xmt.isZero and packet.xmt == self.org:
            return source.fail(TEST_DUPLICATE)  # type: ignore[no-any-return]
        if packet.xmt.isZero:
            return source.fail(TEST_INVALID)  # type: ignore[no-any-return]
        t1 = self.t1
        answers = self.xmt is not None and packet.org == self.xmt
        self.org = packet.xmt
        self.rec = t4
        if not answers:
            if packet.org.isZero:
                # The peer has not heard from us yet (test 3).
                return source.fail(TEST_INVALID)  # type: ignore[no-any-return]
            # Bogus (test 2): it does not answer our latest packet (they
            # crossed, or it is a replay or an off-path forgery).
            return source.fail(TEST_BOGUS)  # type: ignore[no-any-return]
        # Each of our packets is answered once.
        self.xmt = None
        if packet.isKissOfDeath:
            return source.kiss(packet, now)  # type: ignore[no-any-return]
        if packet.rec.isZero:
            return source.fail(TEST_INVALID)  # type: ignore[no-any-return]
        failed = takeHeader(source, packet)
        if failed is not None:
            return failed
        assert t1 is not None
        return onWireSample(source, packet, t1, t4, now, precisionLog2)

    def clear(self) -> None:
        self.xmt = self.t1 = None
        self.org = self.rec = ZERO


def _passiveProcess() -> SymmetricProcess:
    return SymmetricProcess(ASSOC_PASSIVE)


# -- the table ------------------------------------------------------------


PROCESSES: dict[int, Callable[[], PeerProcess]] = {
    ASSOC_CLIENT: ClientProcess,
    ASSOC_ACTIVE: SymmetricProcess,
    ASSOC_PASSIVE: _passiveProcess,
}
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


# -- Broadcast and multicast (issue 12) -----------------------------------

VOLLEY_REPLIES = 3
"""
Replies to the calibration volley after which a broadcast client has
measured its delay and only listens (ntpd exchanges a few client/server
packets at mobilization to learn the round trip).
"""

VOLLEY_REQUESTS = 8
"""At most this many calibration requests (one C{iburst} burst)."""

DEFAULT_BROADCAST_DELAY = 0.004
"""
Seconds: the round-trip delay a broadcast client assumes when neither the
volley nor C{broadcastdelay} measured one (ntpd's default, 4 ms).
"""


class BroadcastClientProcess:
    """
    The peer process of a broadcast/multicast client association
    (association mode 6, ntpd's MODE_BCLIENT), for its whole life.

    At mobilization it calibrates: a short volley of client requests (the
    association is mobilized with C{iburst}), whose replies (mode 4) are
    ordinary client samples and measure the round-trip delay; or, with
    C{broadcastdelay}, the configured delay at once. Then it only listens:
    it sends nothing more, and each server broadcast (mode 5) is a sample
    whose offset is C{T3 + delay/2 - T4}. The association's mode never
    changes: it is a broadcast client until it is demobilized (seed 002's
    association that turned into a unicast client cannot happen).

    @ivar client: the client process of the calibration volley.
    @ivar listening: whether calibration is over.
    @ivar delay: the calibrated round-trip delay, seconds, or C{None}.
    @ivar org: the transmit timestamp of the last broadcast (the duplicate
        and replay tests).
    @ivar requests: calibration requests sent.
    @ivar replies: calibration replies accepted.
    """

    __slots__ = ("client", "listening", "delay", "org", "requests", "replies", "_delays")

    def __init__(self) -> None:
        self.client = ClientProcess()
        self.listening = False
        self.delay: float | None = None
        self.org: NTPTimestamp = ZERO
        self.requests = 0
        self.replies = 0
        self._delays: list[float] = []

    @property
    def acceptedModes(self) -> frozenset[int]:
        """
        Packet modes this process takes beyond the dispatch table's PROC
        (mode 5 for association mode 6): the server's replies (mode 4)
        while it calibrates.
        """
        return frozenset() if self.listening else frozenset({MODE_SERVER})

    def calibrated(self, delay: float) -> None:
        """
        Use C{delay} (seconds: C{broadcastdelay}) and only listen from now
        on: no volley.
        """
        self.delay = delay
        self.listening = True

    @property
    def lastT1(self) -> NTPTimestamp | None:
        return None if self.listening else self.client.lastT1

    def request(
        self, source: Any, now: float, system: SystemVariables
    ) -> Transmission | None:
        """
        A calibration request while calibrating; nothing once listening
        (and any burst left is over).
        """
        if not self.listening and self.requests >= VOLLEY_REQUESTS:
            self._listen(source)
        if self.listening:
            source.endBurst()
            return None
        self.requests += 1
        return self.client.request(source, now, system)

    def sentAt(self, t1: NTPTimestamp) -> None:
        if not self.listening:
            self.client.sentAt(t1)

    def _listen(self, source: Any) -> None:
        self.listening = True
        if self.delay is None:
            self.delay = min(self._delays) if self._delays else DEFAULT_BROADCAST_DELAY
        source.endBurst()

    def receive(
        self,
        source: Any,
        packet: NTPPacket,
        t4: NTPTimestamp,
        now: float,
        precisionLog2: int,
    ) -> ReceiveResult:
        """
        A server reply of the volley, or a broadcast.

        @see: RFC 5905 section 9.2 (broadcast mode); ntpd's C{receive()}.
        """
        if packet.mode == MODE_SERVER:
            if self.listening:
                return source.fail(TEST_BOGUS)  # type: ignore[no-any-return]
            t1 = self.client.t1
            delay = DEFAULT_BROADCAST_DELAY
            if t1 is not None:
                delay = max((t4 - t1) - (packet.xmt - packet.rec), 2.0**precisionLog2)
            result: ReceiveResult = self.client.receive(
                source, packet, t4, now, precisionLog2
            )
            if result.accepted:
                self.replies += 1
                self._delays.append(delay)
                if self.replies >= VOLLEY_REPLIES:
                    self._listen(source)
            return result
        if packet.mode != MODE_BROADCAST:
            return source.fail(TEST_BOGUS)  # type: ignore[no-any-return]
        # Duplicate (test 1) and replay (test 2): a broadcast's transmit
        # timestamp only goes forward (the fix of ntpd's CVE-2015-7973).
        if packet.xmt == self.org:
            return source.fail(TEST_DUPLICATE)  # type: ignore[no-any-return]
        if packet.xmt.isZero or (not self.org.isZero and packet.xmt - self.org < 0):
            return source.fail(TEST_BOGUS)  # type: ignore[no-any-return]
        self.org = packet.xmt
        if not self.listening:
            # Not calibrated yet: the header is kept, the sample is not.
            source.takeHeader(packet)
            return source.fail(TEST_INVALID)  # type: ignore[no-any-return]
        failed = takeHeader(source, packet)
        if failed is not None:
            return failed
        delay = self.delay if self.delay is not None else DEFAULT_BROADCAST_DELAY
        precision = 2.0**precisionLog2
        offset = (packet.xmt - t4) + delay / 2
        disp = 2.0**packet.precision + precision
        return source.acceptSample(  # type: ignore[no-any-return]
            Sample(offset, max(delay, precision), disp, now), now
        )

    def clear(self) -> None:
        # After a step the offsets are void, not the measured delay.
        self.client.clear()
        self.org = ZERO


def broadcastPacket(
    system: SystemVariables, pollLog2: int, version: int, nowNs: int
) -> NTPPacket:
    """
    The broadcast (mode 5) packet a broadcast/multicast server sends at
    C{nowNs}: the system variables, no origin or receive timestamp; the
    shell stamps the transmit timestamp as it sends.

    @param pollLog2: the broadcast interval, log2 seconds (the poll field:
        clients listen at that interval).
    @param version: the NTP version (the C{version} option).
    @see: RFC 5905 section 9.2 (broadcast server).
    """
    return systemPacket(system, MODE_BROADCAST, version, pollLog2,
                        NTPTimestamp.fromUnixNanoseconds(nowNs),
                        rootDispersion=system.rootDispersionAt(nowNs))


def systemPacket(
    system: SystemVariables,
    mode: int,
    version: int,
    poll: int,
    xmt: NTPTimestamp,
    org: NTPTimestamp = ZERO,
    rec: NTPTimestamp = ZERO,
    rootDispersion: float | None = None,
) -> NTPPacket:
    """
    A packet we originate (a client request, a symmetric or broadcast
    packet): its header carries our system variables (RFC 5905 section 9.2).

    @param rootDispersion: seconds, when it is to be grown to the moment of
        sending; the system's as last updated otherwise.
    """
    return NTPPacket(
        leap=system.leap,
        version=version,
        mode=mode,
        stratum=system.packetStratum(),
        poll=poll,
        precision=system.precision,
        rootDelay=encodeShort(system.rootDelay),
        rootDispersion=encodeShort(
            system.rootDispersion if rootDispersion is None else rootDispersion
        ),
        refid=system.refid,
        reftime=system.reftime,
        org=org,
        rec=rec,
        xmt=xmt,
    )


def acceptsMode(process: Any, packetMode: int) -> bool:
    """
    Whether an association's peer process takes packets of C{packetMode}
    beyond what the dispatch table says (a broadcast client's calibration
    replies).
    """
    return packetMode in getattr(process, "acceptedModes", ())


PROCESSES[ASSOC_BCLIENT] = BroadcastClientProcess
