# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Association directives: C{server}, C{peer}, C{pool}, C{broadcast},
C{manycastclient} (one remote address each, L{parseAssociation}), and
C{broadcastclient}, C{multicastclient}, C{manycastserver} (which make the
daemon accept associations).

All of them produce an L{AssociationDirective}; so do the parsers of mode
plugins that take these directives over, and whatever produced it, it lands
in L{Configuration.associations <ntpservice.config.Configuration.associations>},
in file order. Addresses are checked for syntax only, never resolved.
"""

from __future__ import annotations

import ipaddress
import types
from dataclasses import dataclass
from typing import Mapping

from ntpservice.config.arguments import (
    checkHost,
    parseInteger,
    refclockAddress,
    requireArguments,
    takeValue,
)
from ntpservice.config.directives.auth import MAX_KEY_ID
from ntpservice.config.directives.base import Directive
from ntpservice.config.lexer import ConfigError, ConfigLine, SourceLocation
from ntpservice.config.registry import DirectiveParser

__all__ = [
    "AddressedAssociationDirective",
    "AssociationDirective",
    "BroadcastClientDirective",
    "BroadcastDirective",
    "DEFAULT_MAXPOLL_LOG2",
    "DEFAULT_MINPOLL_LOG2",
    "DEFAULT_MULTICAST_GROUP",
    "MAXPOLL_LOG2",
    "MINPOLL_LOG2",
    "ManycastClientDirective",
    "ManycastServerDirective",
    "MulticastClientDirective",
    "PARSERS",
    "PeerDirective",
    "PoolDirective",
    "ServerDirective",
    "parseAssociation",
]

MINPOLL_LOG2 = 3
"""The smallest poll exponent accepted for minpoll/maxpoll (8 s), as ntpd."""

MAXPOLL_LOG2 = 17
"""The largest poll exponent accepted for minpoll/maxpoll (36.4 h), as ntpd."""

DEFAULT_MINPOLL_LOG2 = 6
"""Default minpoll: log2 seconds (64 s). @see: RFC 5905 section 7.3"""

DEFAULT_MAXPOLL_LOG2 = 10
"""Default maxpoll: log2 seconds (1024 s). @see: RFC 5905 section 7.3"""

DEFAULT_MULTICAST_GROUP = "224.0.1.1"
"""The IANA NTP multicast group, used by C{multicastclient} without address."""

_ADDRESSED_ASSOCIATION_DIRECTIVES = (
    "server",
    "peer",
    "pool",
    "broadcast",
    "manycastclient",
)

_ASSOCIATION_FLAGS = frozenset(
    {
        "autokey",
        "burst",
        "iburst",
        "noselect",
        "noval",
        "nts",
        "preempt",
        "prefer",
        "true",
        "xleave",
        "xmtnonce",
    }
)

_ASSOCIATION_INTEGER_OPTIONS: Mapping[str, tuple[int, int]] = types.MappingProxyType(
    {
        "key": (1, MAX_KEY_ID),
        "version": (1, 4),
        "minpoll": (MINPOLL_LOG2, MAXPOLL_LOG2),
        "maxpoll": (MINPOLL_LOG2, MAXPOLL_LOG2),
        "ttl": (0, 255),
        "mode": (0, 2**32 - 1),
        "port": (1, 65535),
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AssociationDirective(Directive):
    """
    Base of the directives that create associations or make the daemon
    accept them (C{server}, C{peer}, C{pool}, C{broadcast},
    C{manycastclient}, C{broadcastclient}, C{multicastclient},
    C{manycastserver}). Whatever parser produced it, an instance lands in
    L{Configuration.associations}, so mode plugins can dispatch on
    L{directive}. A plugin may subclass it.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressedAssociationDirective(AssociationDirective):
    """
    An association with one remote address: C{server}, C{peer}, C{pool},
    C{broadcast}, C{manycastclient}.

    @ivar address: the IP address or host name as written (not resolved),
        or the C{127.127.t.u} pseudo-address of a reference clock.
    @ivar ipVersion: 4 or 6 when C{-4}/C{-6} forced the address family of
        the name resolution, else C{None}.
    @ivar key: the symmetric key identifier (1-65535) used to authenticate
        packets, or C{None}.
    @ivar version: the NTP version number sent (1-4).
    @ivar minPollLog2: the minimum poll interval, log2 seconds.
    @ivar maxPollLog2: the maximum poll interval, log2 seconds.
    @ivar ttl: the IP time-to-live (hops) for broadcast/manycast packets, or
        C{None}.
    @ivar mode: the reference clock driver mode, or C{None}.
    @ivar flags: the option flags given (C{iburst}, C{burst}, C{prefer},
        C{preempt}, C{true}, C{noselect}, C{xleave}, C{xmtnonce},
        C{autokey}).
    @ivar ident: the autokey group name (C{ident} option), or C{None}.
    @ivar isRefclock: whether L{address} is a C{127.127.t.u} reference clock
        address (only with C{server}).
    @ivar port: the remote UDP port (C{port N}, an extension that chrony
        also has; ntpd always uses 123).
    @ivar ntsCA: with C{nts}: the C{ca FILE} that verifies the NTS-KE
        server's certificate (C{None}: the system's CAs).
    @ivar ntsAEAD: with C{nts}: the C{aead NAME} preferred, or C{None}.
    """

    address: str
    ipVersion: int | None = None
    key: int | None = None
    version: int = 4
    minPollLog2: int = DEFAULT_MINPOLL_LOG2
    maxPollLog2: int = DEFAULT_MAXPOLL_LOG2
    ttl: int | None = None
    mode: int | None = None
    flags: frozenset[str] = frozenset()
    ident: str | None = None
    isRefclock: bool = False
    port: int = 123
    ntsCA: str | None = None
    ntsAEAD: str | None = None

    @property
    def nts(self) -> bool:
        """Whether the server is used with Network Time Security (C{nts})."""
        return "nts" in self.flags

    @property
    def iburst(self) -> bool:
        """Whether to send a burst of packets while the server is unreachable."""
        return "iburst" in self.flags

    @property
    def burst(self) -> bool:
        """Whether to send a burst of packets at each poll while reachable."""
        return "burst" in self.flags

    @property
    def prefer(self) -> bool:
        """Whether this source is preferred by the mitigation rules."""
        return "prefer" in self.flags

    @property
    def preempt(self) -> bool:
        """Whether the association may be demobilized (preemptable)."""
        return "preempt" in self.flags

    @property
    def noselect(self) -> bool:
        """Whether the source is only monitored, never selected."""
        return "noselect" in self.flags

    @property
    def truechimer(self) -> bool:
        """Whether the source is always a truechimer (the C{true} option)."""
        return "true" in self.flags

    @property
    def refclockType(self) -> int | None:
        """The driver type C{t} of a C{127.127.t.u} address, else C{None}."""
        if not self.isRefclock:
            return None
        return int(self.address.split(".")[2])

    @property
    def refclockUnit(self) -> int | None:
        """The unit C{u} of a C{127.127.t.u} address, else C{None}."""
        if not self.isRefclock:
            return None
        return int(self.address.split(".")[3])


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerDirective(AddressedAssociationDirective):
    """C{server}: a persistent client association (or a reference clock)."""

    directive: str = "server"


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerDirective(AddressedAssociationDirective):
    """C{peer}: a persistent symmetric active association."""

    directive: str = "peer"


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolDirective(AddressedAssociationDirective):
    """C{pool}: a pool of servers that mobilizes preemptable client associations."""

    directive: str = "pool"


