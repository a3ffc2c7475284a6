# -*- test-case-name: tests.core.test_discipline -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The clock discipline: from the offsets the system process measures, the
frequency and phase corrections of the local clock, the once-per-second
clock-adjust process and the choice of the system poll interval. Two loops
share the state machine of RFC 5905 (steps, spikes, the stepout interval,
the panic threshold), the leap indicator and quit-after-set:

  - C{kalman} (L{KalmanDiscipline}, the default): a Kalman filter that
    estimates the free-running oscillator's phase and frequency from every
    sample of the system peer, weighing each by what its round-trip delay
    says of its error, and steers the clock onto the estimate;
  - C{rfc5905} (L{RFC5905Discipline}): RFC 5905's hybrid PLL/FLL, as ntpd
    runs it.

L{DisciplineSettings.algorithm} chooses; C{Discipline(settings)} builds the
matching class.

@see: RFC 5905 section 11.3 (Clock Discipline Algorithm), section 12 (Clock
    Adjust Process), section 13 (Poll Process), Appendix A.5.5.6
    (C{local_clock}, C{rstclock}) and A.5.6.1 (C{clock_adjust}).

Two entry points, both pure (time comes in as arguments, decisions go out as
L{ntpservice.core.actions} objects that the shell carries out on its
L{ntpservice.interfaces.IClockDriver}):

  - L{Discipline.update} is RFC C{local_clock}: called by the system process
    with a new offset (the combined offset after each system update for the
    RFC loop; each new sample of the system peer, with its delay, for the
    Kalman loop). It runs the state machine, may order a L{Step}, computes
    the new frequency, the clock jitter and wander, and adjusts the poll
    exponent.
  - L{Discipline.adjust} is RFC C{clock_adjust}: called once per second. It
    hands the driver the part of the phase correction due in this second
    (a L{Slew}), and the frequency (a L{SetFrequency}) whenever it differs
    from the one last handed over.

Units. C{now} is float seconds of the LOCAL (disciplined) clock since the
Unix epoch; offsets and jitter are float seconds, positive when the local
clock is behind (the RFC's theta: the server's time minus ours); frequencies
are parts per million (the loop gains are computed in seconds per second);
poll exponents are C{int} log2 seconds. Because C{now} is read from the clock
being disciplined, the discipline moves its own timestamps by every step it
orders: the shell must carry out a L{Step} before it next calls in.

Why a user-space discipline, not the kernel PLL. Linux offers ntpd's kernel
loop (C{ADJ_OFFSET} with C{STA_PLL}), but we run the loop here and give the
kernel only two plain jobs: C{ADJ_FREQUENCY} carries the frequency (set
whenever it changes) and C{adjtime}-style slews (C{ADJ_OFFSET_SINGLESHOT},
500 ppm, microsecond resolution) carry the phase, a little every second.
  - Testability: the very same code runs against
    L{ntpservice.clock.simulated.SimulatedClock} under a C{task.Clock}, so
    hours of closed-loop behaviour are tested deterministically in
    milliseconds; a kernel loop cannot be simulated faithfully.
  - One code path for every driver: the Linux clock, the no-adjust clock
    (which records what would have been done) and the simulated clock all
    receive the same L{Slew}/L{SetFrequency} calls, so what the tests see is
    what production does.
  - chrony makes the same choice (its loop runs in the daemon and on Linux
    the kernel only gets frequency settings; even its slews are temporary
    frequency offsets), and so does NTPsec with C{disable kernel}: a proven
    design.
  - The kernel PLL is limited to 0.5 s offsets, uses its own fixed gains,
    and would have to be told our time constant and state anyway.

The Kalman loop
===============

Why not the RFC loop. Measured in the simulator under the conditions of
chrony's published comparison (C{benchmarks/accuracy.py}: one server,
minpoll 6, maxpoll 10, wander 1 ppb/s, exponential jitter), the RFC loop
keeps the clock within 0.2 to 13 ms RMS where chrony reaches 35 us to 1.6
ms. Its weaknesses are structural: the FREQ state measures the frequency
once, from two offsets 900 s apart, so at 1 ms of jitter the estimate is
off by a ppm or more; the PLL that must then correct it has a time constant
of 16 poll intervals and an integral gain 16 times slower still, so a
0.1 ppm error takes hours to go while the phase drifts by hundreds of
microseconds; that drift inflates the clock jitter, which lets the poll
interval rise, which slows the loop further. And of every eight samples
the clock filter uses at most one or two (the lowest delay, newer than the
last), holding it for several polls while the clock is corrected under it.

What it does instead (the design of chrony's sourcestats and reference
modules and of ntpd-rs's Kalman filter, with a measurement model of our
own):

  - B{Model.} The free-running offset C{u(t)} (what the offset would be had
    the loop never corrected the clock) is a random walk of frequency: its
    rate C{y} wanders with a variance of C{q**2} per second (C{q} is
    L{DisciplineSettings.wanderPPB}, 3 ppb/sqrt(s) by default), which makes
    C{u}'s variance grow as C{q**2 t**3 / 3}. The loop keeps the estimate
    of C{(u, y)} and its covariance, and the correction C{C(t)} it has
    made: the slews handed to the kernel (less what the kernel, slewing at
    L{KERNEL_SLEW_RATE}, had not yet carried out) plus the integral of the
    frequency correction. A sample's offset C{theta}, taken at C{t}, is a
    measurement of C{u(t) = theta + C(t)}: corrections made while samples
    were in flight or held cannot bias anything.
  - B{Every sample, weighed by its delay.} The system process hands over
    each sample of the system peer as it arrives, with its round-trip
    delay. A sample's error is bounded by half its delay less twice the
    base one-way delay, and with queueing (exponential) delays it is
    uniform within those bounds: its variance is C{excess**2 / 12}. The
    base is the smallest delay of the source's last L{DELAY_WINDOW}
    samples, itself above the truth by about C{0.84 * median excess /
    sqrt(n)} (L{MIN_EXCESS_FACTOR}); until L{DELAY_WINDOW_MIN} samples are
    in, only the whole delay bounds the error; L{MEASUREMENT_FLOOR} is the
    least. A sample that queued little thus counts for much more than one
    that queued long; the min-delay choice of the clock filter is the
    crude version of this.
  - B{Update.} The standard two-state Kalman predict and update, at each
    sample. A sample whose innovation exceeds L{GATE} standard deviations
    is an outlier and is dropped; L{REJECT_LIMIT} in a row mean the offset
    (or the frequency) really moved, and both estimates are opened up to
    what the innovation says. A sample from another source than the last
    (the system peer changed) re-anchors the phase, keeping the frequency.
  - B{Control.} The frequency correction is the estimated C{y}, handed to
    the kernel at once; the phase correction is the estimated C{u} less the
    correction made, handed over each second (at most L{MAX_SLEW_RATE} per
    second): the clock follows the estimate, which is the best guess of the
    time there is. With several survivors, the target is moved by the
    combine algorithm's correction to the system peer (the system offset
    less the peer's own, averaged over L{COMBINE_AVERAGE} samples), so that
    the clock follows the ensemble as RFC 5905's combined offset does, not
    one server's path asymmetry.
  - B{Wander.} The normalized innovations (squared, averaged over
    L{NIS_AVERAGE} samples) are 1 when the model is right; above
    L{NIS_HIGH} the assumed wander variance doubles (up to
    L{WANDER_RANGE} times the configured one), below L{NIS_LOW} it halves
    back towards the configured one. In the benchmark with an oscillator
    wandering 10 ppb/s (over three times the default assumption) this
    brings the error from 11 / 68 / 223 / 906 us to 7.5 / 38 / 176 / 835
    us (7.3 / 31 / 142 / 683 with the wander configured right).
  - B{Poll.} The poll interval doubles (after L{POLL_COUNT} agreeing
    samples) only while the clock could coast over the doubled interval
    with its phase variance growing by less than L{POLL_UP} of the
    estimate's, I{and} with the frequency uncertainty times that interval
    below L{POLL_FREQ_BUDGET} (10 us): the poll stays low while the
    frequency is uncertain, whether because the oscillator wanders (low
    jitter) or because the samples are noisy (high jitter), where more
    samples are what improves the estimate. It halves when either bound is
    exceeded over the present interval. In the benchmark the poll stays at
    minpoll except around 100 us of jitter (about 2**7).
  - B{States.} No FREQ interval: the first small offset starts the filter
    (state SYNC) with the drift file's frequency (standard deviation
    L{DRIFT_UNCERTAINTY_PPM}) or zero (standard deviation
    L{FREQUENCY_PRIOR_PPM}); the frequency is known within a few samples. Big offsets
    follow RFC 5905: stepped at once before the first update, ignored once
    in SYNC (SPIK), stepped when they outlast the stepout interval. After a
    step the phase is anchored afresh on the next sample.
  - B{Clock filters.} The loop corrects the clock within seconds, so the
    offsets the clock filters hold would soon describe a clock that no
    longer exists: with L{Discipline.correctsFilters} the system process
    has every filter re-express its samples relative to the corrected clock
    at each correction (L{ntpservice.core.filter.ClockFilter.correct}),
    which keeps selection comparing like with like.

