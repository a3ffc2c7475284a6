# -*- test-case-name: tests.scenarios.012_leap_smear -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Scenario 012, a smeared leap second (issue 15): as scenario 011, a
reference announces and inserts a leap second at the end of 2026-06-30, but
our server has C{leapsmearinterval 7200}: over the two hours before the leap
second it serves a time that slows down until it is a whole second behind,
never announces the leap second, and steps its own clock by it at its
instant, when the smear ends. Its client (our daemon) sees no leap second
and no step: its time runs smoothly through, and it ends up on UTC again.

Checked: the served time is half a second behind UTC halfway through the
interval, UTC again (within 1 ms) from just after the leap second (the
smear is complete at the end of its interval); the client never steps its
clock, never announces or arms a leap second, follows the served time
within 40 ms throughout (its loop lags where the 139 ppm ramp starts and
ends, more since its polls lengthen as far as the noise allows: issue 16),
and is within 1 ms of UTC again an hour after.

Measured (seed 1, LAN links): the served time is within 14 us of UTC after
the leap second; the client follows the smeared time within 16.7 ms (80 s
into the ramp) and is within 27 us of UTC from half an hour after. With
issue 16's poll control: within 29.1 ms (210 s after the leap second,
where the ramp ends), and within 53 us of UTC from half an hour after.
With the wander estimated from the samples the poll stays at 256 s
through the ramp (a steady frequency is no wander); an outlier brings the
next poll forward to minpoll, and so does the second one, which the loop
takes as a change, so that the new frequency is measured a minpoll later:
within 48.6 ms (the ramp's start seen 350 s late, at a 256 s poll).
"""

from __future__ import annotations

import calendar
from functools import cache

from twisted.trial.unittest import SynchronousTestCase

from tests.scenarios.harness import leapSite

LEAP = calendar.timegm((2026, 7, 1, 0, 0, 0))
START = LEAP - 4 * 3600
SMEAR = 7200
GRID = 5.0


@cache
def run(seed: int = 1) -> dict[str, object]:
    """
    Four hours before the leap second to two hours after, sampled every
    L{GRID} s: true seconds from the leap second, the served time's error
    against true UTC, the client's, the client's against the served time,
    the client's system leap indicator.
    """
    site = leapSite(seed, START * 10**9, f"leapsmearinterval {SMEAR}\n")
    sim, reference, server, client = site.sim, site.reference, site.server, site.client
    serverDaemon, clientDaemon = site.serverDaemon, site.clientDaemon
    leapAt = LEAP - START
    steps: list[tuple[str, float]] = []
    clientLeaps: list[int] = []
    original = client.clock.step

    def step(offset: float) -> None:
        steps.append(("client", offset))
        original(offset)

    client.clock.step = step  # type: ignore[method-assign]
    originalLeap = client.clock.setLeap

    def setLeap(leap: int) -> None:
        clientLeaps.append(leap)
        originalLeap(leap)

    client.clock.setLeap = setLeap  # type: ignore[method-assign]
    samples: list[tuple[float, float, float, float, int]] = []

    def observe(sim: Simulation) -> None:
        after = 1.0 if sim.seconds() >= leapAt else 0.0
        if sim.seconds() >= leapAt + GRID:
            reference.leap = 0
        smear = serverDaemon.system().smearNs / 1e9
        served = server.clock.error() + smear + after
        clientError = client.clock.error() + after
        samples.append(
            (sim.seconds() - leapAt, served, clientError, clientError - served,
             clientDaemon.engine.system.leap)
        )

    sim.run(6 * 3600, step=GRID, observe=observe)
    return {"samples": samples, "steps": steps, "clientLeaps": clientLeaps}


class LeapSmearTests(SynchronousTestCase):
    """
    A leap second smeared over two hours.
    """

    def test_servedTime(self) -> None:
        """
        The served time is UTC before the interval, half a second behind
        halfway through, and UTC again (within 1 ms) from just after the
        leap second: the smear is complete at the end of its interval.
        """
        samples = run()["samples"]
        at = {s[0]: s[1] for s in samples}  # type: ignore[union-attr]
        self.assertLess(abs(at[-SMEAR - 600]), 1e-3)
        self.assertLess(abs(at[-SMEAR / 2] + 0.5), 2e-3, at[-SMEAR / 2])
        for when, served in at.items():
            if GRID <= when:
                self.assertLess(abs(served), 1e-3, (when, served))

    def test_clientSeesNoStep(self) -> None:
        """
        The client never steps its clock, never sees a leap indicator or
        arms its clock, follows the served time within 80 ms (the 139 ppm
        ramp's start or end seen one poll of up to 512 s late, confirmed a
        minpoll later), and is within 1 ms of UTC from an hour after the
        leap second.
        """
        result = run()
        self.assertEqual(result["steps"], [])
        self.assertEqual([l for l in result["clientLeaps"] if l], [])  # type: ignore[union-attr]
        samples = result["samples"]
        for when, _, clientError, followError, leap in samples[100:]:  # type: ignore[index]
            self.assertEqual(leap, 0, when)
            self.assertLess(abs(followError), 80e-3, (when, followError))
            if when >= 3600:
                self.assertLess(abs(clientError), 1e-3, (when, clientError))
