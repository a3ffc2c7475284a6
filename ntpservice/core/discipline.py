# -*- test-case-name: tests.core.test_discipline -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The clock discipline: the hybrid PLL/FLL of RFC 5905 with its state machine,
the once-per-second clock-adjust process and the management of the system
poll interval (the loop time constant).

@see: RFC 5905 section 11.3 (Clock Discipline Algorithm), section 12 (Clock
    Adjust Process), section 13 (Poll Process), Appendix A.5.5.6
    (C{local_clock}, C{rstclock}) and A.5.6.1 (C{clock_adjust}).

Two entry points, both pure (time comes in as arguments, decisions go out as
L{ntpservice.core.actions} objects that the shell carries out on its
L{ntpservice.interfaces.IClockDriver}):

  - L{Discipline.update} is RFC C{local_clock}: called by the system process
    with the combined offset after each system update (about once per poll
    interval). It runs the state machine, may order a L{Step}, computes the
    new frequency, the clock jitter and wander, and adjusts the poll
    exponent.
  - L{Discipline.adjust} is RFC C{clock_adjust}: called once per second. It
    hands the driver the part of the residual phase offset to amortize in
    this second (a L{Slew}), and the frequency (a L{SetFrequency}) whenever
    it differs from the one last handed over.

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
    information, so the poll may grow.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ntpservice.core.actions import Action, SetFrequency, SetLeap, Slew, Step

if TYPE_CHECKING:
    from ntpservice.config import TinkerSettings

