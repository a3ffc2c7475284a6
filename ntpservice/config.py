# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The ntp.conf parser: ntpd's and NTPsec's configuration language turned into
typed, immutable, validated configuration objects.

Theory of operation
===================

A configuration file is a sequence of lines. C{#} starts a comment that runs
to the end of the line; blank lines are ignored; a line is a directive name
followed by arguments separated by whitespace. A double-quoted string is a
single argument (so a path may contain spaces). There is no line continuation:
ntpd has none, and a line that a mail client wrapped is an error here (ntpd
would log it and carry on; we refuse the whole file, see below).

C{includefile PATH} reads another file in place, relative to the directory of
the file that includes it; include loops and nesting deeper than
L{MAX_INCLUDE_DEPTH} are errors.

Every directive is parsed by a function found in a L{DirectiveRegistry}. The
function gets a L{ConfigLine} (the directive name and its arguments) and a
L{SourceLocation}, and returns an immutable object describing the line, or
raises L{ConfigError}. The built-in directives are registered in
L{defaultRegistry}; plugins register their own directives there (or take
over a built-in one with L{DirectiveRegistry.unregister} followed by
L{DirectiveRegistry.register}) without editing this module.

What a parser returns decides where it lands in the L{Configuration}:
instances of the built-in classes land in their typed fields (any
L{AssociationDirective}, whoever parsed it, lands in
L{Configuration.associations}, in file order), anything else lands in
L{Configuration.extra} as C{(directive, object)} pairs, in file order, and
C{None} is dropped.

Errors
======

The first error refuses the whole configuration: L{parseFile} and
L{parseString} either return a complete L{Configuration} or raise
L{ConfigError}, whose C{str()} is C{FILE:LINE: what is wrong}. Things ntpd
accepts but which are suspicious (a duplicate C{server} line, C{kod} without
C{limited}, autokey directives, ...) are not errors: they are recorded in
L{Configuration.warnings} as C{FILE:LINE: ...} strings.

This module reads files; it never opens sockets, resolves names or touches
the clock.

@see: ntp.conf(5) of ntpd 4.2.8 and of NTPsec.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import types
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

__all__ = [
    "AddressedAssociationDirective",
    "AssociationDirective",
    "AutokeyDirective",
    "BUILTIN_OWNER",
    "BroadcastClientDirective",
    "BroadcastDirective",
    "ConfigError",
    "ConfigLine",
    "Configuration",
    "DEFAULT_CONFIGURATION_FILENAME",
    "DEFAULT_CONFIGURATION_TEXT",
    "DEFAULT_DRIFTFILE_PATH",
    "DEFAULT_MAXPOLL_LOG2",
    "DEFAULT_MINPOLL_LOG2",
    "DEFAULT_MULTICAST_GROUP",
    "Directive",
    "DirectiveConflictError",
    "DirectiveParser",
    "DirectiveRegistry",
    "DiscardDirective",
    "DiscardSettings",
    "DriftfileDirective",
    "FilegenDirective",
    "InterfaceDirective",
    "LeapfileDirective",
    "LogconfigDirective",
    "MAX_INCLUDE_DEPTH",
    "MAXPOLL_LOG2",
    "MINPOLL_LOG2",
    "ManycastClientDirective",
    "ManycastServerDirective",
    "MruDirective",
    "MulticastClientDirective",
    "NumberDirective",
    "PathDirective",
    "PeerDirective",
    "PhoneDirective",
    "PoolDirective",
    "RESTRICT_FLAGS",
    "RefclockDirective",
    "RestrictDirective",
    "RlimitDirective",
    "STATISTICS_NAMES",
    "SWITCH_DEFAULTS",
    "ServerDirective",
    "SetvarDirective",
    "SourceLocation",
    "StatisticsDirective",
    "SwitchDirective",
    "TinkerDirective",
    "TinkerSettings",
    "TosDirective",
    "TosSettings",
    "TrapDirective",
    "TrustedKeyDirective",
    "defaultConfiguration",
    "defaultRegistry",
    "parseAssociation",
    "parseFile",
    "parseInteger",
    "parseNumber",
    "parseString",
]


# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

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

MAX_INCLUDE_DEPTH = 10
"""How deeply C{includefile} may nest (the main file is depth 0)."""

MAX_KEY_ID = 65535
"""The largest symmetric key identifier accepted (ntpd's NTP_MAXKEY)."""

BUILTIN_OWNER = "ntpservice"
"""The owner name under which the built-in directives are registered."""

DEFAULT_DRIFTFILE_PATH = "/var/lib/ntpservice/ntp.drift"
"""
The drift file of the built-in default configuration. The service may put
it into another directory when this one is not writable.
"""

DEFAULT_CONFIGURATION_FILENAME = "<built-in default>"
"""The pseudo-filename under which L{DEFAULT_CONFIGURATION_TEXT} is parsed."""

DEFAULT_CONFIGURATION_TEXT = f"""\
# Built-in default configuration of ntpservice, used when no configuration
# file was given with -c and /etc/ntp.conf does not exist.

# Time from the NTP pool; iburst makes the first synchronization fast.
pool pool.ntp.org iburst

# Serve time to everybody, rate-limited, but refuse queries, configuration
# changes and peering. Local users may query and configure.
restrict default kod limited nomodify nopeer noquery
restrict -6 default kod limited nomodify nopeer noquery
restrict 127.0.0.1
restrict ::1
# Our own servers: no rate limit on their replies (restrict applies to them
# too, as in ntpd).
restrict source nomodify nopeer noquery

driftfile {DEFAULT_DRIFTFILE_PATH}
"""
"""The built-in configuration, in ntp.conf syntax."""

RESTRICT_FLAGS = frozenset(
    {
        "flake",
        "ignore",
        "interface",
        "kod",
        "limited",
        "lowpriotrap",
        "mssntp",
        "noepeer",
        "nomodify",
        "nomrulist",
        "nopeer",
        "noquery",
        "noserve",
        "notrap",
        "notrust",
        "ntpport",
        "serverresponse fuzz",
        "version",
    }
)
"""
Every flag of ntpd's and NTPsec's C{restrict}. C{serverresponse fuzz} is
written as two words in the file and kept as this one string.
"""

STATISTICS_NAMES = frozenset(
    {
        "clockstats",
        "cryptostats",
        "loopstats",
        "peerstats",
        "protostats",
        "rawstats",
        "sysstats",
        "timingstats",
        "usestats",
    }
)
"""The statistics file generations of ntpd and NTPsec."""

SWITCH_DEFAULTS: Mapping[str, bool] = types.MappingProxyType(
    {
        "auth": True,
        "bclient": False,
        "calibrate": False,
        "kernel": True,
        "mode7": False,
        "monitor": True,
        "ntp": True,
        "stats": True,
        "peer_clear_digest_early": True,
        "unpeer_crypto_early": True,
        "unpeer_crypto_nak_early": True,
        "unpeer_digest_early": True,
    }
)
"""The built-in C{enable}/C{disable} flags and their defaults (ntpd's)."""

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

_FILEGEN_TYPES = frozenset({"none", "pid", "day", "week", "month", "year", "age"})

_INTERFACE_ACTIONS = frozenset({"listen", "ignore", "drop"})
_INTERFACE_CLASSES = frozenset({"all", "ipv4", "ipv6", "wildcard"})

_AUTOKEY_DIRECTIVES = ("crypto", "keysdir", "revoke", "automax")

_INTEGER_RE = re.compile(r"[+-]?[0-9]+\Z")
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_HOSTNAME_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(
    rf"(?=.{{1,253}}\.?\Z){_HOSTNAME_LABEL}(?:\.{_HOSTNAME_LABEL})*\.?\Z"
)
_NUMERIC_DOTTED_RE = re.compile(r"[0-9.]+\Z")
_REFCLOCK_RE = re.compile(r"127\.127\.([0-9]{1,3})\.([0-9]{1,3})\Z")
_LOGCONFIG_RE = re.compile(
    r"[=+-]?(?:all|clock|peer|sys|sync)(?:all|info|events|statistics|status)\Z"
)
_TRUSTEDKEY_ITEM_RE = re.compile(
    r"\s*(?:\(\s*([0-9]+)\s*\.\.\.\s*([0-9]+)\s*\)"  # (1 ... 10)
    r"|([0-9]+)\s*-\s*([0-9]+)"  # 1-10
    r"|([0-9]+))"  # 1
    r"(?=[\s(]|\Z)"
)
_WHITESPACE = " \t\r\v\f"


# ---------------------------------------------------------------------------
# Locations and errors
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """
    Where a directive was written.

    @ivar path: the file name, as given to the parser or as resolved for an
        included file (or a pseudo-filename such as C{<string>}).
    @ivar line: the 1-based line number; 0 means the file as a whole.
    """

    path: str
    line: int

    def __str__(self) -> str:
        if self.line == 0:
            return self.path
        return f"{self.path}:{self.line}"


class ConfigError(Exception):
    """
    A configuration was refused.

    C{str()} of the exception is C{FILE:LINE: what is wrong} (just
    C{FILE: what is wrong} when the file itself could not be read).

    @ivar source: where the error is (a L{SourceLocation}).
    @ivar message: what is wrong, without the location.
    """

    def __init__(self, source: SourceLocation, message: str) -> None:
        super().__init__(source, message)
        self.source = source
        self.message = message

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


class DirectiveConflictError(ValueError):
    """
    A directive (or an C{enable}/C{disable} switch) was registered by two
    different owners.
    """


# ---------------------------------------------------------------------------
# Directive objects
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigLine:
    """
    One tokenized configuration line, as handed to a directive parser.

    @ivar directive: the first word of the line (C{"server"}).
    @ivar arguments: the other words, comments removed, quotes removed from
        quoted strings.
    @ivar source: where the line is.
    """

    directive: str
    arguments: tuple[str, ...]
    source: SourceLocation


DirectiveParser = Callable[[ConfigLine, SourceLocation], object]
"""
A directive parser: C{parser(line, source)} returns an immutable object
describing the line (or C{None}), or raises L{ConfigError}.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Directive:
    """
    Base of every parsed directive.

    @ivar directive: the directive name as written (C{"server"}, C{"nic"}).
    @ivar source: where it was written.
    """

    directive: str
    source: SourceLocation


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RestrictDirective(Directive):
    """
    C{restrict}, C{unrestrict} (NTPsec: clear flags) or C{delrestrict}
    (ntpd: remove an entry).

    @ivar address: C{"default"}, C{"source"}, an IP address or a host name
        (as written, not resolved; without the C{/prefix}).
    @ivar ipVersion: 4 or 6 from C{-4}/C{-6}; C{None} otherwise (for
        C{default} that means both families).
    @ivar mask: the C{mask} argument (an address), or C{None}.
    @ivar prefixLength: the bits of an C{address/prefix} written address
        (NTPsec), or C{None}.
    @ivar ippeerlimit: ntpd's C{ippeerlimit} (-1 to 100), or C{None}.
    @ivar flags: the restriction flags (see L{RESTRICT_FLAGS}); for
        C{delrestrict source ADDRESS} it is C{{"source"}}.
    """

    address: str
    ipVersion: int | None = None
    mask: str | None = None
    prefixLength: int | None = None
    ippeerlimit: int | None = None
    flags: frozenset[str] = frozenset()

    @property
    def isDefault(self) -> bool:
        """Whether this is the default entry."""
        return self.address == "default"

    @property
    def isSource(self) -> bool:
        """Whether this is the C{restrict source} template for associations."""
        return self.address == "source"


@dataclass(frozen=True, slots=True, kw_only=True)
class InterfaceDirective(Directive):
    """
    C{interface} or C{nic}: which local addresses to listen on.

    @ivar action: C{listen}, C{ignore} or C{drop}.
    @ivar match: the second argument as written.
    @ivar kind: C{all}, C{ipv4}, C{ipv6}, C{wildcard}, C{name} (an
        interface name) or C{address}.
    @ivar address: the address for kind C{address} (without prefix).
    @ivar prefixLength: the prefix length in bits for kind C{address}
        (the full address length when none was written).
    """

    action: str
    match: str
    kind: str
    address: str | None = None
    prefixLength: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchDirective(Directive):
    """
    C{enable} or C{disable}.

    @ivar names: the flags (or plugin names) switched.
    """

    names: tuple[str, ...]

    @property
    def enabled(self) -> bool:
        """C{True} for C{enable}, C{False} for C{disable}."""
        return self.directive == "enable"


@dataclass(frozen=True, slots=True, kw_only=True)
class PathDirective(Directive):
    """
    A directive whose one argument is a path: C{keys}, C{statsdir},
    C{logfile}, C{saveconfigdir}, C{pidfile}.

    @ivar path: the path as written.
    """

    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NumberDirective(Directive):
    """
    A directive whose one argument is a number: C{requestkey},
    C{controlkey} (key identifiers), C{broadcastdelay} (seconds),
    C{nonvolatile} (seconds per second), C{dscp} (a DSCP code point).

    @ivar value: the value (an C{int} for integer directives).
    """

    value: int | float


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftfileDirective(Directive):
    """
    C{driftfile PATH [tolerance]}.

    @ivar path: the drift file path as written.
    @ivar tolerance: ntpd's deprecated wander threshold, seconds per second,
        or C{None}.
    """

    directive: str = "driftfile"
    path: str
    tolerance: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeapfileDirective(Directive):
    """
    C{leapfile PATH [checkhash|ignorehash]}.

    @ivar path: the leap seconds file as written.
    @ivar checkHash: whether the file's hash must be verified (default).
    """

    directive: str = "leapfile"
    path: str
    checkHash: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedKeyDirective(Directive):
    """
    C{trustedkey}: key identifiers trusted for authentication.

    @ivar keys: the identifiers, ranges expanded.
    """

    directive: str = "trustedkey"
    keys: frozenset[int]


@dataclass(frozen=True, slots=True, kw_only=True)
class TosDirective(Directive):
    """
    C{tos}: selection, clustering and orphan parameters.

    @ivar options: C{(name, value)} pairs in line order (see L{TosSettings}
        for names and units).
    """

    directive: str = "tos"
    options: tuple[tuple[str, int | float | str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TinkerDirective(Directive):
    """
    C{tinker}: clock discipline parameters.

    @ivar options: C{(name, value)} pairs in line order (see
        L{TinkerSettings} for names and units).
    """

    directive: str = "tinker"
    options: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StatisticsDirective(Directive):
    """
    C{statistics}: statistics files to write.

    @ivar names: the file generations (see L{STATISTICS_NAMES}).
    """

    directive: str = "statistics"
    names: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class FilegenDirective(Directive):
    """
    C{filegen NAME [file F] [type T] [link|nolink] [enable|disable]}.

    @ivar name: the statistics file generation.
    @ivar file: the file name prefix (default: L{name}).
    @ivar type: how files are split: C{none}, C{pid}, C{day} (default),
        C{week}, C{month}, C{year}, C{age}.
    @ivar link: whether the current file is linked to the plain name.
    @ivar enabled: whether the statistics are written (a filegen line
        enables them unless it says C{disable}).
    """

    directive: str = "filegen"
    name: str
    file: str
    type: str = "day"
    link: bool = True
    enabled: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class LogconfigDirective(Directive):
    """
    C{logconfig}: syslog message classes.

    @ivar items: the keywords as written (C{=syncstatus}, C{+sysevents}).
    """

    directive: str = "logconfig"
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscardDirective(Directive):
    """
    C{discard}: rate limits for C{limited} (see L{DiscardSettings}).

    @ivar average: minimum average packet spacing, log2 seconds, or C{None}.
    @ivar minimum: minimum packet spacing, seconds, or C{None}.
    @ivar monitor: MRU monitor parameter, or C{None}.
    """

    directive: str = "discard"
    average: int | None = None
    minimum: int | None = None
    monitor: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MruDirective(Directive):
    """
    C{mru}: limits of the most-recently-used client list.

    @ivar options: C{(name, value)} pairs: C{maxage}/C{minage} seconds,
        C{maxdepth}/C{mindepth}/C{initalloc}/C{incalloc} entries,
        C{maxmem}/C{initmem}/C{incmem} kilobytes.
    """

    directive: str = "mru"
    options: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RlimitDirective(Directive):
    """
    C{rlimit}: process resource limits.

    @ivar options: C{(name, value)} pairs: C{memlock} megabytes,
        C{stacksize} 4 KiB pages, C{filenum} descriptors.
    """

    directive: str = "rlimit"
    options: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RefclockDirective(Directive):
    """
    C{fudge} (ntpd) or C{refclock} (NTPsec): reference clock options, kept
    as tokens for the reference clock plugins to interpret.

    @ivar target: the C{127.127.t.u} address (C{fudge}) or the driver name
        (C{refclock}).
    @ivar arguments: the remaining tokens.
    """

    target: str
    arguments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SetvarDirective(Directive):
    """
    C{setvar NAME = VALUE [default]}: an extra system variable for ntpq.

    @ivar name: the variable name.
    @ivar value: its value.
    @ivar isDefault: whether it is listed among the default variables.
    """

    directive: str = "setvar"
    name: str
    value: str
    isDefault: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TrapDirective(Directive):
    """
    C{trap ADDRESS [port N] [interface ADDRESS]}: a mode 6 trap receiver.

    @ivar address: the receiver.
    @ivar port: its UDP port, or C{None} (the default, 18447).
    @ivar interface: the local address to send from, or C{None}.
    """

    directive: str = "trap"
    address: str
    port: int | None = None
    interface: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneDirective(Directive):
    """
    C{phone}: numbers dialed by modem reference clocks.

    @ivar numbers: the numbers as written.
    """

    directive: str = "phone"
    numbers: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AutokeyDirective(Directive):
    """
    An autokey directive (C{crypto}, C{keysdir}, C{revoke}, C{automax}).
    Autokey is not supported: these are accepted, recorded and ignored.

    @ivar arguments: the tokens as written.
    """

    arguments: tuple[str, ...] = ()


# ---------------------------------------------------------------------------
# Merged settings
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TosSettings:
    """
    The C{tos} values in effect (defaults, overridden by C{tos} lines).

    @ivar beacon: manycast/pool beacon interval, seconds.
    @ivar ceiling: stratum limit for acceptable servers.
    @ivar cohort: whether servers at our own stratum are acceptable.
    @ivar floor: lowest stratum acceptable.
    @ivar maxclock: most associations kept by server discovery.
    @ivar maxdist: synchronization distance threshold, seconds.
    @ivar maxdisp: maximum dispersion, seconds (NTPsec).
    @ivar minclock: fewest survivors kept by the cluster algorithm.
    @ivar mindist: minimum distance for selection, seconds.
    @ivar minsane: fewest truechimers needed to set the clock.
    @ivar orphan: orphan stratum (16: orphan mode off).
    @ivar orphanwait: delay before becoming an orphan parent, seconds.
    @ivar bcpollbstep: broadcast client poll backstep gate, poll intervals.
    @ivar basedate: the era base date (C{YYYY-MM-DD}), or C{None}.
    """

    beacon: int = 3600
    ceiling: int = 15
    cohort: int = 0
    floor: int = 1
    maxclock: int = 10
    maxdist: float = 1.5
    maxdisp: float = 16.0
    minclock: int = 3
    mindist: float = 0.001
    minsane: int = 1
    orphan: int = 16
    orphanwait: int = 300
    bcpollbstep: int = 0
    basedate: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TinkerSettings:
    """
    The C{tinker} values in effect (defaults, overridden by C{tinker} lines).

    @ivar allan: minimum Allan intercept, log2 seconds.
    @ivar dispersion: dispersion increase rate, seconds per second.
    @ivar freq: initial frequency offset, PPM, or C{None} (use the drift
        file).
    @ivar huffpuff: huff-n'-puff filter span, seconds, or C{None} (off).
    @ivar panic: panic threshold, seconds (0: no panic check).
    @ivar step: step threshold, seconds (0: never step).
    @ivar stepback: backward step threshold, seconds, or C{None} (same as
        L{step}).
    @ivar stepfwd: forward step threshold, seconds, or C{None} (same as
        L{step}).
    @ivar stepout: stepout (wait before stepping) interval, seconds.
    @ivar tick: clock reading cost/resolution, seconds, or C{None}
        (measured).
    """

    allan: float = 11.0
    dispersion: float = 15e-6
    freq: float | None = None
    huffpuff: float | None = None
    panic: float = 1000.0
    step: float = 0.125
    stepback: float | None = None
    stepfwd: float | None = None
    stepout: float = 900.0
    tick: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscardSettings:
    """
    The C{discard} values in effect.

    @ivar average: minimum average packet spacing, log2 seconds.
    @ivar minimum: minimum packet spacing, seconds.
    @ivar monitor: MRU monitor parameter (ntpd's C{mon_age}, seconds).
    """

    average: int = 3
    minimum: int = 2
    monitor: int = 3000


# ---------------------------------------------------------------------------
# The configuration
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Configuration:
    """
    A whole, validated configuration. Immutable; every item carries its
    L{SourceLocation}.

    The daemon currently acts on server-side answering, the drift file
    location, C{disable ntp} (L{clockAdjust}) and C{interface}; the rest is
    parsed and validated for later releases.

    @ivar associations: the association directives (L{AssociationDirective}
        instances), in file order, duplicate lines removed.
    @ivar restrictions: C{restrict}/C{unrestrict}/C{delrestrict} lines, in
        order.
    @ivar interfaces: C{interface}/C{nic} rules, in order.
    @ivar switchDirectives: C{enable}/C{disable} lines, in order (see
        L{isEnabled}).
    @ivar driftfile: the C{driftfile} line, or C{None}.
    @ivar leapfile: the C{leapfile} line, or C{None}.
    @ivar keys: the C{keys} line (L{PathDirective}), or C{None}.
    @ivar trustedKeyDirectives: C{trustedkey} lines (see L{trustedKeys}).
    @ivar requestKey: the C{requestkey} line (L{NumberDirective}) or C{None}.
    @ivar controlKey: the C{controlkey} line (L{NumberDirective}) or C{None}.
    @ivar tosDirectives: C{tos} lines (see L{tos}).
    @ivar tinkerDirectives: C{tinker} lines (see L{tinker}).
    @ivar statisticsDirectives: C{statistics} lines (see L{statistics}).
    @ivar statsdir: the C{statsdir} line or C{None}.
    @ivar filegens: C{filegen} lines.
    @ivar logfile: the C{logfile} line or C{None}.
    @ivar logconfigDirectives: C{logconfig} lines.
    @ivar broadcastDelay: the C{broadcastdelay} line or C{None}.
    @ivar discardDirectives: C{discard} lines (see L{discard}).
    @ivar mruDirectives: C{mru} lines (see L{mru}).
    @ivar rlimitDirectives: C{rlimit} lines.
    @ivar refclocks: C{fudge}/C{refclock} lines.
    @ivar setvars: C{setvar} lines.
    @ivar traps: C{trap} lines.
    @ivar phones: C{phone} lines.
    @ivar saveconfigdir: the C{saveconfigdir} line or C{None}.
    @ivar pidfile: the C{pidfile} line or C{None}.
    @ivar nonvolatile: the C{nonvolatile} line or C{None}.
    @ivar dscp: the C{dscp} line or C{None}.
    @ivar autokey: the autokey lines (accepted and ignored).
    @ivar extra: C{(directive, object)} for every plugin result that is
        not a built-in directive type, in file order.
    @ivar warnings: C{FILE:LINE: message} for everything suspicious that
        was accepted (duplicates dropped, overridden settings, ...).
    @ivar files: every file read (the main one first, then includes in the
        order they were read).
    """

    associations: tuple[AssociationDirective, ...] = ()
    restrictions: tuple[RestrictDirective, ...] = ()
    interfaces: tuple[InterfaceDirective, ...] = ()
    switchDirectives: tuple[SwitchDirective, ...] = ()
    driftfile: DriftfileDirective | None = None
    leapfile: LeapfileDirective | None = None
    keys: PathDirective | None = None
    trustedKeyDirectives: tuple[TrustedKeyDirective, ...] = ()
    requestKey: NumberDirective | None = None
    controlKey: NumberDirective | None = None
    tosDirectives: tuple[TosDirective, ...] = ()
    tinkerDirectives: tuple[TinkerDirective, ...] = ()
    statisticsDirectives: tuple[StatisticsDirective, ...] = ()
    statsdir: PathDirective | None = None
    filegens: tuple[FilegenDirective, ...] = ()
    logfile: PathDirective | None = None
    logconfigDirectives: tuple[LogconfigDirective, ...] = ()
    broadcastDelay: NumberDirective | None = None
    discardDirectives: tuple[DiscardDirective, ...] = ()
    mruDirectives: tuple[MruDirective, ...] = ()
    rlimitDirectives: tuple[RlimitDirective, ...] = ()
    refclocks: tuple[RefclockDirective, ...] = ()
    setvars: tuple[SetvarDirective, ...] = ()
    traps: tuple[TrapDirective, ...] = ()
    phones: tuple[PhoneDirective, ...] = ()
    saveconfigdir: PathDirective | None = None
    pidfile: PathDirective | None = None
    nonvolatile: NumberDirective | None = None
    dscp: NumberDirective | None = None
    autokey: tuple[AutokeyDirective, ...] = ()
    extra: tuple[tuple[str, object], ...] = ()
    warnings: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def isEnabled(self, name: str, default: bool | None = None) -> bool:
        """
        Whether an C{enable}/C{disable} flag (or plugin name) is on.

        @param name: the flag (C{"ntp"}, C{"monitor"}) or plugin name.
        @param default: the value when no line mentions C{name}; C{None}
            means the built-in default of L{SWITCH_DEFAULTS}, or C{True} for
            a name that is not built in (plugins are on unless disabled).
        @return: the state set by the last line naming it.
        """
        state: bool | None = None
        for switch in self.switchDirectives:
            if name in switch.names:
                state = switch.enabled
        if state is not None:
            return state
        if default is not None:
            return default
        return SWITCH_DEFAULTS.get(name, True)

    @property
    def clockAdjust(self) -> bool:
        """
        Whether the daemon may adjust the system clock: C{False} after
        C{disable ntp} (the daemon then uses the no-adjust clock driver).
        """
        return self.isEnabled("ntp")

    @property
    def driftfilePath(self) -> str | None:
        """The drift file path, or C{None} when there is no C{driftfile}."""
        return None if self.driftfile is None else self.driftfile.path

    @property
    def trustedKeys(self) -> frozenset[int]:
        """Every key identifier named by any C{trustedkey} line."""
        keys: set[int] = set()
        for directive in self.trustedKeyDirectives:
            keys |= directive.keys
        return frozenset(keys)

    @property
    def statistics(self) -> frozenset[str]:
        """
        The statistics to write: those named by C{statistics} lines, then
        changed by C{filegen} lines in order (C{enable}, the default, adds
        one; C{disable} removes it), as ntpd applies them.
        """
        enabled: set[str] = set()
        for directive in self.statisticsDirectives:
            enabled |= directive.names
        for filegen in self.filegens:
            if filegen.enabled:
                enabled.add(filegen.name)
            else:
                enabled.discard(filegen.name)
        return frozenset(enabled)

    @property
    def tos(self) -> TosSettings:
        """The C{tos} settings in effect (the last value of each wins)."""
        values: dict[str, object] = {}
        for directive in self.tosDirectives:
            values.update(directive.options)
        return TosSettings(**values)  # type: ignore[arg-type]

    @property
    def tinker(self) -> TinkerSettings:
        """The C{tinker} settings in effect (the last value of each wins)."""
        values: dict[str, float] = {}
        for directive in self.tinkerDirectives:
            values.update(directive.options)
        return TinkerSettings(**values)  # type: ignore[arg-type]

    @property
    def discard(self) -> DiscardSettings:
        """The C{discard} settings in effect (the last value of each wins)."""
        values: dict[str, int] = {}
        for directive in self.discardDirectives:
            for name in ("average", "minimum", "monitor"):
                value = getattr(directive, name)
                if value is not None:
                    values[name] = value
        return DiscardSettings(**values)

    @property
    def mru(self) -> Mapping[str, int]:
        """The C{mru} options given (the last value of each wins)."""
        values: dict[str, int] = {}
        for directive in self.mruDirectives:
            values.update(directive.options)
        return types.MappingProxyType(values)

    @property
    def logconfig(self) -> tuple[str, ...]:
        """Every C{logconfig} keyword, in order."""
        return tuple(item for d in self.logconfigDirectives for item in d.items)

    @property
    def disciplineAlgorithm(self) -> str:
        """
        The clock-discipline loop: the last C{discipline} line's, else
        C{kalman}.
        """
        algorithm = "kalman"
        for name, item in self.extra:
            if isinstance(item, DisciplineDirective):
                algorithm = item.algorithm
        return algorithm

    def associationsFor(self, directive: str) -> tuple[AssociationDirective, ...]:
        """
        The associations of one directive.

        @param directive: C{"server"}, C{"pool"}, ...
        @return: those of L{associations} whose C{directive} it is, in order.
        """
        return tuple(a for a in self.associations if a.directive == directive)


# ---------------------------------------------------------------------------
# Argument helpers (public so that plugin parsers validate the same way)
# ---------------------------------------------------------------------------


def _describeRange(
    name: str, low: int | float | None, high: int | float | None, token: str
) -> str:
    if low is not None and high is not None:
        return (
            f"{name} must be between {_formatNumber(low)} and "
            f"{_formatNumber(high)}, not {token}"
        )
    if low is not None:
        return f"{name} must be at least {_formatNumber(low)}, not {token}"
    return f"{name} must be at most {_formatNumber(high)}, not {token}"


def _formatNumber(value: int | float | None) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parseInteger(
    token: str,
    name: str,
    source: SourceLocation,
    low: int | None = None,
    high: int | None = None,
) -> int:
    """
    Parse a decimal integer argument.

    @param token: the argument as written.
    @param name: what it is, for the error message (C{"minpoll"}).
    @param source: where it is.
    @param low: the smallest value accepted, or C{None}.
    @param high: the largest value accepted, or C{None}.
    @return: the value.
    @raise ConfigError: C{minpoll must be between 3 and 17, not 40}.
    """
    if not _INTEGER_RE.match(token):
        raise ConfigError(source, f"{name} must be an integer, not {token!r}")
    value = int(token)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(source, _describeRange(name, low, high, token))
    return value


def parseNumber(
    token: str,
    name: str,
    source: SourceLocation,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """
    Parse a decimal number argument (C{1}, C{0.128}, C{1e-7}).

    @param token: the argument as written.
    @param name: what it is, for the error message.
    @param source: where it is.
    @param low: the smallest value accepted, or C{None}.
    @param high: the largest value accepted, or C{None}.
    @return: the value.
    @raise ConfigError: when C{token} is not a number or out of range.
    """
    if not _NUMBER_RE.match(token):
        raise ConfigError(source, f"{name} must be a number, not {token!r}")
    value = float(token)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(source, _describeRange(name, low, high, token))
    return value


def _checkHost(
    address: str, source: SourceLocation, what: str, ipVersion: int | None = None
) -> None:
    """
    Check that C{address} is an IP address or a syntactically valid host
    name (no DNS lookup), of the family C{ipVersion} if given.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        if _NUMERIC_DOTTED_RE.match(address):
            raise ConfigError(
                source, f"{what}: {address!r} is not a valid IPv4 address"
            )
        if not _HOSTNAME_RE.match(address):
            raise ConfigError(
                source, f"{what}: {address!r} is not a valid address or host name"
            )
        return
    if ipVersion is not None and ip.version != ipVersion:
        raise ConfigError(source, f"{what}: {address} is not an IPv{ipVersion} address")


def _refclockAddress(address: str, source: SourceLocation) -> bool:
    """
    Whether C{address} is a C{127.127.t.u} reference clock address.

    @raise ConfigError: when it has that form with C{t} or C{u} over 255.
    """
    match = _REFCLOCK_RE.match(address)
    if match is None:
        return False
    if int(match.group(1)) > 255 or int(match.group(2)) > 255:
        raise ConfigError(source, f"{address!r} is not a valid reference clock address")
    return True


def _takeValue(
    arguments: tuple[str, ...], index: int, name: str, source: SourceLocation
) -> str:
    if index >= len(arguments):
        raise ConfigError(source, f"{name} requires a value")
    return arguments[index]


def _requireArguments(line: ConfigLine, source: SourceLocation, what: str) -> None:
    if not line.arguments:
        raise ConfigError(source, f"{line.directive} requires {what}")


def _onlyArgument(line: ConfigLine, source: SourceLocation, what: str) -> str:
    """
    The single argument of C{line}.

    @param what: what it is, with its article (C{"a path"}).
    """
    _requireArguments(line, source, what)
    if len(line.arguments) > 1:
        noun = what.split(" ", 1)[-1]
        raise ConfigError(
            source,
            f"unexpected argument {line.arguments[1]!r} "
            f"after the {line.directive} {noun}",
        )
    return line.arguments[0]


def _keywordPairs(
    line: ConfigLine, source: SourceLocation, known: Iterable[str]
) -> list[tuple[str, str]]:
    """
    Split C{keyword value keyword value ...} arguments, rejecting unknown or
    repeated keywords and missing values.
    """
    known = frozenset(known)
    _requireArguments(line, source, "at least one option")
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    arguments = line.arguments
    index = 0
    while index < len(arguments):
        keyword = arguments[index]
        if keyword not in known:
            raise ConfigError(source, f"unknown {line.directive} option {keyword!r}")
        if keyword in seen:
            raise ConfigError(
                source, f"{line.directive} option {keyword!r} given twice"
            )
        seen.add(keyword)
        pairs.append((keyword, _takeValue(arguments, index + 1, keyword, source)))
        index += 2
    return pairs


# ---------------------------------------------------------------------------
# Built-in directive parsers
# ---------------------------------------------------------------------------

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
    isRefclock = _refclockAddress(address, source)
    if isRefclock and directive != "server":
        raise ConfigError(
            source, f"reference clock address {address} can only be used with 'server'"
        )
    if not isRefclock:
        _checkHost(address, source, directive, ipVersion)

    flags: set[str] = set()
    values: dict[str, int] = {}
    ident: str | None = None
    while index < len(arguments):
        option = arguments[index]
        index += 1
        if option in _ASSOCIATION_FLAGS:
            if option in flags:
                raise ConfigError(source, f"{directive} option {option!r} given twice")
            flags.add(option)
        elif option in _ASSOCIATION_INTEGER_OPTIONS:
            if option in values:
                raise ConfigError(source, f"{directive} option {option!r} given twice")
            low, high = _ASSOCIATION_INTEGER_OPTIONS[option]
            token = _takeValue(arguments, index, option, source)
            values[option] = parseInteger(token, option, source, low, high)
            index += 1
        elif option == "ident":
            if ident is not None:
                raise ConfigError(source, f"{directive} option 'ident' given twice")
            ident = _takeValue(arguments, index, option, source)
            index += 1
        elif option in ("-4", "-6"):
            raise ConfigError(
                source, f"{option} must come before the {directive} address"
            )
        else:
            raise ConfigError(source, f"unknown {directive} option {option!r}")

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
        _checkHost(address, source, line.directive)
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
    _requireArguments(line, source, "at least one address")
    return ManycastServerDirective(
        source=source, addresses=_groupAddresses(line, source)
    )


def _parseMask(mask: str, source: SourceLocation, family: int | None) -> None:
    try:
        ip = ipaddress.ip_address(mask)
    except ValueError:
        raise ConfigError(source, f"mask {mask!r} is not an address") from None
    if family is not None and ip.version != family:
        raise ConfigError(source, f"mask {mask} is not an IPv{family} address")


def _parseRestrict(line: ConfigLine, source: SourceLocation) -> RestrictDirective:
    """
    C{restrict [-4|-6] default|source|ADDRESS[/PREFIX] [mask MASK]
    [ippeerlimit N] [flags...]}, also C{unrestrict}, and
    C{delrestrict [source] ADDRESS [mask MASK]}.
    """
    directive = line.directive
    arguments = line.arguments
    index = 0
    ipVersion: int | None = None
    if arguments and arguments[0] in ("-4", "-6"):
        ipVersion = int(arguments[0][1])
        index = 1
    sourceEntry = False
    if (
        directive == "delrestrict"
        and index < len(arguments)
        and arguments[index] == "source"
    ):
        if ipVersion is not None:
            raise ConfigError(
                source, f"{arguments[0]} cannot be used with 'delrestrict source'"
            )
        sourceEntry = True
        index += 1
    if index >= len(arguments):
        raise ConfigError(source, f"{directive} requires an address")
    written = arguments[index]
    index += 1
    if written.startswith("-"):
        raise ConfigError(source, f"{directive} requires an address, not {written!r}")

    address = written
    prefixLength: int | None = None
    family: int | None = ipVersion
    if written in ("default", "source") and not sourceEntry:
        if directive == "delrestrict":
            raise ConfigError(source, f"delrestrict cannot remove the {written} entry")
        if written == "source" and ipVersion is not None:
            raise ConfigError(
                source, f"{arguments[0]} cannot be used with '{directive} source'"
            )
    elif "/" in written:
        address, _, bits = written.partition("/")
        try:
            network = ipaddress.ip_network(address)
        except ValueError:
            raise ConfigError(
                source,
                f"{directive}: {written!r} is not an address with a prefix length",
            ) from None
        if ipVersion is not None and network.version != ipVersion:
            raise ConfigError(
                source, f"{directive}: {address} is not an IPv{ipVersion} address"
            )
        family = network.version
        prefixLength = parseInteger(
            bits, "prefix length", source, 0, network.max_prefixlen
        )
    else:
        _checkHost(written, source, directive, ipVersion)
        try:
            family = ipaddress.ip_address(written).version
        except ValueError:
            pass

    mask: str | None = None
    ippeerlimit: int | None = None
    flags: set[str] = {"source"} if sourceEntry else set()
    while index < len(arguments):
        word = arguments[index]
        index += 1
        if word == "mask":
            if mask is not None:
                raise ConfigError(source, f"{directive} option 'mask' given twice")
            if address in ("default", "source") and not sourceEntry:
                raise ConfigError(source, f"a mask cannot be used with '{address}'")
            if prefixLength is not None:
                raise ConfigError(
                    source, "give either a prefix length or a mask, not both"
                )
            mask = _takeValue(arguments, index, "mask", source)
            index += 1
            _parseMask(mask, source, family)
        elif directive == "delrestrict":
            raise ConfigError(source, f"unknown delrestrict option {word!r}")
        elif word == "ippeerlimit":
            if ippeerlimit is not None:
                raise ConfigError(
                    source, f"{directive} option 'ippeerlimit' given twice"
                )
            token = _takeValue(arguments, index, word, source)
            ippeerlimit = parseInteger(token, word, source, -1, 100)
            index += 1
        elif word == "serverresponse":
            if index >= len(arguments) or arguments[index] != "fuzz":
                raise ConfigError(source, "'serverresponse' must be followed by 'fuzz'")
            index += 1
            flags.add("serverresponse fuzz")
        elif word in RESTRICT_FLAGS:
            flags.add(word)
        else:
            raise ConfigError(source, f"unknown {directive} flag {word!r}")

    return RestrictDirective(
        directive=directive,
        source=source,
        address=address,
        ipVersion=ipVersion,
        mask=mask,
        prefixLength=prefixLength,
        ippeerlimit=ippeerlimit,
        flags=frozenset(flags),
    )


def _parseInterface(line: ConfigLine, source: SourceLocation) -> InterfaceDirective:
    """
    C{interface|nic listen|ignore|drop all|ipv4|ipv6|wildcard|NAME|ADDRESS[/PREFIX]}.
    """
    directive = line.directive
    if len(line.arguments) != 2:
        raise ConfigError(
            source,
            f"{directive} requires an action (listen, ignore, drop) and an address, "
            "interface name or class (all, ipv4, ipv6, wildcard)",
        )
    action, match = line.arguments
    if action not in _INTERFACE_ACTIONS:
        raise ConfigError(
            source,
            f"unknown {directive} action {action!r} (use listen, ignore or drop)",
        )
    if match in _INTERFACE_CLASSES:
        return InterfaceDirective(
            directive=directive, source=source, action=action, match=match, kind=match
        )
    if "/" in match:
        address, _, bits = match.partition("/")
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(
                source, f"{directive}: {match!r} is not an address with a prefix length"
            ) from None
        prefixLength = parseInteger(bits, "prefix length", source, 0, ip.max_prefixlen)
        return InterfaceDirective(
            directive=directive,
            source=source,
            action=action,
            match=match,
            kind="address",
            address=address,
            prefixLength=prefixLength,
        )
    try:
        ip = ipaddress.ip_address(match)
    except ValueError:
        return InterfaceDirective(
            directive=directive, source=source, action=action, match=match, kind="name"
        )
    return InterfaceDirective(
        directive=directive,
        source=source,
        action=action,
        match=match,
        kind="address",
        address=match,
        prefixLength=ip.max_prefixlen,
    )


def _parseSwitch(line: ConfigLine, source: SourceLocation) -> SwitchDirective:
    """
    C{enable|disable NAME...}. The names are checked against the registry's
    switches by the parser loop (which knows the registry).
    """
    _requireArguments(line, source, "at least one flag")
    return SwitchDirective(
        directive=line.directive, source=source, names=line.arguments
    )


def _parsePath(line: ConfigLine, source: SourceLocation) -> PathDirective:
    return PathDirective(
        directive=line.directive,
        source=source,
        path=_onlyArgument(line, source, "a path"),
    )


def _parseDriftfile(line: ConfigLine, source: SourceLocation) -> DriftfileDirective:
    _requireArguments(line, source, "a path")
    if len(line.arguments) > 2:
        raise ConfigError(
            source, f"unexpected argument {line.arguments[2]!r} after the tolerance"
        )
    tolerance: float | None = None
    if len(line.arguments) == 2:
        tolerance = parseNumber(line.arguments[1], "driftfile tolerance", source, 0.0)
    return DriftfileDirective(
        source=source, path=line.arguments[0], tolerance=tolerance
    )


DISCIPLINE_ALGORITHMS = ("kalman", "rfc5905")
"""The clock-discipline loops the C{discipline} directive may name."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DisciplineDirective(Directive):
    """
    C{discipline kalman|rfc5905} (ntpservice's own): which clock-discipline
    loop runs. C{kalman} (the default) estimates phase and frequency with a
    Kalman filter; C{rfc5905} is RFC 5905's hybrid PLL/FLL, as ntpd runs it.

    @ivar algorithm: one of L{DISCIPLINE_ALGORITHMS}.
    """

    directive: str = "discipline"
    algorithm: str


def _parseDiscipline(line: ConfigLine, source: SourceLocation) -> DisciplineDirective:
    algorithm = _onlyArgument(line, source, "kalman or rfc5905")
    if algorithm not in DISCIPLINE_ALGORITHMS:
        raise ConfigError(
            source,
            f"discipline must be one of {', '.join(DISCIPLINE_ALGORITHMS)}, "
            f"not {algorithm!r}",
        )
    return DisciplineDirective(source=source, algorithm=algorithm)


def _parseLeapfile(line: ConfigLine, source: SourceLocation) -> LeapfileDirective:
    _requireArguments(line, source, "a path")
    if len(line.arguments) > 2:
        raise ConfigError(
            source, f"unexpected argument {line.arguments[2]!r} after the leapfile"
        )
    checkHash = True
    if len(line.arguments) == 2:
        option = line.arguments[1]
        if option not in ("checkhash", "ignorehash"):
            raise ConfigError(
                source,
                f"unknown leapfile option {option!r} (use checkhash or ignorehash)",
            )
        checkHash = option == "checkhash"
    return LeapfileDirective(source=source, path=line.arguments[0], checkHash=checkHash)


def _keyIdParser(line: ConfigLine, source: SourceLocation) -> NumberDirective:
    token = _onlyArgument(line, source, "a key identifier")
    value = parseInteger(token, line.directive, source, 1, MAX_KEY_ID)
    return NumberDirective(directive=line.directive, source=source, value=value)


def _numberParser(
    low: float | None, high: float | None = None, integer: bool = False
) -> DirectiveParser:
    def parse(line: ConfigLine, source: SourceLocation) -> NumberDirective:
        token = _onlyArgument(line, source, "a value")
        value: int | float
        if integer:
            value = parseInteger(
                token,
                line.directive,
                source,
                None if low is None else int(low),
                None if high is None else int(high),
            )
        else:
            value = parseNumber(token, line.directive, source, low, high)
        return NumberDirective(directive=line.directive, source=source, value=value)

    return parse


def _parseTrustedKey(line: ConfigLine, source: SourceLocation) -> TrustedKeyDirective:
    """
    C{trustedkey} with key identifiers and ranges: C{1 2 3}, C{(1 ... 10)}
    (ntpd/NTPsec) or C{1-10}.
    """
    _requireArguments(line, source, "at least one key identifier")
    text = " ".join(line.arguments)
    keys: set[int] = set()
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TRUSTEDKEY_ITEM_RE.match(text, position)
        if match is None:
            bad = text[position:].split()[0]
            raise ConfigError(
                source, f"trustedkey: {bad!r} is not a key identifier or range"
            )
        position = match.end()
        if match.group(5) is not None:
            keys.add(parseInteger(match.group(5), "trusted key", source, 1, MAX_KEY_ID))
            continue
        first, last = (
            (match.group(1), match.group(2)) if match.group(1) else match.group(3, 4)
        )
        low = parseInteger(first, "trusted key", source, 1, MAX_KEY_ID)
        high = parseInteger(last, "trusted key", source, 1, MAX_KEY_ID)
        if low > high:
            raise ConfigError(source, f"trustedkey: range {low} ... {high} is empty")
        keys.update(range(low, high + 1))
    return TrustedKeyDirective(source=source, keys=frozenset(keys))


_TOS_INTEGER_OPTIONS: Mapping[str, tuple[int | None, int | None]] = (
    types.MappingProxyType(
        {
            "beacon": (1, None),
            "ceiling": (1, 16),
            "cohort": (0, 1),
            "floor": (0, 15),
            "maxclock": (1, None),
            "minclock": (1, None),
            "minsane": (0, None),
            "orphan": (1, 16),
            "orphanwait": (0, None),
            "bcpollbstep": (0, 4),
        }
    )
)
_TOS_NUMBER_OPTIONS = ("maxdist", "maxdisp", "mindist")


def _parseTos(line: ConfigLine, source: SourceLocation) -> TosDirective:
    known = (*_TOS_INTEGER_OPTIONS, *_TOS_NUMBER_OPTIONS, "basedate")
    options: list[tuple[str, int | float | str]] = []
    for name, token in _keywordPairs(line, source, known):
        value: int | float | str
        if name == "cohort" and token in ("true", "false"):
            value = int(token == "true")
        elif name in _TOS_INTEGER_OPTIONS:
            low, high = _TOS_INTEGER_OPTIONS[name]
            value = parseInteger(token, name, source, low, high)
        elif name == "basedate":
            try:
                datetime.date.fromisoformat(token)
            except ValueError:
                raise ConfigError(
                    source, f"basedate must be a date as YYYY-MM-DD, not {token!r}"
                ) from None
            value = token
        else:
            value = parseNumber(token, name, source, 0.0)
        options.append((name, value))
    return TosDirective(source=source, options=tuple(options))


_TINKER_OPTIONS: Mapping[str, tuple[float | None, float | None]] = (
    types.MappingProxyType(
        {
            "allan": (0.0, None),
            "dispersion": (0.0, None),
            "freq": (-500.0, 500.0),
            "huffpuff": (0.0, None),
            "panic": (0.0, None),
            "step": (0.0, None),
            "stepback": (0.0, None),
            "stepfwd": (0.0, None),
            "stepout": (0.0, None),
            "tick": (0.0, None),
        }
    )
)


def _parseTinker(line: ConfigLine, source: SourceLocation) -> TinkerDirective:
    options: list[tuple[str, float]] = []
    for name, token in _keywordPairs(line, source, _TINKER_OPTIONS):
        low, high = _TINKER_OPTIONS[name]
        options.append((name, parseNumber(token, name, source, low, high)))
    return TinkerDirective(source=source, options=tuple(options))


def _checkStatisticsName(name: str, source: SourceLocation, directive: str) -> None:
    if name not in STATISTICS_NAMES:
        raise ConfigError(source, f"unknown {directive} name {name!r}")


def _parseStatistics(line: ConfigLine, source: SourceLocation) -> StatisticsDirective:
    _requireArguments(line, source, "at least one statistics name")
    for name in line.arguments:
        _checkStatisticsName(name, source, "statistics")
    return StatisticsDirective(source=source, names=frozenset(line.arguments))


def _parseFilegen(line: ConfigLine, source: SourceLocation) -> FilegenDirective:
    _requireArguments(line, source, "a statistics name")
    arguments = line.arguments
    name = arguments[0]
    _checkStatisticsName(name, source, "filegen")
    file = name
    kind = "day"
    link = True
    enabled = True
    index = 1
    while index < len(arguments):
        word = arguments[index]
        index += 1
        if word == "file":
            file = _takeValue(arguments, index, word, source)
            index += 1
        elif word == "type":
            kind = _takeValue(arguments, index, word, source)
            index += 1
            if kind not in _FILEGEN_TYPES:
                raise ConfigError(
                    source,
                    f"unknown filegen type {kind!r} "
                    f"(use {', '.join(sorted(_FILEGEN_TYPES))})",
                )
        elif word in ("link", "nolink"):
            link = word == "link"
        elif word in ("enable", "disable"):
            enabled = word == "enable"
        else:
            raise ConfigError(source, f"unknown filegen option {word!r}")
    return FilegenDirective(
        source=source, name=name, file=file, type=kind, link=link, enabled=enabled
    )


def _parseLogconfig(line: ConfigLine, source: SourceLocation) -> LogconfigDirective:
    _requireArguments(line, source, "at least one keyword")
    for item in line.arguments:
        if not _LOGCONFIG_RE.match(item):
            raise ConfigError(source, f"unknown logconfig keyword {item!r}")
    return LogconfigDirective(source=source, items=line.arguments)


def _parseDiscard(line: ConfigLine, source: SourceLocation) -> DiscardDirective:
    limits = {"average": (0, 255), "minimum": (0, None), "monitor": (0, None)}
    values = {
        name: parseInteger(token, name, source, *limits[name])
        for name, token in _keywordPairs(line, source, limits)
    }
    return DiscardDirective(source=source, **values)


_MRU_OPTIONS = (
    "maxage",
    "minage",
    "maxdepth",
    "mindepth",
    "maxmem",
    "initalloc",
    "initmem",
    "incalloc",
    "incmem",
)


def _parseMru(line: ConfigLine, source: SourceLocation) -> MruDirective:
    options = tuple(
        (name, parseInteger(token, name, source, 0))
        for name, token in _keywordPairs(line, source, _MRU_OPTIONS)
    )
    return MruDirective(source=source, options=options)


def _parseRlimit(line: ConfigLine, source: SourceLocation) -> RlimitDirective:
    options = tuple(
        (name, parseInteger(token, name, source, 0))
        for name, token in _keywordPairs(
            line, source, ("memlock", "stacksize", "filenum")
        )
    )
    return RlimitDirective(source=source, options=options)


def _parseFudge(line: ConfigLine, source: SourceLocation) -> RefclockDirective:
    _requireArguments(line, source, "a reference clock address")
    target = line.arguments[0]
    if not _refclockAddress(target, source):
        raise ConfigError(
            source, f"fudge: {target!r} is not a reference clock address (127.127.t.u)"
        )
    if len(line.arguments) < 2:
        raise ConfigError(source, "fudge requires at least one option")
    return RefclockDirective(
        directive="fudge", source=source, target=target, arguments=line.arguments[1:]
    )


def _parseRefclock(line: ConfigLine, source: SourceLocation) -> RefclockDirective:
    _requireArguments(line, source, "a driver name")
    return RefclockDirective(
        directive="refclock",
        source=source,
        target=line.arguments[0],
        arguments=line.arguments[1:],
    )


def _parseSetvar(line: ConfigLine, source: SourceLocation) -> SetvarDirective:
    """C{setvar NAME = VALUE [default]}, spaces around C{=} optional."""
    arguments = list(line.arguments)
    usage = "setvar requires NAME = VALUE [default]"
    if not arguments:
        raise ConfigError(source, usage)
    if "=" in arguments[0] and not arguments[0].startswith("="):
        name, _, rest = arguments.pop(0).partition("=")
    elif len(arguments) >= 2 and arguments[1].startswith("="):
        name = arguments.pop(0)
        rest = arguments.pop(0)[1:]
    else:
        raise ConfigError(source, usage)
    if rest:
        value = rest
    elif arguments:
        value = arguments.pop(0)
    else:
        raise ConfigError(source, usage)
    isDefault = False
    if arguments == ["default"]:
        isDefault = True
    elif arguments:
        raise ConfigError(
            source, f"unexpected argument {arguments[0]!r} after the setvar value"
        )
    return SetvarDirective(source=source, name=name, value=value, isDefault=isDefault)


def _parseTrap(line: ConfigLine, source: SourceLocation) -> TrapDirective:
    _requireArguments(line, source, "an address")
    address = line.arguments[0]
    _checkHost(address, source, "trap")
    port: int | None = None
    interface: str | None = None
    rest = ConfigLine(line.directive, line.arguments[1:], line.source)
    if rest.arguments:
        for name, token in _keywordPairs(rest, source, ("port", "interface")):
            if name == "port":
                port = parseInteger(token, "trap port", source, 1, 65535)
            else:
                try:
                    ipaddress.ip_address(token)
                except ValueError:
                    raise ConfigError(
                        source, f"trap interface must be an address, not {token!r}"
                    ) from None
                interface = token
    return TrapDirective(source=source, address=address, port=port, interface=interface)


def _parsePhone(line: ConfigLine, source: SourceLocation) -> PhoneDirective:
    _requireArguments(line, source, "at least one number")
    return PhoneDirective(source=source, numbers=line.arguments)


def _parseAutokey(line: ConfigLine, source: SourceLocation) -> AutokeyDirective:
    directive = line.directive
    if directive == "keysdir":
        _onlyArgument(line, source, "a path")
    elif directive in ("revoke", "automax"):
        parseInteger(_onlyArgument(line, source, "a value"), directive, source, 0)
    return AutokeyDirective(
        directive=directive, source=source, arguments=line.arguments
    )


# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------


class DirectiveRegistry:
    """
    Which function parses which directive, and which names C{enable} and
    C{disable} accept; each registered under the name of its owner (a
    plugin name, or L{BUILTIN_OWNER}).

    A plugin takes over a built-in directive with
    C{registry.unregister(name, BUILTIN_OWNER)} and then
    C{registry.register(name, parser, "myplugin")}.
    """

    def __init__(self) -> None:
        self._parsers: dict[str, tuple[DirectiveParser, str]] = {}
        self._switches: dict[str, str] = {}

    @staticmethod
    def _checkName(name: str) -> None:
        if not name or any(c.isspace() or c in '#"' for c in name):
            raise ValueError(f"{name!r} cannot be a directive or switch name")

    def register(self, name: str, parser: DirectiveParser, owner: str) -> None:
        """
        Register C{parser} for directive C{name}.

        @param name: the directive (the first word of a line).
        @param parser: called as C{parser(line, source)} for every such line.
        @param owner: who registers it (a plugin name).
        @raise DirectiveConflictError: when another owner registered
            C{name}. The same owner may register again (replacing).
        """
        self._checkName(name)
        existing = self._parsers.get(name)
        if existing is not None and existing[1] != owner:
            raise DirectiveConflictError(
                f"directive {name!r} is already registered by {existing[1]!r}; "
                f"{owner!r} cannot register it too"
            )
        self._parsers[name] = (parser, owner)

    def unregister(self, name: str, owner: str) -> None:
        """
        Remove directive C{name}, so another owner can register it.

        @param owner: who registered it; must match.
        @raise KeyError: when C{name} is not registered.
        @raise DirectiveConflictError: when C{owner} does not own C{name}.
        """
        existing = self._parsers[name]
        if existing[1] != owner:
            raise DirectiveConflictError(
                f"directive {name!r} is registered by {existing[1]!r}, not by {owner!r}"
            )
        del self._parsers[name]

    def lookup(self, name: str) -> DirectiveParser | None:
        """The parser of directive C{name}, or C{None}."""
        entry = self._parsers.get(name)
        return None if entry is None else entry[0]

    def ownerOf(self, name: str) -> str | None:
        """The owner of directive C{name}, or C{None}."""
        entry = self._parsers.get(name)
        return None if entry is None else entry[1]

    def names(self) -> frozenset[str]:
        """Every registered directive name."""
        return frozenset(self._parsers)

    def registerSwitch(self, name: str, owner: str) -> None:
        """
        Let C{enable}/C{disable} name C{name} (a plugin's on/off switch).

        @raise DirectiveConflictError: when another owner registered it.
        """
        self._checkName(name)
        existing = self._switches.get(name)
        if existing is not None and existing != owner:
            raise DirectiveConflictError(
                f"switch {name!r} is already registered by {existing!r}; "
                f"{owner!r} cannot register it too"
            )
        self._switches[name] = owner

    def switches(self) -> frozenset[str]:
        """Every name C{enable}/C{disable} accept."""
        return frozenset(self._switches)

    def copy(self) -> DirectiveRegistry:
        """A new registry with the same entries."""
        other = DirectiveRegistry()
        other._parsers = dict(self._parsers)
        other._switches = dict(self._switches)
        return other


def _includefileParser(line: ConfigLine, source: SourceLocation) -> object:
    """
    Placeholder entry reserving C{includefile} for the parser loop, which
    handles it itself.
    """
    raise ConfigError(source, "includefile is handled by the parser itself")


def defaultRegistry() -> DirectiveRegistry:
    """
    A new registry holding the built-in directives and switches, owned by
    L{BUILTIN_OWNER}.
    """
    registry = DirectiveRegistry()

    def add(names: Iterable[str], parser: DirectiveParser) -> None:
        for name in names:
            registry.register(name, parser, BUILTIN_OWNER)

    add(["includefile"], _includefileParser)
    add(_ADDRESSED_ASSOCIATION_DIRECTIVES, parseAssociation)
    add(["broadcastclient"], _parseBroadcastClient)
    add(["multicastclient"], _parseMulticastClient)
    add(["manycastserver"], _parseManycastServer)
    add(["restrict", "unrestrict", "delrestrict"], _parseRestrict)
    add(["interface", "nic"], _parseInterface)
    add(["enable", "disable"], _parseSwitch)
    add(["driftfile"], _parseDriftfile)
    add(["leapfile"], _parseLeapfile)
    add(["keys", "statsdir", "logfile", "saveconfigdir", "pidfile"], _parsePath)
    add(["trustedkey"], _parseTrustedKey)
    add(["requestkey", "controlkey"], _keyIdParser)
    add(["broadcastdelay"], _numberParser(0.0))
    add(["nonvolatile"], _numberParser(0.0))
    add(["dscp"], _numberParser(0, 63, integer=True))
    add(["tos"], _parseTos)
    add(["tinker"], _parseTinker)
    add(["discipline"], _parseDiscipline)
    add(["statistics"], _parseStatistics)
    add(["filegen"], _parseFilegen)
    add(["logconfig"], _parseLogconfig)
    add(["discard"], _parseDiscard)
    add(["mru"], _parseMru)
    add(["rlimit"], _parseRlimit)
    add(["fudge"], _parseFudge)
    add(["refclock"], _parseRefclock)
    add(["setvar"], _parseSetvar)
    add(["trap"], _parseTrap)
    add(["phone"], _parsePhone)
    add(_AUTOKEY_DIRECTIVES, _parseAutokey)
    for switch in SWITCH_DEFAULTS:
        registry.registerSwitch(switch, BUILTIN_OWNER)
    return registry


_BUILTIN_REGISTRY = defaultRegistry()


# ---------------------------------------------------------------------------
# Tokenizer and parser loop
# ---------------------------------------------------------------------------


def _tokenize(text: str, source: SourceLocation) -> tuple[str, ...]:
    """
    Split one line into words: whitespace separates, C{#} starts a comment
    (also inside a word, as in ntpd), C{"..."} is one word.
    """
    tokens: list[str] = []
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char in _WHITESPACE:
            index += 1
        elif char == "#":
            break
        elif char == '"':
            end = text.find('"', index + 1)
            if end < 0:
                raise ConfigError(source, "unterminated quoted string")
            tokens.append(text[index + 1 : end])
            index = end + 1
            if index < length and text[index] not in _WHITESPACE and text[index] != "#":
                raise ConfigError(source, "a quoted string must be followed by a space")
        else:
            end = index
            while (
                end < length and text[end] not in _WHITESPACE and text[end] not in '#"'
            ):
                end += 1
            if end < length and text[end] == '"':
                raise ConfigError(source, "unexpected '\"' inside a word")
            tokens.append(text[index:end])
            index = end
    return tuple(tokens)


_SINGLETON_FIELDS: Mapping[str, str] = types.MappingProxyType(
    {
        "keys": "keys",
        "statsdir": "statsdir",
        "logfile": "logfile",
        "saveconfigdir": "saveconfigdir",
        "pidfile": "pidfile",
        "requestkey": "requestKey",
        "controlkey": "controlKey",
        "broadcastdelay": "broadcastDelay",
        "nonvolatile": "nonvolatile",
        "dscp": "dscp",
    }
)

_LIST_FIELDS: Mapping[type, str] = types.MappingProxyType(
    {
        RestrictDirective: "restrictions",
        InterfaceDirective: "interfaces",
        SwitchDirective: "switchDirectives",
        TrustedKeyDirective: "trustedKeyDirectives",
        TosDirective: "tosDirectives",
        TinkerDirective: "tinkerDirectives",
        StatisticsDirective: "statisticsDirectives",
        FilegenDirective: "filegens",
        LogconfigDirective: "logconfigDirectives",
        DiscardDirective: "discardDirectives",
        MruDirective: "mruDirectives",
        RlimitDirective: "rlimitDirectives",
        RefclockDirective: "refclocks",
        SetvarDirective: "setvars",
        TrapDirective: "traps",
        PhoneDirective: "phones",
        AutokeyDirective: "autokey",
    }
)


class _Builder:
    """
    Collects parsed directives and assembles the L{Configuration}.
    """

    def __init__(self, registry: DirectiveRegistry) -> None:
        self._registry = registry
        self._lists: dict[str, list[object]] = {
            name: [] for name in _LIST_FIELDS.values()
        }
        self._lists["associations"] = []
        self._lists["extra"] = []
        self._singletons: dict[str, Directive] = {}
        self._seenAssociations: dict[tuple[str, str, int | None], SourceLocation] = {}
        self.warnings: list[str] = []
        self.files: list[str] = []

    def add(self, directive: str, result: object, source: SourceLocation) -> None:
        """
        Put what a directive parser returned where it belongs.

        @param directive: the directive of the line.
        @param result: what its parser returned.
        @param source: where the line is.
        @raise ConfigError: when C{enable}/C{disable} name an unknown switch.
        """
        if result is None:
            return
        if isinstance(result, AssociationDirective):
            self._addAssociation(result)
        elif isinstance(result, SwitchDirective):
            switches = self._registry.switches()
            for name in result.names:
                if name not in switches:
                    raise ConfigError(
                        source, f"unknown {result.directive} flag {name!r}"
                    )
            self._lists["switchDirectives"].append(result)
        elif isinstance(result, DriftfileDirective):
            self._setSingleton("driftfile", result)
        elif isinstance(result, LeapfileDirective):
            self._setSingleton("leapfile", result)
        elif isinstance(result, (PathDirective, NumberDirective)):
            field = _SINGLETON_FIELDS.get(result.directive)
            if field is None:
                self._lists["extra"].append((directive, result))
            else:
                self._setSingleton(field, result)
        elif isinstance(result, tuple(_LIST_FIELDS)):
            field = next(
                f for cls, f in _LIST_FIELDS.items() if isinstance(result, cls)
            )
            self._lists[field].append(result)
            if isinstance(result, AutokeyDirective):
                self.warnings.append(
                    f"{source}: autokey is not supported; "
                    f"{result.directive!r} is ignored"
                )
            elif isinstance(result, RestrictDirective):
                if "kod" in result.flags and "limited" not in result.flags:
                    self.warnings.append(f"{source}: kod does nothing without limited")
        else:
            self._lists["extra"].append((directive, result))

    def _addAssociation(self, association: AssociationDirective) -> None:
        """
        Append an association, dropping a repeated (directive, address,
        family) with a warning (seed 001: duplicate C{server} lines for one
        name are ignored).
        """
        if isinstance(association, AddressedAssociationDirective):
            key = (
                association.directive,
                association.address.lower(),
                association.ipVersion,
            )
            if key in self._seenAssociations:
                self.warnings.append(
                    f"{association.source}: duplicate {association.directive} "
                    f"{association.address} ignored (the first is at "
                    f"{self._seenAssociations[key]})"
                )
                return
            self._seenAssociations[key] = association.source
            if "autokey" in association.flags or association.ident is not None:
                self.warnings.append(
                    f"{association.source}: autokey is not supported; "
                    f"the {association.directive} {association.address} "
                    "autokey options are ignored"
                )
        self._lists["associations"].append(association)

    def _setSingleton(self, field: str, result: Directive) -> None:
        """
        Set a one-value field; a later line replaces an earlier one, with a
        warning.
        """
        previous = self._singletons.get(field)
        if previous is not None:
            self.warnings.append(
                f"{result.source}: {result.directive} replaces the one "
                f"at {previous.source}"
            )
        self._singletons[field] = result

    def build(self) -> Configuration:
        """
        Assemble the configuration from everything added.
        """
        fields: dict[str, object] = {
            name: tuple(items) for name, items in self._lists.items()
        }
        fields.update(self._singletons)
        self._checkTos(fields["tosDirectives"])  # type: ignore[arg-type]
        fields["warnings"] = tuple(self.warnings)
        fields["files"] = tuple(self.files)
        return Configuration(**fields)  # type: ignore[arg-type]

    def _checkTos(self, tosDirectives: tuple[TosDirective, ...]) -> None:
        """
        Warn, as ntpd does, when minsane < minclock <= maxclock fails.
        """
        if not tosDirectives:
            return
        values: dict[str, object] = {}
        for directive in tosDirectives:
            values.update(directive.options)
        settings = TosSettings(**values)  # type: ignore[arg-type]
        if not (settings.minsane < settings.minclock <= settings.maxclock):
            # Name the last line that set one of the three.
            source = tosDirectives[-1].source
            for directive in tosDirectives:
                if any(
                    name in ("minsane", "minclock", "maxclock")
                    for name, _ in directive.options
                ):
                    source = directive.source
            self.warnings.append(
                f"{source}: tos: minsane ({settings.minsane}) < "
                f"minclock ({settings.minclock}) <= maxclock ({settings.maxclock}) "
                "does not hold; the daemon will not select sources properly"
            )


def _parseLines(
    text: str,
    filename: str,
    registry: DirectiveRegistry,
    builder: _Builder,
    includeStack: tuple[str, ...],
) -> None:
    """
    Parse the lines of one file into C{builder}, following includes.

    @param includeStack: the real paths of the files being read, outermost
        first (the last one is C{filename}'s).
    """
    for number, rawLine in enumerate(text.split("\n"), start=1):
        source = SourceLocation(filename, number)
        tokens = _tokenize(rawLine, source)
        if not tokens:
            continue
        directive, arguments = tokens[0], tokens[1:]
        if (
            directive == "includefile"
            and registry.ownerOf("includefile") == BUILTIN_OWNER
        ):
            _include(arguments, source, registry, builder, includeStack)
            continue
        parser = registry.lookup(directive)
        if parser is None:
            raise ConfigError(source, f"unknown directive {directive!r}")
        line = ConfigLine(directive, arguments, source)
        try:
            result = parser(line, source)
        except ConfigError:
            raise
        except ValueError as e:
            raise ConfigError(source, f"{directive}: {e}") from e
        builder.add(directive, result, source)


def _include(
    arguments: tuple[str, ...],
    source: SourceLocation,
    registry: DirectiveRegistry,
    builder: _Builder,
    includeStack: tuple[str, ...],
) -> None:
    if len(arguments) != 1:
        raise ConfigError(source, "includefile requires exactly one path")
    path = os.path.join(os.path.dirname(source.path), arguments[0])
    if len(includeStack) > MAX_INCLUDE_DEPTH:
        raise ConfigError(
            source,
            f"includefile {arguments[0]!r}: "
            f"includes nested deeper than {MAX_INCLUDE_DEPTH}",
        )
    realPath = os.path.realpath(path)
    if realPath in includeStack:
        chain = " -> ".join([*includeStack[includeStack.index(realPath) :], realPath])
        raise ConfigError(source, f"includefile loop: {chain}")
    text = _readFile(path, source, f"cannot read includefile {arguments[0]!r}")
    builder.files.append(path)
    _parseLines(text, path, registry, builder, (*includeStack, realPath))


def _readFile(path: str, source: SourceLocation, what: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(source, f"{what}: {e.strerror or e}") from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(SourceLocation(path, line), "not valid UTF-8 text") from e


def parseString(
    text: str, filename: str = "<string>", registry: DirectiveRegistry | None = None
) -> Configuration:
    """
    Parse configuration text.

    @param text: the contents of an ntp.conf.
    @param filename: the name used in locations and errors; relative
        C{includefile} paths are resolved against its directory (the
        current directory for a bare pseudo-name like C{<string>}).
    @param registry: the directives to accept; the built-in ones when
        C{None}.
    @return: the configuration.
    @raise ConfigError: on the first error, refusing the whole text.
    """
    if registry is None:
        registry = _BUILTIN_REGISTRY
    builder = _Builder(registry)
    builder.files.append(filename)
    _parseLines(text, filename, registry, builder, (os.path.realpath(filename),))
    return builder.build()


def parseFile(path: str, registry: DirectiveRegistry | None = None) -> Configuration:
    """
    Parse a configuration file.

    @param path: the file (C{/etc/ntp.conf}).
    @param registry: the directives to accept; the built-in ones when
        C{None}.
    @return: the configuration.
    @raise ConfigError: when the file cannot be read (C{str()} is then
        C{FILE: cannot read ...}) or on the first error, refusing the
        whole file.
    """
    text = _readFile(path, SourceLocation(path, 0), "cannot read configuration file")
    return parseString(text, path, registry)


def defaultConfiguration() -> Configuration:
    """The built-in default configuration (L{DEFAULT_CONFIGURATION_TEXT}), parsed."""
    return parseString(DEFAULT_CONFIGURATION_TEXT, DEFAULT_CONFIGURATION_FILENAME)
