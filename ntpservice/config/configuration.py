# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The L{Configuration}: a whole, validated configuration, immutable, every
item carrying its L{SourceLocation <ntpservice.config.SourceLocation>}; and its derived views (the C{tos},
C{tinker} and C{discard} settings in effect, the switches, the trusted
keys, the statistics to write). The parser loop
(L{ntpservice.config.parser}) builds it.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Mapping

from ntpservice.config.directives.access import (
    DiscardDirective,
    DiscardSettings,
    RestrictDirective,
)
from ntpservice.config.directives.associations import AssociationDirective
from ntpservice.config.directives.auth import AutokeyDirective, TrustedKeyDirective
from ntpservice.config.directives.base import NumberDirective, PathDirective
from ntpservice.config.directives.interfaces import InterfaceDirective
from ntpservice.config.directives.misc import (
    PhoneDirective,
    RefclockDirective,
    RlimitDirective,
    SetvarDirective,
)
from ntpservice.config.directives.monitoring import (
    FilegenDirective,
    LogconfigDirective,
    MruDirective,
    StatisticsDirective,
    TrapDirective,
)
from ntpservice.config.directives.system import (
    SWITCH_DEFAULTS,
    DisciplineDirective,
    DriftfileDirective,
    LeapfileDirective,
    SwitchDirective,
    TinkerDirective,
    TinkerSettings,
    TosDirective,
    TosSettings,
)

