# -*- test-case-name: tests.test_systemd_unit -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for the systemd unit C{etc/ntpservice.service}: what it grants, and
that C{systemd-analyze verify} accepts it (nothing is started).
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase

UNIT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "etc", "ntpservice.service")


def readUnit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    with open(UNIT) as f:
        parser.read_file(f)
    return parser


class UnitTests(SynchronousTestCase):
    """
    The unit runs the daemon unprivileged with the capabilities it needs.
    """

    def test_service(self) -> None:
        """
        The daemon runs in the foreground without a pid file, as the
        C{ntpservice} user, with only CAP_SYS_TIME and
        CAP_NET_BIND_SERVICE, a state directory for the drift file, and
        SIGHUP to reload.
        """
        service = readUnit()["Service"]
        self.assertEqual(service["ExecStart"], "twistd -n --pidfile= ntp")
        self.assertEqual(service["ExecReload"], "/bin/kill -HUP $MAINPID")
        self.assertEqual(service["User"], "ntpservice")
        for key in ("AmbientCapabilities", "CapabilityBoundingSet"):
            self.assertEqual(
                set(service[key].split()), {"CAP_SYS_TIME", "CAP_NET_BIND_SERVICE"}
            )
        self.assertEqual(service["StateDirectory"], "ntpservice")
        self.assertEqual(service["LogsDirectory"], "ntpservice")
        self.assertEqual(service["ProtectSystem"], "strict")
        self.assertEqual(service["NoNewPrivileges"], "yes")
        self.assertIn("@clock", service["SystemCallFilter"].split())
        self.assertNotIn("ProtectClock", service)

    def test_verify(self) -> None:
        """
        C{systemd-analyze verify} finds nothing wrong with the unit (with
        C{ExecStart} pointing at this machine's twistd).
        """
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("systemd-analyze is not installed")
        twistd = shutil.which("twistd") or os.path.join(os.path.dirname(sys.executable), "twistd")
        if not os.path.exists(twistd):
            self.skipTest("twistd not found")
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory, True)
        copy = os.path.join(directory, "ntpservice.service")
        with open(UNIT) as f:
            text = f.read().replace("ExecStart=twistd ", f"ExecStart={twistd} ")
        with open(copy, "w") as f:
            f.write(text)
        result = subprocess.run(
            [analyze, "verify", copy], capture_output=True, text=True, timeout=60
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stderr.strip(), "")
