# -*- test-case-name: tests.test_daemon -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The shell around the synchronization engine: timers, sockets, the clock
driver, the drift file and the mode plugins.

L{NTPDaemon} turns the pure L{Engine}'s actions into deeds (datagrams,
clock corrections, log lines) and the world's events (datagrams, timer
expiries) into engine calls. It keeps one timer for the next poll (armed
from L{Engine.nextDeadline}, as aioquic arms one from C{get_timer}) and a
once-a-second tick for the clock-adjust process. Everything that reads time
reads the clock driver; everything that waits uses the injected reactor, so
the same code runs on the real clock and in the simulator.
"""

from __future__ import annotations

import difflib
import random
from typing import Any, Callable, Iterable, Iterator, Sequence

from zope.interface import implementer

from twisted.internet.task import LoopingCall

from ntpservice import _log
from ntpservice.core import actions as A
from ntpservice.auth.keys import KeyRing
from ntpservice.auth.keyring import admitReply, authenticates, signFor
from ntpservice.auth.mac import AuthStatus
from ntpservice.control.mode6 import ControlHandler
from ntpservice.coreconfig import mruSettings, restrictTable
from ntpservice.core.mru import MRUList
from ntpservice.core import counters as C
from ntpservice.core.association import (
    FLASH_NAMES,
    Association,
    AssociationSettings,
    AssociationTable,
    RefClockSource,
)
from ntpservice.core.authenticator import NO_AUTHENTICATION
from ntpservice.core.discipline import Discipline
from ntpservice.core.dispatch import Dispatch, dispatch
from ntpservice.core.engine import (
    Demobilize,
    Done,
    Engine,
    Panic,
    PollRefClock,
    ReachChanged,
    SelectionHeld,
    STARTUP_WINDOW,
    SendPacket,
    SystemPeerChanged,
)
from ntpservice.core.packet import NTPPacket
from ntpservice.core.peer import acceptsMode
from ntpservice.core.refid import formatRefid
from ntpservice.core.selection import SelectionSettings
from ntpservice.core.snapshot import StatusEvents
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.coreconfig import disciplineSettings
from ntpservice.driftfile import DriftFileError, readDriftFile, writeDriftFile
from ntpservice.interfaces import (
    OBSERVER_METHODS,
    IDaemonObserver,
    IAssociationView,
    IDaemon,
    IDatagramHandler,
    IPacketClaimant,
    IRuntimeConfigurable,
    ISourceSpawner,
)
from ntpservice.net.multiplexer import ModeTable
from ntpservice.net.resolve import HostResolver
from ntpservice.net.sockets import SocketOwner
from ntpservice.net.udp import ReceivedDatagram
from ntpservice.refclocks import RefClockOptions, byDriverType, loadRefClockPlugins

DRIFT_WRITE_INTERVAL = 3600.0
"""Seconds between drift file writes (ntpd: hourly)."""

LOCAL_REFRESH_INTERVAL = 64.0
"""Seconds between refreshes of the LOCAL clock's reference time."""

COUNT_PROCESSED = "processed"
"""Packets that matched an association and passed its checks."""


HOLD_REASONS = {
    "startup": "waiting for the other sources to answer (at most "
    f"{STARTUP_WINDOW:.0f} s)",
    "contradicted": "most of the answering sources disagree with its offset",
}
"""What the log says for each reason of L{SelectionHeld}."""


def counterForFlash(flash: int) -> str:
    """The counter name of a failed sanity check."""
    for bit, name in FLASH_NAMES.items():
        if flash & bit:
            return f"peer.{name}"
    return "peer.rejected"