__all__ = [
    "Discipline",
    "DisciplineSettings",
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

POLL_LOG2_MIN = 3
"""The smallest poll exponent accepted in settings (8 s), as ntpd."""

POLL_LOG2_MAX = 17
"""The largest poll exponent accepted in settings (36.4 h), as ntpd."""


def _checkFinite(name: str, value: float) -> float:
    """
    @param name: the parameter's name, for the message.
    @param value: a quantity.
    @return: C{value} as a C{float}.
    @raise ValueError: if C{value} is NaN or infinite.
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return value


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

    def __post_init__(self) -> None:
        """
        @raise ValueError: if a value is out of range.
        """
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
        @return: the settings.
        @raise ValueError: if a value is out of range.
        """
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
        the frequency changed, a L{SetLeap} when the leap indicator changed.
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
    The RFC 5905 clock discipline: state machine, hybrid PLL/FLL, clock
    adjust process and poll exponent. See the module docstring.

    Monitoring properties carry the names C{ntpq -c rv} shows in comments.
    """

    def __init__(
        self,
        settings: DisciplineSettings,
        initialFreqPPM: float | None = None,
        allowBigFirstStep: bool = False,
        quitAfterSet: bool = False,
    ) -> None:
        """
        @param settings: the knobs.
        @param initialFreqPPM: the frequency from the drift file, parts per
            million, or C{None} if unknown (no drift file): then the
            discipline starts in NSET and measures the frequency, otherwise
            in FSET with this frequency. C{settings.initialFreqPPM} (C{tinker
            freq}) takes precedence. Clamped to the frequency tolerance.
        @param allowBigFirstStep: ntpd's C{-g}: the first correction may
            exceed the panic threshold.
        @param quitAfterSet: ntpd's C{-q}: set the clock once, then report
            L{UpdateResult.done}.
        @raise ValueError: if C{initialFreqPPM} is not finite.
        """
        self._settings = settings
        self._maxFreqPPM = float(settings.freqTolerancePPM)
        freqPPM = settings.initialFreqPPM
        if freqPPM is None:
            freqPPM = initialFreqPPM
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
        # Loop variables (RFC 5905 Figure 27, prefix c.).
        self._residual = 0.0
        self._carry = 0.0
        self._lastOffset = 0.0
        self._epoch: float | None = None
        self._jitter = 0.0
        self._wanderPPM = 0.0
        self._count = 0
        self._pollLog2 = settings.minPollLog2
        self._leap = 0
        self._appliedFreqPPM: float | None = None
        self._lastAdjust: float | None = None
        # The start-up clamp (ntpd freq_cnt), seconds of SYNC state left.
        self._startupClamp = float(settings.stepout)

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
        The phase offset still to be handed to the driver, seconds (RFC
        C{c.offset}, decaying between updates).
        """
        return self._residual + self._carry

    @property
    def freqPPM(self) -> float:
        """The frequency correction, parts per million (ntpq C{frequency})."""
        return self._freqPPM

    @property
    def jitter(self) -> float:
        """
        The clock jitter, seconds (ntpq C{clk_jitter}): the exponentially
        averaged RMS of the SYNC-state offsets less the residual the loop
        still expected (see the module docstring).
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
        The loop time constant exponent, log2 seconds (ntpq C{tc}). As in
        ntpd it is the system poll exponent: the phase is amortized with a
        time constant of C{16 * min(2**tc, allan)} seconds.
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
    ) -> UpdateResult:
        """
        Process a new combined offset (RFC 5905 C{local_clock}).

        @param offset: the system offset from the combine algorithm,
            seconds; positive when the local clock is behind.
        @param jitter: the system jitter, seconds (RFC C{s.jitter}).
        @param now: when the offset was measured, seconds of the local
            clock since the Unix epoch.
        @param pollLog2: the current system poll exponent, log2 seconds;
            clamped to the settings' range. Normally the previous result's
            L{UpdateResult.pollLog2}.
        @param leap: the leap indicator voted by the survivors (0-3; 3,
            unsynchronized, counts as 0).
        @return: an L{UpdateResult}.
        @raise ValueError: if a quantity is not finite, C{jitter} is
            negative or C{leap} is not 0-3.
        @see: RFC 5905 section 11.3 and Appendix A.5.5.6
        """
        offset = _checkFinite("offset", offset)
        jitter = _checkFinite("jitter", jitter)
        if jitter < 0:
            raise ValueError(f"jitter must not be negative, not {jitter!r}")
        now = _checkFinite("now", now)
        if leap not in (0, 1, 2, 3):
            raise ValueError(f"leap must be 0, 1, 2 or 3, not {leap!r}")
        leap = 0 if leap == 3 else int(leap)
        settings = self._settings
        poll = max(settings.minPollLog2, min(settings.maxPollLog2, int(pollLog2)))

        if self._done:
            return self._result((), ignored=True)
        self._pollLog2 = poll

        if settings.panic > 0 and abs(offset) > settings.panic and not self._allowPanic:
            return self._result((), panic=True, ignored=True)

        if self._quitAfterSet:
            return self._setOnce(offset, leap)

        mu = 0.0 if self._epoch is None else max(0.0, now - self._epoch)
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
                freq = self._directFrequency(offset, mu)
            actions.append(Step(offset))
            stepped = True
            self._allowPanic = False
            self._count = 0
            self._jitter = 0.0
            self._pollLog2 = poll = settings.minPollLog2
            # Our own timestamps move with the clock.
            if self._lastAdjust is not None:
                self._lastAdjust += offset
            self._reset(FREQ if state == NSET else SYNC, now + offset, 0.0)
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
                difference = offset - self.residual
                self._jitter = math.sqrt(
                    self._jitter**2 + (difference**2 - self._jitter**2) / AVG
                )
            if state == NSET:
                # Amortize the first offset while the FREQ state measures.
                self._reset(FREQ, now, offset)
            else:
                if state == FREQ:
                    freq = self._directFrequency(offset, mu)
                elif state in (SYNC, SPIK) and not self._startupClamp:
                    freq += self._loopFrequency(offset, mu, poll)
                # FSET: phase only on this first update.
                self._allowPanic = False
                self._reset(SYNC, now, offset)
                if abs(offset) < STARTUP_FLOOR:
                    self._startupClamp = 0.0

        freq = self._clampFrequency(freq)
        self._freqPPM = freq
        self._wanderPPM = math.sqrt(
            self._wanderPPM**2 + ((freq - oldFreq) ** 2 - self._wanderPPM**2) / AVG
        )
        self._adjustPoll(jitter)
        if freq != oldFreq:
            actions.append(self._setFrequency())
        if leap != self._leap:
            self._leap = leap
            actions.append(SetLeap(leap))
        return self._result(tuple(actions), stepped=stepped)

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
        if leap != self._leap:
            self._leap = leap
            actions.append(SetLeap(leap))
        return self._result(tuple(actions), stepped=stepped)

    def _directFrequency(self, offset: float, mu: float) -> float:
        """
        Measure the frequency directly at the end of the FREQ interval.

        @param offset: the offset now, seconds.
        @param mu: seconds since the interval started.
        @return: the new frequency, parts per million: the old one plus the
            phase the frequency error accumulated (the offset minus what was
            still residual), divided by the interval.
        """
        if mu <= 0:
            return self._freqPPM
        return self._freqPPM + (offset - self.residual) / mu * 1e6

    def _loopFrequency(self, offset: float, mu: float, poll: int) -> float:
        """
        The hybrid PLL/FLL frequency adjustment (RFC 5905 A.5.5.6).

        @param offset: the offset now, seconds.
        @param mu: seconds since the last accepted update.
        @param poll: the poll exponent, log2 seconds.
        @return: the frequency change, parts per million.
        """
        interval = 2.0**poll
        allan = self._settings.allan
        change = 0.0
        if interval >= allan:
            # FLL: the phase the frequency error accumulated over mu.
            weight = max(FLL_GAIN - poll, FLL_AVG)
            change += (offset - self.residual) / (max(mu, allan) * weight)
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

    def _reset(self, state: str, epoch: float, offset: float) -> None:
        """
        Enter a state (RFC 5905 C{rstclock}).

        @param state: the new state.
        @param epoch: the time of this update, seconds of the local clock.
        @param offset: the new residual and last offset, seconds.
        """
        self._state = state
        self._epoch = epoch
        self._lastOffset = offset
        self._residual = offset
        self._carry = 0.0

    def _clampFrequency(self, freqPPM: float) -> float:
        """
        @param freqPPM: parts per million.
        @return: C{freqPPM} clamped to the frequency tolerance.
        """
        return max(-self._maxFreqPPM, min(self._maxFreqPPM, freqPPM))

    def _setFrequency(self) -> SetFrequency:
        """
        @return: the action handing the current frequency to the driver,
            remembered as handed over.
        """
        self._appliedFreqPPM = self._freqPPM
        return SetFrequency(self._freqPPM)

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
        C{clock_adjust}), for a discipline in user space.

        The phase: the residual decays with a time constant of
        C{16 * min(2**tc, allan)} seconds; what decayed since the last call
        (at most L{MAX_SLEW_RATE} per second) is handed to the driver as a
        L{Slew}, in whole microseconds (L{SLEW_RESOLUTION}); the rest is
        carried to the next call. The frequency: a L{SetFrequency} whenever
        it differs from the one last handed over (always on the first call,
        so the drift file's frequency, or zero, is installed at start).

        @param now: seconds of the local clock since the Unix epoch. Calls
            should come about a second apart; a longer gap is handled (the
            decay is computed for the time elapsed).
        @return: the actions to carry out, in order: at most one
            L{SetFrequency} then at most one L{Slew}.
        @see: RFC 5905 section 12 and Appendix A.5.6.1
        """
        now = _checkFinite("now", now)
        elapsed = 1.0 if self._lastAdjust is None else now - self._lastAdjust
        self._lastAdjust = now
        actions: list[Action] = []
        if self._appliedFreqPPM != self._freqPPM:
            actions.append(self._setFrequency())
        if self._done or elapsed <= 0:
            return tuple(actions)
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
        if micros:
            amount = micros / 1e6
            self._carry -= amount
            actions.append(Slew(amount))
        return tuple(actions)
