# -*- test-case-name: tests.core.test_engine_falseticker -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.engine.Engine}'s demobilization of ephemeral
and preemptable falsetickers (pool members, C{server ... preempt}).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.association import AssociationSettings, RefClockSource
from ntpservice.core.engine import FALSETICKER_SAMPLES, Demobilize
from ntpservice.core.packet import LEAP_NONE
from tests.core.test_engine_refclock import T0, makeEngine


def source(unit: int) -> RefClockSource:
    return RefClockSource(driverType=28, unit=unit, stratum=0, refid=b"GPS\0")


class FalsetickerTests(SynchronousTestCase):
    """
    Three sources agree, a fourth is 0.5 s off.
    """

    def run4(self, lifecycle: str, samples: int) -> tuple[list[object], int]:
        engine = makeEngine()
        ids = []
        for unit in range(4):
            settings = AssociationSettings(
                source(unit).address,
                minPollLog2=4,
                maxPollLog2=4,
                refclock=source(unit),
                lifecycle=lifecycle if unit == 3 else "persistent",
            )
            ids.append(engine.mobilize(settings, T0).associd)
        out: list[object] = []
        for i in range(samples):
            now = T0 + i * 16.0
            for unit, associd in enumerate(ids):
                offset = 0.5 if unit == 3 else 0.001 * unit
                if associd in engine.associations.byID:
                    out.extend(engine.refclockSample(associd, offset, 1e-6, LEAP_NONE, now))
        return out, ids[3]

    def demobilized(self, out: list[object], associd: int) -> list[Demobilize]:
        return [a for a in out if isinstance(a, Demobilize) and a.associd == associd]

    def test_ephemeralReplaced(self) -> None:
        """
        An ephemeral association judged a falseticker at
        L{FALSETICKER_SAMPLES} of its samples in a row, outvoted by at least
        C{minsane} truechimers, is demobilized with reason C{falseticker}
        (its pool then replaces it).
        """
        out, associd = self.run4("ephemeral", FALSETICKER_SAMPLES + 12)
        [action] = self.demobilized(out, associd)
        self.assertEqual(action.reason, "falseticker")

    def test_preemptableReplaced(self) -> None:
        """
        A preemptable association (C{server ... preempt}) goes the same way.
        """
        out, associd = self.run4("preemptable", FALSETICKER_SAMPLES + 12)
        self.assertEqual(len(self.demobilized(out, associd)), 1)

    def test_persistentKept(self) -> None:
        """
        A persistent association (C{server} without C{preempt}) is only
        ever marked, never demobilized.
        """
        out, associd = self.run4("persistent", FALSETICKER_SAMPLES + 12)
        self.assertEqual(self.demobilized(out, associd), [])


class SilentMemberTests(SynchronousTestCase):
    """
    An ephemeral association whose server stopped answering is demobilized
    after L{UNREACH} polls without a reply (ntpd's rule), whatever its
    reach register still holds.
    """

    def test_demobilizedAfterTenSilentPolls(self) -> None:
        """
        A server that answered (the first poll closes the interval of its
        last reply), then fell silent: the association is demobilized at
        the tenth poll after that one, with reason C{unreachable}; a
        persistent one is kept.
        """
        from ntpservice.core.association import UNREACH

        for lifecycle, expected in (("ephemeral", 1 + UNREACH), ("persistent", None)):
            engine = makeEngine()
            settings = AssociationSettings(
                "192.0.2.1", minPollLog2=4, maxPollLog2=4, lifecycle=lifecycle
            )
            association = engine.mobilize(settings, T0)
            association.reach = 0xFF  # it answered until now
            now = T0
            demobilizedAt = None
            for poll in range(1, 30):
                now = max(now, association.nextPoll)
                out = engine.poll(now)
                if any(isinstance(a, Demobilize) and a.reason == "unreachable" for a in out):
                    demobilizedAt = poll
                    break
                now += 1.0
            self.assertEqual(demobilizedAt, expected, lifecycle)
