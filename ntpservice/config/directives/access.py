# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Access control directives: C{restrict} (and NTPsec's C{unrestrict},
ntpd's C{delrestrict}), which build the restriction table, and C{discard},
the rate limits that the C{limited} flag applies (L{DiscardSettings}).

Addresses and masks are checked for syntax only; host names are kept as
written.
"""

from __future__ import annotations

import ipaddress
import types
from dataclasses import dataclass
from typing import Mapping

from ntpservice.config.arguments import (
    checkHost,
    keywordPairs,
    parseInteger,
    takeValue,
)
from ntpservice.config.directives.base import Directive
from ntpservice.config.lexer import ConfigError, ConfigLine, SourceLocation
from ntpservice.config.registry import DirectiveParser

__all__ = [
    "DiscardDirective",
    "DiscardSettings",
    "PARSERS",
    "RESTRICT_FLAGS",
    "RestrictDirective",
]

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
class DiscardDirective(Directive):
    """
    C{discard}: rate limits for C{limited} (see L{DiscardSettings}).

    @ivar average: minimum average packet spacing, log2 seconds, or C{None}.
    @ivar minimum: minimum packet spacing, seconds, or C{None}.
    @ivar monitor: MRU monitor parameter, or C{None}.
    @ivar leak: log2 of the share of over-limit requests answered anyway,
        or C{None} (ntpservice's, after chrony's C{ratelimit leak}).
    """

    directive: str = "discard"
    average: int | None = None
    minimum: int | None = None
    monitor: int | None = None
    leak: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscardSettings:
    """
    The C{discard} values in effect.

    @ivar average: minimum average packet spacing, log2 seconds.
    @ivar minimum: minimum packet spacing, seconds.
    @ivar monitor: MRU monitor parameter (ntpd's C{mon_age}, seconds).
    @ivar leak: one request over the limit in M{2**leak} is answered
        anyway, so that spoofed requests cannot silence their victim
        (default 2: one in four, as chrony's C{ratelimit leak}); 0: none
        (ntpd's behaviour). See L{ntpservice.core.mru}.
    """

    average: int = 3
    minimum: int = 2
    monitor: int = 3000
    leak: int = 2


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
        checkHost(written, source, directive, ipVersion)
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
            mask = takeValue(arguments, index, "mask", source)
            index += 1
            _parseMask(mask, source, family)
        elif directive == "delrestrict":
            raise ConfigError(source, f"unknown delrestrict option {word!r}")
        elif word == "ippeerlimit":
            if ippeerlimit is not None:
                raise ConfigError(
                    source, f"{directive} option 'ippeerlimit' given twice"
                )
            token = takeValue(arguments, index, word, source)
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


MAX_DISCARD_AVERAGE = 17
"""
The largest C{discard average}, log2 seconds: ntpd's NTP_MAXPOLL (36 hours
between packets). Larger ones would overflow the rate limiter's 64-bit
counters (C{1 << average}) in the fast path.
"""


def _parseDiscard(line: ConfigLine, source: SourceLocation) -> DiscardDirective:
    limits = {
        "average": (0, MAX_DISCARD_AVERAGE),
        "minimum": (0, None),
        "monitor": (0, None),
        "leak": (0, 4),
    }
    values = {
        name: parseInteger(token, name, source, *limits[name])
        for name, token in keywordPairs(line, source, limits)
    }
    return DiscardDirective(source=source, **values)


PARSERS: Mapping[str, DirectiveParser] = types.MappingProxyType(
    {
        "restrict": _parseRestrict,
        "unrestrict": _parseRestrict,
        "delrestrict": _parseRestrict,
        "discard": _parseDiscard,
    }
)
"""The access control directives and their parsers."""
