# -*- test-case-name: tests.test_service -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Assemble the daemon's L{MultiService} from a validated configuration.

Binding happens in L{NTPService.privilegedStartService}, which twistd calls
before it drops privileges, so port 123 can be bound by a daemon that then
runs unprivileged. A port that cannot be bound ends the daemon with one
clear line and a non-zero exit status.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from twisted.application.service import MultiService
from twisted.internet.error import CannotListenError

from ntpservice._log import Logger
from ntpservice.clock import defaultClockDriver
from ntpservice.core.counters import PacketCounters
from ntpservice.core.system import SystemVariables
from ntpservice.modes.server import SERVED_MODES, ServerMode
from ntpservice.net.multiplexer import ModeTable, NTPDatagramProtocol
from ntpservice.net.udp import ReceivedDatagram, TimestampingPort

NTP_PORT = 123

STATE_DIRECTORY = "/var/lib/ntpservice"
"""Where the built-in default configuration keeps the drift file."""


@dataclass(frozen=True, slots=True)
class ListenSpec:
    """
    One socket to bind.

    @ivar address: the local address: C{"0.0.0.0"} or C{"::"} for a
        wildcard socket, else one unicast address.
    @ivar device: the interface name for C{SO_BINDTODEVICE}, or C{None}.
    """

    address: str
    device: str | None = None

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.address else socket.AF_INET


def _isAddress(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def listenSpecs(
    interfaces: Iterable[str], rules: Iterable[tuple[str, str]] = ()
) -> list[ListenSpec]:
    """
    Decide which sockets to bind.

    @param interfaces: the C{-I} arguments: interface names or addresses.
    @param rules: C{(action, target)} pairs from the configuration's
        C{interface} lines, in order (action C{listen}, C{ignore} or
        C{drop}; target C{all}, C{ipv4}, C{ipv6}, C{wildcard}, a name or an
        address). C{-I} takes precedence over C{interface listen}.
    @return: the sockets to bind: one per named address, wildcard sockets
        bound to the device for each named interface, else wildcard sockets
        for the families not ignored.
    """
    rules = list(rules)
    targets = list(interfaces) or [
        target
        for action, target in rules
        if action == "listen" and target not in ("all", "ipv4", "ipv6", "wildcard")
    ]
    if targets:
        specs: list[ListenSpec] = []
        for target in targets:
            if _isAddress(target.split("/")[0]) and "/" not in target:
                specs.append(ListenSpec(target))
            else:
                specs.append(ListenSpec("0.0.0.0", target))
                specs.append(ListenSpec("::", target))
        return specs
    ignored = {target for action, target in rules if action == "ignore"}
    if ignored & {"all", "wildcard"}:
        return []
    specs = []
    if "ipv4" not in ignored:
        specs.append(ListenSpec("0.0.0.0"))
    if "ipv6" not in ignored and socket.has_ipv6:
        specs.append(ListenSpec("::"))
    return specs


def dropFilter(
    rules: Iterable[tuple[str, str]],
    indexToName: Callable[[int], str] = socket.if_indextoname,
) -> Callable[[ReceivedDatagram], bool] | None:
    """
    A predicate refusing datagrams that C{interface drop} (or C{ignore} of
    one address or name, on a wildcard socket) excludes.

    @return: C{None} when nothing is excluded.
    """
    dropped = [
        target for action, target in rules if action in ("drop", "ignore")
    ]
    if not dropped:
        return None
    networks = []
    names = set()
    families = set()
    for target in dropped:
        if target in ("all", "wildcard"):
            families.update((4, 6))
        elif target == "ipv4":
            families.add(4)
        elif target == "ipv6":
            families.add(6)
        else:
            try:
                networks.append(ipaddress.ip_network(target, strict=False))
            except ValueError:
                names.add(target)

    def accept(datagram: ReceivedDatagram) -> bool:
        local = datagram.localAddress or datagram.destination
        if local is not None:
            address = ipaddress.ip_address(local)
            if address.version in families:
                return False
            if any(address in network for network in networks):
                return False
        if names and datagram.ifindex:
            try:
                if indexToName(datagram.ifindex) in names:
                    return False
            except OSError:
                pass
        return True

    return accept


def resolveDriftFile(path: str | None) -> str | None:
    """
    Where the drift file goes: C{path} when its directory can be written,
    else the same name under a state directory the daemon can write
    (C{$STATE_DIRECTORY}, C{$XDG_STATE_HOME/ntpservice} or
    C{~/.local/state/ntpservice}).
    """
    if path is None:
        return None
    directory = os.path.dirname(path) or "."
    if _writableDirectory(directory):
        return path
    for candidate in (
        os.environ.get("STATE_DIRECTORY"),
        os.path.join(
            os.environ.get("XDG_STATE_HOME")
            or os.path.join(os.path.expanduser("~"), ".local", "state"),
            "ntpservice",
        ),
    ):
        if candidate and _writableDirectory(candidate):
            return os.path.join(candidate, os.path.basename(path))
    return None


def _writableDirectory(directory: str) -> bool:
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)


