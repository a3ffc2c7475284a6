# -*- test-case-name: tests.test_assembly -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Assemble an L{NTPDaemon} from a validated configuration.

L{assembleDaemon} is the one place where a configuration becomes a daemon:
its keys, its reference clock drivers, its mode plugins, its drift file and whether it
runs open loop (and, inside L{NTPDaemon}, its restrictions, MRU list and
engine). Both C{twistd ntp} (L{ntpservice.service.NTPService}) and the
simulator (L{ntpservice.sim.hosts.SimHost.runDaemon}) build their daemons
with it, so a simulated host runs what the real one runs, authentication
included. What only one of them does stays there: binding sockets, start-up
logging, signals, statistics files and metrics in the service; seeded
randomness and the simulated network in the simulator.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ntpservice.auth.keyring import loadKeyRing
from ntpservice.auth.keys import KeyRing
from ntpservice.core.counters import PacketCounters
from ntpservice.daemon import NTPDaemon
from ntpservice.net.multiplexer import ModeTable
from ntpservice.plugins import enabledPlugins, loadModePlugins

__all__ = ["CONFIGURED", "assembleDaemon"]


class _Configured:
    """
    The type of L{CONFIGURED}.
    """

    def __repr__(self) -> str:
        return "CONFIGURED"


CONFIGURED = _Configured()
"""
A parameter of L{assembleDaemon} left at this value is what the
configuration says.
"""


def assembleDaemon(
    configuration: Any,
    clock: Any,
    reactor: Any,
    counters: PacketCounters,
    modes: ModeTable,
    *,
    plugins: Iterable[Any] | None = None,
    keyring: KeyRing | str | bytes | None = None,
    refclocks: Iterable[Any] | None = None,
    driftFile: str | None | _Configured = CONFIGURED,
    clockAdjust: bool | None = None,
    rng: Any = None,
    panicGate: bool = False,
    quit: bool = False,
    stop: Callable[[], None] | None = None,
    fastPath: Any = None,
) -> NTPDaemon:
    """
    Build the daemon a configuration describes; it is not started (give it
    its senders with L{NTPDaemon.setSenders}, then L{NTPDaemon.start} it).

    @param configuration: a validated
        L{Configuration <ntpservice.config.Configuration>}.
    @param clock: the clock driver
        (L{IClockDriver <ntpservice.interfaces.IClockDriver>}).
    @param reactor: where the daemon arms its timers (true time in the
        simulator).
    @param counters: the daemon's packet counters (shared with its
        sockets' protocols).
    @param modes: the mode table of its sockets' protocols: the mode
        plugins, the associations and mode 6 register there.
    @param plugins: the available mode plugins, of which those that
        C{enable}/C{disable} leave on run; C{None}: every installed one.
    @param keyring: the keys: C{None} reads the keys file the C{keys} line
        names (no keys without one); the text of a keys file (C{str} or
        C{bytes}) is read instead of that file (a simulated host has no
        files of its own); either way the C{trustedkey}, C{requestkey} and
        C{controlkey} lines say which keys are trusted, and every key an
        association line names is checked. A L{KeyRing} is used as it is.
    @param refclocks: the available reference clock drivers
        (L{IRefClockFactory <ntpservice.interfaces.IRefClockFactory>});
        C{None}: every installed one.
    @param driftFile: the drift file, C{None} for none; by default the
        C{driftfile} line's path.
    @param clockAdjust: whether the clock's corrections change the clock
        (C{False} runs the discipline open loop, and the drift file is
        neither read nor written); C{None}: unless the configuration says
        C{disable ntp} or the clock driver cannot adjust
        (C{clock.canAdjust}).
    @param rng: the daemon's randomness (a L{random.Random}); C{None}: the
        system's.
    @param panicGate: C{-g}: the first correction may be any size.
    @param quit: C{-q}: stop once the clock is set.
    @param stop: called when the daemon decides to stop by itself (C{-q}
        done, panic).
    @param fastPath: the compiled server fast path
        (L{ntpservice.net.fastpath.FastPath}) whose MRU list the daemon
        uses, or C{None}.
    @return: the daemon.
    @raise ntpservice.config.ConfigError: C{FILE:LINE: message} for a bad
        keys file or text, or a key an association line names that is not
        in it or not trusted.
    @raise ntpservice.refclocks.RefClockConfigError: on a C{fudge}
        option that cannot be honoured.
    """
    if keyring is None:
        keyring = loadKeyRing(configuration)
    elif not isinstance(keyring, KeyRing):
        keyring = loadKeyRing(configuration, keysText=keyring)
    driftPath: str | None = (
        configuration.driftfilePath if isinstance(driftFile, _Configured) else driftFile
    )
    if clockAdjust is None:
        clockAdjust = bool(configuration.clockAdjust and clock.canAdjust)
    available = loadModePlugins() if plugins is None else plugins
    return NTPDaemon(
        configuration,
        clock,
        reactor,
        counters,
        modes,
        enabledPlugins(available, configuration),
        panicGate=panicGate,
        quit=quit,
        driftFile=driftPath,
        refclocks=refclocks,
        rng=rng,
        stop=stop,
        keyring=keyring,
        clockAdjust=clockAdjust,
        fastPath=fastPath,
    )
