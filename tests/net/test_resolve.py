# -*- test-case-name: tests.net.test_resolve -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.net.resolve}: answers with TTLs from a
C{twisted.names} resolver, re-resolution as TTLs expire, back-off.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.names import dns
from twisted.names.error import DomainError
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.net import resolve
from ntpservice.net.resolve import (
    DNSBackend,
    HostResolver,
    MAX_REFRESH,
    MIN_REFRESH,
    backendFor,
    refreshDelay,
)


class FakeDNS:
    """
    An C{IResolver} answering A and AAAA lookups from a table the test
    changes: name -> list of (address, ttl). Unknown names fail.

    @ivar queries: the names asked, with the record type.
    @ivar held: names whose answers wait for L{release}.
    """

    def __init__(self, table: dict[str, list[tuple[str, int]]] | None = None) -> None:
        self.table = table if table is not None else {}
        self.queries: list[tuple[str, str]] = []
        self.held: set[str] = set()
        self._waiting: list[tuple[Deferred[Any], str, int]] = []

    def _answer(self, name: str, kind: int) -> Any:
        records = []
        for address, ttl in self.table.get(name, []):
            if (":" in address) != (kind == dns.AAAA):
                continue
            payload: Any = (
                dns.Record_AAAA(address, ttl) if kind == dns.AAAA else dns.Record_A(address, ttl)
            )
            records.append(dns.RRHeader(name, kind, dns.IN, ttl, payload))
        if name not in self.table:
            return fail(DomainError(name))
        return succeed((records, [], []))

    def _lookup(self, name: str, kind: int) -> Deferred[Any]:
        self.queries.append((name, "AAAA" if kind == dns.AAAA else "A"))
        if name in self.held:
            d: Deferred[Any] = Deferred()
            self._waiting.append((d, name, kind))
            return d
        return self._answer(name, kind)

    def release(self, name: str) -> None:
        self.held.discard(name)
        for entry in list(self._waiting):
            d, waitingName, kind = entry
            if waitingName == name:
                self._waiting.remove(entry)
                self._answer(name, kind).chainDeferred(d)

    def lookupAddress(self, name: str, timeout: Any = None) -> Deferred[Any]:
        return self._lookup(name, dns.A)

    def lookupIPV6Address(self, name: str, timeout: Any = None) -> Deferred[Any]:
        return self._lookup(name, dns.AAAA)


class RefreshDelayTests(SynchronousTestCase):
    """
    L{refreshDelay} bounds the TTL of an answer.
    """

    def test_bounds(self) -> None:
        """
        A TTL between the bounds is used as it is; a shorter one gives
        L{MIN_REFRESH}, a longer one L{MAX_REFRESH} (daily), none the
        default TTL.
        """
        self.assertEqual(refreshDelay(300), 300.0)
        self.assertEqual(refreshDelay(0), MIN_REFRESH)
        self.assertEqual(refreshDelay(7 * 86400), MAX_REFRESH)
        self.assertEqual(MAX_REFRESH, 86400.0)
        self.assertEqual(refreshDelay(None), resolve.DEFAULT_TTL)


class BackendTests(SynchronousTestCase):
    """
    Where the answers come from.
    """

    def test_explicitResolver(self) -> None:
        """
        A reactor carrying an C{IResolver} as C{dnsResolver} is asked
        through it.
        """
        reactor = Clock()
        reactor.dnsResolver = FakeDNS()  # type: ignore[attr-defined]
        self.assertIsInstance(backendFor(reactor), DNSBackend)

    def test_realReactorUsesTwistedNames(self) -> None:
        """
        On a reactor whose name resolver is Twisted's default
        (getaddrinfo), the daemon asks DNS itself with C{twisted.names}
        (TTLs, no thread), reading C{/etc/hosts} first.
        """
        from twisted.internet import selectreactor
        from twisted.names.resolve import ResolverChain

        reactor = selectreactor.SelectReactor()
        backend = backendFor(reactor)
        self.addCleanup(backend.stop)
        self.assertIsInstance(backend, DNSBackend)
        self.assertIsInstance(backend._resolver, ResolverChain)

    def test_bareClock(self) -> None:
        """
        A reactor with neither a name resolver nor UDP (a bare clock)
        resolves no name, and says so by giving no address.
        """
        resolver = HostResolver(Clock())
        seen: list[list[str]] = []
        watch = resolver.watch("ntp.test", None, seen.append)
        self.addCleanup(resolver.cancel)
        self.assertEqual((seen, watch.failures), ([], 1))

    def test_bothFamilies(self) -> None:
        """
        Without C{-4}/C{-6} both A and AAAA records are asked for and every
        address is given once, with the smallest TTL; with C{-4} only A
        records are asked for.
        """
        fake = FakeDNS({"pool.test": [("192.0.2.1", 300), ("2001:db8::1", 60), ("192.0.2.1", 300)]})
        backend = DNSBackend(fake)
        self.assertEqual(
            self.successResultOf(backend.lookup("pool.test", None)),
            (["192.0.2.1", "2001:db8::1"], 60.0),
        )
        fake.queries.clear()
        self.assertEqual(
            self.successResultOf(backend.lookup("pool.test", 4)), (["192.0.2.1"], 300.0)
        )
        self.assertEqual(fake.queries, [("pool.test", "A")])

    def test_failureIsEmpty(self) -> None:
        """
        A name DNS does not know gives no address (not an error).
        """
        backend = DNSBackend(FakeDNS())
        self.assertEqual(self.successResultOf(backend.lookup("nx.test", None)), ([], None))


