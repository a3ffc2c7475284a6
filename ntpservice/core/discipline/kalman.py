# -*- test-case-name: tests.core.test_discipline -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The Kalman-filter clock discipline (C{discipline kalman}, the default).

The free-running offset C{u} of the clock (what the offset would be had the
loop never corrected it) and its rate C{y} are estimated with a two-state
Kalman filter whose frequency is a random walk (L{DEFAULT_WANDER_PPB}). A
sample's offset plus the corrections the loop had made when it was taken
is a measurement of C{u}, with a variance that its round-trip delay bounds
(L{DELAY_WINDOW}, L{MIN_EXCESS_FACTOR}); outliers beyond L{GATE} standard
deviations are dropped. The frequency correction is the estimated C{y},
handed over at once; the phase correction, the estimated C{u} less the
corrections made, is handed over each second. A bank of such filters, one
per wander and noise model (L{WANDER_MODELS}, L{NOISE_MODELS}), runs on
every sample; the loop follows their estimates weighed by how well each
predicted the recent samples. The poll interval grows while the wander
and the frequency uncertainty over it stay small against a sample's
noise (L{POLL_UP}, L{POLL_FREQ}), towards C{maxpoll}; an outlier or a
change asks for the next sample soon (C{UpdateResult.recheck}). Big
offsets go through the step gate of
L{ntpservice.core.discipline.base.Discipline}, shared with the RFC 5905
loop.

The model, the reasons for each choice, open loop, and measurements
against the RFC 5905 loop, chrony and ntpd: C{docs/discipline.md}.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable

from ntpservice.core.actions import Action, Slew
from ntpservice.core.discipline.base import (
    ALGORITHM_KALMAN,
    FSET,
    MAX_SLEW_RATE,
    SLEW_RESOLUTION,
    SPIK,
    SYNC,
    Discipline,
    DisciplineSettings,
    Gate,
    UpdateResult,
)

KERNEL_SLEW_RATE = 500e-6
"""
Seconds per second: the rate at which the kernel carries out a slew
(Linux C{adjtime}, C{ADJ_OFFSET_SINGLESHOT}; the simulated clock does the
same). The Kalman loop uses it to know how much of the last slew the clock
had carried out when a sample was taken.
"""

DRIFT_UNCERTAINTY_PPM = 1.0
"""
Parts per million: the standard deviation the Kalman loop gives a
frequency from the drift file (or C{tinker freq}); without one it starts
from zero with L{FREQUENCY_PRIOR_PPM}.
"""

FREQUENCY_PRIOR_PPM = 50.0
"""
Parts per million: the standard deviation the Kalman loop gives its first
frequency estimate, zero, without a drift file: the spread of computer
oscillators (most are within a few tens of ppm). A looser prior would let
the first samples, a few seconds apart, set the frequency from noise: with
10 ms of jitter an C{iburst} alone says nothing better than +-300 ppm.
"""

DELAY_WINDOW = 64
"""
Samples per source over which the Kalman loop tracks the minimum round-trip
delay (the base delay of the path) and the median excess over it.
"""

DELAY_SOURCES = 16
"""
Sources whose delays the Kalman loop remembers (the system peers of late,
most recent first); older ones are forgotten.
"""

DELAY_WINDOW_MIN = 4
"""
Samples of a source needed before its minimum delay is trusted; until
then a sample's error is bounded by half its whole delay only.
"""

DELAY_RECENT = 3
"""
Samples of a source in a row that, all queueing more than L{ROUTE_CHANGE}
times the window's median excess above its minimum delay, say that the path's base
delay rose (a route change): the older delays are then forgotten, so that
the new base is measured from the recent ones rather than every sample
looking late (and worthless) for a whole L{DELAY_WINDOW}.
"""

ROUTE_CHANGE = 4.0
"""
In units of the delay window's median excess: see L{DELAY_RECENT}. With
exponential delays a sample queues this much with a probability of about
1 %, three in a row once in a million samples.
"""

