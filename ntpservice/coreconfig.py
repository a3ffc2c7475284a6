# -*- test-case-name: tests.test_coreconfig -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Configuration objects to core settings: the adapters from the typed
configuration (L{ntpservice.config}) to the settings the pure core takes,
so that nothing under L{ntpservice.core} needs to know the configuration.
"""

from __future__ import annotations

from ntpservice.config import TinkerSettings
from ntpservice.core.discipline import (
    ALGORITHM_KALMAN,
    POLL_LOG2_MAX,
    POLL_LOG2_MIN,
    DisciplineSettings,
)


def disciplineSettings(
    tinker: TinkerSettings,
    minPollLog2: int = POLL_LOG2_MIN,
    maxPollLog2: int = POLL_LOG2_MAX,
    algorithm: str | None = None,
) -> DisciplineSettings:
    """
    The clock-discipline settings a configuration's C{tinker} values give.

    Mapping: C{step}, C{stepback}, C{stepfwd}, C{stepout}, C{panic} and
    C{dispersion} as they are (seconds, seconds per second); C{allan} from
    log2 seconds to seconds (C{2**allan}); C{freq} to
    L{DisciplineSettings.initialFreqPPM}; C{huffpuff} as it is. C{tick}
    concerns the precision, not the discipline, and is ignored.

    @param tinker: the configuration's C{tinker} values.
    @param minPollLog2: the smallest poll exponent, log2 seconds (the
        system's minpoll).
    @param maxPollLog2: the largest poll exponent, log2 seconds.
    @param algorithm: the loop (L{ntpservice.core.discipline.ALGORITHMS});
        C{None}: the configuration's C{tinker algorithm} when it has one,
        else L{ALGORITHM_KALMAN}.
    @return: the settings.
    @raise ValueError: if a value is out of range.
    """
    if algorithm is None:
        algorithm = getattr(tinker, "algorithm", None) or ALGORITHM_KALMAN
    return DisciplineSettings(
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