class NTPService(MultiService):
    """
    The daemon: the clock driver, the system variables, the mode table and
    one L{NTPDatagramProtocol} per bound socket.

    @ivar system: the current L{SystemVariables}.
    @ivar counters: the daemon's L{PacketCounters}.
    @ivar modes: the L{ModeTable} shared by every bound socket.
    @ivar ports: the bound L{TimestampingPort}s.
    @ivar driftFile: where the drift file is kept, or C{None}.
    """

    _log = Logger()

    def __init__(
        self,
        configuration: Any,
        clock: Any,
        listen: list[ListenSpec],
        port: int = NTP_PORT,
        accept: Callable[[ReceivedDatagram], bool] | None = None,
        driftFile: str | None = None,
        reactor: Any = None,
    ) -> None:
        super().__init__()
        self.configuration = configuration
        self.clock = clock
        self.listen = listen
        self.portNumber = port
        self.driftFile = driftFile
        self._accept = accept
        self._reactor = reactor
        self.counters = PacketCounters()
        self.system = SystemVariables(precision=clock.precision())
        self.modes = ModeTable()
        server = ServerMode(lambda: self.system, self.counters)
        for mode in SERVED_MODES:
            self.modes.register(mode, server)
        self.ports: list[TimestampingPort] = []

    def _getReactor(self) -> Any:
        if self._reactor is None:
            from twisted.internet import reactor

            self._reactor = reactor
        return self._reactor

    def privilegedStartService(self) -> None:
        """
        Bind every socket, before twistd drops privileges. A socket that
        cannot be bound ends the daemon with one line on standard error.
        """
        reactor = self._getReactor()
        for spec in self.listen:
            protocol = NTPDatagramProtocol(
                self.modes, self.counters, self.clock, self._accept
            )
            port = TimestampingPort(
                self.portNumber, protocol, spec.address, reactor=reactor, device=spec.device
            )
            try:
                port.startListening()
            except CannotListenError as e:
                cause = e.socketError
                if (
                    spec.address == "::"
                    and spec.device is None
                    and isinstance(cause, OSError)
                    and cause.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL)
                ):
                    self._log.warn("IPv6 is not available here; serving IPv4 only")
                    continue
                self._fatalBind(spec, cause)
            self.ports.append(port)
            self._log.info(
                "Listening on {address} port {port}{device}",
                address=spec.address,
                port=port.getHost().port,
                device=f" (interface {spec.device})" if spec.device else "",
            )
        if not self.ports:
            self._fatal("no socket to listen on: every address is ignored")
        super().privilegedStartService()

    def startService(self) -> None:
        super().startService()
        self._log.info(
            "ntpservice started: clock driver {driver}{adjust}; unsynchronized "
            "(no time source is configured yet: serving stratum 16)",
            driver=self.clock.name,
            adjust="" if self.clock.canAdjust else " (the system clock is never adjusted)",
        )

    def stopService(self) -> Any:
        for port in self.ports:
            port.stopListening()
        self.ports = []
        return super().stopService()

    def _fatalBind(self, spec: ListenSpec, cause: Any) -> None:
        reason = getattr(cause, "strerror", None) or str(cause)
        hint = ""
        if isinstance(cause, OSError) and cause.errno == errno.EACCES:
            hint = (
                " (binding a port below 1024 needs root or CAP_NET_BIND_SERVICE;"
                " or choose another port with --port)"
            )
        elif isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            hint = " (another NTP daemon is running?)"
        where = spec.address + (f"%{spec.device}" if spec.device else "")
        self._fatal(f"cannot bind UDP port {self.portNumber} on {where}: {reason}{hint}")

    def _fatal(self, message: str) -> None:
        for port in self.ports:
            port.stopListening()
        sys.stderr.write(f"ntpservice: {message}\n")
        sys.stderr.flush()
        raise SystemExit(1)


def makeNTPService(
    configuration: Any,
    port: int = NTP_PORT,
    interfaces: tuple[str, ...] = (),
    clockAdjust: bool = True,
    reactor: Any = None,
) -> NTPService:
    """
    Build the daemon from a validated configuration and the command line.

    @param clockAdjust: C{False} for C{--no-clock-adjust}; C{disable ntp} in
        the configuration has the same effect.
    """
    adjust = clockAdjust and getattr(configuration, "clockAdjust", True)
    rules = interfaceRules(configuration)
    return NTPService(
        configuration,
        defaultClockDriver(adjust),
        listenSpecs(interfaces, rules),
        port=port,
        accept=dropFilter(rules),
        driftFile=resolveDriftFile(driftFilePath(configuration)),
        reactor=reactor,
    )


def interfaceRules(configuration: Any) -> list[tuple[str, str]]:
    """
    The C{interface}/C{nic} lines of C{configuration} as
    C{(action, target)} pairs.
    """
    return [
        (rule.action, rule.target) for rule in getattr(configuration, "interfaces", ())
    ]


def driftFilePath(configuration: Any) -> str | None:
    """
    The C{driftfile} path of C{configuration}, or C{None}.
    """
    drift = getattr(configuration, "driftfile", None)
    return getattr(drift, "path", drift)