@dataclass(frozen=True, slots=True, kw_only=True)
class BroadcastDirective(AddressedAssociationDirective):
    """C{broadcast}: send broadcast/multicast server packets to an address."""

    directive: str = "broadcast"


@dataclass(frozen=True, slots=True, kw_only=True)
class ManycastClientDirective(AddressedAssociationDirective):
    """C{manycastclient}: solicit manycast servers at a group address."""

    directive: str = "manycastclient"


@dataclass(frozen=True, slots=True, kw_only=True)
class BroadcastClientDirective(AssociationDirective):
    """
    C{broadcastclient}: accept broadcast server packets.

    @ivar novolley: skip the initial client/server volley (deprecated by
        ntpd, accepted for old files).
    """

    directive: str = "broadcastclient"
    novolley: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MulticastClientDirective(AssociationDirective):
    """
    C{multicastclient}: join multicast groups and accept their server packets.

    @ivar addresses: the groups (addresses or names, not resolved);
        L{DEFAULT_MULTICAST_GROUP} when the line named none.
    """

    directive: str = "multicastclient"
    addresses: tuple[str, ...] = (DEFAULT_MULTICAST_GROUP,)


@dataclass(frozen=True, slots=True, kw_only=True)
class ManycastServerDirective(AssociationDirective):
    """
    C{manycastserver}: answer manycast client solicitations sent to groups.

    @ivar addresses: the groups (at least one).
    """

    directive: str = "manycastserver"
    addresses: tuple[str, ...] = ()