class WatchTests(SynchronousTestCase):
    """
    L{HostResolver.watch} resolves again as TTLs expire and tells of
    changes only.
    """

    def setUp(self) -> None:
        self.reactor = Clock()
        self.dns = FakeDNS({"ntp.test": [("192.0.2.1", 120)]})
        self.reactor.dnsResolver = self.dns  # type: ignore[attr-defined]
        self.resolver = HostResolver(self.reactor)
        self.seen: list[list[str]] = []

    def test_reresolvedAtTTL(self) -> None:
        """
        The first answer is given; the name is asked again when its TTL
        expires, and a changed answer is given, an unchanged one is not.
        """
        self.resolver.watch("ntp.test", 4, self.seen.append)
        self.assertEqual(self.seen, [["192.0.2.1"]])
        self.reactor.advance(119)
        self.assertEqual(len(self.dns.queries), 1)
        self.reactor.advance(1)
        self.assertEqual(len(self.dns.queries), 2)
        self.assertEqual(self.seen, [["192.0.2.1"]])
        self.dns.table["ntp.test"] = [("192.0.2.2", 120)]
        self.reactor.advance(120)
        self.assertEqual(self.seen, [["192.0.2.1"], ["192.0.2.2"]])

    def test_backoff(self) -> None:
        """
        While the name does not resolve it is asked again after 60 s, then
        120 s, ... and the callback hears nothing until it resolves.
        """
        self.resolver.watch("late.test", 4, self.seen.append)
        self.reactor.advance(59)
        self.assertEqual(len(self.dns.queries), 1)
        self.reactor.advance(1)
        self.assertEqual(len(self.dns.queries), 2)
        self.reactor.advance(119)
        self.assertEqual(len(self.dns.queries), 2)
        self.dns.table["late.test"] = [("192.0.2.9", 300)]
        self.reactor.advance(1)
        self.assertEqual(self.seen, [["192.0.2.9"]])

    def test_neverBlocks(self) -> None:
        """
        A slow answer does not hold the caller: C{watch} returns at once
        and the callback comes with the answer.
        """
        self.dns.held.add("ntp.test")
        watch = self.resolver.watch("ntp.test", 4, self.seen.append)
        self.assertEqual(self.seen, [])
        self.assertEqual(watch.addresses, [])
        self.dns.release("ntp.test")
        self.assertEqual(self.seen, [["192.0.2.1"]])

    def test_cancel(self) -> None:
        """
        A cancelled watch asks no more and tells nothing; so does every
        watch after L{HostResolver.cancel}.
        """
        watch = self.resolver.watch("ntp.test", 4, self.seen.append)
        watch.cancel()
        self.dns.table["ntp.test"] = [("192.0.2.2", 120)]
        self.reactor.advance(1000)
        self.assertEqual(len(self.dns.queries), 1)
        self.resolver.watch("ntp.test", 4, self.seen.append)
        self.resolver.cancel()
        self.reactor.advance(1000)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_literal(self) -> None:
        """
        An address literal is given at once, DNS is not asked, and it is
        not asked again.
        """
        self.resolver.watch("2001:DB8::5", None, self.seen.append)
        self.assertEqual(self.seen, [["2001:db8::5"]])
        self.assertEqual(self.dns.queries, [])
        self.assertEqual(self.reactor.getDelayedCalls(), [])
