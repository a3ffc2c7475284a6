# -*- test-case-name: tests.sim.test_clock -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.sim.clock}.
"""

from __future__ import annotations

import random

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.sim.clock import SimClock


def script(clock: Clock, seed: int) -> list[tuple[float, int]]:
    """
    Schedule, cancel, reset and delay calls at random (equal times
    included), some of them from inside calls; return the order and times
    at which they ran.
    """
    rng = random.Random(seed)
    ran: list[tuple[float, int]] = []
    pending: list = []

    def run(n: int) -> None:
        ran.append((clock.seconds(), n))
        if rng.random() < 0.3:
            pending.append(clock.callLater(rng.choice([0, 1, 2.5]), run, n + 1000))

    for n in range(300):
        pending.append(clock.callLater(rng.choice([0, 1, 2, 3, 5.5, 7]), run, n))
    for step in range(40):
        live = [c for c in pending if c.active()]
        if live and rng.random() < 0.5:
            call = rng.choice(live)
            action = rng.random()
            if action < 0.3:
                call.cancel()
            elif action < 0.6:
                call.reset(rng.choice([0, 1, 2]))
            else:
                call.delay(rng.choice([1, 3]))
        clock.advance(rng.choice([0, 0.5, 1]))
    clock.advance(100)
    return ran


class SimClockTests(SynchronousTestCase):
    """
    L{SimClock} runs the same calls in the same order as L{Clock}.
    """

    def test_sameOrder(self) -> None:
        """
        For several random scripts of calls, cancellations, resets and
        delays, the order and times of the calls are Clock's.
        """
        for seed in range(5):
            self.assertEqual(script(SimClock(), seed), script(Clock(), seed))

    def test_nextDue(self) -> None:
        """
        C{nextDue} is the time of the earliest pending call, after a reset
        too.
        """
        clock = SimClock()
        first = clock.callLater(5, lambda: None)
        clock.callLater(3, lambda: None)
        self.assertEqual(clock.nextDue(), 3)
        first.reset(1)
        self.assertEqual(clock.nextDue(), 1)
