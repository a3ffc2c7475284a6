#!/usr/bin/env python3
# -*- test-case-name: tests.scenarios.007_accuracy_benchmark -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Accuracy: how close our daemon keeps its clock to true time, under the
conditions of chrony's published comparison with ntpd (chrony's
C{comparison.html}, "Time synchronization accuracy": one NTP server, the
client's default polling, a clock wandering by 1 ppb/s, exponentially
distributed network jitter of 10 us, 100 us, 1 ms and 10 ms), printed side
by side with the figures published there for chrony and ntpd.

Method
======
Each run is one L{Simulation <ntpservice.sim.hosts.Simulation>} with its
own seed: a perfect stratum-1 L{ReferenceServer
<ntpservice.sim.hosts.ReferenceServer>} and a client host running our real
daemon (L{SimHost.runDaemon <ntpservice.sim.hosts.SimHost.runDaemon>}:
configuration parser, mode plugins, associations, clock filter, selection
and the clock discipline under test), configured with the single line
C{server 10.0.0.1 iburst} (C{--options} changes what follows the address):
minpoll 6 and maxpoll 10 by default, the daemon chooses its poll interval
in between. The client's clock is a
L{SimulatedClock <ntpservice.clock.simulated.SimulatedClock>} with:

  - wander: a random walk of the frequency of C{--wander} ppb/s (1, as in
    chrony's tests: clknetsim's C{(sum (* 1e-9 (normal)))} per second);
  - an initial offset drawn uniformly in +-C{--offset} seconds (10 ms) and
    a frequency error drawn uniformly in +-C{--freq} ppm (10), from the
    run's seed: the warm-up hides the start-up, but the loop must have
    converged from somewhere.

The link, both ways, has a base delay of C{--delay} (100 us) plus an
exponentially distributed jitter of mean C{--jitter}
(L{LinkSpec <ntpservice.sim.network.LinkSpec>}), drawn independently for
each packet and direction: the delay model of chrony's clknetsim tests,
C{(+ base_delay (* jitter (exponential)))}, whose default base delay in
chrony's C{test/simulation/test.common} is C{1e-4} (the comparison page
does not say which base delay it used; the base only adds a constant to
every delay, which the loops do not see as noise). No loss, no asymmetry.

The figure of a run is the RMS of the client clock's true error
(C{SimulatedClock.error()}, clock minus true time) sampled every
C{--sample} seconds (2) after the first C{--warmup} hours (1), to the end
of C{--hours} (4). Each jitter level is run C{--runs} times (10) with
seeds C{--seed} (1), C{--seed + 1}, ...; the table shows the mean and the
standard deviation across runs, in microseconds, and the published
figures (the same statistic: mean +- sd over runs of the RMS offset).
The same seeds drive the same oscillators and network delays for each
algorithm, so the rows compare the loops on identical conditions.

Algorithms (C{--algorithm}): C{kalman}, the daemon's default discipline;
C{rfc5905}, RFC 5905's hybrid PLL/FLL as ntpd runs it (see
L{ntpservice.core.discipline}, and C{docs/discipline.md} for how they work
and the figures this benchmark gives); C{both} (the default) runs both on
the same seeds. The algorithm is chosen by replacing the daemon's discipline
right after start, before the first packet.

A row is "beaten" when our mean is below the published mean; the margin
is shown in units of the two standard deviations combined. The published
figures come from a different simulator (clknetsim, real chronyd and
ntpd binaries with their own timers): they set the target, this is not a
same-machine race.

Run it::

    python benchmarks/accuracy.py [--runs 10] [--hours 4] [--jitter 1e-4]
        [--algorithm both] [--seed 1] [--options 'iburst'] [--jobs N] [--json]

With the defaults (80 runs) it takes about 20 s on two CPUs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ntpservice.core.discipline import (  # noqa: E402
    ALGORITHM_KALMAN,
    ALGORITHM_RFC5905,
    Discipline,
)
from ntpservice.sim.hosts import Simulation  # noqa: E402
from ntpservice.sim.network import LinkSpec  # noqa: E402

