# -*- test-case-name: tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Runtime configuration (C{ntpq :config}) for the mode 6 server.

A runtime line is parsed by the configuration parser as a line of
C{ntp.conf} would be, checked against the keys in use, and applied through
the running mode plugins: C{server} lines through the C{client} plugin,
C{pool} lines through the C{pool} plugin; C{unpeer} demobilizes through the
daemon. Only L{RUNTIME_DIRECTIVES} may be given. Who may configure (the
C{controlkey}, C{nomodify}) is the server's business
(L{ntpservice.control.mode6.server}).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ntpservice import config as _config
from ntpservice._log import Logger
from ntpservice.auth.keyring import checkAssociationKey
from ntpservice.control.mode6.events import ControlEvents

RUNTIME_DIRECTIVES = ("server", "pool", "unpeer")
"""What C{ntpq :config} may say."""


class RuntimeConfiguration:
    """
    Apply C{ntpq :config} text to one daemon.
    """

    _log = Logger()

    def __init__(self, daemon: Any, events: ControlEvents) -> None:
        """
        @param daemon: the L{ntpservice.daemon.NTPDaemon}.
        @param events: the event bookkeeping, which shows C{pool} lines as
            associations.
        """
        self._daemon = daemon
        self._counters = daemon.counters
        self._events = events

    def configure(self, text: str, origin: str) -> str:
        """
        Apply C{:config} text: C{server}, C{pool} and C{unpeer} lines.

        Names are resolved without blocking (the mode plugins resolve
        them); an address literal is mobilized at once.

        @param text: the configuration lines.
        @param origin: who sent them (for the log and error locations).
        @return: C{"Config Succeeded"}, or one line per error.
        """
        self._log.info(
            "Runtime configuration from {origin}: {text}",
            origin=origin,
            text=text.strip(),
        )
        errors = []
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.strip().strip("\0")
            if not line or line.startswith("#"):
                continue
            try:
                self._configureLine(line, f"ntpq {origin}", number)
            except (_config.ConfigError, ValueError) as e:
                message = e.message if isinstance(e, _config.ConfigError) else str(e)
                errors.append(f"line {number}: {message}")
        if errors:
            self._counters.count("control.configerrors")
            return "\n".join(errors)
        return "Config Succeeded"

    def _configureLine(self, line: str, filename: str, number: int) -> None:
        words = line.split()
        directive = words[0]
        if directive not in RUNTIME_DIRECTIVES:
            raise ValueError(
                f"{directive!r} cannot be configured at run time "
                f"(only {', '.join(RUNTIME_DIRECTIVES)})"
            )
        if directive == "unpeer":
            if len(words) != 2:
                raise ValueError("unpeer takes one address, name or association ID")
            self._unpeer(words[1])
            return
        parsed = _config.parseString("\n" * (number - 1) + line + "\n", filename)
        for warning in parsed.warnings:
            self._log.warn("{warning}", warning=warning)
        association = parsed.associations[0]
        # The key checks of the configuration file, against the keys in use.
        keys = self._daemon.configuration.keys
        checkAssociationKey(
            association, self._daemon.keyring, keys.path if keys is not None else None
        )
        instance = self._daemon.runtimeConfigurable(directive)
        if instance is None:
            raise ValueError(f"{directive} lines are disabled (no running mode plugin)")
        if directive == "server":
            if association.isRefclock:
                raise ValueError("reference clocks cannot be added at run time")
            try:
                literal = str(ipaddress.ip_address(association.address.partition("%")[0]))
            except ValueError:
                literal = None
            if literal is not None and self._daemon.engine.find(literal, association.port):
                raise ValueError(f"{literal} has an association already")
            instance.addDirective(association)
        else:
            if any(
                p.directive.address.lower() == association.address.lower()
                for p in self._events.pools.values()
            ):
                raise ValueError(f"pool {association.address} exists already")
            instance.addDirective(association)
            self._events.addPool(association)

    def _unpeer(self, target: str) -> None:
        engine = self._daemon.engine
        victims: list[int] = []
        if target.isdigit():
            associd = int(target)
            if associd in self._events.pools:
                self._removePool(associd)
                return
            if associd in engine.associations.byID:
                victims = [associd]
        if not victims:
            try:
                address = str(ipaddress.ip_address(target.partition("%")[0]))
            except ValueError:
                address = None
            for association in engine.associations:
                if (address is not None and association.address == address) or (
                    association.settings.name is not None
                    and association.settings.name.lower() == target.lower()
                ):
                    victims.append(association.associd)
        if not victims:
            for associd, pool in list(self._events.pools.items()):
                if pool.directive.address.lower() == target.lower():
                    self._removePool(associd)
                    return
            client = self._daemon.runtimeConfigurable("server")
            if client is not None and client.removeDirective(target):
                # A server line given at run time whose name still resolves.
                return
            raise ValueError(f"no association for {target}")
        for associd in victims:
            association = engine.associations.byID[associd]
            if association.settings.refclock is not None:
                raise ValueError(
                    f"the reference clock {association.settings.name or association.address} "
                    "cannot be removed at run time"
                )
        for associd in victims:
            self._daemon.demobilize(associd, "unpeer (ntpq :config)")

    def _removePool(self, associd: int) -> None:
        pool = self._events.removePool(associd)
        instance = self._daemon.runtimeConfigurable("pool")
        if instance is not None:
            instance.removeDirective(pool.directive.address)
