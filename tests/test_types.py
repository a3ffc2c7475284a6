# -*- test-case-name: tests.test_types -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests that the pure core type-checks with C{mypy --strict}, so that the
suite (and with it CI, C{.ci/run}) runs mypy.

mypy comes with the C{test} extra. Without it the test skips with the
reason; under C{CI=true} a missing mypy is a failure, as a missing peer is
for the interop tests.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.interop.peers import isCI

ROOT = Path(__file__).resolve().parent.parent
"""The source tree: where C{pyproject.toml} holds mypy's configuration."""

CONFIG = ROOT / "pyproject.toml"

TIMEOUT = 300
"""Seconds mypy may take (about 2 without a cache)."""


def requireMypy() -> None:
    """
    Give up on a test when mypy is not installed.

    @raise SkipTest: without mypy, unless C{CI=true}.
    @raise RuntimeError: without mypy under C{CI=true}.
    """
    if importlib.util.find_spec("mypy") is not None:
        return
    reason = "mypy is not installed (it comes with the test extra: pip install -e '.[test]')"
    if isCI():
        raise RuntimeError(f"{reason} (CI=true: a missing mypy is a failure)")
    raise SkipTest(reason)


def runMypy(*arguments: str) -> tuple[int, str]:
    """
    Run mypy with the project's configuration, from the source tree,
    without writing a cache into it.

    @param arguments: more command-line arguments; none checks what the
        configuration names (C{files}: the core).
    @return: mypy's exit status and its output.
    """
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(CONFIG),
            "--cache-dir",
            os.devnull,
            *arguments,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return result.returncode, result.stdout + result.stderr


class StrictCoreTests(SynchronousTestCase):
    """
    C{mypy --strict} passes on C{ntpservice/core}.
    """

    def test_configuration(self) -> None:
        """
        mypy's configuration checks the core, strictly.
        """
        with CONFIG.open("rb") as f:
            settings = tomllib.load(f)["tool"]["mypy"]
        self.assertIs(settings["strict"], True)
        self.assertIn("ntpservice/core", settings["files"])

    def test_coreTypeChecks(self) -> None:
        """
        mypy reports no error in the core; on failure the test shows
        mypy's report.
        """
        requireMypy()
        status, output = runMypy()
        if status != 0:
            self.fail(f"mypy --strict found errors in ntpservice/core:\n{output}")
        self.assertIn("Success", output)

    def test_errorsAreReported(self) -> None:
        """
        The check fails on a type error: mypy, run as L{runMypy} runs it,
        exits non-zero and names the error (strict: an unannotated
        function is one).
        """
        requireMypy()
        planted = Path(self.mktemp())
        planted.mkdir()
        (planted / "untyped.py").write_text("def untyped(x):\n    return x\n")
        status, output = runMypy(str(planted / "untyped.py"))
        self.assertNotEqual(status, 0, output)
        self.assertIn("Function is missing a type annotation", output)
