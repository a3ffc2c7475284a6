# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Monitoring directives: statistics files (C{statistics}, C{filegen},
C{statsdir}), logging (C{logfile}, C{logconfig}), the most-recently-used
client list behind C{ntpq mrulist} (C{mru}) and mode 6 trap receivers
(C{trap}).
"""

from __future__ import annotations

import ipaddress
import re
import types
from dataclasses import dataclass
from typing import Mapping

from ntpservice.config.arguments import (
    checkHost,
    keywordPairs,
    parseInteger,
    requireArguments,
    takeValue,
)
from ntpservice.config.directives.base import Directive, parsePath
from ntpservice.config.lexer import ConfigError, ConfigLine, SourceLocation
from ntpservice.config.registry import DirectiveParser

__all__ = [
    "FilegenDirective",
    "LogconfigDirective",
    "MruDirective",
    "PARSERS",
    "STATISTICS_NAMES",
    "StatisticsDirective",
    "TrapDirective",
]

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

_FILEGEN_TYPES = frozenset({"none", "pid", "day", "week", "month", "year", "age"})

_LOGCONFIG_RE = re.compile(
    r"[=+-]?(?:all|clock|peer|sys|sync)(?:all|info|events|statistics|status)\Z"
)


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


def _checkStatisticsName(name: str, source: SourceLocation, directive: str) -> None:
    if name not in STATISTICS_NAMES:
        raise ConfigError(source, f"unknown {directive} name {name!r}")


def _parseStatistics(line: ConfigLine, source: SourceLocation) -> StatisticsDirective:
    requireArguments(line, source, "at least one statistics name")
    for name in line.arguments:
        _checkStatisticsName(name, source, "statistics")
    return StatisticsDirective(source=source, names=frozenset(line.arguments))


def _parseFilegen(line: ConfigLine, source: SourceLocation) -> FilegenDirective:
    requireArguments(line, source, "a statistics name")
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
            file = takeValue(arguments, index, word, source)
            index += 1
        elif word == "type":
            kind = takeValue(arguments, index, word, source)
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
    requireArguments(line, source, "at least one keyword")
    for item in line.arguments:
        if not _LOGCONFIG_RE.match(item):
            raise ConfigError(source, f"unknown logconfig keyword {item!r}")
    return LogconfigDirective(source=source, items=line.arguments)


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
        for name, token in keywordPairs(line, source, _MRU_OPTIONS)
    )
    return MruDirective(source=source, options=options)


def _parseTrap(line: ConfigLine, source: SourceLocation) -> TrapDirective:
    requireArguments(line, source, "an address")
    address = line.arguments[0]
    checkHost(address, source, "trap")
    port: int | None = None
    interface: str | None = None
    rest = ConfigLine(line.directive, line.arguments[1:], line.source)
    if rest.arguments:
        for name, token in keywordPairs(rest, source, ("port", "interface")):
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


PARSERS: Mapping[str, DirectiveParser] = types.MappingProxyType(
    {
        "statistics": _parseStatistics,
        "filegen": _parseFilegen,
        "statsdir": parsePath,
        "logfile": parsePath,
        "logconfig": _parseLogconfig,
        "mru": _parseMru,
        "trap": _parseTrap,
    }
)
"""The monitoring directives and their parsers."""
