# -*- test-case-name: tests.nts.test_settings,tests.interop.test_nts -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The NTS plugin (RFC 8915): owns the C{nts} directive; with C{nts enable}
it runs the NTS-KE server (TLS 1.3 on port 4460) and answers NTS-protected
client requests (claimed from the plain server, L{ntpservice.nts.server}),
rotating and saving the master keys of the cookies.

The client side (C{server NAME nts}) belongs to the client plugin, which
gives such associations an L{ntpservice.nts.client} session.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from twisted.plugin import IPlugin

from ntpservice._log import Logger
from ntpservice.interfaces import IAssociationMode, IDaemon, IModeInstance, IPacketClaimant


@implementer(IModeInstance, IPacketClaimant)
class NTSMode:
    """
    The NTS server of a daemon: the NTS-KE listener, the master keys and
    their rotation, and the handler of NTS requests. Does nothing without
    C{nts enable}.

    @ivar masterKeys: the L{ntpservice.nts.cookies.MasterKeys}, or C{None}
        before start (or without C{nts enable}).
    @ivar listening: the NTS-KE listening ports.
    """

    _log = Logger()

    def __init__(self, daemon: IDaemon) -> None:
        from ntpservice.nts.settings import checkNTS

        self._daemon = daemon
        self.settings = checkNTS(daemon.configuration)
        # Without nts enable, claim nothing: plain requests keep the
        # multiplexer's route without claimants.
        self.claimedModes: tuple[tuple[int, str], ...] = (
            ((3, "unicast"),) if self.settings.enabled else ()
        )
        self.masterKeys: Any = None
        self.listening: list[Any] = []
        self._handler: Any = None
        self._rotation: Any = None

    def start(self) -> None:
        settings = self.settings
        if not settings.enabled:
            return
        from ntpservice.modes.server import serverMode
        from ntpservice.nts import ke
        from ntpservice.nts.cookies import MasterKeys
        from ntpservice.nts.server import NTSServerHandler

        reactor = self._daemon.reactor
        self.masterKeys = MasterKeys.load(
            settings.cookie, self._now(), settings.rotate, settings.keep
        )
        self._handler = NTSServerHandler(
            serverMode.build(self._daemon), lambda: self.masterKeys, self._daemon.counters
        )
        for warning in settings.warnings:
            self._log.warn("{warning}", warning=warning)
        context = ke.serverContext(settings.cert, settings.key, settings.ciphersuites)
        preference = (settings.aead,) + tuple(a for a in (15, 16, 17) if a != settings.aead)
        factory = ke.KEServerFactory(
            lambda: self.masterKeys,
            reactor,
            self._daemon.counters.count,
            ntpPort=self._ntpPort(),
            aeadPreference=preference,
        )
        for interface in ("::", ""):
            try:
                self.listening.append(
                    ke.listenKE(reactor, settings.port, factory, context, interface)
                )
                break
            except Exception as e:  # CannotListenError, or no IPv6 at all
                failure = e
        else:
            self._log.error(
                "NTS-KE: cannot listen on TCP port {port}: {error}",
                port=settings.port,
                error=failure,
            )
            return
        self._log.info(
            "NTS-KE server listening on TCP port {port} (TLS 1.3, ALPN ntske/1); "
            "{count} master keys in {path}",
            port=settings.port,
            count=len(self.masterKeys.keys),
            path=settings.cookie,
        )
        self._scheduleRotation()

    def _now(self) -> float:
        return float(self._daemon.clock.now()) / 1e9

    def _ntpPort(self) -> int:
        sockets = getattr(self._daemon, "sockets", None)
        if sockets is not None:
            for address in sockets.addresses():
                transport = sockets.protocol(address).transport
                if transport is not None:
                    return int(transport.getHost().port)
        return 123

    def _scheduleRotation(self) -> None:
        delay = max(1.0, self.masterKeys.nextRotation() - self._now())
        self._rotation = self._daemon.reactor.callLater(delay, self._rotate)

    def _rotate(self) -> None:
        from ntpservice.nts.cookies import KeyFileError

        try:
            if self.masterKeys.rotate(self._now()):
                self._log.info(
                    "NTS master key rotated; {count} kept", count=len(self.masterKeys.keys)
                )
        except KeyFileError as e:
            self._log.error("NTS master key rotation: {error}", error=str(e))
        self._scheduleRotation()

    def stop(self) -> None:
        for port in self.listening:
            port.stopListening()
        self.listening = []
        if self._rotation is not None and self._rotation.active():
            self._rotation.cancel()
        self._rotation = None

    def claims(self, packet: Any, datagram: Any) -> bool:
        handler = self._handler
        return handler is not None and bool(handler.claims(packet, datagram))

    def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
        if self._handler is not None:
            self._handler.datagramReceived(packet, datagram, sender)


@implementer(IPlugin, IAssociationMode)
class NTSModePlugin:
    """
    Network Time Security: the C{nts} directive, the NTS-KE server and NTS
    requests.
    """

    name = "nts"
    description = "Network Time Security (RFC 8915): NTS-KE server, NTS requests"
    directives = ("nts",)
    packetModes: tuple[int, ...] = ()
    enabledByDefault = True

    def parseDirective(self, line: Any, source: Any) -> object:
        from ntpservice.nts.settings import parseNTS

        return parseNTS(line, source)

    def build(self, daemon: IDaemon) -> NTSMode:
        return NTSMode(daemon)


ntsMode = NTSModePlugin()
