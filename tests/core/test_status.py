# -*- test-case-name: tests.core.test_status -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.status}: ntpd's peer and system status words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core import status as S
from ntpservice.core.association import TEST_AUTH, AssociationSettings
from ntpservice.core.authenticator import SymmetricKey
from ntpservice.core.system import SystemVariables


@dataclass
class FakeAssociation:
    associd: int
    settings: AssociationSettings
    reach: int = 0
    flash: int = 0


@dataclass
class FakeEngine:
    system: SystemVariables = field(default_factory=SystemVariables)
    systemPeer: int | None = None
    selection: object | None = None


@pytest.mark.parametrize(
    "fields, word",
    [
        # ntpd's documented examples: a configured, reachable system peer
        # whose last event (of one) was "reachable".
        (dict(configured=True, reachable=True, select=S.SELECT_SYSPEER, eventCount=1,
              lastEvent=S.PEVNT_REACH), 0x9614),
        (dict(configured=True, reachable=True, select=S.SELECT_SYSPEER, eventCount=1,
              lastEvent=S.PEVNT_REACH, authEnabled=False), 0x9614),
        (dict(configured=True, reachable=True, select=S.SELECT_CANDIDATE, eventCount=3,
              lastEvent=S.PEVNT_NEWPEER), 0x943A),
        (dict(configured=False), 0x0000),
        (dict(configured=True, authEnabled=True, authentic=True, reachable=True,
              broadcast=True, select=S.SELECT_PPS, eventCount=99,
              lastEvent=S.PEVNT_POPCORN), 0xFFFD),
    ],
)
def test_peerStatusWord(fields: dict, word: int) -> None:
    """
    The peer status word has the status bits and selection code in its
    high byte and the saturating event count and last event code in its
    low byte.
    """
    assert S.peerStatusWord(**fields) == word


@pytest.mark.parametrize(
    "args, word",
    [
        ((0, S.SOURCE_NTP, 1, S.EVNT_SYNC), 0x0615),
        ((3, S.SOURCE_UNSPEC, 0, 0), 0xC000),
        ((1, S.SOURCE_LOCAL, 40, S.EVNT_CLOCKRESET), 0x45FC),
    ],
)
def test_systemStatusWord(args: tuple[int, int, int, int], word: int) -> None:
    """
    The system status word is leap (2 bits), source (6), event count (4,
    saturating) and last event (4).
    """
    assert S.systemStatusWord(*args) == word


class StatusWordTests(SynchronousTestCase):
    """
    Tests for the status words of associations and for L{S.EventCounter}.
    """

    def test_outOfRange(self) -> None:
        """
        Fields that do not fit their bits are refused.
        """
        self.assertRaises(ValueError, S.peerStatusWord, configured=True, select=8)
        self.assertRaises(ValueError, S.peerStatusWord, configured=True, lastEvent=16)
        self.assertRaises(ValueError, S.systemStatusWord, 4, 0)
        self.assertRaises(ValueError, S.systemStatusWord, 0, 64)
        self.assertRaises(ValueError, S.systemStatusWord, 0, 0, 0, 16)

    def test_configuredAndSpawned(self) -> None:
        """
        An association of a configuration line (persistent or preemptable)
        is configured; a pool association (ephemeral) is not. Reach and selection come from the association
        and the selection status.
        """
        server = FakeAssociation(1, AssociationSettings("192.0.2.1"), reach=0o377)
        pooled = FakeAssociation(
            2, AssociationSettings("192.0.2.2", lifecycle="ephemeral", origin="pool")
        )
        self.assertEqual(S.associationStatusWord(server, "sync"), 0x9600)
        preempt = FakeAssociation(3, AssociationSettings("192.0.2.3", lifecycle="preemptable"))
        self.assertEqual(S.associationStatusWord(preempt, "outlier"), 0x8300)
        self.assertEqual(S.associationStatusWord(pooled, "falseticker"), 0x0100)
        self.assertEqual(S.associationStatusWord(pooled, None), 0x0000)

    def test_keyed(self) -> None:
        """
        An association with a key has authentication enabled; it is
        authentic while reachable unless its last packet failed
        authentication.
        """
        settings = AssociationSettings("192.0.2.1", authenticator=SymmetricKey(5))
        keyed = FakeAssociation(1, settings, reach=1)
        self.assertEqual(S.associationStatusWord(keyed, "candidate"), 0xF400)
        keyed.flash = TEST_AUTH
        self.assertEqual(S.associationStatusWord(keyed, "candidate"), 0xD400)
        keyed.reach = 0
        self.assertEqual(S.associationStatusWord(keyed, "unfit"), 0xC000)

    def test_eventCountSaturates(self) -> None:
        """
        The event count stops at 15, as ntpd's does.
        """
        counter = S.EventCounter()
        for _ in range(20):
            counter.record(S.PEVNT_RATE)
        self.assertEqual((counter.count, counter.last), (15, S.PEVNT_RATE))

    def test_selectionStatus(self) -> None:
        """
        The engine's system peer is C{sync}; a stale C{sync} verdict of the
        last selection is shown as C{candidate}; others as selected.
        """

        @dataclass
        class Selection:
            status: dict[int, str]

        engine = FakeEngine(systemPeer=1)
        self.assertIsNone(S.selectionStatus(engine, 2))
        engine.selection = Selection({1: "sync", 2: "outlier"})  # type: ignore[attr-defined]
        self.assertEqual(S.selectionStatus(engine, 1), "sync")
        self.assertEqual(S.selectionStatus(engine, 2), "outlier")
        engine.systemPeer = None
        self.assertEqual(S.selectionStatus(engine, 1), "candidate")
        self.assertIsNone(S.selectionStatus(engine, 3))

    def test_isSynchronized(self) -> None:
        """
        The daemon is synchronized when its system variables are and a
        source (a system peer, the LOCAL clock's association as any) is in
        use; system variables kept after the system peer was lost are not
        enough.
        """
        synced = SystemVariables(leap=0, stratum=2)
        self.assertFalse(S.isSynchronized(FakeEngine()))
        self.assertFalse(S.isSynchronized(FakeEngine(system=synced)))
        self.assertTrue(S.isSynchronized(FakeEngine(system=synced, systemPeer=1)))
        self.assertFalse(S.isSynchronized(FakeEngine(systemPeer=1)))
