# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Checks of directive arguments, shared by the built-in directive parsers and
offered to plugin parsers, so that they validate and word their errors the
same way: integers and numbers with ranges (L{parseInteger},
L{parseNumber}), addresses and host names (L{checkHost}, never resolved),
reference clock pseudo-addresses, and the shapes of argument lists (one
argument, at least one, C{keyword value} pairs).

Every check raises L{ConfigError} located at the line it was given.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable

from ntpservice.config.lexer import ConfigError, ConfigLine, SourceLocation

__all__ = [
    "checkHost",
    "keywordPairs",
    "onlyArgument",
    "parseInteger",
    "parseNumber",
    "refclockAddress",
    "requireArguments",
    "takeValue",
]

_INTEGER_RE = re.compile(r"[+-]?[0-9]+\Z")

_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")

_HOSTNAME_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"

_HOSTNAME_RE = re.compile(
    rf"(?=.{{1,253}}\.?\Z){_HOSTNAME_LABEL}(?:\.{_HOSTNAME_LABEL})*\.?\Z"
)

_NUMERIC_DOTTED_RE = re.compile(r"[0-9.]+\Z")

_REFCLOCK_RE = re.compile(r"127\.127\.([0-9]{1,3})\.([0-9]{1,3})\Z")


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


def checkHost(
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


def refclockAddress(address: str, source: SourceLocation) -> bool:
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


def takeValue(
    arguments: tuple[str, ...], index: int, name: str, source: SourceLocation
) -> str:
    """
    The value of an option: C{arguments[index]}.

    @param name: the option, for the error message.
    @raise ConfigError: C{NAME requires a value} when there is none.
    """
    if index >= len(arguments):
        raise ConfigError(source, f"{name} requires a value")
    return arguments[index]


def requireArguments(line: ConfigLine, source: SourceLocation, what: str) -> None:
    """
    Refuse a line without arguments.

    @param what: what is missing, with its article (C{"a path"}).
    @raise ConfigError: C{DIRECTIVE requires WHAT}.
    """
    if not line.arguments:
        raise ConfigError(source, f"{line.directive} requires {what}")


def onlyArgument(line: ConfigLine, source: SourceLocation, what: str) -> str:
    """
    The single argument of C{line}.

    @param what: what it is, with its article (C{"a path"}).
    """
    requireArguments(line, source, what)
    if len(line.arguments) > 1:
        noun = what.split(" ", 1)[-1]
        raise ConfigError(
            source,
            f"unexpected argument {line.arguments[1]!r} "
            f"after the {line.directive} {noun}",
        )
    return line.arguments[0]


def keywordPairs(
    line: ConfigLine, source: SourceLocation, known: Iterable[str]
) -> list[tuple[str, str]]:
    """
    Split C{keyword value keyword value ...} arguments, rejecting unknown or
    repeated keywords and missing values.
    """
    known = frozenset(known)
    requireArguments(line, source, "at least one option")
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
        pairs.append((keyword, takeValue(arguments, index + 1, keyword, source)))
        index += 2
    return pairs
