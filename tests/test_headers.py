# -*- test-case-name: tests.test_headers -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Every module's C{test-case-name} header names test modules that exist (so
that C{trial --testmodule} and readers find the tests, and the headers
cannot rot).
"""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parent.parent
HEADER = re.compile(r"#\s*-\*- test-case-name: (.*) -\*-")


def missingTestModules() -> list[str]:
    """
    @return: C{"file: module"} for each named test module that does not
        exist.
    """
    missing = []
    files = [*ROOT.glob("ntpservice/**/*.py"), *ROOT.glob("tests/**/*.py")]
    for path in sorted(files):
        for line in path.read_text(encoding="utf-8").splitlines()[:2]:
            match = HEADER.match(line)
            if match is None:
                continue
            for name in match.group(1).split(","):
                target = ROOT.joinpath(*name.strip().split("."))
                if not (target.with_suffix(".py").exists() or (target / "__init__.py").exists()):
                    missing.append(f"{path.relative_to(ROOT)}: {name.strip()}")
    return missing


class HeaderTests(SynchronousTestCase):
    """
    The test-case-name headers point at real test modules.
    """

    def test_namedModulesExist(self) -> None:
        """
        No header names a test module that does not exist.
        """
        self.assertEqual(missingTestModules(), [])
