# -*- test-case-name: tests.core.test_access -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Access control: ntpd's C{restrict} list and the per-packet decisions made
from it (serve, drop, or answer with a kiss-o'-death).

Theory of operation
===================

The restriction list
--------------------

L{RestrictTable} holds ntpd's two address/mask lists, one per address
family. Each entry is an address, a mask, a match modifier (C{ntpport}) and
a set of flags; a flag always I{restricts} (an entry without flags means
free access). A packet gets the flags of the most specific entry that
matches its source address, and only those: flags of less specific entries
are not inherited.

 - ntpd's semantics for the built-in default (not NTPsec's): each family
   has a default entry (address and mask zero) with I{no} flags, always
   present and never removed. NTPsec's built-in default has C{noquery
   limited}; here, as in ntpd, a configuration that wants them says
   C{restrict default noquery limited} (ntpservice's own built-in
   configuration does).
 - C{restrict default FLAGS} applies to both families' default entries,
   C{restrict -4 default} and C{restrict -6 default} to one.
 - C{restrict ADDRESS} is a host entry (all mask bits set); C{restrict
   ADDRESS mask MASK} and NTPsec's C{restrict ADDRESS/PREFIX} are network
   entries (the address is masked). Masks need not be contiguous (ntpd
   accepts any mask).
 - The lists are sorted by descending address, then descending mask, then
   C{ntpport} entries before the others, and the first match wins, exactly
   as ntpd's C{ntp_restrict.c} does it; for contiguous masks this is the
   longest-prefix match. An C{ntpport} entry matches only packets whose
   source port is 123, and it is more specific than an entry with the same
   address and mask without C{ntpport}.
 - A line with the same address, mask and C{ntpport} as an earlier one does
   not replace it: the flags are merged (ntpd's C{hack_restrict()} ORs them
   in, and NTPsec documents "the flags are merged"). The entry reports the
   later line as its source.
 - C{unrestrict} (NTPsec) with flags clears those flags from the entry with
   that address and mask; without flags it removes the entry. C{delrestrict
   ADDRESS} (ntpd) removes a configured entry, C{delrestrict source
   ADDRESS} the entry that C{restrict source} made for an association.
   Default entries and interface entries are never removed.
 - Host names cannot be matched against packets: their lines are kept, in
   order, in L{RestrictTable.unresolved} for the resolver, which applies
   them with L{RestrictTable.applyResolved} (one host entry per address;
   the mask, if any, is ignored, as ntp.conf(5) says).
 - C{restrict source FLAGS} is a template (L{RestrictTable.sourceFlags}):
   L{RestrictTable.addSource} adds a host entry with those flags for an
   association's address, unless a host entry for that address exists.
   The last C{restrict source} line replaces the template (ntpd stores it,
   it does not merge it).
 - A packet from a multicast source address is always ignored (ntpd's
   C{restrictions()}).
 - An IPv4-mapped IPv6 source (C{::ffff:192.0.2.1}, from a dual-stack
   socket) is matched as the IPv4 address, so that IPv4 restrictions cannot
   be bypassed through an IPv6 socket. (ntpd binds one socket per family
   and never sees such addresses.)
 - ntpd adds an entry C{ignore ntpport} for each local interface address,
   so that it never answers itself; the shell does that through
   L{RestrictTable.addInterface} when it binds an address.

L{RestrictTable.lookup} runs for every packet, so the entries of each
family are compiled into one sorted tuple and the answers are cached by
source address in a bounded first-in-first-out cache.

Decisions
---------

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
    KoD (never in reply to a server or broadcast packet). C{kod} without
    C{limited} does nothing, as in ntpd;
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

@see: ntpd's C{ntpd/ntp_restrict.c}, C{receive()} and C{fast_xmit()} in
    C{ntpd/ntp_proto.c}; ntp.conf(5) "Access Control Support"; NTPsec's
    C{docs/includes/access-commands.adoc}.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

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
from ntpservice.core.timestamps import NTPTimestamp