Measured (C{python benchmarks/accuracy.py}: 10 runs of 4 h per jitter
level, first hour left out, RMS of the true clock error, microseconds,
mean +- sd over runs), with the published figures beside:

    jitter   kalman        rfc5905         chrony       ntpd
    10 us    3.6 +- 0.4    204 +- 161      35 +- 8      234 +- 46
    100 us   22 +- 3       309 +- 164      109 +- 14    256 +- 50
    1 ms     83 +- 15      1491 +- 646     475 +- 93    454 +- 94
    10 ms    474 +- 213    13132 +- 7024   1603 +- 447  3665 +- 651

Part of the lead comes from polling: the loop stays at 64 s (57 requests
an hour) except around 100 us of jitter. Made to poll every 1024 s
(C{--options 'iburst minpoll 10 maxpoll 10'}) it measures 19 / 66 / 288 /
2374 us: still ahead of chrony up to 1 ms of jitter, behind it at 10 ms.

The rfc5905 loop is RFC 5905 Figure 27's (time constant scale 16); the
published ntpd ran the Linux kernel PLL, whose C{SHIFT_PLL} of 2 makes the
loop four times faster: with C{PLL_GAIN = 4} this loop measures 156 / 176 /
570 / 4846 us, close to the published ntpd.

The RFC 5905 loop
=================

Theory of operation. The residual phase offset C{r} (RFC C{c.offset},
L{Discipline.residual}) is set to the measured offset at each accepted
update and decays exponentially: each second L{Discipline.adjust} slews
C{r / tau} with C{tau = 16 * min(2**tc, allan)} seconds (RFC C{clock_adjust};
the cap at the Allan intercept damps residuals at long polls). Because
C{theta - r} then changes only through the frequency error, the offset at
the next update minus the residual still to amortize is exactly the phase
the frequency error accumulated: it drives the frequency-lock loop and the
direct frequency measurement of the FREQ state, and the type II PLL adds
C{theta * min(mu, 2**tc) / (4 * 16 * 2**tc)**2} (RFC C{local_clock}).

State machine (RFC 5905 Figure 28, as implemented; "big" means beyond the
step threshold, C{mu} is the time since the last accepted update, stepout is
900 s by default)::

    State  offset <= step                 offset > step
    NSET   -> FREQ, amortize offset       step, -> FREQ
    FSET   -> SYNC, amortize offset       step, -> SYNC
    FREQ   mu < stepout: ignore           mu < stepout: ignore
           else measure freq, -> SYNC     else measure freq, step, -> SYNC
    SYNC   PLL/FLL update, -> SYNC        -> SPIK, ignore
    SPIK   PLL/FLL update, -> SYNC        mu < stepout: ignore
                                          else step, -> SYNC

A single outlier is therefore always ignored, and a big offset is stepped
only when it has persisted for the stepout interval. After a step the poll
exponent returns to minpoll, the hysteresis counter and the residual to
zero. Before any of this, an offset beyond the panic threshold (1000 s) is
refused and reported (L{UpdateResult.panic}); with C{-g}
(C{allowBigFirstStep}) the first correction may exceed it.