MIN_EXCESS_FACTOR = 1.5
"""
The estimated queueing excess of the minimum-delay sample of a window of
C{n} samples, in units of the window's median excess, times C{sqrt(n)}:
for exponential one-way delays of mean J the round-trip excess is gamma
(2, J) distributed, its median is 1.68 J and the smallest of C{n} is about
C{J * sqrt(2 / n)}, that is C{0.84 * median / sqrt(n)}. Delays with no
peak at their minimum (the sum of several queues) leave the least of a
window further above the path's base: 1.5 allows for them (at 1 ms of
jitter that is the sum of two exponentials, polling every 64 s, 92 us
RMS became 81 us) at no cost with exponential delays.
"""

MEASUREMENT_FLOOR = 1e-6
"""
Seconds: the smallest standard deviation the Kalman loop gives a sample
(timestamping noise), whatever its delay.
"""

GATE = 5.0
"""
Standard deviations: a sample whose innovation (its offset less the
predicted one) exceeds this many times its expected spread is an outlier
and is not used, unless L{REJECT_LIMIT} come in a row.
"""

REJECT_LIMIT = 2
"""
Outliers in a row after which the Kalman loop accepts that the offset
moved: the phase estimate is re-anchored on the next sample (the
frequency is kept).
"""

COMBINE_AVERAGE = 16.0
"""
Samples over which the Kalman loop averages the combine algorithm's
correction to the system peer (see L{Discipline.update}'s C{combine}).
"""

