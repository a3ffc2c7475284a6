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


class SystemPeerLogTests(SynchronousTestCase):
    """
    The log lines of selection.
    """

    def test_panicLogsThePeersStratum(self) -> None:
        """
        A server an hour off is selected and the daemon panics: the
        selection line gives the stratum and refid the system takes from
        the server (2, its address), not the unsynchronized system
        variables (16, INIT) that the panic leaves in place.
        """
        from twisted.logger import formatEvent, globalLogPublisher

        events: list[dict[str, object]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        sim = Simulation(7)
        sim.addReferenceServer("10.0.0.1", offset=3600.0)
        client = sim.addHost("10.0.1.1")
        sim.link("10.0.1.1", "10.0.0.1", LinkSpec(delay=1e-3, jitter=1e-5))
        daemon = client.runDaemon("server 10.0.0.1 iburst\n")
        sim.run(30.0)
        self.assertEqual(daemon.exitStatus, 1)
        lines = [formatEvent(e) for e in events]
        [selected] = [line for line in lines if line.startswith("Selected 10.0.0.1")]
        self.assertIn("stratum 2, refid 10.0.0.1,", selected)
        self.assertIn("offset +3600.", selected)
        self.assertTrue(any("beyond the panic threshold" in line for line in lines))


class RestrictHostNameTests(SynchronousTestCase):
    """
    C{restrict} lines that name a host apply once the name resolves, and
    resolving never blocks.
    """

    def test_appliedWhenResolved(self) -> None:
        """
        Until the name answers, its addresses get the default restrictions;
        afterwards every address of the name gets the line's flags.
        """
        from tests.control.test_mode6 import PendingResolver

        sim = Simulation(7)
        client = sim.addHost("10.0.1.1")
        resolver = PendingResolver()
        client.reactor.nameResolver = resolver
        daemon = client.runDaemon("restrict time.example.org ignore\n")
        self.assertNotIn("ignore", daemon.restrictions.lookup("192.0.2.9").flags)
        resolver.answer("time.example.org", "192.0.2.9")
        self.assertIn("ignore", daemon.restrictions.lookup("192.0.2.9").flags)
        self.assertNotIn("ignore", daemon.restrictions.lookup("192.0.2.10").flags)

class ObserverRegistrationTests(SynchronousTestCase):
    """
    L{NTPDaemon.addObserver} takes L{IDaemonObserver}s and refuses, loudly,
    what would silently miss events.
    """

    def test_undeclared(self) -> None:
        """
        An object that does not declare L{IDaemonObserver} is refused with
        a C{TypeError} saying how to declare it.
        """
        daemon, _ = clientOf("server 10.0.0.1 iburst\n", seconds=1.0)

        class Plain:
            def peerPacket(self, *args: object) -> None:
                pass

        with self.assertRaises(TypeError) as raised:
            daemon.addObserver(Plain())
        self.assertIn("@implementer(IDaemonObserver)", str(raised.exception))

    def test_typo(self) -> None:
        """
        A method whose name is a near miss of an observer method (a typo,
        or the wrong case) is refused, naming the method it resembles;
        the observer is not registered.
        """
        from zope.interface import implementer

        from ntpservice.interfaces import IDaemonObserver

        daemon, _ = clientOf("server 10.0.0.1 iburst\n", seconds=1.0)

        @implementer(IDaemonObserver)
        class Typo:
            def clockUpdate(self, now: float) -> None:
                pass

        @implementer(IDaemonObserver)
        class Case:
            def peerpacket(self, *args: object) -> None:
                pass

        with self.assertRaises(TypeError) as raised:
            daemon.addObserver(Typo())
        self.assertIn("did you mean clockUpdated?", str(raised.exception))
        with self.assertRaises(TypeError) as raised:
            daemon.addObserver(Case())
        self.assertIn("did you mean peerPacket?", str(raised.exception))
        self.assertEqual(daemon._observers[1:], [])

    def test_partial(self) -> None:
        """
        Every observer method is optional: an observer with one of them and
        methods of its own (not near misses) is registered and called
        after the daemon's own event counts.
        """
        from zope.interface import implementer

        from ntpservice.interfaces import IDaemonObserver

        daemon, _ = clientOf("server 10.0.0.1 iburst\n", seconds=1.0)
        seen: list[int] = []

        @implementer(IDaemonObserver)
        class Steps:
            def clockStepped(self, offset: float) -> None:
                seen.append(daemon.events.system.last)

            def start(self) -> None:
                pass

        daemon.addObserver(Steps())
        daemon._notify("clockStepped", 1.0)
        from ntpservice.core.status import EVNT_CLOCKRESET

        self.assertEqual(seen, [EVNT_CLOCKRESET])


class OrphanLogTests(SynchronousTestCase):
    """
    The daemon says when it becomes an orphan parent and when it stops
    being one (issue 11).
    """

    def test_logged(self) -> None:
        """
        A host with C{tos orphan 5 orphanwait 30} and an unreachable server
        logs once that it is an orphan parent at stratum 5, and once that it
        no longer is when the server answers.
        """
        from twisted.logger import formatEvent, globalLogPublisher

        events: list[dict[str, object]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        sim = Simulation(7)
        sim.addReferenceServer("10.0.0.1")
        host = sim.addHost("10.0.1.1")
        link = LinkSpec(delay=1e-3, jitter=1e-5)
        sim.link("10.0.1.1", "10.0.0.1", LinkSpec(delay=1e-3, loss=1.0))
        daemon = host.runDaemon("tos orphan 5 orphanwait 30\nserver 10.0.0.1 iburst\n")
        sim.run(60.0)
        self.assertTrue(daemon.engine.isOrphan)
        sim.link("10.0.1.1", "10.0.0.1", link)
        sim.run(600.0)
        self.assertFalse(daemon.engine.isOrphan)
        lines = [formatEvent(e) for e in events]
        self.assertEqual(
            [line for line in lines if "orphan parent" in line],
            ["No source for 30 s: orphan parent at stratum 5", "No longer an orphan parent"],
        )
