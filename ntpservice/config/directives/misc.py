# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The other directives: reference clock options (C{fudge}, C{refclock}),
extra system variables for ntpq (C{setvar}), modem numbers (C{phone}),
process limits (C{rlimit}) and files of the process (C{saveconfigdir},
C{pidfile}).
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Mapping

from ntpservice.config.arguments import (
    keywordPairs,
    parseInteger,
    refclockAddress,
    requireArguments,
)
from ntpservice.config.directives.base import Directive, parsePath
from ntpservice.config.lexer import ConfigError, ConfigLine, SourceLocation
from ntpservice.config.registry import DirectiveParser

__all__ = [
    "PARSERS",
    "PhoneDirective",
    "RefclockDirective",
    "RlimitDirective",
    "SetvarDirective",
]


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
class PhoneDirective(Directive):
    """
    C{phone}: numbers dialed by modem reference clocks.

    @ivar numbers: the numbers as written.
    """

    directive: str = "phone"
    numbers: tuple[str, ...]


def _parseRlimit(line: ConfigLine, source: SourceLocation) -> RlimitDirective:
    options = tuple(
        (name, parseInteger(token, name, source, 0))
        for name, token in keywordPairs(
            line, source, ("memlock", "stacksize", "filenum")
        )
    )
    return RlimitDirective(source=source, options=options)


def _parseFudge(line: ConfigLine, source: SourceLocation) -> RefclockDirective:
    requireArguments(line, source, "a reference clock address")
    target = line.arguments[0]
    if not refclockAddress(target, source):
        raise ConfigError(
            source, f"fudge: {target!r} is not a reference clock address (127.127.t.u)"
        )
    if len(line.arguments) < 2:
        raise ConfigError(source, "fudge requires at least one option")
    return RefclockDirective(
        directive="fudge", source=source, target=target, arguments=line.arguments[1:]
    )


def _parseRefclock(line: ConfigLine, source: SourceLocation) -> RefclockDirective:
    requireArguments(line, source, "a driver name")
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


def _parsePhone(line: ConfigLine, source: SourceLocation) -> PhoneDirective:
    requireArguments(line, source, "at least one number")
    return PhoneDirective(source=source, numbers=line.arguments)


PARSERS: Mapping[str, DirectiveParser] = types.MappingProxyType(
    {
        "saveconfigdir": parsePath,
        "pidfile": parsePath,
        "rlimit": _parseRlimit,
        "fudge": _parseFudge,
        "refclock": _parseRefclock,
        "setvar": _parseSetvar,
        "phone": _parsePhone,
    }
)
"""The other directives and their parsers."""
