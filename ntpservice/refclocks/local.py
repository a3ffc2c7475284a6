# -*- test-case-name: tests.refclocks.test_local -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
ntpd's undisciplined local clock (driver 1, C{server 127.127.1.u}): the
system clock taken as its own reference, for an isolated server.

    server 127.127.1.0
    fudge  127.127.1.0 stratum 10

As in ntpd, the driver stratum defaults to 5 and the daemon then serves one
stratum below it (6), with the reference ID 127.127.1.u (C{LOCL}, or the
C{fudge refid}, only at driver stratum 0, where the daemon is stratum 1). Orphan mode is the
better answer for isolated networks and comes with a later release; this
driver keeps existing configurations working and gives a stand-alone server
something to be synchronized to.

L{LocalClockFactory} is the driver as a reference clock plugin
(L{ntpservice.interfaces.IRefClockFactory}): each poll delivers a sample of
offset 0 (the LOCAL clock is the system clock) to the engine's entry point
for non-packet samples. It is a I{last resort} driver: selected only when no
other source is, and its samples never correct the clock.

L{LocalClock} and L{findLocalClock} are the daemon's older view of the same
clock (the system variables it implies when no network source is selected),
still used by the engine until LOCAL runs as an association of its own.
No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from typing import Any

from zope.interface import implementer

from twisted.plugin import IPlugin

from ntpservice.core.packet import LEAP_NONE, MAX_STRATUM
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.interfaces import IRefClock, IRefClockFactory, IRefClockSink

LOCAL_DRIVER_TYPE = 1
DEFAULT_STRATUM = 5
REFID = b"LOCL"
DISPERSION = 0.01
"""Seconds: the dispersion the driver claims for its samples (ntpd: 10 ms)."""
UPDATE_INTERVAL = 64.0
"""Seconds between updates of the reference time (the driver's poll)."""


class LocalClockError(ValueError):
    """
    A C{fudge} line for the LOCAL clock that cannot be honoured; the message
    says which and why.
    """


@dataclass(frozen=True, slots=True)
class LocalClock:
    """
    One configured LOCAL clock.

    @ivar unit: the C{u} of C{127.127.1.u}.
    @ivar stratum: the driver stratum, 0-15 (C{fudge ... stratum N}).
    @ivar refid: the reference ID (C{fudge ... refid XXXX}).
    """

    unit: int = 0
    stratum: int = DEFAULT_STRATUM
    refid: bytes = REFID

    def systemVariables(
        self, nowNs: int, precision: int, system: SystemVariables | None = None
    ) -> SystemVariables:
        """
        The system variables of a daemon synchronized to this clock at
        C{nowNs}.

        @param nowNs: the local time, ns since the Unix epoch.
        @param precision: the system precision, log2 seconds.
        """
        base = system if system is not None else SystemVariables()
        # As in ntpd: a reference clock names itself (its refid) only when
        # the system is at stratum 1; above, the system refid is the
        # clock's address, 127.127.1.u, as clients of ntpd's LOCAL clock
        # have always seen it.
        refid = self.refid if self.stratum == 0 else bytes((127, 127, 1, self.unit))
        return replace(
            base,
            leap=LEAP_NONE,
            stratum=min(self.stratum + 1, MAX_STRATUM),
            precision=precision,
            rootDelay=0.0,
            rootDispersion=DISPERSION,
            refid=refid,
            reftime=NTPTimestamp.fromUnixNanoseconds(nowNs),
            lastUpdateNs=nowNs,
        )


def findLocalClock(
    associations: Iterable[object], refclocks: Iterable[object]
) -> LocalClock | None:
    """
    The LOCAL clock a configuration asks for, with its C{fudge} options, or
    C{None}. With several units, the one of lowest stratum wins.

    @param associations: the configuration's association directives.
    @param refclocks: the configuration's C{fudge} lines.
    @raise LocalClockError: on a C{fudge} option the driver cannot honour.
    """
    units = [
        a.refclockUnit  # type: ignore[attr-defined]
        for a in associations
        if getattr(a, "refclockType", None) == LOCAL_DRIVER_TYPE
    ]
    if not units:
        return None
    clocks = []
    for unit in units:
        stratum, refid = DEFAULT_STRATUM, REFID
        for fudge in refclocks:
            if getattr(fudge, "target", None) != f"127.127.{LOCAL_DRIVER_TYPE}.{unit}":
                continue
            args = list(fudge.arguments)  # type: ignore[attr-defined]
            source = fudge.source  # type: ignore[attr-defined]
            while args:
                word = args.pop(0)
                if word in ("time1", "time2", "flag1", "flag2", "flag3", "flag4"):
                    if args:
                        args.pop(0)
                    continue
                if not args:
                    raise LocalClockError(f"{source}: fudge {word} needs a value")
                value = args.pop(0)
                if word == "stratum":
                    try:
                        stratum = int(value)
                    except ValueError:
                        stratum = -1
                    if not 0 <= stratum <= 15:
                        raise LocalClockError(
                            f"{source}: fudge stratum must be between 0 and 15, "
                            f"not {value}"
                        )
                elif word == "refid":
                    if not 1 <= len(value) <= 4 or not value.isascii():
                        raise LocalClockError(
                            f"{source}: fudge refid must be 1 to 4 ASCII characters"
                        )
                    refid = value.encode("ascii").ljust(4, b"\0")
                else:
                    raise LocalClockError(
                        f"{source}: fudge {word} is not an option of the LOCAL clock"
                    )
        clocks.append(LocalClock(unit, stratum, refid))
    return min(clocks, key=lambda c: c.stratum)


PRECISION = -20
"""log2 s: the precision the driver claims (ntpd's LOCAL: about 1 us)."""


@implementer(IRefClock)
class LocalRefClock:
    """
    One running LOCAL clock: every poll (and the start) delivers a sample
    of offset 0 and dispersion L{DISPERSION}, with no leap second.
    """

    def __init__(self, sink: IRefClockSink) -> None:
        self._sink = sink
        self.running = False

    def _deliver(self) -> None:
        if self.running:
            self._sink.sample(0.0, DISPERSION, LEAP_NONE, self._sink.now())

    def start(self) -> None:
        """Start: the first sample is delivered at once."""
        self.running = True
        self._deliver()

    def stop(self) -> None:
        self.running = False

    def poll(self) -> None:
        self._deliver()


@implementer(IPlugin, IRefClockFactory)
class LocalClockFactory:
    """
    ntpd's driver 1, the undisciplined local clock, as a reference clock
    plugin.
    """

    name = "local"
    driverType = LOCAL_DRIVER_TYPE
    description = "undisciplined local clock"
    refid = REFID
    stratum = DEFAULT_STRATUM
    precision = PRECISION
    lastResort = True

    def build(self, options: Any, sink: IRefClockSink, reactor: Any) -> LocalRefClock:
        """
        A LOCAL clock; its unit, stratum and refid are the association's
        (C{options}), it needs no device and no timer.
        """
        return LocalRefClock(sink)


localClockFactory = LocalClockFactory()
