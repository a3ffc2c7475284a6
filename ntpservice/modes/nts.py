# -*- test-case-name: tests.nts.test_listener,tests.nts.test_settings,tests.interop.test_nts -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The NTS plugin (RFC 8915): owns the C{nts} directive; with C{nts enable}
it runs the NTS-KE server (TLS 1.3 on port 4460) and answers NTS-protected
client requests (claimed from the plain server, L{ntpservice.nts.server}),
rotating and saving the master keys of the cookies.

The NTS-KE listener follows the NTP sockets (L{SocketOwner
<ntpservice.net.sockets.SocketOwner>}): with the wildcard sockets it
listens on the wildcard addresses (C{::}, which takes IPv4 too, when both
families are served; C{::} IPv6 only with C{-6}; C{0.0.0.0} with C{-4}
or without IPv6), with sockets bound per address (C{interface ignore
wildcard}, C{-I}) on exactly those addresses (and devices), opening and
closing its TCP listeners as the interface tracker opens and closes the
UDP sockets (it is an L{IInterfaceObserver
<ntpservice.interfaces.IInterfaceObserver>}).

The client side (C{server NAME nts}) belongs to the client plugin, which
gives such associations an L{ntpservice.nts.client} session.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from zope.interface import implementer

from twisted.internet.defer import maybeDeferred
from twisted.plugin import IPlugin

from ntpservice._log import Logger
from ntpservice.interfaces import (
    IAssociationMode,
    IDaemon,
    IInterfaceObserver,
    IModeInstance,
    IPacketClaimant,
)

_Where = Tuple[str, Optional[str]]
"""Where a listener is bound: the local address and the device (or C{None})."""


