# -*- test-case-name: tests.clock.test_simulated -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A simulated clock: a local oscillator with a frequency error and random-walk
wander, read against the true time of a Twisted C{IReactorTime} (a
C{task.Clock} in tests and benchmarks).

Model. True time is C{epochNs + reactor.seconds() * 1e9}. The clock reads
true time plus an error E (seconds) which changes:
  - continuously at the oscillator's frequency error plus the frequency
    correction set with L{SimulatedClock.setFrequency} (both in ppm,
    positive runs fast);
  - continuously at +-500 ppm while a slew is in progress, until the slew is
    used up (Linux C{adjtime(3)}; a new slew replaces what remains);
  - at once by a step, and by a leap second (insertion steps back 1 s when
    the clock reaches midnight UTC, deletion forward 1 s at 23:59:59).

Wander is a random walk of the oscillator's frequency on a fixed grid of
true time (every C{wanderIntervalSeconds}): at each grid point the frequency
changes by a normal draw of standard deviation
C{wanderPPBPerSecond * sqrt(wanderIntervalSeconds)} ppb from the injected
C{random.Random}. Between grid points the frequency is constant, so E is
piecewise linear and integrated exactly whenever the clock is read. Because
the grid does not depend on when the clock is read, one seed gives one
oscillator trajectory whatever the daemon's polling: two algorithms can be
compared on the same oscillator. The cost is a few microseconds per grid
point crossed (about 0.1 s of CPU per simulated day with the default 1 s
grid), and nothing when wander is zero.

Corrections are quantized like the kernel's: slews to the microsecond, steps
to the nanosecond, frequency to 2**-16 ppm.

