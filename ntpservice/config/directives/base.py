# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
What every directive object shares: the L{Directive} base (the name as
written and its L{SourceLocation}), and the two generic shapes several
groups use, a path (L{PathDirective}: C{keys}, C{statsdir}, C{logfile},
C{saveconfigdir}, C{pidfile}) and a number (L{NumberDirective}:
C{requestkey}, C{controlkey}, C{broadcastdelay}, C{nonvolatile},
C{dscp}), with their parsers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ntpservice.config.arguments import onlyArgument, parseInteger, parseNumber
from ntpservice.config.lexer import ConfigLine, SourceLocation
from ntpservice.config.registry import DirectiveParser

__all__ = [
    "Directive",
    "NumberDirective",
    "PathDirective",
    "numberParser",
    "parsePath",
]


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


def parsePath(line: ConfigLine, source: SourceLocation) -> PathDirective:
    """C{DIRECTIVE PATH}."""
    return PathDirective(
        directive=line.directive,
        source=source,
        path=onlyArgument(line, source, "a path"),
    )


def numberParser(
    low: float | None, high: float | None = None, integer: bool = False
) -> DirectiveParser:
    """
    A parser of C{DIRECTIVE VALUE}, one number from C{low} to C{high}.

    @param integer: whether the value must be an integer (an C{int}).
    """

    def parse(line: ConfigLine, source: SourceLocation) -> NumberDirective:
        token = onlyArgument(line, source, "a value")
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