_ADDRESSED_CLASSES: Mapping[str, type[AddressedAssociationDirective]] = (
    types.MappingProxyType(
        {
            "server": ServerDirective,
            "peer": PeerDirective,
            "pool": PoolDirective,
            "broadcast": BroadcastDirective,
            "manycastclient": ManycastClientDirective,
        }
    )
)


def parseAssociation(
    line: ConfigLine, source: SourceLocation
) -> AddressedAssociationDirective:
    """
    Parse C{server}, C{peer}, C{pool}, C{broadcast} or C{manycastclient}:
    C{DIRECTIVE [-4|-6] ADDRESS [options...]}.

    Plugins that take one of these directives over may call this to get the
    standard options parsed.

    @param line: the line; its C{directive} selects the result class.
    @param source: where it is.
    @return: a L{ServerDirective}, L{PeerDirective}, L{PoolDirective},
        L{BroadcastDirective} or L{ManycastClientDirective}.
    @raise ConfigError: on a missing address or a bad option.
    """
    directive = line.directive
    cls = _ADDRESSED_CLASSES.get(directive)
    if cls is None:
        raise ConfigError(source, f"{directive!r} is not an association directive")
    arguments = line.arguments
    index = 0
    ipVersion: int | None = None
    if arguments and arguments[0] in ("-4", "-6"):
        ipVersion = int(arguments[0][1])
        index = 1
    if index >= len(arguments):
        raise ConfigError(source, f"{directive} requires an address")
    address = arguments[index]
    index += 1
    if address.startswith("-"):
        raise ConfigError(source, f"{directive} requires an address, not {address!r}")
    isRefclock = refclockAddress(address, source)
    if isRefclock and directive != "server":
        raise ConfigError(
            source, f"reference clock address {address} can only be used with 'server'"
        )
    if not isRefclock:
        checkHost(address, source, directive, ipVersion)

    flags: set[str] = set()
    values: dict[str, int] = {}
    ident: str | None = None
    strings: dict[str, str] = {}
    while index < len(arguments):
        option = arguments[index]
        index += 1
        if option in _NTS_OPTIONS and directive != "server":
            raise ConfigError(source, f"unknown {directive} option {option!r}")
        if option in _ASSOCIATION_FLAGS:
            if option in flags:
                raise ConfigError(source, f"{directive} option {option!r} given twice")
            flags.add(option)
        elif option in _ASSOCIATION_INTEGER_OPTIONS:
            if option in values:
                raise ConfigError(source, f"{directive} option {option!r} given twice")
            low, high = _ASSOCIATION_INTEGER_OPTIONS[option]
            token = takeValue(arguments, index, option, source)
            values[option] = parseInteger(token, option, source, low, high)
            index += 1
        elif option == "ident":
            if ident is not None:
                raise ConfigError(source, f"{directive} option 'ident' given twice")
            ident = takeValue(arguments, index, option, source)
            index += 1
        elif option in ("ca", "aead"):
            if option in strings:
                raise ConfigError(source, f"{directive} option {option!r} given twice")
            strings[option] = takeValue(arguments, index, option, source)
            index += 1
        elif option in ("-4", "-6"):
            raise ConfigError(
                source, f"{option} must come before the {directive} address"
            )
        else:
            raise ConfigError(source, f"unknown {directive} option {option!r}")

    _checkNTSOptions(directive, flags, values, strings, isRefclock, source)
    minPoll = values.get("minpoll")
    maxPoll = values.get("maxpoll")
    if minPoll is not None and maxPoll is not None and minPoll > maxPoll:
        raise ConfigError(
            source, f"minpoll ({minPoll}) must not be greater than maxpoll ({maxPoll})"
        )
    # An explicit value wins over the other one's default, as in ntpd.
    if minPoll is None:
        minPoll = (
            DEFAULT_MINPOLL_LOG2
            if maxPoll is None
            else min(DEFAULT_MINPOLL_LOG2, maxPoll)
        )
    if maxPoll is None:
        maxPoll = max(DEFAULT_MAXPOLL_LOG2, minPoll)

    return cls(
        directive=directive,
        source=source,
        address=address,
        ipVersion=ipVersion,
        key=values.get("key"),
        version=values.get("version", 4),
        minPollLog2=minPoll,
        maxPollLog2=maxPoll,
        ttl=values.get("ttl"),
        mode=values.get("mode"),
        flags=frozenset(flags),
        ident=ident,
        isRefclock=isRefclock,
        port=values.get("port", 123),
        ntsCA=strings.get("ca"),
        ntsAEAD=strings.get("aead"),
    )