@implementer(IModeInstance, IPacketClaimant, IInterfaceObserver)
class NTSMode:
    """
    The NTS server of a daemon: the NTS-KE listener, the master keys and
    their rotation, and the handler of NTS requests. Does nothing without
    C{nts enable}.

    @ivar masterKeys: the L{ntpservice.nts.cookies.MasterKeys}, or C{None}
        before start (or without C{nts enable}).
    @ivar listeners: the NTS-KE listening ports, by where they are bound:
        C{(address, device)} as the NTP socket they follow is known to the
        socket owner (a dual-stack C{::} listener is known as C{("::", device)}, as is
        the C{0.0.0.0} one that replaces it where IPv6 cannot be bound).
    @ivar listen: the function that binds a listener (L{ke.listenKE
        <ntpservice.nts.ke.listenKE>}; tests replace it).
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
        self.listeners: dict[_Where, Any] = {}
        self.listen: Any = None
        self._handler: Any = None
        self._rotation: Any = None
        self._factory: Any = None
        self._context: Any = None
        self._observing = False
        self._started = False
        # Listeners stopped by _follow whose sockets have not closed yet.
        self._closing: dict[_Where, Any] = {}

    @property
    def listening(self) -> list[Any]:
        """The NTS-KE listening ports."""
        return list(self.listeners.values())

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
        if self.listen is None:
            self.listen = ke.listenKE
        factory.servesLocal = self._servesLocal
        self._factory, self._context = factory, context
        sockets = getattr(self._daemon, "sockets", None)
        if sockets is not None and hasattr(sockets, "addInterfaceObserver"):
            sockets.addInterfaceObserver(self)
            self._observing = True
        self._follow()
        if not self.listeners and not self._observing:
            return
        self._log.info(
            "NTS-KE server listening on TCP port {port} ({where}; TLS 1.3, ALPN "
            "ntske/1); {count} master keys in {path}",
            port=settings.port,
            where=", ".join(self._describe(w) for w in self.listeners) or "no address yet",
            count=len(self.masterKeys.keys),
            path=settings.cookie,
        )
        self._started = True
        self._scheduleRotation()

    # -- following the NTP sockets ----------------------------------------

    def _wanted(self) -> dict[_Where, tuple[str, bool, str | None]]:
        """
        Where NTS-KE is to listen: where the NTP sockets are bound.

        @return: by where (as in L{listeners}), the address to bind, whether
            it is IPv6 only, and the address to fall back to when it cannot
            be bound (a dual-stack C{::} falls back to C{0.0.0.0}).
        """
        sockets = getattr(self._daemon, "sockets", None)
        bound: list[_Where] = []
        if sockets is None:
            bound = [("0.0.0.0", None), ("::", None)]
        else:
            for address in sockets.addresses():
                protocol = sockets.protocol(address)
                transport = getattr(protocol, "transport", None)
                if transport is not None:
                    bound.append((address, getattr(transport, "device", None)))
        wanted: dict[_Where, tuple[str, bool, str | None]] = {}
        for address, device in bound:
            if address == "0.0.0.0":
                if ("::", device) not in bound:
                    wanted[(address, device)] = ("0.0.0.0", False, None)
            elif address == "::":
                both = ("0.0.0.0", device) in bound
                wanted[(address, device)] = ("::", not both, "0.0.0.0" if both else None)
            else:
                wanted[(address, device)] = (address, False, None)
        return wanted

    def _follow(self) -> None:
        """
        Open the listeners the NTP sockets call for and close the others.
        """
        if self._factory is None:
            return
        wanted = self._wanted()
        for where in [w for w in self.listeners if w not in wanted]:
            port = self.listeners.pop(where)
            # The socket closes on the reactor's next turn: an address that
            # comes back before is bound again once it has (binding at once
            # would find the port in use).
            closing = maybeDeferred(port.stopListening)
            self._closing[where] = closing
            closing.addBoth(self._closed, where)
            self._log.info("NTS-KE: no longer listening on {where}", where=self._describe(where))
        for where, (address, v6only, fallback) in wanted.items():
            if where in self.listeners or where in self._closing:
                continue
            port = self._bind(where, address, v6only, fallback)
            if port is not None:
                self.listeners[where] = port
                if self._started:
                    self._log.info("NTS-KE: listening on {where}", where=self._describe(where))

    def _closed(self, result: object, where: _Where) -> None:
        """
        A listener stopped by L{_follow} has closed: bind it again if its
        address came back meanwhile (not after L{stop}).
        """
        self._closing.pop(where, None)
        if self._observing:
            self._follow()

    def _bind(self, where: _Where, address: str, v6only: bool, fallback: str | None) -> Any:
        """
        Bind one listener (then its fallback); a failure is logged.

        @return: the listening port, or C{None}.
        """
        device = where[1]
        port = self.settings.port
        for candidate in (address, fallback):
            if candidate is None:
                continue
            try:
                return self.listen(
                    self._daemon.reactor,
                    port,
                    self._factory,
                    self._context,
                    candidate,
                    v6only=v6only,
                    device=device,
                )
            except Exception as e:  # CannotListenError, or no IPv6 at all
                failure = e
        self._log.error(
            "NTS-KE: cannot listen on TCP port {port} on {where}: {error}",
            port=port,
            where=self._describe(where),
            error=failure,
        )
        return None

    def _servesLocal(self, local: str) -> bool:
        """
        Whether an NTS-KE connection to C{local} is served: as an NTP
        datagram to it would be (the socket owner's C{servesLocal}).
        """
        serves = getattr(getattr(self._daemon, "sockets", None), "servesLocal", None)
        return serves is None or bool(serves(local))

    @staticmethod
    def _describe(where: _Where) -> str:
        address, device = where
        shown = f"[{address}]" if ":" in address else address
        return shown + (f" (interface {device})" if device else "")

    def interfaceAdded(self, address: Any) -> None:
        """
        A local address appeared: listen on it if it got an NTP socket.
        """
        self._follow()

    def interfaceRemoved(self, address: Any) -> None:
        """
        A local address went away: stop listening on it if its NTP socket
        was closed.
        """
        self._follow()

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
        if self._observing:
            self._daemon.sockets.removeInterfaceObserver(self)
            self._observing = False
        for port in self.listeners.values():
            port.stopListening()
        self.listeners = {}
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
