# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The directive registry: which function parses which directive, and the
door through which plugins own directives.

Every line is dispatched on its first word: the parser loop
(L{ntpservice.config.parser}) looks the word up in a L{DirectiveRegistry}
and calls the L{DirectiveParser} found there as C{parser(line, source)};
a word nobody registered is an error (C{unknown directive 'x'}). A parser
returns an immutable object describing the line (or C{None}), or raises
L{ConfigError <ntpservice.config.ConfigError>}; a C{ValueError} it raises
becomes
C{FILE:LINE: DIRECTIVE: message}.

Each entry is registered under the name of its owner: L{BUILTIN_OWNER} for
the built-in directives (L{ntpservice.config.directives.defaultRegistry}),
a plugin name for a plugin's. Two owners never share a name
(L{DirectiveConflictError}); the same owner may register a name again,
replacing its parser. That is the hook association-mode plugins use
(L{ntpservice.plugins.registryFor}): a plugin takes over a built-in
directive with C{registry.unregister(name, BUILTIN_OWNER)} and then
C{registry.register(name, parser, "myplugin")}, or adds a directive of its
own, without editing this package. Whatever a plugin's parser returns is
kept: an L{ntpservice.config.AssociationDirective} lands in
L{Configuration.associations <ntpservice.config.Configuration.associations>}
like a built-in one, any other object in
L{Configuration.extra <ntpservice.config.Configuration.extra>}.

The registry also holds the names that C{enable} and C{disable} accept
(L{DirectiveRegistry.registerSwitch}): the built-in flags of
L{ntpservice.config.SWITCH_DEFAULTS} and each plugin's on/off switch.

C{includefile} is registered too, but only to reserve the name: while
L{BUILTIN_OWNER} owns it, the parser loop follows includes itself
(L{ntpservice.config.includes}).
"""

from __future__ import annotations

from typing import Callable

from ntpservice.config.lexer import ConfigLine, SourceLocation

__all__ = [
    "BUILTIN_OWNER",
    "DirectiveConflictError",
    "DirectiveParser",
    "DirectiveRegistry",
]

BUILTIN_OWNER = "ntpservice"
"""The owner name under which the built-in directives are registered."""

DirectiveParser = Callable[[ConfigLine, SourceLocation], object]
"""
A directive parser: C{parser(line, source)} returns an immutable object
describing the line (or C{None}), or raises L{ConfigError}.
"""


class DirectiveConflictError(ValueError):
    """
    A directive (or an C{enable}/C{disable} switch) was registered by two
    different owners.
    """


class DirectiveRegistry:
    """
    Which function parses which directive, and which names C{enable} and
    C{disable} accept; each registered under the name of its owner (a
    plugin name, or L{BUILTIN_OWNER}).

    A plugin takes over a built-in directive with
    C{registry.unregister(name, BUILTIN_OWNER)} and then
    C{registry.register(name, parser, "myplugin")}.
    """

    def __init__(self) -> None:
        self._parsers: dict[str, tuple[DirectiveParser, str]] = {}
        self._switches: dict[str, str] = {}

    @staticmethod
    def _checkName(name: str) -> None:
        if not name or any(c.isspace() or c in '#"' for c in name):
            raise ValueError(f"{name!r} cannot be a directive or switch name")

    def register(self, name: str, parser: DirectiveParser, owner: str) -> None:
        """
        Register C{parser} for directive C{name}.

        @param name: the directive (the first word of a line).
        @param parser: called as C{parser(line, source)} for every such line.
        @param owner: who registers it (a plugin name).
        @raise DirectiveConflictError: when another owner registered
            C{name}. The same owner may register again (replacing).
        """
        self._checkName(name)
        existing = self._parsers.get(name)
        if existing is not None and existing[1] != owner:
            raise DirectiveConflictError(
                f"directive {name!r} is already registered by {existing[1]!r}; "
                f"{owner!r} cannot register it too"
            )
        self._parsers[name] = (parser, owner)

    def unregister(self, name: str, owner: str) -> None:
        """
        Remove directive C{name}, so another owner can register it.

        @param owner: who registered it; must match.
        @raise KeyError: when C{name} is not registered.
        @raise DirectiveConflictError: when C{owner} does not own C{name}.
        """
        existing = self._parsers[name]
        if existing[1] != owner:
            raise DirectiveConflictError(
                f"directive {name!r} is registered by {existing[1]!r}, not by {owner!r}"
            )
        del self._parsers[name]

    def lookup(self, name: str) -> DirectiveParser | None:
        """The parser of directive C{name}, or C{None}."""
        entry = self._parsers.get(name)
        return None if entry is None else entry[0]

    def ownerOf(self, name: str) -> str | None:
        """The owner of directive C{name}, or C{None}."""
        entry = self._parsers.get(name)
        return None if entry is None else entry[1]

    def names(self) -> frozenset[str]:
        """Every registered directive name."""
        return frozenset(self._parsers)

    def registerSwitch(self, name: str, owner: str) -> None:
        """
        Let C{enable}/C{disable} name C{name} (a plugin's on/off switch).

        @raise DirectiveConflictError: when another owner registered it.
        """
        self._checkName(name)
        existing = self._switches.get(name)
        if existing is not None and existing != owner:
            raise DirectiveConflictError(
                f"switch {name!r} is already registered by {existing!r}; "
                f"{owner!r} cannot register it too"
            )
        self._switches[name] = owner

    def switches(self) -> frozenset[str]:
        """Every name C{enable}/C{disable} accept."""
        return frozenset(self._switches)

    def copy(self) -> DirectiveRegistry:
        """A new registry with the same entries."""
        other = DirectiveRegistry()
        other._parsers = dict(self._parsers)
        other._switches = dict(self._switches)
        return other
