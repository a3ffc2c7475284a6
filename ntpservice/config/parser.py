# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The parser loop and the top-level parse functions: L{parseString},
L{parseFile}, L{defaultConfiguration}.

The loop reads the lines of a file from the lexer
(L{ntpservice.config.lexer}), follows C{includefile} in place
(L{ntpservice.config.includes}), dispatches every other line through the
registry (L{ntpservice.config.registry}) to its parser, and hands what the
parser returned to a builder, which assembles the L{Configuration}.

What a parser returns decides where it lands: instances of the built-in
classes land in their typed fields (any L{AssociationDirective}, whoever
parsed it, lands in L{Configuration.associations}, in file order), anything
else lands in L{Configuration.extra} as C{(directive, object)} pairs, in
file order, and C{None} is dropped. The builder also drops repeated
associations, checks the names C{enable}/C{disable} give, lets a later
one-value directive (C{driftfile}, C{keys}, ...) replace an earlier one,
and records in L{Configuration.warnings} what it accepted but finds
suspicious, each as C{FILE:LINE: ...}.

The first error refuses the whole configuration: L{parseFile} and
L{parseString} either return a complete L{Configuration} or raise
L{ConfigError}.
"""

from __future__ import annotations

import os
import types
from typing import Mapping

from ntpservice.config.configuration import Configuration
from ntpservice.config.directives import defaultRegistry
from ntpservice.config.directives.access import DiscardDirective, RestrictDirective
from ntpservice.config.directives.associations import (
    AddressedAssociationDirective,
    AssociationDirective,
)
from ntpservice.config.directives.auth import AutokeyDirective, TrustedKeyDirective
from ntpservice.config.directives.base import (
    Directive,
    NumberDirective,
    PathDirective,
)
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
    DriftfileDirective,
    LeapfileDirective,
    SwitchDirective,
    TinkerDirective,
    TosDirective,
    TosSettings,
)
from ntpservice.config.files import (
    MAX_TOTAL_CONFIG_BYTES,
    shortenMessage,
    shortQuote,
)
from ntpservice.config.includes import readFile, readInclude
from ntpservice.config.lexer import (
    ConfigError,
    ConfigLine,
    SourceLocation,
    tokenizeLines,
)
from ntpservice.config.registry import BUILTIN_OWNER, DirectiveRegistry

__all__ = [
    "DEFAULT_CONFIGURATION_FILENAME",
    "DEFAULT_CONFIGURATION_TEXT",
    "DEFAULT_DRIFTFILE_PATH",
    "defaultConfiguration",
    "parseFile",
    "parseString",
]

DEFAULT_DRIFTFILE_PATH = "/var/lib/ntpservice/ntp.drift"
"""
The drift file of the built-in default configuration. The service may put
it into another directory when this one is not writable.
"""

DEFAULT_CONFIGURATION_FILENAME = "<built-in default>"
"""The pseudo-filename under which L{DEFAULT_CONFIGURATION_TEXT} is parsed."""

DEFAULT_CONFIGURATION_TEXT = f"""\
# Built-in default configuration of ntpservice, used when no configuration
# file was given with -c and /etc/ntp.conf does not exist.

# Time from the NTP pool; iburst makes the first synchronization fast.
pool pool.ntp.org iburst

# Serve time to everybody, rate-limited, but refuse queries, configuration
# changes and peering. Local users may query and configure.
restrict default kod limited nomodify nopeer noquery
restrict -6 default kod limited nomodify nopeer noquery
restrict 127.0.0.1
restrict ::1
# Our own servers: no rate limit on their replies (restrict applies to them
# too, as in ntpd).
restrict source nomodify nopeer noquery