_NTS_OPTIONS = frozenset({"nts", "noval", "ca", "aead"})
"""NTPsec's NTS options, on C{server} lines only."""

_NTS_AEADS = ("AES_SIV_CMAC_256", "AES_SIV_CMAC_384", "AES_SIV_CMAC_512")


def _checkNTSOptions(
    directive: str,
    flags: set[str],
    values: dict[str, int],
    strings: dict[str, str],
    isRefclock: bool,
    source: SourceLocation,
) -> None:
    """
    Check NTPsec's NTS options of an association line: C{nts} (C{server}
    only, not with C{key}), and C{ca FILE}, C{aead NAME}, C{noval}, which
    need C{nts}.

    @raise ConfigError: for a misplaced or bad option.
    """
    if "nts" not in flags:
        for option in ("noval", "ca", "aead"):
            if option in flags or option in strings:
                raise ConfigError(source, f"{directive} option {option!r} needs 'nts'")
        return
    if isRefclock:
        raise ConfigError(source, "nts needs a network server, not a reference clock")
    if "key" in values:
        raise ConfigError(source, f"{directive}: nts and key cannot be used together")
    aead = strings.get("aead")
    if aead is not None and aead.upper() not in _NTS_AEADS:
        raise ConfigError(
            source, f"unknown aead {aead!r} (one of {', '.join(_NTS_AEADS)})"
        )


def _parseBroadcastClient(
    line: ConfigLine, source: SourceLocation
) -> BroadcastClientDirective:
    novolley = False
    for argument in line.arguments:
        if argument != "novolley":
            raise ConfigError(source, f"unknown broadcastclient option {argument!r}")
        novolley = True
    return BroadcastClientDirective(source=source, novolley=novolley)


def _groupAddresses(line: ConfigLine, source: SourceLocation) -> tuple[str, ...]:
    for address in line.arguments:
        checkHost(address, source, line.directive)
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        if not ip.is_multicast:
            raise ConfigError(
                source, f"{line.directive}: {address} is not a multicast address"
            )
    return line.arguments


def _parseMulticastClient(
    line: ConfigLine, source: SourceLocation
) -> MulticastClientDirective:
    addresses = _groupAddresses(line, source) or (DEFAULT_MULTICAST_GROUP,)
    return MulticastClientDirective(source=source, addresses=addresses)


def _parseManycastServer(
    line: ConfigLine, source: SourceLocation
) -> ManycastServerDirective:
    requireArguments(line, source, "at least one address")
    return ManycastServerDirective(
        source=source, addresses=_groupAddresses(line, source)
    )


PARSERS: Mapping[str, DirectiveParser] = types.MappingProxyType(
    {
        **{name: parseAssociation for name in _ADDRESSED_ASSOCIATION_DIRECTIVES},
        "broadcastclient": _parseBroadcastClient,
        "multicastclient": _parseMulticastClient,
        "manycastserver": _parseManycastServer,
    }
)
"""The association directives and their parsers."""
