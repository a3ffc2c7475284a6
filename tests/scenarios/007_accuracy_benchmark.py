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
import sys
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
        times its packets (measured on these seeds: 44 us at 4.8/h, 1.55 ms
        at 3.9/h; over ten 8 h runs, 50.5 us at 5.0/h and 1.41 ms at
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
