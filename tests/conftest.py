# -*- test-case-name: tests.test_safety -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Test-session guard: give up C{CAP_SYS_TIME} before any test runs, so that
no test, and nothing a test spawns, can change this machine's clock.

C{pytest_configure} runs in the main thread before test modules are
collected and before any thread starts. It drops C{CAP_SYS_TIME} from the
bounding, effective, permitted and inheritable sets, then checks every
thread of the process in C{/proc}; if the capability is still there the
session stops with a usage error. Where the bounding set cannot be lowered
(an unprivileged user, without C{CAP_SETPCAP}: then the capability is not
effective anyway), C{PR_SET_NO_NEW_PRIVS} gives the same guarantee for
children: nothing they execute gains privileges.
"""

from __future__ import annotations

import os
import sys

import pytest

from ntpservice import _caps


def _guardTheClock() -> str:
    """
    Drop C{CAP_SYS_TIME} and verify it is gone.

    @return: how children are kept from regaining it, for the report
        header.
    @raise pytest.UsageError: if any thread still has it, or could regain it.
    """
    cap = _caps.CAP_SYS_TIME
    _caps.dropCapability(cap)
    how = "dropped from the bounding set"
    if _caps.hasCapability(cap, "bounding"):
        _caps.setNoNewPrivileges()
        how = "not in CapEff; bounding set kept (no CAP_SETPCAP), NoNewPrivs set"
    problems = []
    for task in sorted(int(t) for t in os.listdir("/proc/self/task")):
        for which in ("effective", "permitted", "ambient"):
            if _caps.hasCapability(cap, which, task):
                problems.append(f"thread {task} has CAP_SYS_TIME in its {which} set")
        if _caps.hasCapability(cap, "bounding", task) and not _caps.noNewPrivileges(
            task
        ):
            problems.append(
                f"thread {task} has CAP_SYS_TIME in its bounding set "
                f"and NoNewPrivs unset"
            )
    if problems:
        raise pytest.UsageError(
            "refusing to run tests that could change the system clock: "
            + "; ".join(problems)
        )
    return how


_guardReport = "not applicable (not Linux)"


def pytest_configure(config: pytest.Config) -> None:
    """
    Guard the clock before anything else happens in the session.
    """
    global _guardReport
    if sys.platform.startswith("linux"):
        _guardReport = _guardTheClock()


def pytest_report_header(config: pytest.Config) -> str:
    """
    Say in the session header how the clock is guarded.
    """
    return f"clock guard: CAP_SYS_TIME {_guardReport}"
