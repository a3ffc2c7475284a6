# -*- test-case-name: tests.test_service,tests.test_interface_service -*-
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
import re
import socket
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable

from twisted.application.service import MultiService
from twisted.internet.error import CannotListenError

from ntpservice import _log
from ntpservice._log import Logger
from ntpservice.clock import defaultClockDriver
from ntpservice.config import DEFAULT_MINPOLL_LOG2
from ntpservice.core.association import BURST_COUNT, BURST_NOREPLY_INTERVAL
from ntpservice.core.counters import PacketCounters
from ntpservice.core.system import SystemVariables
from ntpservice.assembly import assembleDaemon
from ntpservice.logging import LogconfigError, LogFile, SyncLogger, applyLogconfig
from ntpservice.net.interfaces import DEFAULT_INTERVAL, InterfaceAddress, InterfaceTracker
from ntpservice.net.multiplexer import ModeTable, NTPDatagramProtocol
from ntpservice.net.fastpath import FastPath
from ntpservice.net.udp import ReceivedDatagram, TimestampingPort
from ntpservice.refclocks import RefClockConfigError, RefClockPluginError, refClockLines
from ntpservice.stats import StatisticsError, StatisticsWriter

if TYPE_CHECKING:
    from ntpservice.control.metrics import MetricsCollector

METRICS_ADDRESS = "127.0.0.1"
"""
The address the metrics endpoint binds by default: the same as
L{ntpservice.control.metrics.DEFAULT_ADDRESS}, which is imported (with
C{twisted.web}, a good part of the daemon's start-up time) only when the
endpoint is asked for.
"""

NTP_PORT = 123

STATE_DIRECTORY = "/var/lib/ntpservice"
"""Where the built-in default configuration keeps the drift file."""


class StartupError(Exception):
    """
    The daemon cannot start; the message says why, in one line.
    """


QUIT_POLLS = 4
"""
C{-q} waits this many polls at its C{minpoll} for a C{server} or C{pool}
line without C{iburst} (the clock is set from about the fourth sample,
three polls after the first).
"""

QUIT_BURST_SECONDS = BURST_COUNT * BURST_NOREPLY_INTERVAL
"""
Seconds C{-q} waits for a line with C{iburst}: the whole burst, even if no
packet of it is answered (an answered burst sets the clock in seconds).
"""


def defaultQuitTimeout(configuration: Any) -> float:
    """
    How long C{-q} waits for the clock to be set before it gives up (exit
    status 1), when C{--quit-timeout} does not say: the longest of, for each
    C{server} and C{pool} line, L{QUIT_BURST_SECONDS} with C{iburst}, else
    L{QUIT_POLLS} polls at its C{minpoll}. (ntpd gives up once every
    association has finished its burst, with status 0.)

    @return: seconds: 128 for C{server ... iburst}, 256 for a line without
        it at the default C{minpoll} 6, and 256 without any such line.
    """
    bounds = []
    for line in configuration.associations:
        if (
            line.directive not in ("server", "pool")
            or getattr(line, "address", None) is None
            or getattr(line, "isRefclock", False)
        ):
            continue
        if "iburst" in line.flags:
            bounds.append(QUIT_BURST_SECONDS)
        else:
            bounds.append(QUIT_POLLS * 2.0**line.minPollLog2)
    return max(bounds, default=QUIT_POLLS * 2.0**DEFAULT_MINPOLL_LOG2)


def _exitNow(status: int) -> None:
    """
    End the process with C{status} at once (after the reactor's shutdown,
    where twistd would otherwise exit with 0), the log written out first.
    """
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass
    os._exit(status)


def _isDevNull(fd: int) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(os.devnull))
    except OSError:
        return False


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
    interfaces: Iterable[str], ipVersion: int | None = None
) -> list[ListenSpec]:
    """
    Decide which sockets to bind.

    @param interfaces: the C{-I} arguments: interface names or addresses.
    @param ipVersion: 4 or 6 for C{-4}/C{-6}: only sockets of that address
        family; C{None} for both.
    @return: one socket per named address, wildcard sockets bound to the
        device for each named interface, or, without C{-I}, one wildcard
        socket per address family (C{interface} lines then act as a filter:
        see L{interfaceFilter}).
    """
    specs: list[ListenSpec] = []
    for target in interfaces:
        if _isAddress(target):
            specs.append(ListenSpec(target))
        else:
            specs.append(ListenSpec("0.0.0.0", target))
            specs.append(ListenSpec("::", target))
    if not specs:
        specs.append(ListenSpec("0.0.0.0"))
        if socket.has_ipv6 or ipVersion == 6:
            specs.append(ListenSpec("::"))
    if ipVersion is not None:
        specs = [s for s in specs if _ipVersionOf(s.address) == ipVersion]
    return specs


def _ipVersionOf(address: str) -> int:
    """
    @return: 6 for an IPv6 address (with or without a scope), else 4.
    """
    return 6 if ":" in address else 4


def restrictFamily(configuration: Any, ipVersion: int | None) -> Any:
    """
    Apply C{-4}/C{-6} to the configuration: the host names of association
    lines that did not choose a family themselves (C{server -6 NAME}) are
    resolved in that family only, as ntpd's C{-4}/C{-6} do.

    @param ipVersion: 4, 6 or C{None} (the configuration unchanged).
    @return: the configuration.
    """
    if ipVersion is None:
        return configuration
    associations = []
    for line in configuration.associations:
        if (
            getattr(line, "ipVersion", 0) is None
            and not getattr(line, "isRefclock", False)
            and not _isAddress(getattr(line, "address", "") or "")
        ):
            line = replace(line, ipVersion=ipVersion)
        associations.append(line)
    return replace(configuration, associations=tuple(associations))


