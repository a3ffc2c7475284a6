# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The built-in directives, one module per group:

  - L{base <ntpservice.config.directives.base>}: the
    L{Directive <ntpservice.config.Directive>} base and the generic path
    and number directives;
  - L{associations <ntpservice.config.directives.associations>}:
    C{server}, C{peer}, C{pool}, C{broadcast}, C{manycastclient},
    C{broadcastclient}, C{multicastclient}, C{manycastserver};
  - L{access <ntpservice.config.directives.access>}: C{restrict},
    C{unrestrict}, C{delrestrict}, C{discard};
  - L{auth <ntpservice.config.directives.auth>}: C{keys}, C{trustedkey},
    C{requestkey}, C{controlkey}, and the autokey directives;
  - L{system <ntpservice.config.directives.system>}: C{enable},
    C{disable}, C{tos}, C{tinker}, C{discipline}, C{driftfile},
    C{leapfile}, C{broadcastdelay}, C{nonvolatile};
  - L{monitoring <ntpservice.config.directives.monitoring>}:
    C{statistics}, C{filegen}, C{statsdir}, C{logfile}, C{logconfig},
    C{mru}, C{trap};
  - L{interfaces <ntpservice.config.directives.interfaces>}: C{interface},
    C{nic}, C{dscp};
  - L{misc <ntpservice.config.directives.misc>}: C{fudge}, C{refclock},
    C{setvar}, C{phone}, C{rlimit}, C{saveconfigdir}, C{pidfile}.

Each module defines its directive classes (immutable dataclasses), their
parsers, and a C{PARSERS} table from directive name to parser;
L{defaultRegistry} registers every table, and the C{enable}/C{disable}
flags, under L{BUILTIN_OWNER <ntpservice.config.BUILTIN_OWNER>}. A new
built-in directive is a class, a parser and an entry in its group's table
(and, if it has a typed field, a line in L{ntpservice.config.parser}).
"""

from __future__ import annotations

from ntpservice.config.directives import (
    access,
    associations,
    auth,
    interfaces,
    misc,
    monitoring,
    system,
)
from ntpservice.config.directives.system import SWITCH_DEFAULTS
from ntpservice.config.includes import includefileParser
from ntpservice.config.registry import BUILTIN_OWNER, DirectiveRegistry

__all__ = [
    "defaultRegistry",
]

_GROUPS = (associations, access, interfaces, system, auth, monitoring, misc)


def defaultRegistry() -> DirectiveRegistry:
    """
    A new registry holding the built-in directives and switches, owned by
    L{BUILTIN_OWNER}.
    """
    registry = DirectiveRegistry()
    registry.register("includefile", includefileParser, BUILTIN_OWNER)
    for group in _GROUPS:
        for name, parser in group.PARSERS.items():
            registry.register(name, parser, BUILTIN_OWNER)
    for switch in SWITCH_DEFAULTS:
        registry.registerSwitch(switch, BUILTIN_OWNER)
    return registry
