# -*- test-case-name: tests.test_coreconfig -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Configuration objects to core settings: the adapters between the parsed
C{ntp.conf} (L{ntpservice.config}) and the settings and tables of the pure
core (L{ntpservice.core}).

The core knows no configuration type: it defines the settings it needs
(L{RestrictRule}, L{MRUSettings}, ...) and the assembly code (the daemon,
the service, the simulator) turns configuration directives into them with
the functions here, so that the core imports nothing outside itself.
"""

from __future__ import annotations

from typing import Iterable

from ntpservice.config import MruDirective, RestrictDirective
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
    "mruSettings",
    "restrictRule",
    "restrictTable",
]


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