@dataclass(frozen=True, slots=True)
class InterfaceRule:
    """
    One C{interface}/C{nic} line.

    @ivar action: C{listen}, C{ignore} or C{drop}.
    @ivar kind: C{all}, C{ipv4}, C{ipv6}, C{wildcard}, C{name} or
        C{address}.
    @ivar match: the interface name or the address prefix.
    @ivar network: the prefix as an L{ipaddress} network, for kind
        C{address}.
    """

    action: str
    kind: str
    match: str
    network: Any = None

    @classmethod
    def make(cls, action: str, kind: str, match: str) -> "InterfaceRule":
        """
        A rule, with C{match} parsed once when it is an address prefix.
        """
        network = None
        if kind == "address":
            network = ipaddress.ip_network(match, strict=False)
        return cls(action, kind, match, network)

    def matches(self, address: Any, name: Callable[[], str | None]) -> bool:
        """
        Whether this rule applies to a datagram that came to C{address} on
        the interface C{name()}.
        """
        kind = self.kind
        if kind == "all":
            return True
        if kind == "ipv4":
            return address is not None and address.version == 4
        if kind == "ipv6":
            return address is not None and address.version == 6
        if kind == "wildcard":
            return False
        if kind == "name":
            return name() == self.match
        return (
            address is not None
            and address.version == self.network.version
            and address in self.network
        )


