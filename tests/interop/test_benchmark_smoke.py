# -*- test-case-name: tests.interop.test_benchmark_smoke -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Smoke test for C{benchmarks/server_throughput.py}: it runs end to end and
reports a rate.  It asserts nothing about speed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers

BENCHMARK = os.path.join(peers.REPOSITORY_ROOT, "benchmarks", "server_throughput.py")


@pytest.mark.interop
class ServerThroughputSmokeTests(SynchronousTestCase):
    """
    A short benchmark run against chronyd alone.
    """

    def setUp(self) -> None:
        peers.requireBinary("chronyd")
        peers.requireBinary("setpriv")

    def runBenchmark(self, *extra: str) -> str:
        result = subprocess.run(
            [sys.executable, BENCHMARK, "--only", "chronyd", "--duration", "0.5",
             "--warmup", "0.2", *extra],
            capture_output=True, text=True, timeout=120,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result.stdout

    def test_table(self) -> None:
        """
        The benchmark prints a table with a chronyd row whose rate is
        positive and whose ratio to chronyd is 1.
        """
        out = self.runBenchmark()
        self.assertIn("replies/s", out)
        row = r"^chronyd [\d.]*\s+([\d,]+)\s+([\d.]+)\s+[\d.]+\s+\d+\s+1\.00\b"
        match = re.search(row, out, re.M)
        self.assertIsNotNone(match, out)
        assert match is not None
        self.assertGreater(int(match.group(1).replace(",", "")), 0)

    def test_json(self) -> None:
        """
        With C{--json} it prints one JSON document with the chronyd result.
        """
        report = json.loads(self.runBenchmark("--json"))
        [result] = report["results"]
        self.assertEqual((result["server"], result["status"]), ("chronyd", "ok"))
        self.assertGreater(result["repliesPerSecond"], 0)
        self.assertLess(result["lossPercent"], 100)
        self.assertEqual(result["ratioToChronyd"], 1.0)
