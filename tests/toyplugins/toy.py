# -*- test-case-name: tests.test_plugin_contract -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A toy association mode, written as a third party would: it uses nothing of
the daemon but L{IDaemon}, and of ntpservice only its public interfaces and
the packet codec.

C{toy POLLED PROBED}: mobilize a client association with C{POLLED}, and
send C{PROBED} one unsolicited client request of its own, whose reply it
claims by its origin timestamp (a manycast client recognises the replies
to its solicitations the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zope.interface import implementer

from twisted.plugin import IPlugin

from ntpservice.core.association import AssociationSettings
from ntpservice.core.packet import MODE_CLIENT, NTPPacket
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.interfaces import (
    IAssociationMode,
    IDaemon,
    IModeInstance,
    IPacketClaimant,
    ISourceSpawner,
)

NONCE = NTPTimestamp(0x1234_5678_9ABC_DEF0)
"""The transmit timestamp of the toy's request, echoed as the reply's origin."""


@dataclass(frozen=True)
class ToyDirective:
    polled: str
    probed: str


@implementer(IModeInstance, IPacketClaimant, ISourceSpawner)
class ToyMode:
    claimedModes = ((4, "unicast"),)

    def __init__(self, daemon: IDaemon) -> None:
        self.daemon = daemon
        self.replies: list[NTPPacket] = []
        self.removed: list[tuple[int, str, str]] = []
        self.associd: int | None = None

    def _directive(self) -> ToyDirective:
        [directive] = [d for name, d in self.daemon.configuration.extra if name == "toy"]
        return directive  # type: ignore[no-any-return]

    def start(self) -> None:
        directive = self._directive()
        association: Any = self.daemon.mobilize(
            AssociationSettings(directive.polled, iburst=True, origin="toy"), spawner=self
        )
        self.associd = association.associd
        request = NTPPacket(mode=MODE_CLIENT, xmt=NONCE)
        self.daemon.send(request.encode(), (directive.probed, 123))

    def stop(self) -> None:
        pass

    def claims(self, packet: Any, datagram: Any) -> bool:
        return bool(packet.org == NONCE)

    def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
        self.replies.append(packet)

    def associationRemoved(self, associd: int, address: str, reason: str) -> None:
        self.removed.append((associd, address, reason))


@implementer(IPlugin, IAssociationMode)
class ToyModePlugin:
    name = "toy"
    description = "a toy mode from outside ntpservice"
    directives = ("toy",)
    packetModes: tuple[int, ...] = ()
    enabledByDefault = True

    def parseDirective(self, line: Any, source: Any) -> object:
        polled, probed = line.arguments
        return ToyDirective(polled, probed)

    def build(self, daemon: IDaemon) -> ToyMode:
        return ToyMode(daemon)


toyMode = ToyModePlugin()
