# -*- test-case-name: tests.scenarios.007_accuracy_benchmark -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Smoke and regression test for C{benchmarks/accuracy.py}: short seeded runs
of each algorithm, end to end, in this process. It checks the report's
shape and, since the runs are deterministic, that the default discipline
keeps near chronyd's default accuracy per packet and C{discipline rfc5905}
NTPsec's, with generous bounds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
import random
import sys
from unittest import SkipTest
from pathlib import Path
from types import ModuleType

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.discipline import ALGORITHM_KALMAN, ALGORITHM_RFC5905

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "accuracy.py"


def loadBenchmark() -> ModuleType:
    """
    @return: C{benchmarks/accuracy.py} as a module (registered in
        C{sys.modules}, which its dataclasses need).
    """
    name = "benchmarks_accuracy"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def runBenchmark(*arguments: str) -> str:
    """
    @return: what C{accuracy.main(arguments)} printed.
    """
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = loadBenchmark().main(list(arguments))
    assert status == 0
    return output.getvalue()


SHORT = (
    "--runs",
    "6",
    "--hours",
    "4",
    "--warmup",
    "1",
    "--jitter",
    "1e-4",
    "--jitter",
    "1e-2",
    "--jobs",
    "1",
)


class AccuracyBenchmarkTests(SynchronousTestCase):
    """
    The accuracy benchmark runs and reports, and the default discipline
    keeps its accuracy per packet.
    """

    def test_json(self) -> None:
        """
        With C{--json} it prints one document with both algorithms and the
        reference figures for the levels run. The default discipline stays
        near chronyd's default (112 us at 5.1 packets/h at 100 us of jitter,
        1864 us at 3.8 packets/h at 10 ms), with margin left for the chance
        of six short runs: within 1.5 times its error at no more than 1.25
        times its packets (measured on these seeds: 52 us at 3.6/h, 1.92 ms
        at 3.7/h; over fifty 8 h runs, 58 us at 3.6/h and 1.52 ms at
        3.6/h); and no run runs away. (Three runs were too few at 10 ms:
        one seed's error depends on where its first hours led the poll
        interval, and 3 ms over seeds 1-3 was as likely as 2 ms.)
        """
        document = json.loads(runBenchmark(*SHORT, "--json"))
        rows = {row["jitterSeconds"]: row for row in document["results"]}
        self.assertEqual(set(rows), {1e-4, 1e-2})
        chronyd = rows[1e-4]["reference"]["chronyd"]
        self.assertEqual(chronyd["meanMicroseconds"], 112.0)
        self.assertEqual(chronyd["packetsPerHour"], 5.1)
        for row in rows.values():
            kalman = row[ALGORITHM_KALMAN]
            self.assertEqual(kalman["runs"], 6)
            reference = row["reference"]["chronyd"]
            self.assertLess(
                kalman["meanMicroseconds"], reference["meanMicroseconds"] * 1.5
            )
            self.assertLessEqual(
                kalman["packetsPerHour"], reference["packetsPerHour"] * 1.25
            )
            self.assertGreater(kalman["packetsPerHour"], 0.0)
            self.assertEqual(kalman["runaways"], 0)

    def test_rfc5905(self) -> None:
        """
        C{discipline rfc5905} keeps NTPsec's accuracy per packet (213 us at
        100 us of jitter, 5523 us at 10 ms, both at 7 packets/h): with four
        8 h runs its error stays below NTPsec's with 1.25 times its packets
        at most, and no run runs away (measured on these seeds: 166 us at
        6.3/h, 2.8 ms at 6.8/h; over ten runs 152 us and 2.7 ms at 6.2 and
        7.0/h). The runs are 8 h long because the loop's poll climbs for
        its first hours (4 h runs measured 9.8 and 11.7 packets/h).
        """
        document = json.loads(
            runBenchmark(
                "--runs", "4", "--hours", "8", "--jitter", "1e-4", "--jitter",
                "1e-2", "--jobs", "1", "--algorithm", ALGORITHM_RFC5905, "--json",
            )
        )
        for row in document["results"]:
            loop = row[ALGORITHM_RFC5905]
            ntpsec = row["reference"]["ntpsec"]
            self.assertLess(loop["meanMicroseconds"], ntpsec["meanMicroseconds"])
            self.assertLessEqual(
                loop["packetsPerHour"], ntpsec["packetsPerHour"] * 1.25
            )
            self.assertEqual(loop["runaways"], 0)

    def test_table(self) -> None:
        """
        Without C{--json} it prints the table, with packets per hour beside
        each figure, and a verdict per algorithm and level; C{--algorithm
        both} runs both loops.
        """
        output = runBenchmark(
            "--runs", "1", "--hours", "3", "--jitter", "1e-4", "--jobs", "1",
            "--algorithm", "both",
        )
        self.assertIn("chronyd maxpoll 6", output)
        self.assertIn("100 us", output)
        self.assertRegex(output, r"@5\.1 ")
        self.assertRegex(output, r"kalman at 100 us: .* packets/h .*beats chronyd ")
        self.assertRegex(output, rf"{ALGORITHM_RFC5905} at 100 us: .* packets/h")

    def test_condition(self) -> None:
        """
        C{--condition} runs the robustness conditions: with a route change
        the table says so, and there are no reference figures for it.
        """
        output = runBenchmark(
            "--runs", "1", "--hours", "4", "--jitter", "1e-4", "--jobs", "1",
            "--condition", "route-change",
        )
        self.assertIn("route step 1000 us at 3 h", output)
        self.assertNotIn("chronyd", output)


