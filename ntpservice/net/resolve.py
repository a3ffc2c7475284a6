# -*- test-case-name: tests.net.test_resolve,tests.control.test_mode6,tests.test_daemon -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Name resolution that never blocks the reactor, with the answers' TTLs.

L{HostResolver} asks DNS with C{twisted.names} (which reads
C{/etc/resolv.conf} and C{/etc/hosts}, answers in the reactor without a
thread, and gives each record's TTL, which C{getaddrinfo} does not) for
the A and AAAA records of a name (only one family with C{-4}/C{-6}),
removes duplicates, keeps the order, and retries with back-off while
resolution fails. Address literals are answered at once.

Two uses:

 - L{HostResolver.resolve}: once, until the name resolves (C{restrict}
   lines);
 - L{HostResolver.watch}: the name is resolved again when the TTL of its
   answer expires (bounded by L{MIN_REFRESH} and L{MAX_REFRESH}: about
   daily for long TTLs, as seed 001 proposes), and the callback hears of
   every change of the address set (C{server} and C{pool} lines).

Where the answers come from, in order (L{backendFor}): an
L{IResolver <twisted.internet.interfaces.IResolver>} the reactor carries as
C{dnsResolver} (tests); C{twisted.names} on a real reactor whose name
resolver is Twisted's default; else the reactor's pluggable
L{IHostnameResolver} (the simulator, tests), whose answers have no TTL
(L{DEFAULT_TTL}).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable

from zope.interface import implementer

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IResolutionReceiver

from ntpservice._log import Logger

FIRST_RETRY = 60.0
"""Seconds before the first retry of a failed resolution."""
MAX_RETRY = 3600.0
"""Seconds: the retry interval doubles up to this."""
MIN_REFRESH = 30.0
"""Seconds: a watched name is never resolved again sooner than this, however
short its TTL (a TTL of 0 would otherwise ask DNS at every turn)."""
MAX_REFRESH = 86400.0
"""Seconds: a watched name is resolved again at least daily, however long
its TTL (seed 001: "is once a day often enough?")."""
DEFAULT_TTL = 3600.0
"""Seconds: the TTL assumed for answers that carry none (a pluggable
C{IHostnameResolver}, C{/etc/hosts})."""


def refreshDelay(ttl: float | None) -> float:
    """
    Seconds until a watched name is resolved again, for an answer with
    this TTL (C{None}: L{DEFAULT_TTL}), bounded by L{MIN_REFRESH} and
    L{MAX_REFRESH}.
    """
    if ttl is None:
        ttl = DEFAULT_TTL
    return min(MAX_REFRESH, max(MIN_REFRESH, float(ttl)))


def literal(name: str) -> str | None:
    """
    The address C{name} spells (without a C{%zone}), or C{None} for a
    host name.
    """
    try:
        return str(ipaddress.ip_address(name.split("%")[0]))
    except ValueError:
        return None


@implementer(IResolutionReceiver)
class _Receiver:
    def __init__(self, done: Callable[[list[str]], None]) -> None:
        self._done = done
        self._addresses: list[str] = []

    def resolutionBegan(self, resolution: Any) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        host = address.host
        if host not in self._addresses:
            self._addresses.append(host)

    def resolutionComplete(self) -> None:
        self._done(self._addresses)


class HostnameBackend:
    """
    Answers from an L{IHostnameResolver} (getaddrinfo in a thread, the
    simulator's table): every address, no TTL.
    """

    def __init__(self, nameResolver: Any) -> None:
        self._nameResolver = nameResolver

    def lookup(self, name: str, ipVersion: int | None) -> Deferred[tuple[list[str], float | None]]:
        from twisted.internet.address import IPv4Address, IPv6Address

        types = None
        if ipVersion == 4:
            types = [IPv4Address]
        elif ipVersion == 6:
            types = [IPv6Address]
        d: Deferred[tuple[list[str], float | None]] = Deferred()
        self._nameResolver.resolveHostName(
            _Receiver(lambda addresses: d.callback((addresses, None))),
            name,
            0,
            types,
            "UDP",
        )
        return d

    def stop(self) -> None:
        pass


class DNSBackend:
    """
    Answers from a C{twisted.names} L{IResolver
    <twisted.internet.interfaces.IResolver>}: A and AAAA records, with the
    smallest TTL among them.
    """

    def __init__(self, resolver: Any, owned: bool = False) -> None:
        self._resolver = resolver
        self._owned = owned

    def lookup(self, name: str, ipVersion: int | None) -> Deferred[tuple[list[str], float | None]]:
        from twisted.names import dns

        queries = []
        if ipVersion in (None, 4):
            queries.append(self._resolver.lookupAddress(name))
        if ipVersion in (None, 6):
            queries.append(self._resolver.lookupIPV6Address(name))

        def gather(results: list[tuple[bool, Any]]) -> tuple[list[str], float | None]:
            addresses: list[str] = []
            ttls: list[float] = []
            for ok, result in results:
                if not ok:
                    continue
                answers = result[0]
                for record in answers:
                    if record.type not in (dns.A, dns.AAAA):
                        continue
                    address = record.payload.dottedQuad() if record.type == dns.A else (
                        _ipv6(record.payload.address)
                    )
                    if address not in addresses:
                        addresses.append(address)
                        ttls.append(float(record.ttl))
            return addresses, (min(ttls) if ttls else None)

        return DeferredList(queries, consumeErrors=True).addCallback(gather)

    def stop(self) -> None:
        """
        Stop a resolver built here (its periodic re-reading of
        C{resolv.conf}).
        """
        if not self._owned:
            return
        for resolver in getattr(self._resolver, "resolvers", ()):
            call = getattr(resolver, "_parseCall", None)
            if call is not None and call.active():
                call.cancel()


def _ipv6(packed: bytes) -> str:
    import socket

    return str(ipaddress.ip_address(socket.inet_ntop(socket.AF_INET6, packed)))


def _isDefaultNameResolver(nameResolver: Any) -> bool:
    """
    Whether C{nameResolver} is the one a Twisted reactor comes with
    (getaddrinfo, blocking or in a thread).
    """
    from twisted.internet import _resolver, base

    if isinstance(nameResolver, _resolver.GAIResolver):
        return True
    if isinstance(nameResolver, _resolver.SimpleResolverComplexifier):
        simple = nameResolver._simpleResolver
        return isinstance(simple, (base.BlockingResolver, base.ThreadedResolver))
    return False


def dnsResolver(reactor: Any) -> Any:
    """
    A C{twisted.names} resolver that reads C{/etc/hosts}, then asks the
    name servers of C{/etc/resolv.conf}, on C{reactor}.
    """
    from twisted.names import client, dns, hosts, resolve

    # One UDP port per query: not worth two log lines each.
    dns.DNSDatagramProtocol.noisy = False
    return resolve.ResolverChain(
        [
            hosts.Resolver(b"/etc/hosts", ttl=int(DEFAULT_TTL)),
            client.Resolver(b"/etc/resolv.conf", reactor=reactor),
        ]
    )


def backendFor(reactor: Any) -> HostnameBackend | DNSBackend:
    """
    Where answers come from on C{reactor} (see the module's docstring).
    """
    explicit = getattr(reactor, "dnsResolver", None)
    if explicit is not None:
        return DNSBackend(explicit)
    nameResolver = getattr(reactor, "nameResolver", None)
    if nameResolver is not None and not _isDefaultNameResolver(nameResolver):
        return HostnameBackend(nameResolver)
    if not hasattr(reactor, "listenUDP"):
        # A bare clock (a test, the simulator) has no network to ask.
        return HostnameBackend(_NoNames())
    return DNSBackend(dnsResolver(reactor), owned=True)


class _NoNames:
    """A name resolver that knows no name (a reactor without UDP)."""

    def resolveHostName(
        self, receiver: Any, hostName: str, portNumber: int = 0,
        addressTypes: Any = None, transportSemantics: str = "TCP",
    ) -> None:
        receiver.resolutionBegan(None)
        receiver.resolutionComplete()


class NameWatch:
    """
    A name resolved again as its TTL expires; see L{HostResolver.watch}.

    @ivar name: the name.
    @ivar addresses: the addresses of the latest answer (empty until the
        first one).
    @ivar ttl: the TTL of the latest answer, in seconds, or C{None}.
    @ivar failures: consecutive failed resolutions.
    """

    def __init__(
        self,
        owner: "HostResolver",
        name: str,
        ipVersion: int | None,
        callback: Callable[[list[str]], None],
    ) -> None:
        self._owner = owner
        self.name = name
        self.ipVersion = ipVersion
        self._callback = callback
        self.addresses: list[str] = []
        self.ttl: float | None = None
        self.failures = 0
        self._call: Any = None
        self._active = True
        self._busy = False

    @property
    def active(self) -> bool:
        """Whether the name is still watched."""
        return self._active

    def refresh(self) -> None:
        """
        Resolve the name now (unless a resolution is under way).
        """
        if not self._active or self._busy:
            return
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self._busy = True
        self._owner._lookup(self.name, self.ipVersion).addBoth(self._answered)

    def _answered(self, result: Any) -> None:
        self._busy = False
        if not self._active:
            return
        addresses: list[str] = []
        ttl: float | None = None
        if isinstance(result, tuple):
            addresses, ttl = result
        reactor = self._owner._reactor
        if not addresses:
            self.failures += 1
            delay = min(FIRST_RETRY * 2 ** (self.failures - 1), MAX_RETRY)
            self._owner._log.warn(
                "Cannot resolve {name}; trying again in {delay:.0f} s",
                name=self.name,
                delay=delay,
            )
            self._call = reactor.callLater(delay, self.refresh)
            return
        self.failures = 0
        self.ttl = ttl
        changed = addresses != self.addresses
        if changed and self.addresses:
            self._owner._log.info(
                "{name} now resolves to {addresses} (was {previous})",
                name=self.name,
                addresses=" ".join(addresses),
                previous=" ".join(self.addresses),
            )
        self.addresses = addresses
        if literal(self.name) is None:
            self._call = reactor.callLater(refreshDelay(ttl), self.refresh)
        if changed:
            self._callback(list(addresses))

    def cancel(self) -> None:
        """
        Stop watching: no more resolutions, no more callbacks.
        """
        self._active = False
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None


class HostResolver:
    """
    Resolve names for the mode plugins and the C{restrict} lines.
    """

    _log = Logger()

    def __init__(self, reactor: Any, backend: Any = None) -> None:
        """
        @param backend: where answers come from (an object with
            C{lookup(name, ipVersion)} returning a L{Deferred} of
            C{(addresses, ttl)}); C{None}: L{backendFor} C{reactor}, built
            at the first lookup.
        """
        self._reactor = reactor
        self._backend = backend
        self._pending: list[Any] = []
        self._watches: list[NameWatch] = []
        self._stopped = False

    def _lookup(self, name: str, ipVersion: int | None) -> Deferred[tuple[list[str], float | None]]:
        address = literal(name)
        if address is not None:
            from twisted.internet.defer import succeed

            return succeed(([address], None))
        if self._backend is None:
            self._backend = backendFor(self._reactor)
        return self._backend.lookup(name, ipVersion)

    def resolve(
        self,
        name: str,
        ipVersion: int | None,
        callback: Callable[[list[str]], None],
        retry: float = FIRST_RETRY,
    ) -> None:
        """
        Call C{callback} with every address of C{name} (at least one),
        retrying later while there is none.

        @param ipVersion: 4 or 6 to want only that family (C{-4}/C{-6}),
            else C{None}.
        """
        address = literal(name)
        if address is not None:
            callback([address])
            return

        def done(result: Any) -> None:
            if self._stopped:
                return
            addresses = result[0] if isinstance(result, tuple) else []
            if addresses:
                callback(addresses)
                return
            self._log.warn(
                "Cannot resolve {name}; trying again in {delay:.0f} s",
                name=name,
                delay=retry,
            )
            call = self._reactor.callLater(
                retry,
                self.resolve,
                name,
                ipVersion,
                callback,
                min(retry * 2, MAX_RETRY),
            )
            self._pending.append(call)

        self._lookup(name, ipVersion).addBoth(done)

    def watch(
        self,
        name: str,
        ipVersion: int | None,
        callback: Callable[[list[str]], None],
    ) -> NameWatch:
        """
        Resolve C{name} now and again as the TTL of its answer expires
        (L{refreshDelay}), retrying with back-off while it fails; call
        C{callback} with the addresses (at least one) at the first answer
        and whenever the set changes.

        @return: the L{NameWatch}, to L{cancel <NameWatch.cancel>} or
            L{refresh <NameWatch.refresh>} it.
        """
        watch = NameWatch(self, name, ipVersion, callback)
        self._watches.append(watch)
        watch.refresh()
        return watch

    def cancel(self) -> None:
        """
        Stop every pending retry and watch, and ignore answers still to
        come.
        """
        self._stopped = True
        for call in self._pending:
            if call.active():
                call.cancel()
        self._pending = []
        for watch in self._watches:
            watch.cancel()
        self._watches = []
        if self._backend is not None:
            self._backend.stop()
