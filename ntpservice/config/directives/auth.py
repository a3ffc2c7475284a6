# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Authentication directives: C{keys} (the symmetric key file), C{trustedkey},
C{requestkey} and C{controlkey}, and autokey's C{crypto}, C{keysdir},
C{revoke} and C{automax}, which are accepted, recorded and ignored (autokey
is not supported; the parser loop warns).
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass
from typing import Mapping

from ntpservice.config.arguments import (
    onlyArgument,
    parseInteger,
    requireArguments,
)
from ntpservice.config.directives.base import (
    Directive,
    NumberDirective,
    parsePath,
)
from ntpservice.config.lexer import ConfigError, ConfigLine, SourceLocation
from ntpservice.config.registry import DirectiveParser

__all__ = [
    "AutokeyDirective",
    "MAX_KEY_ID",
    "PARSERS",
    "TrustedKeyDirective",
]

MAX_KEY_ID = 65535
"""The largest symmetric key identifier accepted (ntpd's NTP_MAXKEY)."""

_AUTOKEY_DIRECTIVES = ("crypto", "keysdir", "revoke", "automax")

_TRUSTEDKEY_ITEM_RE = re.compile(
    r"\s*(?:\(\s*([0-9]+)\s*\.\.\.\s*([0-9]+)\s*\)"  # (1 ... 10)
    r"|([0-9]+)\s*-\s*([0-9]+)"  # 1-10
    r"|([0-9]+))"  # 1
    r"(?=[\s(]|\Z)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedKeyDirective(Directive):
    """
    C{trustedkey}: key identifiers trusted for authentication.

    @ivar keys: the identifiers, ranges expanded.
    """

    directive: str = "trustedkey"
    keys: frozenset[int]


@dataclass(frozen=True, slots=True, kw_only=True)
class AutokeyDirective(Directive):
    """
    An autokey directive (C{crypto}, C{keysdir}, C{revoke}, C{automax}).
    Autokey is not supported: these are accepted, recorded and ignored.

    @ivar arguments: the tokens as written.
    """

    arguments: tuple[str, ...] = ()


def _keyIdParser(line: ConfigLine, source: SourceLocation) -> NumberDirective:
    token = onlyArgument(line, source, "a key identifier")
    value = parseInteger(token, line.directive, source, 1, MAX_KEY_ID)
    return NumberDirective(directive=line.directive, source=source, value=value)


def _parseTrustedKey(line: ConfigLine, source: SourceLocation) -> TrustedKeyDirective:
    """
    C{trustedkey} with key identifiers and ranges: C{1 2 3}, C{(1 ... 10)}
    (ntpd/NTPsec) or C{1-10}.
    """
    requireArguments(line, source, "at least one key identifier")
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


def _parseAutokey(line: ConfigLine, source: SourceLocation) -> AutokeyDirective:
    directive = line.directive
    if directive == "keysdir":
        onlyArgument(line, source, "a path")
    elif directive in ("revoke", "automax"):
        parseInteger(onlyArgument(line, source, "a value"), directive, source, 0)
    return AutokeyDirective(
        directive=directive, source=source, arguments=line.arguments
    )


PARSERS: Mapping[str, DirectiveParser] = types.MappingProxyType(
    {
        "keys": parsePath,
        "trustedkey": _parseTrustedKey,
        "requestkey": _keyIdParser,
        "controlkey": _keyIdParser,
        **{name: _parseAutokey for name in _AUTOKEY_DIRECTIVES},
    }
)
"""The authentication directives and their parsers."""
