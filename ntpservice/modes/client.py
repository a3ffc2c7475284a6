# -*- test-case-name: tests.interop.test_client,tests.test_plugin_contract -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The client plugin: C{server} lines become client associations (mode 3)
that poll their server.

Host names are resolved without blocking the reactor (L{HostResolver}:
C{twisted.names}), retried with back-off while resolution fails, and
resolved again as their TTLs expire: when the address of a C{server NAME}
changes, its association moves to the new address (it is demobilized and a
new association, with a new association ID, is mobilized). Several
C{server} lines with one name give one association and a warning. A line
with C{nts} (RFC 8915) runs NTS-KE with the named server first: its
association appears once the exchange succeeds, at the NTP server and port
the exchange named, authenticated by the session
(L{ntpservice.nts.client}). Reference
clock addresses (C{127.127.t.u}) are not network servers: the daemon runs
them with their reference clock plugins (L{ntpservice.refclocks}).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zope.interface import implementer

from twisted.plugin import IPlugin

from ntpservice import config
from ntpservice._log import Logger
from ntpservice.core.association import AssociationSettings
from ntpservice.core.authenticator import authenticatorFor
from ntpservice.core.dispatch import ASSOC_CLIENT
from ntpservice.interfaces import (
    IAssociationMode,
    IDaemon,
    IModeInstance,
    IRuntimeConfigurable,
)
from ntpservice.net.resolve import HostResolver


def settingsFor(
    directive: config.AddressedAssociationDirective,
    address: str,
    lifecycle: str | None = None,
    hmode: int = ASSOC_CLIENT,
) -> AssociationSettings:
    """
    The association settings of a configuration line, for one resolved
    address.

    @param lifecycle: overrides the lifecycle (C{preempt} makes a
        configured association preemptable, else it is persistent).
    """
    if lifecycle is None:
        lifecycle = "preemptable" if directive.preempt else "persistent"
    return AssociationSettings(
        address=address,
        port=directive.port,
        hmode=hmode,
        version=directive.version,
        minPollLog2=directive.minPollLog2,
        maxPollLog2=directive.maxPollLog2,
        iburst=directive.iburst,
        burst=directive.burst,
        prefer=directive.prefer,
        noselect=directive.noselect,
        truechimer=directive.truechimer,
        lifecycle=lifecycle,
        authenticator=authenticatorFor(directive.key),
        name=directive.address,
        origin=directive.directive,
    )


