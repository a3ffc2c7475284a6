# -*- test-case-name: tests.scenarios.001_converge -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Scenario 001, convergence (after chrony's C{001-defaults} and
C{004-largetimeoffset}): a client whose clock is 100 ms off with a 10 ppm
frequency error (wander 1 ppb/s), one reference server with C{iburst} over
a LAN link (1 ms each way plus exponential jitter of mean 100 us), four
simulated hours.

Bounds: one sample's error has a standard deviation of about 70 us here
(the jitter of the two ways, halved), so 200 us during hours 2-4 is three
times what a single measurement can resolve; it is twice the worst of
seeds 1 to 8 (43 to 97 us). Measured with seed 1 (the default Kalman
loop): below 1 ms from 255 s on (the 100 ms are slewed at 400 us/s), at
most 176 us (RMS 58 us) during hours 2-4, frequency 0.10 ppm off at the
end (seeds 1 to 8: at most 72 to 182 us, RMS 30 to 63 us, 0.001 to 0.10
ppm off). The RFC 5905 loop, which measures the frequency for 900 s first
and then runs a PLL with a time constant of 16 poll intervals: below 1 ms
from 1157 s, at most 590 us (RMS 355 us) during hours 2-4.
"""

from __future__ import annotations

from functools import cache

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.discipline import ALGORITHM_RFC5905
from tests.scenarios.harness import ClientScenario

HOUR = 3600.0


@cache
def converge(algorithm: str | None = None, seed: int = 1) -> ClientScenario:
    """
    @param algorithm: the discipline, or C{None} for the default.
    @param seed: the simulation's seed.
    @return: the scenario, run for four hours.
    """
    scenario = ClientScenario(seed, offset=0.1, freqPPM=10.0, algorithm=algorithm)
    scenario.run(4 * HOUR)
    return scenario


class ConvergeTests(SynchronousTestCase):
    """
    The default discipline converges from 100 ms and 10 ppm.
    """

    def test_settlesWithinTwentyMinutes(self) -> None:
        """
        The error falls below 1 ms within 20 minutes and stays there
        (measured: from 255 s).
        """
        self.assertLess(converge().settledBelow(1e-3), 20 * 60)

    def test_noStep(self) -> None:
        """
        100 ms is below the step threshold: the offset is slewed.
        """
        self.assertEqual(converge().events.steps, [])

    def test_boundedAfterwards(self) -> None:
        """
        During hours 2 to 4 the error stays below 400 us (measured: 176 us,
        polling up to every 1024 s) and its RMS, averaged over seeds 1 to
        4, below 60 us (measured: 48 us; 58, 57, 42 and 34 us each: one
        seed's RMS depends on where its first hour led the poll interval,
        30 to 63 us over seeds 1 to 8).
        """
        scenario = converge()
        self.assertLess(scenario.maxError(2 * HOUR), 400e-6)
        rms = [converge(seed=seed).rmsError(2 * HOUR) for seed in range(1, 5)]
        self.assertLess(sum(rms) / len(rms), 60e-6)

    def test_frequency(self) -> None:
        """
        At the end the clock's frequency is within 0.15 ppm of the truth
        (measured: 0.10 ppm, at the end of a 1024 s poll interval; seeds 2
        to 8: 0.001 to 0.087 ppm).
        """
        self.assertLess(abs(converge().client.clock.frequencyErrorPPM()), 0.15)

    def test_synchronized(self) -> None:
        """
        The server is the system peer at the end, and the system variables
        say synchronized at stratum 2.
        """
        scenario = converge()
        self.assertEqual(scenario.systemPeerAddress(), scenario.servers[0].address)
        self.assertTrue(scenario.daemon.engine.system.synchronized)
        self.assertEqual(scenario.daemon.engine.system.stratum, 2)


class ConvergeRFC5905Tests(SynchronousTestCase):
    """
    The RFC 5905 discipline (C{algorithm="rfc5905"}) converges too, more
    slowly and less closely.
    """

    def test_settles(self) -> None:
        """
        The error falls below 1 ms within 30 minutes (measured: 1157 s,
        after the 900 s frequency measurement) and stays below 1.5 ms
        during hours 2 to 4 (measured: 590 us).
        """
        scenario = converge(ALGORITHM_RFC5905)
        self.assertEqual(scenario.daemon.engine.discipline.algorithm, ALGORITHM_RFC5905)
        self.assertLess(scenario.settledBelow(1e-3), 30 * 60)
        self.assertLess(scenario.maxError(2 * HOUR), 1.5e-3)
        self.assertEqual(scenario.events.steps, [])