if TYPE_CHECKING:
    from ntpservice.config import RestrictDirective, SourceLocation

__all__ = [
    "ANSWER",
    "AUTH_CRYPTO_NAK",
    "AUTH_ERROR",
    "AUTH_NONE",
    "AUTH_OK",
    "AUTH_UNCHECKED",
    "BAD_AUTH",
    "BAD_VERSION",
    "BOGUS_PORT",
    "CRYPTO_NAK",
    "DEFAULT_CACHE_SIZE",
    "Decision",
    "FLAKE",
    "IGNORED",
    "KOD_RATE",
    "KOD_SENT",
    "NOQUERY",
    "NOSERVE",
    "NOTRUST",
    "NTP_PORT",
    "NTP_VERSION",
    "RATE_LIMITED",
    "RestrictTable",
    "Restriction",
    "buildKissOfDeath",
    "controlDecision",
    "fuzzReferenceTime",
    "mayMobilize",
    "replyDecision",
    "serverDecision",
]

NTP_PORT = 123
"""The NTP port: C{ntpport} entries match only packets from it."""

NTP_VERSION = 4
"""The current NTP version (C{restrict ... version} admits only it)."""

DEFAULT_CACHE_SIZE = 8192
"""
How many source addresses L{RestrictTable.lookup} remembers (about 150
bytes each).
"""

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
    @ivar reason: the counter to count (empty for C{"answer"}).
    @ivar kissCode: the kiss code of a C{"kod"} (C{"RATE"}), else C{None}.
    """

    action: str
    reason: str = ""
    kissCode: str | None = None

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


@dataclass(frozen=True, slots=True)
class Restriction:
    """
    The restrictions that apply to a packet: the flags of the matching
    entry, with a boolean for each.

    @ivar flags: the flags as written (C{"serverresponse fuzz"} is one
        string).
    @ivar source: the line that (last) set the entry, or C{None} for the
        built-in default and interface entries.
    @ivar match: the entry, for messages and C{ntpq reslist}:
        C{"default (IPv4)"}, C{"192.0.2.0/24"}, C{"10.0.0.0 mask
        255.0.255.0"}, C{"interface 192.0.2.5"}, C{"multicast source"}.
    @ivar ippeerlimit: ntpd's C{ippeerlimit}: how many peer associations
        one address may mobilize; -1 means no limit.
    @ivar ignore: deny every packet, ntpq's included.
    @ivar noserve: deny every packet except ntpq's.
    @ivar noquery: deny ntpq (mode 6) queries.
    @ivar nomodify: deny ntpq requests that change the server's state.
    @ivar nopeer: do not mobilize an association for an unauthenticated
        packet (pool associations are exempt, see L{mayMobilize}).
    @ivar noepeer: never mobilize an ephemeral symmetric peer.
    @ivar notrust: deny packets that are not cryptographically
        authenticated.
    @ivar notrap: refuse mode 6 trap service.
    @ivar lowpriotrap: traps set by these hosts are low priority.
    @ivar kod: answer a rate violation with a RATE KoD (needs C{limited}).
    @ivar limited: enforce the C{discard} rate limits.
    @ivar ntpport: the entry matched only because the source port was 123.
    @ivar version: deny packets whose version is not 4.
    @ivar nomrulist: deny mode 6 MRU list requests.
    @ivar flake: drop one packet in ten (for testing).
    @ivar mssntp: MS-SNTP signing (not supported: it only marks the entry).
    @ivar serverResponseFuzz: fuzz the low bits of the reference time in
        server replies (see L{fuzzReferenceTime}).
    @ivar interface: the entry is one of the local interface entries.
    """

    flags: frozenset[str] = frozenset()
    source: SourceLocation | None = None
    match: str = "default"
    ippeerlimit: int = -1
    ignore: bool = field(init=False)
    noserve: bool = field(init=False)
    noquery: bool = field(init=False)
    nomodify: bool = field(init=False)
    nopeer: bool = field(init=False)
    noepeer: bool = field(init=False)
    notrust: bool = field(init=False)
    notrap: bool = field(init=False)
    lowpriotrap: bool = field(init=False)
    kod: bool = field(init=False)
    limited: bool = field(init=False)
    ntpport: bool = field(init=False)
    version: bool = field(init=False)
    nomrulist: bool = field(init=False)
    flake: bool = field(init=False)
    mssntp: bool = field(init=False)
    serverResponseFuzz: bool = field(init=False)
    interface: bool = field(init=False)

    def __post_init__(self) -> None:
        flags = self.flags
        if not isinstance(flags, frozenset):
            flags = frozenset(flags)
            object.__setattr__(self, "flags", flags)
        for name in _FLAG_ATTRIBUTES.values():
            object.__setattr__(self, name, False)
        for flag in flags:
            attribute = _FLAG_ATTRIBUTES.get(flag)
            if attribute is not None:
                object.__setattr__(self, attribute, True)

    def withFlags(self, flags: Iterable[str]) -> Restriction:
        """
        A copy with C{flags} instead of these flags.
        """
        return Restriction(frozenset(flags), self.source, self.match, self.ippeerlimit)


_FLAG_ATTRIBUTES = {
    "ignore": "ignore",
    "noserve": "noserve",
    "noquery": "noquery",
    "nomodify": "nomodify",
    "nopeer": "nopeer",
    "noepeer": "noepeer",
    "notrust": "notrust",
    "notrap": "notrap",
    "lowpriotrap": "lowpriotrap",
    "kod": "kod",
    "limited": "limited",
    "ntpport": "ntpport",
    "version": "version",
    "nomrulist": "nomrulist",
    "flake": "flake",
    "mssntp": "mssntp",
    "serverresponse fuzz": "serverResponseFuzz",
    "interface": "interface",
}
"""Restriction flag -> L{Restriction} attribute."""

_MULTICAST = Restriction(frozenset({"ignore"}), None, "multicast source")
_UNPARSABLE = Restriction(frozenset({"ignore"}), None, "not an IP address")

_ORIGIN_DEFAULT = "default"
_ORIGIN_CONFIG = "config"
_ORIGIN_INTERFACE = "interface"
_ORIGIN_SOURCE = "source"

_WIDTH = {4: 32, 6: 128}
_ALL_ONES = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
_MATCH_FLAGS = frozenset({"ntpport", "interface"})
"""Flags that change how an entry matches or lives, not what it denies."""


class _Entry:
    """
    One address/mask entry of a restriction list (ntpd's C{restrict_u}).
    """

    __slots__ = (
        "family",
        "address",
        "mask",
        "ntpport",
        "flags",
        "ippeerlimit",
        "source",
        "origin",
    )

    def __init__(
        self,
        family: int,
        address: int,
        mask: int,
        ntpport: bool,
        flags: frozenset[str],
        ippeerlimit: int,
        source: SourceLocation | None,
        origin: str,
    ) -> None:
        self.family = family
        self.address = address
        self.mask = mask
        self.ntpport = ntpport
        self.flags = flags
        self.ippeerlimit = ippeerlimit
        self.source = source
        self.origin = origin

    @property
    def key(self) -> tuple[int, int, int, bool]:
        return (self.family, self.address, self.mask, self.ntpport)

    def describe(self) -> str:
        if self.origin == _ORIGIN_DEFAULT:
            return f"default (IPv{self.family})"
        address = _formatAddress(self.family, self.address)
        if self.origin == _ORIGIN_INTERFACE:
            return f"interface {address}"
        width = _WIDTH[self.family]
        inverse = _ALL_ONES[self.family] ^ self.mask
        if inverse & (inverse + 1) == 0:
            # A contiguous mask: a prefix.
            prefix = width - inverse.bit_length()
            text = address if prefix == width else f"{address}/{prefix}"
        else:
            text = f"{address} mask {_formatAddress(self.family, self.mask)}"
        if self.origin == _ORIGIN_SOURCE:
            text = f"source {text}"
        return text

    def restriction(self) -> Restriction:
        return Restriction(self.flags, self.source, self.describe(), self.ippeerlimit)


def _formatAddress(family: int, value: int) -> str:
    if family == 4:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))


def _parseAddress(address: str) -> tuple[int, int] | None:
    """
    An address string as C{(family, integer value)}; an IPv4-mapped IPv6
    address is returned as IPv4, an IPv6 scope (C{%eth0}) is ignored.
    C{None} if it is not an IP address.

    The forms the kernel produces (dotted quad; hexadecimal groups with at
    most one C{::}) are parsed here, several times faster than
    C{ipaddress}, which handles the rest.
    """
    if _IPV4_RE.fullmatch(address) is not None:
        first, second, third, fourth = address.split(".")
        a = int(first)
        b = int(second)
        c = int(third)
        d = int(fourth)
        if a > 255 or b > 255 or c > 255 or d > 255:
            return None
        return 4, (a << 24) | (b << 16) | (c << 8) | d
    if "%" in address:
        address = address.partition("%")[0]
    if _IPV6_RE.fullmatch(address) is not None:
        head, sep, tail = address.partition("::")
        groups = head.split(":") if head else []
        if sep:
            after = tail.split(":") if tail else []
            missing = 8 - len(groups) - len(after)
            if missing < 1 or "::" in tail:
                return None
            groups = groups + ["0"] * missing + after
        if len(groups) != 8:
            return None
        value = 0
        for group in groups:
            if not 0 < len(group) <= 4:
                return None
            value = (value << 16) | int(group, 16)
    else:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        value = int(ip)
        if ip.version == 4:
            return 4, value
    if value >> 32 == 0xFFFF:
        return 4, value & 0xFFFFFFFF
    return 6, value


_OCTET = r"(?:0|[1-9][0-9]{0,2})"
_IPV4_RE = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}", re.ASCII)
_IPV6_RE = re.compile(r"[0-9A-Fa-f:]{2,39}", re.ASCII)


def _isMulticast(family: int, value: int) -> bool:
    if family == 4:
        return value >> 28 == 0xE
    return value >> 120 == 0xFF


class RestrictTable:
    """
    ntpd's restriction lists: C{restrict} entries by address family,
    matched most specific first.

    @ivar unresolved: the C{restrict}/C{unrestrict}/C{delrestrict} lines
        that name a host, in file order, for the resolver (see
        L{applyResolved}).
    @ivar sourceFlags: the C{restrict source} template, or C{None} when
        there is none.
    """

    def __init__(self, cacheSize: int = DEFAULT_CACHE_SIZE) -> None:
        """
        An empty table: just the two built-in default entries, without
        flags (ntpd's semantics).

        @param cacheSize: how many source addresses L{lookup} caches.
        """
        self._entries: dict[tuple[int, int, int, bool], _Entry] = {}
        for family in (4, 6):
            entry = _Entry(family, 0, 0, False, frozenset(), -1, None, _ORIGIN_DEFAULT)
            self._entries[entry.key] = entry
        self.unresolved: list[RestrictDirective] = []
        self.sourceFlags: Restriction | None = None
        self._cacheSize = max(1, cacheSize)
        self._cache: OrderedDict[object, Restriction] = OrderedDict()
        self._compiled: dict[int, tuple[tuple[int, int, bool, Restriction], ...]] = {}
        self._hasNtpPort = False
        self._compile()

    @classmethod
    def fromConfiguration(
        cls,
        restrictions: Iterable[RestrictDirective],
        cacheSize: int = DEFAULT_CACHE_SIZE,
    ) -> RestrictTable:
        """
        Build the table from the configuration's lines.

        @param restrictions: L{ntpservice.config.Configuration.restrictions}:
            C{restrict}, C{unrestrict} and C{delrestrict} lines, applied in
            order.
        @param cacheSize: how many source addresses L{lookup} caches.
        """
        table = cls(cacheSize)
        for directive in restrictions:
            table._apply(directive, None)
        table._compile()
        return table

    # -- queries ----------------------------------------------------------

    def lookup(self, address: str, sourcePort: int | None = None) -> Restriction:
        """
        The restrictions for a packet from C{address}.

        @param address: the source address as the datagram gives it
            (C{"192.0.2.1"}, C{"2001:db8::1"}, C{"fe80::1%eth0"}).
        @param sourcePort: the source port; C{ntpport} entries match only
            port 123. C{None} counts as another port.
        @return: the L{Restriction} of the most specific matching entry; an
            C{ignore} restriction for a multicast source or a string that is
            not an IP address.
        """
        key: object = address
        if self._hasNtpPort and sourcePort == NTP_PORT:
            key = (address, NTP_PORT)
        cache = self._cache
        restriction = cache.get(key)
        if restriction is None:
            restriction = self._match(address, sourcePort == NTP_PORT)
            if len(cache) >= self._cacheSize:
                cache.popitem(last=False)
            cache[key] = restriction
        return restriction

    def _match(self, address: str, fromNtpPort: bool) -> Restriction:
        parsed = _parseAddress(address)
        if parsed is None:
            return _UNPARSABLE
        family, value = parsed
        if _isMulticast(family, value):
            return _MULTICAST
        for mask, network, ntpport, restriction in self._compiled[family]:
            if value & mask == network and (fromNtpPort or not ntpport):
                return restriction
        raise AssertionError("the default entry always matches")  # pragma: no cover

    @property
    def entries(self) -> tuple[Restriction, ...]:
        """
        Every entry, IPv4 then IPv6, each in match order (most specific
        first, the default last), which is also ntpd's list order.
        """
        return tuple(item[3] for family in (4, 6) for item in self._compiled[family])

    @property
    def hasLimited(self) -> bool:
        """
        Whether any entry (or the C{restrict source} template) has
        C{limited}: then the MRU list must run even after C{disable
        monitor}, as ntpd starts it for C{limited} (C{MON_RES}).
        """
        if self.sourceFlags is not None and self.sourceFlags.limited:
            return True
        return any("limited" in entry.flags for entry in self._entries.values())

    # -- changes at run time ----------------------------------------------

    def addInterface(self, address: str) -> None:
        """
        Add ntpd's entry for a local address: C{ignore ntpport
        interface}, so that the daemon never answers its own packets.
        """
        parsed = _parseAddress(address)
        if parsed is None:
            raise ValueError(f"not an IP address: {address!r}")
        family, value = parsed
        key = (family, value, _ALL_ONES[family], True)
        existing = self._entries.get(key)
        flags = frozenset({"ignore", "ntpport", "interface"})
        if existing is not None:
            existing.flags |= flags
            existing.origin = _ORIGIN_INTERFACE
        else:
            self._entries[key] = _Entry(
                family, value, key[2], True, flags, -1, None, _ORIGIN_INTERFACE
            )
        self._compile()

    def removeInterface(self, address: str) -> None:
        """Remove the entry of a local address that went away."""
        parsed = _parseAddress(address)
        if parsed is None:
            return
        family, value = parsed
        key = (family, value, _ALL_ONES[family], True)
        entry = self._entries.get(key)
        if entry is not None and entry.origin == _ORIGIN_INTERFACE:
            del self._entries[key]
            self._compile()

    def addSource(self, address: str) -> bool:
        """
        Poke the C{restrict source} template in for an association's
        address (ntpd's C{restrict_source()}).

        @param address: the association's remote address.
        @return: whether an entry was added: not without a template, not
            for a multicast address, and not if a host entry for that
            address exists already (it is more specific than the template).
        """
        template = self.sourceFlags
        if template is None:
            return False
        parsed = _parseAddress(address)
        if parsed is None:
            return False
        family, value = parsed
        if _isMulticast(family, value):
            return False
        hostMask = _ALL_ONES[family]
        for ntpport in (False, True):
            if (family, value, hostMask, ntpport) in self._entries:
                return False
        ntpport = template.ntpport
        self._entries[(family, value, hostMask, ntpport)] = _Entry(
            family,
            value,
            hostMask,
            ntpport,
            template.flags,
            template.ippeerlimit,
            template.source,
            _ORIGIN_SOURCE,
        )
        self._compile()
        return True

    def removeSource(self, address: str) -> None:
        """
        Remove the entry that L{addSource} added for C{address} (when its
        association is demobilized).
        """
        parsed = _parseAddress(address)
        if parsed is None:
            return
        family, value = parsed
        if self._removeSourceEntry(family, value):
            self._compile()

    def applyResolved(
        self, directive: RestrictDirective, addresses: Iterable[str]
    ) -> None:
        """
        Apply a line of L{unresolved} now that its host name resolved:
        one host entry per address (the mask is ignored, as in ntpd).

        @param directive: one of L{unresolved}.
        @param addresses: the addresses the name resolved to.
        """
        for address in addresses:
            self._apply(directive, address)
        self._compile()

    # -- building ---------------------------------------------------------

    def _apply(self, directive: RestrictDirective, resolved: str | None) -> None:
        """
        Apply one configuration line (to C{resolved} instead of the
        line's own address, for a resolved host name).
        """
        kind = directive.directive
        flags = frozenset(directive.flags)
        if kind == "delrestrict":
            self._delrestrict(directive, resolved)
            return
        if directive.address == "source" and resolved is None:
            self._applySourceTemplate(kind, flags, directive)
            return
        keys = self._keysFor(directive, resolved, "ntpport" in flags)
        if keys is None:
            self.unresolved.append(directive)
            return
        for key in keys:
            self._applyToKey(kind, key, flags, directive)

    def _applySourceTemplate(
        self, kind: str, flags: frozenset[str], directive: RestrictDirective
    ) -> None:
        if kind == "restrict":
            ippeerlimit = -1 if directive.ippeerlimit is None else directive.ippeerlimit
            self.sourceFlags = Restriction(
                flags, directive.source, "restrict source", ippeerlimit
            )
        elif flags and self.sourceFlags is not None:
            remaining = self.sourceFlags.flags - flags
            self.sourceFlags = self.sourceFlags.withFlags(remaining)
        else:
            self.sourceFlags = None

    def _keysFor(
        self, directive: RestrictDirective, resolved: str | None, ntpport: bool
    ) -> list[tuple[int, int, int, bool]] | None:
        """
        The entry keys a line names, or C{None} for an unresolved host.
        """
        if directive.address == "default" and resolved is None:
            families = (4, 6) if directive.ipVersion is None else (directive.ipVersion,)
            return [(family, 0, 0, ntpport) for family in families]
        written = directive.address if resolved is None else resolved
        parsed = _parseAddress(written)
        if parsed is None:
            return None
        family, value = parsed
        # An IPv4-mapped IPv6 address is matched as IPv4 (see lookup): its
        # prefix and mask lose their 96 leading bits.
        mapped = family == 4 and ":" in written
        mask = _ALL_ONES[family]
        if resolved is None:
            if directive.prefixLength is not None:
                width = _WIDTH[family]
                prefix = directive.prefixLength - (96 if mapped else 0)
                prefix = min(width, max(0, prefix))
                mask = (mask << (width - prefix)) & mask
            elif directive.mask is not None:
                try:
                    maskValue = int(ipaddress.ip_address(directive.mask))
                except ValueError:
                    maskValue = mask
                mask = maskValue & mask
        return [(family, value & mask, mask, ntpport)]

    def _applyToKey(
        self,
        kind: str,
        key: tuple[int, int, int, bool],
        flags: frozenset[str],
        directive: RestrictDirective,
    ) -> None:
        entry = self._entries.get(key)
        if kind == "restrict":
            if entry is None:
                family, address, mask, ntpport = key
                self._entries[key] = _Entry(
                    family,
                    address,
                    mask,
                    ntpport,
                    flags,
                    -1 if directive.ippeerlimit is None else directive.ippeerlimit,
                    directive.source,
                    _ORIGIN_CONFIG,
                )
            else:
                entry.flags = entry.flags | flags
                entry.source = directive.source
                if directive.ippeerlimit is not None:
                    entry.ippeerlimit = directive.ippeerlimit
            return
        # unrestrict (NTPsec): clear flags, or remove the entry.
        if entry is None:
            return
        if flags - _MATCH_FLAGS:
            entry.flags = entry.flags - (flags - _MATCH_FLAGS)
            entry.source = directive.source
        elif entry.origin not in (_ORIGIN_DEFAULT, _ORIGIN_INTERFACE):
            del self._entries[key]

    def _delrestrict(self, directive: RestrictDirective, resolved: str | None) -> None:
        """
        ntpd's C{delrestrict [source] ADDRESS [mask MASK]}.
        """
        if "source" in directive.flags:
            parsed = _parseAddress(directive.address if resolved is None else resolved)
            if parsed is None:
                self.unresolved.append(directive)
                return
            self._removeSourceEntry(*parsed)
            return
        keys = self._keysFor(directive, resolved, False)
        if keys is None:
            self.unresolved.append(directive)
            return
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and entry.origin == _ORIGIN_CONFIG:
                del self._entries[key]

    def _removeSourceEntry(self, family: int, value: int) -> bool:
        hostMask = _ALL_ONES[family]
        removed = False
        for ntpport in (False, True):
            key = (family, value, hostMask, ntpport)
            entry = self._entries.get(key)
            if entry is not None and entry.origin == _ORIGIN_SOURCE:
                del self._entries[key]
                removed = True
        return removed

    def _compile(self) -> None:
        """
        Sort each family's entries as ntpd does (descending address, then
        mask, then C{ntpport} first) and forget cached answers.
        """
        compiled: dict[int, list[tuple[int, int, bool, Restriction]]] = {4: [], 6: []}
        ordered = sorted(
            self._entries.values(),
            key=lambda e: (e.address, e.mask, e.ntpport),
            reverse=True,
        )
        for entry in ordered:
            compiled[entry.family].append(
                (entry.mask, entry.address, entry.ntpport, entry.restriction())
            )
        self._compiled = {family: tuple(items) for family, items in compiled.items()}
        self._hasNtpPort = any(entry.ntpport for entry in self._entries.values())
        self._cache.clear()


# ---------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------


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
    @return: L{ANSWER}, a drop (C{Decision.drop(reason)}), L{KOD_RATE} (the
        entry's C{lastKiss} is set to C{now}) or L{CRYPTO_NAK}.
    """
    early = _earlyDecision(restriction, packet, port, random)
    if early is not None:
        return early
    version = packet.version
    mode = packet.mode
    if mode == MODE_RESERVED:
        mode = MODE_CLIENT
    mac = packet.mac
    if mru is not None:
        entry = mru.observe(address, port, packet.mode, version, now, restriction.flags)
        if entry is not None and entry.overLimit and restriction.limited:
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
    if authentication == AUTH_OK:
        return ANSWER
    if authentication == AUTH_ERROR:
        return CRYPTO_NAK
    if authentication == AUTH_CRYPTO_NAK:
        return _DROP_BAD_AUTH
    if restriction.notrust:
        return _DROP_NOTRUST
    return ANSWER


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