@implementer(IModeInstance, IRuntimeConfigurable)
class ClientMode:
    """
    Mobilizes one client association per C{server} line.
    """

    _log = Logger()

    def __init__(self, daemon: IDaemon) -> None:
        self._daemon = daemon
        self._resolver = HostResolver(daemon.reactor)
        # Names given at run time and still resolving, lower case.
        self._resolving: set[str] = set()
        # NTS sessions, one per nts line.
        self.ntsSessions: list[Any] = []
        # (name lower case, port) -> [directive, associd or None, NameWatch]
        self._names: dict[tuple[str, int], list[Any]] = {}

    def start(self) -> None:
        """
        Resolve each C{server} line and mobilize its association; a name
        given on several lines gives one association (the first line), and
        a warning for each other line.
        """
        for directive in self._daemon.configuration.associationsFor("server"):
            if directive.isRefclock:
                # The daemon runs reference clocks (ntpservice.refclocks).
                continue
            if directive.nts:
                self._startNTS(directive)
                continue
            self._watchName(directive)

    def _watchName(self, directive: config.AddressedAssociationDirective) -> bool:
        """
        Resolve a C{server} line's name now and again as its TTL expires
        (L{HostResolver.watch}), unless another line has it already.

        @return: whether the line is watched (C{False}: a duplicate).
        """
        key = (directive.address.lower(), directive.port)
        first = self._names.get(key)
        if first is not None:
            self._log.warn(
                "{source}: server {name} repeats {first}; line ignored",
                source=str(directive.source),
                name=directive.address,
                first=str(first[0].source),
            )
            return False
        entry: list[Any] = [directive, None, None]
        self._names[key] = entry

        def resolved(addresses: list[str]) -> None:
            self._resolving.discard(directive.address.lower())
            self._follow(entry, addresses)

        entry[2] = self._resolver.watch(directive.address, directive.ipVersion, resolved)
        return True

    def unresolved(self) -> list[Any]:
        """
        The C{server} lines whose name has not resolved yet (mode 6 shows
        them with refid C{DNS}, while they are retried with back-off).
        """
        return [
            entry[0]
            for entry in self._names.values()
            if entry[1] is None and entry[2] is not None and entry[2].active
        ]

    def _follow(self, entry: list[Any], addresses: list[str]) -> None:
        """
        The name of a C{server} line resolved (again): keep its association
        while its address is still among the answers, else move it to the
        first answer (a new association, with a new association ID).
        """
        directive, associd, _ = entry
        daemon: Any = self._daemon
        if associd is not None:
            current = daemon.associations.get(associd)
            if current is None:
                # Removed meanwhile (unpeer): the line is gone.
                entry[2].cancel()
                key = (directive.address.lower(), directive.port)
                if self._names.get(key) is entry:
                    del self._names[key]
                return
            if current.address in addresses:
                return
            self._log.info(
                "{name}: {address} is no longer among its addresses; "
                "association {associd} moves",
                name=directive.address,
                address=current.address,
                associd=associd,
            )
            daemon.demobilize(associd, "address changed")
            entry[1] = None
        association = self._mobilize(directive, addresses)
        if association is not None:
            entry[1] = association.associd

    def addDirective(self, directive: config.AddressedAssociationDirective) -> None:
        """
        Mobilize the association of a C{server} line given at run time
        (C{ntpq :config}). A host name is resolved without blocking; the
        association appears when the name resolves (retried with back-off
        while it does not), and follows its address as the name's TTL
        expires. An address literal is mobilized before this returns.

        @param directive: the parsed line.
        @raise ValueError: for a reference clock address (they are not
            network servers).
        """
        if directive.isRefclock:
            raise ValueError("reference clocks cannot be added at run time")
        if directive.nts:
            self._startNTS(directive)
            return
        self._resolving.add(directive.address.lower())
        if not self._watchName(directive):
            self._resolving.discard(directive.address.lower())

    def removeDirective(self, name: str) -> bool:
        """
        Forget a C{server} line given at run time whose name is still
        resolving (C{:config unpeer NAME}): its association will not
        appear. Associations that exist are removed by demobilizing them.

        @return: whether such a line was still resolving.
        """
        key = name.lower()
        if key in self._resolving:
            self._resolving.discard(key)
            for (entryName, port), entry in list(self._names.items()):
                if entryName == key:
                    entry[2].cancel()
                    del self._names[(entryName, port)]
            return True
        return False

    def _startNTS(self, directive: config.AddressedAssociationDirective) -> None:
        """
        Start the NTS session of an C{nts} line; its association is
        mobilized after the first successful NTS-KE.
        """
        from ntpservice.core.authenticator import NTSAuthenticator
        from ntpservice.nts import ke
        from ntpservice.nts.aead import AEAD_BY_NAME
        from ntpservice.nts.client import NTSClientSession

        aead = (15,)
        if directive.ntsAEAD is not None:
            preferred = AEAD_BY_NAME[directive.ntsAEAD.upper()].aeadID
            aead = (preferred,) + tuple(a for a in (15,) if a != preferred)
        from ntpservice.nts.settings import ntsSettings

        session = NTSClientSession(
            directive.address,
            self._daemon.reactor,
            ke.exchange,
            # The line's ca, else nts ca (NTPsec's site default), else the
            # system's CAs.
            caFile=directive.ntsCA or ntsSettings(self._daemon.configuration).ca,
            verify="noval" not in directive.flags,
            aead=aead,
            count=self._daemon.counters.count,
        )
        self.ntsSessions.append(session)
        authenticator = NTSAuthenticator(session)
        mobilized: list[str] = []

        def keyed(session: NTSClientSession) -> None:
            if mobilized:
                if session.server not in mobilized:
                    self._log.warn(
                        "NTS-KE with {name} now names NTP server {server}; the "
                        "association stays with {address}",
                        name=directive.address, server=session.server,
                        address=mobilized[0],
                    )
                return
            mobilized.append(session.server or directive.address)

            def resolved(addresses: list[str]) -> None:
                self._mobilize(
                    directive, addresses,
                    port=session.port, authenticator=authenticator,
                )

            self._resolver.resolve(
                session.server or directive.address, directive.ipVersion, resolved
            )

        session.start(keyed)

    def _mobilize(
        self,
        directive: config.AddressedAssociationDirective,
        addresses: list[str],
        port: int | None = None,
        authenticator: Any = None,
    ) -> Any:
        address = addresses[0]
        settings = settingsFor(directive, address)
        if authenticator is not None:
            settings = replace(settings, port=port, authenticator=authenticator)
        try:
            association = self._daemon.mobilize(settings)
        except ValueError:
            self._log.warn(
                "{source}: {address} has an association already; line ignored",
                source=str(directive.source),
                address=address,
            )
            return None
        self._log.info(
            "Mobilized association {associd} with {name} ({address})",
            associd=association.associd,  # type: ignore[attr-defined]
            name=directive.address,
            address=address,
        )
        return association

    def stop(self) -> None:
        self._resolver.cancel()
        for session in self.ntsSessions:
            session.stop()

    def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
        """
        The client plugin claims no packet mode; nothing arrives here.
        """


@implementer(IPlugin, IAssociationMode)
class ClientModePlugin:
    """
    Client/server mode, client side: the C{server} directive.
    """

    name = "client"
    description = "poll configured servers (server directive)"
    directives = ("server",)
    packetModes: tuple[int, ...] = ()
    enabledByDefault = True

    def parseDirective(self, line: Any, source: Any) -> object:
        return config.parseAssociation(line, source)

    def build(self, daemon: IDaemon) -> ClientMode:
        return ClientMode(daemon)


clientMode = ClientModePlugin()
