# -*- test-case-name: tests.scenarios.003_loss -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Scenario 003, a lossy link (chrony's C{014-intermittent} passes packets for
1200 s of every 10000 s, or one request in 20; here datagrams are dropped
at random): scenario 001 (100 ms and 10 ppm off, wander 1 ppb/s, one server
with C{iburst}, 1 ms plus exponential jitter of mean 100 us) with 30 % of
the datagrams lost each way, so that about half the exchanges fail; four
simulated hours.

Measured (seed 1; seeds 1 to 6 in brackets): first system peer after 39 s
(23 to 620 s: the first four replies must get through), below 1 ms from
387 s on (274 to 885 s), frequency 0.010 ppm off at the end (0.008 to
0.22 ppm). During hours 2-4, with the wander estimated from the samples
(issue 16), seed 1 polls every 1024 s and loses four exchanges in a row:
its error reaches 615 us, RMS 355 us (seeds 2 to 8: at most 73 to 296 us,
RMS 34 to 125 us; with the wander assumed at 3 ppb/s before, seed 1 gave
451 us and seeds 2 to 8 at most 100 to 242 us).
"""

from __future__ import annotations

from functools import cache

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.sim.network import LinkSpec
from tests.scenarios.harness import CLIENT, ClientScenario

HOUR = 3600.0


@cache
def lossy() -> ClientScenario:
    """
    @return: the scenario, run for four hours.
    """
    scenario = ClientScenario(
        1,
        offset=0.1,
        freqPPM=10.0,
        link=LinkSpec(delay=1e-3, jitter=100e-6, loss=0.3),
    )
    scenario.run(4 * HOUR)
    return scenario


class LossTests(SynchronousTestCase):
    """
    The client still converges when 30 % of the datagrams are lost.
    """

    def test_lossHappened(self) -> None:
        """
        The link did lose about half the exchanges (30 % each way).
        """
        scenario = lossy()
        network = scenario.sim.network
        out = network.counters(CLIENT, scenario.servers[0].address)
        back = network.counters(scenario.servers[0].address, CLIENT)
        self.assertGreater((out.lost + back.lost) / out.sent, 0.4)

    def test_converges(self) -> None:
        """
        The first system peer comes within 15 minutes (measured: 39 s), the
        error falls below 1 ms within 30 minutes (measured: 387 s) and
        stays there, without a step.
        """
        scenario = lossy()
        self.assertLess(scenario.firstTime(lambda s: s.systemPeer is not None), 900.0)
        self.assertLess(scenario.settledBelow(1e-3), 1800.0)
        self.assertEqual(scenario.events.steps, [])

    def test_bounded(self) -> None:
        """
        During hours 2 to 4 the error stays below 1 ms (measured: 615 us,
        polling up to every 1024 s, four exchanges in a row lost) and its
        RMS below 500 us (measured: 355 us); the frequency is within 0.5
        ppm at the end.
        """
        scenario = lossy()
        self.assertLess(scenario.maxError(2 * HOUR), 1e-3)
        self.assertLess(scenario.rmsError(2 * HOUR), 500e-6)
        self.assertLess(abs(scenario.client.clock.frequencyErrorPPM()), 0.5)