JITTERS = (10e-6, 100e-6, 1e-3, 10e-3)
"""Seconds: the jitter levels of the published comparison."""

PUBLISHED: dict[float, dict[str, tuple[float, float]]] = {
    10e-6: {"chrony": (35.0, 8.0), "ntpd": (234.0, 46.0)},
    100e-6: {"chrony": (109.0, 14.0), "ntpd": (256.0, 50.0)},
    1e-3: {"chrony": (475.0, 93.0), "ntpd": (454.0, 94.0)},
    10e-3: {"chrony": (1603.0, 447.0), "ntpd": (3665.0, 651.0)},
}
"""
The published RMS offsets, microseconds, mean and standard deviation, per
jitter level (seconds), from chrony's comparison page.
"""

SERVER = "10.0.0.1"
CLIENT = "10.0.1.1"


@dataclass(frozen=True, slots=True)
class RunSpec:
    """
    One simulated run.

    @ivar seed: seeds the simulation and the client's initial conditions.
    @ivar algorithm: the discipline (L{ALGORITHM_KALMAN} or
        L{ALGORITHM_RFC5905}).
    @ivar jitter: seconds, mean of the exponential jitter each way.
    @ivar delay: seconds, the base one-way delay.
    @ivar hours: simulated hours.
    @ivar warmupHours: hours left out of the figure.
    @ivar wanderPPB: the client oscillator's wander, ppb per second.
    @ivar offset: seconds, bound of the initial offset.
    @ivar freqPPM: bound of the initial frequency error, ppm.
    @ivar sample: seconds between samples of the clock error.
    @ivar options: what follows C{server ADDRESS} on the client's line.
    """

    seed: int
    algorithm: str
    jitter: float
    delay: float = 100e-6
    hours: float = 4.0
    warmupHours: float = 1.0
    wanderPPB: float = 1.0
    offset: float = 0.01
    freqPPM: float = 10.0
    sample: float = 2.0
    options: str = "iburst"


@dataclass(frozen=True, slots=True)
class RunResult:
    """
    What one run measured.

    @ivar spec: the run.
    @ivar rmsMicroseconds: RMS clock error after the warm-up, us.
    @ivar maxMicroseconds: largest absolute clock error after the warm-up,
        us.
    @ivar meanPollLog2: the average system poll exponent after the warm-up.
    @ivar packets: requests the client sent.
    """

    spec: RunSpec
    rmsMicroseconds: float
    maxMicroseconds: float
    meanPollLog2: float
    packets: int


def useAlgorithm(daemon: Any, algorithm: str) -> None:
    """
    Give a freshly started daemon another discipline algorithm, before it
    has processed anything.

    @param daemon: an L{ntpservice.daemon.NTPDaemon} just started.
    @param algorithm: one of L{ntpservice.core.discipline.ALGORITHMS}.
    """
    old = daemon.engine.discipline
    if old.algorithm == algorithm:
        return
    daemon.engine.discipline = Discipline(replace(old.settings, algorithm=algorithm))


def runOnce(spec: RunSpec) -> RunResult:
    """
    Simulate one run.

    @param spec: what to run.
    @return: what it measured.
    """
    sim = Simulation(spec.seed)
    draw = random.Random(f"accuracy:{spec.seed}")
    sim.addReferenceServer(SERVER)
    client = sim.addHost(
        CLIENT,
        offset=draw.uniform(-spec.offset, spec.offset),
        freqPPM=draw.uniform(-spec.freqPPM, spec.freqPPM),
        wanderPPBPerSecond=spec.wanderPPB,
    )
    sim.link(CLIENT, SERVER, LinkSpec(delay=spec.delay, jitter=spec.jitter))
    daemon = client.runDaemon(f"server {SERVER} {spec.options}\n")
    useAlgorithm(daemon, spec.algorithm)
    warmup = spec.warmupHours * 3600.0
    squares: list[float] = []
    polls: list[int] = []

    def observe(simulation: Simulation) -> None:
        if simulation.seconds() > warmup:
            error = client.clock.error()
            squares.append(error * error)
            polls.append(daemon.engine.system.poll)

    sim.run(spec.hours * 3600.0, step=spec.sample, observe=observe)
    if not squares:
        raise ValueError("the run is not longer than its warm-up")
    return RunResult(
        spec=spec,
        rmsMicroseconds=math.sqrt(math.fsum(squares) / len(squares)) * 1e6,
        maxMicroseconds=math.sqrt(max(squares)) * 1e6,
        meanPollLog2=statistics.fmean(polls),
        packets=sim.network.counters(CLIENT, SERVER).sent,
    )