def interfaceFilter(
    rules: Iterable[InterfaceRule],
    indexToName: Callable[[int], str] = socket.if_indextoname,
) -> Callable[[ReceivedDatagram], bool] | None:
    """
    The predicate that applies C{interface} lines to arriving datagrams.

    As in ntpd, the last rule matching a local address decides, and an
    address no rule matches is listened on. The daemon listens on wildcard
    sockets, so C{ignore} and C{drop} both drop what arrives at the address
    (ntpd's C{ignore} would not open a socket for it), and
    C{interface ignore wildcard} changes nothing for unicast service.

    @return: C{None} when there are no rules.
    """
    rules = list(rules)
    if not rules:
        return None
    names: dict[int, str | None] = {}

    def accept(datagram: ReceivedDatagram) -> bool:
        local = datagram.localAddress or datagram.destination
        address = ipaddress.ip_address(local) if local is not None else None
        ifindex = datagram.ifindex

        def name() -> str | None:
            if ifindex not in names:
                if len(names) > 1024:
                    names.clear()
                try:
                    names[ifindex] = indexToName(ifindex) if ifindex else None
                except OSError:
                    names[ifindex] = None
            return names[ifindex]

        action = "listen"
        for rule in rules:
            if rule.matches(address, name):
                action = rule.action
        return action == "listen"

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
    @ivar metrics: the L{MetricsCollector} of the metrics endpoint, or
        C{None} when it is off.
    @ivar metricsPort: the listening metrics port once bound, or C{None}.
    @ivar statistics: the L{StatisticsWriter} while statistics files are
        written, else C{None}.
    @ivar logFile: the L{LogFile} of a C{logfile} line while running, else
        C{None}.
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
        plugins: list[Any] | None = None,
        panicGate: bool = False,
        quit: bool = False,
        keyring: Any = None,
        metricsPort: int | None = None,
        metricsAddress: str = METRICS_ADDRESS,
        clockAdjust: bool = True,
        quitTimeout: float | None = None,
        fastPath: str | None = "off",
        fastPathThreads: int | None = None,
        updateInterval: float | None = None,
        noVirtual: bool = False,
        perAddress: bool = False,
        rules: list["InterfaceRule"] | None = None,
        identity: Any = None,
        tracker: InterfaceTracker | None = None,
        ipVersion: int | None = None,
    ) -> None:
        """
        The daemon itself is built by L{assembleDaemon}, as in the
        simulator.

        @param updateInterval: C{-U}: follow the local addresses
            (L{InterfaceTracker}), scanning every this many seconds (0: on
            the kernel's announcements only); C{None}: do not follow them
            (unless C{tracker} is given).
        @param noVirtual: C{-L}: serve no virtual interface (C{eth0:1}).
        @param perAddress: bind one socket per local address that the
            C{interface} rules leave served, instead of wildcard sockets
            (C{interface ignore wildcard}), as addresses come and go.
        @param rules: the C{interface} lines (L{interfaceRules}).
        @param ipVersion: C{-4}/C{-6}: 4 or 6 to serve local addresses of
            that family only (the tracked ones too: with C{perAddress} the
            other family's addresses get no socket), C{None} for both.
        @param identity: C{-u}: the L{ntpservice.privileges.Identity} to
            become once the sockets are bound, or C{None}.
        @param tracker: the interface tracker to use (tests).

        @param plugins: the available mode plugins (C{None}: every
            installed one); those the configuration leaves enabled run.
        @param keyring: the keys; C{None}: the configuration's keys file
            (see L{assembleDaemon}).
        @param metricsPort: serve Prometheus metrics on this TCP port
            (0: any free port), or C{None} for no metrics endpoint.
        @param metricsAddress: the address the metrics endpoint binds.
        @param clockAdjust: whether C{clock}'s corrections change the clock;
            C{False} runs the discipline open loop (see L{makeNTPService}).
        @param quitTimeout: with C{quit}, the seconds after which C{-q}
            gives up if the clock has not been set; C{None}: what
            L{defaultQuitTimeout} makes of the configuration.
        @param fastPath: C{"off"} (the default here, for tests that build
            the service directly) answers every request in Python; C{"on"}
            uses the compiled fast path (L{ntpservice.net.fastpath}) when
            it is installed; C{None}: C{NTPSERVICE_FASTPATH} decides.
        @param fastPathThreads: its threads (and SO_REUSEPORT sockets per
            bound address); C{None}: C{NTPSERVICE_FASTPATH_THREADS}, else 1.
        """
        super().__init__()
        self.configuration = configuration
        self.clock = clock
        self.listen = listen
        self.portNumber = port
        self.driftFile = driftFile
        self._accept = accept
        self._reactor = reactor
        self.counters = PacketCounters()
        self.modes = ModeTable()
        self.fastPath = FastPath.create(fastPathThreads, reactor, fastPath)
        self.daemon = assembleDaemon(
            configuration,
            clock,
            self._getReactor(),
            self.counters,
            self.modes,
            plugins=plugins,
            keyring=keyring,
            driftFile=driftFile,
            clockAdjust=clockAdjust,
            panicGate=panicGate,
            quit=quit,
            stop=self._stopReactor,
            fastPath=self.fastPath,
        )
        self.ports: list[TimestampingPort] = []
        self.metricsAddress = metricsAddress
        self.metricsPortNumber = metricsPort
        self.metrics: MetricsCollector | None = None
        if metricsPort is not None:
            from ntpservice.control.metrics import MetricsCollector

            self.metrics = MetricsCollector(self.daemon)
        self.metricsPort: Any = None
        self.statistics: StatisticsWriter | None = None
        self.logFile: LogFile | None = None
        self._syncLogger: SyncLogger | None = None
        self.quit = quit
        if quitTimeout is None:
            quitTimeout = defaultQuitTimeout(configuration)
        self.quitTimeout = quitTimeout
        self._quitTimer: Any = None
        self._previousStopHandlers: dict[int, Any] = {}
        self.updateInterval = updateInterval
        self.noVirtual = noVirtual
        self.ipVersion = ipVersion
        self.perAddress = perAddress
        self.rules = list(rules or ())
        self.identity = identity
        self.tracker = tracker
        self.addressPorts: dict[str, TimestampingPort] = {}
        self._interfaceNumbers: dict[str, tuple[int, float]] = {}
        self._nextInterfaceNumber = len(listen)
        self._virtual: set[str] = set()
        self._dropped: set[str] = set()
        self._sendersSet = False
        self._loggingStarted = False
        self._baseAccept = accept
        if noVirtual or perAddress:
            self._accept = self._acceptDatagram
        if noVirtual or perAddress or self.rules:
            self.daemon.sockets.servesLocal = self.servesLocalAddress

    @property
    def system(self) -> SystemVariables:
        """The current system variables."""
        return self.daemon.system()

    def _stopReactor(self) -> None:
        """
        Stop the reactor; the process then exits with the daemon's
        C{exitStatus} (twistd itself would exit 0).
        """
        reactor = self._getReactor()
        status = self.daemon.exitStatus
        if status:
            reactor.addSystemEventTrigger("after", "shutdown", _exitNow, status)
        reactor.stop()

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
        warnedIPv6 = False
        for spec in self.listen:
            protocol = NTPDatagramProtocol(
                self.modes, self.counters, self.clock, self._accept
            )
            port = TimestampingPort(
                self.portNumber,
                protocol,
                spec.address,
                reactor=reactor,
                device=spec.device,
                reusePort=self.fastPath is not None and self.fastPath.threads > 1,
            )
            try:
                port.startListening()
            except CannotListenError as e:
                cause = e.socketError
                if self._withoutIPv6(spec, cause):
                    if not warnedIPv6:
                        reason = getattr(cause, "strerror", None) or str(cause)
                        self._log.warn(
                            "IPv6 is not available here ({reason}); serving "
                            "IPv4 only",
                            reason=reason,
                        )
                        warnedIPv6 = True
                    continue
                self._fatalBind(spec, cause)
            self.ports.append(port)
            self._log.info(
                "Listening on {address} port {port}{device}",
                address=spec.address,
                port=port.getHost().port,
                device=f" (interface {spec.device})" if spec.device else "",
            )
        self._startTracking()
        if not self.ports:
            self._fatal("no socket to listen on: every address is ignored")
        self._listenMetrics()
        super().privilegedStartService()
        if self.identity is not None:
            self._startLogging()
            self._dropPrivileges()

    # -- interfaces ------------------------------------------------------

    def _startTracking(self) -> None:
        """
        Follow the local addresses (C{-U}), this service first among the
        tracker's observers (it opens and closes the sockets), then the
        daemon's socket owner (route choices, the plugins' observers).
        """
        if self.tracker is None and self.updateInterval is not None:
            self.tracker = InterfaceTracker(self._getReactor(), self.updateInterval)
        if self.tracker is None:
            return
        self.tracker.addObserver(self)
        self.tracker.addObserver(self.daemon.sockets)
        self.tracker.start()

    def interfaceAction(self, address: InterfaceAddress) -> str:
        """
        What the C{interface} lines, C{-L} and C{-4}/C{-6} say of a local
        address: C{listen}, C{drop} or C{ignore} (the last matching rule
        wins; no rule: C{listen}; a virtual interface with C{-L}, or an
        address of the family C{-4}/C{-6} leaves out: C{ignore}).
        """
        if self.noVirtual and address.virtual:
            return "ignore"
        return self._ruleAction(
            ipaddress.ip_address(address.address), (address.name, address.label)
        )

    def _ruleAction(self, parsed: Any, names: tuple[str, ...]) -> str:
        """
        The last C{interface} rule's action that matches the address
        C{parsed} on an interface known by C{names} (its name first, then
        its label; none: name rules do not match); C{listen} if none does;
        C{ignore} for an address of the family C{-4}/C{-6} leaves out.
        """
        if self.ipVersion is not None and parsed.version != self.ipVersion:
            return "ignore"
        action = "listen"
        for rule in self.rules:
            if rule.kind == "name":
                if rule.match in names:
                    action = rule.action
            elif rule.matches(parsed, lambda: names[0] if names else None):
                action = rule.action
        return action

    def servesLocalAddress(self, local: str) -> bool:
        """
        Whether what arrives at the local address C{local} is served, by
        the C{interface} rules and C{-L} (the address as the tracker knows
        it; one it does not know by its address alone): for the listeners
        that follow the sockets (NTS-KE, L{ntpservice.modes.nts}).
        """
        known = self.daemon.sockets.interfaces.get(local)
        if known is not None:
            return self.interfaceAction(known) == "listen"
        try:
            parsed = ipaddress.ip_address(local)
        except ValueError:
            return True
        return self._ruleAction(parsed, ()) == "listen"

    def _wantsSocket(self, address: InterfaceAddress, action: str) -> bool:
        """
        Whether the address gets a socket of its own: every served one
        (but IPv6 link-local addresses) with C{interface ignore wildcard},
        else those C{-I} names.
        """
        if self.perAddress:
            return action != "ignore" and not address.linkLocal
        return any(spec.device is None and spec.address == address.address for spec in self.listen)

    def interfaceAdded(self, address: InterfaceAddress) -> None:
        """
        A local address appeared (L{IInterfaceObserver
        <ntpservice.interfaces.IInterfaceObserver>}): bind its socket when
        it gets one (port 123 too after C{-u}, with
        C{CAP_NET_BIND_SERVICE}), and log it as ntpd does.
        """
        action = self.interfaceAction(address)
        key = address.address
        if address.virtual:
            self._virtual.add(key)
        if action == "drop":
            self._dropped.add(key)
        if action == "ignore":
            self._log.debug(
                "Ignoring interface {name} {address}", name=address.displayName, address=key
            )
            return
        wanted = self._wantsSocket(address, action)
        if self.perAddress and not wanted:
            # No wildcard socket to serve it through (an IPv6 link-local
            # address).
            self._log.debug(
                "Not listening on {name} {address}", name=address.displayName, address=key
            )
            return
        if wanted and self._portFor(key) is None:
            if not self._bindAddress(address):
                return
        number = self._nextInterfaceNumber
        self._nextInterfaceNumber += 1
        self._interfaceNumbers[key] = (number, self._now())
        self._log.info(
            "Listen {how} on {number} {name} {address}:{port}",
            how="and drop" if action == "drop" else "normally",
            number=number,
            name=address.displayName,
            address=key if address.family != socket.AF_INET6 else f"[{key}]",
            port=self.portNumber,
        )

    def interfaceRemoved(self, address: InterfaceAddress) -> None:
        """
        A local address went away: close its socket, if it had one, and
        log it as ntpd does.
        """
        key = address.address
        self._virtual.discard(key)
        self._dropped.discard(key)
        port = self.addressPorts.pop(key, None)
        if port is None:
            port = next((p for p in self.ports if p.interface == key), None)
        if port is not None:
            self.daemon.sockets.remove(key)
            if port in self.ports:
                self.ports.remove(port)
            port.stopListening()
        numbered = self._interfaceNumbers.pop(key, None)
        if numbered is None:
            return
        number, since = numbered
        self._log.info(
            "Deleting interface #{number} {name}, {address}#{port}, interface "
            "stats: active_time={seconds:.0f} secs",
            number=number,
            name=address.displayName,
            address=key,
            port=self.portNumber,
            seconds=max(0.0, self._now() - since),
        )

    def _portFor(self, address: str) -> TimestampingPort | None:
        for port in self.ports:
            if port.interface == address and port.device is None:
                return port
        return None

    def _bindAddress(self, address: InterfaceAddress) -> bool:
        """
        Bind a socket to C{address}; a failure is logged (not fatal: the
        address may be gone again already).
        """
        protocol = NTPDatagramProtocol(self.modes, self.counters, self.clock, self._accept)
        port = TimestampingPort(
            self.portNumber, protocol, address.address, reactor=self._getReactor()
        )
        try:
            port.startListening()
        except CannotListenError as e:
            cause = e.socketError
            reason = getattr(cause, "strerror", None) or str(cause)
            self._log.error(
                "Cannot bind UDP port {port} on {address}: {reason}",
                port=self.portNumber,
                address=address.address,
                reason=reason,
            )
            return False
        self.ports.append(port)
        self.addressPorts[address.address] = port
        if self._sendersSet:
            self.daemon.sockets.add(protocol)
        return True

    def _acceptDatagram(self, datagram: ReceivedDatagram) -> bool:
        """
        The C{interface} filter, plus C{-L} (nothing served on a virtual
        interface) and C{drop} rules applied to the addresses the tracker
        knows.
        """
        local = datagram.localAddress or datagram.destination
        if local in self._virtual and self.noVirtual:
            return False
        if local in self._dropped:
            return False
        if self._baseAccept is not None:
            return self._baseAccept(datagram)
        return True

    def _now(self) -> float:
        return float(self._getReactor().seconds())

    # -- privileges ------------------------------------------------------

    def _dropPrivileges(self) -> None:
        """
        C{-u}: become the user, keeping C{CAP_NET_BIND_SERVICE} and
        C{CAP_SYS_TIME} when held; a failure is fatal. Says which of the
        files the daemon writes the user cannot write.
        """
        from ntpservice.privileges import CAPABILITY_NAMES, PrivilegeError, dropPrivileges

        identity = self.identity
        try:
            kept = dropPrivileges(identity)
        except PrivilegeError as e:
            self._fatal(str(e))
        self._log.info(
            "Running as user {user} (uid {uid}, gid {gid}), keeping {caps}; "
            "no new privileges",
            user=identity.user,
            uid=identity.uid,
            gid=identity.gid,
            caps=", ".join(CAPABILITY_NAMES[c] for c in kept) or "no capability",
        )
        paths = []
        if self.driftFile is not None:
            paths.append(("drift file directory", os.path.dirname(self.driftFile) or "."))
        statsdir = getattr(self.configuration, "statsdir", None)
        if statsdir is not None:
            paths.append(("statsdir", getattr(statsdir, "path", str(statsdir))))
        for what, path in paths:
            if not os.access(path, os.W_OK | os.X_OK):
                self._log.warn(
                    "{what} {path} is not writable by {user}: files there will not "
                    "be written",
                    what=what,
                    path=path,
                    user=identity.user,
                )

    def _withoutIPv6(self, spec: ListenSpec, cause: object) -> bool:
        """
        Whether a socket that could not be bound is an IPv6 wildcard that
        the host refuses (IPv6 disabled, or a kernel or sandbox that refuses
        C{socket(AF_INET6, ...)} with EAFNOSUPPORT, EINVAL or anything
        else) while IPv4 sockets are to be bound too: the daemon then
        serves IPv4 only. A port in use or a permission refused is no
        reason to: IPv4 would meet the same.
        """
        return (
            spec.address == "::"
            and isinstance(cause, OSError)
            and cause.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EPERM)
            and any(_ipVersionOf(s.address) == 4 for s in self.listen)
        )

    def _listenMetrics(self) -> None:
        """
        Bind the metrics endpoint, when there is one; failing to is fatal.
        """
        if self.metrics is None or self.metricsPortNumber is None:
            return
        from ntpservice.control.metrics import listenMetrics

        try:
            self.metricsPort = listenMetrics(
                self._getReactor(),
                self.metricsPortNumber,
                self.metrics,
                self.metricsAddress,
            )
        except CannotListenError as e:
            cause = e.socketError
            reason = getattr(cause, "strerror", None) or str(cause)
            self._fatal(
                f"cannot bind the metrics port {self.metricsPortNumber} on "
                f"{self.metricsAddress}: {reason}"
            )
        self._log.info(
            "Serving Prometheus metrics on http://{address}:{port}/metrics",
            address=self.metricsAddress,
            port=self.metricsPort.getHost().port,
        )

    def startService(self) -> None:
        self._startLogging()
        super().startService()
        files = getattr(self.configuration, "files", ())
        self._log.info(
            "Configuration read from {files}", files=", ".join(files) or "(none)"
        )
        self.daemon.setSenders(port.protocol for port in self.ports)
        self._sendersSet = True
        for warning in self.configurationWarnings():
            self._log.warn("{warning}", warning=warning)
        for warning in self.daemon.keyring.warnings:
            self._log.warn("{warning}", warning=warning)
        self._installReload()
        self._getReactor().callWhenRunning(self._installStopSignals)
        self._startObservers()
        if self.fastPath is not None:
            # Not before the reactor runs: its threads answer at once, and a
            # SIGTERM that comes after the first answer but before the
            # reactor has installed the stop signals (twistd starts the
            # services first) would end the process by the signal.
            self._getReactor().callWhenRunning(self._startFastPath)
        self.daemon.start()
        adjust = "" if self.clock.canAdjust else " (the system clock is never adjusted)"
        refclocks = [
            f"{running.factory.name} {self.daemon.engine.associations.byID[associd].address}"
            + (" (last resort)" if running.factory.lastResort else "")
            for associd, running in sorted(self.daemon.refclocks.items())
            if associd in self.daemon.engine.associations.byID
        ]
        self._log.info(
            "ntpservice started: clock driver {driver}{adjust}; unsynchronized "
            "until a source is selected; reference clocks: {refclocks}; "
            "mode plugins: {plugins}",
            driver=self.clock.name,
            adjust=adjust,
            refclocks=", ".join(refclocks) or "none",
            plugins=", ".join(sorted(self.daemon.instances)),
        )
        if self.quit:
            self._quitTimer = self._getReactor().callLater(
                self.quitTimeout, self._quitTimedOut
            )

    def configurationWarnings(self) -> list[str]:
        """
        Everything the start-up log names about the configuration, each as
        C{FILE:LINE: message}: the parser's warnings (duplicates, replaced
        settings, C{kod} without C{limited}, autokey, C{tos} values that
        cannot work), the lines the daemon does not act on
        (L{inactiveWarnings}), and the servers the bound sockets cannot reach
        (L{unreachableServers}).
        """
        configuration = self.configuration
        warnings = list(getattr(configuration, "warnings", ()))
        warnings.extend(inactiveWarnings(configuration))
        warnings.extend(unreachableServers(self.listen, configuration))
        return inFileOrder(warnings, getattr(configuration, "files", ()))

    def _quitTimedOut(self) -> None:
        """
        C{-q} gives up: the clock was not set within L{quitTimeout}
        seconds. One line says why, and the process exits with status 1.
        """
        self._quitTimer = None
        if self.daemon.exitStatus is not None:
            return
        associations = list(self.daemon.engine.associations)
        answered = sum(1 for a in associations if a.reach)
        if not answered:
            why = "no server answered"
        else:
            why = (
                f"{answered} of {len(associations)} servers answered, "
                "but none could be selected"
            )
        self._log.error(
            "-q: the clock was not set within {timeout:g} s ({why}); giving up, "
            "exit status 1",
            timeout=self.quitTimeout,
            why=why,
        )
        self.daemon.exitStatus = 1
        self._stopReactor()

    def _startFastPath(self) -> None:
        """Start the fast path's threads, unless the service stopped first."""
        if self.running and self.fastPath is not None:
            self.fastPath.start(self.daemon, self.ports, self._accept)

    def _installStopSignals(self) -> None:
        """
        Replace the reactor's SIGTERM and SIGINT handlers (once it runs and
        has installed them) by ones that stop the daemon cleanly and let
        the process exit with status 0, as ntpd does; twistd's own would
        end the process by the signal after the shutdown. An ignored SIGINT
        (a background job) stays ignored.
        """
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        reactor = self._getReactor()
        if not hasattr(reactor, "callFromThread"):
            return

        def onSignal(signum: int, frame: Any) -> None:
            reactor.callFromThread(self._stopBySignal, signum)

        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if previous in (signal.SIG_IGN, None):
                continue
            self._previousStopHandlers[signum] = previous
            signal.signal(signum, onSignal)

    def _stopBySignal(self, signum: int) -> None:
        """
        SIGTERM or SIGINT: stop the reactor; the daemon's shutdown (drift
        file, files closed) follows.
        """
        import signal

        from twisted.internet.error import ReactorNotRunning

        self._log.info(
            "Received {name}: shutting down", name=signal.Signals(signum).name
        )
        try:
            self._getReactor().stop()
        except ReactorNotRunning:
            pass

    def _startLogging(self) -> None:
        """
        Honour C{logconfig} and open the C{logfile}, before anything is
        logged (with C{-u}, before the privileges are dropped: the file
        stays open; a reopen on SIGHUP needs the user to be able to write
        it).
        """
        if self._loggingStarted:
            return
        self._loggingStarted = True
        configuration = self.configuration
        try:
            applyLogconfig(getattr(configuration, "logconfig", ()))
        except LogconfigError as e:
            self._log.warn("logconfig ignored: {error}", error=str(e))
        logfile = getattr(configuration, "logfile", None)
        if logfile is not None:
            self.logFile = LogFile(logfile.path)
            if not self.logFile.start():
                self.logFile = None

    def _startObservers(self) -> None:
        """
        Observe the daemon: the synchronization log lines, the statistics
        files and the metrics.
        """
        self._syncLogger = SyncLogger(self.daemon)
        self.daemon.addObserver(self._syncLogger)
        if self.metrics is not None:
            self.daemon.addObserver(self.metrics)
        try:
            self.statistics = StatisticsWriter.fromConfiguration(
                self.configuration, self.daemon
            )
        except StatisticsError as e:
            self._log.error("No statistics written: {error}", error=str(e))
            self.statistics = None
        if self.statistics is not None:
            self.statistics.start()

    def _installReload(self) -> None:
        """
        SIGHUP re-reads the keys file (ntpd's behaviour; a bad file is
        reported and the keys in use are kept) and reopens the log file and
        the statistics files (after log rotation).
        """
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        reactor = self._getReactor()
        if not hasattr(reactor, "callFromThread"):
            return

        def onHangup(signum: int, frame: Any) -> None:
            reactor.callFromThread(self.hangup)

        self._previousHangup = signal.signal(signal.SIGHUP, onHangup)

    def hangup(self) -> None:
        """
        What SIGHUP does: reopen the log and statistics files, name the
        configuration's warnings again (so that a rotated log still has
        them; the configuration itself is not re-read), then reload the
        keys.
        """
        self.reopenFiles()
        for warning in self.configurationWarnings():
            self._log.warn("{warning}", warning=warning)
        self.reloadKeys()
        self.daemon.reloadLeapFile()

    def reopenFiles(self) -> None:
        """
        Close and reopen the C{logfile} and the statistics files.
        """
        if self.logFile is not None:
            self.logFile.reopen()
        if self.statistics is not None:
            self.statistics.reopen()

    def reloadKeys(self) -> None:
        """
        Re-read the keys file and use it, keeping every association.
        """
        from ntpservice.auth.keyring import loadKeyRing
        from ntpservice.config import ConfigError

        try:
            keyring = loadKeyRing(self.configuration)
        except ConfigError as e:
            self._log.error("Keys not reloaded: {error}", error=str(e))
            return
        for warning in keyring.warnings:
            self._log.warn("{warning}", warning=warning)
        self.daemon.reloadKeys(keyring)

    def stopService(self) -> Any:
        import signal

        previous = getattr(self, "_previousHangup", None)
        if previous is not None:
            signal.signal(signal.SIGHUP, previous)
            self._previousHangup = None
        for signum, handler in self._previousStopHandlers.items():
            signal.signal(signum, handler)
        self._previousStopHandlers = {}
        if self._quitTimer is not None and self._quitTimer.active():
            self._quitTimer.cancel()
        self._quitTimer = None
        if self.fastPath is not None:
            self.fastPath.stop()
        self.daemon.stop()
        if self.tracker is not None:
            self.tracker.stop()
            for observer in (self, self.daemon.sockets):
                try:
                    self.tracker.removeObserver(observer)
                except ValueError:
                    pass
        for port in self.ports:
            port.stopListening()
        self.ports = []
        self.addressPorts = {}
        if self.statistics is not None:
            self.statistics.stop()
            self.statistics = None
        for observer in (self._syncLogger, self.metrics):
            if observer is not None:
                try:
                    self.daemon.removeObserver(observer)
                except ValueError:
                    pass
        self._syncLogger = None
        if self.metricsPort is not None:
            self.metricsPort.stopListening()
            self.metricsPort = None
        result = super().stopService()
        if self.logFile is not None:
            self.logFile.stop()
            self.logFile = None
        self._loggingStarted = False
        _log.setLogMask(None)
        return result

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
        """
        End the daemon before it runs, with C{message} as one line.

        In the foreground the line goes to the real standard error (twistd
        has turned C{sys.stderr} into a logger by now); once twistd has
        daemonized (standard error is C{/dev/null}) a L{StartupError} carries
        it to the waiting parent, which prints at most 100 bytes of it: the
        essential part of each message comes first.
        """
        for port in self.ports:
            port.stopListening()
        self.ports = []
        self._log.error("{message}", message=message)
        if _isDevNull(2):
            raise StartupError(message)
        stream = sys.__stderr__
        if stream is not None:
            stream.write(f"ntpservice: {message}\n")
            stream.flush()
        raise SystemExit(1)


