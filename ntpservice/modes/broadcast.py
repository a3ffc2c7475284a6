# -*- test-case-name: tests.modes.test_broadcast,tests.interop.test_broadcast -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Broadcast and multicast modes (issue 12): the server that sends mode 5
packets to a broadcast address or a multicast group (C{broadcast}), and
the client that listens to them (C{broadcastclient}, C{multicastclient}).

Theory of operation.

 - B{Server.} Each C{broadcast ADDRESS} line has a timer at its poll
   interval (C{minpoll}, 64 s by default). At each tick, while the system
   is synchronized (leap indicator not 3, stratum below 16: orphan mode
   counts), it builds the mode 5 packet from the system variables
   (L{ntpservice.core.peer.broadcastPacket}), stamps the transmit time as
   the last step before the system call, signs it when the line has a
   C{key}, and sends it through the daemon's sockets: to a multicast group
   once out of every interface that carries multicast (with the line's
   C{ttl}), to a broadcast address once (the routing table picks the
   interface). Clients' calibration requests are ordinary client requests:
   the server plugin answers them.
 - B{Client.} The plugin owns the routes C{(5, broadcast)} and C{(5,
   multicast)}: a mode 5 packet from a server it has no association with
   (RFC 5905's NEWBC). C{multicastclient} groups are joined on every
   interface that carries multicast, one interface at a time
   (L{BroadcastClientMode.joinGroupsOn}, which the interface tracker calls
   again for an interface that appears). The first acceptable packet of a
   server mobilizes one ephemeral association of association mode 6
   (L{ntpservice.core.peer.BroadcastClientProcess}): it calibrates its
   delay with a short client volley (or takes C{broadcastdelay}), then
   only listens, and stays a broadcast client association for its whole
   life; it is demobilized when the server falls silent (ten of its
   intervals without a packet). Acceptable means seed 004's checks:
   synchronized server, stratum 1-15, sane root distance, C{restrict}
   not refusing it, and authenticated with a trusted key while C{enable
   auth} is on (or C{nopeer}/C{notrust} apply); the association then
   requires that key of every later packet.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable

from zope.interface import implementer

from twisted.internet.task import LoopingCall
from twisted.plugin import IPlugin

from ntpservice import config
from ntpservice._log import Logger
from ntpservice.config.directives.associations import PARSERS as ASSOCIATION_PARSERS
from ntpservice.auth.keyring import admitReply
from ntpservice.auth.mac import signPacket
from ntpservice.core.access import mayMobilize
from ntpservice.core.association import AssociationSettings
from ntpservice.core.authenticator import authenticatorFor
from ntpservice.core.constants import MAXDISP
from ntpservice.core.dispatch import ASSOC_BCLIENT
from ntpservice.core.packet import LEAP_NOTINSYNC, MAX_STRATUM, MODE_BROADCAST
from ntpservice.core.peer import broadcastPacket
from ntpservice.core.server import stampTransmit
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.interfaces import IAssociationMode, IDaemon, IModeInstance
from ntpservice.net.groups import (
    GroupMembership,
    Interface,
    InterfaceFollower,
    multicastInterfaces,
)
from ntpservice.net.resolve import HostResolver
from ntpservice.net.sockets import isMulticast
from ntpservice.net.udp import BROADCAST, MULTICAST

BCLIENT_MINPOLL = 4
"""The shortest listening interval of a broadcast client association, log2 s."""

BCLIENT_MAXPOLL = 17
"""The longest, log2 s (ntpd's NTP_MAXPOLL)."""


def synchronized(system: Any) -> bool:
    """
    Whether the system variables say we have time to give: a leap
    indicator other than 3 and a stratum below 16 (orphan mode included).
    """
    return bool(system.leap != LEAP_NOTINSYNC and system.stratum < MAX_STRATUM)


# -- the server ---------------------------------------------------------


class _Broadcaster:
    """
    One C{broadcast} line at work: its timer and its destination.
    """

    def __init__(self, mode: "BroadcastServerMode", directive: Any) -> None:
        self.mode = mode
        self.directive = directive
        self.address: str | None = None
        self.call: LoopingCall | None = None
        self.sent = 0

    def start(self, address: str) -> None:
        self.address = address
        call = LoopingCall(self.tick)
        call.clock = self.mode._daemon.reactor
        self.call = call
        # The first packet after a short pause, then one per interval.
        call.start(2.0**self.directive.minPollLog2, now=False)

    def stop(self) -> None:
        if self.call is not None and self.call.running:
            self.call.stop()
        self.call = None

    def tick(self) -> None:
        self.mode.broadcast(self)


@implementer(IModeInstance)
class BroadcastServerMode:
    """
    Sends mode 5 packets for each C{broadcast} line.

    @ivar interfaces: returns the interfaces a multicast packet is sent out
        of (one copy each); an empty list sends one copy the way the routing
        table says (the simulator's hosts have no interfaces).
    """

    _log = Logger()

    def __init__(self, daemon: IDaemon) -> None:
        self._daemon = daemon
        self._resolver = HostResolver(daemon.reactor)
        self.broadcasters: list[_Broadcaster] = []
        self.interfaces: Callable[[], list[Interface]] = multicastInterfaces
        self.follower: InterfaceFollower | None = None

    def start(self) -> None:
        lines = list(self._daemon.configuration.associationsFor("broadcast"))
        if not lines:
            return
        sockets = getattr(self._daemon, "sockets", None)
        if sockets is not None:
            sockets.allowBroadcast()
            sockets.disableMulticastLoop()
            if hasattr(sockets, "addInterfaceObserver") and self._groups(lines):
                # Each tick sends out of the interfaces that carry
                # multicast then; the tracker's news give one line each.
                self.follower = InterfaceFollower(
                    lambda i: self._interfaceNews(i, "Sending multicast to {groups} out of"),
                    lambda i: self._interfaceNews(i, "No longer sending multicast to {groups} out of"),
                )
                sockets.addInterfaceObserver(self.follower)
        for directive in lines:
            broadcaster = _Broadcaster(self, directive)
            self.broadcasters.append(broadcaster)
            self._resolver.resolve(
                directive.address,
                directive.ipVersion,
                lambda addresses, b=broadcaster: self._started(b, addresses[0]),
            )

    def _started(self, broadcaster: _Broadcaster, address: str) -> None:
        broadcaster.start(address)
        self._log.info(
            "{source}: sending {kind} packets to {address} every {interval} s",
            source=str(broadcaster.directive.source),
            kind="multicast" if isMulticast(address) else "broadcast",
            address=address,
            interval=2**broadcaster.directive.minPollLog2,
        )

    @staticmethod
    def _groups(lines: list[Any]) -> list[str]:
        groups = []
        for directive in lines:
            try:
                if isMulticast(directive.address):
                    groups.append(ipaddress.ip_address(directive.address).compressed)
            except ValueError:
                continue
        return groups

    def _interfaceNews(self, interface: Interface, what: str) -> None:
        lines = list(self._daemon.configuration.associationsFor("broadcast"))
        self._log.info(
            what + " {name} (interface {index})",
            groups=" ".join(self._groups(lines)),
            name=interface.name,
            index=interface.index,
        )

    def stop(self) -> None:
        self._resolver.cancel()
        for broadcaster in self.broadcasters:
            broadcaster.stop()
        sockets: Any = getattr(self._daemon, "sockets", None)
        if self.follower is not None and sockets is not None:
            sockets.removeInterfaceObserver(self.follower)
            self.follower = None

    def broadcast(self, broadcaster: _Broadcaster) -> None:
        """
        Send one broadcast for C{broadcaster}, if we are synchronized.
        """
        daemon: Any = self._daemon
        system = daemon.system()
        if not synchronized(system) or broadcaster.address is None:
            daemon.counters.count("broadcast.unsynchronized")
            return
        directive = broadcaster.directive
        key = None
        if directive.key is not None:
            key = daemon.keyring.trustedKey(directive.key)
            if key is None:
                daemon.counters.count("send.nokey")
                self._log.error(
                    "{source}: key {key} is no longer a trusted key; not sending",
                    source=str(directive.source),
                    key=directive.key,
                )
                return
        clock = daemon.clock
        packet = broadcastPacket(system, directive.minPollLog2, directive.version, clock.now())

        encoded = packet.encode()

        def stamped() -> bytes:
            data = stampTransmit(encoded, NTPTimestamp.fromUnixNanoseconds(clock.now()))
            return data if key is None else signPacket(data, key)

        address = broadcaster.address
        destination = (address, directive.port)
        interfaces = self.interfaces() if isMulticast(address) else []
        if not interfaces:
            if daemon.send(stamped, destination, None, directive.ttl):
                broadcaster.sent += 1
            return
        for interface in interfaces:
            if daemon.send(stamped, destination, None, directive.ttl, interface.index):
                broadcaster.sent += 1

    def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
        """
        The broadcast server owns no packet route.
        """


@implementer(IPlugin, IAssociationMode)
class BroadcastServerPlugin:
    """
    Broadcast/multicast server: the C{broadcast} directive.
    """

    name = "broadcast"
    description = "send broadcast/multicast server packets (broadcast directive)"
    directives = ("broadcast",)
    packetModes: tuple[int, ...] = ()
    enabledByDefault = True

    def parseDirective(self, line: Any, source: Any) -> object:
        return config.parseAssociation(line, source)

    def build(self, daemon: IDaemon) -> BroadcastServerMode:
        return BroadcastServerMode(daemon)


# -- the client ---------------------------------------------------------


@implementer(IModeInstance)
class BroadcastClientMode:
    """
    Listens for broadcast and multicast servers and mobilizes a broadcast
    client association for each acceptable one.

    @ivar groups: the multicast groups to join (literal addresses).
    @ivar broadcasts: whether packets sent to broadcast addresses are
        listened to (C{broadcastclient}, C{enable bclient}).
    @ivar membership: the groups joined, per interface
        (L{GroupMembership}).
    @ivar interfaces: returns the interfaces to join the groups on; an
        empty list joins once on the default interface (the simulator).
    """

    _log = Logger()

    def __init__(self, daemon: IDaemon) -> None:
        self._daemon = daemon
        configuration: Any = daemon.configuration
        self.broadcasts = bool(
            configuration.associationsFor("broadcastclient")
        ) or configuration.isEnabled("bclient")
        groups: list[str] = []
        for directive in configuration.associationsFor("multicastclient"):
            for group in directive.addresses:
                try:
                    group = ipaddress.ip_address(group).compressed
                except ValueError:
                    self._log.warn(
                        "{source}: multicast group names are not resolved; "
                        "give {group} as an address",
                        source=str(directive.source),
                        group=group,
                    )
                    continue
                if group not in groups:
                    groups.append(group)
        self.groups = groups
        self.novolley = any(
            d.novolley for d in configuration.associationsFor("broadcastclient")
        )
        delay = configuration.broadcastDelay
        self.delay: float | None = None if delay is None else float(delay.value)
        self.membership = GroupMembership(
            getattr(daemon, "sockets", None), groups, self._log
        )
        self.interfaces: Callable[[], list[Interface]] = multicastInterfaces

    @property
    def active(self) -> bool:
        """Whether anything is listened to."""
        return self.broadcasts or bool(self.groups)

    def start(self) -> None:
        """
        Join the groups on every interface that carries multicast, and on
        each one that appears later (L{GroupMembership.follow}).
        """
        self.membership.joinAll(self.interfaces() if self.groups else [])
        self.membership.follow()

    def joinGroupsOn(self, interface: int | None) -> int:
        """
        Join every C{multicastclient} group on interface C{interface} (an
        index; C{None}: the default one): the interface tracker calls this
        for an interface that appears.

        @return: how many groups were joined.
        """
        return self.membership.joinOn(interface)

    def leaveGroupsOn(self, interface: int | None) -> None:
        """
        Leave the groups joined on C{interface} (it went away).
        """
        self.membership.leaveOn(interface)

    def stop(self) -> None:
        self.membership.leaveAll()

    def _drop(self, reason: str) -> None:
        self._daemon.counters.count(f"bclient.{reason}")

    def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
        """
        A mode 5 packet sent to a broadcast address or a group, from a
        server we have no association with (NEWBC): mobilize a broadcast
        client association if it passes the checks.
        """
        daemon: Any = self._daemon
        kind = datagram.destinationKind
        if packet.mode != MODE_BROADCAST:
            return self._drop("mode")
        if datagram.source[0] == datagram.localAddress:
            # Our own broadcast, looped back (a host that is both server
            # and client); our own multicast packets are not looped back.
            return self._drop("own")
        if kind == BROADCAST and not self.broadcasts:
            return self._drop("notlistening")
        if kind == MULTICAST and datagram.destination not in self.groups:
            return self._drop("notlistening")
        # Seed 004's checks 5-11: any failure, and nothing is mobilized.
        auth, decision = admitReply(datagram, packet, daemon.keyring, daemon.restrictions)
        if decision.action != "answer":
            return self._drop(f"access.{decision.reason}")
        if auth.failed:
            return self._drop("auth")
        host, port = datagram.source
        restriction = daemon.restrictions.lookup(host, port)
        if not mayMobilize(
            restriction,
            authenticated=auth.authenticated,
            authRequired=daemon.configuration.isEnabled("auth"),
        ):
            return self._drop("unauthenticated")
        if packet.leap == LEAP_NOTINSYNC:
            return self._drop("unsync")
        if not 1 <= packet.stratum < MAX_STRATUM:
            return self._drop("stratum")
        if packet.rootDelaySeconds / 2 + packet.rootDispersionSeconds >= MAXDISP:
            return self._drop("header")
        if len(daemon.associations) >= daemon.configuration.tos.maxclock:
            return self._drop("maxclock")
        minPoll = max(BCLIENT_MINPOLL, min(BCLIENT_MAXPOLL, packet.poll))
        volley = not (self.novolley or self.delay is not None)
        settings = AssociationSettings(
            address=host,
            port=port,
            hmode=ASSOC_BCLIENT,
            version=packet.version,
            minPollLog2=minPoll,
            maxPollLog2=max(minPoll, BCLIENT_MAXPOLL),
            iburst=volley,
            lifecycle="ephemeral",
            authenticator=authenticatorFor(auth.keyID if auth.authenticated else None),
            origin="multicastclient" if kind == MULTICAST else "broadcastclient",
            localAddress=None,
        )
        try:
            association: Any = daemon.mobilize(settings)
        except ValueError:
            # An association with this address and port of another mode.
            return self._drop("exists")
        if not volley:
            association.process.calibrated(
                self.delay if self.delay is not None else 0.004
            )
        daemon.counters.count("bclient.mobilized")
        self._log.info(
            "Mobilized {kind} client association {associd} with {address} "
            "(sent to {destination}{key})",
            kind=kind,
            associd=association.associd,
            address=host,
            destination=datagram.destination,
            key=f", key {auth.keyID}" if auth.authenticated else "",
        )


@implementer(IPlugin, IAssociationMode)
class BroadcastClientPlugin:
    """
    Broadcast/multicast client: C{broadcastclient}, C{multicastclient}.
    """

    name = "broadcastclient"
    description = (
        "listen to broadcast/multicast servers (broadcastclient, multicastclient)"
    )
    directives = ("broadcastclient", "multicastclient")
    packetModes = ((MODE_BROADCAST, BROADCAST), (MODE_BROADCAST, MULTICAST))
    enabledByDefault = True

    def parseDirective(self, line: Any, source: Any) -> object:
        return ASSOCIATION_PARSERS[line.directive](line, source)

    def build(self, daemon: IDaemon) -> BroadcastClientMode:
        return BroadcastClientMode(daemon)


broadcastServerMode = BroadcastServerPlugin()
broadcastClientMode = BroadcastClientPlugin()
