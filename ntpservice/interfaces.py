# -*- test-case-name: tests.clock.test_drivers,tests.net.test_multiplexer -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Every zope.interface of ntpservice, with the docstrings that are the contract.

Units: absolute times are integer nanoseconds since the Unix epoch (the unit
of C{clock_gettime} and of C{SO_TIMESTAMPNS}); offsets and durations handed
to a clock driver are float seconds; frequencies are float parts per million.
"""

from typing import Callable

from zope.interface import Attribute, Interface


class IClockDriver(Interface):
    """
    The system clock as the daemon sees it: read it, and correct it.

    Three providers exist: L{ntpservice.clock.linux.LinuxClock} (the real
    kernel clock, through adjtimex), L{ntpservice.clock.noadjust.NoAdjustClock}
    (reads the real clock, records what it would have done, changes nothing)
    and L{ntpservice.clock.simulated.SimulatedClock} (an oscillator with
    frequency error and wander, driven by a Twisted C{IReactorTime}).

    A driver never decides anything: the discipline in the core decides, the
    driver carries out.
    """

    name = Attribute("A short C{str} naming the driver, for logs: C{'linux'}.")

    canAdjust = Attribute(
        "C{bool}: whether corrections change a real clock. C{False} for the "
        "no-adjust driver, so the daemon can say so at start-up."
    )

    kernelTimescale = Attribute(
        "C{bool}: whether L{now} reads CLOCK_REALTIME, the timescale of the "
        "kernel's packet timestamps (SO_TIMESTAMPNS). When C{False} (a "
        "simulated clock) the shell stamps arriving packets with L{now}."
    )

    def now() -> int:
        """
        Read the clock.

        @return: nanoseconds since the Unix epoch (1970-01-01 UTC), as an
            C{int}.
        """

    def precision() -> int:
        """
        The precision of L{now}, as the RFC 5905 C{precision} field.

        @return: the log2 of the clock's resolution (or reading cost) in
            seconds, a negative C{int}: C{-20} is about a microsecond.
        """

    def slew(offset: float) -> None:
        """
        Amortize a correction gradually (the clock is never stepped).

        @param offset: seconds to add to the clock over time; positive when
            the clock is behind.
        """

    def step(offset: float) -> None:
        """
        Set the clock at once by C{offset} seconds (positive: forward).
        """

    def setFrequency(freqPPM: float) -> None:
        """
        Set the frequency correction of the oscillator.

        @param freqPPM: parts per million added to the clock rate; positive
            makes the clock run faster. Within +-500 (the NTP tolerance).
        """

    # Optional: setSynchronized(synchronized, maxError=16.0, estError=16.0),
    # the kernel's view of the synchronization (STA_UNSYNC, maxerror,
    # esterror); the daemon calls it once a second when the driver has it
    # (ntpservice.clock.linux.LinuxClock.setSynchronized).

    def setLeap(leap: int) -> None:
        """
        Arm or disarm a leap second at the end of the current UTC day.

        @param leap: the RFC 5905 leap indicator: 0 none, 1 insert,
            2 delete, 3 unsynchronized (treated as 0).
        """

    def status() -> "ClockStatus":
        """
        What the driver knows of the clock's state.

        @return: a L{ntpservice.clock.ClockStatus}.
        """


class IDatagramHandler(Interface):
    """
    Something the multiplexer hands decoded datagrams to.

    The multiplexer (L{ntpservice.net.multiplexer.NTPDatagramProtocol}) knows
    no mode by name: it reads the mode field of each datagram and calls the
    handler registered for that mode number. Association-mode plugins
    provide this interface (and more) in a later issue; the server side
    answering mode 3 is the first.
    """

    def datagramReceived(
        packet: object, datagram: "ReceivedDatagram", sender: "IReplySender"
    ) -> None:
        """
        Handle one datagram.

        @param packet: the decoded L{ntpservice.core.packet.NTPPacket} for
            modes 0-5; C{None} for modes 6 and 7, whose handlers decode
            C{datagram.data} themselves.
        @param datagram: the raw bytes with their addresses and receive
            timestamp (L{ntpservice.net.udp.ReceivedDatagram}); its C{rxTime}
            is always set, in the clock driver's timescale.
        @param sender: where to send replies and read the clock.
        """


class IReplySender(Interface):
    """
    What a L{IDatagramHandler} answers through: the protocol of the bound
    address the datagram arrived on.
    """

    def sendReply(
        datagram: "ReceivedDatagram", data: "bytes | Callable[[], bytes]"
    ) -> None:
        """
        Send C{data} to C{datagram}'s source, from the local address
        C{datagram} was sent to.

        @param data: the datagram, or a callable that returns it and is
            called as the last step before the system call (so a transmit
            timestamp read inside it is as late as it can be).
        """

    def now() -> int:
        """
        Read the clock driver: ns since the Unix epoch.
        """


class IPacketClaimant(IDatagramHandler):
    """
    A handler the multiplexer asks, before the owner of a route, whether it
    takes a packet that matched no association: a spawner that must see the
    replies to its own solicitations (a manycast client: mode 4 from
    servers it has no association with yet, recognised by their origin
    timestamp), without owning the mode.
    """

    claimedModes = Attribute(
        "C{tuple[int | tuple[int, str], ...]}: the routes asked, as in "
        "L{IAssociationMode.packetModes}."
    )

    def claims(packet: object, datagram: "ReceivedDatagram") -> bool:
        """
        Whether this handler takes C{packet}; if so its C{datagramReceived}
        gets it and nobody else does. Must be cheap and must not keep the
        packet.
        """


class IAssociationMode(Interface):
    """
    An association-mode plugin: one per mode (client, server, symmetric,
    broadcast, manycast, pool, orphan, ...), found with
    C{twisted.plugin.getPlugins(IAssociationMode, ntpservice.modes)} and
    checked with C{verifyObject} when loaded. A third party adds a mode by
    shipping a module with a provider of this interface (and of
    L{twisted.plugin.IPlugin}) in a package on C{ntpservice.modes}' path.

    The contract:

      - B{Directives.} L{directives} names the configuration directives the
        plugin owns; L{parseDirective} parses each line of them (the
        configuration parser calls it, and refuses the file on
        C{ntpservice.config.ConfigError}). Two plugins claiming one
        directive is an error naming both.
      - B{Packets without an association.} L{packetModes} lists the routes
        (packet modes 0-5, for every destination kind, or C{(mode, kind)}
        with a kind of C{"unicast"}, C{"broadcast"}, C{"multicast"}) this
        plugin handles when a packet matches no association: the "no
        association" row of RFC 5905 Figure 20 (FXMIT for mode 3, NEWPS for
        mode 1, MANY for mode 4, NEWBC for mode 5). Two plugins claiming one
        route is an error naming both; a unicast server and a manycast
        server share mode 3 by claiming different kinds. A mode instance
        that also provides L{IPacketClaimant} is asked first about the
        routes of its C{claimedModes}. Packets that match an association
        never reach a plugin: the engine processes them (PROC of the
        dispatch table).
      - B{Associations.} The mode instance mobilizes associations through
        L{IDaemon.mobilize}. I{Persistent} associations come from the
        configuration and live until the daemon stops; I{preemptable} ones
        (C{preempt}) come from the configuration and are demobilized when
        unreachable or when more than C{tos maxclock} associations exist
        and selection did not keep them; I{ephemeral} ones are mobilized by
        arriving packets (or spawned by C{pool}/manycast) and demobilized
        by the same rules. The lifecycle is a field of the association's
        settings; the engine applies the rules.
      - B{On and off.} L{name} is the switch: C{enable NAME} / C{disable
        NAME} in ntp.conf turn the plugin on or off, from the default
        L{enabledByDefault}. A disabled plugin still parses its directives
        (so the file stays valid) but is not built.
    """

    name = Attribute("C{str}: the plugin's unique name, as C{enable}/C{disable} use it.")
    description = Attribute("C{str}: one line for documentation and logs.")
    directives = Attribute("C{tuple[str, ...]}: the configuration directives owned.")
    packetModes = Attribute(
        "C{tuple[int | tuple[int, str], ...]}: the routes (a packet mode, or "
        "C{(mode, destination kind)}) handled when no association matches."
    )
    enabledByDefault = Attribute("C{bool}: whether the plugin runs unless disabled.")

    def parseDirective(line: object, source: object) -> object:
        """
        Parse one configuration line of a directive this plugin owns.

        @param line: a L{ntpservice.config.ConfigLine}.
        @param source: its L{ntpservice.config.SourceLocation}.
        @return: the parsed directive (an
            L{ntpservice.config.AssociationDirective} lands in
            C{Configuration.associations}; anything else in
            C{Configuration.extra}).
        @raise ntpservice.config.ConfigError: for a bad line.
        """

    def build(daemon: "IDaemon") -> "IModeInstance":
        """
        Make this mode's instance for one daemon.
        """


class IModeInstance(IDatagramHandler):
    """
    A mode plugin at work in one daemon. Its C{datagramReceived} gets the
    packets of its L{IAssociationMode.packetModes} that matched no
    association.
    """

    def start() -> None:
        """
        The daemon is running (sockets bound): mobilize what the
        configuration asks for.
        """

    def stop() -> None:
        """
        The daemon is stopping.
        """


class IDaemon(Interface):
    """
    What a mode instance may use of the daemon it runs in: everything a
    plugin needs, so that no plugin reaches into the daemon.
    """

    configuration = Attribute("The L{ntpservice.config.Configuration}.")
    clock = Attribute("The L{IClockDriver}.")
    reactor = Attribute("The reactor (IReactorTime, IReactorPluggableNameResolver).")
    counters = Attribute("The L{ntpservice.core.counters.PacketCounters}.")
    keyring = Attribute(
        "The L{ntpservice.auth.keys.KeyRing} in force (replaced on SIGHUP: "
        "read it when needed, do not keep it)."
    )
    restrictions = Attribute(
        "The L{ntpservice.core.restrict.RestrictTable} (C{restrict} lines)."
    )
    mru = Attribute(
        "The L{ntpservice.core.mru.MRUList} of recent sources, or C{None} "
        "when monitoring is off."
    )
    associations = Attribute(
        "An L{IAssociationView}: the associations, read only (mobilize and "
        "demobilize change them)."
    )
    sockets = Attribute(
        "The L{ntpservice.net.sockets.SocketOwner}: the bound sockets "
        "(C{joinGroup}, C{leaveGroup}: multicast modes join and leave groups "
        "with them) and the local addresses as they come and go "
        "(C{addInterfaceObserver} with an L{IInterfaceObserver})."
    )

    def system() -> object:
        """
        The current L{ntpservice.core.system.SystemVariables}.
        """

    def mobilize(settings: object, spawner: "ISourceSpawner | None" = None) -> object:
        """
        Create an association from L{ntpservice.core.association.AssociationSettings}
        and start polling.

        @param spawner: told when the association is removed, for whatever
            reason (a pool or manycast client replaces its members).
        @return: the L{ntpservice.core.association.Association}.
        @raise ValueError: if one with the same address and port exists.
        """

    def demobilize(associd: int, reason: str) -> None:
        """
        Remove an association.
        """

    def associationPacket(packet: object, datagram: object) -> None:
        """
        Hand a packet to the association of its source, as if it had
        matched it on arrival (the authentication and C{restrict} checks of
        association packets included): the packet that made a plugin
        mobilize an ephemeral association (RFC 5905's NEWPS, NEWBC) is the
        first one that association processes.
        """

    def send(
        data: "bytes | Callable[[], bytes]",
        destination: "tuple[str, int]",
        localAddress: "str | None" = None,
        ttl: "int | None" = None,
        interface: "int | None" = None,
    ) -> bool:
        """
        Send a datagram of the plugin's own (a solicitation, a broadcast)
        through the daemon's sockets (L{ntpservice.net.sockets.SocketOwner}).

        @param data: the bytes, or a callable returning them, called as the
            last step before the system call.
        @param destination: C{(address, port)}: unicast, broadcast or
            multicast.
        @param localAddress: the local address to send from, or C{None}.
        @param ttl: the IP TTL (multicast TTL for a group), or C{None}.
        @param interface: for a multicast group, the index of the interface
            to send out of, or C{None}: the routing table's choice.
        @return: whether a socket took it.
        """

    def addObserver(observer: object) -> None:
        """
        Tell C{observer}, an L{IDaemonObserver}, what happens: each of its
        methods that it defines is called (see
        L{ntpservice.daemon.NTPDaemon.addObserver}).

        @raise TypeError: if C{observer} does not provide
            L{IDaemonObserver}, or defines a method whose name is close to
            one of L{IDaemonObserver}'s without being it (a typo would
            otherwise never be called).
        """

    def removeObserver(observer: object) -> None:
        """
        Stop telling C{observer}.
        """


class IAssociationView(Interface):
    """
    The daemon's associations, read only.
    """

    def find(address: str, port: int) -> object:
        """
        The association with this remote address and port, or C{None}.
        """

    def get(associd: int) -> object:
        """
        The association with this ID, or C{None}.
        """

    def __iter__() -> object:
        """
        Every association, in ID order.
        """

    def __len__() -> int:
        """
        How many associations there are.
        """


class IRuntimeConfigurable(Interface):
    """
    A mode instance that takes lines of the directives it owns at run time
    (C{ntpq :config}): mode 6 hands each line to the owner of its
    directive, never to a plugin it knows by name.
    """

    def addDirective(directive: object) -> None:
        """
        Act on a parsed line (as L{IAssociationMode.parseDirective} made
        it), as if it had been in the configuration file.
        """

    def removeDirective(name: str) -> bool:
        """
        Stop acting on the line for C{name} (C{:config unpeer NAME}).

        @return: whether such a line was in force.
        """


class ISourceSpawner(Interface):
    """
    A mode instance that mobilizes associations of its own (pool,
    manycast client) and must know when they go away, to replace them.
    """

    def associationRemoved(associd: int, address: str, reason: str) -> None:
        """
        An association this spawner mobilized was removed (unreachable,
        preempted, a kiss, C{unpeer}, ...).
        """


class IRefClockSink(Interface):
    """
    Where a reference clock delivers its samples: the engine's one entry
    point for samples that do not come in packets
    (L{ntpservice.core.engine.Engine.refclockSample}), bound to the
    clock's association by the daemon.
    """

    def now() -> float:
        """
        The local (system) clock now, seconds since the Unix epoch: the
        time scale of every sample.
        """

    def sample(offset: float, dispersion: float, leap: int, time: float) -> None:
        """
        One measurement of the local clock against the reference.

        @param offset: seconds, positive when the local clock is behind
            the reference (RFC 5905's theta).
        @param dispersion: seconds, the error the driver claims for it
            (its own precision and jitter).
        @param leap: the leap indicator the reference announces (0-3).
        @param time: when it was taken, local clock seconds (see L{now}).
        """


class IRefClock(Interface):
    """
    One running reference clock (a C{server 127.127.t.u} line), built by
    its L{IRefClockFactory}: it reads its device and feeds samples to its
    L{IRefClockSink}, at L{poll} or whenever the device delivers.
    """

    def start() -> None:
        """
        Open the device, start listening; called once, before the first
        L{poll}. A clock that can measure at once may deliver a sample
        here.
        """

    def stop() -> None:
        """
        Close the device; no sample is delivered after this.
        """

    def poll() -> None:
        """
        The association's poll process is due (every 2**minpoll s): deliver
        a sample if there is one (a driver that reads samples as they come
        may deliver their median here, as ntpd's drivers do).
        """


class IRefClockFactory(Interface):
    """
    A reference clock driver: a plugin found with
    C{getPlugins(IRefClockFactory, ntpservice.refclocks)} (and, for other
    packages, in their C{twisted/plugins}), in the shape of Twisted's
    C{cred_memory.py}: declarative attributes and a factory method.

    Optional: C{ignoredOptions}, a tuple of the C{fudge} options that mean
    nothing to the driver, which the start-up log names as ignored; and
    C{requiredOptions}, the options of L{RefClockOptions
    <ntpservice.refclocks.RefClockOptions>} (such as C{path}) without which
    a line is refused with C{FILE:LINE}; and C{checkOptions(options)},
    raising C{ValueError} with a message for an option value the driver
    cannot honour (refused with C{FILE:LINE} before anything is bound).
    """

    name = Attribute(
        "C{str}: the driver's name as NTPsec's C{refclock} directive writes "
        "it: C{'local'}, C{'shm'}, C{'nmea'}, ..."
    )
    driverType = Attribute(
        "C{int}: ntpd's driver type, the C{t} of C{127.127.t.u}: 1 for LOCAL, "
        "20 NMEA, 22 PPS, 28 SHM."
    )
    description = Attribute("C{str}: one line for documentation, logs and ntpq.")
    refid = Attribute(
        "C{bytes}: the default reference ID (4 bytes), for C{fudge refid} to "
        "override."
    )
    stratum = Attribute("C{int}: the default driver stratum (0-15).")
    precision = Attribute(
        "C{int}: the driver's precision, log2 seconds (ntpd's C{PRECISION})."
    )
    lastResort = Attribute(
        "C{bool}: the driver reads the system clock itself (ntpd's LOCAL): "
        "its source is selected only when no other is, it is no witness "
        "against other sources, and its samples never correct the clock."
    )
    burst = Attribute(
        "C{(polls, seconds)}: a burst of polls at start (and after a step "
        "of the clock), this many seconds apart, before the regular polls "
        "every 2**minpoll s, so that the source is selectable within "
        "seconds as a server with C{iburst} is; C{(0, 0.0)}: none."
    )

    def build(
        options: "RefClockOptions", sink: IRefClockSink, reactor: object
    ) -> IRefClock:
        """
        A clock for one C{server 127.127.t.u} line.

        @param options: the unit and the C{fudge}/C{refclock} options
            (L{ntpservice.refclocks.RefClockOptions}).
        @param sink: where its samples go.
        @param reactor: for timers and devices (IReactorTime, ...).
        @raise ValueError: with a message for the configuration line when
            an option cannot be honoured.
        """

class IDaemonObserver(Interface):
    """
    What the daemon tells its observers (mode 6, the statistics files, the
    metrics, the log lines, a test's recorder): the engine's peer and
    system events, as they happen.

    Every method is optional: an observer defines those it wants (zope's
    C{verifyObject} cannot check optional methods, so the daemon checks at
    registration that no method's name is a near miss of these). Each is
    called after the daemon's own event bookkeeping
    (L{ntpservice.core.snapshot.StatusEvents}) has counted the event, so
    the status words an observer reads then
    (L{ntpservice.core.snapshot.peerSnapshot}) already include it. An
    observer that raises is logged and kept.

    What an observer shows of an association or of the system it reads
    from L{ntpservice.core.snapshot}, not from the engine's internals, so
    that C{ntpq}, C{peerstats} and the metrics agree.
    """

    def peerPacket(
        association: object,
        packet: object,
        result: object,
        t1: object,
        t4: object,
        datagram: object,
    ) -> None:
        """
        A packet went through an association's peer process.

        @param association: the L{ntpservice.core.association.Association}.
        @param packet: the L{ntpservice.core.packet.NTPPacket}.
        @param result: its L{ntpservice.core.association.ReceiveResult}
            (C{accepted}, C{flash}, C{kissCode}, C{update}: the clock
            filter's new sample, or C{None}).
        @param t1: the origin L{ntpservice.core.timestamps.NTPTimestamp}
            (when the request was sent), or C{None}.
        @param t4: the destination timestamp (when it arrived).
        @param datagram: the L{ntpservice.net.udp.ReceivedDatagram}.
        """

    def clockUpdated(now: float) -> None:
        """
        The discipline took an update (read its state from the engine).

        @param now: the daemon's clock, seconds since the Unix epoch.
        """

    def systemPeerChanged(associd: "int | None", address: "str | None") -> None:
        """
        Selection changed the system peer.

        @param associd: the new system peer, or C{None} for none.
        @param address: its address, or C{None}.
        """

    def associationEvent(associd: int, address: str, event: str) -> None:
        """
        An association's life: C{"mobilize"}, C{"demobilize"},
        C{"reachable"} or C{"unreachable"} (the engine reports each reach
        change once).
        """

    def clockStepped(offset: float) -> None:
        """
        The clock was stepped.

        @param offset: the step, seconds.
        """

    def clockSample(associd: int, address: str, timecode: str) -> None:
        """
        A reference clock delivered a sample (ntpd's C{clockstats}).

        @param associd: its association's ID.
        @param address: its C{127.127.t.u} address.
        @param timecode: what the driver read (its C{timecode}: the last
            sentence, segment or datagram), or C{""}.
        """


OBSERVER_METHODS = tuple(sorted(IDaemonObserver.names()))
"""The names of L{IDaemonObserver}'s methods."""


class IInterfaceObserver(Interface):
    """
    Told when a local address appears or goes (the interface tracker,
    L{ntpservice.net.interfaces.InterfaceTracker}): subscribe with
    C{daemon.sockets.addInterfaceObserver(observer)}
    (L{ntpservice.net.sockets.SocketOwner.addInterfaceObserver}). When it is
    called, the sockets bound per address have already been opened or
    closed. A broadcast or multicast plugin joins its groups on a new
    interface here, a broadcast server starts sending on it.

    Each address is an L{ntpservice.net.interfaces.InterfaceAddress}
    (C{address}, C{prefixLength}, C{ifindex}, C{name}, C{label},
    C{virtual}, C{family}).
    """

    def interfaceAdded(address: object) -> None:
        """
        A local address appeared (or was found at start).
        """

    def interfaceRemoved(address: object) -> None:
        """
        A local address went away.
        """