TOS_ACTED_ON = frozenset(
    {"minclock", "minsane", "maxclock", "maxdist", "mindist", "orphan", "orphanwait"}
)
"""The C{tos} options the daemon acts on (selection, orphan mode); the rest are
parsed only."""

TINKER_ACTED_ON = frozenset(
    {"step", "stepback", "stepfwd", "stepout", "panic", "allan", "freq"}
)
"""The C{tinker} options the discipline acts on; the rest are parsed only."""

SWITCHES_AS_IF = {
    "calibrate": False,
    "mode7": False,
    "peer_clear_digest_early": True,
    "unpeer_crypto_early": True,
    "unpeer_crypto_nak_early": True,
    "unpeer_digest_early": True,
}
"""
The C{enable}/C{disable} flags the daemon does not act on, with the setting
it behaves as: a line asking for the other setting is not acted on. (C{ntp},
C{stats}, C{monitor}, C{kernel}, C{auth} (symmetric passive, broadcast and
manycast mobilization), C{bclient} and the mode plugins' names are acted on.)
"""

INACTIVE_REASONS = {
    "nonvolatile": "the drift file is written hourly, whatever the threshold",
    "dscp": "packets are sent with the system's default DSCP",
    "saveconfigdir": "saveconfig is not implemented",
    "pidfile": "use twistd's --pidfile",
    "requestkey": "mode 7 is not answered",
    "rlimit": "resource limits are not changed yet",
    "phone": "modem reference clocks are not implemented",
    "trap": "mode 6 traps are not implemented yet",
}
"""Why the lines of these directives have no effect yet."""


