# -*- test-case-name: tests.scenarios.006_iburst -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Scenario 006, the first synchronization (chrony's C{102-iburst}): one
reference server, LAN link (1 ms plus exponential jitter of mean 100 us),
a client 50 ms and 10 ppm off.

With C{iburst} the association sends eight requests 2 s apart; from the
second reply selection finds the server fit (the stages of its clock
filter still empty do not count in the distance selection uses: see
L{ntpservice.core.filter}) and picks it at once. Measured with seeds 1 to
5: a system peer and the first clock update after 2.1 to 2.6 s. Without
C{iburst}, two polls of 64 s: about 66 s. (Before issue 16, the fourth
reply: 6.1 to 6.5 s, and 194 to 197 s without C{iburst}.)
"""

from __future__ import annotations

from functools import cache

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.discipline import SYNC
from tests.scenarios.harness import ClientScenario


@cache
def firstSync(options: str) -> ClientScenario:
    """
    @param options: the server line's options.
    @return: the scenario, run for 30 s (C{iburst}) or 300 s, recorded
        every 0.1 s.
    """
    scenario = ClientScenario(1, offset=0.05, freqPPM=10.0, options=options)
    scenario.run(30.0 if "iburst" in options else 300.0, step=0.1)
    return scenario


class IburstTests(SynchronousTestCase):
    """
    C{iburst} synchronizes within seconds.
    """

    def test_systemPeerWithinTenSeconds(self) -> None:
        """
        The engine has a system peer within 4 s of start (measured: 2.4
        s, the second reply), and keeps it.
        """
        scenario = firstSync("iburst")
        first = scenario.firstTime(lambda s: s.systemPeer is not None)
        self.assertLess(first, 4.0)
        self.assertEqual(
            {s.systemPeer for s in scenario.between(first)},
            {scenario.servers[0].address},
        )

    def test_clockUpdatedWithinTenSeconds(self) -> None:
        """
        The discipline takes its first update then too, and is in SYNC.
        """
        scenario = firstSync("iburst")
        self.assertLess(scenario.events.updates[0], 4.0)
        self.assertEqual(scenario.record[-1].state, SYNC)

    def test_eightPackets(self) -> None:
        """
        The burst is eight requests, no more, in the first 30 s.
        """
        scenario = firstSync("iburst")
        counters = scenario.sim.network.counters(
            scenario.client.address, scenario.servers[0].address
        )
        self.assertEqual(counters.sent, 8)

    def test_withoutIburst(self) -> None:
        """
        Without C{iburst} the first synchronization waits for the second
        poll of 64 s (measured: 66 s), no earlier.
        """
        scenario = firstSync("")
        first = scenario.firstTime(lambda s: s.systemPeer is not None)
        self.assertGreater(first, 60.0)
        self.assertLess(first, 150.0)
