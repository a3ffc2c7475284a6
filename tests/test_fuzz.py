# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The bounded CI run of the fuzz targets (C{fuzz/}, issue 17): each target
runs from its seed corpus (real packets and records captured from chronyd
and NTPsec, our C{etc/} examples, keys files, and every input that once
crashed a target) for a few seconds in a subprocess of its own, with
atheris (libFuzzer); any crash fails the test, with the reproducer's path
and the target's output. About 60 s in all; the longer local run is
C{python -m fuzz.run --minutes 10 all} (C{docs/testing.md}).

Without atheris (not in the C{test} extra of an old environment) the tests
skip, except under C{CI=true}, where they fail.
"""

from __future__ import annotations

import os

import pytest

from twisted.trial.unittest import SynchronousTestCase

from fuzz import TARGETS
from fuzz._harness import arguments, seedDirectory

SECONDS = {
    "packet": 9,
    "config": 9,
    "keys": 7,
    "control": 8,
    "control_handler": 9,
    "nts_ke": 7,
    "nts_fields": 9,
}
"""Seconds of fuzzing per target in CI (60 in all)."""


def requireAtheris() -> None:
    """
    Skip without atheris, but fail under C{CI=true}.
    """
    try:
        import atheris  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("atheris is not installed (pip install atheris)")


class HarnessTests(SynchronousTestCase):
    """
    What the targets share.
    """

    def test_everyTargetHasSeeds(self) -> None:
        """
        Every target has a module and a seed corpus in the tree, and the
        CI run gives each some time.
        """
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for target in TARGETS:
            self.assertTrue(os.path.exists(os.path.join(root, "fuzz", f"{target}.py")))
            self.assertGreater(len(os.listdir(seedDirectory(target))), 0, target)
        self.assertEqual(set(SECONDS), set(TARGETS))
        self.assertLessEqual(sum(SECONDS.values()), 60)

    def test_arguments(self) -> None:
        """
        Without corpus directories, a scratch directory (written, under
        C{$XDG_CACHE_HOME}) comes before the seed corpus (only read);
        options given are kept and the defaults added.
        """
        cache = self.mktemp()
        self.patch(os, "environ", {**os.environ, "XDG_CACHE_HOME": cache})
        argv = arguments("packet", ["prog", "-max_len=100"])
        self.assertEqual(argv[0], "prog")
        self.assertIn("-max_len=100", argv)
        self.assertIn("-rss_limit_mb=1024", argv)
        self.assertNotIn("-max_len=4096", argv)
        self.assertEqual(argv[-1], seedDirectory("packet"))
        self.assertEqual(argv[-2], os.path.join(cache, "ntpservice-fuzz", "packet"))
        self.assertTrue(os.path.isdir(argv[-2]))
        given = arguments("packet", ["prog", "some/dir"])
        self.assertEqual(given[-1], "some/dir")


@pytest.mark.heavy
@pytest.mark.parametrize("target", TARGETS)
def test_fuzzTarget(target: str, tmp_path: object) -> None:
    """
    The target runs its whole seed corpus, then fuzzes for a few seconds,
    without a crash; it ran inputs and reached code.
    """
    requireAtheris()
    from fuzz.run import runTarget

    artifacts = str(tmp_path)
    result = runTarget(target, SECONDS[target], artifacts, timeout=SECONDS[target] + 240)
    print(f"\n{result.summary()}")
    assert not result.crashed, (
        f"{target} crashed (reproducers: {result.artifacts}):\n{result.output}"
    )
    assert result.executions > 0 and result.cov > 0, result.output
