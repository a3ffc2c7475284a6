# -*- test-case-name: tests.modes.test_server -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The server side: answer client (mode 3) requests with server (mode 4)
replies, statelessly (RFC 5905 FXMIT).

The reply is built by the pure core (L{ntpservice.core.server}); this
module adds what only the shell knows: whether the request came to a
unicast address, and the transmit timestamp, read from the clock driver as
the very last step before the datagram goes to the kernel.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from zope.interface import implementer

from twisted.plugin import IPlugin

from ntpservice.core import counters as C
from ntpservice.auth.keyring import admit
from ntpservice.auth.mac import cryptoNAK, signPacket
from ntpservice.core.access import buildKissOfDeath, fuzzReferenceTime
from ntpservice.core.restrict import RestrictTable
from ntpservice.core.packet import NTPPacket
from ntpservice.core.server import encodeServerReply, isClientRequest, stampTransmit
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.interfaces import (
    IAssociationMode,
    IDaemon,
    IDatagramHandler,
    IModeInstance,
    IReplySender,
)
from ntpservice.net.udp import ReceivedDatagram

SERVED_MODES = (0, 3)
"""
The packet modes the server answers: 3, and 0 for NTPv1 requests (NTPv1 had
no mode field).
"""


@implementer(IModeInstance)
class ServerMode:
    """
    Answer client requests from the current system variables.

    @ivar counters: where drops and replies are counted.
    """

    def __init__(
        self,
        system: Callable[[], SystemVariables],
        counters: C.PacketCounters,
        restrictions: RestrictTable | None = None,
        mru: Any = None,
        discardAverage: int = 3,
        keyring: Callable[[], Any] | None = None,
    ) -> None:
        """
        @param system: returns the current L{SystemVariables} (the system
            process replaces them as it synchronizes).
        @param counters: the daemon's packet counters.
        @param restrictions: the C{restrict} table, or C{None} to serve
            everyone.
        @param mru: the L{ntpservice.core.mru.MRUList} of recent clients
            (rate limiting), or C{None}.
        @param discardAverage: C{discard average}, log2 seconds: the poll a
            RATE kiss asks for.
        @param keyring: returns the current L{ntpservice.auth.keys.KeyRing}
            (it is replaced on reload), or C{None}: no authentication.
        """
        self._system = system
        self.counters = counters
        self._restrictions = restrictions
        self._mru = mru
        self._discardAverage = discardAverage
        self._keyring = keyring

    def start(self) -> None:
        """
        Nothing to mobilize: the server keeps no state.
        """

    def stop(self) -> None:
        """
        Nothing to release.
        """

    def datagramReceived(
        self, packet: NTPPacket, datagram: ReceivedDatagram, sender: IReplySender
    ) -> None:
        """
        Answer C{packet} if it is a client request sent to a unicast
        address; drop and count it otherwise. The reply carries the
        request's version and is never larger than the request.
        """
        if not isClientRequest(packet):
            self.counters.count(C.BAD_VERSION)
            return
        if not datagram.isUnicast:
            self.counters.count(C.NOT_UNICAST)
            return
        rxTime = datagram.rxTime
        assert rxTime is not None
        # RFC 5905 section 9.2 / seed 004 checks 5 and 11: a request with a
        # MAC is answered with the same key when it verifies, and with a
        # crypto-NAK when the key is unknown, untrusted or the digest wrong.
        auth, decision = admit(
            datagram,
            packet,
            self._keyring() if self._keyring is not None else None,
            self._restrictions,
            self._mru,
        )
        if packet.mac is not None and not auth.authenticated and self._keyring is not None:
            self.counters.count(f"auth.{auth.status.name.lower()}")
        if decision.action != "answer":
            self.counters.count(f"access.{decision.reason}")
            if decision.action == "drop":
                return
            if decision.action == "kod":
                # A kiss carries the request's timestamps only: it can
                # neither set a clock nor be stamped.
                self.counters.count("access.kodsent")
                kiss = buildKissOfDeath(
                    packet, decision.kissCode or "RATE", self._discardAverage
                )
                sender.sendReply(datagram, kiss.encode())
                return
        elif decision.reason:
            # Over the limit, answered by the leak (ratelimit.leaked).
            self.counters.count(decision.reason)
        nak = decision.action == "nak"
        system = self._system()
        if decision.fuzzReference:
            system = replace(system, reftime=fuzzReferenceTime(system.reftime))
        # A smeared leap second (leapsmearinterval) moves the served time.
        smear = system.smearNs
        reply = encodeServerReply(
            packet,
            system,
            NTPTimestamp.fromUnixNanoseconds(rxTime + smear),
            rxTime,
        )
        now = sender.now
        fromNs = NTPTimestamp.fromUnixNanoseconds
        key = auth.key if auth.authenticated else None
        # An NTPv3 request with an untruncated long digest is answered in
        # kind (chrony's SHA-224 and longer keys).
        full = packet.mac is not None and len(packet.mac.digest) > 20

        def stamped() -> bytes:
            data = stampTransmit(reply, fromNs(now() + smear))
            if key is not None:
                return signPacket(data, key, full)
            if nak:
                return cryptoNAK(data)
            return data

        sender.sendReply(datagram, stamped)


@implementer(IPlugin, IAssociationMode)
class ServerModePlugin:
    """
    The server plugin: answers client requests that match no association
    (RFC 5905 FXMIT). It owns no directive; C{disable server} turns it off
    (the daemon then answers no client).
    """

    name = "server"
    description = "answer client (mode 3) requests statelessly"
    directives: tuple[str, ...] = ()
    packetModes = SERVED_MODES
    enabledByDefault = True

    def parseDirective(self, line: object, source: object) -> object:
        raise NotImplementedError("the server plugin owns no directive")

    def build(self, daemon: IDaemon) -> ServerMode:
        return ServerMode(
            daemon.system,
            daemon.counters,
            daemon.restrictions,
            daemon.mru,
            daemon.configuration.discard.average,
            lambda: daemon.keyring,
        )


serverMode = ServerModePlugin()
