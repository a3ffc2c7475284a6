# -*- test-case-name: tests.scenarios.009_startup_falseticker -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Scenario 009, one malicious server at start-up (issue 9): three servers
with C{iburst} over identical LAN links (1 ms plus exponential jitter of
mean 100 us), the third one off by 0.5 s (a step without C{-g}) or by an
hour (with C{-g}); the client's clock is right. Before issue 9, whichever
source first had enough samples to be selectable was selected alone and
the clock stepped to it while the honest servers were still answering
their bursts: the bad server won in 3 of 5 tries.

Now the first selection waits (at most ten seconds from the moment a
source could be selected) until every source has answered and become fit,
and no offset that most answering sources contradict is ever applied. So
the bad server is a falseticker from the first selection on, and the clock
is never stepped.

Measured (seeds 1 to 5): the first system peer comes 9 s (0.5 s case)
or 7 s (hour case, as with three honest servers) after start, an honest one
every time; no step; within 85 us of true time from the fifth minute on,
as with three honest servers (the discipline's own start-up). Without the
wait and the majority check, seeds 2 and 4 stepped the clock to the bad
server in both cases.
"""

from __future__ import annotations

from functools import cache

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.discipline import Discipline
from ntpservice.core.selection import STATUS_FALSETICKER
from ntpservice.sim.network import LinkSpec
from tests.scenarios.harness import CLIENT, ClientScenario

SEEDS = range(1, 6)


@cache
def startup(seed: int, badOffset: float, panicGate: bool) -> ClientScenario:
    """
    @return: the scenario with the third server C{badOffset} seconds off,
        run for ten minutes.
    """
    scenario = ClientScenario(seed, servers=3, serverOffsets=(0.0, 0.0, badOffset))
    if panicGate:
        # ntpd's -g: the first correction may exceed the panic threshold.
        engine = scenario.daemon.engine
        engine.discipline = Discipline(engine.discipline.settings, allowBigFirstStep=True)
    scenario.run(600.0)
    return scenario


class StartupFalsetickerTests(SynchronousTestCase):
    """
    One of three servers is far off when the daemon starts: it is never
    selected, and the clock is never stepped.
    """

    def check(self, badOffset: float, panicGate: bool) -> None:
        for seed in SEEDS:
            scenario = startup(seed, badOffset, panicGate)
            bad = scenario.servers[2].address
            peers = {s.systemPeer for s in scenario.record} - {None}
            self.assertTrue(peers, f"seed {seed}: never synchronized")
            self.assertNotIn(bad, peers, f"seed {seed}")
            self.assertEqual(scenario.events.steps, [], f"seed {seed}")
            engine = scenario.daemon.engine
            association = engine.associations.find(bad, 123)
            self.assertEqual(
                engine.selection.status[association.associd],
                STATUS_FALSETICKER,
                f"seed {seed}",
            )
            self.assertLess(scenario.maxError(300.0), 500e-6, f"seed {seed}")

    def test_halfSecond(self) -> None:
        """
        A server 0.5 s off (beyond the step threshold) is never selected
        and never steps the clock.
        """
        self.check(0.5, panicGate=False)

    def test_hourWithPanicGate(self) -> None:
        """
        With C{-g}, a server an hour off is never selected and never steps
        the clock.
        """
        self.check(3600.0, panicGate=True)

    def test_firstSelectionPrompt(self) -> None:
        """
        The wait costs little when every server answers: the first system
        peer comes within 15 s of start (measured: 7 to 9 s).
        """
        for seed in SEEDS:
            scenario = startup(seed, 0.5, panicGate=False)
            first = scenario.firstTime(lambda s: s.systemPeer is not None)
            self.assertLess(first, 15.0, f"seed {seed}")

    def test_silentServerDelaysAtMostTheWindow(self) -> None:
        """
        A server that never answers delays the first selection by at most
        the start-up window (10 s from the moment the other could be
        selected): with two servers, one dead, the first system peer comes
        within 20 s (measured: 17 s).
        """
        scenario = ClientScenario(1, servers=2)
        dead = scenario.servers[1].address
        scenario.sim.link(CLIENT, dead, LinkSpec(delay=1e-3, loss=1.0))
        scenario.run(60.0)
        first = scenario.firstTime(lambda s: s.systemPeer is not None)
        self.assertLess(first, 20.0)
        self.assertEqual(scenario.record[-1].systemPeer, scenario.servers[0].address)