driftfile {DEFAULT_DRIFTFILE_PATH}
"""
"""The built-in configuration, in ntp.conf syntax."""

_BUILTIN_REGISTRY = defaultRegistry()

_SINGLETON_FIELDS: Mapping[str, str] = types.MappingProxyType(
    {
        "keys": "keys",
        "statsdir": "statsdir",
        "logfile": "logfile",
        "saveconfigdir": "saveconfigdir",
        "pidfile": "pidfile",
        "requestkey": "requestKey",
        "controlkey": "controlKey",
        "broadcastdelay": "broadcastDelay",
        "nonvolatile": "nonvolatile",
        "dscp": "dscp",
        "leapsmearinterval": "leapSmearInterval",
    }
)

_LIST_FIELDS: Mapping[type, str] = types.MappingProxyType(
    {
        RestrictDirective: "restrictions",
        InterfaceDirective: "interfaces",
        SwitchDirective: "switchDirectives",
        TrustedKeyDirective: "trustedKeyDirectives",
        TosDirective: "tosDirectives",
        TinkerDirective: "tinkerDirectives",
        StatisticsDirective: "statisticsDirectives",
        FilegenDirective: "filegens",
        LogconfigDirective: "logconfigDirectives",
        DiscardDirective: "discardDirectives",
        MruDirective: "mruDirectives",
        RlimitDirective: "rlimitDirectives",
        RefclockDirective: "refclocks",
        SetvarDirective: "setvars",
        TrapDirective: "traps",
        PhoneDirective: "phones",
        AutokeyDirective: "autokey",
    }
)


class _Builder:
    """
    Collects parsed directives and assembles the L{Configuration}.
    """

    def __init__(self, registry: DirectiveRegistry) -> None:
        self._registry = registry
        self._lists: dict[str, list[object]] = {
            name: [] for name in _LIST_FIELDS.values()
        }
        self._lists["associations"] = []
        self._lists["extra"] = []
        self._singletons: dict[str, Directive] = {}
        self._seenAssociations: dict[tuple[str, str, int | None], SourceLocation] = {}
        self.warnings: list[str] = []
        self.files: list[str] = []
        self.bytesRead = 0

    def add(self, directive: str, result: object, source: SourceLocation) -> None:
        """
        Put what a directive parser returned where it belongs.

        @param directive: the directive of the line.
        @param result: what its parser returned.
        @param source: where the line is.
        @raise ConfigError: when C{enable}/C{disable} name an unknown switch.
        """
        if result is None:
            return
        if isinstance(result, AssociationDirective):
            self._addAssociation(result)
        elif isinstance(result, SwitchDirective):
            switches = self._registry.switches()
            for name in result.names:
                if name not in switches:
                    raise ConfigError(
                        source, f"unknown {result.directive} flag {name!r}"
                    )
            self._lists["switchDirectives"].append(result)
        elif isinstance(result, DriftfileDirective):
            self._setSingleton("driftfile", result)
        elif isinstance(result, LeapfileDirective):
            self._setSingleton("leapfile", result)
        elif isinstance(result, (PathDirective, NumberDirective)):
            field = _SINGLETON_FIELDS.get(result.directive)
            if field is None:
                self._lists["extra"].append((directive, result))
            else:
                self._setSingleton(field, result)
        elif isinstance(result, tuple(_LIST_FIELDS)):
            field = next(
                f for cls, f in _LIST_FIELDS.items() if isinstance(result, cls)
            )
            self._lists[field].append(result)
            if isinstance(result, AutokeyDirective):
                self.warnings.append(
                    f"{source}: autokey is not supported; "
                    f"{result.directive!r} is ignored"
                )
            elif isinstance(result, RestrictDirective):
                if "kod" in result.flags and "limited" not in result.flags:
                    self.warnings.append(f"{source}: kod does nothing without limited")
        else:
            self._lists["extra"].append((directive, result))

    def _addAssociation(self, association: AssociationDirective) -> None:
        """
        Append an association, dropping a repeated (directive, address,
        family) with a warning (seed 001: duplicate C{server} lines for one
        name are ignored).
        """
        if isinstance(association, AddressedAssociationDirective):
            key = (
                association.directive,
                association.address.lower(),
                association.ipVersion,
            )
            if key in self._seenAssociations:
                self.warnings.append(
                    f"{association.source}: duplicate {association.directive} "
                    f"{association.address} ignored (the first is at "
                    f"{self._seenAssociations[key]})"
                )
                return
            self._seenAssociations[key] = association.source
            if "autokey" in association.flags or association.ident is not None:
                self.warnings.append(
                    f"{association.source}: autokey is not supported; "
                    f"the {association.directive} {association.address} "
                    "autokey options are ignored"
                )
        self._lists["associations"].append(association)

    def _setSingleton(self, field: str, result: Directive) -> None:
        """
        Set a one-value field; a later line replaces an earlier one, with a
        warning.
        """
        previous = self._singletons.get(field)
        if previous is not None:
            self.warnings.append(
                f"{result.source}: {result.directive} replaces the one "
                f"at {previous.source}"
            )
        self._singletons[field] = result

    def build(self) -> Configuration:
        """
        Assemble the configuration from everything added.
        """
        fields: dict[str, object] = {
            name: tuple(items) for name, items in self._lists.items()
        }
        fields.update(self._singletons)
        self._checkTos(fields["tosDirectives"])  # type: ignore[arg-type]
        fields["warnings"] = tuple(shortenMessage(w) for w in self.warnings)
        fields["files"] = tuple(self.files)
        return Configuration(**fields)  # type: ignore[arg-type]

    def _checkTos(self, tosDirectives: tuple[TosDirective, ...]) -> None:
        """
        Warn, as ntpd does, when minsane < minclock <= maxclock fails.
        """
        if not tosDirectives:
            return
        values: dict[str, object] = {}
        for directive in tosDirectives:
            values.update(directive.options)
        settings = TosSettings(**values)  # type: ignore[arg-type]
        if not (settings.minsane < settings.minclock <= settings.maxclock):
            # Name the last line that set one of the three.
            source = tosDirectives[-1].source
            for directive in tosDirectives:
                if any(
                    name in ("minsane", "minclock", "maxclock")
                    for name, _ in directive.options
                ):
                    source = directive.source
            self.warnings.append(
                f"{source}: tos: minsane ({settings.minsane}) < "
                f"minclock ({settings.minclock}) <= maxclock ({settings.maxclock}) "
                "does not hold; the daemon will not select sources properly"
            )


def _parseLines(
    text: str,
    filename: str,
    registry: DirectiveRegistry,
    builder: _Builder,
    includeStack: tuple[str, ...],
) -> None:
    """
    Parse the lines of one file into C{builder}, following includes.

    @param includeStack: the real paths of the files being read, outermost
        first (the last one is C{filename}'s).
    """
    for source, tokens in tokenizeLines(text, filename):
        directive, arguments = tokens[0], tokens[1:]
        if (
            directive == "includefile"
            and registry.ownerOf("includefile") == BUILTIN_OWNER
        ):
            path, included, stack = readInclude(arguments, source, includeStack)
            builder.bytesRead += len(included)
            if builder.bytesRead > MAX_TOTAL_CONFIG_BYTES:
                raise ConfigError(
                    source,
                    f"includefile {shortQuote(arguments[0])}: more than "
                    f"{MAX_TOTAL_CONFIG_BYTES} characters of configuration "
                    "in all (the main file and its includes)",
                )
            builder.files.append(path)
            _parseLines(included, path, registry, builder, stack)
            continue
        parser = registry.lookup(directive)
        if parser is None:
            raise ConfigError(source, f"unknown directive {shortQuote(directive)}")
        line = ConfigLine(directive, arguments, source)
        try:
            result = parser(line, source)
        except ConfigError:
            raise
        except ValueError as e:
            raise ConfigError(source, f"{directive}: {e}") from e
        builder.add(directive, result, source)


def parseString(
    text: str, filename: str = "<string>", registry: DirectiveRegistry | None = None
) -> Configuration:
    """
    Parse configuration text.

    @param text: the contents of an ntp.conf.
    @param filename: the name used in locations and errors; relative
        C{includefile} paths are resolved against its directory (the
        current directory for a bare pseudo-name like C{<string>}).
    @param registry: the directives to accept; the built-in ones when
        C{None}.
    @return: the configuration.
    @raise ConfigError: on the first error, refusing the whole text.
    """
    if registry is None:
        registry = _BUILTIN_REGISTRY
    builder = _Builder(registry)
    builder.files.append(filename)
    builder.bytesRead = len(text)
    _parseLines(text, filename, registry, builder, (os.path.realpath(filename),))
    return builder.build()


def parseFile(path: str, registry: DirectiveRegistry | None = None) -> Configuration:
    """
    Parse a configuration file.

    @param path: the file (C{/etc/ntp.conf}).
    @param registry: the directives to accept; the built-in ones when
        C{None}.
    @return: the configuration.
    @raise ConfigError: when the file cannot be read (C{str()} is then
        C{FILE: cannot read ...}) or on the first error, refusing the
        whole file.
    """
    text = readFile(path, SourceLocation(path, 0), "cannot read configuration file")
    return parseString(text, path, registry)


def defaultConfiguration() -> Configuration:
    """The built-in default configuration (L{DEFAULT_CONFIGURATION_TEXT}), parsed."""
    return parseString(DEFAULT_CONFIGURATION_TEXT, DEFAULT_CONFIGURATION_FILENAME)
