# -*- test-case-name: tests.modes.test_manycast -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Manycast (issue 12, seed 001): servers found by multicast solicitation.

Theory of operation.

 - B{Server} (C{manycastserver GROUP ...}). The groups are joined on every
   interface that carries multicast; the plugin claims the route C{(3,
   multicast)} (client requests sent to a group), only when a line asks
   for it, so that the unicast server's path is unchanged otherwise. A
   solicitation is answered, by unicast from the interface it came in on,
   only while we are synchronized (leap indicator not 3, stratum below
   16) and, when the keys file has trusted keys, only when it is signed
   with one of them; the reply is the unicast server's (the same
   C{restrict} checks, the same MAC), never larger than the request.
   Unanswered solicitations cost nothing else: no crypto-NAK, no
   kiss-o'-death to a group.
 - B{Client} (C{manycastclient GROUP [key N] [ttl N] [minpoll N]}). A
   solicitor per line sends a client request to the group at its poll
   interval, with a random transmit timestamp (the nonce) and a TTL that
   grows by one per solicitation up to the line's C{ttl} (an expanding
   ring search), signed with C{key} when given. Replies (mode 4 from
   servers we have no association with) are claimed by their origin
   timestamp, one of our recent nonces (L{IPacketClaimant}); each
   synchronized, authenticated one mobilizes an ephemeral client
   association (with C{iburst}), while fewer than C{tos maxclock}
   associations exist. The engine preempts the worst beyond C{maxclock}
   and demobilizes the ones that fall silent; the solicitor is told
   (L{ISourceSpawner}) and solicits again at once whenever fewer than
   C{tos minclock} of its servers are reachable, and at each C{minpoll}
   interval while that lasts; with enough servers it solicits once per
   C{maxpoll} interval while there is room below C{tos maxclock} (new
   servers are found without a restart), and not at all when there is
   none.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any, Callable

from zope.interface import implementer

from twisted.internet.task import LoopingCall
from twisted.plugin import IPlugin

from ntpservice import config
from ntpservice._log import Logger
from ntpservice.auth.keyring import admitReply
from ntpservice.auth.mac import signPacket
from ntpservice.config.directives.associations import PARSERS as ASSOCIATION_PARSERS
from ntpservice.core.access import mayMobilize
from ntpservice.core.association import AssociationSettings
from ntpservice.core.authenticator import authenticatorFor
from ntpservice.core.dispatch import ASSOC_CLIENT
from ntpservice.core.packet import MODE_CLIENT, MODE_SERVER
from ntpservice.core.peer import systemPacket
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.interfaces import (
    IAssociationMode,
    IDaemon,
    IModeInstance,
    IPacketClaimant,
    ISourceSpawner,
)
from ntpservice.modes.broadcast import synchronized
from ntpservice.modes.server import ServerMode
from ntpservice.net.groups import GroupMembership, Interface, multicastInterfaces
from ntpservice.net.udp import MULTICAST, UNICAST, ReceivedDatagram

DEFAULT_MAX_TTL = 7
"""The largest TTL of the expanding ring search without a C{ttl} option."""

NONCE_LIFETIME = 3
"""Solicitation intervals during which a nonce's replies are taken."""


# -- the server ---------------------------------------------------------


@implementer(IModeInstance, IPacketClaimant)
class ManycastServerMode:
    """
    Answers manycast solicitations sent to the C{manycastserver} groups.

    @ivar claimedModes: C{((3, "multicast"),)} when a line asks for
        manycast service, else nothing: without it the unicast server's
        routing is untouched.
    """

    _log = Logger()

    def __init__(self, daemon: IDaemon) -> None:
        self._daemon = daemon
        configuration: Any = daemon.configuration
        groups: list[str] = []
        for directive in configuration.associationsFor("manycastserver"):
            for group in directive.addresses:
                try:
                    group = ipaddress.ip_address(group).compressed
                except ValueError:
                    self._log.warn(
                        "{source}: give the group {group} as an address",
                        source=str(directive.source),
                        group=group,
                    )
                    continue
                if group not in groups:
                    groups.append(group)
        self.membership = GroupMembership(getattr(daemon, "sockets", None), groups, self._log)
        self.claimedModes: tuple[tuple[int, str], ...] = (
            ((MODE_CLIENT, MULTICAST),) if groups else ()
        )
        self.interfaces: Callable[[], list[Interface]] = multicastInterfaces
        self._server = ServerMode(
            daemon.system,
            daemon.counters,
            daemon.restrictions,
            daemon.mru,
            configuration.discard.average,
            lambda: daemon.keyring,
        )

    def start(self) -> None:
        self.membership.joinAll(self.interfaces() if self.membership.groups else [])
        self.membership.follow()

    def joinGroupsOn(self, interface: int | None) -> int:
        """
        Join the groups on interface C{interface} (the interface tracker
        calls this for an interface that appears).
        """
        return self.membership.joinOn(interface)

    def stop(self) -> None:
        self.membership.leaveAll()

    def claims(self, packet: Any, datagram: Any) -> bool:
        return datagram.destination in self.membership

    def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
        """
        A solicitation: answer it by unicast if we are synchronized and it
        is authenticated as the keys require.
        """
        daemon: Any = self._daemon
        counters = daemon.counters
        if not synchronized(daemon.system()):
            counters.count("manycast.unsynchronized")
            return
        keyring = daemon.keyring
        if keyring.trusted:
            auth, _ = admitReply(datagram, packet, keyring, None)
            if not auth.authenticated:
                counters.count("manycast.unauthenticated")
                return
        # Answer as the unicast server does, from the interface's own
        # address (IPv4's packet info gives it; for IPv6 the kernel picks
        # one on the way back).
        local = datagram.localAddress
        if local is not None and (":" in local or local == datagram.destination):
            local = None
        unicast = ReceivedDatagram(
            datagram.data,
            datagram.source,
            None,
            local,
            datagram.ifindex,
            datagram.rxTime,
        )
        counters.count("manycast.answered")
        self._server.datagramReceived(packet, unicast, sender)


