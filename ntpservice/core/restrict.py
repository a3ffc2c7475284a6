# -*- test-case-name: tests.core.test_access -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
ntpd's C{restrict} list: the table of address/mask entries and the lookup
that gives a packet's source its L{Restriction}. What is done with a
packet under those restrictions (serve, drop, kiss-o'-death) is decided in
L{ntpservice.core.access}.

Theory of operation
===================

L{RestrictTable} holds ntpd's two address/mask lists, one per address
family, built from L{RestrictRule}s: the C{restrict}, C{unrestrict} and
C{delrestrict} lines of the configuration, which the assembly code turns
into rules (L{ntpservice.coreconfig.restrictTable}). Each entry is an
address, a mask, a match modifier (C{ntpport}) and
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

@see: ntpd's C{ntpd/ntp_restrict.c}; ntp.conf(5) "Access Control Support";
    NTPsec's C{docs/includes/access-commands.adoc}.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Callable, Iterable

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "NTP_PORT",
    "RestrictRule",
    "RestrictTable",
    "Restriction",
]

NTP_PORT = 123
"""The NTP port: C{ntpport} entries match only packets from it."""

DEFAULT_CACHE_SIZE = 8192
"""
How many source addresses L{RestrictTable.lookup} remembers (about 150
bytes each).
"""


