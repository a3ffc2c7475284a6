# -*- test-case-name: tests.core.test_discipline -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
What the two clock-discipline loops share: their settings
(L{DisciplineSettings}), the result of an update (L{UpdateResult}) and the
base class L{Discipline}, which holds the start state, the panic check,
quit-after-set, the leap indicator, the frequency hand-over, open loop, the
monitoring variables and the one step gate of RFC 5905's state machine
(L{Discipline._stepGate}) that both loops pass big offsets through.

The loops are L{ntpservice.core.discipline.kalman} and
L{ntpservice.core.discipline.rfc5905}; how they work, why, and how they
compare is told in C{docs/discipline.md}.

@see: RFC 5905 section 11.3 (Clock Discipline Algorithm), section 12 (Clock
    Adjust Process) and Appendix A.5.5.6 (C{local_clock}).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Hashable
from dataclasses import dataclass, replace

from ntpservice.core.actions import Action, SetFrequency, SetLeap, Slew, Step
from ntpservice.core.actions import checkFinite as _checkFinite

# States (RFC 5905 Figure 28). The strings are what monitoring shows.
NSET = "NSET"
"""Never set: no frequency known (no drift file); the first update starts
the frequency measurement."""

FSET = "FSET"
"""Frequency set from the drift file (or C{tinker freq}); time not yet set."""

FREQ = "FREQ"
"""Measuring the frequency directly over the stepout interval (the RFC 5905
loop only)."""

SYNC = "SYNC"
"""Normal operation: the loop updates its frequency and phase."""

SPIK = "SPIK"
"""A big offset (beyond the step threshold) was seen and ignored."""

STATE_CODES: dict[str, int] = {NSET: 1, FSET: 2, SPIK: 3, FREQ: 4, SYNC: 5}
"""
The numbers ntpd and NTPsec use for the states (C{EVNT_NSET} to
C{EVNT_SYNC}): what C{ntpq -c rv} shows as C{state} and mode 6 reports in
clock event codes.
"""

AVG = 8.0
"""Averaging constant of the jitter and wander estimates (RFC 5905 Figure
27 C{AVG}, ntpd C{CLOCK_AVG})."""

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

ALGORITHM_KALMAN = "kalman"
"""L{DisciplineSettings.algorithm}: the Kalman-filter loop (the default), see
L{ntpservice.core.discipline.kalman.KalmanDiscipline}."""

ALGORITHM_RFC5905 = "rfc5905"
"""L{DisciplineSettings.algorithm}: RFC 5905's hybrid PLL/FLL, as ntpd runs
it, see L{ntpservice.core.discipline.rfc5905.RFC5905Discipline}."""

ALGORITHMS = (ALGORITHM_KALMAN, ALGORITHM_RFC5905)
"""The algorithms L{DisciplineSettings.algorithm} may name."""

DEFAULT_WANDER_PPB = 3.0
"""
The oscillator wander the Kalman loop assumes by default, parts per
billion per square-root second: the standard deviation of the random walk
of the frequency over one second. Typical quartz oscillators of computers
at a steady temperature wander 0.3 to 3 ppb/sqrt(s); the loop's accuracy
changes little within a factor of ten of the truth either way (see
C{docs/discipline.md}), so the default sits at the pessimistic end.
"""

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
    limits), validated. L{ntpservice.coreconfig.disciplineSettings} builds
    them from a configuration's C{tinker} values.

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
    @ivar kernel: for the RFC 5905 loop, ntpd's C{enable kernel}: the
        gains of the kernel's PLL (RFC 1589, Linux's C{SHIFT_PLL} 2),
        which ntpd and NTPsec use by default where the kernel has one,
        instead of the daemon loop's of RFC 5905 Appendix A (see
        L{ntpservice.core.discipline.rfc5905}). The loop still runs here,
        handing slews to the clock driver. The Kalman loop does not use
        it.
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
    kernel: bool = False

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
    @ivar recheck: the loop wants its next sample soon: the update was
        ignored as an outlier to be confirmed or refuted (a second one in
        a row says that the offset or the frequency really moved), or it
        was such a second one, and the new frequency is yet to be
        measured. The system process brings the source's next poll
        forward.
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
    recheck: bool = False