WANDER_MODELS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""
The oscillator wanders the Kalman loop weighs against each other, in units
of the configured one (L{DisciplineSettings.wanderPPB}; from the default
of 3 ppb/sqrt(s): 0.75 to 96 ppb/sqrt(s)). A filter for each runs on every
sample; the loop follows their estimates weighed by how well each
predicted the recent samples (L{WANDER_MEMORY}, L{WANDER_PRIOR}).
"""

WANDER_MEMORY = 64.0
"""
Samples over which the Kalman loop weighs how well each of its wander
models (L{WANDER_MODELS}) predicted the samples: the log-likelihood of
each sample under each model's prediction, summed with a forgetting
factor of C{1 - 1 / WANDER_MEMORY}.
"""

WANDER_FORGET = 1.0 - 1.0 / WANDER_MEMORY

NOISE_MODELS = (1.0, 2.0, 4.0)
"""
Scales of the measurement variance that a sample's delay says
(L{KalmanDiscipline._measurementVariance}) that the Kalman loop weighs
against each other, with each wander model: where the delays are not
distributed as assumed (the least delay of a window further above the
path's base than with exponential queueing), the samples are noisier than
their delays say.
"""

RESEED_WEIGHT = 1e-3
"""
The weight below which a model's estimate is replaced by the one the loop
follows: a model whose estimate went far off (its frequency, after a
transient that another model followed) would otherwise predict badly, and
stay without weight, for as long as its own slow gain takes to recover.
"""

NOISE_PRIOR = 1.0
"""Nats of log-likelihood a noise model pays per doubling of its scale."""

WANDER_PRIOR = 1.0
"""
Nats of log-likelihood that a wander model must make up for each doubling
of the wander above the configured one (in L{WANDER_MODELS}): where the
samples cannot tell the models apart (a sample's noise hides the wander),
the loop keeps to the least wander they allow, the configured one or
less.
"""

INFORMATION_AVERAGE = 16.0
"""
Samples over which the Kalman loop averages the information of its samples
(the inverse of their measurement variance): the typical measurement
variance the poll process weighs the wander against.
"""

POLL_UP = 32.0
"""
The Kalman loop lengthens the poll interval when the oscillator's wander
over twice the present interval would add less than this many times the
typical measurement variance (the inverse of the average information of a
sample) to the phase prediction's variance, and its frequency uncertainty
less than L{POLL_FREQ} times it, L{POLL_COUNT} times in a row: the
interval rises while a sample's noise, not the wander between samples,
limits what a sample can tell.
"""

POLL_FREQ = 8.0
"""
The most the frequency uncertainty may add to the phase prediction's
variance, over twice the present poll interval, for that interval to be
lengthened, in units of the typical measurement variance: more samples are
what improves an uncertain frequency estimate.
"""

START_FREQ_PPM = 0.6
"""
Parts per million: while the frequency estimate is less certain than this
(its standard deviation), the frequency uncertainty may add only
L{POLL_FREQ_START} times the typical measurement variance.
"""

POLL_FREQ_START = 1.0
"""
L{POLL_FREQ} while the frequency is uncertain (L{START_FREQ_PPM}).
"""

POLL_DOWN = 2.0
"""
The Kalman loop shortens the poll interval when the wander or the
frequency uncertainty adds more than this many times what L{POLL_UP} and
L{POLL_FREQ} allow over the present interval.
"""

POLL_COUNT = 4
"""Accepted samples in a row that must allow a longer poll interval."""

POLL_SURPRISE = 6.0
"""
A sample whose normalized innovation squared exceeds this (an innovation
beyond 2.4 standard deviations: the frequency changed more than the
model expected) halves the poll interval at once, so that the loop sees
the change again soon rather than coasting on a stale frequency.
"""


class _Estimate:
    """
    One wander model's estimate of the free-running offset C{u} (seconds)
    and its rate C{y} (seconds per second), with their covariance, and how
    well the model has predicted the samples.

    @ivar q2: the model's wander: the frequency's variance per second,
        (s/s)^2/s.
    @ivar noise: the model's scale of the measurement variance that the
        delays say (L{NOISE_MODELS}).
    @ivar prior: the log of the model's prior weight (L{WANDER_PRIOR},
        L{NOISE_PRIOR}).
    @ivar score: the log-likelihood of the recent samples under the
        model's predictions, the older ones discounted (L{WANDER_MEMORY}).
    """

    __slots__ = ("q2", "noise", "prior", "u", "y", "p00", "p01", "p11", "score")

    def __init__(
        self, q2: float, y: float, p11: float, noise: float = 1.0, prior: float = 0.0
    ) -> None:
        self.q2 = q2
        self.noise = noise
        self.prior = prior
        self.u = 0.0
        self.y = y
        self.p00 = 0.0
        self.p01 = 0.0
        self.p11 = p11
        self.score = 0.0

    def anchor(self, z: float, r: float, aged: float) -> None:
        """
        Take the phase from a sample (the start, or after a step), ageing
        the frequency estimate by C{aged} seconds meanwhile.
        """
        self.p11 += self.q2 * aged
        self.u = z
        self.p00 = r * self.noise
        self.p01 = 0.0

    def predict(self, dt: float) -> tuple[float, float, float, float]:
        """
        @return: the predicted C{u}, and the covariance C{(p00, p01, p11)},
            C{dt} seconds on.
        """
        q2 = self.q2
        p01, p11 = self.p01, self.p11
        return (
            self.u + self.y * dt,
            self.p00 + dt * (2.0 * p01 + dt * p11) + q2 * dt**3 / 3.0,
            p01 + dt * p11 + q2 * dt * dt / 2.0,
            p11 + q2 * dt,
        )


class KalmanDiscipline(Discipline):
    """
    The Kalman-filter clock discipline (C{algorithm="kalman"}, the
    default): it estimates the free-running oscillator's phase and
    frequency from every sample of the system peer, each weighted by what
    its delay says of its error, and steers the clock onto the estimate.
    See the module docstring and C{docs/discipline.md}.
    """

    algorithm = ALGORITHM_KALMAN
    everySample = True
    correctsFilters = True
    stepsInOpenLoop = False

    def _setUp(self) -> None:
        settings = self._settings
        # One estimate per wander model (L{WANDER_MODELS}), and the one
        # followed; the estimates are as of _kfTime (local clock seconds;
        # None while the phase is unknown).
        base = (settings.wanderPPB * 1e-9) ** 2
        uncertaintyPPM = (
            DRIFT_UNCERTAINTY_PPM
            if self._state == FSET
            else min(FREQUENCY_PRIOR_PPM, settings.freqTolerancePPM)
        )
        self._estimates = [
            _Estimate(
                base * factor * factor,
                self._freqPPM * 1e-6,
                (uncertaintyPPM * 1e-6) ** 2,
                noise,
                -WANDER_PRIOR * max(0.0, math.log2(factor))
                - NOISE_PRIOR * math.log2(noise),
            )
            for factor in WANDER_MODELS
            for noise in NOISE_MODELS
        ]
        self._blend()
        self._kfTime: float | None = None
        # When the frequency estimate was last brought up to date.
        self._freqTime: float | None = None
        # The corrections handed to the driver: phase (slews and steps),
        # seconds; the last few slews (local time, seconds). The frequency
        # correction's integral is the base class's.
        self._handed = 0.0
        self._slews: deque[tuple[float, float]] = deque(maxlen=4)
        self._pending = 0.0
        # Each source's recent delays, seconds.
        self._delays: dict[Hashable, deque[float]] = {}
        self._source: Hashable = None
        self._rejected = 0
        # Whether the last sample accepted opened the estimates up to a
        # change (UpdateResult.recheck).
        self._recheck = False
        # The combine algorithm's correction to the source, averaged, s.
        self._combine = 0.0
        # The average information (inverse variance) of a sample, 1/s^2.
        self._information = 0.0
        # The normalized innovation squared of the last accepted sample.
        self._surprise = 0.0

    # Monitoring

    @property
    def residual(self) -> float:
        """
        The phase correction still to be handed to the driver, seconds: the
        estimated offset of the clock, as of the last update or adjustment.
        """
        return self._pending

    @property
    def offsetError(self) -> float | None:
        """
        The estimated standard deviation of the phase estimate, seconds, as
        of the last accepted sample; C{None} while the phase is unknown.
        """
        if self._kfTime is None:
            return None
        return math.sqrt(max(0.0, self._estimate.p00))

    @property
    def modelWanderPPB(self) -> float:
        """
        The oscillator wander the loop assumes now, parts per billion per
        square-root second: that of the wander model (L{WANDER_MODELS})
        whose predictions the samples bore out best of late.
        """
        return math.sqrt(self._estimate.q2) * 1e9

    @property
    def freqErrorPPM(self) -> float:
        """
        The estimated standard deviation of the frequency estimate, parts
        per million.
        """
        return math.sqrt(max(0.0, self._estimate.p11)) * 1e6

    # Corrections

    def _correction(self, when: float, executed: bool = True) -> float:
        """
        The phase correction the clock had received at C{when}: all the
        slews and steps handed over before, plus the integral of the
        frequency correction.

        @param when: local clock seconds, at most a few seconds ago.
        @param executed: whether to leave out the part of the last slew
            the kernel had not yet carried out at C{when} (at
            L{KERNEL_SLEW_RATE}).
        @return: seconds; zero in open loop, where nothing is handed over.
        """
        if self._openLoop:
            return 0.0
        correction = self._handed + self._frequencyCorrection(when)
        for slewTime, amount in reversed(self._slews):
            if slewTime > when:
                correction -= amount
                continue
            if executed:
                remaining = abs(amount) - KERNEL_SLEW_RATE * (when - slewTime)
                if remaining > 0:
                    correction -= math.copysign(remaining, amount)
            break
        return correction

    def _shiftTimes(self, shift: float) -> None:
        super()._shiftTimes(shift)
        if self._freqTime is not None:
            self._freqTime += shift
        self._slews = deque(((t + shift, a) for t, a in self._slews), maxlen=4)

    # The estimator

    def _measurementVariance(
        self, delay: float | None, jitter: float, source: Hashable
    ) -> float:
        """
        The variance of a sample's offset error, from its delay.

        A sample's error is at most half its round-trip delay less twice
        the base one-way delay, and with exponential queueing delays it is
        uniform within those bounds: the variance is C{excess ** 2 / 12}.
        The base is the smallest delay of the source's last
        L{DELAY_WINDOW} samples, itself some queueing excess above the
        truth, estimated with L{MIN_EXCESS_FACTOR}; until
        L{DELAY_WINDOW_MIN} samples are in, only the whole delay bounds the
        error.

        @param delay: seconds, or C{None}: then C{jitter} is the standard
            deviation.
        @param jitter: seconds.
        @param source: the source's key.
        @return: seconds squared.
        """
        if delay is None:
            spread = max(jitter, MEASUREMENT_FLOOR)
            return spread * spread
        window = self._delays.pop(source, None)
        if window is None:
            window = deque(maxlen=DELAY_WINDOW)
            if len(self._delays) >= DELAY_SOURCES:
                # Forget the source heard from longest ago.
                del self._delays[next(iter(self._delays))]
        self._delays[source] = window
        window.append(delay)
        count = len(window)
        bound = delay
        if count >= DELAY_WINDOW_MIN:
            base = min(window)
            excesses = sorted(d - base for d in window)
            median = excesses[count // 2]
            if count > DELAY_RECENT:
                recent = list(window)[-DELAY_RECENT:]
                if min(recent) - base > ROUTE_CHANGE * median:
                    # The base delay rose: the older delays move with it
                    # (the queueing above the base is the path's as
                    # before), by the rise that the recent ones show (the
                    # least of them, less what the least of a few queues).
                    rise = (
                        min(recent)
                        - base
                        - MIN_EXCESS_FACTOR * median / math.sqrt(DELAY_RECENT)
                    )
                    older = [d + rise for d in list(window)[:-DELAY_RECENT]]
                    window.clear()
                    window.extend(older + recent)
                    base = min(window)
                    excesses = sorted(d - base for d in window)
                    median = excesses[count // 2]
            bound = min(
                delay, delay - base + MIN_EXCESS_FACTOR * median / math.sqrt(count)
            )
        return bound * bound / 12.0 + MEASUREMENT_FLOOR**2

    def _measure(
        self,
        offset: float,
        delay: float | None,
        jitter: float,
        now: float,
        source: Hashable,
    ) -> bool:
        """
        One Kalman filter step with a sample.

        @param offset: seconds.
        @param delay: seconds, or C{None}.
        @param jitter: seconds.
        @param now: the sample time, local clock seconds.
        @param source: the source's key.
        @return: whether the sample was used (not an outlier).
        """
        when = now - delay / 2 if delay is not None else now
        z = offset + self._correction(when)
        r = self._measurementVariance(delay, jitter, source)
        if self._information:
            self._information += (1.0 / r - self._information) / INFORMATION_AVERAGE
        else:
            self._information = 1.0 / r
        estimates = self._estimates
        if self._kfTime is None:
            # The phase is unknown (start, or after a step): anchor it on
            # this sample; the frequency estimate ages meanwhile.
            aged = (
                max(0.0, when - self._freqTime) if self._freqTime is not None else 0.0
            )
            for estimate in estimates:
                estimate.anchor(z, r, aged)
            self._blend()
            self._kfTime = self._freqTime = when
            self._source = source
            self._rejected = 0
            return True
        dt = max(0.0, when - self._kfTime)
        predictions = [estimate.predict(dt) for estimate in estimates]
        followed = self._estimate.predict(dt)
        innovation = z - followed[0]
        s = followed[1] + r * self._estimate.noise
        # The surprise of the sample against the prediction as it stood
        # (capped: one sample says little more beyond the gate).
        surprise = min(innovation * innovation / s, GATE * GATE)
        # Whether the phase (and the frequency) covariance is opened up to
        # the innovation: the sample is then no test of the wander models.
        opened = moved = False
        if source != self._source:
            # Another server: its path may be asymmetric otherwise; follow
            # its phase, keep the frequency.
            opened = True
        elif innovation * innovation > GATE * GATE * s:
            self._rejected += 1
            if self._rejected < REJECT_LIMIT:
                return False
            # The offset did move, by a jump or because the frequency
            # changed: open up both estimates to what the innovation says,
            # and measure the frequency again soon.
            opened = moved = True
            self._recheck = True
        self._rejected = 0
        self._averageJitter(innovation)
        self._surprise = surprise
        for estimate, (u, p00, p01, p11) in zip(estimates, predictions):
            ownInnovation = z - u
            if opened:
                p00 += ownInnovation * ownInnovation
                if moved and dt > 0:
                    p11 += (ownInnovation / dt) ** 2
            ownS = p00 + r * estimate.noise
            if not opened:
                estimate.score = estimate.score * WANDER_FORGET - 0.5 * (
                    math.log(ownS) + ownInnovation * ownInnovation / ownS
                )
            k0 = p00 / ownS
            k1 = p01 / ownS
            estimate.u = u + k0 * ownInnovation
            estimate.y = (
                self._clampFrequency((estimate.y + k1 * ownInnovation) * 1e6) * 1e-6
            )
            estimate.p11 = max(0.0, p11 - k1 * p01)
            estimate.p01 = p01 * (1.0 - k0)
            estimate.p00 = p00 * (1.0 - k0)
        self._blend()
        self._kfTime = self._freqTime = when
        self._source = source
        return True

    def _blend(self) -> None:
        """
        Weigh the wander models' estimates by how well each predicted the
        recent samples (their likelihood) into the estimate followed.
        """
        estimates = self._estimates
        logs = [estimate.score + estimate.prior for estimate in estimates]
        top = max(logs)
        weights = [math.exp(log - top) for log in logs]
        total = math.fsum(weights)
        weights = [weight / total for weight in weights]
        blend = _Estimate(0.0, 0.0, 0.0, 0.0)
        for weight, estimate in zip(weights, estimates):
            blend.u += weight * estimate.u
            blend.y += weight * estimate.y
            blend.q2 += weight * math.log(estimate.q2)
            blend.noise += weight * math.log(estimate.noise)
        blend.q2 = math.exp(blend.q2)
        blend.noise = math.exp(blend.noise)
        for weight, estimate in zip(weights, estimates):
            du = estimate.u - blend.u
            dy = estimate.y - blend.y
            blend.p00 += weight * (estimate.p00 + du * du)
            blend.p01 += weight * (estimate.p01 + du * dy)
            blend.p11 += weight * (estimate.p11 + dy * dy)
        for weight, estimate in zip(weights, estimates):
            if weight < RESEED_WEIGHT:
                # A model that has lost all weight starts again from the
                # estimate followed, lest it stay too far off to win.
                estimate.u, estimate.y = blend.u, blend.y
                estimate.p00, estimate.p01 = blend.p00, blend.p01
                estimate.p11 = max(estimate.p11, blend.p11)
        self._estimate = blend

    # The loop

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
        oldFreq = self._freqPPM
        actions: list[Action] = []
        stepped = False
        # In open loop a big offset is what the clock is: measured like
        # any other (the innovation gate still drops a lone outlier), since
        # this loop does not step in open loop (stepsInOpenLoop).
        gate = self._stepGate(offset, self._sinceUpdate(now))
        if gate is Gate.IGNORE:
            return self._result((), ignored=True)
        if gate is Gate.STEP:
            # The step is a correction like a slew, but the phase estimate
            # was wrong: it is anchored afresh on the next sample.
            if self._kfTime is not None:
                elapsed = max(0.0, currentTime - self._kfTime)
                for estimate in self._estimates:
                    estimate.p11 += estimate.q2 * elapsed
                self._blend()
                self._freqTime = currentTime
            self._kfTime = None
            self._handed += offset
            actions.append(self._step(offset, offset))
            stepped = True
            self._state = SYNC
            self._epoch = now + offset
            self._lastOffset = 0.0
            self._pending = 0.0
        else:
            switched = source != self._source or self._kfTime is None
            self._recheck = False
            if not self._measure(offset, delay, jitter, now, source):
                return self._result((), ignored=True, recheck=True)
            if switched:
                self._combine = combine
            else:
                self._combine += (combine - self._combine) / COMBINE_AVERAGE
            self._allowPanic = False
            self._state = SYNC
            self._epoch = now
            self._lastOffset = offset
            self._freqPPM = self._clampFrequency(self._estimate.y * 1e6)
            self._pending = self._target(currentTime) - self._correction(
                currentTime, executed=False
            )
            if self._openLoop:
                # Monitoring shows the estimated offset of the uncorrected
                # clock now (the ensemble's, as the target), not one sample.
                self._lastOffset = self._pending
            self._adjustPoll()
        self._finishUpdate(actions, oldFreq, currentTime, leap)
        return self._result(tuple(actions), stepped=stepped, recheck=self._recheck)

    def _target(self, when: float) -> float:
        """
        @param when: local clock seconds.
        @return: the estimated free-running offset at C{when}, seconds: the
            correction the clock should have received by then.
        """
        assert self._kfTime is not None
        estimate = self._estimate
        return estimate.u + estimate.y * (when - self._kfTime) + self._combine

    def _adjustPoll(self) -> None:
        """
        Choose the poll exponent (see "Poll" in C{docs/discipline.md}): as
        long as the phase prediction, coasting over the interval on the
        frequency estimate, grows less uncertain than a sample is.
        """
        settings = self._settings
        poll = self._pollLog2
        interval = 2.0**poll
        q2 = self._estimate.q2
        p11 = self._estimate.p11
        noise = (
            self._estimate.noise / self._information if self._information else math.inf
        )

        def wander(seconds: float) -> float:
            return q2 * seconds**3 / 3.0 / POLL_UP

        freqLimit = (
            POLL_FREQ_START if p11 > (START_FREQ_PPM * 1e-6) ** 2 else POLL_FREQ
        )

        def drift(seconds: float) -> float:
            return p11 * seconds * seconds / freqLimit

        if poll > settings.minPollLog2 and (
            self._surprise > POLL_SURPRISE
            or max(wander(interval), drift(interval)) > POLL_DOWN * noise
        ):
            self._pollLog2 = poll - 1
            self._count = 0
            return
        if poll < settings.maxPollLog2 and (
            max(wander(2 * interval), drift(2 * interval)) < noise
        ):
            self._count += 1
            if self._count >= POLL_COUNT:
                self._pollLog2 = poll + 1
                self._count = 0
        else:
            self._count = 0

    def _adjustPhase(self, now: float, elapsed: float) -> Slew | None:
        """
        Hand over the difference between the estimate and the corrections
        made, at most L{MAX_SLEW_RATE} per second.
        """
        if self._kfTime is None or self._state not in (SYNC, SPIK):
            return None
        pending = self._target(now) - self._correction(now, executed=False)
        if self._openLoop:
            # The estimated offset of the clock now; nothing to hand over.
            self._pending = self._lastOffset = pending
            return None
        limit = MAX_SLEW_RATE * elapsed
        portion = max(-limit, min(limit, pending))
        micros = round(portion / SLEW_RESOLUTION)
        if not micros:
            self._pending = pending
            return None
        amount = micros * SLEW_RESOLUTION
        self._handed += amount
        self._slews.append((now, amount))
        self._pending = pending - amount
        return Slew(amount)