def inactiveWarnings(configuration: Any) -> list[str]:
    """
    Name every line of C{configuration} that the daemon parses but does not
    act on (or not completely), as C{FILE:LINE: message}, so that nothing
    is silently ignored. The parser's own warnings
    (L{Configuration.warnings <ntpservice.config.Configuration.warnings>})
    and the association lines no mode plugin handles (warned by the
    daemon when it starts) are not repeated here.

    @return: the warnings, in file order within each kind of line.
    """
    warnings: list[str] = []

    def warn(source: Any, message: str) -> None:
        warnings.append(f"{source}: {message}")

    for line in configuration.associations:
        address = getattr(line, "address", None)
        if address is None or getattr(line, "isRefclock", False):
            continue
        ignored = sorted({"xleave"} & set(line.flags))
        if line.ttl is not None and line.directive not in ("broadcast", "manycastclient"):
            ignored.append("ttl")
        if ignored:
            warn(
                line.source,
                f"{line.directive} {address}: {', '.join(ignored)} not implemented "
                "yet; ignored",
            )
    for tos in configuration.tosDirectives:
        names = [name for name, _ in tos.options if name not in TOS_ACTED_ON]
        if names:
            warn(tos.source, f"tos {', '.join(names)} not implemented yet; ignored")
    for tinker in configuration.tinkerDirectives:
        names = [name for name, _ in tinker.options if name not in TINKER_ACTED_ON]
        if names:
            warn(
                tinker.source, f"tinker {', '.join(names)} not implemented yet; ignored"
            )
    for switch in configuration.switchDirectives:
        names = [
            name
            for name in switch.names
            if name in SWITCHES_AS_IF and SWITCHES_AS_IF[name] != switch.enabled
        ]
        if names:
            warn(
                switch.source,
                f"{switch.directive} {' '.join(names)} not implemented yet; ignored",
            )
    for restrict in configuration.restrictions:
        if restrict.directive != "restrict":
            continue
        flags = sorted({"mssntp"} & set(restrict.flags))
        if flags:
            warn(
                restrict.source, f"restrict {', '.join(flags)} not implemented; ignored"
            )
    for mru in configuration.mruDirectives:
        names = [
            name
            for name, _ in mru.options
            if name in ("initalloc", "initmem", "incalloc", "incmem")
        ]
        if names:
            warn(
                mru.source, f"mru {', '.join(names)} ignored (the list grows as needed)"
            )
    drift = configuration.driftfile
    if drift is not None and drift.tolerance is not None:
        warn(drift.source, "driftfile tolerance ignored")
    # Reference clocks: a fudge line no clock line names, and the fudge
    # options a driver says it ignores (its optional ignoredOptions).
    try:
        clocks = {line.address: line for line in refClockLines(configuration)}
    except (RefClockConfigError, RefClockPluginError):
        clocks = {}
    for refclock in configuration.refclocks:
        if refclock.directive != "fudge":
            continue
        clock = clocks.get(refclock.target)
        if clock is None:
            warn(
                refclock.source,
                f"fudge {refclock.target}: no server or refclock line names it; ignored",
            )
            continue
        ignoredOptions = getattr(clock.factory, "ignoredOptions", ())
        ignored = [w for w in refclock.arguments if w in ignoredOptions]
        if ignored:
            warn(
                refclock.source,
                f"fudge {', '.join(ignored)} ignored by the "
                f"{str(clock.factory.name).upper()} clock",
            )
    for field, directive in (
        ("nonvolatile", "nonvolatile"),
        ("dscp", "dscp"),
        ("saveconfigdir", "saveconfigdir"),
        ("pidfile", "pidfile"),
        ("requestKey", "requestkey"),
    ):
        line = getattr(configuration, field, None)
        if line is not None:
            reason = INACTIVE_REASONS[directive]
            warn(line.source, f"{directive} has no effect: {reason}")
    for field, directive in (
        ("rlimitDirectives", "rlimit"),
        ("phones", "phone"),
        ("traps", "trap"),
    ):
        for line in getattr(configuration, field, ()):
            reason = INACTIVE_REASONS[directive]
            warn(line.source, f"{directive} has no effect: {reason}")
    return warnings


