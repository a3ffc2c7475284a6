# -*- test-case-name: tests.core.test_filter -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.filter}.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.constants import MAXDISP, NSTAGE, PHI
from ntpservice.core.filter import (
    DISCARD_INVALID,
    DISCARD_OLD,
    DISCARD_POPCORN,
    SELECT_MIN_SAMPLES,
    ClockFilter,
    FilterOutput,
    Sample,
    dummySample,
)

PRECISION = 2.0**-20
POLL = 64.0
T0 = 1_700_000_000.0
EPSILON = 1e-5
"""Dispersion of a fresh sample in these tests, seconds."""

# The dispersion of the register's empty stages after one sample: MAXDISP
# weighted 1/4 + 1/8 + ... + 1/256.
EMPTY_TAIL = MAXDISP * (0.5 - 2.0**-8)


def feed(
    f: ClockFilter, offset: float, delay: float, t: float, disp: float = EPSILON
) -> FilterOutput | None:
    """
    Shift a sample taken at C{t} into C{f} at C{t}.
    """
    return f.update(Sample(offset, delay, disp, t), t, POLL)


class SampleTests(SynchronousTestCase):
    """
    Tests for L{Sample} and L{dummySample}.
    """

    def test_valid(self) -> None:
        """
        A sample is valid while its dispersion is below MAXDISP; the dummy
        sample is not.
        """
        self.assertTrue(Sample(0.0, 0.01, 15.9, T0).valid)
        self.assertFalse(Sample(0.0, 0.01, MAXDISP, T0).valid)
        self.assertEqual(dummySample(T0), Sample(0.0, 0.0, MAXDISP, T0))
        self.assertFalse(dummySample(T0).valid)