A clock made with C{adjusts=False} stands for a host whose daemon must not
adjust its clock (C{--no-clock-adjust}): it validates corrections as the
others do, records them in L{SimulatedClock.unapplied} and applies none,
so the oscillator runs free.
"""

from __future__ import annotations

import math
import random

from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from ntpservice.clock import (
    LEAP_DELETE,
    LEAP_INSERT,
    LEAP_NONE,
    SLEW_RATE_PPM,
    UNSYNCHRONIZED_MAX_ERROR,
    ClockStatus,
    checkFinite,
    checkLeap,
    checkSlew,
    clampFrequency,
)
from ntpservice.interfaces import IClockDriver

__all__ = ["SimulatedClock", "DEFAULT_EPOCH_NS"]

DEFAULT_EPOCH_NS = 1_767_225_600 * 1_000_000_000
"""2026-01-01T00:00:00Z, nanoseconds since the Unix epoch: true time when the
reactor reads zero."""

_NS_PER_SECOND = 1_000_000_000
_NS_PER_DAY = 86_400 * _NS_PER_SECOND
_SLEW_RATE = SLEW_RATE_PPM * 1e-6


@implementer(IClockDriver)
class SimulatedClock:
    """
    An oscillator with frequency error and wander, driven by a reactor's
    notion of true time. See the module docstring for the model.

    @ivar name: C{'simulated'}.
    @ivar canAdjust: whether corrections adjust the simulated clock
        (C{adjusts}, C{True} by default).
    @ivar kernelTimescale: C{False}: L{now} is not C{CLOCK_REALTIME}, so
        arriving packets must be stamped with L{now}.
    @ivar unapplied: with C{adjusts=False}, the corrections asked for, as
        L{ntpservice.clock.noadjust.NoAdjustClock.actions} records them
        (C{('slew', seconds)}, C{('step', seconds)}, C{('frequency',
        ppm)}, C{('leap', 0|1|2)}), oldest first; empty otherwise.
    """

    name = "simulated"
    kernelTimescale = False

    def __init__(
        self,
        reactor: IReactorTime,
        offset: float = 0.0,
        freqPPM: float = 0.0,
        wanderPPBPerSecond: float = 0.0,
        rng: random.Random | None = None,
        precision: int = -20,
        epochNs: int = DEFAULT_EPOCH_NS,
        wanderIntervalSeconds: float = 1.0,
        adjusts: bool = True,
    ) -> None:
        """
        @param reactor: gives true time: C{reactor.seconds()} is the number
            of seconds elapsed since C{epochNs}.
        @param offset: the initial error of the clock, seconds (clock minus
            true time).
        @param freqPPM: the oscillator's initial frequency error, parts per
            million; positive makes the uncorrected clock gain time, so
            C{setFrequency(-freqPPM)} cancels it.
        @param wanderPPBPerSecond: random-walk wander of the oscillator's
            frequency: the standard deviation of its change over one second,
            parts per billion (it grows as the square root of time).
        @param rng: the source of wander draws; by default
            C{random.Random(0)}, so runs are reproducible.
        @param precision: what L{precision} reports, log2 seconds.
        @param epochNs: true time when C{reactor.seconds()} is zero,
            nanoseconds since the Unix epoch; 2026-01-01T00:00:00Z by default.
        @param wanderIntervalSeconds: the spacing of the wander grid, true
            seconds.
        @param adjusts: C{False} for a clock that records corrections in
            L{unapplied} and applies none.
        @raise ValueError: if a quantity is not finite, or the wander or its
            interval is not positive.
        """
        self._reactor = reactor
        self.canAdjust = bool(adjusts)
        self.unapplied: list[tuple[str, float]] = []
        self._epochNs = int(epochNs)
        self._errorS = checkFinite("offset", offset)
        self._oscillatorPPM = checkFinite("freqPPM", freqPPM)
        self._wanderPPB = checkFinite("wanderPPBPerSecond", wanderPPBPerSecond)
        if self._wanderPPB < 0:
            raise ValueError("wanderPPBPerSecond must not be negative")
        self._wanderInterval = checkFinite(
            "wanderIntervalSeconds", wanderIntervalSeconds
        )
        if self._wanderInterval <= 0:
            raise ValueError("wanderIntervalSeconds must be positive")
        self._wanderStepPPM = (
            self._wanderPPB * math.sqrt(self._wanderInterval) / 1000.0
        )
        self._rng = rng if rng is not None else random.Random(0)
        self._precision = int(precision)
        self._correctionPPM = 0.0
        self._slewRemaining = 0.0
        self._leap = LEAP_NONE
        self._leapPending = False
        self._leapMidnightNs = 0
        self._lastSeconds = float(reactor.seconds())
        self._wanderOrigin = self._lastSeconds
        self._wanderIndex = 1

    # Observation, for tests and benchmarks.

    def trueNow(self) -> int:
        """
        True time.

        @return: nanoseconds since the Unix epoch.
        """
        return self._trueNs(float(self._reactor.seconds()))

    def error(self) -> float:
        """
        How wrong the clock is.

        @return: clock minus true time, seconds (exact model value, not
            rounded to the nanosecond as L{now} is).
        """
        self._advance()
        return self._errorS

    def frequencyErrorPPM(self) -> float:
        """
        How fast the clock is gaining time now, slew aside.

        @return: the oscillator's frequency error (with its wander so far)
            plus the correction in force, parts per million.
        """
        self._advance()
        return self._oscillatorPPM + self._correctionPPM

    # IClockDriver

    def now(self) -> int:
        """
        Read the simulated clock.

        @return: nanoseconds since the Unix epoch.
        """
        seconds = self._advance()
        return self._trueNs(seconds) + round(self._errorS * 1e9)

    def precision(self) -> int:
        """
        @return: the precision given at construction, log2 seconds.
        """
        return self._precision

    def slew(self, offset: float) -> None:
        """
        Start amortizing C{offset} at 500 ppm, replacing whatever remains of
        the previous slew.

        @param offset: seconds, rounded to the microsecond.
        @raise ValueError: if C{offset} is not finite or too large.
        """
        offset = checkSlew(offset)
        if not self.canAdjust:
            self.unapplied.append(("slew", offset))
            return
        self._advance()
        self._slewRemaining = round(offset * 1e6) / 1e6

    def step(self, offset: float) -> None:
        """
        Move the clock by C{offset} at once.

        @param offset: seconds, rounded to the nanosecond.
        @raise ValueError: if C{offset} is not finite.
        """
        offset = checkFinite("offset", offset)
        if not self.canAdjust:
            self.unapplied.append(("step", offset))
            return
        self._advance()
        self._errorS += round(offset * 1e9) / 1e9

    def setFrequency(self, freqPPM: float) -> None:
        """
        Set the frequency correction.

        @param freqPPM: parts per million, positive to run faster; clamped to
            +-500 and rounded to 2**-16 ppm.
        @raise ValueError: if C{freqPPM} is not finite.
        """
        freqPPM = clampFrequency(freqPPM)
        if not self.canAdjust:
            self.unapplied.append(("frequency", freqPPM))
            return
        self._advance()
        self._correctionPPM = round(freqPPM * 65536) / 65536

    def setLeap(self, leap: int) -> None:
        """
        Arm or disarm a leap second at the end of the current UTC day (of the
        simulated clock). Like the kernel, the armed leap stays reported by
        L{status} after it happened, until changed; it happens only once.

        @param leap: RFC 5905 leap indicator; C{3} disarms like C{0}.
        @raise ValueError: if C{leap} is not 0 to 3.
        """
        leap = checkLeap(leap)
        if not self.canAdjust:
            self.unapplied.append(("leap", leap))
            return
        seconds = self._advance()
        self._leap = leap
        self._leapPending = leap != LEAP_NONE
        clockNs = self._trueNs(seconds) + round(self._errorS * 1e9)
        self._leapMidnightNs = (clockNs // _NS_PER_DAY + 1) * _NS_PER_DAY

    def status(self) -> ClockStatus:
        """
        @return: a L{ClockStatus} with the correction in force, the slew that
            remains, the armed leap, no status flags, not synchronized and
            L{ntpservice.clock.UNSYNCHRONIZED_MAX_ERROR} errors.
        """
        self._advance()
        return ClockStatus(
            freqPPM=self._correctionPPM,
            offset=self._slewRemaining,
            maxError=UNSYNCHRONIZED_MAX_ERROR,
            estError=UNSYNCHRONIZED_MAX_ERROR,
            statusFlags=0,
            synchronized=False,
            precision=self._precision,
            leap=self._leap,
        )

    # Model

    def _trueNs(self, seconds: float) -> int:
        """
        @param seconds: a reading of the reactor.
        @return: true time then, nanoseconds since the Unix epoch.
        """
        return self._epochNs + round(seconds * 1e9)

    def _advance(self) -> float:
        """
        Integrate the error up to the reactor's present time, segment by
        segment (wander grid points split segments), then apply a pending
        leap second if the clock has reached it.

        @return: the reactor's present time, seconds.
        """
        target = float(self._reactor.seconds())
        while self._lastSeconds < target:
            end = target
            wanderAt = math.inf
            if self._wanderStepPPM:
                wanderAt = (
                    self._wanderOrigin + self._wanderIndex * self._wanderInterval
                )
                end = min(end, wanderAt)
            elapsed = end - self._lastSeconds
            self._errorS += (
                (self._oscillatorPPM + self._correctionPPM) * 1e-6 * elapsed
            )
            if self._slewRemaining:
                amount = _SLEW_RATE * elapsed
                if amount >= abs(self._slewRemaining):
                    self._errorS += self._slewRemaining
                    self._slewRemaining = 0.0
                else:
                    amount = math.copysign(amount, self._slewRemaining)
                    self._errorS += amount
                    self._slewRemaining -= amount
            self._lastSeconds = end
            if end == wanderAt:
                self._oscillatorPPM += self._rng.gauss(0.0, self._wanderStepPPM)
                self._wanderIndex += 1
        if self._leapPending:
            clockNs = self._trueNs(target) + round(self._errorS * 1e9)
            if self._leap == LEAP_INSERT and clockNs >= self._leapMidnightNs:
                self._errorS -= 1.0
                self._leapPending = False
            elif (
                self._leap == LEAP_DELETE
                and clockNs >= self._leapMidnightNs - _NS_PER_SECOND
            ):
                self._errorS += 1.0
                self._leapPending = False
        return target
