# -*- test-case-name: tests.interop.test_time_to_sync_smoke -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Smoke test for C{benchmarks/time_to_sync.py}: one round runs end to end in
network namespaces and reports a time for each of the three clients.  It
asserts nothing about speed.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import re
import subprocess
import sys
from types import ModuleType

import pytest

from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers

BENCHMARK = os.path.join(peers.REPOSITORY_ROOT, "benchmarks", "time_to_sync.py")

CLIENT_TIMEOUT_SECONDS = 45
"""C{--timeout} given to the benchmark: each client's bound, seconds."""

RUN_TIMEOUT_SECONDS = 240
"""Bound on the whole benchmark process, seconds (set-up, one round, clean-up)."""

ROW = re.compile(
    r"^(?P<client>ours|chronyd|ntpsec)\b.*?\s+(?P<median>\S+)\s+(?P<min>\S+)\s+"
    r"(?P<max>\S+)\s+(?P<up>\S+)\s+(?P<synced>\d+)/(?P<rounds>\d+)\s+"
    r"(?P<ratio>\S+)$",
    re.M,
)


def loadBenchmark() -> ModuleType:
    """
    @return: C{benchmarks/time_to_sync.py} imported as a module (the
        benchmarks directory is not a package).
    """
    spec = importlib.util.spec_from_file_location("time_to_sync", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.interop
@pytest.mark.netns
class TimeToSyncSmokeTests(SynchronousTestCase):
    """
    C{time_to_sync.py --rounds 1} against a chronyd server.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        for name in ("setpriv", "chronyd", "ntpd"):
            peers.requireBinary(name)

    def test_table(self) -> None:
        """
        The benchmark exits with status 0 and prints a table with exactly
        one row each for ours, chronyd and ntpsec, each with a finite,
        positive median, minimum and maximum, one synchronized round of
        one, and a finite ratio; ours compared with itself is 1.
        """
        try:
            result = subprocess.run(
                [sys.executable, BENCHMARK, "--rounds", "1", "--timeout",
                 str(CLIENT_TIMEOUT_SECONDS)],
                capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired as e:
            self.fail(f"the benchmark did not finish in {RUN_TIMEOUT_SECONDS} s: "
                      f"{e.stdout!r} {e.stderr!r}")
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, output)
        rows = {m.group("client"): m for m in ROW.finditer(result.stdout)}
        self.assertEqual(sorted(rows), ["chronyd", "ntpsec", "ours"], output)
        self.assertEqual(len(ROW.findall(result.stdout)), 3, output)
        for client, row in rows.items():
            numbers = [float(row.group(g)) for g in ("median", "min", "max", "ratio")]
            for number in numbers:
                self.assertTrue(math.isfinite(number) and number > 0,
                                f"{client}: {row.group(0)}")
            self.assertEqual(row.group("median"), row.group("min"), row.group(0))
            self.assertEqual(row.group("median"), row.group("max"), row.group(0))
            self.assertEqual((row.group("synced"), row.group("rounds")), ("1", "1"))
        self.assertEqual(rows["ours"].group("ratio"), "1.00")


class WithoutRootTests(SynchronousTestCase):
    """
    Where network namespaces cannot be built, the benchmark says so and
    exits with status 2, without starting anything.
    """

    def test_exitStatus2(self) -> None:
        """
        When the harness's root probe failed, C{main} prints why on
        standard error and returns 2 (also under C{CI=true}, where the
        harness raises L{peers.PeerUnavailableError} instead of skipping).
        """
        benchmark = loadBenchmark()
        self.patch(peers, "_rootProbe", "network namespaces need root (test)")
        for ci in ("", "true"):
            self.patch(os, "environ", {**os.environ, "CI": ci})
            stderr = io.StringIO()
            self.patch(sys, "stderr", stderr)
            self.assertEqual(benchmark.main(["--rounds", "1"]), 2)
            self.assertIn("cannot run: network namespaces need root (test)",
                          stderr.getvalue())
