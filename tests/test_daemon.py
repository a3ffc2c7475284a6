# -*- test-case-name: tests.test_daemon -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.daemon}: the daemon on simulated hosts, for what
only the assembled daemon does.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.sim.hosts import Simulation
from ntpservice.sim.network import LinkSpec


def clientOf(text: str, seconds: float = 60.0):  # type: ignore[no-untyped-def]
    sim = Simulation(7)
    sim.addReferenceServer("10.0.0.1")
    client = sim.addHost("10.0.1.1")
    sim.link("10.0.1.1", "10.0.0.1", LinkSpec(delay=1e-3, jitter=1e-5))
    daemon = client.runDaemon(text)
    sim.run(seconds)
    return daemon, client


class RestrictOnRepliesTests(SynchronousTestCase):
    """
    restrict lines apply to our servers' replies too, as in ntpd.
    """

    def test_ignoredServer(self) -> None:
        """
        A server whose address is restricted with C{ignore} is never
        heard, so never selected.
        """
        daemon, client = clientOf("server 10.0.0.1 iburst\nrestrict 10.0.0.1 ignore\n")
        self.assertIsNone(daemon.engine.systemPeer)
        self.assertGreater(client.counters["access.ignored"], 0)

    def test_notrustNeedsAuthentication(self) -> None:
        """
        C{notrust} drops unauthenticated replies.
        """
        daemon, client = clientOf("server 10.0.0.1 iburst\nrestrict default notrust\n")
        self.assertIsNone(daemon.engine.systemPeer)
        self.assertGreater(client.counters["access.notrust"], 0)

    def test_restrictSourceExemptsFromLimited(self) -> None:
        """
        With the built-in default's lines (C{limited} by default, C{restrict
        source} without it), an iburst server is not rate-limited by its
        own client.
        """
        daemon, client = clientOf(
            "server 10.0.0.1 iburst\n"
            "restrict default kod limited nomodify nopeer noquery\n"
            "restrict source nomodify nopeer noquery\n",
            seconds=30,
        )
        self.assertEqual(daemon.engine.systemPeer, 1)
        self.assertEqual(client.counters["access.ratelimited"], 0)


class DisciplineChoiceTests(SynchronousTestCase):
    """
    The C{discipline} directive chooses the clock-discipline loop.
    """

    def test_default(self) -> None:
        """
        Without the directive, the Kalman loop runs.
        """
        daemon, _ = clientOf("server 10.0.0.1 iburst\n", seconds=1)
        self.assertEqual(daemon.engine.discipline.settings.algorithm, "kalman")

    def test_rfc5905(self) -> None:
        """
        C{discipline rfc5905} runs RFC 5905's PLL/FLL, which also
        synchronizes.
        """
        daemon, _ = clientOf("server 10.0.0.1 iburst\ndiscipline rfc5905\n", seconds=30)
        self.assertEqual(daemon.engine.discipline.settings.algorithm, "rfc5905")
        self.assertEqual(daemon.engine.systemPeer, 1)