_LOCATION = re.compile(r"^(?P<path>.*?):(?P<line>\d+): ")


def inFileOrder(warnings: Iterable[str], files: Iterable[str] = ()) -> list[str]:
    """
    Sort C{FILE:LINE: message} lines as the lines they name appear: by
    file (in the order of C{files}, the main file first), then by line;
    lines without a location come last, and equal locations keep their
    order.
    """
    order = {path: index for index, path in enumerate(files)}

    def key(warning: str) -> tuple[int, str, int]:
        match = _LOCATION.match(warning)
        if match is None:
            return (len(order) + 1, "", 0)
        path = match.group("path")
        return (order.get(path, len(order)), path, int(match.group("line")))

    return sorted(warnings, key=key)


def _loopbackOnly(spec: ListenSpec) -> bool:
    """
    Whether a socket bound like C{spec} can only talk to loopback
    addresses.
    """
    if spec.device is not None:
        return spec.device == "lo"
    address = ipaddress.ip_address(spec.address.partition("%")[0])
    return address.is_loopback


def _reaches(spec: ListenSpec, address: Any) -> bool:
    """
    Whether requests sent from a socket bound like C{spec} can reach the
    server at C{address} (an L{ipaddress} address) and its replies come
    back: same family, and loopback only to loopback.
    """
    if spec.family != (socket.AF_INET6 if address.version == 6 else socket.AF_INET):
        return False
    if _loopbackOnly(spec):
        return address.is_loopback
    if spec.device is None and spec.address in ("0.0.0.0", "::"):
        return True
    return not address.is_loopback