@implementer(IPlugin, IAssociationMode)
class ManycastServerPlugin:
    """
    Manycast server: the C{manycastserver} directive.
    """

    name = "manycastserver"
    description = "answer manycast solicitations sent to groups (manycastserver)"
    directives = ("manycastserver",)
    packetModes: tuple[int, ...] = ()
    enabledByDefault = True

    def parseDirective(self, line: Any, source: Any) -> object:
        return ASSOCIATION_PARSERS[line.directive](line, source)

    def build(self, daemon: IDaemon) -> ManycastServerMode:
        return ManycastServerMode(daemon)


# -- the client ---------------------------------------------------------


class _Solicitor:
    """
    One C{manycastclient} line at work.

    @ivar ttl: the TTL of the next solicitation.
    @ivar nonces: the transmit timestamps of recent solicitations, with
        when they were sent (local seconds).
    @ivar spawned: the associations it mobilized.
    @ivar sent: solicitations sent.
    """

    def __init__(self, mode: "ManycastClientMode", directive: Any, address: str) -> None:
        self.mode = mode
        self.directive = directive
        self.address = address
        self.maxTTL = directive.ttl if directive.ttl else DEFAULT_MAX_TTL
        self.ttl = 1
        self.nonces: dict[NTPTimestamp, float] = {}
        self.spawned: set[int] = set()
        self.sent = 0
        self.lastSent: float | None = None
        self.call: LoopingCall | None = None

    @property
    def interval(self) -> float:
        return float(2.0**self.directive.minPollLog2)

    def start(self) -> None:
        call = LoopingCall(self.tick)
        call.clock = self.mode._daemon.reactor
        self.call = call
        call.start(self.interval, now=True)

    def stop(self) -> None:
        if self.call is not None and self.call.running:
            self.call.stop()
        self.call = None

    def survivors(self) -> int:
        """The associations it spawned that are reachable."""
        associations: Any = self.mode._daemon.associations
        count = 0
        for associd in list(self.spawned):
            association = associations.get(associd)
            if association is None:
                self.spawned.discard(associd)
            elif association.reachable:
                count += 1
        return count

    def tick(self) -> None:
        """
        Every C{minpoll} interval: solicit while fewer than C{tos minclock}
        of our servers are reachable; with enough of them, once per
        C{maxpoll} interval while there is room below C{tos maxclock} (so
        that new servers are found), and not at all when there is none.
        """
        daemon: Any = self.mode._daemon
        tos = daemon.configuration.tos
        if self.survivors() < tos.minclock:
            self.solicit()
            return
        if len(daemon.associations) >= tos.maxclock:
            return
        now = daemon.clock.now() / 1e9
        if self.lastSent is None or now - self.lastSent >= 2.0**self.directive.maxPollLog2:
            self.solicit()

    def solicit(self) -> None:
        """
        Send one solicitation to the group, at the current TTL, and widen
        the ring for the next one.
        """
        daemon: Any = self.mode._daemon
        directive = self.directive
        key = None
        if directive.key is not None:
            key = daemon.keyring.trustedKey(directive.key)
            if key is None:
                daemon.counters.count("send.nokey")
                return
        now = daemon.clock.now() / 1e9
        # Forget the nonces whose replies can no longer come.
        for nonce, sent in list(self.nonces.items()):
            if now - sent > NONCE_LIFETIME * self.interval:
                del self.nonces[nonce]
        nonce = NTPTimestamp(self.mode.rng.getrandbits(64) or 1)
        self.nonces[nonce] = now
        system = daemon.system()
        packet = systemPacket(system, MODE_CLIENT, directive.version,
                              directive.minPollLog2, nonce)
        data = packet.encode()
        if key is not None:
            data = signPacket(data, key)
        destination = (self.address, directive.port)
        interfaces = self.mode.interfaces()
        if not interfaces:
            daemon.send(data, destination, None, self.ttl)
        for interface in interfaces:
            daemon.send(data, destination, None, self.ttl, interface.index)
        self.sent += 1
        self.lastSent = now
        self.ttl = min(self.ttl + 1, self.maxTTL)


