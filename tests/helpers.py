# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Test helpers shared by the test packages.
"""

from __future__ import annotations

from zope.interface import implementer

from ntpservice.interfaces import IClockDriver


@implementer(IClockDriver)
class FakeClock:
    """
    A clock driver whose time the test sets; corrections are recorded, and
    a test that expects none can assert C{actions == []}.

    @ivar time: ns since the Unix epoch, returned by L{now}; each read
        advances it by C{tick} ns so successive reads differ.
    """

    name = "fake"
    canAdjust = False
    kernelTimescale = False

    def __init__(self, time: int = 1_790_000_000 * 10**9, tick: int = 0) -> None:
        self.time = time
        self.tick = tick
        self.actions: list[tuple[str, float]] = []

    def now(self) -> int:
        t = self.time
        self.time += self.tick
        return t

    def precision(self) -> int:
        return -20

    def slew(self, offset: float) -> None:
        self.actions.append(("slew", offset))

    def step(self, offset: float) -> None:
        self.actions.append(("step", offset))

    def setFrequency(self, freqPPM: float) -> None:
        self.actions.append(("frequency", freqPPM))

    def setLeap(self, leap: int) -> None:
        self.actions.append(("leap", leap))

    def status(self) -> object:
        return None


def fastPathForTests() -> object:
    """
    The compiled server fast path (L{ntpservice.net.fastpath.FastPath}) when
    it is built and C{NTPSERVICE_FASTPATH} does not force it off, else
    C{None}: a daemon given it keeps its MRU list in the extension, so the
    tests that build daemons run against the shared MRU list by default and
    against the pure one with C{NTPSERVICE_FASTPATH=off}.
    """
    from ntpservice.net.fastpath import FastPath

    return FastPath.create()
