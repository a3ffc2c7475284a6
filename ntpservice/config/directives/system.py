# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
System options: C{enable}/C{disable} (L{SWITCH_DEFAULTS}), C{tos}
(selection, clustering and orphan parameters, L{TosSettings}), C{tinker}
(clock discipline parameters, L{TinkerSettings}), ntpservice's own
C{discipline}, the C{driftfile} and C{leapfile}, C{broadcastdelay} and
C{nonvolatile}.

The names C{enable}/C{disable} give are checked by the parser loop against
the registry's switches (which plugins extend), not here.
"""

from __future__ import annotations

import datetime
import types
from dataclasses import dataclass
from typing import Mapping

from ntpservice.config.arguments import (
    keywordPairs,
    onlyArgument,
    parseInteger,
    parseNumber,
    requireArguments,
)
from ntpservice.config.directives.base import Directive, numberParser
from ntpservice.config.lexer import ConfigError, ConfigLine, SourceLocation
from ntpservice.config.registry import DirectiveParser

__all__ = [
    "DISCIPLINE_ALGORITHMS",
    "DisciplineDirective",
    "DriftfileDirective",
    "LeapfileDirective",
    "PARSERS",
    "SWITCH_DEFAULTS",
    "SwitchDirective",
    "TinkerDirective",
    "TinkerSettings",
    "TosDirective",
    "TosSettings",
]

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

DISCIPLINE_ALGORITHMS = ("kalman", "rfc5905")
"""The clock-discipline loops the C{discipline} directive may name."""


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
class DisciplineDirective(Directive):
    """
    C{discipline kalman|rfc5905} (ntpservice's own): which clock-discipline
    loop runs. C{kalman} (the default) estimates phase and frequency with a
    Kalman filter; C{rfc5905} is RFC 5905's hybrid PLL/FLL, as ntpd runs it.

    @ivar algorithm: one of L{DISCIPLINE_ALGORITHMS}.
    """

    directive: str = "discipline"
    algorithm: str


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


def _parseSwitch(line: ConfigLine, source: SourceLocation) -> SwitchDirective:
    """
    C{enable|disable NAME...}. The names are checked against the registry's
    switches by the parser loop (which knows the registry).
    """
    requireArguments(line, source, "at least one flag")
    return SwitchDirective(
        directive=line.directive, source=source, names=line.arguments
    )


def _parseDriftfile(line: ConfigLine, source: SourceLocation) -> DriftfileDirective:
    requireArguments(line, source, "a path")
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


def _parseDiscipline(line: ConfigLine, source: SourceLocation) -> DisciplineDirective:
    algorithm = onlyArgument(line, source, "kalman or rfc5905")
    if algorithm not in DISCIPLINE_ALGORITHMS:
        raise ConfigError(
            source,
            f"discipline must be one of {', '.join(DISCIPLINE_ALGORITHMS)}, "
            f"not {algorithm!r}",
        )
    return DisciplineDirective(source=source, algorithm=algorithm)


def _parseLeapfile(line: ConfigLine, source: SourceLocation) -> LeapfileDirective:
    requireArguments(line, source, "a path")
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
    for name, token in keywordPairs(line, source, known):
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
    for name, token in keywordPairs(line, source, _TINKER_OPTIONS):
        low, high = _TINKER_OPTIONS[name]
        options.append((name, parseNumber(token, name, source, low, high)))
    return TinkerDirective(source=source, options=tuple(options))


PARSERS: Mapping[str, DirectiveParser] = types.MappingProxyType(
    {
        "enable": _parseSwitch,
        "disable": _parseSwitch,
        "driftfile": _parseDriftfile,
        "leapfile": _parseLeapfile,
        "broadcastdelay": numberParser(0.0),
        "nonvolatile": numberParser(0.0),
        "leapsmearinterval": numberParser(0, 86400 * 2, integer=True),
        "tos": _parseTos,
        "tinker": _parseTinker,
        "discipline": _parseDiscipline,
    }
)
"""The system option directives and their parsers."""
