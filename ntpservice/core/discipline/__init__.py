# -*- test-case-name: tests.core.test_discipline -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The clock discipline: from the offsets the system process measures, the
frequency and phase corrections of the local clock, the once-per-second
clock-adjust process and the choice of the system poll interval. Two loops
share the state machine of RFC 5905 (steps, spikes, the stepout interval,
the panic threshold), the leap indicator and quit-after-set:

  - C{kalman} (L{KalmanDiscipline}, the default, in
    L{ntpservice.core.discipline.kalman}): a Kalman filter that estimates
    the free-running oscillator's phase and frequency from every sample of
    the system peer, weighing each by what its round-trip delay says of its
    error, and steers the clock onto the estimate;
  - C{rfc5905} (L{RFC5905Discipline}, in
    L{ntpservice.core.discipline.rfc5905}): RFC 5905's hybrid PLL/FLL, as
    ntpd runs it.

What they share is L{ntpservice.core.discipline.base}.
L{DisciplineSettings.algorithm} chooses; C{Discipline(settings)} builds the
matching class.

Two entry points, both pure (time comes in as arguments, decisions go out as
L{ntpservice.core.actions} objects that the shell carries out on its
L{ntpservice.interfaces.IClockDriver}): L{Discipline.update} (RFC
C{local_clock}), called with each new offset, and L{Discipline.adjust} (RFC
C{clock_adjust}), called once per second.

Units. C{now} is float seconds of the LOCAL (disciplined) clock since the
Unix epoch; offsets and jitter are float seconds, positive when the local
clock is behind (the RFC's theta: the server's time minus ours); frequencies
are parts per million; poll exponents are C{int} log2 seconds. Because
C{now} is read from the clock being disciplined, the discipline moves its
own timestamps by every step it orders: the shell must carry out a L{Step
<ntpservice.core.actions.Step>} before it next calls in.

How the loops work, why the daemon runs its own loop rather than the
kernel's, open loop (C{--no-clock-adjust}, C{disable ntp}), and how the two
loops compare with chrony and ntpd in C{benchmarks/accuracy.py}: see
C{docs/discipline.md}.

@see: RFC 5905 section 11.3 (Clock Discipline Algorithm), section 12 (Clock
    Adjust Process), section 13 (Poll Process), Appendix A.5.5.6
    (C{local_clock}, C{rstclock}) and A.5.6.1 (C{clock_adjust}).
"""

from __future__ import annotations

from ntpservice.core.discipline.base import (
    ALGORITHM_KALMAN,
    ALGORITHM_RFC5905,
    ALGORITHMS,
    AVG,
    DEFAULT_WANDER_PPB,
    FREQ,
    FSET,
    MAX_SLEW_RATE,
    NSET,
    POLL_LOG2_MAX,
    POLL_LOG2_MIN,
    SLEW_RESOLUTION,
    SPIK,
    STATE_CODES,
    SYNC,
    Discipline,
    DisciplineSettings,
    UpdateResult,
)
from ntpservice.core.discipline.kalman import (
    COMBINE_AVERAGE,
    DELAY_SOURCES,
    DELAY_WINDOW,
    DELAY_WINDOW_MIN,
    DELAY_RECENT,
    ROUTE_CHANGE,
    DRIFT_UNCERTAINTY_PPM,
    FREQUENCY_PRIOR_PPM,
    GATE,
    KERNEL_SLEW_RATE,
    MEASUREMENT_FLOOR,
    MIN_EXCESS_FACTOR,
    POLL_COUNT,
    POLL_DOWN,
    POLL_FREQ,
    POLL_SURPRISE,
    INFORMATION_AVERAGE,
    WANDER_MEMORY,
    WANDER_MODELS,
    POLL_UP,
    REJECT_LIMIT,
    KalmanDiscipline,
)
from ntpservice.core.discipline.rfc5905 import (
    FLL_AVG,
    FLL_GAIN,
    HANDED_RECORD,
    LIMIT,
    PGATE,
    PLL_GAIN,
    STARTUP_FLOOR,
    STARTUP_TC_LOG2,
    RFC5905Discipline,
)

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
    # Shared constants (base).
    "AVG",
    "DEFAULT_WANDER_PPB",
    "MAX_SLEW_RATE",
    "POLL_LOG2_MAX",
    "POLL_LOG2_MIN",
    "SLEW_RESOLUTION",
    # The RFC 5905 loop's constants.
    "FLL_AVG",
    "FLL_GAIN",
    "HANDED_RECORD",
    "LIMIT",
    "PGATE",
    "PLL_GAIN",
    "STARTUP_FLOOR",
    "STARTUP_TC_LOG2",
    # The Kalman loop's constants.
    "COMBINE_AVERAGE",
    "DELAY_SOURCES",
    "DELAY_WINDOW",
    "DELAY_WINDOW_MIN",
    "DELAY_RECENT",
    "ROUTE_CHANGE",
    "DRIFT_UNCERTAINTY_PPM",
    "FREQUENCY_PRIOR_PPM",
    "GATE",
    "KERNEL_SLEW_RATE",
    "MEASUREMENT_FLOOR",
    "MIN_EXCESS_FACTOR",
    "POLL_COUNT",
    "POLL_DOWN",
    "POLL_FREQ",
    "POLL_SURPRISE",
    "INFORMATION_AVERAGE",
    "WANDER_MEMORY",
    "WANDER_MODELS",
    "POLL_UP",
    "REJECT_LIMIT",
]