def checkObserver(observer: Any) -> None:
    """
    Check a daemon observer: it declares L{IDaemonObserver}, and none of
    its public methods has a name that is close to one of
    L{IDaemonObserver}'s without being it (C{peerPackets},
    C{clockupdated}): such a method would never be called, and the
    observer would miss its events without a word.

    @raise TypeError: naming the method and the one it resembles.
    """
    if not IDaemonObserver.providedBy(observer):
        raise TypeError(
            f"{observer!r} is not an IDaemonObserver: declare it with "
            "@implementer(IDaemonObserver)"
        )
    lowered = {name.lower(): name for name in OBSERVER_METHODS}
    for name in dir(observer):
        if name.startswith("_") or name in OBSERVER_METHODS:
            continue
        if not callable(getattr(observer, name, None)):
            continue
        close = lowered.get(name.lower()) or next(
            iter(difflib.get_close_matches(name, OBSERVER_METHODS, n=1, cutoff=0.8)), None
        )
        if close is not None:
            raise TypeError(
                f"{observer!r} defines {name}, which is not an IDaemonObserver "
                f"method: did you mean {close}?"
            )


def pollRange(configuration: Any) -> tuple[int, int]:
    """
    The range of the system poll exponent: from the smallest C{minpoll} to
    the largest C{maxpoll} of the configured associations (ntpd bounds it by
    its system peer's; without associations, 6 to 10, ntpd's defaults).
    """
    lines = [
        a for a in configuration.associations if hasattr(a, "minPollLog2")
    ]
    if not lines:
        return 6, 10
    return (
        min(a.minPollLog2 for a in lines),
        max(a.maxPollLog2 for a in lines),
    )


class _RefClockSink:
    """
    The L{IRefClockSink <ntpservice.interfaces.IRefClockSink>} of one
    reference clock: its samples go to the engine's entry point for its
    association, and what follows is carried out.
    """

    def __init__(self, daemon: "NTPDaemon", associd: int) -> None:
        self._daemon = daemon
        self._associd = associd

    def now(self) -> float:
        return self._daemon._now()

    def sample(self, offset: float, dispersion: float, leap: int, time: float) -> None:
        daemon = self._daemon
        if self._associd not in daemon.engine.associations.byID:
            return
        lastUpdate = daemon.engine.discipline.lastUpdate
        now = daemon._now()
        daemon._do(
            daemon.engine.refclockSample(
                self._associd, offset, dispersion, leap, time, now
            )
        )
        if daemon.engine.discipline.lastUpdate != lastUpdate:
            daemon._notify("clockUpdated", now)
        daemon._arm()


@implementer(IDatagramHandler)
class _AssociationPackets:
    """
    The handler the mode table uses for packets that belong to an
    association.
    """

    def __init__(self, daemon: NTPDaemon) -> None:
        self._daemon = daemon

    def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
        self._daemon.associationPacket(packet, datagram)


@implementer(IAssociationView)
class AssociationView:
    """
    The engine's association table, read only: what plugins and observers
    see of it.
    """

    def __init__(self, table: AssociationTable) -> None:
        self._table = table

    def find(self, address: str, port: int) -> Association | None:
        return self._table.find(address, port)

    def get(self, associd: int) -> Association | None:
        return self._table.byID.get(associd)

    def __iter__(self) -> Iterator[Association]:
        return iter(sorted(self._table.byID.values(), key=lambda a: a.associd))

    def __len__(self) -> int:
        return len(self._table)


