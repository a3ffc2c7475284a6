# -*- test-case-name: tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The event bookkeeping of the mode 6 server: the associations ntpq sees
beside the engine's, and the events their status words count.

L{ControlEvents} observes the daemon (L{ntpservice.daemon.NTPDaemon.addObserver})
for the peer variables that only arriving packets tell (C{rec}, C{xmt},
C{dstadr}, C{pmode}). It also numbers the associations that are not in the
engine but that ntpq shows as ntpd does: each C{pool} line, and counts
their events (reference clocks, the LOCAL clock among them, are engine
associations like any other). The events of the system's and the engine
associations' status words are not counted here but by the daemon
(L{ntpservice.core.snapshot.StatusEvents}), once for every observer, so
that C{ntpq} and C{peerstats} agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zope.interface import implementer

from ntpservice.core import status as S
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.interfaces import IDaemonObserver

__all__ = ["ControlEvents", "PeerRecord", "PoolEntry"]


@dataclass(slots=True)
class PeerRecord:
    """What the observer learns about an association from its packets."""

    rec: NTPTimestamp | None = None
    xmt: NTPTimestamp | None = None
    dstadr: str | None = None
    pmode: int = 0


@dataclass(slots=True)
class PoolEntry:
    """A C{pool} line, shown as ntpd's pool association."""

    directive: Any
    events: S.EventCounter = field(default_factory=S.EventCounter)
    refid: str = "POOL"


@implementer(IDaemonObserver)
class ControlEvents:
    """
    What mode 6 shows beside the engine and the daemon's event counts
    (L{ntpservice.daemon.NTPDaemon.events}): the packet-borne peer
    variables, and the pools' associations with their events.

    Register it with C{daemon.addObserver}.

    @ivar peers: what is known of each engine association, by association
        ID.
    @ivar pools: the C{pool} lines, by the association ID they are shown
        with.
    @ivar names: the C{server NAME} lines whose name has not resolved yet,
        shown as associations with refid C{DNS}, by association ID (see
        L{syncNames}).
    """

    def __init__(self, daemon: Any) -> None:
        """
        Number the C{pool} lines of the configuration.

        @param daemon: the L{ntpservice.daemon.NTPDaemon}.
        """
        self._daemon = daemon
        self.peers: dict[int, PeerRecord] = {}
        self.pools: dict[int, PoolEntry] = {}
        self.names: dict[int, PoolEntry] = {}
        self._nameIDs: dict[tuple[str, int], int] = {}
        if "pool" in daemon.instances:
            for directive in daemon.configuration.associationsFor("pool"):
                self.addPool(directive)

    def record(self, associd: int) -> PeerRecord:
        """
        The record of an engine association (a new one if there was none).
        """
        record = self.peers.get(associd)
        if record is None:
            record = self.peers[associd] = PeerRecord()
        return record

    # -- pools -----------------------------------------------------------

    def addPool(self, directive: Any) -> int:
        """
        Show a C{pool} line as an association.

        @return: its association ID.
        """
        associd: int = self._daemon.engine.associations.newID()
        pool = PoolEntry(directive)
        pool.events.record(S.PEVNT_MOBIL)
        self.pools[associd] = pool
        return associd

    def syncNames(self) -> None:
        """
        Show each C{server NAME} line whose name has not resolved yet (the
        client plugin's C{unresolved()}) as an association with refid
        C{DNS}, and stop showing those that resolved.
        """
        client = self._daemon.instances.get("client")
        unresolved = getattr(client, "unresolved", None)
        pending = list(unresolved()) if unresolved is not None else []
        keys = {}
        for directive in pending:
            keys[(directive.address.lower(), directive.port)] = directive
        for key, associd in list(self._nameIDs.items()):
            if key not in keys:
                del self._nameIDs[key]
                self.names.pop(associd, None)
        for key, directive in keys.items():
            if key not in self._nameIDs:
                associd = self._daemon.engine.associations.newID()
                entry = PoolEntry(directive, refid="DNS")
                entry.events.record(S.PEVNT_MOBIL)
                self._nameIDs[key] = associd
                self.names[associd] = entry

    def removePool(self, associd: int) -> PoolEntry:
        """
        Stop showing a C{pool} line.

        @raise KeyError: if C{associd} is not a pool's.
        """
        return self.pools.pop(associd)

    # -- observer --------------------------------------------------------

    def peerPacket(
        self, association: Any, packet: Any, result: Any, t1: Any, t4: Any, datagram: Any
    ) -> None:
        """A packet went through an association: note what ntpq shows of it."""
        record = self.record(association.associd)
        if result.accepted:
            record.rec = t4
            record.xmt = packet.xmt
            record.pmode = packet.mode
            # A broadcast or multicast packet: the address it was sent to,
            # as ntpd's dstadr of a broadcast client association (ntpq's
            # type m for a group).
            if datagram.destination is not None and not datagram.isUnicast:
                record.dstadr = datagram.destination
            else:
                record.dstadr = datagram.localAddress or datagram.destination

    def associationEvent(self, associd: int, address: str, event: str) -> None:
        """
        An association was mobilized or demobilized: start or forget its
        record.
        """
        if event == "mobilize":
            self.peers[associd] = PeerRecord()
        elif event == "demobilize":
            self.peers.pop(associd, None)
