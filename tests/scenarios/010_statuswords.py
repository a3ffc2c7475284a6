# -*- test-case-name: tests.scenarios.010_statuswords -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Scenario 010, one status word for every observer: three reference servers
with C{iburst} over LAN links; after an hour the system peer dies (stops
answering) and another is selected. At every C{peerstats} line the daemon
writes, the mode 6 server (what C{ntpq -c as} reads: READSTAT) is asked
for the same association's status word at the same moment, and they must
be equal: both read the daemon's one event bookkeeping and one snapshot
(L{ntpservice.core.snapshot}), where each used to count events itself.

The statistics writer is started after the daemon, as late as any
observer may be: it needs to have seen nothing (not even the
associations' mobilization) to show the right status words.
"""

from __future__ import annotations

import struct
from functools import cache
from typing import Any

from zope.interface import implementer

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core import control as K
from ntpservice.core import status as S
from ntpservice.interfaces import IDaemonObserver
from ntpservice.net.udp import ReceivedDatagram
from ntpservice.stats import FileGeneration, StatisticsWriter
from tests.scenarios.harness import ClientScenario

HOUR = 3600.0


class MemoryGeneration(FileGeneration):
    """A statistics file generation that keeps its lines in memory."""

    def __init__(self) -> None:
        super().__init__("peerstats", "none", link=False)
        self.lines: list[str] = []

    def write(self, nowNs: int, line: str) -> bool:
        self.lines.append(line)
        return True


class _Sender:
    """Collects the mode 6 server's replies."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendReply(self, datagram: Any, data: Any) -> None:
        self.sent.append(data() if callable(data) else data)


def readStatus(daemon: Any, sequence: int) -> dict[int, int]:
    """
    Ask the daemon's mode 6 server for the association list with status
    words, as C{ntpq -c as} does (READSTAT on association 0).

    @return: status word by association ID.
    """
    sender = _Sender()
    request = K.ControlMessage(K.OP_READSTAT, sequence).encode()
    daemon.control.datagramReceived(
        None,
        ReceivedDatagram(request, ("127.0.0.1", 40123), rxTime=daemon.clock.now()),
        sender,
    )
    reassembler = K.Reassembler()
    for datagram in sender.sent:
        message = K.ControlMessage.decode(datagram)
        assert not message.error, message.errorCode
        reassembler.add(message)
    data = reassembler.data
    assert data is not None
    return dict(struct.unpack("!HH", data[i : i + 4]) for i in range(0, len(data), 4))


@implementer(IDaemonObserver)
class Comparer:
    """
    After the statistics writer has written a C{peerstats} line, asks mode
    6 for the same association's status word.

    @ivar pairs: C{(address, peerstats word, mode 6 word)} for every line.
    """

    def __init__(self, daemon: Any, peerstats: MemoryGeneration) -> None:
        self.daemon = daemon
        self.peerstats = peerstats
        self.pairs: list[tuple[str, int, int]] = []
        self._lines = 0

    def peerPacket(
        self, association: Any, packet: Any, result: Any, t1: Any, t4: Any, datagram: Any
    ) -> None:
        lines = self.peerstats.lines
        if len(lines) == self._lines:
            return
        self._lines = len(lines)
        fields = lines[-1].split()
        address, word = fields[2], int(fields[3], 16)
        assert address == association.address
        words = readStatus(self.daemon, len(self.pairs) + 1)
        self.pairs.append((address, word, words[association.associd]))


@cache
def statusWords() -> tuple[ClientScenario, Comparer, str]:
    """
    @return: the scenario run for four hours, the comparer, and the address
        of the system peer that died after the first hour (its reach
        register empties after eight unanswered polls, which the poll
        interval, up to 1024 s, makes hours).
    """
    scenario = ClientScenario(3, servers=3, offset=0.002, freqPPM=2.0)
    daemon = scenario.daemon
    peerstats = MemoryGeneration()
    writer = StatisticsWriter(daemon, {"peerstats": peerstats})
    writer.start()
    comparer = Comparer(daemon, peerstats)
    daemon.addObserver(comparer)
    scenario.run(HOUR, step=10.0)
    dead = scenario.systemPeerAddress()
    assert dead is not None
    for server in scenario.servers:
        if server.address == dead:
            server.removeServer()
    scenario.run(3 * HOUR, step=10.0)
    writer.stop()
    return scenario, comparer, dead


class StatusWordAgreementTests(SynchronousTestCase):
    """
    C{ntpq}'s status words and C{peerstats}' agree.
    """

    def setUp(self) -> None:
        self.scenario, self.comparer, self.dead = statusWords()

    def test_sameWord(self) -> None:
        """
        Every C{peerstats} line carries the status word mode 6 gives for
        that association at that moment.
        """
        self.assertTrue(self.comparer.pairs)
        for address, peerstats, mode6 in self.comparer.pairs:
            self.assertEqual(
                peerstats, mode6, f"{address}: peerstats {peerstats:x}, ntpq {mode6:x}"
            )

    def test_eventsHappened(self) -> None:
        """
        The run covers what the status words count: the dead server's
        reach went, another became the system peer, and the lines show
        system peers and candidates with their sys_peer and reachable
        events.
        """
        events = self.scenario.events.peerEvents
        self.assertIn("unreachable", {event for _, _, event in events})
        peers = [associd for _, associd in self.scenario.events.systemPeers]
        self.assertGreaterEqual(len(set(peers) - {None}), 2)
        self.assertNotEqual(self.scenario.systemPeerAddress(), self.dead)
        decoded = [K.decodePeerStatus(word) for _, word, _ in self.comparer.pairs]
        self.assertIn(S.SELECT_SYSPEER, {status.selection for status in decoded})
        self.assertIn(S.SELECT_CANDIDATE, {status.selection for status in decoded})
        self.assertIn(S.PEVNT_NEWPEER, {status.lastEvent for status in decoded})
        addresses = {address for address, _, _ in self.comparer.pairs}
        self.assertEqual(addresses, {server.address for server in self.scenario.servers})