def summarize(results: Iterable[RunResult]) -> dict[str, Any]:
    """
    @return: mean and standard deviation of the RMS error (us), the mean
        poll exponent and packets per hour of some runs.
    """
    results = list(results)
    rms = [r.rmsMicroseconds for r in results]
    hours = results[0].spec.hours
    return {
        "runs": len(rms),
        "meanMicroseconds": statistics.fmean(rms),
        "sdMicroseconds": statistics.stdev(rms) if len(rms) > 1 else 0.0,
        "worstMicroseconds": max(r.maxMicroseconds for r in results),
        "meanPollLog2": statistics.fmean(r.meanPollLog2 for r in results),
        "packetsPerHour": statistics.fmean(r.packets for r in results) / hours,
        "rmsMicroseconds": rms,
    }


def formatTable(
    table: dict[float, dict[str, dict[str, Any]]], algorithms: Sequence[str]
) -> str:
    """
    The report: one row per jitter level, our algorithms then the
    published figures, and which published rows each algorithm beats.
    """
    columns = list(algorithms) + ["chrony", "ntpd"]
    header = f"{'jitter':>8}  " + "  ".join(f"{name:>16}" for name in columns)
    lines = [
        "RMS offset of the client clock after the warm-up, us (mean +- sd over runs)",
        header,
    ]
    for jitter in sorted(table):
        cells = []
        for name in columns:
            if name in table[jitter]:
                row = table[jitter][name]
                cells.append(
                    f"{row['meanMicroseconds']:8.1f} +-{row['sdMicroseconds']:6.1f}"
                )
            else:
                mean, sd = PUBLISHED.get(jitter, {}).get(name, (math.nan, math.nan))
                cells.append(f"{mean:8.0f} +-{sd:6.0f}")
        lines.append(
            f"{_formatJitter(jitter):>8}  " + "  ".join(f"{c:>16}" for c in cells)
        )
    lines.append("")
    for name in algorithms:
        for jitter in sorted(table):
            row = table[jitter][name]
            verdicts = []
            for peer, (mean, sd) in PUBLISHED.get(jitter, {}).items():
                margin = (mean - row["meanMicroseconds"]) / math.hypot(
                    sd, row["sdMicroseconds"]
                )
                ratio = mean / row["meanMicroseconds"]
                verdict = "beats" if row["meanMicroseconds"] < mean else "loses to"
                verdicts.append(f"{verdict} {peer} ({ratio:.1f}x, {margin:+.1f} sd)")
            lines.append(
                f"{name:>8} at {_formatJitter(jitter):>6}: {'; '.join(verdicts)}; "
                f"poll {row['meanPollLog2']:.1f}, {row['packetsPerHour']:.0f} packets/h, "
                f"worst {row['worstMicroseconds']:.0f} us"
            )
    return "\n".join(lines)


def _formatJitter(jitter: float) -> str:
    if jitter >= 1e-3:
        return f"{jitter * 1e3:g} ms"
    return f"{jitter * 1e6:g} us"


def parseArguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Clock accuracy of our daemon in chrony's comparison conditions."
    )
    parser.add_argument("--runs", type=int, default=10, help="runs per jitter level")
    parser.add_argument(
        "--hours", type=float, default=4.0, help="simulated hours per run"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="hours left out")
    parser.add_argument(
        "--jitter",
        type=float,
        action="append",
        help="mean exponential jitter, seconds (repeatable; default: the four levels)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run")
    parser.add_argument(
        "--algorithm",
        choices=(ALGORITHM_KALMAN, ALGORITHM_RFC5905, "both"),
        default="both",
    )
    parser.add_argument(
        "--delay", type=float, default=100e-6, help="base delay, seconds"
    )
    parser.add_argument("--wander", type=float, default=1.0, help="ppb per second")
    parser.add_argument(
        "--offset", type=float, default=0.01, help="initial offset bound, s"
    )
    parser.add_argument(
        "--freq", type=float, default=10.0, help="initial frequency bound, ppm"
    )
    parser.add_argument(
        "--sample", type=float, default=2.0, help="seconds between samples"
    )
    parser.add_argument(
        "--options",
        default="iburst",
        help="options of the client's server line (e.g. 'iburst minpoll 10')",
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    arguments = parser.parse_args(argv)
    if arguments.runs < 1 or arguments.hours <= arguments.warmup:
        parser.error("need at least one run, longer than the warm-up")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parseArguments(argv)
    jitters = tuple(arguments.jitter) if arguments.jitter else JITTERS
    algorithms = (
        (ALGORITHM_KALMAN, ALGORITHM_RFC5905)
        if arguments.algorithm == "both"
        else (arguments.algorithm,)
    )
    specs = [
        RunSpec(
            seed=arguments.seed + run,
            algorithm=algorithm,
            jitter=jitter,
            delay=arguments.delay,
            hours=arguments.hours,
            warmupHours=arguments.warmup,
            wanderPPB=arguments.wander,
            offset=arguments.offset,
            freqPPM=arguments.freq,
            sample=arguments.sample,
            options=arguments.options,
        )
        for jitter in jitters
        for algorithm in algorithms
        for run in range(arguments.runs)
    ]
    started = time.monotonic()
    if arguments.jobs > 1:
        with ProcessPoolExecutor(arguments.jobs) as pool:
            results = list(pool.map(runOnce, specs, chunksize=1))
    else:
        results = [runOnce(spec) for spec in specs]
    elapsed = time.monotonic() - started
    table: dict[float, dict[str, dict[str, Any]]] = {}
    for jitter in jitters:
        table[jitter] = {}
        for algorithm in algorithms:
            table[jitter][algorithm] = summarize(
                r
                for r in results
                if r.spec.jitter == jitter and r.spec.algorithm == algorithm
            )
    if arguments.json:
        document = {
            "conditions": {
                "runs": arguments.runs,
                "hours": arguments.hours,
                "warmupHours": arguments.warmup,
                "seed": arguments.seed,
                "delaySeconds": arguments.delay,
                "wanderPPBPerSecond": arguments.wander,
                "offsetSeconds": arguments.offset,
                "freqPPM": arguments.freq,
                "sampleSeconds": arguments.sample,
                "serverOptions": arguments.options,
            },
            "results": [
                {
                    "jitterSeconds": jitter,
                    **{name: table[jitter][name] for name in algorithms},
                    "published": {
                        name: {"meanMicroseconds": mean, "sdMicroseconds": sd}
                        for name, (mean, sd) in PUBLISHED.get(jitter, {}).items()
                    },
                }
                for jitter in jitters
            ],
            "elapsedSeconds": elapsed,
        }
        print(json.dumps(document, indent=2))
    else:
        print(
            f"{arguments.runs} runs x {arguments.hours:g} h per level (first "
            f"{arguments.warmup:g} h left out), seeds {arguments.seed}..."
            f"{arguments.seed + arguments.runs - 1}, base delay "
            f"{arguments.delay * 1e6:g} us, wander {arguments.wander:g} ppb/s, "
            f"'server {SERVER} {arguments.options}'"
        )
        print(formatTable(table, algorithms))
        print(f"\n{len(specs)} runs in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