class Gate(enum.Enum):
    """
    What the step gate (L{Discipline._stepGate}) decides about an offset.
    """

    ACCEPT = "accept"
    """Not beyond the step threshold: the loop processes it."""

    IGNORE = "ignore"
    """A big offset to ignore (a spike, or within the stepout interval)."""

    STEP = "step"
    """A big offset to step: before the first update, or outlasting the
    stepout interval."""


_LOOPS: dict[str, type[Discipline]] = {}
"""
The class of each L{DisciplineSettings.algorithm}: every subclass of
L{Discipline} that declares its own L{Discipline.algorithm} enters itself
here when it is defined (L{Discipline.__init_subclass__}); importing
L{ntpservice.core.discipline} defines both loops.
"""


class Discipline:
    """
    A clock discipline: what the two loops share (the settings, the start
    state, the step gate, the panic check, quit-after-set, the leap
    indicator, frequency hand-over, open loop and the monitoring
    variables). See C{docs/discipline.md}.

    C{Discipline(settings, ...)} builds the class of C{settings.algorithm}:
    a L{KalmanDiscipline <ntpservice.core.discipline.kalman.KalmanDiscipline>}
    or an L{RFC5905Discipline
    <ntpservice.core.discipline.rfc5905.RFC5905Discipline>}, so the shell
    does not need to know which loop it runs.

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
    @cvar stepsInOpenLoop: whether, in open loop, big offsets still go
        through the step gate (the RFC 5905 loop, which steps its virtual
        clock) rather than being measured like any other (the Kalman loop:
        a big offset is what the uncorrected clock is).
    """

    algorithm: str = ""
    everySample: bool = False
    correctsFilters: bool = False
    stepsInOpenLoop: bool = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        """
        Enter a loop that declares its own L{algorithm} in the table
        L{Discipline} builds from.

        @raise TypeError: if another class already implements the same
            algorithm.
        """
        super().__init_subclass__(**kwargs)
        algorithm = cls.__dict__.get("algorithm")
        if not algorithm:
            return
        if algorithm in _LOOPS:
            raise TypeError(
                f"{cls.__qualname__}: algorithm {algorithm!r} is already "
                f"implemented by {_LOOPS[algorithm].__qualname__}"
            )
        _LOOPS[algorithm] = cls

    def __new__(
        cls, settings: DisciplineSettings, *args: object, **kwargs: object
    ) -> Discipline:
        """
        @param settings: the knobs; C{settings.algorithm} chooses the class
            when C{Discipline} itself is called.
        @return: a new instance of the matching subclass.
        """
        if cls is Discipline:
            cls = _LOOPS[settings.algorithm]
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
            "Open loop" in C{docs/discipline.md}). The shell that chooses the
            clock driver says so here; the discipline never asks the driver.
        @raise ValueError: if C{initialFreqPPM} is not finite.
        """
        self._settings = settings
        self._maxFreqPPM = float(settings.freqTolerancePPM)
        self._openLoop = bool(openLoop)
        if self._openLoop:
            # The clock is not corrected: the filters' offsets stay true.
            self.correctsFilters = False
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
        self._setUp()

    def _setUp(self) -> None:
        """
        The loop's own state, set up once the base's is (a loop overrides
        this rather than the constructor).
        """

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
        Whether the loop runs open (the clock is not corrected): see
        "Open loop" in C{docs/discipline.md}.
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
        to see (see C{docs/discipline.md}).
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

        # In open loop nothing is set by hand either: no panic (as ntpd's
        # local_clock, which returns before its panic check when the loop is
        # open); quit-after-set still sets the clock, so it still panics.
        if self._panics(offset) and (self._quitAfterSet or not self._openLoop):
            return self._result((), panic=True, ignored=True)
        if self._quitAfterSet:
            return self._setOnce(offset, leap)
        result = self._update(
            offset, jitter, now, poll, leap, delay, source, current, combine
        )
        if self._openLoop:
            # The loop ran on the clock as it is; nothing is handed over.
            return replace(result, actions=(), stepped=False)
        return result

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

    def _panics(self, offset: float) -> bool:
        """
        The panic check: whether an offset is beyond the panic threshold
        (C{0} disables it) and may not be corrected (only the first
        correction may be, with C{allowBigFirstStep}).

        @param offset: seconds.
        """
        panic = self._settings.panic
        return panic > 0 and abs(offset) > panic and not self._allowPanic

    def _sinceUpdate(self, now: float) -> float:
        """
        @param now: local clock seconds.
        @return: C{mu}, the seconds from the last accepted update (or
            step) to C{now}; zero before the first.
        """
        return 0.0 if self._epoch is None else max(0.0, now - self._epoch)

    def _stepGate(self, offset: float, mu: float) -> Gate:
        """
        The step gate of RFC 5905's state machine (Figure 28), which both
        loops pass every offset through: an offset beyond the step threshold
        for its direction is ignored the first time in SYNC (the state
        becomes SPIK), ignored in SPIK and FREQ until the stepout interval
        has passed since the last accepted update, and stepped otherwise
        (in NSET and FSET, before the first update, at once). In open loop,
        a loop that does not L{stepsInOpenLoop} accepts every offset.

        A loop that steps calls L{_step}.

        @param offset: seconds.
        @param mu: seconds since the last accepted update (L{_sinceUpdate}).
        @return: what to do with the offset.
        """
        if self._openLoop and not self.stepsInOpenLoop:
            return Gate.ACCEPT
        settings = self._settings
        if not settings.exceedsStep(offset):
            return Gate.ACCEPT
        state = self._state
        if state == SYNC:
            # The first big offset is ignored; the stepout interval counts
            # from the last accepted update.
            self._state = SPIK
            return Gate.IGNORE
        if state in (FREQ, SPIK) and mu < settings.stepout:
            return Gate.IGNORE
        # NSET, FSET, or a big offset that outlasted the stepout interval.
        return Gate.STEP

    def _step(self, offset: float, shift: float) -> Step:
        """
        What every step the step gate orders does, in both loops: the
        panic allowance is spent, the poll exponent returns to minpoll and
        the hysteresis counter and the clock jitter to zero, and the local
        timestamps kept move with the clock. The loop then resets its own
        estimate and state.

        @param offset: the offset stepped, seconds.
        @param shift: how far the clock (and the time it reads) moves,
            seconds: C{offset}, or zero for a virtual step in open loop.
        @return: the L{Step} to hand to the driver.
        """
        self._allowPanic = False
        self._count = 0
        self._jitter = 0.0
        self._pollLog2 = self._settings.minPollLog2
        self._shiftTimes(shift)
        return Step(offset)

    def _shiftTimes(self, shift: float) -> None:
        """
        The clock was stepped by C{shift} seconds: move every local
        timestamp kept, so that it names the same instant.
        """
        if self._lastAdjust is not None:
            self._lastAdjust += shift
        if self._fTime is not None:
            self._fTime += shift

    def _finishUpdate(
        self, actions: list[Action], oldFreqPPM: float, when: float, leap: int
    ) -> None:
        """
        The end of an accepted update or a step, in both loops: fold the
        frequency change into the wander, hand the new frequency over if it
        changed, and the leap indicator if it changed.

        @param actions: the update's actions so far, to append to.
        @param oldFreqPPM: the frequency before the update, ppm.
        @param when: the local clock when the actions are carried out,
            seconds.
        @param leap: the normalized leap indicator.
        """
        self._averageWander(oldFreqPPM)
        if self._freqPPM != oldFreqPPM:
            actions.append(self._setFrequency(when))
        actions.extend(self._leapActions(leap))

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
        recheck: bool = False,
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
            recheck=recheck,
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
