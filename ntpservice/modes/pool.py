# -*- test-case-name: tests.test_service,tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The pool plugin: C{pool NAME} is a persistent "pool client" that resolves
NAME (without blocking) and mobilizes ephemeral client associations, one per
new address, until C{tos maxclock} associations exist (seed 001). Ephemeral
associations go away when unreachable or preempted (the engine's rules);
the pool then resolves again to replace them. Addresses that already have
an association are skipped, so duplicates never arise.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from twisted.plugin import IPlugin

from ntpservice import config
from ntpservice._log import Logger
from ntpservice.interfaces import (
    IAssociationMode,
    IDaemon,
    IModeInstance,
    IRuntimeConfigurable,
    ISourceSpawner,
)
from ntpservice.modes.client import settingsFor
from ntpservice.net.resolve import HostResolver

REFILL_INTERVAL = 64.0
"""Seconds between checks whether the pool should mobilize more servers."""


@implementer(IModeInstance, ISourceSpawner, IRuntimeConfigurable)
class PoolMode:
    """
    Keeps C{tos maxclock} associations filled from the C{pool} names.
    """

    _log = Logger()

    def __init__(self, daemon: IDaemon) -> None:
        self._daemon = daemon
        self._resolver = HostResolver(daemon.reactor)
        self._call: Any = None
        self._resolving: set[str] = set()
        self._added: list[Any] = []
        self._removed: set[str] = set()

    def start(self) -> None:
        self._refill()

    def stop(self) -> None:
        self._resolver.cancel()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _wanted(self) -> int:
        daemon: Any = self._daemon
        return daemon.configuration.tos.maxclock - len(daemon.associations)

    def _refill(self) -> None:
        self._call = self._daemon.reactor.callLater(REFILL_INTERVAL, self._refill)
        if self._wanted() <= 0:
            return
        for directive in self._directives():
            self._resolve(directive)

    def associationRemoved(self, associd: int, address: str, reason: str) -> None:
        """
        A server of the pool was demobilized: look for a replacement at
        once rather than at the next refill.
        """
        for directive in self._directives():
            self._resolve(directive)

    def _directives(self) -> list[Any]:
        """The C{pool} lines in force: configured, then added at run time."""
        lines = [*self._daemon.configuration.associationsFor("pool"), *self._added]
        return [d for d in lines if d.address.lower() not in self._removed]

    def _resolve(self, directive: Any) -> None:
        if directive.address in self._resolving:
            return
        self._resolving.add(directive.address)
        self._resolver.resolve(
            directive.address,
            directive.ipVersion,
            lambda addresses, d=directive: self._mobilize(d, addresses),
        )

    def addDirective(self, directive: Any) -> None:
        """
        Add a C{pool} line at run time (C{ntpq :config}): its name is
        resolved without blocking, and servers are mobilized from it, now
        and at each refill, while fewer than C{tos maxclock} associations
        exist.

        @param directive: the parsed line (a
            L{ntpservice.config.PoolDirective}).
        """
        self._removed.discard(directive.address.lower())
        self._added.append(directive)
        if self._wanted() > 0:
            self._resolve(directive)

    def removeDirective(self, name: str) -> bool:
        """
        Stop mobilizing servers from the pool C{name} (C{ntpq :config
        unpeer NAME}). The associations it mobilized stay until they are
        demobilized like any ephemeral association.

        @return: whether such a pool line was in force.
        """
        known = any(d.address.lower() == name.lower() for d in self._directives())
        self._removed.add(name.lower())
        return known

    def _mobilize(self, directive: Any, addresses: list[str]) -> None:
        self._resolving.discard(directive.address)
        if directive.address.lower() in self._removed:
            return
        daemon: Any = self._daemon
        for address in addresses:
            if self._wanted() <= 0:
                return
            if daemon.associations.find(address, directive.port) is not None:
                continue
            association = daemon.mobilize(
                settingsFor(directive, address, lifecycle="ephemeral"), spawner=self
            )
            self._log.info(
                "Pool {name}: mobilized association {associd} with {address}",
                name=directive.address,
                associd=association.associd,
                address=address,
            )

    def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
        """
        The pool plugin claims no packet mode.
        """


@implementer(IPlugin, IAssociationMode)
class PoolModePlugin:
    """
    The C{pool} directive.
    """

    name = "pool"
    description = "mobilize servers from a DNS pool up to tos maxclock"
    directives = ("pool",)
    packetModes: tuple[int, ...] = ()
    enabledByDefault = True

    def parseDirective(self, line: Any, source: Any) -> object:
        return config.parseAssociation(line, source)

    def build(self, daemon: IDaemon) -> PoolMode:
        return PoolMode(daemon)


poolMode = PoolModePlugin()
