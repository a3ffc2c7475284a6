# -*- test-case-name: tests.core.test_filter -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The clock filter: the eight-stage shift register of one association that
grooms its stream of on-wire samples into the peer variables (offset,
delay, dispersion, jitter) used by the mitigation algorithms.

Theory of operation
===================

Each sample (offset, delay, dispersion, time) is shifted into the register,
discarding the oldest stage; the dispersion of every older stage grows at
L{PHI} for the time since the previous update. The stages are then ranked
by delay (the lowest delay sample has the least error from path
asymmetry): stages at L{MAXDISP} (empty, or dummies shifted in by the poll
process while the source is unreachable) rank last, and stages older than
the Allan intercept are ranked by delay plus dispersion, as ntpd does.

From the ranked list::

    dispersion = sum(disp[i] / 2 ** (i + 1) for i in 0..NSTAGE-1)
    jitter     = sqrt(sum((offset[j] - offset[0]) ** 2 for j in 1..m-1)
                      / (m - 1)),  at least the system precision

where C{m} counts the usable stages (dispersion below L{MAXDISP}; beyond
the first two, distance below C{maxdist}). The dispersion and jitter are
register statistics and are updated on every call. The first-ranked
sample is I{released} as the peer offset and delay only if it is newer
than the last one released (a sample is used at most once, never an older
one after a newer one) and is not a popcorn spike.

Dispersion for selection
------------------------

The peer dispersion counts an empty stage at L{MAXDISP}: a register that
holds C{n} samples since it was cleared has a dispersion of about
C{MAXDISP / 2 ** n}, and its source exceeds the default C{maxdist} of 1.5 s
until the fourth sample. That is how RFC 5905 makes a new source earn
trust, and it is why ntpd synchronizes at the fourth C{iburst} reply where
chronyd (which wants three samples for its regression) does at the third.

