# -*- test-case-name: tests.core.test_access -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Access decisions: what to do with a packet (serve, drop, or answer with a
kiss-o'-death or a crypto-NAK) under the L{Restriction} that ntpd's
C{restrict} list (L{ntpservice.core.restrict}) gives its source.

Theory of operation
===================

L{serverDecision} is the part of ntpd's C{receive()} that runs before a
packet reaches an association, in ntpd's order:

 1. source port 0: dropped (a bogus port);
 2. C{ignore}: dropped;
 3. C{noserve}: dropped, silently. ntp.conf(5) says a C{DENY} KoD is sent
    for C{noserve} and C{notrust}; neither ntpd's nor NTPsec's code sends
    one (they only ever send C{RATE}), and neither do we;
 4. C{flake}: dropped with probability 0.1 (only if a random source is
    given);
 5. the version: version 4 always passes; versions 1 to 3 pass unless
    C{version} is set; mode 0 is accepted only as an NTPv1 client request;
 6. C{notrust}: a packet without a MAC is dropped. This is ntpd's meaning
    since 4.2 ("deny packets that are not cryptographically
    authenticated"): a C{notrust} client gets no time unless its request
    carries a MAC that verifies. (The old ntp 4.1 meaning, "never
    synchronize to these hosts", is gone.)
 7. the MRU list records the packet (L{ntpservice.core.mru}); with
    C{limited}, a packet over the C{discard} limits is dropped, or, with
    C{kod} too and the KoD rate limit allowing it, answered with a RATE
    KoD (never in reply to a server or broadcast packet; with the
    C{discard leak} on, unlike ntpd, never to a packet that broke only the
    guard time, C{discard minimum}). C{kod} without
    C{limited} does nothing, as in ntpd. A packet over the limit that the
    C{discard leak} draw lets through (one in four by default, see
    L{ntpservice.core.mru}) goes on as if within limits: it gets time,
    never a kiss, so that spoofed requests with a victim's address cannot
    silence the victim ("priming the pump");
 8. for client requests, authentication (ntpd's C{AM_FXMIT}): a verified
    MAC is answered; a MAC that fails is answered with a crypto-NAK; a
    crypto-NAK I{from} a client is dropped; without a MAC the request is
    answered unless C{notrust}.

Replies on our own associations (a server answering our poll) go through
L{replyDecision}: steps 1 to 6 only. They are neither recorded in the MRU
list nor rate limited, since rate limiting is for the requests we answer:
otherwise a request a second with a server's (spoofed) address would get
that server's genuine replies dropped, and its replies would count
against its own requests to us.

Mode 6 (ntpq) packets go through L{controlDecision} instead: C{ignore} and
C{noquery} drop them, and they are neither recorded in the MRU list nor
rate limited (ntp.conf(5): C{limited} "does not apply to ntpq and ntpdc
queries"). C{nomodify}, C{notrap}, C{lowpriotrap} and C{nomrulist} are for
the mode 6 server to read from the L{Restriction}.

L{mayMobilize} says whether a packet may mobilize an ephemeral association
(C{nopeer}, C{noepeer}, C{notrust}, C{enable auth}).

@see: C{receive()} and C{fast_xmit()} in ntpd's C{ntpd/ntp_proto.c};
    ntp.conf(5) "Access Control Support"; NTPsec's
    C{docs/includes/access-commands.adoc}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ntpservice.core import counters
from ntpservice.core.mru import MRUList
from ntpservice.core.packet import (
    LEAP_NOTINSYNC,
    MODE_ACTIVE,
    MODE_BROADCAST,
    MODE_CLIENT,
    MODE_RESERVED,
    MODE_SERVER,
    NTPPacket,
)
from ntpservice.core.restrict import Restriction
from ntpservice.core.timestamps import NTPTimestamp

__all__ = [
    "ANSWER",
    "ANSWER_FUZZED",
    "ANSWER_FUZZED_LEAKED",
    "ANSWER_LEAKED",
    "AUTH_CRYPTO_NAK",
    "AUTH_ERROR",
    "AUTH_NONE",
    "AUTH_OK",
    "AUTH_UNCHECKED",
    "BAD_AUTH",
    "BAD_VERSION",
    "BOGUS_PORT",
    "CRYPTO_NAK",
    "Decision",
    "FLAKE",
    "IGNORED",
    "KOD_RATE",
    "KOD_SENT",
    "LEAKED",
    "NOQUERY",
    "NOSERVE",
    "NOTRUST",
    "NTP_VERSION",
    "RATE_LIMITED",
    "buildKissOfDeath",
    "controlDecision",
    "fuzzReferenceTime",
    "mayMobilize",
    "replyDecision",
    "serverDecision",
]

NTP_VERSION = 4
"""The current NTP version (C{restrict ... version} admits only it)."""


# Counter names (see ntpservice.core.counters): why a packet was dropped.
IGNORED = "ignored"
"""Dropped: C{ignore}, or a multicast source address (ntpd: restricted)."""
NOSERVE = "noserve"
"""Dropped: C{noserve} (ntpd: restricted)."""
NOQUERY = "noquery"
"""Dropped: a mode 6 query under C{noquery} (ntpd: restricted)."""
FLAKE = "flake"
"""Dropped: C{flake}, one packet in ten (ntpd: restricted)."""
NOTRUST = "notrust"
"""Dropped: C{notrust} and no verified MAC (ntpd: restricted)."""
BAD_VERSION = counters.BAD_VERSION
"""Dropped: a version that C{version} (or NTPv1-only mode 0) refuses."""
RATE_LIMITED = "ratelimited"
"""Over the C{discard} limits with C{limited} (ntpd: limitrejected)."""
KOD_SENT = "kodsent"
"""For the shell to count each KoD it sends (ntpd: kodsent)."""
LEAKED = "ratelimit.leaked"
"""
Over the C{discard} limits with C{limited}, yet answered: the C{discard
leak} draw (the full counter name: an answer, not an C{access.} drop).
"""
BAD_AUTH = "badauth"
"""A MAC that failed (answered with a crypto-NAK) or a client crypto-NAK."""
BOGUS_PORT = "bogusport"
"""Dropped: source port 0 (ntpd counts it as badlength)."""

AUTH_NONE = "none"
"""The packet has no MAC."""
AUTH_OK = "ok"
"""The packet has a MAC and it verified with a trusted key."""
AUTH_ERROR = "error"
"""The packet has a MAC and it did not verify (or the key is unknown)."""
AUTH_CRYPTO_NAK = "cryptonak"
"""The packet's MAC is a crypto-NAK: a key identifier without digest."""
AUTH_UNCHECKED = "unchecked"
"""
The packet has a MAC that nobody checked (the daemon has no keys yet): it
satisfies nothing that needs authentication and is held against nobody.
"""


@dataclass(frozen=True, slots=True)
class Decision:
    """
    What to do with a packet.

    @ivar action: C{"answer"} (serve it: send the reply, or hand the packet
        to its association), C{"drop"} (send nothing), C{"kod"} (answer
        with a kiss-o'-death, see L{buildKissOfDeath}) or C{"nak"} (answer
        with a normal reply whose MAC is a crypto-NAK).
    @ivar reason: the counter to count: for a drop, a kiss or a crypto-NAK
        under C{access.}; for an answer, empty, or L{LEAKED} (counted as
        it is).
    @ivar kissCode: the kiss code of a C{"kod"} (C{"RATE"}), else C{None}.
    @ivar fuzzReference: answer with the reference time rounded down to 64
        s (C{restrict ... serverresponse fuzz}, see L{fuzzReferenceTime}).
    """

    action: str
    reason: str = ""
    kissCode: str | None = None
    fuzzReference: bool = False

    @property
    def isAnswer(self) -> bool:
        """Whether the packet is served normally."""
        return self.action == "answer"

    @property
    def isDrop(self) -> bool:
        """Whether nothing is sent."""
        return self.action == "drop"

    @property
    def isKissOfDeath(self) -> bool:
        """Whether a KoD is sent."""
        return self.action == "kod"

    @property
    def isCryptoNAK(self) -> bool:
        """Whether a crypto-NAK reply is sent."""
        return self.action == "nak"

    @classmethod
    def drop(cls, reason: str) -> Decision:
        """A drop counted under C{reason}."""
        return _DROPS.get(reason) or cls("drop", reason)

    @classmethod
    def kod(cls, code: str) -> Decision:
        """
        A kiss-o'-death with C{code} (C{"RATE"}; C{"DENY"} and C{"RSTR"}
        exist in RFC 5905 but neither ntpd nor ntpservice sends them).
        """
        if code == "RATE":
            return KOD_RATE
        return cls("kod", KOD_SENT, code)


ANSWER = Decision("answer")
"""Serve the packet."""
ANSWER_FUZZED = Decision("answer", fuzzReference=True)
"""Serve the client request with a fuzzed reference time."""
ANSWER_LEAKED = Decision("answer", LEAKED)
"""Serve the request, over the limit but let through by the leak."""
ANSWER_FUZZED_LEAKED = Decision("answer", LEAKED, fuzzReference=True)
"""L{ANSWER_LEAKED} with a fuzzed reference time."""
KOD_RATE = Decision("kod", RATE_LIMITED, "RATE")
"""Answer with a RATE kiss-o'-death (count C{reason} and L{KOD_SENT})."""
CRYPTO_NAK = Decision("nak", BAD_AUTH)
"""Answer with a crypto-NAK: a normal reply with a 4-byte zero key ID MAC."""

_DROPS = {
    reason: Decision("drop", reason)
    for reason in (
        IGNORED,
        NOSERVE,
        NOQUERY,
        FLAKE,
        NOTRUST,
        BAD_VERSION,
        RATE_LIMITED,
        BAD_AUTH,
        BOGUS_PORT,
    )
}
_DROP_IGNORED = _DROPS[IGNORED]
_DROP_NOSERVE = _DROPS[NOSERVE]
_DROP_NOQUERY = _DROPS[NOQUERY]
_DROP_FLAKE = _DROPS[FLAKE]
_DROP_NOTRUST = _DROPS[NOTRUST]
_DROP_BAD_VERSION = _DROPS[BAD_VERSION]
_DROP_RATE_LIMITED = _DROPS[RATE_LIMITED]
_DROP_BAD_AUTH = _DROPS[BAD_AUTH]
_DROP_BOGUS_PORT = _DROPS[BOGUS_PORT]





def serverDecision(
    restriction: Restriction,
    packet: NTPPacket,
    now: float,
    address: str,
    port: int,
    mru: MRUList | None = None,
    *,
    authentication: str | None = None,
    random: Callable[[], float] | None = None,
) -> Decision:
    """
    Decide what to do with an NTP packet (modes 0 to 5) before it reaches
    an association: ntpd's C{receive()} up to association matching, and
    for client requests (mode 3, or mode 0 of NTPv1) the server's answer.

    For other modes, L{ANSWER} means "go on": the association or mode
    handler takes it from there (replies from your own servers are subject
    to C{restrict} too: C{noserve} drops them, as in ntpd).

    @param restriction: C{table.lookup(address, port)}.
    @param packet: the decoded packet.
    @param now: the arrival time, seconds (monotonic), for the MRU list.
    @param address: the source address (the MRU key).
    @param port: the source port.
    @param mru: the MRU list, or C{None} when monitoring is off (then
        nothing is rate limited, as in ntpd without C{limited} and with
        C{disable monitor}).
    @param authentication: one of C{AUTH_*}: the result of checking the
        packet's MAC. C{None} derives it from the packet: L{AUTH_NONE}
        without MAC, L{AUTH_CRYPTO_NAK} for a crypto-NAK, otherwise
        L{AUTH_UNCHECKED}.
    @param random: returns a float in [0, 1), for C{flake}; without it,
        C{flake} drops nothing.
    @return: L{ANSWER} (L{ANSWER_LEAKED} for a client request over the
        limit that the leak lets through; the C{_FUZZED} variants under
        C{serverresponse fuzz}), a drop (C{Decision.drop(reason)}),
        L{KOD_RATE} (the entry's C{lastKiss} is set to C{now}) or
        L{CRYPTO_NAK}.
    """
    early = _earlyDecision(restriction, packet, port, random)
    if early is not None:
        return early
    version = packet.version
    mode = packet.mode
    if mode == MODE_RESERVED:
        mode = MODE_CLIENT
    mac = packet.mac
    leaked = False
    if mru is not None:
        entry = mru.observe(address, port, packet.mode, version, now, restriction.flags)
        if entry is not None and entry.overLimit and restriction.limited:
            leaked = entry.leaked
            if not leaked:
                entry.dropped += 1
                if (
                    restriction.kod
                    and entry.kissAllowed
                    and mode != MODE_SERVER
                    and mode != MODE_BROADCAST
                ):
                    entry.lastKiss = now
                    return KOD_RATE
                return _DROP_RATE_LIMITED
    if mode != MODE_CLIENT:
        return ANSWER
    if authentication is None:
        if mac is None:
            authentication = AUTH_NONE
        elif mac.isCryptoNAK:
            authentication = AUTH_CRYPTO_NAK
        else:
            authentication = AUTH_UNCHECKED
    if leaked:
        answer = ANSWER_FUZZED_LEAKED if restriction.serverResponseFuzz else ANSWER_LEAKED
    else:
        answer = ANSWER_FUZZED if restriction.serverResponseFuzz else ANSWER
    if authentication == AUTH_OK:
        return answer
    if authentication == AUTH_ERROR:
        return CRYPTO_NAK
    if authentication == AUTH_CRYPTO_NAK:
        return _DROP_BAD_AUTH
    if restriction.notrust:
        return _DROP_NOTRUST
    return answer


def replyDecision(
    restriction: Restriction,
    packet: NTPPacket,
    port: int,
    *,
    random: Callable[[], float] | None = None,
) -> Decision:
    """
    Decide whether a reply on one of our associations (a server's answer
    to our poll) may reach the association: the checks of
    L{serverDecision} that ntpd applies to replies too (bogus port,
    C{ignore}, C{noserve}, C{flake}, C{version}, C{notrust} without a
    MAC), and nothing of the MRU list.

    A reply is not a request: it is neither recorded in the MRU list nor
    rate limited. C{limited} is for the requests we answer; were replies
    counted, anyone could silence our own servers by sending requests
    with their address (a spoofed request a second puts the address over
    the C{discard} limits, and its genuine replies would be dropped), and
    the replies would count against the server's own requests to us.
    (ntpd's C{ntp_monitor()} records every packet and its C{receive()}
    drops a rate-limited server reply; here C{ntpq mrulist} does not list
    a server for its replies.)

    @param restriction: C{table.lookup(address, port)}.
    @param packet: the decoded reply.
    @param port: its source port.
    @param random: returns a float in [0, 1), for C{flake}.
    @return: L{ANSWER} (go on: the association checks the rest, its MAC
        included) or a drop.
    """
    early = _earlyDecision(restriction, packet, port, random)
    return ANSWER if early is None else early


def _earlyDecision(
    restriction: Restriction,
    packet: NTPPacket,
    port: int,
    random: Callable[[], float] | None,
) -> Decision | None:
    """
    The checks every time packet goes through, request or reply, before
    the MRU list (ntpd's C{receive()} up to C{ntp_monitor()}): steps 1 to
    6 of the module docstring.

    @return: a drop, or C{None} to go on.
    """
    if port == 0:
        return _DROP_BOGUS_PORT
    if restriction.ignore:
        return _DROP_IGNORED
    if restriction.noserve:
        return _DROP_NOSERVE
    if restriction.flake and random is not None and random() < 0.1:
        return _DROP_FLAKE
    version = packet.version
    if version != NTP_VERSION and (restriction.version or version < 1):
        return _DROP_BAD_VERSION
    if packet.mode == MODE_RESERVED and version != 1:
        return _DROP_BAD_VERSION
    if packet.mac is None and restriction.notrust:
        return _DROP_NOTRUST
    return None


def controlDecision(restriction: Restriction, port: int | None = None) -> Decision:
    """
    Decide whether to process a mode 6 (ntpq) message.

    Mode 6 is neither recorded in the MRU list nor rate limited (ntpd).
    Within an accepted request the mode 6 server still checks
    C{nomodify} (writes, C{:config}), C{nomrulist} (READ_MRU), C{notrap}
    and C{lowpriotrap} on the L{Restriction}.

    @param restriction: C{table.lookup(address, port)}.
    @param port: the source port, if known: 0 is a bogus port.
    @return: L{ANSWER} or a drop (C{ignored}, C{noquery}, C{bogusport}).
    """
    if port == 0:
        return _DROP_BOGUS_PORT
    if restriction.ignore:
        return _DROP_IGNORED
    if restriction.noquery:
        return _DROP_NOQUERY
    return ANSWER


def mayMobilize(
    restriction: Restriction,
    isPool: bool = False,
    *,
    authenticated: bool = False,
    authRequired: bool = True,
    symmetric: bool = False,
) -> bool:
    """
    Whether a packet may mobilize an ephemeral association (a symmetric
    passive peer, a broadcast/multicast client, a manycast or pool
    server).

    ntpd's rule (C{receive()}, C{AM_NEWPASS}/C{AM_NEWBCL}/C{AM_MANYCAST}):
    authentication is required when C{enable auth} is on (the default), or
    when C{nopeer} or C{notrust} applies; C{noepeer} refuses ephemeral
    symmetric peers even when authenticated. Pool servers are the
    exception, as in NTPsec: a C{pool} line is the operator's explicit
    request, so neither C{enable auth} nor C{nopeer} stops its servers
    (ntpd applied C{nopeer} to them, and C{restrict default nopeer} broke
    C{pool} unless a C{restrict source} line was added); C{notrust} still
    requires authentication.

    @param restriction: the restrictions of the packet's source.
    @param isPool: whether the packet answers one of our pool
        solicitations.
    @param authenticated: whether the packet's MAC verified.
    @param authRequired: C{enable auth} (ntpd's C{sys_authenticate}).
    @param symmetric: whether it would mobilize a symmetric passive peer.
    """
    if restriction.ignore or restriction.noserve:
        return False
    if isPool:
        return authenticated or not restriction.notrust
    if symmetric and restriction.noepeer:
        return False
    if authRequired or restriction.nopeer or restriction.notrust:
        return authenticated
    return True


def buildKissOfDeath(
    request: NTPPacket, code: str = "RATE", averageLog2: int = 3
) -> NTPPacket:
    """
    The kiss-o'-death answering C{request}, as ntpd's C{fast_xmit()} builds
    it: leap 3, stratum 0, the kiss code as reference ID, and nothing of
    the server's time (every timestamp is the request's transmit
    timestamp, so it cannot be used to set a clock, and the origin check
    of the client still matches).

    Send it as it is: do not stamp a transmit time into it.

    @param request: the client's (or symmetric peer's) packet.
    @param code: the kiss code (C{"RATE"}).
    @param averageLog2: C{discard average}: the poll field is at least this
        (log2 seconds), to slow the client down.
    @return: a mode 4 reply to a client request (mode 3, or mode 0 of
        NTPv1), a mode 1 packet to a symmetric peer (as ntpd), with the
        request's version, poll at least C{averageLog2}, precision, root
        delay and dispersion, reference time.
    """
    if request.mode in (MODE_CLIENT, MODE_RESERVED):
        mode = MODE_SERVER
    else:
        mode = MODE_ACTIVE
    refid = code.encode("ascii")[:4].ljust(4, b"\0")
    return NTPPacket(
        leap=LEAP_NOTINSYNC,
        version=request.version,
        mode=mode,
        stratum=0,
        poll=min(127, max(request.poll, averageLog2)),
        precision=request.precision,
        rootDelay=request.rootDelay,
        rootDispersion=request.rootDispersion,
        refid=refid,
        reftime=request.reftime,
        org=request.xmt,
        rec=request.xmt,
        xmt=request.xmt,
    )


_FUZZ_MASK = ~((64 << 32) - 1) & ((1 << 64) - 1)


def fuzzReferenceTime(reftime: NTPTimestamp) -> NTPTimestamp:
    """
    C{restrict ... serverresponse fuzz}: the reference time rounded down to
    a multiple of 64 seconds, fraction zero (ntpd's C{SRVRSP_FUZZ}), so
    that replies do not reveal exactly when the clock was last set.
    """
    return NTPTimestamp(reftime.value & _FUZZ_MASK)