def unreachableServers(
    listen: Iterable[ListenSpec], configuration: Any
) -> list[str]:
    """
    The C{server} and C{pool} lines whose servers the bound sockets cannot
    reach: the daemon sends its requests from the sockets it listens on (as
    ntpd does), so C{-I 127.0.0.1} also cuts it off from every server that
    is not on a loopback address.

    An address is checked against each socket's address family and
    scope; a host name, which is only resolved later, is named when every
    socket is on loopback.

    @param listen: the sockets bound.
    @return: one C{FILE:LINE: message} per line that cannot be reached.
    """
    specs = list(listen)
    if not specs or all(
        s.device is None and s.address in ("0.0.0.0", "::") for s in specs
    ):
        return []
    where = ", ".join(s.address if s.device is None else s.device for s in specs)
    warnings = []
    for line in configuration.associations:
        address = getattr(line, "address", None)
        if (
            line.directive not in ("server", "pool")
            or address is None
            or getattr(line, "isRefclock", False)
        ):
            continue
        try:
            parsed = ipaddress.ip_address(address.partition("%")[0])
        except ValueError:
            parsed = None
        if parsed is not None:
            reachable = any(_reaches(spec, parsed) for spec in specs)
        else:
            reachable = address.lower() == "localhost" or not all(
                _loopbackOnly(spec) for spec in specs
            )
        if not reachable:
            warnings.append(
                f"{line.source}: {line.directive} {address} cannot be reached: "
                f"the daemon sends its requests from the addresses it listens on "
                f"(-I {where}); add an -I that leads to it, or leave -I out"
            )
    return warnings