Selection uses L{ClockFilter.selectDispersion} instead: once the register
holds L{SELECT_MIN_SAMPLES} measurements (valid and not dumped), the
stages never filled since the last reset are left out and the filled
stages keep their weights, scaled so that they sum as the full register's
do (a weighted mean of the filled stages' dispersions). What an empty
stage stood for, too few samples to know the source's noise, is the job
of the sample minimum and of the jitter term of the root distance (the
spread of those samples). The correctness interval of a source stays a
bound of its error: its half-width is still at least half the round-trip
delay plus the root dispersion, which bound each sample's error whatever
the register's depth; only the extra margin the empty stages added is
gone. A stage shifted in as a dummy (the source stopped answering) is not
empty and still counts at L{MAXDISP}. With fewer samples, or once the
register is full, it is the peer dispersion. The peer dispersion itself
(shown by ntpq, and the root dispersion the system reports) is
unchanged.

The newest sample (L{ClockFilter.newest}) is also available as it is,
for a discipline that weighs every sample itself (the C{kalman} loop of
L{ntpservice.core.discipline}) instead of taking the released one. Such a
discipline corrects the clock quickly, and then has the system process
keep the register relative to the corrected clock (L{ClockFilter.correct}):
a sample held for several polls would otherwise show an offset the clock
no longer has, and selection would compare stale offsets.

Popcorn spikes
--------------

A first-ranked sample is a spike when both the register and the sample
are trustworthy (dispersion below C{maxdist}), its offset is more than
L{SGATE} times the jitter away from the last released offset, and it was
taken less than two poll intervals after the last released sample. Two
deliberate differences from the RFC 5905 A.5.2 skeleton (and ntpd):

 - The gate uses the jitter as it stood I{before} the update. The
   skeleton recomputes it first, relative to the new first-ranked sample;
   when that sample is the spike, the jitter is then about as large as
   the spike itself and the gate (three times it) can never close.
 - A spike is I{dumped}: it stays in the register (ntpq still shows it)
   but no longer takes part in the ranking and the jitter. In the skeleton
   it is only skipped once, and being of lowest delay it is released at
   the next update anyway.

When the offset really moved, the first sample taken two poll intervals or
more after the last released one is let through.

All times are float seconds of the local clock since the Unix epoch; all
offsets, delays, dispersions and jitters are float seconds.

@see: RFC 5905 section 10 and Appendix A.5.2 (clock_filter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ntpservice.core.constants import (
    ALLAN_INTERCEPT,
    MAXDISP,
    MAXDIST,
    NSTAGE,
    PHI,
    SGATE,
)

__all__ = [
    "SELECT_MIN_SAMPLES",
    "Sample",
    "FilterOutput",
    "ClockFilter",
    "dummySample",
    "DISCARD_INVALID",
    "DISCARD_OLD",
    "DISCARD_POPCORN",
]

SELECT_MIN_SAMPLES = 2
"""
Measurements the register must hold since it was cleared before the stages
still empty stop counting at L{MAXDISP} in L{ClockFilter.selectDispersion}:
two, so that the jitter (the root distance's term for the source's noise)
is measured on at least one difference.
"""

DISCARD_INVALID = "invalid"
"""L{ClockFilter.lastDiscard}: no stage of the register holds a valid sample."""

DISCARD_OLD = "old"
"""
L{ClockFilter.lastDiscard}: the best sample is not newer than the last one
released.
"""

DISCARD_POPCORN = "popcorn"
"""L{ClockFilter.lastDiscard}: the best sample is a popcorn spike."""


@dataclass(frozen=True, slots=True)
class Sample:
    """
    One on-wire measurement of an association.

    @ivar offset: seconds, the clock offset theta of the server relative to
        the local clock.
    @ivar delay: seconds, the round-trip delay delta (the caller applies
        RFC 5905's floor of the system precision).
    @ivar dispersion: seconds, the dispersion epsilon at L{time}: peer
        precision + system precision + PHI * (T4 - T1). L{MAXDISP} or more
        marks a dummy sample, which is never used.
    @ivar time: seconds of the local clock since the Unix epoch at which the
        sample was taken (the destination timestamp T4).
    """

    offset: float
    delay: float
    dispersion: float
    time: float

    @property
    def valid(self) -> bool:
        """
        Whether the sample holds a measurement, that is its dispersion is
        below L{MAXDISP}.
        """
        return self.dispersion < MAXDISP


def dummySample(time: float) -> Sample:
    """
    The dummy tuple (0, 0, MAXDISP) the poll process shifts into the filter
    when three polls in a row went unanswered, so that stale samples age
    out of the register.

    @param time: seconds of the local clock, now.
    @return: a L{Sample} that is not L{Sample.valid}.
    @see: RFC 5905 section 10 (third paragraph).
    """
    return Sample(0.0, 0.0, MAXDISP, time)


_EMPTY = Sample(0.0, 0.0, MAXDISP, -math.inf)
"""The content of an empty stage."""


@dataclass(frozen=True, slots=True)
class FilterOutput:
    """
    The peer variables released by the clock filter.

    @ivar offset: seconds, the peer offset theta (of the released sample).
    @ivar delay: seconds, the peer delay delta (of the released sample).
    @ivar dispersion: seconds, the peer dispersion epsilon as of the C{now}
        of the L{ClockFilter.update} that released it.
    @ivar jitter: seconds, the peer jitter psi, at least the precision.
    @ivar time: seconds of the local clock, when the released sample was
        taken.
    """

    offset: float
    delay: float
    dispersion: float
    jitter: float
    time: float


class ClockFilter:
    """
    The clock filter of one association.

    @ivar precision: seconds, the system precision (2 ** precision log2):
        the floor of the jitter.
    @ivar maxdist: seconds, the distance threshold (C{tos maxdist}) used to
        prune the jitter estimate and to gate the spike suppressor.
    @ivar allanIntercept: seconds; stages older than this are ranked by
        delay plus dispersion.
    @ivar offset: seconds, the peer offset (of the last released sample;
        0 before any).
    @ivar delay: seconds, the peer delay (of the last released sample;
        0 before any).
    @ivar dispersion: seconds, the peer dispersion as of L{updateTime}
        (L{MAXDISP} after L{reset}); see L{dispersionAt}.
    @ivar jitter: seconds, the peer jitter as of L{updateTime} (the
        precision after L{reset}).
    @ivar selectDispersion: seconds, the dispersion selection uses for the
        root distance, as of L{updateTime}: L{dispersion} without the
        stages still empty since L{reset} once L{SELECT_MIN_SAMPLES}
        measurements are in (see the module docstring); L{MAXDISP} after
        L{reset}.
    @ivar time: seconds of the local clock: when the last released sample
        was taken; C{None} if none has been released since L{reset}.
    @ivar updateTime: seconds of the local clock: the C{now} of the last
        L{update}, the instant L{dispersion} and L{jitter} refer to;
        C{None} if none since L{reset}. (ntpd's C{peer->update}.)
    @ivar lastDiscard: why the last L{update} released nothing
        (L{DISCARD_INVALID}, L{DISCARD_OLD}, L{DISCARD_POPCORN}), or
        C{None} if it released a sample.

    @see: RFC 5905 section 10 and Appendix A.5.2.
    """

    offset: float
    delay: float
    dispersion: float
    selectDispersion: float
    jitter: float
    time: float | None
    updateTime: float | None
    lastDiscard: str | None
    _stages: list[Sample]
    _dumped: list[bool]

    def __init__(
        self,
        precision: float,
        stages: int = NSTAGE,
        *,
        maxdist: float = MAXDIST,
        allanIntercept: float = ALLAN_INTERCEPT,
    ) -> None:
        """
        @param precision: seconds, the system precision (e.g. 2 ** -20).
        @param stages: number of stages of the shift register.
        @param maxdist: seconds, the distance threshold (C{tos maxdist}).
        @param allanIntercept: seconds (ntpd's C{tinker allan}, 2 ** 11).
        @raise ValueError: if C{precision} is not positive or C{stages} is
            less than 1.
        """
        if not precision > 0:
            raise ValueError(f"precision must be positive seconds, not {precision!r}")
        if stages < 1:
            raise ValueError(f"a clock filter needs at least one stage, not {stages}")
        self.precision = precision
        self.maxdist = maxdist
        self.allanIntercept = allanIntercept
        self._size = stages
        self.reset()

    def reset(self) -> None:
        """
        Clear the register, as when the association is cleared (on
        mobilization, after a clock step, on a kiss code): every stage
        empty, dispersion L{MAXDISP}, jitter the precision, nothing
        released.

        @see: RFC 5905 Appendix A.5.4 (clear).
        """
        self._stages = [_EMPTY] * self._size
        self._dumped = [False] * self._size
        self.offset = 0.0
        self.delay = 0.0
        self.dispersion = MAXDISP
        self.selectDispersion = MAXDISP
        self.jitter = self.precision
        self.time = None
        self.updateTime = None
        self.lastDiscard = None

    def stages(self) -> tuple[tuple[float, float, float], ...]:
        """
        The register, as ntpq shows it (C{filtoffset}, C{filtdelay},
        C{filtdisp}).

        @return: one C{(offset, delay, dispersion)} tuple of seconds per
            stage, the most recent first; an empty stage is
            C{(0.0, 0.0, MAXDISP)}. Dispersions are as of L{updateTime}.
        """
        return tuple((s.offset, s.delay, s.dispersion) for s in self._stages)

    @property
    def newest(self) -> Sample | None:
        """
        The most recent sample shifted in, if it is a measurement (not a
        dummy); else C{None}. Its dispersion is as of L{updateTime}. It is
        given even when the popcorn spike suppressor dumped it: a
        discipline that weighs every sample judges outliers itself,
        knowing what it corrected since the last released sample.
        """
        stage = self._stages[0]
        if not stage.valid:
            return None
        return stage

    def correct(self, phase: float, freq: float, now: float) -> None:
        """
        The clock is being corrected: re-express the samples (and the peer
        offset) relative to the corrected clock, as if the correction had
        always been in force (chrony's sourcestats does the same with its
        samples). A sample's offset then says what it says of the clock as
        it is now, whatever was corrected since it was taken; without this a
        sample held for several polls shows an offset the clock no longer
        has.

        @param phase: seconds the clock moves forward at C{now} (a slew,
            counted when it is handed to the kernel).
        @param freq: seconds per second the clock runs faster from C{now}
            on (a frequency change).
        @param now: seconds of the local clock.
        """
        if not (phase or freq):
            return
        self._stages = [
            (
                Sample(
                    s.offset - phase + freq * (now - s.time),
                    s.delay,
                    s.dispersion,
                    s.time,
                )
                if s.valid
                else s
            )
            for s in self._stages
        ]
        if self.time is not None:
            self.offset += -phase + freq * (now - self.time)

    def dispersionAt(self, now: float) -> float:
        """
        The peer dispersion grown at L{PHI} from L{updateTime} to C{now}.

        @param now: seconds of the local clock.
        @return: seconds, at most L{MAXDISP}.
        """
        if self.updateTime is None:
            return MAXDISP
        grown = self.dispersion + PHI * max(0.0, now - self.updateTime)
        return min(MAXDISP, grown)

    def update(
        self, sample: Sample, now: float, pollInterval: float
    ) -> FilterOutput | None:
        """
        Shift a sample into the register and run the filter.

        @param sample: the new sample, or a L{dummySample}.
        @param now: seconds of the local clock, now (not before
            C{sample.time}).
        @param pollInterval: seconds, the poll interval that bounds the
            popcorn spike suppressor (spikes are only recognized within two
            of them of the last released sample).
        @return: the new peer variables if a sample was released, else
            C{None} (and L{lastDiscard} says why). L{dispersion} and
            L{jitter} are updated either way.
        @see: RFC 5905 section 10 and Appendix A.5.2.
        """
        # Age the register to now, then shift the new sample in.
        elapsed = 0.0 if self.updateTime is None else max(0.0, now - self.updateTime)
        growth = PHI * elapsed
        aged = [
            (
                s
                if not s.valid or growth == 0.0
                else Sample(
                    s.offset, s.delay, min(MAXDISP, s.dispersion + growth), s.time
                )
            )
            for s in self._stages[:-1]
        ]
        newDispersion = min(
            MAXDISP, sample.dispersion + PHI * max(0.0, now - sample.time)
        )
        if newDispersion != sample.dispersion:
            sample = Sample(sample.offset, sample.delay, newDispersion, sample.time)
        self._stages = [sample] + aged
        self._dumped = [False] + self._dumped[:-1]
        self.updateTime = now
        previousJitter = self.jitter

        spiked = False
        while True:
            best, usable = self._statistics(now)
            if usable == 0:
                self.lastDiscard = DISCARD_POPCORN if spiked else DISCARD_INVALID
                return None
            if self.time is None:
                break
            if self._stages[best].time <= self.time:
                self.lastDiscard = DISCARD_POPCORN if spiked else DISCARD_OLD
                return None
            if not self._isPopcorn(self._stages[best], previousJitter, pollInterval):
                break
            # Dump the spike: from now on it takes no part in the ranking.
            self._dumped[best] = True
            spiked = True

        released = self._stages[best]
        self.offset = released.offset
        self.delay = released.delay
        self.time = released.time
        self.lastDiscard = None
        return FilterOutput(
            offset=released.offset,
            delay=released.delay,
            dispersion=self.dispersion,
            jitter=self.jitter,
            time=released.time,
        )

    def _statistics(self, now: float) -> tuple[int, int]:
        """
        Rank the stages and compute the peer dispersion and jitter.

        @param now: seconds of the local clock.
        @return: the register index of the first-ranked stage, and the
            number of usable stages.
        """
        distances = [
            MAXDISP if dumped else self._distance(s, now)
            for s, dumped in zip(self._stages, self._dumped)
        ]
        # The stable sort keeps the newer of two equal stages first.
        ranked = sorted(range(len(self._stages)), key=distances.__getitem__)
        usable = 0
        for i in ranked:
            if distances[i] >= MAXDISP or (
                usable >= 2 and distances[i] >= self.maxdist
            ):
                break
            usable += 1
        self.dispersion = math.fsum(
            self._stages[i].dispersion / 2 ** (rank + 1)
            for rank, i in enumerate(ranked)
        )
        self.selectDispersion = self._selectDispersion(ranked)
        best = ranked[0]
        jitter = 0.0
        if usable > 1:
            first = self._stages[best].offset
            squares = math.fsum(
                (self._stages[i].offset - first) ** 2 for i in ranked[1:usable]
            )
            jitter = math.sqrt(squares / (usable - 1))
        self.jitter = max(jitter, self.precision)
        return best, usable

    def _selectDispersion(self, ranked: list[int]) -> float:
        """
        L{selectDispersion} of the register (see the module docstring).

        @param ranked: the stages' indices, in rank order.
        @return: seconds.
        """
        # Empty stages have never been filled since the reset: they hold
        # the oldest indices, and rank last (at MAXDISP, in index order).
        filled = sum(1 for s in self._stages if s.time > -math.inf)
        measured = sum(
            1 for s, dumped in zip(self._stages, self._dumped) if s.valid and not dumped
        )
        if filled == self._size or measured < SELECT_MIN_SAMPLES:
            return self.dispersion
        total = math.fsum(
            self._stages[i].dispersion / 2 ** (rank + 1)
            for rank, i in enumerate(ranked[:filled])
        )
        return total * (1 - 2.0**-self._size) / (1 - 2.0**-filled)

    def _isPopcorn(self, best: Sample, jitter: float, pollInterval: float) -> bool:
        """
        Whether the first-ranked sample is a popcorn spike.

        @param best: the first-ranked stage, newer than the last released.
        @param jitter: seconds, the peer jitter before this update.
        @param pollInterval: seconds.
        @return: C{True} if both the register and the sample are
            trustworthy (dispersion below C{maxdist}), the offset is more
            than L{SGATE} times C{jitter} from the last released offset, and
            the sample was taken less than two poll intervals after it.
        """
        assert self.time is not None
        return (
            self.dispersion < self.maxdist
            and best.dispersion < self.maxdist
            and abs(best.offset - self.offset) > SGATE * jitter
            and best.time - self.time < 2 * pollInterval
        )

    def _distance(self, stage: Sample, now: float) -> float:
        """
        The ranking metric of a stage (ntpd's compound distance).

        @param stage: a stage of the register.
        @param now: seconds of the local clock.
        @return: seconds: L{MAXDISP} for an unusable stage, delay plus
            dispersion beyond the Allan intercept, else the delay.
        """
        if stage.dispersion >= MAXDISP:
            return MAXDISP
        if now - stage.time > self.allanIntercept:
            return stage.delay + stage.dispersion
        return stage.delay
