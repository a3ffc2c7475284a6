# -*- test-case-name: tests.scenarios -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Collect the scenario files, named C{NNN_topic.py} after chrony's
C{test/simulation/NNN-topic} (pytest's default pattern wants C{test_*.py}).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

SCENARIO_FILE = re.compile(r"\d{3}_\w+\.py")
"""The name of a scenario file."""


def pytest_collect_file(file_path: Path, parent: Any) -> Any:
    """
    Collect C{NNN_topic.py} files in this directory as test modules
    (pytest collects a file named on the command line by itself).
    """
    if (
        file_path.parent == Path(__file__).parent
        and SCENARIO_FILE.fullmatch(file_path.name)
        and not parent.session.isinitpath(file_path)
    ):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