def makeNTPService(
    configuration: Any,
    port: int = NTP_PORT,
    interfaces: tuple[str, ...] = (),
    clockAdjust: bool = True,
    reactor: Any = None,
    panicGate: bool = False,
    quit: bool = False,
    metricsPort: int | None = None,
    metricsAddress: str = METRICS_ADDRESS,
    quitTimeout: float | None = None,
    fastPath: str | None = None,
    fastPathThreads: int | None = None,
    ipVersion: int | None = None,
    updateInterval: float | None = DEFAULT_INTERVAL,
    noVirtual: bool = False,
    identity: Any = None,
) -> NTPService:
    """
    Build the daemon from a validated configuration and the command line.

    @param updateInterval: C{-U}: seconds between scans of the local
        addresses (0: only on the kernel's announcements); C{None}: the
        addresses are not followed.
    @param noVirtual: C{-L}.
    @param identity: C{-u}: the L{ntpservice.privileges.Identity} to run
        as, or C{None}.

    @param clockAdjust: C{False} for C{--no-clock-adjust}; C{disable ntp} in
        the configuration has the same effect: the no-adjust driver, and
        the discipline runs open loop (it measures the clock, corrects
        nothing and never writes the drift file).
    @param metricsPort: C{--metrics-port}: the TCP port of the Prometheus
        endpoint, or C{None} (the default) for none.
    @param metricsAddress: C{--metrics-address}.
    @param quitTimeout: C{--quit-timeout}: seconds, or C{None} for
        L{defaultQuitTimeout}.
    @param fastPath: C{--fast-path}: C{"off"} answers every request in
        Python; C{"on"} or C{None} (then C{NTPSERVICE_FASTPATH} decides) uses
        the compiled fast path when it is installed.
    @param fastPathThreads: C{--fast-path-threads}.
    @param ipVersion: C{-4}/C{-6}: 4 or 6 to use that address family only
        (sockets and name resolution, see L{listenSpecs} and
        L{restrictFamily}), C{None} for both.
    """
    adjust = clockAdjust and configuration.clockAdjust
    configuration = restrictFamily(configuration, ipVersion)
    rules = interfaceRules(configuration)
    perAddress = not interfaces and wildcardIgnored(rules)
    return NTPService(
        configuration,
        defaultClockDriver(adjust),
        [] if perAddress else listenSpecs(interfaces, ipVersion),
        port=port,
        accept=interfaceFilter(rules),
        driftFile=resolveDriftFile(driftFilePath(configuration)),
        reactor=reactor,
        panicGate=panicGate,
        quit=quit,
        metricsPort=metricsPort,
        metricsAddress=metricsAddress,
        clockAdjust=adjust,
        quitTimeout=quitTimeout,
        fastPath=fastPath,
        fastPathThreads=fastPathThreads,
        updateInterval=updateInterval,
        noVirtual=noVirtual,
        perAddress=perAddress,
        rules=rules,
        identity=identity,
        ipVersion=ipVersion,
    )


def wildcardIgnored(rules: Iterable[InterfaceRule]) -> bool:
    """
    Whether the last C{interface ... wildcard} line says C{ignore} or
    C{drop}: then no wildcard socket is bound, and each local address the
    rules serve gets a socket of its own (ntpd's model), opened and closed
    as addresses come and go.
    """
    action = "listen"
    for rule in rules:
        if rule.kind == "wildcard":
            action = rule.action
    return action != "listen"


def interfaceRules(configuration: Any) -> list[InterfaceRule]:
    """
    The C{interface}/C{nic} lines of C{configuration}.
    """
    rules = []
    for line in configuration.interfaces:
        match = line.match
        if line.kind == "address":
            match = f"{line.address}/{line.prefixLength}"
        rules.append(InterfaceRule.make(line.action, line.kind, match))
    return rules


def driftFilePath(configuration: Any) -> str | None:
    """
    The C{driftfile} path of C{configuration}, or C{None}.
    """
    drift = configuration.driftfile
    return None if drift is None else drift.path
