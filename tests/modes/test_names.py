# -*- test-case-name: tests.modes.test_names -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for names in the C{client} and C{pool} plugins
(L{ntpservice.modes.client}, L{ntpservice.modes.pool}): TTL
re-resolution, duplicates, pool filling and replacement.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.config import parseString
from ntpservice.core.counters import PacketCounters
from ntpservice.daemon import NTPDaemon
from ntpservice.modes import pool as poolModule
from ntpservice.net.multiplexer import ModeTable
from ntpservice.plugins import enabledPlugins, loadModePlugins
from tests.helpers import FakeClock
from tests.net.test_resolve import FakeDNS

T0 = 1_790_000_000 * 10**9


def startDaemon(text: str, dns: FakeDNS) -> NTPDaemon:
    """A started daemon for C{text} whose names C{dns} answers."""
    configuration = parseString(text)
    reactor = MemoryReactorClock()
    reactor.dnsResolver = dns  # type: ignore[attr-defined]
    daemon = NTPDaemon(
        configuration,
        FakeClock(T0),
        reactor,
        PacketCounters(),
        ModeTable(),
        enabledPlugins(loadModePlugins(), configuration),
    )
    daemon.start()
    return daemon


def addresses(daemon: NTPDaemon) -> list[str]:
    return sorted(a.address for a in daemon.associations)


class LogCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def lines(self) -> list[str]:
        return [formatEvent(e) for e in self.events]


class ServerNameTests(LogCase):
    """
    C{server NAME}: one association per name, following the name's
    address as its TTL expires.
    """

    def test_duplicatesCollapse(self) -> None:
        """
        Three C{server} lines with one name give one association, and a
        warning naming each repeated line and the first one; a C{server}
        line given at run time (C{:config}) with a name in use is ignored
        with a warning too.
        """
        dns = FakeDNS({"ntp.test": [("192.0.2.1", 300), ("192.0.2.2", 300)]})
        daemon = startDaemon(
            "server ntp.test iburst\nserver ntp.test\nserver NTP.test\n", dns
        )
        self.assertEqual(addresses(daemon), ["192.0.2.1"])
        warnings = [w for w in daemon.configuration.warnings if "duplicate server" in w]
        self.assertEqual(len(warnings), 2)
        self.assertIn("<string>:2: duplicate server ntp.test", warnings[0])
        self.assertIn("<string>:3:", warnings[1])
        runtime = parseString("server Ntp.Test\n", "<config>").associationsFor("server")[0]
        daemon.instances["client"].addDirective(runtime)
        self.assertEqual(addresses(daemon), ["192.0.2.1"])
        [warning] = [line for line in self.lines() if "repeats" in line]
        self.assertIn("<config>:1: server Ntp.Test repeats <string>:1", warning)

    def test_movesWhenAddressChanges(self) -> None:
        """
        When re-resolution at the TTL no longer gives the association's
        address, the association moves to the new one (a new association
        ID); while the address stays among the answers, it stays.
        """
        dns = FakeDNS({"ntp.test": [("192.0.2.1", 100)]})
        daemon = startDaemon("server ntp.test iburst\n", dns)
        [first] = list(daemon.associations)
        dns.table["ntp.test"] = [("192.0.2.3", 100), ("192.0.2.1", 100)]
        daemon.reactor.advance(100)
        self.assertEqual([a.associd for a in daemon.associations], [first.associd])
        dns.table["ntp.test"] = [("192.0.2.7", 100)]
        daemon.reactor.advance(100)
        [moved] = list(daemon.associations)
        self.assertEqual(moved.address, "192.0.2.7")
        self.assertNotEqual(moved.associd, first.associd)
        self.assertTrue(any("association" in line and "moves" in line for line in self.lines()))

    def test_unresolvableRetried(self) -> None:
        """
        A name that does not resolve is retried with back-off and its
        association appears when it does.
        """
        dns = FakeDNS()
        daemon = startDaemon("server later.test\n", dns)
        self.assertEqual(addresses(daemon), [])
        dns.table["later.test"] = [("192.0.2.4", 300)]
        daemon.reactor.advance(60)
        self.assertEqual(addresses(daemon), ["192.0.2.4"])


class PoolTests(LogCase):
    """
    C{pool NAME}: up to C{tos maxclock} distinct servers, replaced when they
    fail, with new addresses picked up from re-resolution.
    """

    SIX = [(f"192.0.2.{i}", 100) for i in range(1, 7)]

    def test_fillsToMaxclock(self) -> None:
        """
        The pool mobilizes C{maxclock} associations, each to a distinct
        address, even when DNS repeats addresses and two pool lines
        overlap.
        """
        dns = FakeDNS({"pool.test": self.SIX + self.SIX[:2], "other.test": self.SIX[:3]})
        daemon = startDaemon("tos maxclock 4\npool pool.test iburst\npool other.test\n", dns)
        self.assertEqual(addresses(daemon), [f"192.0.2.{i}" for i in range(1, 5)])

    def test_replacesFailedMember(self) -> None:
        """
        A member demobilized for a fault (here: unreachable) is replaced at
        once by an unused address, and its own address is kept out for
        L{poolModule.EXCLUDE_SECONDS}.
        """
        dns = FakeDNS({"pool.test": self.SIX})
        daemon = startDaemon("tos maxclock 4\npool pool.test iburst\n", dns)
        victim = daemon.associations.find("192.0.2.2", 123)
        assert victim is not None
        daemon.demobilize(victim.associd, "unreachable")
        self.assertEqual(
            addresses(daemon), ["192.0.2.1", "192.0.2.3", "192.0.2.4", "192.0.2.5"]
        )
        pool = daemon.instances["pool"]
        self.assertIn("192.0.2.2", pool.excluded)
        for address in ("192.0.2.1", "192.0.2.3", "192.0.2.4"):
            found = daemon.associations.find(address, 123)
            assert found is not None
            daemon.demobilize(found.associd, "falseticker")
        # 2 is still excluded: only 5 and 6 are left.
        self.assertEqual(addresses(daemon), ["192.0.2.5", "192.0.2.6"])

    def test_newAddressesFromReresolution(self) -> None:
        """
        A member that left is replaced by an address that only a later
        answer (at the TTL) brings.
        """
        dns = FakeDNS({"pool.test": self.SIX[:2]})
        daemon = startDaemon("tos maxclock 3\npool pool.test\n", dns)
        self.assertEqual(addresses(daemon), ["192.0.2.1", "192.0.2.2"])
        dns.table["pool.test"] = [("192.0.2.50", 100)]
        daemon.reactor.advance(100)
        self.assertEqual(addresses(daemon), ["192.0.2.1", "192.0.2.2", "192.0.2.50"])

    def test_requeriedWhenShort(self) -> None:
        """
        A pool that lacks members and knows no unused address asks its
        name again (at most every L{poolModule.REQUERY_INTERVAL}), before
        the TTL expires.
        """
        dns = FakeDNS({"pool.test": [("192.0.2.1", 3600)]})
        daemon = startDaemon("tos maxclock 3\npool pool.test\n", dns)
        asked = len(dns.queries)
        daemon.reactor.advance(poolModule.REFILL_INTERVAL)
        self.assertGreater(len(dns.queries), asked)
