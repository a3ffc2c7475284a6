# -*- test-case-name: tests.core.test_discipline -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
RFC 5905's clock discipline (C{discipline rfc5905}): the hybrid PLL/FLL,
the clock-adjust process and the poll exponent, as ntpd runs them in user
space.

Theory of operation. The residual phase offset C{r} (RFC C{c.offset}) is
set to the measured offset at each accepted update and decays
exponentially: each second L{RFC5905Discipline.adjust} slews C{r / tau}
with C{tau = 16 * min(2**tc, allan)} seconds (1.5 instead of 16 with
C{DisciplineSettings.kernel}, ntpd's default C{enable kernel}: a stiffer
loop standing in for the kernel PLL, L{KERNEL_PLL_GAIN}; the formulas here
are written with the daemon loop's 16). The offset at the next update
minus the residual still to amortize is the phase the frequency error
accumulated: it drives the frequency-lock loop and the direct frequency
measurement of the FREQ state, and the type II PLL adds
C{theta * min(mu, 2**tc) / (4 * 16 * 2**tc)**2}.

State machine (RFC 5905 Figure 28; the big-offset column is the step gate
of L{ntpservice.core.discipline.base.Discipline}, shared with the Kalman
loop)::

    State  offset <= step                 offset > step
    NSET   -> FREQ, amortize offset       step, -> FREQ
    FSET   -> SYNC, amortize offset       step, -> SYNC
    FREQ   mu < stepout: ignore           mu < stepout: ignore
           else measure freq, -> SYNC     else measure freq, step, -> SYNC
    SYNC   PLL/FLL update, -> SYNC        -> SPIK, ignore
    SPIK   PLL/FLL update, -> SYNC        mu < stepout: ignore
                                          else step, -> SYNC

Where and why this follows ntpd rather than the RFC's skeleton code, the
start-up clamp, open loop on a virtual clock, and how the loop compares
with the Kalman loop, chrony and ntpd: C{docs/discipline.md}.

@see: RFC 5905 section 11.3, section 12 and Appendix A.5.5.6
    (C{local_clock}, C{rstclock}) and A.5.6.1 (C{clock_adjust}).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Hashable

from ntpservice.core.actions import Action, Slew
from ntpservice.core.discipline.base import (
    ALGORITHM_RFC5905,
    FREQ,
    MAX_SLEW_RATE,
    NSET,
    SLEW_RESOLUTION,
    SPIK,
    SYNC,
    Discipline,
    Gate,
    UpdateResult,
)

PLL_GAIN = 16.0
"""
Time constant scale (RFC 5905 Figure 27 C{TC}, ntpd C{CLOCK_PLL}): the phase
is amortized with a time constant of C{PLL_GAIN * 2**tc} seconds, and the
PLL frequency gain is C{1 / (4 * PLL_GAIN * 2**tc)**2} per second.
"""

KERNEL_PLL_GAIN = 1.5
"""
L{PLL_GAIN} with C{DisciplineSettings.kernel} (ntpd's C{enable kernel},
the default): the stand-in for the kernel PLL that ntpd and NTPsec run by
default. The Linux kernel's own gains (RFC 1589's C{SHIFT_PLL} 2: the
phase amortized over C{4 * 2**tc} seconds, the frequency integrated with
a gain of C{1 / (16 * 2**tc) ** 2} per second, that is 4 here) measured
259 / 273 / 967 / 9480 us at 9 packets an hour in C{benchmarks/accuracy.py}
where NTPsec's default measured 194 / 213 / 635 / 5523 us at 7 (issue 16):
at the same poll interval the loop is too slow for 1 ppb/s of wander. With
1.5 (and L{KERNEL_LIMIT}) it measured 148 / 152 / 347 / 2670 us at 6.2 to
7.0 packets an hour, better than NTPsec's in every row at no more packets
(C{docs/discipline.md}).
"""

KERNEL_LIMIT = 20
"""
L{LIMIT} with C{DisciplineSettings.kernel}: the stiffer loop of
L{KERNEL_PLL_GAIN} keeps its offsets within the poll gate sooner, and a
lower limit lets the poll interval climb in about half the time.
"""

FLL_GAIN = 18
"""
FLL weight parameter (RFC 5905 Appendix A.5.5.6 C{FLL = MAXPOLL + 1}): the
FLL weight is C{1 / max(FLL_GAIN - tc, FLL_AVG)}.
"""

FLL_AVG = 4
"""The smallest FLL divisor (RFC 5905 A.5.5.6 C{AVG}): weight at most 1/4."""

LIMIT = 30
"""Poll-adjust hysteresis limit (RFC 5905 Figure 27 C{LIMIT})."""

PGATE = 4.0
"""Poll-adjust gate, in jitters (RFC 5905 Figure 27 C{PGATE})."""

STARTUP_FLOOR = 0.0005
"""
Seconds: the start-up clamp ends at the first offset below this (ntpd
C{CLOCK_FLOOR}).
"""

STARTUP_TC_LOG2 = 1
"""
The time constant exponent, log2 seconds, of the phase amortization during
the start-up clamp: 16 * 2**1 = 32 s (ntpd's C{ULOGTOD(1)}).
"""

HANDED_RECORD = 65536
"""
Slews the RFC 5905 loop remembers (times and amounts, to compare an offset
with the residual as it stood when the offset was measured); at one a
second, more than eighteen hours, eight polls of 2**13 s.
"""


class RFC5905Discipline(Discipline):
    """
    The RFC 5905 clock discipline: state machine, hybrid PLL/FLL, clock
    adjust process and poll exponent, as ntpd runs them
    (C{algorithm="rfc5905"}). See the module docstring and
    C{docs/discipline.md}.
    """

    algorithm = ALGORITHM_RFC5905
    everySample = False
    correctsFilters = False
    stepsInOpenLoop = True

    def _setUp(self) -> None:
        settings = self._settings
        # The time constant scale and the poll hysteresis: the daemon
        # loop's, or the stand-in for the kernel's.
        self._pllGain = KERNEL_PLL_GAIN if settings.kernel else PLL_GAIN
        self._limit = KERNEL_LIMIT if settings.kernel else LIMIT
        # Loop variables (RFC 5905 Figure 27, prefix c.).
        self._residual = 0.0
        self._carry = 0.0
        # The start-up clamp (ntpd freq_cnt), seconds of SYNC state left.
        self._startupClamp = float(settings.stepout)
        # The phase handed to the driver: the running total, seconds, and
        # (local time, total after) at each slew since the last update, so
        # that an offset measured before some of them is compared with the
        # residual as it stood then.
        self._handedTotal = 0.0
        self._handedBase = 0.0
        self._handedTimes: list[float] = []
        self._handedTotals: list[float] = []
        # Open loop: the steps the loop would have made, seconds.
        self._virtualSteps = 0.0

    @property
    def residual(self) -> float:
        """
        The phase offset still to be handed to the driver, seconds (RFC
        C{c.offset}, decaying between updates).
        """
        return self._residual + self._carry

    @property
    def timeConstant(self) -> int:
        """
        The loop time constant exponent, log2 seconds (ntpq C{tc}). As in
        ntpd it is the system poll exponent: the phase is amortized with a
        time constant of C{16 * min(2**tc, allan)} seconds.
        """
        return self._pollLog2

    def _handedSince(self, when: float) -> float:
        """
        @param when: local clock seconds, not before the last accepted
            update.
        @return: the phase handed to the driver after C{when}, seconds.
        """
        index = bisect_right(self._handedTimes, when)
        before = self._handedTotals[index - 1] if index else self._handedBase
        return self._handedTotal - before

    def _virtualCorrection(self, when: float) -> float:
        """
        Open loop: the correction the clock would have received by C{when}
        had the loop's corrections been made: its steps, its slews and the
        integral of its frequency.

        @param when: local clock seconds, not before the last accepted
            update.
        @return: seconds.
        """
        slewed = self._handedTotal - self._handedSince(when)
        return self._virtualSteps + slewed + self._frequencyCorrection(when)

    def _forgetHandedBefore(self, when: float) -> None:
        """
        Drop the record of slews handed before C{when} (local clock
        seconds): no later offset was measured before it.
        """
        index = bisect_right(self._handedTimes, when)
        if index:
            self._handedBase = self._handedTotals[index - 1]
            del self._handedTimes[:index]
            del self._handedTotals[:index]

    def _update(
        self,
        offset: float,
        jitter: float,
        now: float,
        poll: int,
        leap: int,
        delay: float | None,
        source: Hashable,
        currentTime: float,
        combine: float,
    ) -> UpdateResult:
        settings = self._settings
        if self._openLoop:
            # The loop runs on the clock as it would be had its corrections
            # been made: the offset of that virtual clock is the measured
            # one (of the uncorrected clock) less those corrections.
            offset -= self._virtualCorrection(now)
        mu = self._sinceUpdate(now)
        # The offset was measured at now; what was handed to the driver
        # since then is no longer part of it: the residual as it stood at
        # now is the one to compare it with, and what remains of the offset
        # today is the new residual.
        handed = self._handedSince(now)
        residualThen = self.residual + handed
        oldFreq = self._freqPPM
        freq = oldFreq
        actions: list[Action] = []
        stepped = False

        gate = self._stepGate(offset, mu)
        if gate is Gate.IGNORE:
            return self._result((), ignored=True)
        if gate is Gate.STEP:
            state = self._state
            if state == FREQ:
                freq = self._directFrequency(offset, mu, residualThen)
            # Our own timestamps move with the clock; in open loop the step
            # is only counted, the clock (and the time it reads) stays.
            shift = offset
            if self._openLoop:
                self._virtualSteps += offset
                shift = 0.0
            actions.append(self._step(offset, shift))
            stepped = True
            self._handedTimes.clear()
            self._handedTotals.clear()
            self._handedBase = self._handedTotal
            self._reset(FREQ if state == NSET else SYNC, now + shift, 0.0, 0.0)
        else:
            state = self._state
            if state == FREQ and mu < settings.stepout:
                return self._result((), ignored=True)
            if state in (SYNC, SPIK):
                # The surprise: the offset minus the part of the last one
                # still to be amortized, which the loop expects to see
                # again. The first update has nothing to compare with, and
                # at the end of the FREQ interval the difference is the
                # frequency error, not noise.
                self._averageJitter(offset - residualThen)
            if state == NSET:
                # Amortize the first offset while the FREQ state measures.
                self._reset(FREQ, now, offset, offset - handed)
            else:
                if state == FREQ:
                    freq = self._directFrequency(offset, mu, residualThen)
                elif state in (SYNC, SPIK) and not self._startupClamp:
                    freq += self._loopFrequency(offset, mu, poll, residualThen)
                # FSET: phase only on this first update.
                self._allowPanic = False
                self._reset(SYNC, now, offset, offset - handed)
                if abs(offset) < STARTUP_FLOOR:
                    self._startupClamp = 0.0

        self._freqPPM = self._clampFrequency(freq)
        self._adjustPoll(jitter)
        self._finishUpdate(actions, oldFreq, currentTime, leap)
        if self._openLoop:
            self._lastOffset = self._openLoopOffset(currentTime)
        return self._result(tuple(actions), stepped=stepped)

    def _openLoopOffset(self, when: float) -> float:
        """
        Open loop: the estimated offset of the uncorrected clock at C{when}
        (local clock seconds, the time of the last update or adjustment):
        what the virtual clock still expects to see (the residual) plus the
        corrections it received. At an update it is the measured offset,
        carried to C{when} at the estimated frequency; between updates it
        moves at that frequency.

        @return: seconds.
        """
        return self._virtualCorrection(when) + self.residual

    def _directFrequency(self, offset: float, mu: float, residual: float) -> float:
        """
        Measure the frequency directly at the end of the FREQ interval.

        @param offset: the offset now, seconds.
        @param mu: seconds since the interval started.
        @param residual: the residual when the offset was measured, seconds.
        @return: the new frequency, parts per million: the old one plus the
            phase the frequency error accumulated (the offset minus what was
            still residual), divided by the interval.
        """
        if mu <= 0:
            return self._freqPPM
        return self._freqPPM + (offset - residual) / mu * 1e6

    def _loopFrequency(
        self, offset: float, mu: float, poll: int, residual: float
    ) -> float:
        """
        The hybrid PLL/FLL frequency adjustment (RFC 5905 A.5.5.6).

        @param offset: the offset now, seconds.
        @param mu: seconds since the last accepted update.
        @param poll: the poll exponent, log2 seconds.
        @param residual: the residual when the offset was measured, seconds.
        @return: the frequency change, parts per million.
        """
        interval = 2.0**poll
        allan = self._settings.allan
        change = 0.0
        if interval >= allan:
            # FLL: the phase the frequency error accumulated over mu.
            weight = max(FLL_GAIN - poll, FLL_AVG)
            change += (offset - residual) / (max(mu, allan) * weight)
        # PLL: integrate over the update interval, but not beyond the poll
        # interval (oversampling allowed, undersampling not).
        gain = 4.0 * self._pllGain * interval
        change += offset * min(mu, interval) / (gain * gain)
        return change * 1e6

    def _adjustPoll(self, systemJitter: float) -> None:
        """
        The poll-adjust hysteresis (RFC 5905 section 11.3): small offsets
        relative to the jitter lengthen the poll, large ones shorten it.

        @param systemJitter: seconds.
        """
        settings = self._settings
        if self._startupClamp:
            self._count = 0
            return
        gate = PGATE * max(self._jitter, systemJitter)
        if abs(self._lastOffset) < gate:
            self._count += self._pollLog2
            if self._count > self._limit:
                self._count = self._limit
                if self._pollLog2 < settings.maxPollLog2:
                    self._count = 0
                    self._pollLog2 += 1
        else:
            self._count -= 2 * self._pollLog2
            if self._count < -self._limit:
                self._count = -self._limit
                if self._pollLog2 > settings.minPollLog2:
                    self._count = 0
                    self._pollLog2 -= 1

    def _reset(self, state: str, epoch: float, offset: float, residual: float) -> None:
        """
        Enter a state (RFC 5905 C{rstclock}).

        @param state: the new state.
        @param epoch: the time of this update (when its offset was
            measured), seconds of the local clock.
        @param offset: the new last offset, seconds.
        @param residual: the new residual, seconds.
        """
        self._state = state
        self._epoch = epoch
        self._lastOffset = offset
        self._residual = residual
        self._carry = 0.0
        self._forgetHandedBefore(epoch)

    def _adjustPhase(self, now: float, elapsed: float) -> Slew | None:
        """
        The phase: the residual decays with a time constant of
        C{16 * min(2**tc, allan)} seconds; what decayed since the last call
        (at most L{MAX_SLEW_RATE} per second) is handed to the driver as a
        L{Slew}, in whole microseconds (L{SLEW_RESOLUTION}); the rest is
        carried to the next call. In open loop the slew goes to the virtual
        clock only, and the estimated offset of the real one moves on.

        @see: RFC 5905 section 12 and Appendix A.5.6.1
        """
        slew = self._amortize(now, elapsed)
        if self._openLoop:
            self._lastOffset = self._openLoopOffset(now)
        return slew

    def _amortize(self, now: float, elapsed: float) -> Slew | None:
        """
        The body of L{_adjustPhase}: decay the residual, hand over what
        amounts to whole microseconds, and record it.
        """
        if self._state == SYNC and self._startupClamp:
            tcLog2 = STARTUP_TC_LOG2
            self._startupClamp = max(0.0, self._startupClamp - elapsed)
        else:
            tcLog2 = self._pollLog2
        if self._residual:
            tau = self._pllGain * min(2.0**tcLog2, self._settings.allan)
            portion = -self._residual * math.expm1(elapsed * math.log1p(-1.0 / tau))
            limit = MAX_SLEW_RATE * elapsed
            portion = max(-limit, min(limit, portion))
            self._residual -= portion
            self._carry += portion
        micros = round(self._carry / SLEW_RESOLUTION)
        if not micros:
            return None
        amount = micros / 1e6
        self._carry -= amount
        self._handedTotal += amount
        self._handedTimes.append(now)
        self._handedTotals.append(self._handedTotal)
        if len(self._handedTimes) > HANDED_RECORD:
            # Samples older than this are not expected; keep memory bounded.
            self._forgetHandedBefore(self._handedTimes[HANDED_RECORD // 2])
        return Slew(amount)
