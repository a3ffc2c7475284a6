# -*- test-case-name: tests.test_coreconfig -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Configuration objects to core settings: the adapters from the typed
configuration (L{ntpservice.config}) to the settings the pure core takes,
so that nothing under L{ntpservice.core} needs to know the configuration.

The core defines the settings it needs (L{DisciplineSettings},
L{RestrictRule}, L{MRUSettings}, ...); the assembly code (the daemon, the
service, the simulator) turns configuration directives into them with the
functions here.
"""

from __future__ import annotations

from typing import Iterable

from ntpservice.config import MruDirective, RestrictDirective, TinkerSettings
from ntpservice.core.discipline import (
    ALGORITHM_KALMAN,
    POLL_LOG2_MAX,
    POLL_LOG2_MIN,
    DisciplineSettings,
)
from ntpservice.core.mru import (
    DEFAULT_MAXAGE,
    DEFAULT_MAXDEPTH,
    DEFAULT_MINDEPTH,
    ENTRY_BYTES,
    MRUSettings,
)
from ntpservice.core.restrict import (
    DEFAULT_CACHE_SIZE,
    RestrictRule,
    RestrictTable,
)

__all__ = [
    "disciplineSettings",
    "mruSettings",
    "restrictRule",
    "restrictTable",
]


def disciplineSettings(
    tinker: TinkerSettings,
    minPollLog2: int = POLL_LOG2_MIN,
    maxPollLog2: int = POLL_LOG2_MAX,
    algorithm: str | None = None,
    kernel: bool = False,
) -> DisciplineSettings:
    """
    The clock-discipline settings a configuration's C{tinker} values give.

    Mapping: C{step}, C{stepback}, C{stepfwd}, C{stepout}, C{panic} and
    C{dispersion} as they are (seconds, seconds per second); C{allan} from
    log2 seconds to seconds (C{2**allan}); C{freq} to
    L{DisciplineSettings.initialFreqPPM}; C{huffpuff} as it is. C{tick}
    concerns the precision, not the discipline, and is ignored.

    @param tinker: the configuration's C{tinker} values.
    @param minPollLog2: the smallest poll exponent, log2 seconds (the
        system's minpoll).
    @param maxPollLog2: the largest poll exponent, log2 seconds.
    @param algorithm: the loop (L{ntpservice.core.discipline.ALGORITHMS});
        C{None}: the configuration's C{tinker algorithm} when it has one,
        else L{ALGORITHM_KALMAN}.
    @param kernel: ntpd's C{enable kernel} (C{DisciplineSettings.kernel}):
        the RFC 5905 loop takes the kernel PLL's gains.
    @return: the settings.
    @raise ValueError: if a value is out of range.
    """
    if algorithm is None:
        algorithm = getattr(tinker, "algorithm", None) or ALGORITHM_KALMAN
    return DisciplineSettings(
        step=float(tinker.step),
        stepBack=None if tinker.stepback is None else float(tinker.stepback),
        stepForward=None if tinker.stepfwd is None else float(tinker.stepfwd),
        stepout=float(tinker.stepout),
        panic=float(tinker.panic),
        allan=2.0 ** float(tinker.allan),
        dispersion=float(tinker.dispersion),
        initialFreqPPM=None if tinker.freq is None else float(tinker.freq),
        huffpuff=None if tinker.huffpuff is None else float(tinker.huffpuff),
        minPollLog2=minPollLog2,
        maxPollLog2=maxPollLog2,
        algorithm=str(algorithm),
        kernel=kernel,
    )


def restrictRule(directive: RestrictDirective) -> RestrictRule:
    """
    A C{restrict}, C{unrestrict} or C{delrestrict} line as the restriction
    table applies it.

    @param directive: one of L{ntpservice.config.Configuration.restrictions}.
    @return: the rule, with the line's location as its C{source}.
    """
    return RestrictRule(
        directive=directive.directive,
        address=directive.address,
        ipVersion=directive.ipVersion,
        mask=directive.mask,
        prefixLength=directive.prefixLength,
        ippeerlimit=directive.ippeerlimit,
        flags=frozenset(directive.flags),
        source=directive.source,
    )


def restrictTable(
    restrictions: Iterable[RestrictDirective],
    cacheSize: int = DEFAULT_CACHE_SIZE,
) -> RestrictTable:
    """
    The restriction table of the configuration's lines.

    @param restrictions: L{ntpservice.config.Configuration.restrictions}:
        C{restrict}, C{unrestrict} and C{delrestrict} lines, applied in
        order.
    @param cacheSize: how many source addresses the table's lookup caches.
    """
    return RestrictTable.fromRules(
        (restrictRule(directive) for directive in restrictions), cacheSize
    )


def mruSettings(directives: Iterable[MruDirective]) -> MRUSettings:
    """
    The settings of C{mru} lines, applied in order.

    @param directives: the C{mru} lines
        (L{ntpservice.config.Configuration.mruDirectives}); their
        C{options} are C{(name, value)} pairs.
    @return: the settings: C{maxdepth} from whichever of C{maxdepth} and
        C{maxmem} (KiB) came last, the last value of each other option;
        C{initalloc}, C{initmem}, C{incalloc} and C{incmem} are ignored
        (they tune ntpd's allocator).
    """
    maxdepth = DEFAULT_MAXDEPTH
    mindepth = DEFAULT_MINDEPTH
    maxage = DEFAULT_MAXAGE
    minage: int | None = None
    for directive in directives:
        for name, value in directive.options:
            if name == "maxdepth":
                maxdepth = value
            elif name == "maxmem":
                maxdepth = (value * 1024) // ENTRY_BYTES
            elif name == "mindepth":
                mindepth = value
            elif name == "maxage":
                maxage = value
            elif name == "minage":
                minage = value
    return MRUSettings(maxdepth=maxdepth, mindepth=mindepth, maxage=maxage, minage=minage)
