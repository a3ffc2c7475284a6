# -*- test-case-name: tests.clock.test_noadjust -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A clock driver that reads the system clock and never changes it.

For C{--no-clock-adjust}, C{disable ntp} and every test or benchmark that
runs the daemon on a real host: it records the corrections it is asked for
and keeps a virtual frequency and leap so that L{NoAdjustClock.status}
reports what it was told, but it has no code path to a writing syscall
(it does not even import ctypes).

The daemon that chooses this driver also runs its discipline open loop
(C{docs/discipline.md}, "Open loop"): the discipline then measures
the clock as it runs and asks for nothing, so the only correction recorded
is C{-q}'s.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Deque, Tuple, Union

from zope.interface import implementer

from ntpservice.clock import (
    UNSYNCHRONIZED_MAX_ERROR,
    ClockStatus,
    checkFinite,
    checkLeap,
    checkSlew,
    clampFrequency,
    measurePrecision,
    realtimeNs,
)
from ntpservice.interfaces import IClockDriver

__all__ = ["NoAdjustClock", "ACTIONS_KEPT"]

ACTIONS_KEPT = 1000
"""How many of the most recent actions L{NoAdjustClock.actions} keeps."""

Action = Tuple[str, Union[float, int]]


@implementer(IClockDriver)
class NoAdjustClock:
    """
    Reads C{CLOCK_REALTIME}; records corrections instead of making them.

    L{now} is never shifted by a slew or a step: the clock stays what the
    kernel says. L{status} reports the frequency and leap last asked for, no
    slew in progress (nothing is being slewed) and an unsynchronized clock.

    @ivar name: C{'noadjust'}.
    @ivar canAdjust: C{False}.
    @ivar kernelTimescale: C{True} when L{now} reads C{CLOCK_REALTIME} (the
        default), C{False} when another reader was given.
    @ivar actions: the last L{ACTIONS_KEPT} corrections asked for, oldest
        first, as they would have been applied (after validation, clamping
        and folding leap 3 into 0): C{('slew', seconds)},
        C{('step', seconds)}, C{('frequency', ppm)}, C{('leap', 0|1|2)}.
    """

    name = "noadjust"
    canAdjust = False

    def __init__(self, now: Callable[[], int] | None = None) -> None:
        """
        @param now: reads the clock, nanoseconds since the Unix epoch; by
            default C{clock_gettime(CLOCK_REALTIME)}.
        """
        self._now: Callable[[], int] = now if now is not None else realtimeNs
        self.kernelTimescale = now is None
        self.actions: Deque[Action] = deque(maxlen=ACTIONS_KEPT)
        self._freqPPM = 0.0
        self._leap = 0
        self._precision: int | None = None

    def now(self) -> int:
        """
        Read the clock.

        @return: nanoseconds since the Unix epoch.
        """
        return self._now()

    def precision(self) -> int:
        """
        The precision of L{now}, measured (on the same reader) at the first
        call and cached.

        @return: log2 seconds, in [-30, -1].
        """
        if self._precision is None:
            self._precision = measurePrecision(self._now)
        return self._precision

    def slew(self, offset: float) -> None:
        """
        Record a slew.

        @param offset: seconds.
        @raise ValueError: where L{ntpservice.clock.linux.LinuxClock.slew}
            would.
        """
        self.actions.append(("slew", checkSlew(offset)))

    def step(self, offset: float) -> None:
        """
        Record a step.

        @param offset: seconds.
        @raise ValueError: if C{offset} is not finite.
        """
        self.actions.append(("step", checkFinite("offset", offset)))

    def setFrequency(self, freqPPM: float) -> None:
        """
        Record a frequency correction and report it from now on.

        @param freqPPM: parts per million, clamped to +-500.
        @raise ValueError: if C{freqPPM} is not finite.
        """
        self._freqPPM = clampFrequency(freqPPM)
        self.actions.append(("frequency", self._freqPPM))

    def setLeap(self, leap: int) -> None:
        """
        Record a leap second arming and report it from now on.

        @param leap: RFC 5905 leap indicator; C{3} is recorded as C{0}.
        @raise ValueError: if C{leap} is not 0 to 3.
        """
        self._leap = checkLeap(leap)
        self.actions.append(("leap", self._leap))

    def status(self) -> ClockStatus:
        """
        The virtual state.

        @return: a L{ClockStatus} with the frequency and leap last set, a zero
            remaining offset, no status flags, not synchronized and
            L{UNSYNCHRONIZED_MAX_ERROR} errors.
        """
        return ClockStatus(
            freqPPM=self._freqPPM,
            offset=0.0,
            maxError=UNSYNCHRONIZED_MAX_ERROR,
            estError=UNSYNCHRONIZED_MAX_ERROR,
            statusFlags=0,
            synchronized=False,
            precision=self.precision(),
            leap=self._leap,
        )
