# -*- test-case-name: tests.test_service,tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The pool plugin: C{pool NAME} is a persistent "pool client" that resolves
NAME (without blocking, and again as the TTL of its answer expires) and
mobilizes ephemeral client associations, one per address, until C{tos
maxclock} associations exist (seed 001). Ephemeral associations go away when
unreachable, rejected as falsetickers or preempted (the engine's rules);
the pool then replaces them from the addresses it knows (asking the name
again when it knows no unused one), keeping the failed address out for
L{EXCLUDE_SECONDS}. Addresses that already have an association are
skipped, so duplicates never arise.
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

EXCLUDE_SECONDS = 3600.0
"""
Seconds during which the address of a member demobilized for a fault
(unreachable, a falseticker, a kiss of death) is not mobilized again.
"""

REQUERY_INTERVAL = 60.0
"""
Seconds: while the pool lacks members and its last answer has no unused
address, the name is asked again at most this often (a real pool answers
with other addresses each time).
"""


@implementer(IModeInstance, ISourceSpawner, IRuntimeConfigurable)
class PoolMode:
    """
    Keeps C{tos maxclock} associations filled from the C{pool} names.

    @ivar excluded: address to the reactor time until which it is not
        mobilized again.
    """

    _log = Logger()

    def __init__(self, daemon: IDaemon) -> None:
        self._daemon = daemon
        self._resolver = HostResolver(daemon.reactor)
        self._call: Any = None
        self._added: list[Any] = []
        self._removed: set[str] = set()
        # Pool name (lower case) -> its NameWatch.
        self._watches: dict[str, Any] = {}
        self._lastQuery: dict[str, float] = {}
        self.excluded: dict[str, float] = {}

    def start(self) -> None:
        for directive in self._directives():
            self._watch(directive)
        self._call = self._daemon.reactor.callLater(REFILL_INTERVAL, self._refill)

    def stop(self) -> None:
        self._resolver.cancel()
        self._watches = {}
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _wanted(self) -> int:
        daemon: Any = self._daemon
        return daemon.configuration.tos.maxclock - len(daemon.associations)

    def _now(self) -> float:
        return float(self._daemon.reactor.seconds())

    def _watch(self, directive: Any) -> None:
        key = directive.address.lower()
        if key in self._watches:
            return
        self._lastQuery[key] = self._now()
        # Known before its first answer, which may come at once (a literal).
        self._watches[key] = None
        watch = self._resolver.watch(
            directive.address,
            directive.ipVersion,
            lambda addresses: self._fill(),
        )
        self._watches[key] = watch
        if watch.addresses:
            self._fill()

    def _refill(self) -> None:
        self._call = self._daemon.reactor.callLater(REFILL_INTERVAL, self._refill)
        self._fill()

    def associationRemoved(self, associd: int, address: str, reason: str) -> None:
        """
        A server of the pool was demobilized: keep its address out for
        L{EXCLUDE_SECONDS} when it left for a fault, and look for a
        replacement at once rather than at the next refill.
        """
        if reason not in ("unpeer", "address changed"):
            self.excluded[address] = self._now() + EXCLUDE_SECONDS
        self._fill()

    def _directives(self) -> list[Any]:
        """The C{pool} lines in force: configured, then added at run time."""
        lines = [*self._daemon.configuration.associationsFor("pool"), *self._added]
        return [d for d in lines if d.address.lower() not in self._removed]

    def _fill(self) -> None:
        """
        Mobilize members, from the latest answer of each pool name, until
        C{tos maxclock} associations exist: never two associations to one
        address, nor an excluded address; ask the names again (at most every
        L{REQUERY_INTERVAL}) when their answers have no address left.
        """
        daemon: Any = self._daemon
        now = self._now()
        for address, until in list(self.excluded.items()):
            if until <= now:
                del self.excluded[address]
        for directive in self._directives():
            if self._wanted() <= 0:
                return
            key = directive.address.lower()
            if key not in self._watches:
                self._watch(directive)
                continue
            watch = self._watches[key]
            if watch is None:
                continue
            for address in watch.addresses:
                if self._wanted() <= 0:
                    return
                if address in self.excluded:
                    continue
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
            if self._wanted() > 0 and now - self._lastQuery.get(key, 0.0) >= REQUERY_INTERVAL:
                self._lastQuery[key] = now
                watch.refresh()

    def addDirective(self, directive: Any) -> None:
        """
        Add a C{pool} line at run time (C{ntpq :config}): its name is
        resolved without blocking (and again as its TTL expires), and
        servers are mobilized from it while fewer than C{tos maxclock}
        associations exist.

        @param directive: the parsed line (a
            L{ntpservice.config.PoolDirective}).
        """
        self._removed.discard(directive.address.lower())
        self._added.append(directive)
        self._watch(directive)

    def removeDirective(self, name: str) -> bool:
        """
        Stop mobilizing servers from the pool C{name} (C{ntpq :config
        unpeer NAME}). The associations it mobilized stay until they are
        demobilized like any ephemeral association.

        @return: whether such a pool line was in force.
        """
        known = any(d.address.lower() == name.lower() for d in self._directives())
        self._removed.add(name.lower())
        watch = self._watches.pop(name.lower(), None)
        if watch is not None:
            watch.cancel()
        return known

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