class InitialStateTests(SynchronousTestCase):
    """
    Tests for a new or reset L{ClockFilter}.
    """

    def test_new(self) -> None:
        """
        A new filter has eight empty stages, the maximum dispersion, the
        precision as jitter and nothing released.
        """
        f = ClockFilter(PRECISION)
        self.assertEqual(f.stages(), ((0.0, 0.0, MAXDISP),) * NSTAGE)
        self.assertEqual(f.dispersion, MAXDISP)
        self.assertEqual(f.jitter, PRECISION)
        self.assertEqual((f.offset, f.delay), (0.0, 0.0))
        self.assertIsNone(f.time)
        self.assertIsNone(f.updateTime)
        self.assertIsNone(f.lastDiscard)
        self.assertEqual(f.dispersionAt(T0), MAXDISP)

    def test_stagesShape(self) -> None:
        """
        L{ClockFilter.stages} has one (offset, delay, dispersion) tuple per
        stage, the most recent first; the number of stages can be chosen.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.001, 0.02, T0)
        feed(f, 0.002, 0.03, T0 + 64)
        stages = f.stages()
        self.assertEqual(len(stages), NSTAGE)
        self.assertEqual(stages[0], (0.002, 0.03, EPSILON))
        self.assertEqual(stages[1][:2], (0.001, 0.02))
        self.assertEqual(stages[2:], ((0.0, 0.0, MAXDISP),) * (NSTAGE - 2))
        self.assertEqual(len(ClockFilter(PRECISION, stages=4).stages()), 4)

    def test_invalidArguments(self) -> None:
        """
        A non-positive precision or fewer than one stage is refused.
        """
        self.assertRaises(ValueError, ClockFilter, 0.0)
        self.assertRaises(ValueError, ClockFilter, -1.0)
        self.assertRaises(ValueError, ClockFilter, PRECISION, 0)


class ReleaseTests(SynchronousTestCase):
    """
    Tests for which sample L{ClockFilter.update} releases.
    """

    def test_firstSampleReleased(self) -> None:
        """
        The first sample is released at once as the peer offset and delay.
        """
        f = ClockFilter(PRECISION)
        out = feed(f, 0.005, 0.02, T0)
        self.assertEqual(
            out,
            FilterOutput(
                offset=0.005,
                delay=0.02,
                dispersion=EPSILON / 2 + EMPTY_TAIL,
                jitter=PRECISION,
                time=T0,
            ),
        )
        self.assertEqual((f.offset, f.delay, f.time), (0.005, 0.02, T0))
        self.assertEqual(f.updateTime, T0)

    def test_lowestDelayChosen(self) -> None:
        """
        The sample of lowest delay in the register is the one released; a
        later sample of higher delay releases nothing, since the best sample
        has been used already.
        """
        f = ClockFilter(PRECISION)
        self.assertIsNotNone(feed(f, 0.001, 0.05, T0))
        out = feed(f, 0.002, 0.02, T0 + 64)
        assert out is not None
        self.assertEqual((out.offset, out.delay, out.time), (0.002, 0.02, T0 + 64))
        self.assertIsNone(feed(f, 0.003, 0.04, T0 + 128))
        self.assertEqual(f.lastDiscard, DISCARD_OLD)
        self.assertEqual((f.offset, f.delay, f.time), (0.002, 0.02, T0 + 64))

    def test_higherDelayWaitsUntilLowAgesOut(self) -> None:
        """
        Newer samples of higher delay do not replace a lower-delay sample
        while it is in the register; when it is shifted out, the best of
        the remaining ones is released.
        """
        f = ClockFilter(PRECISION)
        self.assertIsNotNone(feed(f, 0.001, 0.010, T0))
        for i in range(1, NSTAGE):
            self.assertIsNone(feed(f, 0.001, 0.050 + i * 0.001, T0 + 64 * i))
            self.assertEqual(f.lastDiscard, DISCARD_OLD)
            self.assertEqual(f.delay, 0.010)
        out = feed(f, 0.001, 0.070, T0 + 64 * NSTAGE)
        assert out is not None
        self.assertAlmostEqual(out.delay, 0.051)
        self.assertEqual(out.time, T0 + 64)
        self.assertIsNone(f.lastDiscard)

    def test_equalDelaysPreferNewer(self) -> None:
        """
        Of samples of equal delay, the most recent is released.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.001, 0.02, T0)
        out = feed(f, 0.0015, 0.02, T0 + 64)
        assert out is not None
        self.assertEqual(out.time, T0 + 64)

    def test_dummySamples(self) -> None:
        """
        Dummy samples shifted in while the source is unreachable push the
        valid samples out; with none left nothing is released and the
        dispersion is (almost) MAXDISP.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.001, 0.02, T0)
        for i in range(1, NSTAGE):
            self.assertIsNone(f.update(dummySample(T0 + 64 * i), T0 + 64 * i, POLL))
            self.assertEqual(f.lastDiscard, DISCARD_OLD)
        self.assertIsNone(f.update(dummySample(T0 + 512), T0 + 512, POLL))
        self.assertEqual(f.lastDiscard, DISCARD_INVALID)
        self.assertAlmostEqual(f.dispersion, MAXDISP * (1 - 2.0**-8))
        self.assertEqual(f.stages(), ((0.0, 0.0, MAXDISP),) * NSTAGE)

    def test_allanIntercept(self) -> None:
        """
        A stage older than the Allan intercept is ranked by delay plus
        dispersion, so a fresh sample of somewhat higher delay wins over it.
        """
        f = ClockFilter(PRECISION, allanIntercept=100.0)
        feed(f, 0.001, 0.010, T0, disp=0.05)
        out = feed(f, 0.002, 0.030, T0 + 200)
        assert out is not None
        self.assertEqual(out.delay, 0.030)
        g = ClockFilter(PRECISION, allanIntercept=1000.0)
        feed(g, 0.001, 0.010, T0, disp=0.05)
        self.assertIsNone(feed(g, 0.002, 0.030, T0 + 200))


class StatisticsTests(SynchronousTestCase):
    """
    Tests for the peer dispersion and jitter.
    """

    def test_dispersionGrowth(self) -> None:
        """
        The dispersion of older stages grows at PHI between updates, and
        L{ClockFilter.dispersionAt} grows the peer dispersion from the last
        update.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.001, 0.02, T0, disp=0.001)
        feed(f, 0.001, 0.03, T0 + 100, disp=0.002)
        self.assertAlmostEqual(f.stages()[1][2], 0.001 + PHI * 100, places=15)
        self.assertEqual(f.stages()[0][2], 0.002)
        expected = (0.001 + PHI * 100) / 2 + 0.002 / 4 + MAXDISP * (0.25 - 2.0**-8)
        self.assertAlmostEqual(f.dispersion, expected, places=12)
        self.assertAlmostEqual(f.dispersionAt(T0 + 1100), expected + PHI * 1000)
        self.assertEqual(f.dispersionAt(T0 + 1e12), MAXDISP)

    def test_sampleDispersionGrowsToNow(self) -> None:
        """
        A sample shifted in after it was taken has grown its dispersion by
        PHI for the wait.
        """
        f = ClockFilter(PRECISION)
        f.update(Sample(0.0, 0.02, 0.001, T0), T0 + 10, POLL)
        self.assertAlmostEqual(f.stages()[0][2], 0.001 + PHI * 10, places=15)

    def test_agedOutDispersion(self) -> None:
        """
        A stage whose dispersion has grown to MAXDISP is no longer usable.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.001, 0.02, T0)
        later = T0 + MAXDISP / PHI + 1
        out = feed(f, 0.004, 0.05, later)
        assert out is not None
        self.assertEqual(out.offset, 0.004)
        self.assertEqual(f.stages()[1][2], MAXDISP)

    def test_jitter(self) -> None:
        """
        The jitter is the RMS of the offset differences to the first-ranked
        (lowest delay) sample.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.001, 0.01, T0)
        feed(f, 0.003, 0.02, T0 + 64)
        feed(f, 0.002, 0.03, T0 + 128)
        self.assertAlmostEqual(f.jitter, math.sqrt((0.002**2 + 0.001**2) / 2))

    def test_jitterFloor(self) -> None:
        """
        The jitter is never below the precision, even with one sample or
        identical offsets.
        """
        f = ClockFilter(0.001)
        feed(f, 0.001, 0.01, T0)
        self.assertEqual(f.jitter, 0.001)
        feed(f, 0.001, 0.02, T0 + 64)
        self.assertEqual(f.jitter, 0.001)

    @given(
        st.lists(
            st.tuples(
                st.floats(-1.0, 1.0),
                st.floats(0.0, 1.0),
                st.floats(0.0, 2.0),
                st.floats(0.0, 5000.0),
            ),
            min_size=1,
            max_size=30,
        )
    )
    def test_invariants(self, samples: list[tuple[float, float, float, float]]) -> None:
        """
        Whatever the samples: the register keeps eight stages, the
        dispersion stays within (0, MAXDISP], the jitter is at least the
        precision, and released samples come in strictly increasing time
        from the register.
        """
        f = ClockFilter(PRECISION)
        t = T0
        released: list[float] = []
        for offset, delay, disp, gap in samples:
            t += gap
            out = f.update(Sample(offset, delay, disp, t), t, POLL)
            self.assertEqual(len(f.stages()), NSTAGE)
            self.assertTrue(0 < f.dispersion <= MAXDISP)
            self.assertGreaterEqual(f.jitter, PRECISION)
            if out is not None:
                released.append(out.time)
                self.assertIn(out.offset, [s[0] for s in f.stages()])
        self.assertEqual(released, sorted(set(released)))


