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
import os
import random
from dataclasses import dataclass, replace
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
from ntpservice.core.refid import formatRefid, refidFromAddress
from ntpservice.core.server import stampTransmit
from ntpservice.core.selection import SelectionSettings
from ntpservice.core.snapshot import StatusEvents
from ntpservice.clock import ClockPermissionError
from ntpservice.core.status import isSynchronized
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
from ntpservice.leapseconds import (
    DAY as LEAP_DAY,
    LEAP_NONE,
    LeapFileError,
    LeapTable,
    expiryWarning,
    formatDate,
    loadLeapFile,
    monthEnd,
)
from ntpservice.net.multiplexer import ModeTable
from ntpservice.net.resolve import HostResolver
from ntpservice.net.sockets import SocketOwner
from ntpservice.net.udp import ReceivedDatagram
from ntpservice.refclocks import (
    RefClockOptions,
    byDriverType,
    loadRefClockPlugins,
    refClockLines,
)

DRIFT_WRITE_INTERVAL = 3600.0
"""Seconds between drift file writes (ntpd: hourly)."""


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


PREFER_WINDOW = 0.4
"""Seconds: a pulse-per-second source counts while a prefer source is
within this (ntpd's rule)."""


@dataclass(frozen=True, slots=True)
class RunningRefClock:
    """
    One started reference clock.

    @ivar factory: its driver (L{IRefClockFactory
        <ntpservice.interfaces.IRefClockFactory>}).
    @ivar options: the L{RefClockOptions} it was built with.
    @ivar clock: the running L{IRefClock <ntpservice.interfaces.IRefClock>}.
    """

    factory: Any
    options: RefClockOptions
    clock: Any


