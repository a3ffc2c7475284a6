# -*- test-case-name: tests.modes.test_symmetric,tests.interop.test_symmetric -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The symmetric plugin (issue 11): C{peer} lines become symmetric active
associations (mode 1), and a symmetric active packet that matches no
association may mobilize an ephemeral symmetric passive one (RFC 5905's
NEWPS).

Theory of operation. Both symmetric modes run the same peer process
(L{ntpservice.core.peer.SymmetricProcess}); this module only decides which
associations exist.

Mobilization rules for passive associations (seed 004; ntpd's
C{receive()}, C{AM_NEWPASS}): the packet must come to a unicast address,
pass the C{restrict} checks every packet goes through (C{ignore},
C{noserve}, C{notrust} without a MAC, C{version}, the rate limits), and
carry a MAC that verifies with a trusted key while C{enable auth} is on
(the default) or C{nopeer}/C{notrust} applies; C{noepeer} refuses
ephemeral peers even then (L{ntpservice.core.access.mayMobilize}). The
passive association takes that key, so every later packet on it must
verify with it (CVE-2015-1799: an unauthenticated packet never reaches an
authenticated association), and it is demobilized when unreachable.

A packet that may not mobilize is answered as ntpd answers it, and nothing
is kept: without a MAC (or with a good one, under C{noepeer}) a stateless
symmetric passive reply, built as a server reply is (ntpd's
C{fast_xmit(MODE_PASSIVE)}, for Windows' w32time); with a MAC that fails,
a crypto-NAK; otherwise it is dropped. A crypto-NAK received never
demobilizes anything by itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zope.interface import implementer

from twisted.plugin import IPlugin

from ntpservice import config
from ntpservice._log import Logger
from ntpservice.auth.keyring import admit
from ntpservice.auth.mac import cryptoNAK, signPacket
from ntpservice.core import counters as C
from ntpservice.core.access import mayMobilize
from ntpservice.core.association import AssociationSettings
from ntpservice.core.authenticator import authenticatorFor
from ntpservice.core.dispatch import ASSOC_ACTIVE, ASSOC_PASSIVE
from ntpservice.core.packet import MODE_ACTIVE, MODE_PASSIVE, NTPPacket
from ntpservice.core.server import buildServerReply, stampTransmit
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.interfaces import (
    IAssociationMode,
    IDaemon,
    IModeInstance,
    IReplySender,
)
from ntpservice.modes.client import settingsFor
from ntpservice.net.resolve import HostResolver
from ntpservice.net.udp import UNICAST, ReceivedDatagram

PASSIVE_MINPOLL_LOG2 = 3
"""The smallest poll exponent a passive association takes from its peer."""

PASSIVE_MAXPOLL_LOG2 = 10
"""The largest poll exponent of a passive association (ntpd's NTP_MAXDPOLL)."""

UNSYMMETRIC_OPTIONS = ("burst", "iburst")
"""Options that upset the symmetry of the protocol (seed 003)."""


@implementer(IModeInstance)
class SymmetricMode:
    """
    Mobilizes a symmetric active association per C{peer} line, and
    symmetric passive ones for the symmetric active packets that may
    mobilize one.
    """

    _log = Logger()

    def __init__(self, daemon: IDaemon) -> None:
        self._daemon = daemon
        self._resolver = HostResolver(daemon.reactor)

    # -- symmetric active -------------------------------------------------

    def start(self) -> None:
        """
        Resolve each C{peer} line and mobilize its association; C{burst}
        and C{iburst} get a warning naming the line, and are not used: they
        upset the symmetry of the protocol (seed 003).
        """
        for directive in self._daemon.configuration.associationsFor("peer"):
            given = [o for o in UNSYMMETRIC_OPTIONS if o in directive.flags]
            if given:
                self._log.warn(
                    "{source}: {options} should not be used with peer (they "
                    "upset the symmetry of the protocol); ignored",
                    source=str(directive.source),
                    options=" and ".join(given),
                )
            self._resolver.resolve(
                directive.address,
                directive.ipVersion,
                lambda addresses, d=directive: self._mobilize(d, addresses),
            )

    def _mobilize(self, directive: Any, addresses: list[str]) -> None:
        address = addresses[0]
        settings = replace(
            settingsFor(directive, address, hmode=ASSOC_ACTIVE), burst=False, iburst=False
        )
        try:
            association = self._daemon.mobilize(settings)
        except ValueError:
            self._log.warn(
                "{source}: {address} has an association already; line ignored",
                source=str(directive.source),
                address=address,
            )
            return
        self._log.info(
            "Mobilized symmetric active association {associd} with {name} ({address})",
            associd=association.associd,  # type: ignore[attr-defined]
            name=directive.address,
            address=address,
        )

    def stop(self) -> None:
        self._resolver.cancel()

    # -- symmetric passive ------------------------------------------------

    def datagramReceived(
        self, packet: NTPPacket, datagram: ReceivedDatagram, sender: IReplySender
    ) -> None:
        """
        A symmetric active packet that matched no association (NEWPS):
        mobilize a passive association for it when the rules allow (and
        let it process the packet), else answer it as ntpd does, or drop it.
        """
        daemon = self._daemon
        counters = daemon.counters
        if packet.mode != MODE_ACTIVE or not 1 <= packet.version <= 4:
            counters.count(C.BAD_VERSION)
            return
        if not datagram.isUnicast:
            counters.count(C.NOT_UNICAST)
            return
        keyring = daemon.keyring
        auth, decision = admit(datagram, packet, keyring, daemon.restrictions, daemon.mru)
        if decision.isDrop or decision.isKissOfDeath:
            counters.count(f"access.{decision.reason or 'ratelimited'}")
            return
        host, port = datagram.source
        restriction = daemon.restrictions.lookup(host, port)
        authenticated = bool(auth.authenticated) and auth.key is not None
        authRequired = daemon.configuration.isEnabled("auth")
        if authenticated and mayMobilize(
            restriction,
            authenticated=True,
            authRequired=authRequired,
            symmetric=True,
        ):
            self._mobilizePassive(packet, datagram, auth.keyID)
            return
        if not authenticated and mayMobilize(
            restriction, authenticated=False, authRequired=authRequired, symmetric=True
        ):
            # disable auth, no nopeer/noepeer/notrust: as ntpd, anyone may.
            self._mobilizePassive(packet, datagram, None)
            return
        counters.count("symmetric.declined")
        if auth.failed:
            self._reply(packet, datagram, sender, nak=True)
        elif packet.mac is None or authenticated:
            self._reply(packet, datagram, sender, key=auth.key if authenticated else None)

    def _mobilizePassive(
        self, packet: NTPPacket, datagram: ReceivedDatagram, keyID: int | None
    ) -> None:
        host, port = datagram.source
        minPoll = max(PASSIVE_MINPOLL_LOG2, min(packet.poll, PASSIVE_MAXPOLL_LOG2))
        settings = AssociationSettings(
            address=host,
            port=port,
            hmode=ASSOC_PASSIVE,
            version=packet.version,
            minPollLog2=minPoll,
            maxPollLog2=PASSIVE_MAXPOLL_LOG2,
            lifecycle="ephemeral",
            origin="passive",
            localAddress=datagram.localAddress,
            authenticator=authenticatorFor(keyID),
        )
        daemon: Any = self._daemon
        try:
            association = daemon.mobilize(settings)
        except ValueError:
            return
        daemon.counters.count("symmetric.mobilized")
        self._log.info(
            "Mobilized symmetric passive association {associd} with {address} "
            "({auth})",
            associd=association.associd,
            address=host,
            auth=f"key {keyID}" if keyID is not None else "unauthenticated",
        )
        daemon.associationPacket(packet, datagram)

    def _reply(
        self,
        packet: NTPPacket,
        datagram: ReceivedDatagram,
        sender: IReplySender,
        key: Any = None,
        nak: bool = False,
    ) -> None:
        """
        A stateless symmetric passive reply (ntpd's C{fast_xmit} with
        C{MODE_PASSIVE}), signed with C{key}, or a crypto-NAK.
        """
        rxTime = datagram.rxTime
        assert rxTime is not None
        reply = replace(
            buildServerReply(
                packet,
                self._daemon.system(),  # type: ignore[arg-type]
                NTPTimestamp.fromUnixNanoseconds(rxTime),
                rxTime,
            ),
            mode=MODE_PASSIVE,
        ).encode()
        now = sender.now
        self._daemon.counters.count("symmetric.replied")

        def stamped() -> bytes:
            data = stampTransmit(reply, NTPTimestamp.fromUnixNanoseconds(now()))
            if key is not None:
                return signPacket(data, key)
            if nak:
                return cryptoNAK(data)
            return data

        sender.sendReply(datagram, stamped)


@implementer(IPlugin, IAssociationMode)
class SymmetricModePlugin:
    """
    Symmetric active and passive modes: the C{peer} directive, and symmetric
    active packets that match no association.
    """

    name = "symmetric"
    description = "symmetric active (peer directive) and passive associations"
    directives = ("peer",)
    packetModes: tuple[Any, ...] = ((MODE_ACTIVE, UNICAST),)
    enabledByDefault = True

    def parseDirective(self, line: Any, source: Any) -> object:
        """
        Parse a C{peer} line as ntpd does (C{burst} and C{iburst} are
        accepted; L{SymmetricMode.start} warns about them).
        """
        return config.parseAssociation(line, source)

    def build(self, daemon: IDaemon) -> SymmetricMode:
        return SymmetricMode(daemon)


symmetricMode = SymmetricModePlugin()