class SelectDispersionTests(SynchronousTestCase):
    """
    L{ClockFilter.selectDispersion}: the dispersion without the stages
    still empty since the reset, once two measurements are in.
    """

    def test_emptyAndOneSample(self) -> None:
        """
        After a reset, and with one sample, it is the peer dispersion
        (dominated by the empty stages): a source is not fit on one
        sample.
        """
        f = ClockFilter(PRECISION)
        self.assertEqual(f.selectDispersion, MAXDISP)
        feed(f, 0.001, 0.002, T0)
        self.assertEqual(SELECT_MIN_SAMPLES, 2)
        self.assertEqual(f.selectDispersion, f.dispersion)
        self.assertGreater(f.selectDispersion, 7.0)

    def test_twoSamples(self) -> None:
        """
        With two samples the empty stages are left out: the weighted mean
        of the two stages' dispersions, scaled to the full register's total
        weight, while the peer dispersion still counts them at MAXDISP.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.001, 0.003, T0, disp=2e-5)
        feed(f, 0.002, 0.002, T0 + 2.0, disp=1e-5)
        first = 1e-5
        second = 2e-5 + PHI * 2.0
        expected = (first / 2 + second / 4) * (1 - 2.0**-NSTAGE) / (1 - 2.0**-2)
        self.assertAlmostEqual(f.selectDispersion, expected, places=12)
        self.assertGreater(f.dispersion, 3.9)

    def test_dummiesStillCount(self) -> None:
        """
        Dummy stages (the source stopped answering) are not empty: they
        count at MAXDISP as in the peer dispersion.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.001, 0.003, T0)
        feed(f, 0.002, 0.002, T0 + 2.0)
        clean = f.selectDispersion
        f.update(dummySample(T0 + 64.0), T0 + 64.0, POLL)
        self.assertGreater(f.selectDispersion, clean + MAXDISP / 8)

    def test_fullRegister(self) -> None:
        """
        Once every stage has been filled it is the peer dispersion.
        """
        f = ClockFilter(PRECISION)
        for i in range(NSTAGE):
            feed(f, 0.001, 0.002 + i * 1e-4, T0 + 2.0 * i)
        self.assertEqual(f.selectDispersion, f.dispersion)

    def test_resetEmptiesAgain(self) -> None:
        """
        After a reset (a step, a kiss code) the sample minimum applies
        again.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.001, 0.003, T0)
        feed(f, 0.002, 0.002, T0 + 2.0)
        f.reset()
        self.assertEqual(f.selectDispersion, MAXDISP)
        feed(f, 0.001, 0.003, T0 + 4.0)
        self.assertEqual(f.selectDispersion, f.dispersion)


class PopcornTests(SynchronousTestCase):
    """
    Tests for the popcorn spike suppressor.
    """

    def settled(self) -> tuple[ClockFilter, float]:
        """
        A filter that has released eight quiet samples near zero offset,
        each of lower delay than the one before; and the time of the last.
        """
        f = ClockFilter(PRECISION)
        t = T0
        for i in range(NSTAGE):
            t = T0 + 64 * i
            self.assertIsNotNone(feed(f, 1e-4 * (-1) ** i, 0.03 - i * 0.001, t))
        self.assertLess(f.jitter, 0.001)
        return f, t

    def test_spikeDropped(self) -> None:
        """
        A sample whose offset differs from the last released one by more
        than SGATE times the jitter, within two poll intervals, is dropped.
        """
        f, t = self.settled()
        self.assertIsNone(feed(f, 0.050, 0.010, t + 64))
        self.assertEqual(f.lastDiscard, DISCARD_POPCORN)
        self.assertEqual(f.offset, -1e-4)
        self.assertEqual(f.time, t)

    def test_spikeStaysDumped(self) -> None:
        """
        A dumped spike stays visible in the register but takes no further
        part: although its delay is the lowest, the next ordinary sample is
        released rather than the spike.
        """
        f, t = self.settled()
        feed(f, 0.050, 0.010, t + 64)
        out = feed(f, 1e-4, 0.020, t + 128)
        assert out is not None
        self.assertEqual(out.offset, 1e-4)
        self.assertEqual(f.stages()[1][:2], (0.050, 0.010))
        self.assertLess(f.jitter, 0.001)

    def test_jumpAcceptedAfterTwoPolls(self) -> None:
        """
        When the offset really moved, the first moved sample is dumped, and
        the next one, taken two poll intervals after the last released
        sample, is let through.
        """
        f, t = self.settled()
        self.assertIsNone(feed(f, 0.050, 0.010, t + 64))
        out = feed(f, 0.050, 0.009, t + 128)
        assert out is not None
        self.assertEqual(out.offset, 0.050)

    def test_spikeAcceptedAfterTwoPolls(self) -> None:
        """
        The same offset change arriving two poll intervals or more after the
        last released sample is accepted.
        """
        f, t = self.settled()
        out = feed(f, 0.050, 0.010, t + 2 * POLL)
        assert out is not None
        self.assertEqual(out.offset, 0.050)

    def test_smallChangeAccepted(self) -> None:
        """
        An offset change within SGATE times the jitter is released.
        """
        f, t = self.settled()
        out = feed(f, 2e-4, 0.010, t + 64)
        assert out is not None
        self.assertEqual(out.offset, 2e-4)

    def test_notBeforeSettled(self) -> None:
        """
        While the register holds few samples (dispersion above maxdist) the
        suppressor is off, so the first samples are all released.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.0, 0.03, T0)
        self.assertIsNotNone(feed(f, 0.0001, 0.02, T0 + 64))
        self.assertIsNotNone(feed(f, 0.5, 0.01, T0 + 128))

    def test_jumpEventuallyAccepted(self) -> None:
        """
        When the offset really moves, the new offset gets through within a
        few polls, as the jitter grows with the new samples.
        """
        f, t = self.settled()
        for i in range(1, NSTAGE + 1):
            if feed(f, 0.050, 0.010 - i * 1e-4, t + 60 * i) is not None:
                break
        self.assertEqual(f.offset, 0.050)


