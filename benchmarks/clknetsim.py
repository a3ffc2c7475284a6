#!/usr/bin/env python3
# -*- test-case-name: tests.scenarios.007_accuracy_benchmark -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The real chronyd in chrony's own clock-and-network simulator, clknetsim,
under the conditions of L{benchmarks.accuracy}: the same measure (the RMS
and the largest true clock error after the warm-up, and the requests sent
per hour after it), so that C{accuracy.py --chronyd} reports chronyd
measured in the same run, beside our daemon, rather than figures copied
from elsewhere.

clknetsim (U{https://github.com/mlichvar/clknetsim}, GPL-2) is not part of
ntpservice and is not fetched by it: build it (C{git clone}, C{make}) and
give its directory with C{--clknetsim} or C{$CLKNETSIM_PATH}. chronyd is
found as the interop tests find it (L{tests.interop.peers.findBinary}:
C{$NTPSERVICE_CHRONYD}, the peers prefix, C{$PATH}); Debian's chronyd 4.3
runs under it unmodified.

One run: node 1 is chronyd with C{local stratum 1} and a perfect clock;
node 2 is chronyd with C{server 192.168.123.1 OPTIONS} (the run's
C{options}, the same words as our daemon's server line), its clock off by
the same initial offset and frequency as our client's in that run (drawn
from the same seed), wandering by C{(sum (* W (normal)))} per second (as in
chrony's own tests). Each way the delay is the base delay (plus or minus
half the asymmetry) plus the jitter (C{(* J (exponential))}, or two
exponentials of half the mean), with the route step added from its hour
on. clknetsim logs node 2's true offset every second and every packet; the
run's figures come from those logs.

Safety: clknetsim's library (C{LD_PRELOAD}) replaces chronyd's clock,
timer and network calls with the simulator's. When this runs as root, the
simulator and both chronyd run as C{nobody} (C{setpriv}), so that a call
escaping the library could not set this machine's clock; chronyd's
command sockets are off (C{cmdport 0}, C{bindcmdaddress /}).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ntpservice.sim.network import TWO_EXPONENTIALS  # noqa: E402
from tests.interop import peers  # noqa: E402

SERVER = "192.168.123.1"
"""clknetsim's address of node 1."""

NOBODY = 65534

TIMEOUT = 900.0
"""Seconds of wall-clock time one simulated run may take."""


@dataclass(frozen=True, slots=True)
class Tools:
    """
    @ivar clknetsim: the directory of a built clknetsim (C{clknetsim},
        C{clknetsim.so}).
    @ivar chronyd: the chronyd program.
    """

    clknetsim: str
    chronyd: str


def locate(clknetsim: str | None) -> Tools | str:
    """
    @param clknetsim: clknetsim's directory, or C{None} for
        C{$CLKNETSIM_PATH}.
    @return: the tools, or why they cannot be used.
    """
    directory = clknetsim or os.environ.get("CLKNETSIM_PATH", "")
    if not directory:
        return "no clknetsim: give --clknetsim DIR or set CLKNETSIM_PATH"
    for name in ("clknetsim", "clknetsim.so"):
        if not os.path.isfile(os.path.join(directory, name)):
            return f"{directory}: no {name} (build clknetsim with make)"
    chronyd = peers.findBinary("chronyd")
    if chronyd is None:
        return "no chronyd (install chrony or set NTPSERVICE_CHRONYD)"
    return Tools(os.path.abspath(directory), chronyd)


def _delay(base: float, jitter: float, distribution: str, step: str) -> str:
    """
    @return: a clknetsim delay expression: C{base} seconds, the jitter
        and C{step} (an expression, or C{""}).
    """
    if distribution == TWO_EXPONENTIALS:
        noise = f"(* {jitter / 2:.9g} (exponential)) (* {jitter / 2:.9g} (exponential))"
    else:
        noise = f"(* {jitter:.9g} (exponential))"
    return f"(+ {base:.9g} {noise}{' ' + step if step else ''})"


def configuration(spec: Any) -> str:
    """
    The clknetsim configuration of a run.

    @param spec: an L{accuracy.RunSpec}.
    @return: the text of the file.
    """
    offset, freqPPM = spec.initialConditions()
    step = ""
    if spec.routeStep:
        # 0 before the route's hour, 1 from a microsecond after it.
        at = spec.routeHours * 3600.0
        step = f"(* {spec.routeStep:.9g} (min 1.0 (max 0.0 (* 1e6 (+ time -{at:.9g})))))"
    forward = spec.delay + spec.asymmetry / 2
    backward = spec.delay - spec.asymmetry / 2
    jitter, distribution = spec.jitter, spec.distribution
    wander = spec.wanderPPB * 1e-9
    return (
        "node1_offset = 0\n"
        "node1_freq = 0\n"
        f"node2_offset = {offset:.12g}\n"
        f"node2_freq = (+ {freqPPM * 1e-6:.12g} (sum (* {wander:.9g} (normal))))\n"
        f"node2_delay1 = {_delay(forward, jitter, distribution, step)}\n"
        f"node1_delay2 = {_delay(backward, jitter, distribution, step)}\n"
    )


def _chronydConfiguration(directory: str, node: int, options: str) -> str:
    common = (
        f"pidfile {directory}/chronyd.{node}.pid\n"
        "cmdport 0\n"
        "bindcmdaddress /\n"
    )
    if node == 1:
        return common + "local stratum 1\nallow\n"
    return common + f"server {SERVER} {options}\n"


def _asNobody() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@dataclass(frozen=True, slots=True)
class Measured:
    """
    What one run of chronyd measured.

    @ivar rmsMicroseconds: RMS true clock error of node 2 after the
        warm-up.
    @ivar maxMicroseconds: its largest absolute value then.
    @ivar packets: node 2's requests to node 1 after the warm-up.
    """

    rmsMicroseconds: float
    maxMicroseconds: float
    packets: int


def runChronyd(spec: Any, tools: Tools) -> Measured:
    """
    Simulate one run of chronyd.

    @param spec: an L{accuracy.RunSpec}.
    @param tools: where clknetsim and chronyd are.
    @return: what it measured.
    @raise RuntimeError: if the simulation failed.
    """
    warmup = round(spec.warmupHours * 3600)
    limit = round(spec.hours * 3600)
    directory = tempfile.mkdtemp(prefix="clknetsim-")
    try:
        if os.geteuid() == 0:
            os.chown(directory, NOBODY, NOBODY)
        with open(os.path.join(directory, "conf"), "w") as f:
            f.write(configuration(spec))
        environment = dict(
            os.environ,
            CLKNETSIM_SOCKET=os.path.join(directory, "socket"),
            CLKNETSIM_RANDOM_SEED=str(spec.seed * 1000 + 7),
        )
        environment.pop("LD_PRELOAD", None)
        nodes = []
        for node in (1, 2):
            path = os.path.join(directory, f"chrony.{node}.conf")
            with open(path, "w") as f:
                f.write(_chronydConfiguration(directory, node, spec.options))
            log = open(os.path.join(directory, f"chronyd.{node}.log"), "w")
            # The library is preloaded into chronyd only, not into setpriv.
            command = _asNobody() + [
                "env",
                f"LD_PRELOAD={tools.clknetsim}/clknetsim.so",
                f"CLKNETSIM_NODE={node}",
                tools.chronyd,
                "-d",
                "-f",
                path,
            ]
            nodes.append(
                subprocess.Popen(
                    command, env=environment, stdout=log, stderr=subprocess.STDOUT
                )
            )
            log.close()
        offsets = os.path.join(directory, "offsets")
        packetLog = os.path.join(directory, "packets")
        try:
            simulator = subprocess.run(
                _asNobody()
                + [
                    os.path.join(tools.clknetsim, "clknetsim"),
                    "-s",
                    environment["CLKNETSIM_SOCKET"],
                    "-o",
                    offsets,
                    "-p",
                    packetLog,
                    "-l",
                    str(limit),
                    os.path.join(directory, "conf"),
                    "2",
                ],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=TIMEOUT,
            )
        finally:
            for process in nodes:
                process.terminate()
            for process in nodes:
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if simulator.returncode != 0:
            raise RuntimeError(
                f"clknetsim exited with {simulator.returncode}: "
                f"{simulator.stderr.decode(errors='replace')[-500:]}"
            )
        return _measure(offsets, packetLog, warmup)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _measure(offsets: str, packetLog: str, warmup: int) -> Measured:
    """
    The figures of a run from clknetsim's logs: C{offsets} has a line per
    simulated second (the true offset of each node, node 2's second),
    C{packetLog} a line per packet (time, from, to, ..., port fifth).
    """
    squares = 0.0
    largest = 0.0
    count = 0
    with open(offsets) as f:
        for second, line in enumerate(f, start=1):
            if second <= warmup:
                continue
            error = float(line.split()[1])
            squares += error * error
            largest = max(largest, abs(error))
            count += 1
    if not count:
        raise RuntimeError("clknetsim logged nothing after the warm-up")
    packets = 0
    with open(packetLog) as f:
        for line in f:
            fields = line.split()
            if (
                float(fields[0]) > warmup
                and fields[1] == "2"
                and fields[2] == "1"
                and fields[5] == "123"
            ):
                packets += 1
    return Measured(math.sqrt(squares / count) * 1e6, largest * 1e6, packets)