def loadClknetsim() -> ModuleType:
    """
    @return: C{benchmarks/clknetsim.py}, as C{accuracy.py} imports it.
    """
    loadBenchmark()
    return importlib.import_module("benchmarks.clknetsim")


class ClknetsimTests(SynchronousTestCase):
    """
    C{accuracy.py --chronyd} runs the real chronyd in chrony's simulator
    clknetsim (C{benchmarks/clknetsim.py}) under the same conditions.
    """

    def spec(self, **changes: object) -> object:
        return loadBenchmark().RunSpec(
            seed=3, algorithm="chronyd-sim", jitter=1e-3, **changes
        )

    def test_configuration(self) -> None:
        """
        The client's clock starts with the offset and frequency our client
        gets from the same seed, wanders as configured, and each way the
        delay is the base (plus or minus half the asymmetry) plus the
        jitter, with the route step from its hour on.
        """
        clknetsim = loadClknetsim()
        draw = random.Random("accuracy:3")
        offset = draw.uniform(-0.01, 0.01)
        freq = draw.uniform(-10.0, 10.0) * 1e-6
        text = clknetsim.configuration(
            self.spec(asymmetry=20e-6, routeStep=1e-3, wanderPPB=10.0)
        )
        lines = dict(line.split(" = ") for line in text.splitlines())
        self.assertAlmostEqual(float(lines["node2_offset"]), offset, places=12)
        self.assertEqual(
            lines["node2_freq"], f"(+ {freq:.12g} (sum (* 1e-08 (normal))))"
        )
        step = "(* 0.001 (min 1.0 (max 0.0 (* 1e6 (+ time -10800)))))"
        self.assertEqual(
            lines["node2_delay1"], f"(+ 0.00011 (* 0.001 (exponential)) {step})"
        )
        self.assertEqual(
            lines["node1_delay2"], f"(+ 9e-05 (* 0.001 (exponential)) {step})"
        )
        two = clknetsim.configuration(self.spec(distribution="two-exponentials"))
        self.assertIn(
            "node2_delay1 = (+ 0.0001 (* 0.0005 (exponential)) "
            "(* 0.0005 (exponential)))",
            two,
        )

    def test_measure(self) -> None:
        """
        A run's figures come from clknetsim's logs: the RMS and largest
        offset of node 2 after the warm-up, and node 2's requests to node
        1's port 123 after it.
        """
        clknetsim = loadClknetsim()
        directory = self.mktemp()
        os.makedirs(directory)
        offsets = os.path.join(directory, "offsets")
        packets = os.path.join(directory, "packets")
        with open(offsets, "w") as f:
            f.write("0 1.0\n0 -1.0\n0 3e-6\n0 -4e-6\n")
        with open(packets, "w") as f:
            f.write(
                "1.5 2 1 0 123 123 48\n"
                "2.5 2 1 0 123 123 48\n"
                "2.6 1 2 0 123 123 48\n"
                "3.5 2 1 0 123 4000 48\n"
            )
        measured = clknetsim._measure(offsets, packets, 2)
        self.assertAlmostEqual(measured.rmsMicroseconds, math.sqrt(12.5))
        self.assertAlmostEqual(measured.maxMicroseconds, 4.0)
        self.assertEqual(measured.packets, 1)

    def test_chronydNeedsClknetsim(self) -> None:
        """
        Without a built clknetsim C{accuracy.py} refuses C{--chronyd} and
        says why.
        """
        directory = self.mktemp()
        os.makedirs(directory)
        with contextlib.redirect_stderr(io.StringIO()) as error:
            self.assertRaises(
                SystemExit, runBenchmark, "--chronyd", "--clknetsim", directory
            )
        self.assertIn(f"--chronyd: {directory}: no clknetsim", error.getvalue())

    def test_chronyd(self) -> None:
        """
        With a built clknetsim (C{$CLKNETSIM_PATH}) and chronyd, C{--chronyd}
        adds the measured chronyd to the table and to the verdicts.
        """
        tools = loadClknetsim().locate(None)
        if isinstance(tools, str):
            raise SkipTest(tools)
        output = runBenchmark(
            "--runs", "1", "--hours", "3", "--jitter", "1e-4", "--jobs", "1",
            "--chronyd",
        )
        self.assertRegex(output, r"chronyd-sim at 100 us: .* packets/h")
        self.assertRegex(output, r"kalman at 100 us: .*(beats|loses to) chronyd-sim")