class ResetTests(SynchronousTestCase):
    """
    Tests for L{ClockFilter.reset}.
    """

    def test_reset(self) -> None:
        """
        After a reset the register is empty, the dispersion MAXDISP, the
        jitter the precision and nothing is released; the next sample is
        released even if it is older than the last released one.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.001, 0.02, T0)
        feed(f, 0.002, 0.01, T0 + 64)
        f.reset()
        self.assertEqual(f.stages(), ((0.0, 0.0, MAXDISP),) * NSTAGE)
        self.assertEqual(f.dispersion, MAXDISP)
        self.assertEqual(f.jitter, PRECISION)
        self.assertEqual(
            (f.offset, f.delay, f.time, f.updateTime), (0.0, 0.0, None, None)
        )
        out = f.update(Sample(0.3, 0.04, EPSILON, T0 + 10), T0 + 128, POLL)
        assert out is not None
        self.assertEqual((out.offset, out.time), (0.3, T0 + 10))


class NewestTests(SynchronousTestCase):
    """
    Tests for L{ClockFilter.newest}.
    """

    def test_newest(self) -> None:
        """
        The newest sample is the last one shifted in, released or not, even
        a dumped popcorn spike; nothing before the first sample or when the
        last one shifted in is a dummy.
        """
        f = ClockFilter(PRECISION)
        self.assertIsNone(f.newest)
        feed(f, 0.001, 0.010, T0)
        self.assertEqual(f.newest, Sample(0.001, 0.010, EPSILON, T0))
        self.assertIsNone(feed(f, 0.002, 0.020, T0 + 64))
        self.assertEqual(f.newest, Sample(0.002, 0.020, EPSILON, T0 + 64))
        f.update(dummySample(T0 + 128), T0 + 128, POLL)
        self.assertIsNone(f.newest)

    def test_newestSpike(self) -> None:
        """
        A sample dumped as a popcorn spike is still the newest.
        """
        f = ClockFilter(PRECISION)
        for i in range(NSTAGE):
            feed(f, 1e-4 * (-1) ** i, 0.03 - i * 0.001, T0 + 64 * i)
        t = T0 + 64 * NSTAGE
        self.assertIsNone(feed(f, 0.050, 0.010, t))
        self.assertEqual(f.lastDiscard, DISCARD_POPCORN)
        self.assertEqual(f.newest, Sample(0.050, 0.010, EPSILON, t))


class CorrectTests(SynchronousTestCase):
    """
    Tests for L{ClockFilter.correct}.
    """

    def test_phase(self) -> None:
        """
        A slew of the clock moves every sample's offset, and the peer
        offset, by its amount the other way; dummies, delays, dispersions
        and times are untouched.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.010, 0.020, T0)
        feed(f, 0.012, 0.030, T0 + 64)
        f.update(dummySample(T0 + 128), T0 + 128, POLL)
        before = f.stages()
        f.correct(0.004, 0.0, T0 + 130)
        after = f.stages()
        self.assertEqual(after[0], before[0])
        assertAlmost = self.assertAlmostEqual
        assertAlmost(after[1][0], 0.008, places=12)
        assertAlmost(after[2][0], 0.006, places=12)
        self.assertEqual([s[1:] for s in after], [s[1:] for s in before])
        assertAlmost(f.offset, 0.006, places=12)
        self.assertEqual(f.time, T0)

    def test_frequency(self) -> None:
        """
        A frequency change re-expresses each sample as if the new frequency
        had been in force: an older sample moves more, by the change times
        its age.
        """
        f = ClockFilter(PRECISION)
        feed(f, 0.0, 0.020, T0)
        feed(f, 0.0, 0.030, T0 + 100)
        f.correct(0.0, 1e-6, T0 + 200)
        offsets = [s[0] for s in f.stages()[:2]]
        self.assertAlmostEqual(offsets[0], 100e-6, places=12)
        self.assertAlmostEqual(offsets[1], 200e-6, places=12)
        self.assertAlmostEqual(f.offset, 200e-6, places=12)

    def test_nothing(self) -> None:
        """
        No correction changes nothing, also on an empty filter.
        """
        f = ClockFilter(PRECISION)
        f.correct(0.001, 1e-6, T0)
        self.assertEqual(f.stages(), ((0.0, 0.0, MAXDISP),) * NSTAGE)
        self.assertEqual(f.offset, 0.0)
        feed(f, 0.003, 0.02, T0)
        f.correct(0.0, 0.0, T0 + 10)
        self.assertEqual(f.offset, 0.003)
