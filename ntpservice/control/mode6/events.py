# -*- test-case-name: tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The event bookkeeping of the mode 6 server: the associations ntpq sees
beside the engine's, and the events their status words count.

L{ControlEvents} observes the daemon (L{ntpservice.daemon.NTPDaemon.addObserver})
for the events of the system and peer status words, and for the peer
variables that only arriving packets tell (C{rec}, C{xmt}, C{dstadr},
C{pmode}). It also numbers the associations that are not in the engine but
that ntpq shows as ntpd does: the LOCAL clock and each C{pool} line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ntpservice.core import control as K
from ntpservice.core import status as S
from ntpservice.core.timestamps import NTPTimestamp

_DISCIPLINE_EVENTS = {
    "NSET": K.EVENT_FREQ_NOT_SET,
    "FSET": K.EVENT_FREQ_SET,
    "SPIK": K.EVENT_SPIKE,
    "FREQ": K.EVENT_FREQ_MODE,
    "SYNC": K.EVENT_CLOCK_SYNC,
}
"""The system event of each discipline state entered."""


@dataclass(slots=True)
class PeerRecord:
    """What the observer learns about an association from the daemon."""

    events: S.EventCounter = field(default_factory=S.EventCounter)
    rec: NTPTimestamp | None = None
    xmt: NTPTimestamp | None = None
    dstadr: str | None = None
    pmode: int = 0


@dataclass(slots=True)
class PoolEntry:
    """A C{pool} line, shown as ntpd's pool association."""

    directive: Any
    events: S.EventCounter = field(default_factory=S.EventCounter)


def syncedToLocal(engine: Any) -> bool:
    """
    Whether the system is synchronized to the LOCAL clock: no network
    system peer, and the system variables are the LOCAL clock's (not those
    kept after the last network source was lost).

    @param engine: the daemon's L{ntpservice.core.engine.Engine}.
    """
    local = engine.localClock
    if local is None or engine.systemPeer is not None or not engine.system.synchronized:
        return False
    # The refid the LOCAL clock gives the system (its name, or its
    # address 127.127.1.u above stratum 1), to tell it from system
    # variables kept after the last network source was lost.
    implied = local.systemVariables(0, engine.precisionLog2).refid
    return engine.system.refid in (implied, local.refid)


class ControlEvents:
    """
    The event counts of the system and of every association ntpq sees,
    kept from what the daemon reports to its observers.

    Register it with C{daemon.addObserver}.

    @ivar system: the system events (of the system status word).
    @ivar peers: what is known of each engine association, by association
        ID.
    @ivar localID: the association ID shown for the LOCAL clock, or
        C{None} without one.
    @ivar localEvents: the LOCAL clock's events.
    @ivar pools: the C{pool} lines, by the association ID they are shown
        with.
    """

    def __init__(self, daemon: Any) -> None:
        """
        Note the start's events, and number the LOCAL clock and the
        C{pool} lines of the configuration.

        @param daemon: the L{ntpservice.daemon.NTPDaemon}.
        """
        self._daemon = daemon
        engine = daemon.engine
        self.system = S.EventCounter()
        self.system.record(K.EVENT_RESTART)
        self.system.record(
            K.EVENT_FREQ_NOT_SET
            if engine.discipline.state == "NSET"
            else K.EVENT_FREQ_SET
        )
        self._disciplineState = engine.discipline.state
        self.peers: dict[int, PeerRecord] = {}
        self.localID: int | None = None
        self.localEvents = S.EventCounter()
        if engine.localClock is not None:
            self.localID = engine.associations.newID()
            self.localEvents.record(K.PEER_EVENT_MOBILIZE)
            self.localEvents.record(K.PEER_EVENT_REACHABLE)
            if syncedToLocal(engine):
                self.localEvents.record(K.PEER_EVENT_SYS_PEER)
                self.system.record(K.EVENT_CLOCK_SYNC)
        self.pools: dict[int, PoolEntry] = {}
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
        pool.events.record(K.PEER_EVENT_MOBILIZE)
        self.pools[associd] = pool
        return associd

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
            record.dstadr = datagram.localAddress or datagram.destination

    def associationEvent(self, associd: int, address: str, event: str) -> None:
        """
        An association was mobilized or demobilized, or became reachable
        or unreachable (the engine reports each change once).
        """
        if event == "mobilize":
            self.peers[associd] = PeerRecord()
            self.peers[associd].events.record(K.PEER_EVENT_MOBILIZE)
        elif event == "demobilize":
            self.peers.pop(associd, None)
        elif event == "reachable":
            self.record(associd).events.record(K.PEER_EVENT_REACHABLE)
        elif event == "unreachable":
            self.record(associd).events.record(K.PEER_EVENT_UNREACHABLE)

    def systemPeerChanged(self, associd: int | None, address: str | None) -> None:
        """Selection changed the system peer."""
        if associd is not None:
            self.record(associd).events.record(K.PEER_EVENT_SYS_PEER)
            self.system.record(K.EVENT_CLOCK_SYNC)
        elif self.localID is not None:
            self.localEvents.record(K.PEER_EVENT_SYS_PEER)
            self.system.record(K.EVENT_CLOCK_SYNC)
        else:
            self.system.record(K.EVENT_NO_SYS_PEER)

    def clockUpdated(self, now: float) -> None:
        """The discipline took an update: note changes of its state."""
        state = self._daemon.engine.discipline.state
        if state != self._disciplineState:
            self._disciplineState = state
            event = _DISCIPLINE_EVENTS.get(state)
            if event is not None:
                self.system.record(event)

    def clockStepped(self, offset: float) -> None:
        """The clock was stepped."""
        self.system.record(K.EVENT_CLOCK_STEP)