@implementer(IDaemon)
class NTPDaemon:
    """
    One daemon's engine, plugins and timers.

    @ivar engine: the L{Engine}.
    @ivar events: the event counts of every status word
        (L{StatusEvents}): the one bookkeeping that mode 6 and the
        statistics files read, fed before any observer.
    @ivar instances: the running mode instances, by plugin name.
    @ivar exitStatus: set when the daemon decided to stop by itself
        (C{-q} done: 0; panic: 1), else C{None}.
    """

    _log = _log.Logger()

    def __init__(
        self,
        configuration: Any,
        clock: Any,
        reactor: Any,
        counters: C.PacketCounters,
        modes: ModeTable,
        plugins: Sequence[Any],
        *,
        panicGate: bool = False,
        quit: bool = False,
        driftFile: str | None = None,
        localClock: Any = None,
        rng: Any = None,
        stop: Callable[[], None] | None = None,
        keyring: KeyRing | None = None,
        clockAdjust: bool = True,
        refclocks: Iterable[Any] | None = None,
    ) -> None:
        """
        @param refclocks: the available reference clock drivers
            (L{IRefClockFactory <ntpservice.interfaces.IRefClockFactory>});
            C{None}: every installed one.
        @param clockAdjust: whether the clock driver's corrections change
            the clock: C{False} (C{--no-clock-adjust}, C{disable ntp}) runs
            the discipline open loop, and the drift file is neither read
            nor written.
        """
        self.configuration = configuration
        self.clock = clock
        self.reactor = reactor
        self.counters = counters
        self.modes = modes
        self.driftFile = driftFile
        self.exitStatus: int | None = None
        self._stop = stop
        self.sockets = SocketOwner(counters)
        self._restrictResolver: HostResolver | None = None
        self._spawners: dict[int, ISourceSpawner] = {}
        self._timer: Any = None
        self._tick: LoopingCall | None = None
        self._lastDriftWrite = 0.0
        self._lastLocalRefresh = 0.0
        self._quit = quit
        self.keyring = keyring if keyring is not None else KeyRing()
        self._observers: list[Any] = []
        self._refclockFactories = byDriverType(
            loadRefClockPlugins() if refclocks is None else refclocks
        )
        self.refclocks: dict[int, Any] = {}
        rng = rng if rng is not None else random.SystemRandom()
        self.restrictions = restrictTable(configuration.restrictions)
        self.mru: MRUList | None = None
        if configuration.isEnabled("monitor") or self.restrictions.hasLimited:
            self.mru = MRUList(
                mruSettings(configuration.mruDirectives),
                configuration.discard,
                rng.random,
            )
        precision = clock.precision()
        initialFreq = self._readDrift() if clockAdjust else None
        if not clockAdjust and driftFile is not None:
            self._log.info(
                "The clock is not adjusted: its offset and frequency are only "
                "measured, and the drift file {path} is neither read nor written",
                path=driftFile,
            )
        minPoll, maxPoll = pollRange(configuration)
        discipline = Discipline(
            disciplineSettings(
                configuration.tinker,
                minPollLog2=minPoll,
                maxPollLog2=maxPoll,
                algorithm=configuration.disciplineAlgorithm,
            ),
            initialFreqPPM=initialFreq,
            allowBigFirstStep=panicGate,
            quitAfterSet=quit,
            openLoop=not clockAdjust,
        )
        tos = configuration.tos
        self.engine = Engine(
            precisionLog2=precision,
            discipline=discipline,
            rng=rng,
            selectionSettings=SelectionSettings(
                minclock=tos.minclock,
                minsane=tos.minsane,
                maxclock=tos.maxclock,
                maxdist=tos.maxdist,
                mindist=tos.mindist,
                precision=2.0**precision,
            ),
            localClock=localClock,
        )
        self.associations = AssociationView(self.engine.associations)
        if localClock is not None:
            self.engine.refreshLocalClock(self._now())
        self.events = StatusEvents(self.engine)
        self.instances: dict[str, Any] = {}
        self._ownedDirectives = {d for plugin in plugins for d in plugin.directives}
        self._directiveOwners: dict[str, Any] = {}
        for plugin in plugins:
            instance = plugin.build(self)
            self.instances[plugin.name] = instance
            for directive in plugin.directives:
                self._directiveOwners[directive] = instance
            for spec in plugin.packetModes:
                modes.register(spec, instance)
            if IPacketClaimant.providedBy(instance):
                for spec in instance.claimedModes:
                    modes.claim(spec, instance)
        self._associationPackets = _AssociationPackets(self)
        modes.setAssociations(self)
        self.control = ControlHandler(self)
        modes.register(6, self.control)

    # -- IDaemon ---------------------------------------------------------

    def system(self) -> SystemVariables:
        return self.engine.system

    def mobilize(
        self, settings: AssociationSettings, spawner: ISourceSpawner | None = None
    ) -> Association:
        association = self.engine.mobilize(settings, self._now())
        if spawner is not None:
            self._spawners[association.associd] = spawner
        # The 'restrict source' template, as ntpd's restrict_source().
        self.restrictions.addSource(association.address)
        self._notify("associationEvent", association.associd, association.address, "mobilize")
        self._arm()
        return association

    def demobilize(self, associd: int, reason: str) -> None:
        self._do(self.engine.demobilize(associd, reason))

    def runtimeConfigurable(self, directive: str) -> IRuntimeConfigurable | None:
        """
        The running mode instance that owns C{directive} and takes it at
        run time (C{ntpq :config}), or C{None}.
        """
        instance = self._directiveOwners.get(directive)
        if instance is not None and IRuntimeConfigurable.providedBy(instance):
            return instance  # type: ignore[no-any-return]
        return None

    # -- observers ------------------------------------------------------

    def addObserver(self, observer: Any) -> None:
        """
        Tell C{observer} what happens (statistics files, metrics, mode 6,
        logs): it provides L{IDaemonObserver}, whose methods are all
        optional; those it defines are called, after L{events} has counted
        the event.

        An observer that raises is logged and kept.

        @raise TypeError: if C{observer} does not declare
            L{IDaemonObserver}, or defines a method whose name is a near
            miss of one of its methods (see L{checkObserver}).
        """
        checkObserver(observer)
        self._observers.append(observer)

    def removeObserver(self, observer: Any) -> None:
        self._observers.remove(observer)

    def _notify(self, event: str, *args: Any) -> None:
        # The one event bookkeeping first, so that every observer reads
        # status words that already count this event.
        for observer in (self.events, *self._observers):
            method = getattr(observer, event, None)
            if method is None:
                continue
            try:
                method(*args)
            except Exception:
                self._log.failure("Observer {observer!r} failed on {event}",
                                  observer=observer, event=event)

    # -- life cycle -----------------------------------------------------

    def setSenders(self, senders: Iterable[Any]) -> None:
        """
        The protocols of the bound sockets, through which associations and
        plugins send: each is added to L{sockets} by its bound address.
        """
        for protocol in senders:
            self.sockets.add(protocol)

    def send(
        self,
        data: bytes | Callable[[], bytes],
        destination: tuple[str, int],
        localAddress: str | None = None,
        ttl: int | None = None,
        interface: int | None = None,
    ) -> bool:
        """
        Send a datagram through the daemon's sockets (see
        L{IDaemon.send}).
        """
        return self.sockets.send(data, destination, localAddress, ttl, interface)

    def start(self) -> None:
        """
        Start the mode instances and the timers.
        """
        self._tick = LoopingCall(self._everySecond)
        self._tick.clock = self.reactor
        self._tick.start(1.0, now=False)
        for directive in self.configuration.associations:
            if directive.directive not in self._ownedDirectives:
                self._log.warn(
                    "{source}: no running mode plugin handles {directive} lines "
                    "(not implemented yet, or disabled); this line has no effect",
                    source=str(directive.source),
                    directive=directive.directive,
                )
        self._resolveRestrictions()
        for instance in self.instances.values():
            instance.start()
        self._startRefClocks()
        self._arm()

    def _resolveRestrictions(self) -> None:
        """
        Resolve the host names of C{restrict} lines without blocking; each
        line applies (one host entry per address, as in ntpd) once its name
        resolved, retried with back-off while it does not.
        """
        unresolved = list(getattr(self.restrictions, "unresolved", ()))
        if not unresolved:
            return
        self._restrictResolver = HostResolver(self.reactor)
        for rule in unresolved:

            def resolved(addresses: list[str], rule: Any = rule) -> None:
                self.restrictions.applyResolved(rule, addresses)
                self._log.info(
                    "{source}: {directive} {name} applies to {addresses}",
                    source=str(rule.source),
                    directive=rule.directive,
                    name=rule.address,
                    addresses=", ".join(addresses),
                )

            self._restrictResolver.resolve(rule.address, rule.ipVersion, resolved)

    def _startRefClocks(self) -> None:
        """
        Build, mobilize and start the reference clock of each C{server
        127.127.t.u} line whose driver is installed. The LOCAL clock
        (driver 1) still runs as the engine's C{localClock}.
        """
        for directive in self.configuration.associationsFor("server"):
            driverType = getattr(directive, "refclockType", None)
            if driverType is None or driverType == 1:
                continue
            factory = self._refclockFactories.get(driverType)
            if factory is None:
                self._log.warn(
                    "{source}: no reference clock driver of type {type} is "
                    "installed; this server line is ignored",
                    source=str(directive.source),
                    type=driverType,
                )
                continue
            unit = directive.refclockUnit
            source = RefClockSource(
                driverType,
                unit,
                factory.stratum,
                bytes(factory.refid).ljust(4, b"\0"),
                factory.precision,
                bool(factory.lastResort),
            )
            settings = AssociationSettings(
                source.address,
                minPollLog2=directive.minPollLog2,
                maxPollLog2=directive.maxPollLog2,
                prefer=directive.prefer,
                noselect=directive.noselect,
                truechimer=directive.truechimer,
                name=f"{factory.name.upper()}({unit})",
                origin="refclock",
                refclock=source,
            )
            association = self.mobilize(settings)
            sink = _RefClockSink(self, association.associd)
            clock = factory.build(
                RefClockOptions(unit=unit, source=str(directive.source)), sink, self.reactor
            )
            self.refclocks[association.associd] = clock
            clock.start()

    def stop(self) -> None:
        """
        Stop polling; save the frequency.
        """
        if self._restrictResolver is not None:
            self._restrictResolver.cancel()
        for instance in self.instances.values():
            instance.stop()
        for clock in self.refclocks.values():
            clock.stop()
        if self._tick is not None and self._tick.running:
            self._tick.stop()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self.engine.systemPeer is not None or self.engine.discipline.state != "NSET":
            self._writeDrift()

    # -- packets --------------------------------------------------------

    def match(self, packet: NTPPacket, datagram: ReceivedDatagram) -> Any:
        """
        The handler for C{packet} if it belongs to an association: the RFC
        5905 dispatch table says PROC (or ERR). Any other combination falls
        through to the mode plugins, as ntpd's association matching does
        (a client polling us while we poll it is still answered).
        """
        association = self.engine.find(datagram.source[0], datagram.source[1])
        if association is None:
            return None
        if dispatch(association.hmode, packet.mode) in (Dispatch.PROC, Dispatch.ERR):
            return self._associationPackets
        # A broadcast client's calibration replies (mode 4), while it
        # calibrates: its peer process says so.
        if acceptsMode(association.process, packet.mode):
            return self._associationPackets
        return None

    def associationPacket(self, packet: NTPPacket, datagram: ReceivedDatagram) -> None:
        """
        A packet for an association: through the peer process.
        """
        association = self.engine.find(datagram.source[0], datagram.source[1])
        if association is None:
            return
        rxTime = datagram.rxTime
        assert rxTime is not None
        authenticator = association.settings.authenticator
        # restrict applies to servers' replies too, as in ntpd (seed 002's
        # comment warns about it): ignore, noserve and notrust without a MAC
        # drop them here; limited does not (a reply is not a request).
        auth, decision = admitReply(datagram, packet, self.keyring, self.restrictions)
        if decision.action != "answer" and not (
            decision.action == "nak" and authenticator is not NO_AUTHENTICATION
        ):
            self.counters.count(f"access.{decision.reason}")
            return
        if authenticator is not NO_AUTHENTICATION:
            # Seed 004 checks 5 and 11: on an authenticated association only
            # a reply that verifies with our key counts; a crypto-NAK is
            # noted but never demobilizes by itself.
            if not authenticates(authenticator, auth):
                name = "cryptonak" if auth.status is AuthStatus.CRYPTO_NAK else "failed"
                self.counters.count(f"peer.auth.{name}")
                association.authenticationFailed()
                return
        t4 = NTPTimestamp.fromUnixNanoseconds(rxTime)
        t1 = association.lastT1
        lastUpdate = self.engine.discipline.lastUpdate
        result, out = self.engine.receive(association, packet, t4, rxTime / 1e9)
        self._notify("peerPacket", association, packet, result, t1, t4, datagram)
        if self.engine.discipline.lastUpdate != lastUpdate:
            self._notify("clockUpdated", rxTime / 1e9)
        if result.accepted:
            self.counters.count(COUNT_PROCESSED)
        else:
            self.counters.count(counterForFlash(result.flash) if result.flash else "peer.kod")
        if result.kissCode in ("DENY", "RSTR", "RATE"):
            self._log.warn(
                "Kiss-o'-Death {code} from {address}",
                code=result.kissCode,
                address=association.address,
            )
        self._do(out)
        self._arm()

    def _send(self, action: SendPacket) -> None:
        association = self.engine.associations.byID.get(action.associd)
        signed = signFor(
            action.authenticator, action.transmission.packet.encode(), self.keyring
        )
        if signed is None:
            self.counters.count("send.nokey")
            self._log.error(
                "Key {keyID} of association {associd} is no longer in the "
                "keys file; not sending",
                keyID=action.authenticator.keyID,
                associd=action.associd,
            )
            return
        encoded = signed
        clock = self.clock

        def stamped() -> bytes:
            # The exact send time, read as the last thing before the
            # system call, is the association's T1.
            if association is not None:
                association.sentAt(NTPTimestamp.fromUnixNanoseconds(clock.now()))
            return encoded

        localAddress = association.settings.localAddress if association else None
        self.sockets.send(stamped, (action.address, action.port), localAddress)

    # -- timers ---------------------------------------------------------

    def _now(self) -> float:
        return self.clock.now() / 1e9

    def _arm(self) -> None:
        deadline = self.engine.nextDeadline()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if deadline is None or self._tick is None:
            return
        delay = max(0.0, deadline - self._now())
        self._timer = self.reactor.callLater(delay, self._pollDue)

    def _pollDue(self) -> None:
        self._timer = None
        self._do(self.engine.poll(self._now()))
        self._arm()

    def _everySecond(self) -> None:
        now = self._now()
        self._do(self.engine.adjust(now))
        if now - self._lastLocalRefresh >= LOCAL_REFRESH_INTERVAL:
            self._lastLocalRefresh = now
            self.engine.refreshLocalClock(now)
        if (
            now - self._lastDriftWrite >= DRIFT_WRITE_INTERVAL
            and self.engine.discipline.state not in ("NSET", "FSET")
        ):
            self._lastDriftWrite = now
            self._writeDrift()

    # -- actions --------------------------------------------------------

    def _do(self, actions: Iterable[Any]) -> None:
        clock = self.clock
        for action in actions:
            if isinstance(action, SendPacket):
                self._send(action)
            elif isinstance(action, PollRefClock):
                clock = self.refclocks.get(action.associd)
                if clock is not None:
                    clock.poll()
            elif isinstance(action, A.Slew):
                self._clockCall(clock.slew, action.offset)
            elif isinstance(action, A.SetFrequency):
                self._clockCall(clock.setFrequency, action.freqPPM)
            elif isinstance(action, A.Step):
                self._log.warn("Stepping the clock by {offset:+.6f} s", offset=action.offset)
                self._clockCall(clock.step, action.offset)
                self._notify("clockStepped", action.offset)
            elif isinstance(action, A.SetLeap):
                self._clockCall(clock.setLeap, action.leap)
            elif isinstance(action, SystemPeerChanged):
                self._systemPeerChanged(action)
                self._notify("systemPeerChanged", action.associd, action.address)
            elif isinstance(action, ReachChanged):
                event = "reachable" if action.reachable else "unreachable"
                self._log.info(
                    "{address} (association {associd}) is {event}",
                    address=action.address,
                    associd=action.associd,
                    event=event
                    if action.reachable
                    else "unreachable: no reply to the last 8 polls",
                )
                self._notify("associationEvent", action.associd, action.address, event)
            elif isinstance(action, SelectionHeld):
                self._log.info(
                    "Not synchronizing to {address} (association {associd}) yet: "
                    "{why}",
                    address=action.address,
                    associd=action.associd,
                    why=HOLD_REASONS.get(action.reason, action.reason),
                )
            elif isinstance(action, Demobilize):
                clock = self.refclocks.pop(action.associd, None)
                if clock is not None:
                    clock.stop()
                self.restrictions.removeSource(action.address)
                spawner = self._spawners.pop(action.associd, None)
                if spawner is not None:
                    spawner.associationRemoved(action.associd, action.address, action.reason)
                self._notify("associationEvent", action.associd, action.address, "demobilize")
                self._log.info(
                    "Demobilized association {associd} ({address}): {reason}",
                    associd=action.associd,
                    address=action.address,
                    reason=action.reason,
                )
            elif isinstance(action, Panic):
                self._log.critical(
                    "The clock is off by {offset:+.3f} s, beyond the panic threshold; "
                    "set it by hand, or start with -g. Exiting.",
                    offset=action.offset,
                )
                self._finish(1)
            elif isinstance(action, Done):
                self._log.info(
                    "Clock set (offset {offset:+.6f} s); exiting as -q asks",
                    offset=action.offset,
                )
                self._finish(0)

    def _clockCall(self, method: Callable[[Any], None], value: Any) -> None:
        try:
            method(value)
        except OSError as e:
            self.counters.count("clock.error")
            self._log.error("Clock driver refused a correction: {error}", error=str(e))

    def _systemPeerChanged(self, action: SystemPeerChanged) -> None:
        # One line per change, saying why the old system peer was left.
        why = ""
        if action.previous is not None:
            why = f" (association {action.previous} left: {action.reason})"
        if action.associd is None:
            self._log.info(
                "No system peer{why}: {state}", why=why, state=self._stateText()
            )
            return
        self._log.info(
            "Selected {address} (association {associd}) as system peer{why}; "
            "stratum {stratum}, refid {refid}, offset {offset:+.6f} s",
            address=action.address,
            associd=action.associd,
            why=why,
            stratum=action.stratum,
            refid=formatRefid(action.refid, action.stratum),
            offset=action.offset,
        )

    def _stateText(self) -> str:
        if self.engine.localClock is not None:
            return "synchronized to the LOCAL clock"
        return "unsynchronized"

    def _finish(self, status: int) -> None:
        if self.exitStatus is None:
            self.exitStatus = status
            self._writeDrift()
            if self._stop is not None:
                self._stop()

    def reloadKeys(self, keyring: KeyRing) -> None:
        """
        Use a new key ring (SIGHUP): associations stay as they are.
        """
        self.keyring = keyring
        self._log.info(
            "Keys reloaded: {count} keys, {trusted} trusted",
            count=len(keyring),
            trusted=len(keyring.trusted),
        )

    # -- drift file -----------------------------------------------------

    def _readDrift(self) -> float | None:
        if self.driftFile is None:
            return None
        try:
            freq = readDriftFile(self.driftFile)
        except DriftFileError as e:
            self._log.warn("Ignoring the drift file: {error}", error=str(e))
            return None
        if freq is not None:
            self._log.info(
                "Frequency {freq:+.3f} PPM from {path}", freq=freq, path=self.driftFile
            )
        return freq

    def _writeDrift(self) -> None:
        # None in open loop: no correction was made, nothing to keep.
        freq = self.engine.discipline.driftFreqPPM
        if self.driftFile is None or freq is None:
            return
        try:
            writeDriftFile(self.driftFile, freq)
        except OSError as e:
            self._log.warn(
                "Cannot write the drift file {path}: {error}",
                path=self.driftFile,
                error=e.strerror,
            )
