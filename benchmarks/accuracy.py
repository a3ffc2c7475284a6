#!/usr/bin/env python3
# -*- test-case-name: tests.scenarios.007_accuracy_benchmark -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Accuracy per packet: how close our daemon keeps its clock to true time, and
how many requests it sends for it, under the conditions of chrony's
published comparison with ntpd (one NTP server, a clock wandering by
1 ppb/s, exponentially distributed network jitter of 10 us, 100 us, 1 ms
and 10 ms each way), printed beside the figures of the real chronyd 4.3
and NTPsec 1.2.2 binaries measured under the same conditions (issue 16).

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
    run's seed.

The link, both ways, has a base delay of C{--delay} (100 us) plus a random
jitter of mean C{--jitter} (L{LinkSpec <ntpservice.sim.network.LinkSpec>}),
drawn independently for each packet and direction: exponential by default
(chrony's clknetsim tests, C{(+ base_delay (* jitter (exponential)))}), or
with C{--distribution two-exponentials} the sum of two exponentials of half
the mean (no peak at the minimum). C{--asymmetry} makes the path towards
the server longer than the way back by that much (the true offset is then
off by half of it, which no NTP client can see); C{--route-step} adds that
much to the base delay of both directions at C{--route-time} hours (a
route change). C{--condition} names the robustness conditions of issue 16
(L{CONDITIONS}): C{chrony} (the above), C{two-exponentials}, C{wander}
(10 ppb/s), C{route-change} (+1 ms of base delay after 3 h) and
C{asymmetry} (100 us), or C{all} of them one after the other.

The figure of a run is the RMS of the client clock's true error
(C{SimulatedClock.error()}, clock minus true time) sampled every
C{--sample} seconds (2) after the first C{--warmup} hours (1), to the end
of C{--hours} (8), with the largest error in that time and the requests
the client sent in it, per hour. Each jitter level is run C{--runs} times
(10) with seeds C{--seed} (1), C{--seed + 1}, ...; the table shows the
mean and the standard deviation across runs of the RMS error, in
microseconds, beside the packets per hour. The same seeds drive the same
oscillators and network delays for each algorithm.

Verdicts. Against each reference row measured in this condition, a row of
ours "beats" it when its mean RMS is lower, and the packets per hour are
shown beside both, so that accuracy is compared at equal (or lower) packet
rates: our default against chronyd's default, ours with C{maxpoll 6}
against chronyd's C{maxpoll 6}. A run "runs away" when its largest error
after the warm-up exceeds L{RUNAWAY} times its row's mean RMS; the count
is reported. With an asymmetry the reference figures are judged with half
the asymmetry added (the error no client can avoid).

The reference figures come from an external clock-and-network simulator
running the real binaries (mean +- sd over 10 seeds of 8 h runs, first
hour skipped); our own simulator was confirmed there to within 3 %.

Run it::

    python benchmarks/accuracy.py [--runs 10] [--hours 8] [--jitter 1e-4]
        [--algorithm kalman] [--condition chrony] [--options 'iburst']
        [--jobs N] [--json]
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
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ntpservice.core.discipline import (  # noqa: E402
    ALGORITHM_KALMAN,
    ALGORITHM_RFC5905,
    Discipline,
)
from ntpservice.sim.hosts import Simulation  # noqa: E402
from ntpservice.sim.network import (  # noqa: E402
    DISTRIBUTIONS,
    EXPONENTIAL,
    TWO_EXPONENTIALS,
    LinkSpec,
)

JITTERS = (10e-6, 100e-6, 1e-3, 10e-3)
"""Seconds: the jitter levels of the published comparison."""

RUNAWAY = 5.0
"""A run whose largest error after the warm-up exceeds this many times its
row's mean RMS error runs away."""


@dataclass(frozen=True, slots=True)
class Condition:
    """
    A set of conditions of the benchmark: what it changes from the base.

    @ivar name: as given to C{--condition}.
    @ivar distribution: the jitter's distribution.
    @ivar wanderPPB: ppb per second.
    @ivar asymmetry: seconds, forward minus backward base delay.
    @ivar routeStep: seconds added to the base delay at C{routeHours}.
    @ivar routeHours: when the route changes, simulated hours.
    @ivar reference: the reference figures in this condition: name ->
        jitter -> (mean us, sd us, packets per hour or NaN).
    """

    name: str
    distribution: str = EXPONENTIAL
    wanderPPB: float = 1.0
    asymmetry: float = 0.0
    routeStep: float = 0.0
    routeHours: float = 3.0
    reference: dict[str, dict[float, tuple[float, float, float]]] = field(
        default_factory=dict
    )


_NAN = math.nan

CHRONYD_SIM = "chronyd-sim"
"""
The name of the real chronyd measured in the same run, under clknetsim
(C{--chronyd}; L{benchmarks.clknetsim}), as an algorithm of the table.
"""

CHRONY_DEFAULT = "chronyd"
CHRONY_MAXPOLL6 = "chronyd maxpoll 6"
NTPSEC = "ntpsec"

BASE_REFERENCE: dict[str, dict[float, tuple[float, float, float]]] = {
    CHRONY_DEFAULT: {
        10e-6: (25.0, 13.0, 11.0),
        100e-6: (112.0, 19.0, 5.1),
        1e-3: (424.0, 237.0, 3.8),
        10e-3: (1864.0, 558.0, 3.8),
    },
    CHRONY_MAXPOLL6: {
        10e-6: (5.6, 0.4, 56.0),
        100e-6: (23.2, 4.2, 56.0),
        1e-3: (74.8, 13.6, 56.0),
        10e-3: (617.0, 53.0, 56.0),
    },
    NTPSEC: {
        10e-6: (194.0, 126.0, 7.0),
        100e-6: (213.0, 117.0, 7.0),
        1e-3: (635.0, 348.0, 7.0),
        10e-3: (5523.0, 3362.0, 7.0),
    },
}
"""
Issue 16's measurements of the real chronyd 4.3 (default, and C{maxpoll 6})
and NTPsec 1.2.2 under the base conditions: RMS error (us, mean and sd
over 10 seeds) and packets per hour after the first hour.
"""

CONDITIONS: dict[str, Condition] = {
    condition.name: condition
    for condition in (
        Condition("chrony", reference=BASE_REFERENCE),
        Condition(
            "two-exponentials",
            distribution=TWO_EXPONENTIALS,
            reference={
                CHRONY_MAXPOLL6: {
                    10e-6: (4.7, _NAN, 56.0),
                    100e-6: (22.2, _NAN, 56.0),
                    1e-3: (91.0, _NAN, 56.0),
                    10e-3: (841.0, _NAN, 56.0),
                }
            },
        ),
        Condition(
            "wander",
            wanderPPB=10.0,
            reference={
                CHRONY_DEFAULT: {
                    10e-6: (15.5, _NAN, _NAN),
                    100e-6: (115.0, _NAN, _NAN),
                    1e-3: (966.0, _NAN, _NAN),
                    10e-3: (4714.0, _NAN, _NAN),
                },
                CHRONY_MAXPOLL6: {
                    10e-6: (14.3, _NAN, 56.0),
                    100e-6: (55.5, _NAN, 56.0),
                    1e-3: (225.0, _NAN, 56.0),
                    10e-3: (761.0, _NAN, 56.0),
                },
            },
        ),
        Condition("route-change", routeStep=1e-3),
        Condition("asymmetry", asymmetry=100e-6),
    )
}
"""The conditions of issue 16, with the reference figures known in each."""

SERVER = "10.0.0.1"
CLIENT = "10.0.1.1"


@dataclass(frozen=True, slots=True)
class RunSpec:
    """
    One simulated run.

    @ivar seed: seeds the simulation and the client's initial conditions.
    @ivar algorithm: the discipline (L{ALGORITHM_KALMAN} or
        L{ALGORITHM_RFC5905}).
    @ivar jitter: seconds, mean jitter each way.
    @ivar delay: seconds, the base one-way delay.
    @ivar hours: simulated hours.
    @ivar warmupHours: hours left out of the figure.
    @ivar wanderPPB: the client oscillator's wander, ppb per second.
    @ivar offset: seconds, bound of the initial offset.
    @ivar freqPPM: bound of the initial frequency error, ppm.
    @ivar sample: seconds between samples of the clock error.
    @ivar options: what follows C{server ADDRESS} on the client's line.
    @ivar distribution: the jitter's distribution (L{DISTRIBUTIONS}).
    @ivar asymmetry: seconds, client-to-server minus server-to-client.
    @ivar routeStep: seconds added to the base delay at C{routeHours}.
    @ivar routeHours: simulated hours.
    @ivar tools: with C{algorithm} L{CHRONYD_SIM}, the
        L{benchmarks.clknetsim.Tools} to run chronyd with.
    """

    seed: int
    algorithm: str
    jitter: float
    delay: float = 100e-6
    hours: float = 8.0
    warmupHours: float = 1.0
    wanderPPB: float = 1.0
    offset: float = 0.01
    freqPPM: float = 10.0
    sample: float = 2.0
    options: str = "iburst"
    distribution: str = EXPONENTIAL
    asymmetry: float = 0.0
    routeStep: float = 0.0
    routeHours: float = 3.0
    tools: Any = None

    def initialConditions(self) -> tuple[float, float]:
        """
        @return: the client clock's initial offset (seconds) and frequency
            error (ppm), drawn from the run's seed: the same for every
            algorithm, ours or chronyd (L{benchmarks.clknetsim}).
        """
        draw = random.Random(f"accuracy:{self.seed}")
        return (
            draw.uniform(-self.offset, self.offset),
            draw.uniform(-self.freqPPM, self.freqPPM),
        )


@dataclass(frozen=True, slots=True)
class RunResult:
    """
    What one run measured.

    @ivar spec: the run.
    @ivar rmsMicroseconds: RMS clock error after the warm-up, us.
    @ivar maxMicroseconds: largest absolute clock error after the warm-up,
        us.
    @ivar meanPollLog2: the average system poll exponent after the warm-up.
    @ivar packets: requests the client sent after the warm-up.
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
    if spec.algorithm == CHRONYD_SIM:
        from benchmarks.clknetsim import runChronyd

        measured = runChronyd(spec, spec.tools)
        return RunResult(
            spec=spec,
            rmsMicroseconds=measured.rmsMicroseconds,
            maxMicroseconds=measured.maxMicroseconds,
            meanPollLog2=math.nan,
            packets=measured.packets,
        )
    sim = Simulation(spec.seed)
    offset, freqPPM = spec.initialConditions()
    sim.addReferenceServer(SERVER)
    client = sim.addHost(
        CLIENT,
        offset=offset,
        freqPPM=freqPPM,
        wanderPPBPerSecond=spec.wanderPPB,
    )
    link = LinkSpec(
        delay=spec.delay,
        jitter=spec.jitter,
        asymmetry=spec.asymmetry,
        distribution=spec.distribution,
    )
    sim.link(CLIENT, SERVER, link)
    daemon = client.runDaemon(f"server {SERVER} {spec.options}\n")
    useAlgorithm(daemon, spec.algorithm)
    warmup = spec.warmupHours * 3600.0
    route = spec.routeHours * 3600.0 if spec.routeStep else math.inf
    squares: list[float] = []
    polls: list[int] = []
    counters = sim.network.counters(CLIENT, SERVER)
    sentAtWarmup: list[int] = []

    def observe(simulation: Simulation) -> None:
        nonlocal route
        now = simulation.seconds()
        if now >= route:
            sim.link(CLIENT, SERVER, replace(link, delay=spec.delay + spec.routeStep))
            route = math.inf
        if now > warmup:
            if not sentAtWarmup:
                sentAtWarmup.append(counters.sent)
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
        packets=counters.sent - sentAtWarmup[0],
    )


def summarize(results: Iterable[RunResult]) -> dict[str, Any]:
    """
    @return: mean and standard deviation of the RMS error (us), the worst
        error, the runs that ran away, the mean poll exponent and packets
        per hour (after the warm-up) of some runs.
    """
    results = list(results)
    rms = [r.rmsMicroseconds for r in results]
    spec = results[0].spec
    hours = spec.hours - spec.warmupHours
    mean = statistics.fmean(rms)
    return {
        "runs": len(rms),
        "meanMicroseconds": mean,
        "sdMicroseconds": statistics.stdev(rms) if len(rms) > 1 else 0.0,
        "worstMicroseconds": max(r.maxMicroseconds for r in results),
        "runaways": sum(1 for r in results if r.maxMicroseconds > RUNAWAY * mean),
        "meanPollLog2": statistics.fmean(r.meanPollLog2 for r in results),
        "packetsPerHour": statistics.fmean(r.packets for r in results) / hours,
        "rmsMicroseconds": rms,
    }


def _cell(mean: float, sd: float, rate: float) -> str:
    sdText = "" if math.isnan(sd) else f" +-{sd:.3g}"
    rateText = "?" if math.isnan(rate) else f"{rate:.3g}"
    return f"{mean:.3g}{sdText} @{rateText}"


def formatTable(
    table: dict[float, dict[str, dict[str, Any]]],
    algorithms: Sequence[str],
    condition: Condition,
) -> str:
    """
    The report: one row per jitter level, our algorithms then the
    reference figures of the condition, each RMS error with its packets
    per hour (C{@}), and a verdict per row against each reference.
    """
    reference = condition.reference
    columns = list(algorithms) + list(reference)
    width = 22
    header = f"{'jitter':>8}  " + "  ".join(f"{name:>{width}}" for name in columns)
    lines = [
        "RMS error after the warm-up, us (mean +- sd over runs) @ packets/h",
        header,
    ]
    for jitter in sorted(table):
        cells = []
        for name in columns:
            if name in table[jitter]:
                row = table[jitter][name]
                cells.append(
                    _cell(
                        row["meanMicroseconds"],
                        row["sdMicroseconds"],
                        row["packetsPerHour"],
                    )
                )
            else:
                cells.append(_cell(*reference[name].get(jitter, (_NAN,) * 3)))
        lines.append(
            f"{_formatJitter(jitter):>8}  "
            + "  ".join(f"{c:>{width}}" for c in cells)
        )
    lines.append("")
    bias = abs(condition.asymmetry) / 2 * 1e6
    for name in algorithms:
        for jitter in sorted(table):
            row = table[jitter][name]
            verdicts = []
            measured = table[jitter].get(CHRONYD_SIM)
            if measured is not None and name != CHRONYD_SIM:
                verdict = (
                    "beats"
                    if row["meanMicroseconds"] < measured["meanMicroseconds"]
                    else "loses to"
                )
                verdicts.append(
                    f"{verdict} {CHRONYD_SIM} "
                    f"({measured['meanMicroseconds'] / row['meanMicroseconds']:.2f}x"
                    f" at {measured['packetsPerHour']:.3g}/h, "
                    f"{measured['runaways']} runaways)"
                )
            for peer, figures in reference.items():
                if jitter not in figures:
                    continue
                mean, _sd, rate = figures[jitter]
                mean += bias
                verdict = "beats" if row["meanMicroseconds"] < mean else "loses to"
                rateText = "" if math.isnan(rate) else f" at {rate:g}/h"
                verdicts.append(
                    f"{verdict} {peer} ({mean / row['meanMicroseconds']:.1f}x"
                    f"{rateText})"
                )
            lines.append(
                f"{name:>8} at {_formatJitter(jitter):>6}: "
                f"{row['meanMicroseconds']:.3g} us at "
                f"{row['packetsPerHour']:.3g} packets/h"
                + (
                    ""
                    if math.isnan(row["meanPollLog2"])
                    else f" (poll {row['meanPollLog2']:.1f})"
                )
                + f", worst {row['worstMicroseconds']:.0f} us"
                f" ({row['runaways']} runaways)"
                + (f"; {'; '.join(verdicts)}" if verdicts else "")
            )
    return "\n".join(lines)


def _formatJitter(jitter: float) -> str:
    if jitter >= 1e-3:
        return f"{jitter * 1e3:g} ms"
    return f"{jitter * 1e6:g} us"


def parseArguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Clock accuracy per packet of our daemon in chrony's "
        "comparison conditions."
    )
    parser.add_argument("--runs", type=int, default=10, help="runs per jitter level")
    parser.add_argument(
        "--hours", type=float, default=8.0, help="simulated hours per run"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="hours left out")
    parser.add_argument(
        "--jitter",
        type=float,
        action="append",
        help="mean jitter, seconds (repeatable; default: the four levels)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run")
    parser.add_argument(
        "--algorithm",
        choices=(ALGORITHM_KALMAN, ALGORITHM_RFC5905, "both"),
        default=ALGORITHM_KALMAN,
    )
    parser.add_argument(
        "--condition",
        choices=tuple(CONDITIONS) + ("all",),
        default="chrony",
        help="the conditions of issue 16 (the options below override them)",
    )
    parser.add_argument(
        "--delay", type=float, default=100e-6, help="base delay, seconds"
    )
    parser.add_argument("--wander", type=float, help="ppb per second")
    parser.add_argument("--distribution", choices=DISTRIBUTIONS, help="of the jitter")
    parser.add_argument(
        "--asymmetry", type=float, help="seconds, towards the server minus back"
    )
    parser.add_argument(
        "--route-step", type=float, help="seconds added to the base delay"
    )
    parser.add_argument("--route-time", type=float, help="hours: when")
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
        help="options of the client's server line (e.g. 'iburst maxpoll 6')",
    )
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes"
    )
    parser.add_argument(
        "--chronyd",
        action="store_true",
        help="also run the real chronyd, with the same server options, in "
        "chrony's simulator clknetsim (see benchmarks/clknetsim.py)",
    )
    parser.add_argument(
        "--clknetsim",
        metavar="DIR",
        help="a built clknetsim (default: $CLKNETSIM_PATH)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    arguments = parser.parse_args(argv)
    if arguments.runs < 1 or arguments.hours <= arguments.warmup:
        parser.error("need at least one run, longer than the warm-up")
    arguments.tools = None
    if arguments.chronyd:
        from benchmarks.clknetsim import locate

        tools = locate(arguments.clknetsim)
        if isinstance(tools, str):
            parser.error(f"--chronyd: {tools}")
        arguments.tools = tools
    return arguments


def conditionOf(arguments: argparse.Namespace, name: str) -> Condition:
    """
    @return: the named condition with the options given on the command
        line applied over it (they void its reference figures when they
        change what they were measured in).
    """
    condition = CONDITIONS[name]
    changes: dict[str, Any] = {}
    for option, attribute in (
        ("wander", "wanderPPB"),
        ("distribution", "distribution"),
        ("asymmetry", "asymmetry"),
        ("route_step", "routeStep"),
        ("route_time", "routeHours"),
    ):
        value = getattr(arguments, option)
        if value is not None and value != getattr(condition, attribute):
            changes[attribute] = value
    if changes or arguments.delay != 100e-6:
        changes["reference"] = {}
    return replace(condition, **changes) if changes else condition


def runCondition(
    arguments: argparse.Namespace, condition: Condition
) -> dict[str, Any]:
    """
    Run every jitter level and algorithm in one condition.

    @return: a JSON-able document of the results.
    """
    jitters = tuple(arguments.jitter) if arguments.jitter else JITTERS
    algorithms = (
        (ALGORITHM_KALMAN, ALGORITHM_RFC5905)
        if arguments.algorithm == "both"
        else (arguments.algorithm,)
    )
    if arguments.tools is not None:
        algorithms += (CHRONYD_SIM,)
    specs = [
        RunSpec(
            seed=arguments.seed + run,
            algorithm=algorithm,
            jitter=jitter,
            delay=arguments.delay,
            hours=arguments.hours,
            warmupHours=arguments.warmup,
            wanderPPB=condition.wanderPPB,
            offset=arguments.offset,
            freqPPM=arguments.freq,
            sample=arguments.sample,
            options=arguments.options,
            distribution=condition.distribution,
            asymmetry=condition.asymmetry,
            routeStep=condition.routeStep,
            routeHours=condition.routeHours,
            tools=arguments.tools if algorithm == CHRONYD_SIM else None,
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
    return {
        "condition": condition.name,
        "conditions": {
            "runs": arguments.runs,
            "hours": arguments.hours,
            "warmupHours": arguments.warmup,
            "seed": arguments.seed,
            "delaySeconds": arguments.delay,
            "wanderPPBPerSecond": condition.wanderPPB,
            "distribution": condition.distribution,
            "asymmetrySeconds": condition.asymmetry,
            "routeStepSeconds": condition.routeStep,
            "routeHours": condition.routeHours,
            "offsetSeconds": arguments.offset,
            "freqPPM": arguments.freq,
            "sampleSeconds": arguments.sample,
            "serverOptions": arguments.options,
        },
        "results": [
            {
                "jitterSeconds": jitter,
                **{name: table[jitter][name] for name in algorithms},
                "reference": {
                    name: {
                        "meanMicroseconds": figures[jitter][0],
                        "sdMicroseconds": figures[jitter][1],
                        "packetsPerHour": figures[jitter][2],
                    }
                    for name, figures in condition.reference.items()
                    if jitter in figures
                },
            }
            for jitter in jitters
        ],
        "elapsedSeconds": elapsed,
        "_table": table,
        "_algorithms": algorithms,
        "_runs": len(specs),
    }


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parseArguments(argv)
    names = tuple(CONDITIONS) if arguments.condition == "all" else (arguments.condition,)
    documents = []
    for name in names:
        condition = conditionOf(arguments, name)
        document = runCondition(arguments, condition)
        table = document.pop("_table")
        algorithms = document.pop("_algorithms")
        runs = document.pop("_runs")
        documents.append(document)
        if arguments.json:
            continue
        print(
            f"condition {condition.name}: {arguments.runs} runs x "
            f"{arguments.hours:g} h per level (first {arguments.warmup:g} h left "
            f"out), seeds {arguments.seed}...{arguments.seed + arguments.runs - 1},"
            f" base delay {arguments.delay * 1e6:g} us, "
            f"{condition.distribution} jitter, wander {condition.wanderPPB:g} "
            f"ppb/s, asymmetry {condition.asymmetry * 1e6:g} us, route step "
            f"{condition.routeStep * 1e6:g} us at {condition.routeHours:g} h, "
            f"'server {SERVER} {arguments.options}'"
        )
        print(formatTable(table, algorithms, condition))
        print(f"\n{runs} runs in {document['elapsedSeconds']:.0f} s\n")
    if arguments.json:
        print(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