@dataclass(frozen=True, slots=True)
class RestrictRule:
    """
    One line of the restriction list, as the table applies it.

    @ivar directive: C{"restrict"}, C{"unrestrict"} (NTPsec: clear flags,
        or remove the entry) or C{"delrestrict"} (ntpd: remove an entry).
    @ivar address: C{"default"}, C{"source"}, an IP address or a host name
        (as written, not resolved; without the C{/prefix}).
    @ivar ipVersion: 4 or 6 (C{-4}/C{-6}); C{None} otherwise (for
        C{default} that means both families).
    @ivar mask: the C{mask} argument (an address), or C{None}.
    @ivar prefixLength: the bits of an C{address/prefix} (NTPsec), or
        C{None}.
    @ivar ippeerlimit: ntpd's C{ippeerlimit} (-1 to 100), or C{None}.
    @ivar flags: the restriction flags; for C{delrestrict source ADDRESS}
        it is C{{"source"}}.
    @ivar source: where the line was written, for messages (its C{str()}
        is C{FILE:LINE}); the table only hands it on, in
        L{Restriction.source}. C{None}: nowhere.
    """

    directive: str
    address: str
    ipVersion: int | None = None
    mask: str | None = None
    prefixLength: int | None = None
    ippeerlimit: int | None = None
    flags: frozenset[str] = frozenset()
    source: Hashable | None = None


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
        packet (pool associations are exempt, see L{ntpservice.core.access.mayMobilize}).
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
        server replies (see L{ntpservice.core.access.fuzzReferenceTime}).
    @ivar interface: the entry is one of the local interface entries.
    """

    flags: frozenset[str] = frozenset()
    source: Hashable | None = None
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
        source: Hashable | None,
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
        self.unresolved: list[RestrictRule] = []
        self.sourceFlags: Restriction | None = None
        self._cacheSize = max(1, cacheSize)
        self._cache: OrderedDict[object, Restriction] = OrderedDict()
        self._compiled: dict[int, tuple[tuple[int, int, bool, Restriction], ...]] = {}
        self._hasNtpPort = False
        self._listeners: list[Callable[[], None]] = []
        self._compile()

    @classmethod
    def fromRules(
        cls,
        rules: Iterable[RestrictRule],
        cacheSize: int = DEFAULT_CACHE_SIZE,
    ) -> RestrictTable:
        """
        Build the table from the lines of the configuration.

        @param rules: C{restrict}, C{unrestrict} and C{delrestrict} lines,
            applied in order.
        @param cacheSize: how many source addresses L{lookup} caches.
        """
        table = cls(cacheSize)
        for rule in rules:
            table._apply(rule, None)
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

    def compiledRules(self) -> list[tuple[int, int, int, bool, frozenset[str]]]:
        """
        Every entry in match order, as C{(family, network, mask, ntpport,
        flags)} with the network and mask as integers: what the compiled
        server fast path matches against (it must decide as L{lookup}).
        """
        return [
            (family, network, mask, ntpport, restriction.flags)
            for family in (4, 6)
            for mask, network, ntpport, restriction in self._compiled[family]
        ]

    def addListener(self, listener: Callable[[], None]) -> None:
        """
        Call C{listener()} after every change of the table (so that a copy
        of it, such as the fast path's, follows).
        """
        self._listeners.append(listener)

    def removeListener(self, listener: Callable[[], None]) -> None:
        """Stop calling C{listener}."""
        self._listeners.remove(listener)

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
        self, rule: RestrictRule, addresses: Iterable[str]
    ) -> None:
        """
        Apply a line of L{unresolved} now that its host name resolved:
        one host entry per address (the mask is ignored, as in ntpd).

        @param rule: one of L{unresolved}.
        @param addresses: the addresses the name resolved to.
        """
        for address in addresses:
            self._apply(rule, address)
        self._compile()

    # -- building ---------------------------------------------------------

    def _apply(self, rule: RestrictRule, resolved: str | None) -> None:
        """
        Apply one configuration line (to C{resolved} instead of the
        line's own address, for a resolved host name).
        """
        kind = rule.directive
        flags = frozenset(rule.flags)
        if kind == "delrestrict":
            self._delrestrict(rule, resolved)
            return
        if rule.address == "source" and resolved is None:
            self._applySourceTemplate(kind, flags, rule)
            return
        keys = self._keysFor(rule, resolved, "ntpport" in flags)
        if keys is None:
            self.unresolved.append(rule)
            return
        for key in keys:
            self._applyToKey(kind, key, flags, rule)

    def _applySourceTemplate(
        self, kind: str, flags: frozenset[str], rule: RestrictRule
    ) -> None:
        if kind == "restrict":
            ippeerlimit = -1 if rule.ippeerlimit is None else rule.ippeerlimit
            self.sourceFlags = Restriction(
                flags, rule.source, "restrict source", ippeerlimit
            )
        elif flags and self.sourceFlags is not None:
            remaining = self.sourceFlags.flags - flags
            self.sourceFlags = self.sourceFlags.withFlags(remaining)
        else:
            self.sourceFlags = None

    def _keysFor(
        self, rule: RestrictRule, resolved: str | None, ntpport: bool
    ) -> list[tuple[int, int, int, bool]] | None:
        """
        The entry keys a line names, or C{None} for an unresolved host.
        """
        if rule.address == "default" and resolved is None:
            families = (4, 6) if rule.ipVersion is None else (rule.ipVersion,)
            return [(family, 0, 0, ntpport) for family in families]
        written = rule.address if resolved is None else resolved
        parsed = _parseAddress(written)
        if parsed is None:
            return None
        family, value = parsed
        # An IPv4-mapped IPv6 address is matched as IPv4 (see lookup): its
        # prefix and mask lose their 96 leading bits.
        mapped = family == 4 and ":" in written
        mask = _ALL_ONES[family]
        if resolved is None:
            if rule.prefixLength is not None:
                width = _WIDTH[family]
                prefix = rule.prefixLength - (96 if mapped else 0)
                prefix = min(width, max(0, prefix))
                mask = (mask << (width - prefix)) & mask
            elif rule.mask is not None:
                try:
                    maskValue = int(ipaddress.ip_address(rule.mask))
                except ValueError:
                    maskValue = mask
                mask = maskValue & mask
        return [(family, value & mask, mask, ntpport)]

    def _applyToKey(
        self,
        kind: str,
        key: tuple[int, int, int, bool],
        flags: frozenset[str],
        rule: RestrictRule,
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
                    -1 if rule.ippeerlimit is None else rule.ippeerlimit,
                    rule.source,
                    _ORIGIN_CONFIG,
                )
            else:
                entry.flags = entry.flags | flags
                entry.source = rule.source
                if rule.ippeerlimit is not None:
                    entry.ippeerlimit = rule.ippeerlimit
            return
        # unrestrict (NTPsec): clear flags, or remove the entry.
        if entry is None:
            return
        if flags - _MATCH_FLAGS:
            entry.flags = entry.flags - (flags - _MATCH_FLAGS)
            entry.source = rule.source
        elif entry.origin not in (_ORIGIN_DEFAULT, _ORIGIN_INTERFACE):
            del self._entries[key]

    def _delrestrict(self, rule: RestrictRule, resolved: str | None) -> None:
        """
        ntpd's C{delrestrict [source] ADDRESS [mask MASK]}.
        """
        if "source" in rule.flags:
            parsed = _parseAddress(rule.address if resolved is None else resolved)
            if parsed is None:
                self.unresolved.append(rule)
                return
            self._removeSourceEntry(*parsed)
            return
        keys = self._keysFor(rule, resolved, False)
        if keys is None:
            self.unresolved.append(rule)
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
        for listener in getattr(self, "_listeners", ()):
            listener()
