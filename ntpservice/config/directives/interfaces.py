# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Network interface directives: C{interface} and C{nic} (which local
addresses to listen on), and C{dscp} (the DSCP code point of the packets
sent).
"""

from __future__ import annotations

import ipaddress
import types
from dataclasses import dataclass
from typing import Mapping

from ntpservice.config.arguments import parseInteger
from ntpservice.config.directives.base import Directive, numberParser
from ntpservice.config.lexer import ConfigError, ConfigLine, SourceLocation
from ntpservice.config.registry import DirectiveParser

__all__ = [
    "InterfaceDirective",
    "PARSERS",
]

_INTERFACE_ACTIONS = frozenset({"listen", "ignore", "drop"})

_INTERFACE_CLASSES = frozenset({"all", "ipv4", "ipv6", "wildcard"})


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


PARSERS: Mapping[str, DirectiveParser] = types.MappingProxyType(
    {
        "interface": _parseInterface,
        "nic": _parseInterface,
        "dscp": numberParser(0, 63, integer=True),
    }
)
"""The interface directives and their parsers."""
