# -*- test-case-name: tests.core.test_association -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
One association: the peer process (what to do with an arriving packet) and
the poll process (when to send the next one) of RFC 5905 sections 9 and 13,
for the modes that poll a remote server (client mode now; symmetric modes
reuse it).

Theory of operation. The association never sends or sleeps: L{poll} builds
the packet to send at C{now} and L{nextPoll} says when to call it again;
L{receive} checks an arriving packet and returns what it learnt. Every time
is an argument (float seconds of the local clock, and the packet's
L{NTPTimestamp}s); randomness comes from an injected L{random.Random}.

The sanity checks follow the seeds (ntpd's "eleven sanity checks") and RFC
5905 Appendix A.5.1.1; their bits, in C{flash}, are ntpd's so that C{ntpq}
shows them as ntpd users know them.

Poll management follows the seeds (003, 004): the poll exponent stays
between C{minpoll} and C{maxpoll}, follows the system poll exponent chosen
by the discipline (rising when the clock is stable, falling under jitter),
backs off while the server is unreachable, and bursts: C{iburst} sends
L{BURST_COUNT} packets 2 s apart when the server is unreachable, C{burst}
sends at each poll a burst whose size keeps the average spacing at least
16 s; after the first packet of a burst the next one waits for a reply (2 s
after one, 16 s when none came).

@see: RFC 5905 sections 8, 9, 13 and Appendix A.5.1, A.5.7.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ntpservice.core.authenticator import NO_AUTHENTICATION, Authenticator
from ntpservice.core.constants import MAXDISP
from ntpservice.core.dispatch import ASSOC_CLIENT
from ntpservice.core.filter import ClockFilter, FilterOutput, Sample
from ntpservice.core.packet import (
    LEAP_NOTINSYNC,
    MAX_STRATUM,
    NTPPacket,
)
from ntpservice.core.peer import (
    TEST_BOGUS,
    TEST_DUPLICATE,
    TEST_HEADER,
    TEST_INVALID,
    TEST_NEGATIVE_DELAY,
    TEST_STRATUM,
    TEST_UNSYNC,
    PeerProcess,
    ReceiveResult,
    Transmission,
    peerProcessFor,
)
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import ZERO, NTPTimestamp

BURST_COUNT = 8
"""Packets in a burst (RFC 5905 BCOUNT; seed 003: eight packets)."""

BURST_INTERVAL = 2.0
"""Seconds between the packets of a burst after a reply (seeds 003, 004)."""

BURST_NOREPLY_INTERVAL = 16.0
"""
Seconds to wait for the next packet of a burst when no valid reply to the
previous one came (seed 004: time for a modem or ISDN call).
"""

BURST_SILENCE_INTERVAL = 4.0
"""
Seconds to wait for the reply to a packet of a burst whose earlier packets
were answered: a server that answered within milliseconds and then says
nothing for this long has probably gone away, and the burst ends (see
L{Association.poll}).
"""

MIN_BURST_SPACING = 16.0
"""Seconds: C{burst} keeps the average spacing of its packets at least this."""

UNREACH = 10
"""
Polls without a reply after which the poll interval backs off, and an
ephemeral or preemptable association is demobilized (ntpd's NTP_UNREACH;
RFC 5905's UNREACH of 24 counts the same thing with a larger limit).
"""

ANSWER_WINDOW = 3
"""
Polls, the outstanding one included, of which a source must have answered
one to stay selectable while another source is answering (see
L{Association.answering}): a dead system peer is replaced within three poll
intervals. ntpd shifts a dummy sample into the clock filter at the same
point (RFC 5905 A.5.7.3).
"""

SELECT_WINDOW = 5
"""
Polls, the outstanding one included, of which a source must have answered
one to stay selectable at all (see L{Association.selectable}): a dead only
source is dropped within five poll intervals, while a lossy link (half the
exchanges lost) rarely loses its only source (3 % of polls).
"""

# ntpd's peer status bits ("flash"), shown by ntpq.
TEST_ACCESS = 0x0008
TEST_AUTH = 0x0010
TEST_AUTOKEY = 0x0100
TEST_CRYPTO = 0x0200
TEST_DISTANCE = 0x0400
TEST_LOOP = 0x0800
TEST_UNREACH = 0x1000

FLASH_NAMES = {
    TEST_DUPLICATE: "duplicate",
    TEST_BOGUS: "bogus",
    TEST_INVALID: "invalid",
    TEST_ACCESS: "access",
    TEST_AUTH: "auth",
    TEST_UNSYNC: "unsync",
    TEST_STRATUM: "stratum",
    TEST_HEADER: "header",
    TEST_AUTOKEY: "autokey",
    TEST_CRYPTO: "crypto",
    TEST_DISTANCE: "distance",
    TEST_LOOP: "loop",
    TEST_UNREACH: "unreach",
    TEST_NEGATIVE_DELAY: "negativedelay",
}

LIFECYCLES = ("persistent", "preemptable", "ephemeral")


class RandomSource(Protocol):
    """
    What the core needs of a random number generator (a L{random.Random}
    in the shell, a seeded one in tests and the simulator): the core never
    imports L{random} itself.
    """

    def random(self) -> float: ...

    def getrandbits(self, k: int) -> int: ...


@dataclass(frozen=True, slots=True)
class RefClockSource:
    """
    What makes an association a reference clock's: its samples come from
    a driver through L{ntpservice.core.engine.Engine.refclockSample}, not
    in packets, and its poll process asks the driver for one instead of
    sending.

    @ivar driverType: ntpd's driver type (the C{t} of C{127.127.t.u}).
    @ivar unit: the C{u}.
    @ivar stratum: the driver stratum (0-15): the association's stratum.
    @ivar refid: the reference ID the driver names itself by (4 bytes).
    @ivar precisionLog2: the driver's precision, log2 s.
    @ivar lastResort: the driver reads the system clock itself (ntpd's
        LOCAL): selected only when nothing else is, no witness against
        other sources, and never a correction of the clock.
    @ivar burst: polls at start (and after the association is cleared)
        before the regular ones, L{burstInterval} apart, as C{iburst}
        does for a server: enough samples for the clock filter to make
        the source selectable within seconds. 0: none.
    @ivar burstInterval: seconds between the polls of that burst.
    """

    driverType: int
    unit: int = 0
    stratum: int = 0
    refid: bytes = b"\0\0\0\0"
    precisionLog2: int = -20
    lastResort: bool = False
    burst: int = 0
    burstInterval: float = 2.0

    @property
    def address(self) -> str:
        """The pseudo-address C{127.127.t.u}."""
        return f"127.127.{self.driverType}.{self.unit}"


@dataclass(frozen=True, slots=True)
class AssociationSettings:
    """
    What a configuration line (or a mobilizing packet) says about an
    association.

    @ivar address: the remote IP address (resolved).
    @ivar port: the remote UDP port.
    @ivar hmode: the association mode (RFC 5905: 3 client, 1 symmetric
        active, ...).
    @ivar version: the NTP version sent.
    @ivar minPollLog2: log2 s.
    @ivar maxPollLog2: log2 s.
    @ivar iburst: burst while unreachable.
    @ivar burst: burst at each poll while reachable.
    @ivar prefer: preferred by the mitigation rules.
    @ivar noselect: monitored, never selected.
    @ivar truechimer: never a falseticker (the C{true} option).
    @ivar lifecycle: C{persistent}, C{preemptable} or C{ephemeral}.
    @ivar authenticator: how its packets are authenticated (an
        L{ntpservice.core.authenticator.Authenticator}); C{key} is its key
        number, or C{None}.
    @ivar name: the host name it came from, for display, or C{None}.
    @ivar origin: who mobilized it: the directive (C{server}, C{pool}, ...).
    @ivar localAddress: the local address to send from, or C{None} (the
        kernel chooses).
    @ivar refclock: a reference clock's association: its driver's
        L{RefClockSource}; C{None} for a network source.
    """

    address: str
    port: int = 123
    hmode: int = ASSOC_CLIENT
    version: int = 4
    minPollLog2: int = 6
    maxPollLog2: int = 10
    iburst: bool = False
    burst: bool = False
    prefer: bool = False
    noselect: bool = False
    truechimer: bool = False
    lifecycle: str = "persistent"
    authenticator: Authenticator = NO_AUTHENTICATION
    name: str | None = None
    origin: str = "server"
    localAddress: str | None = None
    refclock: RefClockSource | None = None

    @property
    def key(self) -> int | None:
        """The symmetric key number, or C{None}."""
        return self.authenticator.keyID

    def __post_init__(self) -> None:
        if self.lifecycle not in LIFECYCLES:
            raise ValueError(f"lifecycle must be one of {LIFECYCLES}")
        if not 0 < self.minPollLog2 <= self.maxPollLog2:
            raise ValueError("need 0 < minpoll <= maxpoll")


@dataclass(slots=True)
class Association:
    """
    The state of one association (RFC 5905 peer and poll variables).

    @ivar associd: the association ID (1-65535) shown by ntpq.
    @ivar settings: what configured it.
    @ivar leap: peer variables from the last valid packet.
    @ivar hpoll: the host poll exponent, log2 s.
    @ivar ppoll: the peer's poll exponent from its packets.
    @ivar reach: the 8-bit reach register.
    @ivar unreach: polls since the reach register emptied (capped at
        L{UNREACH}): the back-off counter.
    @ivar silent: requests (polls and burst packets) sent since the last
        reply: an ephemeral or preemptable association is demobilized at
        L{UNREACH} (ntpd's C{unreach} rule).
    @ivar burst: packets left in the current burst.
    @ivar filter: the clock filter.
    @ivar flash: the sanity-check bits of the last packet.
    @ivar stopped: polling stopped by a DENY or RSTR kiss.
    @ivar lastSent: local time of the last transmission.
    @ivar nextPoll: local time of the next one.
    @ivar process: the peer process of its association mode (the on-wire
        protocol: what to send, what to accept), or C{None} for a reference
        clock, whose samples come from its driver.
    @ivar localRefid: the reference ID of our own address as the peer
        sees it (where its last packet was sent to), or C{None}: the loop
        test and orphan mode's address metric (issue 11).
    """

    associd: int
    settings: AssociationSettings
    filter: ClockFilter
    rng: RandomSource
    now: float
    leap: int = LEAP_NOTINSYNC
    stratum: int = MAX_STRATUM
    ppoll: int = 0
    precision: int = 0
    rootDelay: float = 0.0
    rootDispersion: float = 0.0
    refid: bytes = b"INIT"
    reftime: NTPTimestamp = ZERO
    hpoll: int = 0
    reach: int = 0
    unreach: int = 0
    silent: int = 0
    burst: int = 0
    flash: int = 0
    stopped: bool = False
    kissCode: str | None = None
    lastSent: float | None = None
    nextPoll: float = 0.0
    received: int = 0
    sent: int = 0
    process: PeerProcess | None = None
    localRefid: bytes | None = None
    _repliedThisBurst: bool = False
    _burstAnswered: bool = False
    _burstIsIburst: bool = False
    _samples: int = 0

    @classmethod
    def mobilize(
        cls,
        associd: int,
        settings: AssociationSettings,
        now: float,
        precisionLog2: int,
        rng: RandomSource,
    ) -> Association:
        """
        A fresh association whose first poll is due within a second or two
        (randomized so that several associations do not poll together).
        """
        association = cls(
            associd=associd,
            settings=settings,
            filter=ClockFilter(2.0**precisionLog2),
            rng=rng,
            now=now,
            hpoll=settings.minPollLog2,
            process=peerProcessFor(settings.hmode, settings.refclock is not None),
        )
        association.nextPoll = now + 0.1 + 0.5 * rng.random()
        association._startRefClockBurst()
        return association

    # -- derived views -------------------------------------------------

    @property
    def address(self) -> str:
        return self.settings.address

    @property
    def hmode(self) -> int:
        return self.settings.hmode

    @property
    def reachable(self) -> bool:
        """Whether any of the last eight polls was answered."""
        return self.reach != 0

    def heardWithin(self, polls: int) -> bool:
        """
        Whether any of the last C{polls} polls (the outstanding one
        included) was answered.
        """
        return self.reach & ((1 << polls) - 1) != 0

    @property
    def answering(self) -> bool:
        """
        Whether it answered any of its last L{ANSWER_WINDOW} polls: a source
        that is not answering gives way to one that is.
        """
        return self.heardWithin(ANSWER_WINDOW)

    @property
    def selectable(self) -> bool:
        """
        Whether it answered any of its last L{SELECT_WINDOW} polls: a
        source that did not is unfit, even with no other source.
        """
        return self.heardWithin(SELECT_WINDOW)

    @property
    def offset(self) -> float:
        return self.filter.offset

    @property
    def delay(self) -> float:
        return self.filter.delay

    @property
    def jitter(self) -> float:
        return self.filter.jitter

    def dispersionAt(self, now: float) -> float:
        """The peer dispersion at C{now}, seconds."""
        return self.filter.dispersionAt(now)

    @property
    def inBurst(self) -> bool:
        return self.burst > 0

    @property
    def updatesSystem(self) -> bool:
        """
        Whether a released sample may update the system clock now: not in
        the middle of a C{burst} (seed 003: the system clock is updated only
        after the burst); an C{iburst} burst updates as it goes, so that the
        first synchronization takes seconds.
        """
        return self.burst == 0 or self._burstIsIburst

    # -- the poll process ----------------------------------------------

    def poll(self, now: float, system: SystemVariables) -> Transmission | None:
        """
        The poll routine: run when C{now >= nextPoll}. Shifts the reach
        register (outside bursts), starts bursts, backs off while
        unreachable, and returns the packet to send (or C{None} when
        polling has stopped).

        @param system: the system variables the request carries.
        @see: RFC 5905 section 13.2 and Appendix A.5.7.
        """
        self.now = now
        settings = self.settings
        hpoll = self.hpoll
        if self.stopped:
            self.nextPoll = now + 2.0**settings.maxPollLog2
            return None
        if self.burst > 0 and self._burstAnswered and not self._repliedThisBurst:
            # The server answered earlier packets of this burst but not the
            # last one: it may have gone away. The burst ends and this poll
            # counts as a regular one, so that the reach register sees the
            # silence (a burst waiting 16 s per unanswered packet would hide
            # it for minutes).
            self.burst = 0
        if self.burst == 0:
            if not self.reach & 1:
                self.silent += 1
            self.reach = (self.reach << 1) & 0xFF
            if self.reach == 0:
                # Unreachable: iburst on the first poll of the outage, then
                # back off once UNREACH polls went unanswered.
                if settings.iburst and self.unreach == 0:
                    self._startBurst(BURST_COUNT, iburst=True)
                if self.unreach < UNREACH:
                    self.unreach += 1
                else:
                    hpoll += 1
                    self.flash |= TEST_UNREACH
            else:
                self.unreach = 0
                if not self.reach & 0x07:
                    # Three polls unanswered: age the filter with a dummy
                    # sample of maximum dispersion.
                    self.filter.update(
                        Sample(0.0, 0.0, MAXDISP, now), now, 2.0**hpoll
                    )
                hpoll = system.poll
                if settings.burst:
                    self._startBurst(self._burstSize(hpoll), iburst=False)
        else:
            if not self.reach & 1:
                # A burst packet of a silent server is one more request
                # without a reply.
                self.silent += 1
            self.burst -= 1
        transmission: Transmission | None = None
        if settings.refclock is None:
            transmission = self._transmit(now, system)
        else:
            # A reference clock is asked for a sample (the engine's
            # PollRefClock action), at a fixed poll interval.
            self.lastSent = now
            self.sent += 1
            hpoll = settings.minPollLog2
        self._pollUpdate(now, hpoll)
        return transmission

    def _burstSize(self, hpoll: int) -> int:
        """
        Packets in a C{burst} at poll exponent C{hpoll}: as many as keep the
        average spacing at least 16 s, from 1 at 16 s to 8 at 128 s and up.
        """
        return max(1, min(BURST_COUNT, int(2.0**hpoll // MIN_BURST_SPACING)))

    def _startBurst(self, count: int, iburst: bool) -> None:
        # The poll that starts a burst sends its first packet; count - 1
        # follow.
        self.burst = count - 1
        self._burstIsIburst = iburst
        self._repliedThisBurst = False
        self._burstAnswered = False

    def _startRefClockBurst(self) -> None:
        """
        A reference clock's driver asks for a burst of polls at start
        (L{RefClockSource.burst}): its samples update the system as they
        come, as an C{iburst} burst's do.
        """
        source = self.settings.refclock
        if source is not None and source.burst > 0:
            self._startBurst(source.burst, iburst=True)
            self.burst = source.burst

    def _transmit(self, now: float, system: SystemVariables) -> Transmission | None:
        """
        Let the peer process build the packet of this poll, and note that
        one was sent.
        """
        if self.process is None:
            return None
        transmission = self.process.request(self, now, system)
        if transmission is None:
            # A process that only listens (a broadcast client) sends nothing.
            return None
        self.lastSent = now
        self.sent += 1
        self._repliedThisBurst = False
        return transmission

    def sentAt(self, t1: NTPTimestamp) -> None:
        """
        The shell read the clock as the last step before sending the
        outstanding request: that reading, more exact than the poll time,
        is T1.
        """
        if self.process is not None:
            self.process.sentAt(t1)

    def _pollUpdate(self, now: float, hpoll: int) -> None:
        """
        Clamp the host poll exponent and schedule the next poll (RFC 5905
        Appendix A.5.7.1 poll_update).
        """
        settings = self.settings
        self.hpoll = max(settings.minPollLog2, min(settings.maxPollLog2, hpoll))
        if self.burst > 0 and settings.refclock is not None:
            # A driver's burst: its polls come at the interval it asked for.
            self.nextPoll = now + settings.refclock.burstInterval
            return
        if self.burst > 0:
            # The rest of a burst waits for a reply (see receive), at most
            # BURST_NOREPLY_INTERVAL, or BURST_SILENCE_INTERVAL once the
            # server has answered this burst.
            # Never longer than maxpoll: with maxpoll 3 the user asked for a
            # poll every 8 s, also while the server is not answering.
            self.nextPoll = now + min(
                BURST_SILENCE_INTERVAL if self._burstAnswered else BURST_NOREPLY_INTERVAL,
                2.0**settings.maxPollLog2,
            )
            return
        exponent = self.hpoll
        if self.ppoll:
            exponent = max(min(self.ppoll, self.hpoll), settings.minPollLog2)
        interval = 2.0**exponent
        # Up to 1/32 of the interval of random spread, so that many clients
        # started together do not stay in step.
        self.nextPoll = now + interval + self.rng.random() * interval / 32

    def pollSoon(self, now: float) -> None:
        """
        Bring the next poll forward to C{minpoll} from now, if it is later
        (not during a burst): the discipline wants to see soon whether an
        outlier was a fluke or the start of a change.
        """
        if self.burst > 0:
            return
        soon = now + 2.0**self.settings.minPollLog2
        if soon < self.nextPoll:
            self.nextPoll = soon

    def backOff(self, now: float) -> None:
        """
        The server asked us to slow down (a RATE kiss): double the poll
        interval, up to maxpoll.
        """
        self.hpoll = min(self.hpoll + 1, self.settings.maxPollLog2)
        self.ppoll = max(self.ppoll, self.hpoll)
        self._pollUpdate(now, self.hpoll)

    # -- the peer process ----------------------------------------------

    def receive(
        self, packet: NTPPacket, t4: NTPTimestamp, now: float, precisionLog2: int
    ) -> ReceiveResult:
        """
        An arriving packet that matched this association (RFC 5905's
        dispatch table said PROC): its peer process checks it and, when it
        passes, hands the sample to L{acceptSample}.

        @param packet: the decoded packet.
        @param t4: the destination timestamp (kernel receive time).
        @param now: the local time, seconds.
        @param precisionLog2: the system precision.
        @raise ValueError: for a reference clock's association (its samples
            come through L{refclockSample}).
        """
        if self.process is None:
            raise ValueError(f"association {self.associd} takes no packets")
        self.now = now
        self.received += 1
        return self.process.receive(self, packet, t4, now, precisionLog2)

    # -- what peer processes use ----------------------------------------

    def takeHeader(self, packet: NTPPacket) -> None:
        """
        Take the peer variables of a packet's header (RFC 5905 section 9.2
        packet()): leap, stratum (0 read as 16), poll, precision, root delay
        and dispersion, reference ID and time.
        """
        self.leap = packet.leap
        self.stratum = packet.stratum if packet.stratum else MAX_STRATUM
        self.ppoll = packet.poll
        self.precision = packet.precision
        self.rootDelay = packet.rootDelaySeconds
        self.rootDispersion = packet.rootDispersionSeconds
        self.refid = packet.refid
        self.reftime = packet.reftime

    def endBurst(self) -> None:
        """
        End the current burst now (a broadcast client's calibration volley
        is over).
        """
        self.burst = 0

    def markReply(self) -> None:
        """
        A valid reply came: it counts in the reach register, and the rest of
        a burst may follow.
        """
        self.reach |= 1
        self.unreach = self.silent = 0
        self._repliedThisBurst = True
        self._burstAnswered = True

    def acceptSample(self, sample: Sample, now: float) -> ReceiveResult:
        """
        The one entry point of a packet's sample: into the clock filter.

        @return: the accepted L{ReceiveResult}, with what the filter
            released.
        """
        self.flash = 0
        self._samples += 1
        update = self.filter.update(sample, now, 2.0**self.hpoll)
        if self.burst > 0:
            # A reply came: the rest of the burst follows 2 s apart.
            self.nextPoll = min(
                self.nextPoll, max(now, (self.lastSent or now) + BURST_INTERVAL)
            )
        return ReceiveResult(True, 0, update)

    def refclockSample(
        self, offset: float, dispersion: float, leap: int, time: float, now: float
    ) -> FilterOutput | None:
        """
        A sample from this association's reference clock driver (RFC 5905
        leaves reference clocks out; this is ntpd's refclock_receive): it
        goes through the clock filter like a packet's, with no delay, and
        the association takes the driver's stratum, reference ID and
        precision, with no root delay or dispersion of its own.

        @param offset: seconds, positive when the local clock is behind.
        @param dispersion: seconds, what the driver claims.
        @param leap: the leap indicator of the reference.
        @param time: local clock seconds, when it was taken.
        @param now: local clock seconds, now (not before C{time}).
        @return: the peer variables the clock filter released, or C{None}.
        @raise ValueError: if this is not a reference clock's association.
        """
        source = self.settings.refclock
        if source is None:
            raise ValueError(f"association {self.associd} is not a reference clock's")
        self.now = now
        self.leap = leap
        self.stratum = source.stratum
        self.refid = source.refid
        self.precision = source.precisionLog2
        self.rootDelay = self.rootDispersion = 0.0
        self.reftime = NTPTimestamp.fromUnixNanoseconds(int(time * 1e9))
        self.reach |= 1
        self.unreach = self.silent = 0
        self.received += 1
        self.flash = 0
        self._samples += 1
        return self.filter.update(
            Sample(offset, 0.0, dispersion, time), now, 2.0**self.hpoll
        )

    def authenticationFailed(self) -> None:
        """
        A packet claiming to be from the server failed authentication
        (seed 004 checks 5 and 11): it is dropped, and noted in C{flash};
        the outstanding request stays outstanding, so the genuine reply is
        still accepted.
        """
        self.flash = TEST_AUTH

    def fail(self, test: int) -> ReceiveResult:
        self.flash = test
        return ReceiveResult(False, test)

    def kiss(self, packet: NTPPacket, now: float) -> ReceiveResult:
        """
        A Kiss-o'-Death that passed the origin check (so it is not an
        off-path forgery): DENY and RSTR stop polling (and demobilize a
        non-persistent association), RATE backs off; other codes are
        informational.
        """
        code = packet.kissCode or ""
        self.kissCode = code
        self.flash = TEST_ACCESS if code in ("DENY", "RSTR") else 0
        demobilize = False
        if code in ("DENY", "RSTR"):
            self.stopped = True
            self.reach = 0
            demobilize = self.settings.lifecycle != "persistent"
        elif code == "RATE":
            self.burst = 0
            self.backOff(now)
        return ReceiveResult(False, self.flash, None, code, demobilize)

    def clear(self, now: float) -> None:
        """
        Forget everything learnt from the server (RFC 5905 A.2 clear()),
        keeping the settings; polling restarts as for a new association.
        """
        self.filter.reset()
        self._samples = 0
        self.leap, self.stratum = LEAP_NOTINSYNC, MAX_STRATUM
        self.reach = self.unreach = self.silent = self.burst = 0
        self.ppoll = 0
        self.hpoll = self.settings.minPollLog2
        if self.process is not None:
            self.process.clear()
        self.stopped = False
        self.kissCode = None
        self.nextPoll = now + 0.1 + 0.5 * self.rng.random()
        self._startRefClockBurst()

    # -- status --------------------------------------------------------

    def rootDistance(self, now: float) -> float:
        """
        The root synchronization distance of this peer at C{now} (RFC 5905
        Appendix A.5.5.2).
        """
        return (
            max(0.001, self.rootDelay + self.delay) / 2
            + self.rootDispersion
            + self.dispersionAt(now)
            + self.jitter
        )

    @property
    def lastT1(self) -> NTPTimestamp | None:
        """When the last request was sent (T1), or C{None}."""
        return None if self.process is None else self.process.lastT1

    @property
    def samples(self) -> int:
        """Valid samples received since mobilization."""
        return self._samples


@dataclass(slots=True)
class AssociationTable:
    """
    The associations of one daemon, by ID and by remote address.

    Association IDs count up from 1 and wrap at 65535, skipping IDs in use
    (ntpq shows them).
    """

    byID: dict[int, Association] = field(default_factory=dict)
    byAddress: dict[tuple[str, int], Association] = field(default_factory=dict)
    _nextID: int = 1

    def newID(self) -> int:
        while self._nextID in self.byID or self._nextID == 0:
            self._nextID = self._nextID % 65535 + 1
        associd = self._nextID
        self._nextID = self._nextID % 65535 + 1
        return associd

    def add(self, association: Association) -> None:
        key = (association.address, association.settings.port)
        if key in self.byAddress:
            raise ValueError(f"an association with {key} exists already")
        self.byID[association.associd] = association
        self.byAddress[key] = association

    def remove(self, associd: int) -> Association | None:
        association = self.byID.pop(associd, None)
        if association is not None:
            self.byAddress.pop((association.address, association.settings.port), None)
        return association

    def find(self, address: str, port: int) -> Association | None:
        """
        The association with this remote address and port; a server
        answering from another port than the one polled still matches by
        address when only one association has that address.
        """
        association = self.byAddress.get((address, port))
        if association is not None:
            return association
        return None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self.byID.values()))

    def __len__(self) -> int:
        return len(self.byID)
