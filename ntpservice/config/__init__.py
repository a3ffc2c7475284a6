# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The ntp.conf parser: ntpd's and NTPsec's configuration language turned into
typed, immutable, validated configuration objects.

Theory of operation
===================

A configuration file is a sequence of lines. C{#} starts a comment that runs
to the end of the line; blank lines are ignored; a line is a directive name
followed by arguments separated by whitespace. A double-quoted string is a
single argument (so a path may contain spaces). There is no line continuation:
ntpd has none, and a line that a mail client wrapped is an error here (ntpd
would log it and carry on; we refuse the whole file, see below).

C{includefile PATH} reads another file in place, relative to the directory of
the file that includes it; include loops and nesting deeper than
L{MAX_INCLUDE_DEPTH} are errors.

Every directive is parsed by a function found in a L{DirectiveRegistry}. The
function gets a L{ConfigLine} (the directive name and its arguments) and a
L{SourceLocation}, and returns an immutable object describing the line, or
raises L{ConfigError}. The built-in directives are registered in
L{defaultRegistry}; plugins register their own directives there (or take
over a built-in one with L{DirectiveRegistry.unregister} followed by
L{DirectiveRegistry.register}) without editing this package.

What a parser returns decides where it lands in the L{Configuration}:
instances of the built-in classes land in their typed fields (any
L{AssociationDirective}, whoever parsed it, lands in
L{Configuration.associations}, in file order), anything else lands in
L{Configuration.extra} as C{(directive, object)} pairs, in file order, and
C{None} is dropped.

Errors
======

The first error refuses the whole configuration: L{parseFile} and
L{parseString} either return a complete L{Configuration} or raise
L{ConfigError}, whose C{str()} is C{FILE:LINE: what is wrong}. Things ntpd
accepts but which are suspicious (a duplicate C{server} line, C{kod} without
C{limited}, autokey directives, ...) are not errors: they are recorded in
L{Configuration.warnings} as C{FILE:LINE: ...} strings.

This package reads files; it never opens sockets, resolves names or touches
the clock.

The pieces
==========

Every public name is importable from C{ntpservice.config} itself; the
modules are where each concern lives:

  - L{lexer <ntpservice.config.lexer>}: lines into words (comments, quoted
    strings, no continuation), L{SourceLocation} (C{FILE:LINE}),
    L{ConfigError}, L{ConfigLine};
  - L{includes <ntpservice.config.includes>}: reading files,
    C{includefile}, its depth limit and loop check;
  - L{registry <ntpservice.config.registry>}: L{DirectiveRegistry}, how
    lines are dispatched to parsers and how plugins own directives;
  - L{arguments <ntpservice.config.arguments>}: argument checks shared by
    every parser (L{parseInteger}, L{parseNumber}, addresses, ...);
  - L{directives <ntpservice.config.directives>}: the built-in directives,
    grouped (associations, access, auth, system, monitoring, interfaces,
    misc), and L{defaultRegistry};
  - L{configuration <ntpservice.config.configuration>}: L{Configuration}
    and its derived settings;
  - L{parser <ntpservice.config.parser>}: the parser loop, L{parseString},
    L{parseFile}, L{defaultConfiguration} and the built-in default
    configuration.

@see: ntp.conf(5) of ntpd 4.2.8 and of NTPsec.
"""

from __future__ import annotations

from ntpservice.config.arguments import parseInteger, parseNumber
from ntpservice.config.configuration import Configuration
from ntpservice.config.directives import defaultRegistry
from ntpservice.config.directives.access import (
    RESTRICT_FLAGS,
    DiscardDirective,
    DiscardSettings,
    RestrictDirective,
)
from ntpservice.config.directives.associations import (
    DEFAULT_MAXPOLL_LOG2,
    DEFAULT_MINPOLL_LOG2,
    DEFAULT_MULTICAST_GROUP,
    MAXPOLL_LOG2,
    MINPOLL_LOG2,
    AddressedAssociationDirective,
    AssociationDirective,
    BroadcastClientDirective,
    BroadcastDirective,
    ManycastClientDirective,
    ManycastServerDirective,
    MulticastClientDirective,
    PeerDirective,
    PoolDirective,
    ServerDirective,
    parseAssociation,
)
from ntpservice.config.directives.auth import (
    MAX_KEY_ID,
    AutokeyDirective,
    TrustedKeyDirective,
)
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
    STATISTICS_NAMES,
    FilegenDirective,
    LogconfigDirective,
    MruDirective,
    StatisticsDirective,
    TrapDirective,
)
from ntpservice.config.directives.system import (
    DISCIPLINE_ALGORITHMS,
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
from ntpservice.config.includes import MAX_INCLUDE_DEPTH
from ntpservice.config.lexer import ConfigError, ConfigLine, SourceLocation
from ntpservice.config.parser import (
    DEFAULT_CONFIGURATION_FILENAME,
    DEFAULT_CONFIGURATION_TEXT,
    DEFAULT_DRIFTFILE_PATH,
    defaultConfiguration,
    parseFile,
    parseString,
)
from ntpservice.config.registry import (
    BUILTIN_OWNER,
    DirectiveConflictError,
    DirectiveParser,
    DirectiveRegistry,
)

__all__ = [
    "AddressedAssociationDirective",
    "AssociationDirective",
    "AutokeyDirective",
    "BUILTIN_OWNER",
    "BroadcastClientDirective",
    "BroadcastDirective",
    "ConfigError",
    "ConfigLine",
    "Configuration",
    "DEFAULT_CONFIGURATION_FILENAME",
    "DEFAULT_CONFIGURATION_TEXT",
    "DEFAULT_DRIFTFILE_PATH",
    "DEFAULT_MAXPOLL_LOG2",
    "DEFAULT_MINPOLL_LOG2",
    "DEFAULT_MULTICAST_GROUP",
    "DISCIPLINE_ALGORITHMS",
    "Directive",
    "DirectiveConflictError",
    "DirectiveParser",
    "DirectiveRegistry",
    "DiscardDirective",
    "DiscardSettings",
    "DisciplineDirective",
    "DriftfileDirective",
    "FilegenDirective",
    "InterfaceDirective",
    "LeapfileDirective",
    "LogconfigDirective",
    "MAX_INCLUDE_DEPTH",
    "MAX_KEY_ID",
    "MAXPOLL_LOG2",
    "MINPOLL_LOG2",
    "ManycastClientDirective",
    "ManycastServerDirective",
    "MruDirective",
    "MulticastClientDirective",
    "NumberDirective",
    "PathDirective",
    "PeerDirective",
    "PhoneDirective",
    "PoolDirective",
    "RESTRICT_FLAGS",
    "RefclockDirective",
    "RestrictDirective",
    "RlimitDirective",
    "STATISTICS_NAMES",
    "SWITCH_DEFAULTS",
    "ServerDirective",
    "SetvarDirective",
    "SourceLocation",
    "StatisticsDirective",
    "SwitchDirective",
    "TinkerDirective",
    "TinkerSettings",
    "TosDirective",
    "TosSettings",
    "TrapDirective",
    "TrustedKeyDirective",
    "defaultConfiguration",
    "defaultRegistry",
    "parseAssociation",
    "parseFile",
    "parseInteger",
    "parseNumber",
    "parseString",
]