Where this follows ntpd/NTPsec rather than the letter of the RFC skeleton
code (whose constants are inconsistent with its own Figure 27):
  - the PLL gain is Figure 27's C{TC = 16} (ntpd C{CLOCK_PLL}), not the
    skeleton's 65536; jitter and wander average with Figure 27's
    C{AVG = 8} (ntpd C{CLOCK_AVG});
  - the FLL contributes when the poll interval reaches the Allan intercept
    (C{2**tc >= allan}), with the skeleton's weight
    C{1 / max(18 - tc, 4)} (C{FLL = MAXPOLL + 1}); ntpd's C{CLOCK_FLL}
    divisor of 0.25 would be a gain of 4 and is not used;
  - the FLL's and the FREQ state's phase difference is C{theta - r}: the
    residual still to amortize is subtracted, as in the skeleton;
  - a step in the SPIK state leaves the frequency alone (a persistent big
    offset after a spike is a time jump, not a frequency error), as both the
    skeleton code and ntpd do despite Figure 28's "step freq";
  - the first offset in NSET is amortized by L{Discipline.adjust} during
    the FREQ interval (the RFC's way) rather than with one C{adjtime} call
    (ntpd's); the frequency measurement accounts for what is still
    residual, so both give the same frequency;
  - the clock jitter (RFC C{c.jitter}, ntpq C{clk_jitter}) averages the
    surprise of each SYNC-state offset, the offset minus the residual the
    loop still expected to see, rather than the difference from the last
    offset: the same statistic in steady state, but the amortization of a
    large offset no longer passes for jitter;
  - the poll gate compares C{|theta|} with C{PGATE} (4) times the larger of
    the clock jitter and the system jitter handed in by the combine
    algorithm: an offset within the measurement noise carries no
    information, so the poll may grow;
  - an offset that the clock filter held for a while (it releases the
    lowest-delay sample of eight, often several polls old) is compared
    with the residual as it stood when it was measured, and what was
    handed to the driver since is taken off the new residual; ntpd uses
    the residual of the moment, which counts that phase twice. (In the
    benchmark above this changes little: 239 / 279 / 1362 / 12771 us
    before, the loop's own sluggishness dominates.)

ntpd's start-up clamp (C{freq_cnt}) is implemented: from start until the
stepout interval has been spent in SYNC, or until the first offset below
0.5 ms (L{STARTUP_FLOOR}), the frequency is left alone, the poll exponent
held, and the phase amortized with a 32 s time constant. It keeps the
frequency from the drift file or the FREQ measurement from being pulled by
the initial phase transient (a PLL with ntpd's damping turns a 9 ms phase
error at poll 3 into a 4 ppm frequency excursion). Not implemented:
popcorn suppression in this routine (the clock filter does it), the kernel
PLL/PPS paths, and the huff-n'-puff filter (C{tinker huffpuff}), which is
accepted in L{DisciplineSettings} but needs each update's delay and belongs
with the combine algorithm.

Leap indicator: a change is handed on (L{SetLeap}) by accepted updates and
steps only, as ntpd sets the kernel's leap bits only from updates that
pass its state machine; ignored updates (spikes, the FREQ interval) do not
touch it.

Quit-after-set (C{-q}, ntpdate emulation): the first update that passes the
panic check sets the clock at once, a L{Step} beyond the step threshold and
a whole-offset L{Slew} otherwise, bypassing the state machine; then
L{UpdateResult.done} is true and the discipline does nothing more.

Open loop
=========

With C{--no-clock-adjust} or C{disable ntp} the clock is never corrected,
and the shell says so when it builds the discipline (C{openLoop=True}; the
core never asks the driver). Both loops rest on the corrections they make:
the Kalman loop measures the free-running offset as an offset plus the
corrections made, the RFC loop expects the next offset to be what it left
of the last. Corrections that are handed over and never made feed back as
an error that is not there: before the open loop, a client of a server
sharing its clock reported +12 to +21 ppm and saved it in the drift file.

In open loop the measured offsets are those of the uncorrected clock:

  - the Kalman loop takes the corrections made as zero, so its estimate
    (phase C{u}, frequency C{y}) is that of the clock as it runs: the
    phase is the offset, smoothed, and the frequency the slope of the
    offsets. No step threshold applies (a big offset is what the clock
    is; the innovation gate still drops a lone outlier), and the clock
    filters are not re-expressed (L{Discipline.correctsFilters} is false);
  - the RFC loop runs unchanged on a virtual clock, the clock as it would
    be had its corrections been made: each offset less the steps, slews
    and frequency integral it would have handed over. Its frequency
    converges, with the closed loop's dynamics, on the slope of the
    measured offsets; steps are virtual too (the clock's time does not
    move).

What monitoring shows (C{ntpq rv}, statistics, metrics): C{frequency}
(L{Discipline.freqPPM}) is the correction the clock would need, minus its
measured frequency error, the value a closed loop would settle on: about
zero when the server shares the host's clock, as NTPsec shows with
C{disable ntp} (NTPsec shows the drift file's frequency, unchanged; here it
is measured). C{offset} (L{Discipline.offset}) is the estimated offset of
the uncorrected clock: the Kalman estimate at the last sample, or the RFC
loop's last measured offset.

Nothing is handed to the driver: no L{Step}, L{Slew}, L{SetFrequency} or
L{SetLeap} (an update's actions are empty and L{UpdateResult.stepped} is
false), so a driver that does adjust is not touched either. There is no
panic, as in ntpd's C{local_clock}, which returns before its panic check
when the loop is open: nothing is to be set by hand. The drift file's
frequency and C{tinker freq} are not used (the clock runs as whatever set
its frequency last left it, which is what is measured), and
L{Discipline.driftFreqPPM} is C{None}: the drift file is not written,
since no correction was made (and a frequency measured on a clock that
another daemon disciplines says nothing of the oscillator). C{-q} is not
affected: it hands its one correction to the driver, which records it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Hashable

from ntpservice.core.actions import Action, SetFrequency, SetLeap, Slew, Step
from ntpservice.core.actions import checkFinite as _checkFinite

if TYPE_CHECKING:
    from ntpservice.config import TinkerSettings

__all__ = [
    "Discipline",
    "RFC5905Discipline",
    "KalmanDiscipline",
    "DisciplineSettings",
    "ALGORITHM_KALMAN",
    "ALGORITHM_RFC5905",
    "ALGORITHMS",
    "UpdateResult",
    "NSET",
    "FSET",
    "FREQ",
    "SYNC",
    "SPIK",
    "STATE_CODES",
    "PLL_GAIN",
    "FLL_GAIN",
    "AVG",
    "LIMIT",
    "PGATE",
    "MAX_SLEW_RATE",
    "SLEW_RESOLUTION",
    "STARTUP_FLOOR",
]

# States (RFC 5905 Figure 28). The strings are what monitoring shows.
NSET = "NSET"
"""Never set: no frequency known (no drift file); the first update starts
the frequency measurement."""
FSET = "FSET"
"""Frequency set from the drift file (or C{tinker freq}); time not yet set."""
FREQ = "FREQ"
"""Measuring the frequency directly over the stepout interval."""
SYNC = "SYNC"
"""Normal operation: PLL/FLL updates."""
SPIK = "SPIK"
"""A big offset (beyond the step threshold) was seen and ignored."""

STATE_CODES: dict[str, int] = {NSET: 1, FSET: 2, SPIK: 3, FREQ: 4, SYNC: 5}
"""
The numbers ntpd and NTPsec use for the states (C{EVNT_NSET} to
C{EVNT_SYNC}): what C{ntpq -c rv} shows as C{state} and mode 6 reports in
clock event codes.
"""

PLL_GAIN = 16.0
"""
Time constant scale (RFC 5905 Figure 27 C{TC}, ntpd C{CLOCK_PLL}): the phase
is amortized with a time constant of C{PLL_GAIN * 2**tc} seconds, and the
PLL frequency gain is C{1 / (4 * PLL_GAIN * 2**tc)**2} per second.
"""

FLL_GAIN = 18
"""
FLL weight parameter (RFC 5905 Appendix A.5.5.6 C{FLL = MAXPOLL + 1}): the
FLL weight is C{1 / max(FLL_GAIN - tc, FLL_AVG)}.
"""

FLL_AVG = 4
"""The smallest FLL divisor (RFC 5905 A.5.5.6 C{AVG}): weight at most 1/4."""

AVG = 8.0
"""Averaging constant of the jitter and wander estimates (RFC 5905 Figure
27 C{AVG}, ntpd C{CLOCK_AVG})."""

LIMIT = 30
"""Poll-adjust hysteresis limit (RFC 5905 Figure 27 C{LIMIT})."""

PGATE = 4.0
"""Poll-adjust gate, in jitters (RFC 5905 Figure 27 C{PGATE})."""

SLEW_RESOLUTION = 1e-6
"""
Seconds: the resolution of an C{adjtime}-style slew (the kernel takes
microseconds). Phase is handed over rounded to whole microseconds and the
remainder carried to the next second, as ntpd's C{adj_systime} keeps its
residual; portions below half a microsecond accumulate until they count.
"""

MAX_SLEW_RATE = 400e-6
"""
Seconds per second: the most phase L{Discipline.adjust} hands over per
second elapsed. The kernel amortizes a slew at 500 ppm and a new slew
replaces what remains of the last; staying at 80% of that rate lets every
slew finish before the next one arrives even when the timer fires a little
early. What does not fit stays in the residual (ntpd bounds its per-second
adjustment the same way).
"""

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

ALGORITHM_KALMAN = "kalman"
"""L{DisciplineSettings.algorithm}: the Kalman-filter loop (the default), see
the module docstring and L{KalmanDiscipline}."""

ALGORITHM_RFC5905 = "rfc5905"
"""L{DisciplineSettings.algorithm}: RFC 5905's hybrid PLL/FLL, as ntpd runs
it, see L{RFC5905Discipline}."""

ALGORITHMS = (ALGORITHM_KALMAN, ALGORITHM_RFC5905)
"""The algorithms L{DisciplineSettings.algorithm} may name."""

HANDED_RECORD = 65536
"""
Slews the RFC 5905 loop remembers (times and amounts, to compare an offset
with the residual as it stood when the offset was measured); at one a
second, more than eighteen hours, eight polls of 2**13 s.
"""

KERNEL_SLEW_RATE = 500e-6
"""
Seconds per second: the rate at which the kernel carries out a slew
(Linux C{adjtime}, C{ADJ_OFFSET_SINGLESHOT}; the simulated clock does the
same). The Kalman loop uses it to know how much of the last slew the clock
had carried out when a sample was taken.
"""

DEFAULT_WANDER_PPB = 3.0
"""
The oscillator wander the Kalman loop assumes by default, parts per
billion per square-root second: the standard deviation of the random walk
of the frequency over one second. Typical quartz oscillators of computers
at a steady temperature wander 0.3 to 3 ppb/sqrt(s); the loop's accuracy
changes little within a factor of ten of the truth either way (see the
module docstring), so the default sits at the pessimistic end.
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

MIN_EXCESS_FACTOR = 0.84
"""
The estimated queueing excess of the minimum-delay sample of a window of
C{n} samples, in units of the window's median excess, times C{sqrt(n)}:
for exponential one-way delays of mean J the round-trip excess is gamma
(2, J) distributed, its median is 1.68 J and the smallest of C{n} is about
C{J * sqrt(2 / n)}, that is C{0.84 * median / sqrt(n)}.
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

NIS_AVERAGE = 16
"""
Samples over which the Kalman loop averages the normalized innovation
squared (the squared difference between each sample and the prediction,
divided by its predicted variance: 1 on average when the model is right),
and samples it waits between changes of the assumed wander.
"""

NIS_HIGH = 1.5
"""
The average normalized innovation squared above which the Kalman loop
doubles the wander variance it assumes (the oscillator wanders more than
assumed: the predictions are too confident).
"""

NIS_LOW = 0.8
"""
The average normalized innovation squared below which the Kalman loop
halves the wander variance it assumes, down to the configured wander.
"""

WANDER_RANGE = 1024.0
"""
The most the Kalman loop multiplies the configured wander variance by (32
times the wander: 100 ppb/sqrt(s) from the default).
"""

POLL_UP = 0.25
"""
The Kalman loop lengthens the poll interval when coasting over twice the
present interval would add less than this fraction of the phase estimate's
variance (frequency uncertainty and wander), L{POLL_COUNT} times in a row.
"""

POLL_DOWN = 1.0
"""
The Kalman loop shortens the poll interval when coasting over the present
interval adds more than this fraction of the phase estimate's variance.
"""

POLL_FREQ_BUDGET = 10e-6
"""
Seconds: the Kalman loop lengthens the poll interval only while the clock,
free-running on its frequency estimate over the longer interval, would
drift by less than this (one standard deviation of the frequency estimate
times the interval); it shortens it when the drift over the present
interval exceeds twice this.
"""

POLL_COUNT = 4
"""Accepted samples in a row that must allow a longer poll interval."""

POLL_LOG2_MIN = 3
"""The smallest poll exponent accepted in settings (8 s), as ntpd."""

POLL_LOG2_MAX = 17
"""The largest poll exponent accepted in settings (36.4 h), as ntpd."""


def _checkNonNegative(name: str, value: float) -> None:
    """
    @param name: the parameter's name, for the message.
    @param value: a quantity.
    @raise ValueError: if C{value} is not a finite number >= 0.
    """
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")


@dataclass(frozen=True, slots=True)
class DisciplineSettings:
    """
    The knobs of the clock discipline (ntpd's C{tinker} values and the poll
    limits), validated. Build from the configuration with L{fromTinker}.

    @ivar step: step threshold, seconds (RFC C{STEPT}): offsets beyond it
        are stepped (after the stepout interval), smaller ones slewed.
        C{0} disables stepping. The default, 0.125 s, is RFC 5905 Figure
        27's; ntpd's C{tinker step} default is 0.128 s.
    @ivar stepBack: step threshold for negative offsets (the clock would
        step backward), seconds, or C{None} for L{step}; C{0} never steps
        backward (C{tinker stepback}).
    @ivar stepForward: step threshold for positive offsets, seconds, or
        C{None} for L{step}; C{0} never steps forward (C{tinker stepfwd}).
    @ivar stepout: stepout interval, seconds (RFC C{WATCH}): how long a big
        offset must persist before it is stepped, and how long the FREQ
        state measures. RFC 5905's 900 s (recent NTPsec uses 300 s).
    @ivar panic: panic threshold, seconds (RFC C{PANICT}); C{0} disables the
        panic check.
    @ivar allan: Allan intercept, seconds (at least 1): at and above it the
        FLL contributes, and the phase time constant stops growing. The
        default is RFC 5905 Appendix A.5.5.6's compromise C{ALLAN} of
        1500 s; C{tinker allan} is log2 seconds (default 11, 2048 s), and
        both put the FLL in from poll 11 (2048 s).
    @ivar dispersion: dispersion increase rate, seconds per second (RFC
        C{PHI}, C{tinker dispersion}); the discipline does not use it, the
        system process does (root dispersion grows by it each second).
    @ivar initialFreqPPM: initial frequency, parts per million (C{tinker
        freq}), or C{None}. When set it overrides the drift file, as in
        ntpd, and the discipline starts in FSET.
    @ivar huffpuff: huff-n'-puff filter span, seconds, or C{None}. Accepted
        for configuration compatibility, not implemented.
    @ivar freqTolerancePPM: the largest frequency correction, parts per
        million (RFC C{MAXFREQ}, 500).
    @ivar minPollLog2: the smallest poll exponent (time constant) the
        discipline chooses, log2 seconds; also where it starts and where a
        step sends it.
    @ivar maxPollLog2: the largest, log2 seconds.
    @ivar algorithm: the loop: L{ALGORITHM_KALMAN} (the default) or
        L{ALGORITHM_RFC5905}; L{Discipline} builds the matching class.
    @ivar wanderPPB: the oscillator wander the Kalman loop assumes, parts
        per billion per square-root second (L{DEFAULT_WANDER_PPB}); the
        RFC 5905 loop does not use it.
    """

    step: float = 0.125
    stepBack: float | None = None
    stepForward: float | None = None
    stepout: float = 900.0
    panic: float = 1000.0
    allan: float = 1500.0
    dispersion: float = 15e-6
    initialFreqPPM: float | None = None
    huffpuff: float | None = None
    freqTolerancePPM: float = 500.0
    minPollLog2: int = POLL_LOG2_MIN
    maxPollLog2: int = POLL_LOG2_MAX
    algorithm: str = ALGORITHM_KALMAN
    wanderPPB: float = DEFAULT_WANDER_PPB

    def __post_init__(self) -> None:
        """
        @raise ValueError: if a value is out of range.
        """
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"algorithm must be one of {ALGORITHMS}, not {self.algorithm!r}"
            )
        if not (math.isfinite(self.wanderPPB) and self.wanderPPB > 0):
            raise ValueError(
                f"wanderPPB must be a positive number, not {self.wanderPPB!r}"
            )
        _checkNonNegative("step", self.step)
        if self.stepBack is not None:
            _checkNonNegative("stepBack", self.stepBack)
        if self.stepForward is not None:
            _checkNonNegative("stepForward", self.stepForward)
        _checkNonNegative("stepout", self.stepout)
        _checkNonNegative("panic", self.panic)
        _checkNonNegative("dispersion", self.dispersion)
        if self.huffpuff is not None:
            _checkNonNegative("huffpuff", self.huffpuff)
        if not (math.isfinite(self.allan) and self.allan >= 1):
            raise ValueError(
                f"allan must be a number of seconds >= 1, not {self.allan!r}"
            )
        if not (math.isfinite(self.freqTolerancePPM) and self.freqTolerancePPM > 0):
            raise ValueError(
                "freqTolerancePPM must be a positive number, "
                f"not {self.freqTolerancePPM!r}"
            )
        if self.initialFreqPPM is not None:
            _checkFinite("initialFreqPPM", self.initialFreqPPM)
        for name in ("minPollLog2", "maxPollLog2"):
            value = getattr(self, name)
            if not isinstance(value, int) or not (
                POLL_LOG2_MIN <= value <= POLL_LOG2_MAX
            ):
                raise ValueError(
                    f"{name} must be an int from {POLL_LOG2_MIN} to "
                    f"{POLL_LOG2_MAX}, not {value!r}"
                )
        if self.minPollLog2 > self.maxPollLog2:
            raise ValueError(
                f"minPollLog2 {self.minPollLog2} exceeds maxPollLog2 "
                f"{self.maxPollLog2}"
            )

    @classmethod
    def fromTinker(
        cls,
        tinker: TinkerSettings,
        minPollLog2: int = POLL_LOG2_MIN,
        maxPollLog2: int = POLL_LOG2_MAX,
        algorithm: str | None = None,
    ) -> DisciplineSettings:
        """
        The settings a configuration's C{tinker} values give.

        Mapping: C{step}, C{stepback}, C{stepfwd}, C{stepout}, C{panic} and
        C{dispersion} as they are (seconds, seconds per second); C{allan}
        from log2 seconds to seconds (C{2**allan}); C{freq} to
        L{initialFreqPPM}; C{huffpuff} as it is. C{tick} concerns the
        precision, not the discipline, and is ignored.

        @param tinker: a L{ntpservice.config.TinkerSettings}.
        @param minPollLog2: the smallest poll exponent, log2 seconds
            (the system's minpoll).
        @param maxPollLog2: the largest poll exponent, log2 seconds.
        @param algorithm: the loop (L{ALGORITHMS}); C{None}: the
            configuration's C{tinker algorithm} when it has one, else
            L{ALGORITHM_KALMAN}.
        @return: the settings.
        @raise ValueError: if a value is out of range.
        """
        if algorithm is None:
            algorithm = getattr(tinker, "algorithm", None) or ALGORITHM_KALMAN
        return cls(
            step=float(tinker.step),
            stepBack=None if tinker.stepback is None else float(tinker.stepback),
            stepForward=None if tinker.stepfwd is None else float(tinker.stepfwd),
            stepout=float(tinker.stepout),
            panic=float(tinker.panic),
            allan=2.0 ** float(tinker.allan),
            dispersion=float(tinker.dispersion),
            initialFreqPPM=None if tinker.freq is None else float(tinker.freq),
            huffpuff=None if tinker.huffpuff is None else float(tinker.huffpuff),
            minPollLog2=minPollLog2,
            maxPollLog2=maxPollLog2,
            algorithm=str(algorithm),
        )

    def exceedsStep(self, offset: float) -> bool:
        """
        Whether an offset is beyond the step threshold for its direction.

        @param offset: seconds, positive when the clock is behind (a step
            would move it forward).
        @return: C{True} if a step would be due (thresholds of zero never
            step).
        """
        forward = self.step if self.stepForward is None else self.stepForward
        backward = self.step if self.stepBack is None else self.stepBack
        return (forward > 0 and offset > forward) or (
            backward > 0 and -offset > backward
        )


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """
    What one L{Discipline.update} decided.

    @ivar actions: what the shell must do at once on its clock driver, in
        order: a L{Step} or (C{-q} only) a L{Slew}, a L{SetFrequency} when
        the frequency changed, a L{SetLeap} when the leap indicator changed;
        nothing in open loop.
    @ivar state: the state after the update (L{NSET}, L{FSET}, L{FREQ},
        L{SYNC} or L{SPIK}).
    @ivar pollLog2: the system poll exponent to use from now on, log2
        seconds (RFC C{s.poll}, the loop time constant).
    @ivar stepped: whether the clock is to be stepped (the actions hold a
        L{Step}); the system process then clears its associations' filters.
    @ivar panic: whether the offset exceeded the panic threshold: nothing
        was done, and ntpd would exit ("set clock manually").
    @ivar ignored: whether the update was ignored (a spike, or inside the
        FREQ or SPIK stepout interval, or a panic); the system process then
        keeps its previous system variables.
    @ivar freqPPM: the frequency correction now, parts per million.
    @ivar offset: the residual phase offset still to be amortized by
        L{Discipline.adjust}, seconds.
    @ivar done: with C{quitAfterSet}: the clock has been set (stepped, or
        the whole offset slewed), the daemon may exit. Always C{False}
        otherwise.
    """

    actions: tuple[Action, ...]
    state: str
    pollLog2: int
    stepped: bool
    panic: bool
    freqPPM: float
    offset: float
    done: bool = False
    ignored: bool = False


class Discipline:
    """
    A clock discipline: what the two loops share (the settings, the start
    state, the panic check, quit-after-set, the leap indicator, frequency
    hand-over and the monitoring variables). See the module docstring.

    C{Discipline(settings, ...)} builds the class of C{settings.algorithm}:
    a L{KalmanDiscipline} or an L{RFC5905Discipline}, so the shell does not
    need to know which loop it runs.

    Monitoring properties carry the names C{ntpq -c rv} shows in comments.

    @cvar algorithm: the L{DisciplineSettings.algorithm} a class implements.
    @cvar everySample: whether the system process should hand the loop
        every new sample of the system peer as it arrives, with its delay
        (L{update}'s C{delay}, C{source} and C{currentTime}), rather than
        only the samples the clock filter releases, with the combined
        offset.
    @cvar correctsFilters: whether the system process should have the
        clock filters re-express their samples relative to the clock as
        corrected (L{ntpservice.core.filter.ClockFilter.correct}) whenever
        the loop corrects it; ntpd's filters keep the offsets as measured.
        An instance in open loop never does (it corrects nothing).
    """

    algorithm: str = ""
    everySample: bool = False
    correctsFilters: bool = False

    def __new__(
        cls, settings: DisciplineSettings, *args: object, **kwargs: object
    ) -> Discipline:
        """
        @param settings: the knobs; C{settings.algorithm} chooses the class
            when C{Discipline} itself is called.
        @return: a new instance of the matching subclass.
        """
        if cls is Discipline:
            cls = _CLASSES[settings.algorithm]
        return super().__new__(cls)

    def __init__(
        self,
        settings: DisciplineSettings,
        initialFreqPPM: float | None = None,
        allowBigFirstStep: bool = False,
        quitAfterSet: bool = False,
        *,
        openLoop: bool = False,
    ) -> None:
        """
        @param settings: the knobs.
        @param initialFreqPPM: the frequency from the drift file, parts per
            million, or C{None} if unknown (no drift file): then the
            discipline starts in NSET and measures the frequency, otherwise
            in FSET with this frequency. C{settings.initialFreqPPM} (C{tinker
            freq}) takes precedence. Clamped to the frequency tolerance.
            Both are ignored in open loop.
        @param allowBigFirstStep: ntpd's C{-g}: the first correction may
            exceed the panic threshold.
        @param quitAfterSet: ntpd's C{-q}: set the clock once, then report
            L{UpdateResult.done}.
        @param openLoop: whether the clock is left alone (C{--no-clock-adjust},
            C{disable ntp}): the loop then estimates the offset and frequency
            of the uncorrected clock and hands nothing to the driver (see
            "Open loop" in the module docstring). The shell that chooses the
            clock driver says so here; the discipline never asks the driver.
        @raise ValueError: if C{initialFreqPPM} is not finite.
        """
        self._settings = settings
        self._maxFreqPPM = float(settings.freqTolerancePPM)
        self._openLoop = bool(openLoop)
        freqPPM = settings.initialFreqPPM
        if freqPPM is None:
            freqPPM = initialFreqPPM
        if self._openLoop:
            # A frequency correction (the drift file's, tinker freq) says
            # what the oscillator needed when it was corrected; the clock
            # now runs as whatever set it last left it, which is what the
            # open loop measures.
            freqPPM = None
        if freqPPM is None:
            self._state = NSET
            self._freqPPM = 0.0
        else:
            self._state = FSET
            self._freqPPM = self._clampFrequency(
                _checkFinite("initialFreqPPM", freqPPM)
            )
        self._allowPanic = bool(allowBigFirstStep)
        self._quitAfterSet = bool(quitAfterSet)
        self._done = False
        self._lastOffset = 0.0
        self._epoch: float | None = None
        self._jitter = 0.0
        self._wanderPPM = 0.0
        self._count = 0
        self._pollLog2 = settings.minPollLog2
        self._leap = 0
        self._appliedFreqPPM: float | None = None
        self._lastAdjust: float | None = None
        # The frequency corrections handed to the driver (or, in open loop,
        # that would have been): their integral up to _fTime, seconds, and
        # the frequency in force since _fTime, seconds per second.
        self._fIntegral = 0.0
        self._fTime: float | None = None
        self._fApplied = 0.0

    # Monitoring

    @property
    def settings(self) -> DisciplineSettings:
        """The settings in force."""
        return self._settings

    @property
    def offset(self) -> float:
        """
        The last accepted offset, seconds (ntpq C{offset}, ntpd
        C{last_offset}); zero after a step.
        """
        return self._lastOffset

    @property
    def residual(self) -> float:
        """
        The phase offset still to be handed to the driver, seconds.
        """
        raise NotImplementedError()

    @property
    def freqPPM(self) -> float:
        """
        The frequency correction, parts per million (ntpq C{frequency}); in
        open loop, the correction the clock would need: minus the measured
        frequency error of the uncorrected clock.
        """
        return self._freqPPM

    @property
    def openLoop(self) -> bool:
        """
        Whether the loop runs open (the clock is not corrected): see the
        module docstring.
        """
        return self._openLoop

    @property
    def driftFreqPPM(self) -> float | None:
        """
        The frequency to keep in the drift file, parts per million: the
        correction in force; C{None} in open loop, where no correction was
        ever made and the estimate describes the clock as something else
        left it, not the oscillator (the drift file is then not written).
        """
        if self._openLoop:
            return None
        return self._freqPPM

    @property
    def jitter(self) -> float:
        """
        The clock jitter, seconds (ntpq C{clk_jitter}): the exponentially
        averaged RMS of the SYNC-state offsets less what the loop expected
        to see (see the module docstring).
        """
        return self._jitter

    @property
    def wander(self) -> float:
        """
        The clock wander, parts per million (ntpq C{clk_wander}): the
        exponentially averaged RMS of frequency changes.
        """
        return self._wanderPPM

    @property
    def state(self) -> str:
        """
        The state: L{NSET}, L{FSET}, L{FREQ}, L{SYNC} or L{SPIK} (ntpq
        C{state} shows L{STATE_CODES}C{[state]}).
        """
        return self._state

    @property
    def pollLog2(self) -> int:
        """The system poll exponent, log2 seconds (RFC C{s.poll})."""
        return self._pollLog2

    @property
    def timeConstant(self) -> int:
        """
        The loop time constant exponent, log2 seconds (ntpq C{tc}): the
        system poll exponent, as in ntpd.
        """
        return self._pollLog2

    @property
    def lastUpdate(self) -> float | None:
        """
        When the last accepted update (or step) happened, seconds of the
        local clock since the Unix epoch (shifted by later steps), or
        C{None} before the first.
        """
        return self._epoch

    @property
    def done(self) -> bool:
        """With C{quitAfterSet}: whether the clock has been set."""
        return self._done

    # The local clock process

    def update(
        self,
        offset: float,
        jitter: float,
        now: float,
        pollLog2: int,
        leap: int = 0,
        *,
        delay: float | None = None,
        source: Hashable = None,
        currentTime: float | None = None,
        combine: float = 0.0,
    ) -> UpdateResult:
        """
        Process a new offset (RFC 5905 C{local_clock}).

        @param offset: seconds, positive when the local clock is behind:
            the system offset from the combine algorithm, or (for a loop
            that takes L{everySample}) the offset of one sample.
        @param jitter: the system jitter, seconds (RFC C{s.jitter}).
        @param now: when the offset was measured (the sample time),
            seconds of the local clock since the Unix epoch.
        @param pollLog2: the current system poll exponent, log2 seconds;
            clamped to the settings' range. Normally the previous result's
            L{UpdateResult.pollLog2}.
        @param leap: the leap indicator voted by the survivors (0-3; 3,
            unsynchronized, counts as 0).
        @param delay: the sample's round-trip delay, seconds, or C{None}
            (the Kalman loop then takes C{jitter} as the sample's error).
        @param source: who measured it (the association ID): the Kalman
            loop tracks each source's path delay apart, and re-anchors its
            phase when the system peer changes.
        @param currentTime: the local clock now, seconds since the Unix
            epoch, at least C{now}; C{None} for C{now}. The actions are
            carried out then, and what the loop handed to the clock between
            C{now} and C{currentTime} is accounted for.
        @param combine: for a loop that takes L{everySample}: the system
            offset of the combine algorithm less the source's own filtered
            offset, seconds (zero with a single survivor): how far the
            ensemble of survivors puts true time from this source's.
        @return: an L{UpdateResult}.
        @raise ValueError: if a quantity is not finite, C{jitter} or
            C{delay} is negative or C{leap} is not 0-3.
        @see: RFC 5905 section 11.3 and Appendix A.5.5.6
        """
        offset = _checkFinite("offset", offset)
        jitter = _checkFinite("jitter", jitter)
        if jitter < 0:
            raise ValueError(f"jitter must not be negative, not {jitter!r}")
        now = _checkFinite("now", now)
        if delay is not None:
            delay = _checkFinite("delay", delay)
            if delay < 0:
                raise ValueError(f"delay must not be negative, not {delay!r}")
        current = (
            now if currentTime is None else _checkFinite("currentTime", currentTime)
        )
        current = max(current, now)
        combine = _checkFinite("combine", combine)
        if leap not in (0, 1, 2, 3):
            raise ValueError(f"leap must be 0, 1, 2 or 3, not {leap!r}")
        leap = 0 if leap == 3 else int(leap)
        settings = self._settings
        poll = max(settings.minPollLog2, min(settings.maxPollLog2, int(pollLog2)))

        if self._done:
            return self._result((), ignored=True)
        self._pollLog2 = poll

        if self._quitAfterSet:
            if (
                settings.panic > 0
                and abs(offset) > settings.panic
                and not self._allowPanic
            ):
                return self._result((), panic=True, ignored=True)
            return self._setOnce(offset, leap)

        if self._openLoop:
            # Nothing is set by hand either: no panic (as ntpd's
            # local_clock, which returns before its panic check when the
            # loop is open).
            result = self._update(
                offset, jitter, now, poll, leap, delay, source, current, combine
            )
            return replace(result, actions=(), stepped=False)

        if settings.panic > 0 and abs(offset) > settings.panic and not self._allowPanic:
            return self._result((), panic=True, ignored=True)

        return self._update(
            offset, jitter, now, poll, leap, delay, source, current, combine
        )

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
        """
        The loop proper, after the checks every loop shares; see L{update}.

        @param poll: the clamped poll exponent, log2 seconds.
        @param leap: the normalized leap indicator.
        @param currentTime: the local clock now (never before C{now}).
        """
        raise NotImplementedError()

    def _setOnce(self, offset: float, leap: int) -> UpdateResult:
        """
        Quit-after-set (C{-q}): correct the whole offset at once.

        @param offset: seconds.
        @param leap: the normalized leap indicator.
        @return: the result, with L{UpdateResult.done} set.
        """
        self._done = True
        self._allowPanic = False
        self._lastOffset = offset
        stepped = self._settings.exceedsStep(offset)
        actions: list[Action] = [Step(offset) if stepped else Slew(offset)]
        actions.extend(self._leapActions(leap))
        return self._result(tuple(actions), stepped=stepped)

    def _leapActions(self, leap: int) -> list[Action]:
        """
        @param leap: the normalized leap indicator of an accepted update.
        @return: a L{SetLeap} if it changed, else nothing.
        """
        if leap == self._leap:
            return []
        self._leap = leap
        return [SetLeap(leap)]

    def _averageWander(self, oldFreqPPM: float) -> None:
        """
        Fold a frequency change into the wander average.

        @param oldFreqPPM: the frequency before the update, ppm.
        """
        change = self._freqPPM - oldFreqPPM
        self._wanderPPM = math.sqrt(
            self._wanderPPM**2 + (change**2 - self._wanderPPM**2) / AVG
        )

    def _averageJitter(self, surprise: float) -> None:
        """
        Fold a surprise (an offset less what the loop expected) into the
        clock jitter average.

        @param surprise: seconds.
        """
        self._jitter = math.sqrt(
            self._jitter**2 + (surprise**2 - self._jitter**2) / AVG
        )

    def _clampFrequency(self, freqPPM: float) -> float:
        """
        @param freqPPM: parts per million.
        @return: C{freqPPM} clamped to the frequency tolerance.
        """
        return max(-self._maxFreqPPM, min(self._maxFreqPPM, freqPPM))

    def _setFrequency(self, when: float) -> SetFrequency:
        """
        @param when: the local clock when the driver will carry it out,
            seconds.
        @return: the action handing the current frequency to the driver,
            remembered as handed over.
        """
        self._appliedFreqPPM = self._freqPPM
        self._frequencyHandedOver(when)
        return SetFrequency(self._freqPPM)

    def _frequencyHandedOver(self, when: float) -> None:
        """
        The current frequency goes to the driver at C{when} (local clock
        seconds): fold the one in force until then into the integral.
        """
        if self._fTime is not None:
            self._fIntegral += self._fApplied * (when - self._fTime)
        self._fTime = when
        self._fApplied = self._freqPPM * 1e-6

    def _frequencyCorrection(self, when: float) -> float:
        """
        @param when: local clock seconds.
        @return: the integral of the frequency corrections handed over, up
            to C{when}, seconds.
        """
        correction = self._fIntegral
        if self._fTime is not None:
            correction += self._fApplied * (when - self._fTime)
        return correction

    def _result(
        self,
        actions: tuple[Action, ...],
        stepped: bool = False,
        panic: bool = False,
        ignored: bool = False,
    ) -> UpdateResult:
        """
        @return: an L{UpdateResult} with the current state.
        """
        return UpdateResult(
            actions=actions,
            state=self._state,
            pollLog2=self._pollLog2,
            stepped=stepped,
            panic=panic,
            freqPPM=self._freqPPM,
            offset=self.residual,
            done=self._done,
            ignored=ignored,
        )

    # The clock-adjust process

    def adjust(self, now: float) -> tuple[Action, ...]:
        """
        The once-per-second clock-adjust process (RFC 5905 section 12,
        C{clock_adjust}), for a discipline in user space: a
        L{SetFrequency} whenever the frequency differs from the one last
        handed over (always on the first call, so the drift file's
        frequency, or zero, is installed at start), then the loop's share
        of the phase correction as a L{Slew}, in whole microseconds
        (L{SLEW_RESOLUTION}), at most L{MAX_SLEW_RATE} per second elapsed.

        @param now: seconds of the local clock since the Unix epoch. Calls
            should come about a second apart; a longer gap is handled.
        @return: the actions to carry out, in order: at most one
            L{SetFrequency} then at most one L{Slew}.
        @see: RFC 5905 section 12 and Appendix A.5.6.1
        """
        now = _checkFinite("now", now)
        elapsed = 1.0 if self._lastAdjust is None else now - self._lastAdjust
        self._lastAdjust = now
        actions: list[Action] = []
        if self._appliedFreqPPM != self._freqPPM:
            actions.append(self._setFrequency(now))
        if self._done or elapsed <= 0:
            return tuple(actions)
        slew = self._adjustPhase(now, elapsed)
        if slew is not None:
            actions.append(slew)
        if self._openLoop:
            return ()
        return tuple(actions)

    def _adjustPhase(self, now: float, elapsed: float) -> Slew | None:
        """
        The loop's phase correction for this second.

        @param now: local clock seconds.
        @param elapsed: seconds since the last call (positive).
        @return: the slew to hand over, if any.
        """
        raise NotImplementedError()


class RFC5905Discipline(Discipline):
    """
    The RFC 5905 clock discipline: state machine, hybrid PLL/FLL, clock
    adjust process and poll exponent, as ntpd runs them
    (C{algorithm="rfc5905"}). See the module docstring.
    """

    algorithm = ALGORITHM_RFC5905
    everySample = False
    correctsFilters = False

    def __init__(
        self,
        settings: DisciplineSettings,
        initialFreqPPM: float | None = None,
        allowBigFirstStep: bool = False,
        quitAfterSet: bool = False,
        *,
        openLoop: bool = False,
    ) -> None:
        super().__init__(
            settings,
            initialFreqPPM,
            allowBigFirstStep,
            quitAfterSet,
            openLoop=openLoop,
        )
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
        mu = 0.0 if self._epoch is None else max(0.0, now - self._epoch)
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

        if settings.exceedsStep(offset):
            state = self._state
            if state == SYNC:
                # The first outlier is ignored; the stepout interval counts
                # from the last accepted update.
                self._state = SPIK
                return self._result((), ignored=True)
            if state in (FREQ, SPIK) and mu < settings.stepout:
                return self._result((), ignored=True)
            if state == FREQ:
                freq = self._directFrequency(offset, mu, residualThen)
            actions.append(Step(offset))
            stepped = True
            self._allowPanic = False
            self._count = 0
            self._jitter = 0.0
            self._pollLog2 = poll = settings.minPollLog2
            # Our own timestamps move with the clock; in open loop the step
            # is only counted, the clock (and the time it reads) stays.
            shift = offset
            if self._openLoop:
                self._virtualSteps += offset
                shift = 0.0
            if self._lastAdjust is not None:
                self._lastAdjust += shift
            if self._fTime is not None:
                self._fTime += shift
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

        freq = self._clampFrequency(freq)
        self._freqPPM = freq
        self._averageWander(oldFreq)
        self._adjustPoll(jitter)
        if freq != oldFreq:
            actions.append(self._setFrequency(currentTime))
        actions.extend(self._leapActions(leap))
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
        gain = 4.0 * PLL_GAIN * interval
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
            if self._count > LIMIT:
                self._count = LIMIT
                if self._pollLog2 < settings.maxPollLog2:
                    self._count = 0
                    self._pollLog2 += 1
        else:
            self._count -= 2 * self._pollLog2
            if self._count < -LIMIT:
                self._count = -LIMIT
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
            tau = PLL_GAIN * min(2.0**tcLog2, self._settings.allan)
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


class KalmanDiscipline(Discipline):
    """
    The Kalman-filter clock discipline (C{algorithm="kalman"}, the
    default): it estimates the free-running oscillator's phase and
    frequency from every sample of the system peer, each weighted by what
    its delay says of its error, and steers the clock onto the estimate.
    See the module docstring.
    """

    algorithm = ALGORITHM_KALMAN
    everySample = True
    correctsFilters = True

    def __init__(
        self,
        settings: DisciplineSettings,
        initialFreqPPM: float | None = None,
        allowBigFirstStep: bool = False,
        quitAfterSet: bool = False,
        *,
        openLoop: bool = False,
    ) -> None:
        super().__init__(
            settings,
            initialFreqPPM,
            allowBigFirstStep,
            quitAfterSet,
            openLoop=openLoop,
        )
        if openLoop:
            # The clock is not corrected: the filters' offsets stay true.
            self.correctsFilters = False
        # The random walk of the frequency: its variance per second, (s/s)^2/s.
        self._q2 = (settings.wanderPPB * 1e-9) ** 2
        # The estimate of the free-running offset u (seconds) and its rate
        # y (seconds per second) at _kfTime (local clock seconds; None while
        # the phase is unknown), with their covariance.
        self._kfTime: float | None = None
        self._u = 0.0
        self._y = self._freqPPM * 1e-6
        self._p00 = 0.0
        self._p01 = 0.0
        uncertaintyPPM = (
            DRIFT_UNCERTAINTY_PPM
            if self._state == FSET
            else min(FREQUENCY_PRIOR_PPM, settings.freqTolerancePPM)
        )
        self._p11 = (uncertaintyPPM * 1e-6) ** 2
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
        # The combine algorithm's correction to the source, averaged, s.
        self._combine = 0.0
        self._nis = 1.0
        self._nisCount = 0

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
        return math.sqrt(max(0.0, self._p00))

    @property
    def modelWanderPPB(self) -> float:
        """
        The oscillator wander the loop assumes now, parts per billion per
        square-root second: the configured L{DisciplineSettings.wanderPPB},
        raised while the innovations say the oscillator wanders more.
        """
        return math.sqrt(self._q2) * 1e9

    @property
    def freqErrorPPM(self) -> float:
        """
        The estimated standard deviation of the frequency estimate, parts
        per million.
        """
        return math.sqrt(max(0.0, self._p11)) * 1e6

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

    def _shiftTimes(self, offset: float) -> None:
        """
        The clock was stepped by C{offset} seconds: move every local
        timestamp kept, so that it names the same instant.
        """
        if self._lastAdjust is not None:
            self._lastAdjust += offset
        if self._fTime is not None:
            self._fTime += offset
        if self._freqTime is not None:
            self._freqTime += offset
        self._slews = deque(((t + offset, a) for t, a in self._slews), maxlen=4)

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
        q2 = self._q2
        if self._kfTime is None:
            # The phase is unknown (start, or after a step): anchor it on
            # this sample; the frequency estimate ages meanwhile.
            if self._freqTime is not None:
                self._p11 += q2 * max(0.0, when - self._freqTime)
            self._u = z
            self._p00 = r
            self._p01 = 0.0
            self._kfTime = self._freqTime = when
            self._source = source
            self._rejected = 0
            return True
        dt = max(0.0, when - self._kfTime)
        p00, p01, p11 = self._p00, self._p01, self._p11
        # Predict.
        u = self._u + self._y * dt
        p00 += dt * (2.0 * p01 + dt * p11) + q2 * dt**3 / 3.0
        p01 += dt * p11 + q2 * dt * dt / 2.0
        p11 += q2 * dt
        innovation = z - u
        s = p00 + r
        if source != self._source:
            # Another server: its path may be asymmetric otherwise; follow
            # its phase, keep the frequency.
            p00 += innovation * innovation
            s = p00 + r
        elif innovation * innovation > GATE * GATE * s:
            self._rejected += 1
            if self._rejected < REJECT_LIMIT:
                return False
            # The offset did move, by a jump or because the frequency
            # changed: open up both estimates to what the innovation says.
            p00 += innovation * innovation
            if dt > 0:
                p11 += (innovation / dt) ** 2
            s = p00 + r
        self._rejected = 0
        self._averageJitter(innovation)
        self._adaptWander(innovation * innovation / s)
        k0 = p00 / s
        k1 = p01 / s
        self._u = u + k0 * innovation
        self._y = self._clampFrequency((self._y + k1 * innovation) * 1e6) * 1e-6
        self._p11 = max(0.0, p11 - k1 * p01)
        self._p01 = p01 * (1.0 - k0)
        self._p00 = p00 * (1.0 - k0)
        self._kfTime = self._freqTime = when
        self._source = source
        return True

    def _adaptWander(self, nis: float) -> None:
        """
        Raise the assumed wander when the innovations are larger than the
        model says (the oscillator wanders more than assumed), and bring it
        back towards the configured value when they are not.

        @param nis: the normalized innovation squared of an accepted
            sample (its square divided by its predicted variance; 1 on
            average when the model is right).
        """
        self._nis += (nis - self._nis) / NIS_AVERAGE
        self._nisCount += 1
        if self._nisCount < NIS_AVERAGE:
            return
        base = (self._settings.wanderPPB * 1e-9) ** 2
        if self._nis > NIS_HIGH and self._q2 < base * WANDER_RANGE:
            self._q2 *= 2.0
            self._nisCount = 0
        elif self._nis < NIS_LOW and self._q2 > base:
            self._q2 = max(base, self._q2 / 2.0)
            self._nisCount = 0

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
        settings = self._settings
        mu = 0.0 if self._epoch is None else max(0.0, now - self._epoch)
        oldFreq = self._freqPPM
        actions: list[Action] = []
        stepped = False
        # In open loop a big offset is what the clock is: measured like
        # any other (the gate still drops a lone outlier).
        if not self._openLoop and settings.exceedsStep(offset):
            state = self._state
            if state == SYNC:
                # The first big offset is ignored; the stepout interval
                # counts from the last accepted update.
                self._state = SPIK
                return self._result((), ignored=True)
            if state == SPIK and mu < settings.stepout:
                return self._result((), ignored=True)
            # NSET, FSET, or a big offset that outlasted the stepout.
            actions.append(Step(offset))
            stepped = True
            self._allowPanic = False
            self._count = 0
            self._jitter = 0.0
            self._pollLog2 = settings.minPollLog2
            # The step is a correction like a slew, but the phase estimate
            # was wrong: it is anchored afresh on the next sample.
            if self._kfTime is not None:
                self._p11 += self._q2 * max(0.0, currentTime - self._kfTime)
                self._freqTime = currentTime
            self._kfTime = None
            self._handed += offset
            self._shiftTimes(offset)
            self._state = SYNC
            self._epoch = now + offset
            self._lastOffset = 0.0
            self._pending = 0.0
        else:
            switched = source != self._source or self._kfTime is None
            if not self._measure(offset, delay, jitter, now, source):
                return self._result((), ignored=True)
            if switched:
                self._combine = combine
            else:
                self._combine += (combine - self._combine) / COMBINE_AVERAGE
            self._allowPanic = False
            self._state = SYNC
            self._epoch = now
            self._lastOffset = offset
            self._freqPPM = self._clampFrequency(self._y * 1e6)
            self._pending = self._target(currentTime) - self._correction(
                currentTime, executed=False
            )
            if self._openLoop:
                # Monitoring shows the estimated offset of the uncorrected
                # clock now (the ensemble's, as the target), not one sample.
                self._lastOffset = self._pending
            self._adjustPoll()
        self._averageWander(oldFreq)
        if self._freqPPM != oldFreq:
            actions.append(self._setFrequency(currentTime))
        actions.extend(self._leapActions(leap))
        return self._result(tuple(actions), stepped=stepped)

    def _target(self, when: float) -> float:
        """
        @param when: local clock seconds.
        @return: the estimated free-running offset at C{when}, seconds: the
            correction the clock should have received by then.
        """
        assert self._kfTime is not None
        return self._u + self._y * (when - self._kfTime) + self._combine

    def _adjustPoll(self) -> None:
        """
        Choose the poll exponent (see the module docstring).
        """
        settings = self._settings
        poll = self._pollLog2
        interval = 2.0**poll
        q2 = self._q2
        p00 = self._p00
        p11 = self._p11

        def growth(seconds: float) -> float:
            return p11 * seconds * seconds + q2 * seconds**3 / 3.0

        drift = math.sqrt(p11)
        if poll > settings.minPollLog2 and (
            growth(interval) > POLL_DOWN * p00
            or drift * interval > 2 * POLL_FREQ_BUDGET
        ):
            self._pollLog2 = poll - 1
            self._count = 0
            return
        if (
            poll < settings.maxPollLog2
            and growth(2 * interval) < POLL_UP * p00
            and drift * 2 * interval < POLL_FREQ_BUDGET
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


_CLASSES: dict[str, type[Discipline]] = {
    ALGORITHM_KALMAN: KalmanDiscipline,
    ALGORITHM_RFC5905: RFC5905Discipline,
}
"""The class of each L{DisciplineSettings.algorithm}."""
