# -*- test-case-name: tests.test_safety -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The test session cannot change this machine's clock: C{tests/conftest.py}
dropped C{CAP_SYS_TIME} before any test ran. These tests check that it is
gone from this process, every thread of it, and its children, and test the
parsing in L{ntpservice._caps}. They never attempt a write to the clock.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from ntpservice import _caps
from ntpservice._caps import CAP_SYS_TIME, parseCapabilities

_SAMPLE_STATUS = """\
Name:\tcat
Umask:\t0022
State:\tR (running)
CapInh:\t0000000000000000
CapPrm:\t000001fffdffffff
CapEff:\t000001fffdffffff
CapBnd:\t000001fffdffffff
CapAmb:\t0000000000000000
NoNewPrivs:\t0
"""


def _timeBit(mask: int) -> bool:
    return bool(mask >> CAP_SYS_TIME & 1)


class ParseCapabilitiesTests(SynchronousTestCase):
    """
    L{parseCapabilities} reads the C{Cap*} lines of a status file.
    """

    def test_parse(self) -> None:
        """
        Each set is read as a hexadecimal mask; bit 25 is clear in this
        sample and bit 24 set.
        """
        sets = parseCapabilities(_SAMPLE_STATUS)
        self.assertEqual(
            sets,
            {
                "inheritable": 0,
                "permitted": 0x1FFFDFFFFFF,
                "effective": 0x1FFFDFFFFFF,
                "bounding": 0x1FFFDFFFFFF,
                "ambient": 0,
            },
        )
        self.assertFalse(_timeBit(sets["bounding"]))
        self.assertTrue(sets["bounding"] >> 24 & 1)

    def test_unknownSet(self) -> None:
        """
        L{_caps.hasCapability} refuses an unknown set name.
        """
        self.assertRaises(ValueError, _caps.hasCapability, CAP_SYS_TIME, "nope")


class ClockGuardTests(SynchronousTestCase):
    """
    C{CAP_SYS_TIME} is gone from this test process and its children.
    """

    def setUp(self) -> None:
        if not sys.platform.startswith("linux"):
            raise self.skipTest("capabilities are Linux's")

    def test_thisProcess(self) -> None:
        """
        Bit 25 is clear in CapEff, CapPrm, CapAmb and CapBnd of this
        process. (An unprivileged user cannot lower its bounding set; then
        NoNewPrivs must be set instead, so children cannot gain it.)
        """
        for which in ("effective", "permitted", "ambient"):
            self.assertFalse(_caps.hasCapability(CAP_SYS_TIME, which), which)
        self.assertTrue(
            not _caps.hasCapability(CAP_SYS_TIME, "bounding")
            or _caps.noNewPrivileges()
        )

    def test_boundingSetDroppedWhenPossible(self) -> None:
        """
        Where the session could lower its bounding set (it holds
        CAP_SETPCAP, as root on CI does), CAP_SYS_TIME is out of it.
        """
        if not _caps.hasCapability(_caps.CAP_SETPCAP, "effective"):
            raise self.skipTest("no CAP_SETPCAP: the bounding set stays")
        self.assertFalse(_caps.hasCapability(CAP_SYS_TIME, "bounding"))

    def test_everyThread(self) -> None:
        """
        No thread of this process has CAP_SYS_TIME effective or permitted.
        """
        for task in os.listdir("/proc/self/task"):
            for which in ("effective", "permitted"):
                self.assertFalse(
                    _caps.hasCapability(CAP_SYS_TIME, which, int(task)),
                    f"thread {task} {which}",
                )

    def test_child(self) -> None:
        """
        A child process (C{cat /proc/self/status}) does not have
        CAP_SYS_TIME either: not effective, not permitted, and out of its
        bounding set or under NoNewPrivs.
        """
        result = subprocess.run(
            ["cat", "/proc/self/status"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        sets = parseCapabilities(result.stdout)
        self.assertFalse(_timeBit(sets["effective"]))
        self.assertFalse(_timeBit(sets["permitted"]))
        self.assertTrue(
            not _timeBit(sets["bounding"]) or "NoNewPrivs:\t1" in result.stdout
        )
