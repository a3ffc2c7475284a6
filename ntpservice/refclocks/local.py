# -*- test-case-name: tests.refclocks.test_local,tests.refclocks.test_plugins -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
ntpd's undisciplined local clock (driver 1, C{server 127.127.1.u}): the
system clock taken as its own reference, for an isolated server.

    server 127.127.1.0
    fudge  127.127.1.0 stratum 10

As in ntpd, the driver stratum defaults to 5 and the daemon then serves one
stratum below it (6), with the reference ID 127.127.1.u (C{LOCL}, or the
C{fudge refid}, only at driver stratum 0, where the daemon is stratum 1). Orphan mode is the
better answer for isolated networks; this driver keeps existing
configurations working and gives a stand-alone server something to be
synchronized to.

L{LocalClockFactory} is the driver as a reference clock plugin
(L{ntpservice.interfaces.IRefClockFactory}), with nothing special about it
elsewhere: its association is an ordinary reference clock association, and
each poll delivers a sample of offset 0 (the LOCAL clock is the system
clock) to the engine's entry point for non-packet samples. It is a I{last
resort} driver: selected only when no other source is, and its samples
never correct the clock. At start it asks for a burst of L{BURST} polls
L{BURST_INTERVAL} apart, so that its clock filter makes it selectable
within seconds.
No I/O.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from twisted.plugin import IPlugin

from ntpservice.core.packet import LEAP_NONE
from ntpservice.interfaces import IRefClock, IRefClockFactory, IRefClockSink

LOCAL_DRIVER_TYPE = 1
DEFAULT_STRATUM = 5
REFID = b"LOCL"
DISPERSION = 0.01
"""Seconds: the dispersion the driver claims for its samples (ntpd: 10 ms)."""
PRECISION = -20
"""log2 s: the precision the driver claims (ntpd's LOCAL: about 1 us)."""
BURST = 8
"""Polls at start before the regular ones (every 2**minpoll s, 64 s)."""
BURST_INTERVAL = 0.25
"""Seconds between the polls of the start burst."""


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
    burst = (BURST, BURST_INTERVAL)
    ignoredOptions = ("time1", "time2", "flag1", "flag2", "flag3", "flag4")
    """The fudge options that mean nothing to this driver (warned about)."""

    def build(self, options: Any, sink: IRefClockSink, reactor: Any) -> LocalRefClock:
        """
        A LOCAL clock; its unit, stratum and refid are the association's
        (C{options}), it needs no device and no timer.
        """
        return LocalRefClock(sink)


localClockFactory = LocalClockFactory()