@implementer(IModeInstance, IPacketClaimant, ISourceSpawner)
class ManycastClientMode:
    """
    Solicits manycast servers for each C{manycastclient} line and
    mobilizes ephemeral client associations from their replies.

    @ivar claimedModes: C{((4, "unicast"),)} when a line asks for it.
    @ivar solicitors: one per line.
    """

    _log = Logger()

    def __init__(self, daemon: IDaemon) -> None:
        self._daemon = daemon
        configuration: Any = daemon.configuration
        self.lines = list(configuration.associationsFor("manycastclient"))
        self.claimedModes: tuple[tuple[int, str], ...] = (
            ((MODE_SERVER, UNICAST),) if self.lines else ()
        )
        self.solicitors: list[_Solicitor] = []
        self.interfaces: Callable[[], list[Interface]] = multicastInterfaces
        # The engine's random source (seeded in the simulator), else the
        # system's.
        engine = getattr(daemon, "engine", None)
        self.rng: Any = getattr(engine, "rng", None) or random.SystemRandom()

    def start(self) -> None:
        for directive in self.lines:
            try:
                address = ipaddress.ip_address(directive.address).compressed
            except ValueError:
                self._log.warn(
                    "{source}: give the group {group} as an address",
                    source=str(directive.source),
                    group=directive.address,
                )
                continue
            solicitor = _Solicitor(self, directive, address)
            self.solicitors.append(solicitor)
            solicitor.start()

    def stop(self) -> None:
        for solicitor in self.solicitors:
            solicitor.stop()

    def _solicitorOf(self, packet: Any) -> _Solicitor | None:
        for solicitor in self.solicitors:
            if packet.org in solicitor.nonces:
                return solicitor
        return None

    def claims(self, packet: Any, datagram: Any) -> bool:
        """
        A reply to one of our recent solicitations (its origin timestamp is
        one of our nonces).
        """
        return self._solicitorOf(packet) is not None

    def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
        """
        A manycast server answered: mobilize an association with it if it
        is synchronized, authenticated as the line requires, and there is
        room.
        """
        solicitor = self._solicitorOf(packet)
        if solicitor is None:
            return
        daemon: Any = self._daemon
        counters = daemon.counters
        directive = solicitor.directive
        if not synchronized(packet) or packet.stratum == 0:
            counters.count("manycast.unsync")
            return
        auth, decision = admitReply(datagram, packet, daemon.keyring, daemon.restrictions)
        if decision.action != "answer" or auth.failed:
            counters.count("manycast.refused")
            return
        if directive.key is not None and not auth.isAuthenticWith(directive.key):
            counters.count("manycast.unauthenticated")
            return
        host, port = datagram.source
        if not mayMobilize(
            daemon.restrictions.lookup(host, port),
            authenticated=auth.authenticated,
            authRequired=daemon.configuration.isEnabled("auth"),
        ):
            counters.count("manycast.unauthenticated")
            return
        if daemon.associations.find(host, port) is not None:
            return
        if len(daemon.associations) >= daemon.configuration.tos.maxclock:
            counters.count("manycast.maxclock")
            return
        settings = AssociationSettings(
            address=host,
            port=port,
            hmode=ASSOC_CLIENT,
            version=directive.version,
            minPollLog2=directive.minPollLog2,
            maxPollLog2=directive.maxPollLog2,
            iburst=True,
            burst=directive.burst,
            prefer=directive.prefer,
            noselect=directive.noselect,
            lifecycle="ephemeral",
            authenticator=authenticatorFor(directive.key),
            origin="manycastclient",
        )
        try:
            association: Any = daemon.mobilize(settings, spawner=self)
        except ValueError:
            return
        solicitor.spawned.add(association.associd)
        counters.count("manycast.mobilized")
        self._log.info(
            "Manycast {group}: mobilized association {associd} with {address}",
            group=solicitor.address,
            associd=association.associd,
            address=host,
        )

    def associationRemoved(self, associd: int, address: str, reason: str) -> None:
        """
        One of our servers went away: solicit again at once if fewer than
        C{tos minclock} remain.
        """
        minclock = self._daemon.configuration.tos.minclock  # type: ignore[attr-defined]
        for solicitor in self.solicitors:
            if associd in solicitor.spawned:
                solicitor.spawned.discard(associd)
                if solicitor.survivors() < minclock:
                    solicitor.solicit()


@implementer(IPlugin, IAssociationMode)
class ManycastClientPlugin:
    """
    Manycast client: the C{manycastclient} directive.
    """

    name = "manycastclient"
    description = "find servers by multicast solicitation (manycastclient)"
    directives = ("manycastclient",)
    packetModes: tuple[int, ...] = ()
    enabledByDefault = True

    def parseDirective(self, line: Any, source: Any) -> object:
        return config.parseAssociation(line, source)

    def build(self, daemon: IDaemon) -> ManycastClientMode:
        return ManycastClientMode(daemon)


manycastServerMode = ManycastServerPlugin()
manycastClientMode = ManycastClientPlugin()