__all__ = [
    "Configuration",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Configuration:
    """
    A whole, validated configuration. Immutable; every item carries its
    L{SourceLocation <ntpservice.config.SourceLocation>}.

    The daemon currently acts on server-side answering, the drift file
    location, C{disable ntp} (L{clockAdjust}) and C{interface}; the rest is
    parsed and validated for later releases.

    @ivar associations: the association directives (L{AssociationDirective}
        instances), in file order, duplicate lines removed.
    @ivar restrictions: C{restrict}/C{unrestrict}/C{delrestrict} lines, in
        order.
    @ivar interfaces: C{interface}/C{nic} rules, in order.
    @ivar switchDirectives: C{enable}/C{disable} lines, in order (see
        L{isEnabled}).
    @ivar driftfile: the C{driftfile} line, or C{None}.
    @ivar leapfile: the C{leapfile} line, or C{None}.
    @ivar keys: the C{keys} line (L{PathDirective}), or C{None}.
    @ivar trustedKeyDirectives: C{trustedkey} lines (see L{trustedKeys}).
    @ivar requestKey: the C{requestkey} line (L{NumberDirective}) or C{None}.
    @ivar controlKey: the C{controlkey} line (L{NumberDirective}) or C{None}.
    @ivar tosDirectives: C{tos} lines (see L{tos}).
    @ivar tinkerDirectives: C{tinker} lines (see L{tinker}).
    @ivar statisticsDirectives: C{statistics} lines (see L{statistics}).
    @ivar statsdir: the C{statsdir} line or C{None}.
    @ivar filegens: C{filegen} lines.
    @ivar logfile: the C{logfile} line or C{None}.
    @ivar logconfigDirectives: C{logconfig} lines.
    @ivar broadcastDelay: the C{broadcastdelay} line or C{None}.
    @ivar discardDirectives: C{discard} lines (see L{discard}).
    @ivar mruDirectives: C{mru} lines (see L{mru}).
    @ivar rlimitDirectives: C{rlimit} lines.
    @ivar refclocks: C{fudge}/C{refclock} lines.
    @ivar setvars: C{setvar} lines.
    @ivar traps: C{trap} lines.
    @ivar phones: C{phone} lines.
    @ivar saveconfigdir: the C{saveconfigdir} line or C{None}.
    @ivar pidfile: the C{pidfile} line or C{None}.
    @ivar nonvolatile: the C{nonvolatile} line or C{None}.
    @ivar leapSmearInterval: the C{leapsmearinterval} line (seconds over
        which served time is smeared before a leap second) or C{None}.
    @ivar dscp: the C{dscp} line or C{None}.
    @ivar autokey: the autokey lines (accepted and ignored).
    @ivar extra: C{(directive, object)} for every plugin result that is
        not a built-in directive type, in file order.
    @ivar warnings: C{FILE:LINE: message} for everything suspicious that
        was accepted (duplicates dropped, overridden settings, ...).
    @ivar files: every file read (the main one first, then includes in the
        order they were read).
    """

    associations: tuple[AssociationDirective, ...] = ()
    restrictions: tuple[RestrictDirective, ...] = ()
    interfaces: tuple[InterfaceDirective, ...] = ()
    switchDirectives: tuple[SwitchDirective, ...] = ()
    driftfile: DriftfileDirective | None = None
    leapfile: LeapfileDirective | None = None
    keys: PathDirective | None = None
    trustedKeyDirectives: tuple[TrustedKeyDirective, ...] = ()
    requestKey: NumberDirective | None = None
    controlKey: NumberDirective | None = None
    tosDirectives: tuple[TosDirective, ...] = ()
    tinkerDirectives: tuple[TinkerDirective, ...] = ()
    statisticsDirectives: tuple[StatisticsDirective, ...] = ()
    statsdir: PathDirective | None = None
    filegens: tuple[FilegenDirective, ...] = ()
    logfile: PathDirective | None = None
    logconfigDirectives: tuple[LogconfigDirective, ...] = ()
    broadcastDelay: NumberDirective | None = None
    discardDirectives: tuple[DiscardDirective, ...] = ()
    mruDirectives: tuple[MruDirective, ...] = ()
    rlimitDirectives: tuple[RlimitDirective, ...] = ()
    refclocks: tuple[RefclockDirective, ...] = ()
    setvars: tuple[SetvarDirective, ...] = ()
    traps: tuple[TrapDirective, ...] = ()
    phones: tuple[PhoneDirective, ...] = ()
    saveconfigdir: PathDirective | None = None
    pidfile: PathDirective | None = None
    nonvolatile: NumberDirective | None = None
    dscp: NumberDirective | None = None
    leapSmearInterval: NumberDirective | None = None
    autokey: tuple[AutokeyDirective, ...] = ()
    extra: tuple[tuple[str, object], ...] = ()
    warnings: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def isEnabled(self, name: str, default: bool | None = None) -> bool:
        """
        Whether an C{enable}/C{disable} flag (or plugin name) is on.

        @param name: the flag (C{"ntp"}, C{"monitor"}) or plugin name.
        @param default: the value when no line mentions C{name}; C{None}
            means the built-in default of L{SWITCH_DEFAULTS}, or C{True} for
            a name that is not built in (plugins are on unless disabled).
        @return: the state set by the last line naming it.
        """
        state: bool | None = None
        for switch in self.switchDirectives:
            if name in switch.names:
                state = switch.enabled
        if state is not None:
            return state
        if default is not None:
            return default
        return SWITCH_DEFAULTS.get(name, True)

    @property
    def clockAdjust(self) -> bool:
        """
        Whether the daemon may adjust the system clock: C{False} after
        C{disable ntp} (the daemon then uses the no-adjust clock driver).
        """
        return self.isEnabled("ntp")

    @property
    def driftfilePath(self) -> str | None:
        """The drift file path, or C{None} when there is no C{driftfile}."""
        return None if self.driftfile is None else self.driftfile.path

    @property
    def trustedKeys(self) -> frozenset[int]:
        """Every key identifier named by any C{trustedkey} line."""
        keys: set[int] = set()
        for directive in self.trustedKeyDirectives:
            keys |= directive.keys
        return frozenset(keys)

    @property
    def statistics(self) -> frozenset[str]:
        """
        The statistics to write: those named by C{statistics} lines, then
        changed by C{filegen} lines in order (C{enable}, the default, adds
        one; C{disable} removes it), as ntpd applies them.
        """
        enabled: set[str] = set()
        for directive in self.statisticsDirectives:
            enabled |= directive.names
        for filegen in self.filegens:
            if filegen.enabled:
                enabled.add(filegen.name)
            else:
                enabled.discard(filegen.name)
        return frozenset(enabled)

    @property
    def tos(self) -> TosSettings:
        """The C{tos} settings in effect (the last value of each wins)."""
        values: dict[str, object] = {}
        for directive in self.tosDirectives:
            values.update(directive.options)
        return TosSettings(**values)  # type: ignore[arg-type]

    @property
    def tinker(self) -> TinkerSettings:
        """The C{tinker} settings in effect (the last value of each wins)."""
        values: dict[str, float] = {}
        for directive in self.tinkerDirectives:
            values.update(directive.options)
        return TinkerSettings(**values)  # type: ignore[arg-type]

    @property
    def discard(self) -> DiscardSettings:
        """The C{discard} settings in effect (the last value of each wins)."""
        values: dict[str, int] = {}
        for directive in self.discardDirectives:
            for name in ("average", "minimum", "monitor", "leak"):
                value = getattr(directive, name)
                if value is not None:
                    values[name] = value
        return DiscardSettings(**values)

    @property
    def mru(self) -> Mapping[str, int]:
        """The C{mru} options given (the last value of each wins)."""
        values: dict[str, int] = {}
        for directive in self.mruDirectives:
            values.update(directive.options)
        return types.MappingProxyType(values)

    @property
    def logconfig(self) -> tuple[str, ...]:
        """Every C{logconfig} keyword, in order."""
        return tuple(item for d in self.logconfigDirectives for item in d.items)

    @property
    def disciplineAlgorithm(self) -> str:
        """
        The clock-discipline loop: the last C{discipline} line's, else
        C{kalman}.
        """
        algorithm = "kalman"
        for name, item in self.extra:
            if isinstance(item, DisciplineDirective):
                algorithm = item.algorithm
        return algorithm

    def associationsFor(self, directive: str) -> tuple[AssociationDirective, ...]:
        """
        The associations of one directive.

        @param directive: C{"server"}, C{"pool"}, ...
        @return: those of L{associations} whose C{directive} it is, in order.
        """
        return tuple(a for a in self.associations if a.directive == directive)