def _localRefid(datagram: ReceivedDatagram) -> bytes | None:
    """
    The reference ID of our address as the sender of C{datagram} knows it
    (the address it was sent to), or C{None} when unknown: a peer whose
    reference ID it is is synchronized to us (selection's loop test), and
    orphan mode compares it with the reference IDs of the orphan parents.
    """
    address = datagram.localAddress or datagram.destination
    if not address:
        return None
    try:
        return refidFromAddress(address)
    except ValueError:
        return None


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

    def _preferPeerNear(self) -> bool:
        """
        Whether a C{prefer} source other than this clock, the system peer
        or a survivor of the last selection, is within L{PREFER_WINDOW}.
        """
        engine = self._daemon.engine
        keys = set(engine.selection.survivors) if engine.selection is not None else set()
        if engine.systemPeer is not None:
            keys.add(engine.systemPeer)
        keys.discard(self._associd)
        for key in keys:
            peer = engine.associations.byID.get(key)
            if peer is not None and peer.settings.prefer and abs(peer.offset) < PREFER_WINDOW:
                return True
        return False

    def sample(self, offset: float, dispersion: float, leap: int, time: float) -> None:
        daemon = self._daemon
        if self._associd not in daemon.engine.associations.byID:
            return
        running = daemon.refclocks.get(self._associd)
        if running is not None and getattr(running.factory, "needsPrefer", False):
            # A pulse-per-second source tells the fraction of the second
            # only: it counts while a prefer source within 0.4 s (which
            # numbers the seconds) is the system peer, as in ntpd.
            if not self._preferPeerNear():
                running.clock.baddata = getattr(running.clock, "baddata", 0) + 1
                return
        lastUpdate = daemon.engine.discipline.lastUpdate
        now = daemon._now()
        daemon._do(
            daemon.engine.refclockSample(
                self._associd, offset, dispersion, leap, time, now
            )
        )
        running = daemon.refclocks.get(self._associd)
        association = daemon.engine.associations.byID.get(self._associd)
        if running is not None and association is not None:
            timecode = str(getattr(running.clock, "timecode", "") or "")
            daemon._notify("clockSample", self._associd, association.address, timecode)
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
        rng: Any = None,
        stop: Callable[[], None] | None = None,
        keyring: KeyRing | None = None,
        clockAdjust: bool = True,
        refclocks: Iterable[Any] | None = None,
        fastPath: Any = None,
    ) -> None:
        """
        @param fastPath: the compiled server fast path
            (L{ntpservice.net.fastpath.FastPath}), or C{None}: then the MRU
            list is the pure one (L{MRUList}); with it, the MRU list is the
            fast path's, the one home both paths and mode 6 share.
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
        self._orphan = False
        self._quit = quit
        self.keyring = keyring if keyring is not None else KeyRing()
        self._observers: list[Any] = []
        self._refclockFactories = byDriverType(
            loadRefClockPlugins() if refclocks is None else refclocks
        )
        # Checked now, so that a bad fudge line is refused before anything
        # is bound.
        self._refclockLines = refClockLines(configuration, self._refclockFactories)
        # The leap seconds file, read now for the same reason.
        self.leapTable: LeapTable | None = None
        self._leapChecked = 0.0
        self._armedLeap = LEAP_NONE
        leapfile = getattr(configuration, "leapfile", None)
        if leapfile is not None:
            self.leapTable = loadLeapFile(leapfile.path, leapfile.checkHash)
        self.refclocks: dict[int, RunningRefClock] = {}
        rng = rng if rng is not None else random.SystemRandom()
        self.restrictions = restrictTable(configuration.restrictions)
        self.mru: MRUList | None = None
        if configuration.isEnabled("monitor") or self.restrictions.hasLimited:
            if fastPath is not None:
                self.mru = fastPath.makeMRU(
                    mruSettings(configuration.mruDirectives), configuration.discard
                )
            else:
                self.mru = MRUList(
                    mruSettings(configuration.mruDirectives),
                    configuration.discard,
                    rng.random,
                    leakSeed=rng.getrandbits(64),
                )
        self.fastPath = fastPath
        precision = clock.precision()
        self._clockAdjust = clockAdjust
        self._kernelSynchronized: bool | None = None
        smear = getattr(configuration, "leapSmearInterval", None)
        self._smearInterval: float | None = (
            float(smear.value) if smear is not None and smear.value > 0 else None
        )
        # The leap second (its instant) whose smear is over: the clock was
        # stepped by it, the served time is the clock's again.
        self._smearDone: float | None = None
        self._smearLeap: tuple[float, int] | None = None
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
                kernel=configuration.isEnabled("kernel"),
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
                orphan=tos.orphan,
                orphanWait=float(tos.orphanwait),
            ),
        )
        self.associations = AssociationView(self.engine.associations)
        if self.leapTable is not None:
            self.engine.leapSource = self._leapIndicator
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
        """
        The system variables served: the engine's, with a smeared leap
        second (C{leapsmearinterval}) applied and never announced.
        """
        system = self.engine.system
        if self._smearInterval is None:
            return system
        smear = self.smearSeconds(self._now())
        return replace(system, leap=LEAP_NONE if system.leap in (1, 2) else system.leap,
                       smearNs=round(smear * 1e9))

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
        # The reference clocks first: they come first in ntpq's list, as
        # their lines usually do in the configuration.
        self._startRefClocks()
        for instance in self.instances.values():
            instance.start()
        self._warnLeapExpiry()
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
        127.127.t.u} line whose driver is installed (the LOCAL clock
        among them), in the order of the configuration.
        """
        for line in self._refclockLines:
            factory = line.factory
            burst, burstInterval = factory.burst
            source = RefClockSource(
                line.driverType,
                line.options.unit,
                line.stratum,
                line.refid,
                factory.precision,
                bool(factory.lastResort),
                burst=int(burst),
                burstInterval=float(burstInterval),
            )
            settings = AssociationSettings(
                source.address,
                minPollLog2=line.minPollLog2,
                maxPollLog2=line.maxPollLog2,
                prefer=line.prefer,
                noselect=line.noselect,
                truechimer=line.truechimer,
                name=line.name,
                origin="refclock",
                refclock=source,
            )
            association = self.mobilize(settings)
            sink = _RefClockSink(self, association.associd)
            try:
                clock = factory.build(line.options, sink, self.reactor)
                self.refclocks[association.associd] = RunningRefClock(
                    factory, line.options, clock
                )
                clock.start()
            except (OSError, ValueError) as e:
                # The association stays, unreachable: ntpq shows it.
                self._log.error(
                    "{source}: reference clock {name} cannot start: {error}",
                    source=line.options.source,
                    name=line.name,
                    error=str(e),
                )

    def stop(self) -> None:
        """
        Stop polling; save the frequency.
        """
        if self._restrictResolver is not None:
            self._restrictResolver.cancel()
        for instance in self.instances.values():
            instance.stop()
        for running in self.refclocks.values():
            running.clock.stop()
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
        if datagram.fragmentSize:
            # A reply never needs IP fragments; a forged second fragment
            # can rewrite a genuine reply's timestamps (Malhotra et al.,
            # "The Security of NTP's Datagram Protocol", FC 2017).
            self.counters.count("peer.fragmented")
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
            if not authenticates(authenticator, auth, datagram.data, packet):
                name = "cryptonak" if auth.status is AuthStatus.CRYPTO_NAK else "failed"
                self.counters.count(f"peer.auth.{name}")
                association.authenticationFailed()
                return
        if dispatch(association.hmode, packet.mode) is Dispatch.ERR:
            # RFC 5905's ERR (a symmetric passive packet to our passive
            # association): the peer gave up on us. Only an authenticated
            # one gets this far, so no forgery demobilizes anything.
            self.counters.count("peer.err")
            self.demobilize(association.associd, "symmetric passive peer")
            return
        association.localRefid = _localRefid(datagram)
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
        if signed is None and action.authenticator.kind == "nts":
            # No cookie: the NTS session is exchanging keys again.
            self.counters.count("send.nts.nocookie")
            return
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
        keyring = self.keyring
        transmission = action.transmission

        def stamped() -> bytes:
            # The exact send time, read as the last thing before the
            # system call, is the association's T1.
            t1 = NTPTimestamp.fromUnixNanoseconds(clock.now())
            if association is not None:
                association.sentAt(t1)
            if transmission.stampTransmit:
                # A symmetric peer computes its offset from our transmit
                # timestamp: it is the send time, signed after stamping.
                data = stampTransmit(transmission.packet.encode(), t1)
                return signFor(action.authenticator, data, keyring) or data
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
        self._leapTick(now)
        self._kernelStatus(now)
        if self.engine.isOrphan != self._orphan:
            self._orphan = self.engine.isOrphan
            if self._orphan:
                self._log.info(
                    "No source for {wait:.0f} s: orphan parent at stratum {stratum}",
                    wait=self.engine.selectionSettings.orphanWait,
                    stratum=self.engine.system.stratum,
                )
            else:
                self._log.info("No longer an orphan parent")
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
                running = self.refclocks.get(action.associd)
                if running is not None:
                    running.clock.poll()
            elif isinstance(action, A.Slew):
                self._clockCall(clock.slew, action.offset)
            elif isinstance(action, A.SetFrequency):
                self._clockCall(clock.setFrequency, action.freqPPM)
            elif isinstance(action, A.Step):
                self._log.warn("Stepping the clock by {offset:+.6f} s", offset=action.offset)
                self._clockCall(clock.step, action.offset)
                self._notify("clockStepped", action.offset)
            elif isinstance(action, A.SetLeap):
                # The kernel is armed on the day of the leap second only
                # (see _leapTick), not when a source starts announcing it.
                pass
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
                running = self.refclocks.pop(action.associd, None)
                if running is not None:
                    running.clock.stop()
                self.restrictions.removeSource(action.address)
                spawner = self._spawners.pop(action.associd, None)
                self._notify("associationEvent", action.associd, action.address, "demobilize")
                self._log.info(
                    "Demobilized association {associd} ({address}): {reason}",
                    associd=action.associd,
                    address=action.address,
                    reason=action.reason,
                )
                # The spawner replaces it after the line saying it left.
                if spawner is not None:
                    spawner.associationRemoved(action.associd, action.address, action.reason)
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

    def _kernelStatus(self, now: float) -> None:
        """
        Once a second, when the clock is adjusted and its driver keeps the
        kernel's status (C{setSynchronized}, the Linux driver): while
        synchronized, the kernel's maxerror (the root distance) and
        esterror (the clock jitter) are refreshed and STA_UNSYNC is clear;
        when synchronization is lost (and at start) STA_UNSYNC is set,
        once.
        """
        method = getattr(self.clock, "setSynchronized", None)
        if method is None or not self._clockAdjust:
            return
        synchronized = isSynchronized(self.engine)
        if not synchronized and self._kernelSynchronized is False:
            return
        self._kernelSynchronized = synchronized
        system = self.engine.system
        try:
            if synchronized:
                rootDistance = system.rootDelay / 2 + system.rootDispersionAt(int(now * 1e9))
                method(True, rootDistance, self.engine.discipline.jitter)
            else:
                method(False)
        except OSError as e:
            self.counters.count("clock.error")
            self._log.error("Clock driver refused the kernel status: {error}", error=str(e))
            if isinstance(e, ClockPermissionError):
                # No CAP_SYS_TIME: said once, not every second.
                self._clockAdjust = False

    # -- leap seconds ---------------------------------------------------

    def _leapIndicator(self, now: float) -> int:
        """The leap indicator the leap seconds file implies at C{now}."""
        table = self.leapTable
        return table.leapIndicator(now) if table is not None else LEAP_NONE

    def kernelLeap(self, now: float) -> int:
        """
        How the clock is to be armed at C{now}: for a leap second within
        the next day (the kernel inserts or deletes it at the end of the
        UTC day it is armed on): from the leap seconds file, else from the
        system's leap indicator on the last day of a month while
        synchronized. Otherwise none.
        """
        if self._smearInterval is not None:
            # Smearing: the daemon steps the clock itself at the leap
            # second (see _leapTick), in step with the smear.
            return LEAP_NONE
        if self.leapTable is not None:
            return self.leapTable.kernelLeap(now)
        system = self.engine.system
        if self.engine.systemPeer is None or system.leap not in (1, 2):
            return LEAP_NONE
        return int(system.leap) if monthEnd(now) - now <= LEAP_DAY else LEAP_NONE

    def upcomingLeap(self, now: float) -> tuple[float, int] | None:
        """
        The next leap second as C{(instant after it, +1 or -1)}: from the
        leap seconds file, else from the system's leap indicator (at the
        end of the month) while synchronized; C{None} without one.
        """
        if self.leapTable is not None:
            return self.leapTable.nextLeap(now)
        system = self.engine.system
        if self.engine.systemPeer is None or system.leap not in (1, 2):
            return None
        return monthEnd(now), (1 if system.leap == 1 else -1)

    def smearSeconds(self, now: float) -> float:
        """
        The smear of a leap second at C{now} (C{leapsmearinterval}): 0
        until the interval before the leap second starts, then growing
        linearly to the whole second (negative for an insertion: the
        served time slows down) at the leap second, held until the daemon
        steps the clock by it, and 0 again after.
        """
        interval = self._smearInterval
        if interval is None:
            return 0.0
        leap = self._smearLeap if self._smearLeap is not None else self.upcomingLeap(now)
        if leap is None:
            return 0.0
        when, sign = leap
        if when == self._smearDone or now < when - interval:
            return 0.0
        return -sign * min(1.0, (now - (when - interval)) / interval)

    def _leapTick(self, now: float) -> None:
        """
        Once a second: arm or disarm the clock for a leap second when that
        changes (or, when smearing, step the clock by it at its instant);
        once a minute, reload the leap seconds file if it changed.
        """
        if self._smearInterval is not None:
            self._smearTick(now)
        if self.leapTable is not None and now - self._leapChecked >= 60:
            self._leapChecked = now
            try:
                changed = os.stat(self.leapTable.path).st_mtime != self.leapTable.mtime
            except OSError:
                changed = False
            if changed:
                self.reloadLeapFile()
        leap = self.kernelLeap(now)
        if leap != self._armedLeap:
            self._armedLeap = leap
            self._clockCall(self.clock.setLeap, leap)
            if leap == LEAP_NONE:
                self._log.info("Leap second disarmed")
            else:
                self._log.info(
                    "Leap second armed: one second {what} at the end of this UTC day",
                    what="inserted" if leap == 1 else "deleted",
                )

    def _smearTick(self, now: float) -> None:
        """
        Smearing: remember the leap second being smeared (so that the
        smear holds at the whole second until the step); at its instant,
        step the clock by it, which ends the smear.
        """
        if self._smearLeap is None:
            leap = self.upcomingLeap(now)
            if leap is not None and now >= leap[0] - self._smearInterval:  # type: ignore[operator]
                self._smearLeap = leap
                self._log.info(
                    "Smearing the leap second of {when} over {interval:.0f} s",
                    when=formatDate(leap[0] - 1),
                    interval=self._smearInterval,
                )
            return
        when, sign = self._smearLeap
        if now >= when:
            self._smearLeap = None
            self._smearDone = when
            if self._clockAdjust:
                self._clockCall(self.clock.step, -float(sign))
            self._log.info("Leap second smeared out; the clock stepped by {step:+d} s",
                           step=-sign)

    def reloadLeapFile(self) -> None:
        """
        Read the leap seconds file again (SIGHUP, or when it changed); a
        file that cannot be used is reported and the one in use kept.
        """
        leapfile = getattr(self.configuration, "leapfile", None)
        if leapfile is None:
            return
        try:
            table = loadLeapFile(leapfile.path, leapfile.checkHash)
        except LeapFileError as e:
            self._log.error("Leap seconds file not reloaded: {error}", error=str(e))
            return
        self.leapTable = table
        self.engine.leapSource = self._leapIndicator
        self._log.info(
            "Leap seconds file {path} read: TAI - UTC {tai} s, expires {expires}",
            path=table.path,
            tai=table.taiOffset(self._now()),
            expires=formatDate(table.expires),
        )
        self._warnLeapExpiry()

    def _warnLeapExpiry(self) -> None:
        if self.leapTable is not None:
            warning = expiryWarning(self.leapTable, self._now())
            if warning is not None:
                self._log.warn("{warning}", warning=warning)

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
                "No system peer{why}: {state}", why=why, state="unsynchronized"
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
