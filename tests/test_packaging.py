# -*- test-case-name: tests.test_packaging -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The installed package provides C{twistd ntp}: what the README's quick
start relies on, checked from outside the checkout.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

TWISTD = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"


class InstalledPluginTests(SynchronousTestCase):
    """
    C{pip install .} puts the twistd plugin where twistd finds it.
    """

    def setUp(self) -> None:
        try:
            self.distribution = importlib.metadata.distribution("ntpservice")
        except importlib.metadata.PackageNotFoundError:
            if os.environ.get("CI") == "true":
                raise
            raise self.skipTest("ntpservice is not installed (pip install .)")  # type: ignore[misc]

    def test_pluginFileInstalled(self) -> None:
        """
        The distribution installs twisted/plugins/ntpservice_plugin.py, and
        no twisted/plugins/__init__.py (which would hide Twisted's own).
        """
        files = {str(f) for f in self.distribution.files or ()}
        self.assertIn("twisted/plugins/ntpservice_plugin.py", files)
        self.assertNotIn("twisted/plugins/__init__.py", files)

    def test_twistdListsNtp(self) -> None:
        """
        twistd, run from outside the checkout with no PYTHONPATH, lists the
        ntp command.
        """
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        result = subprocess.run(
            [sys.executable, "-c", TWISTD, "--help"],
            capture_output=True, text=True, cwd="/", env=env, timeout=60,
        )
        self.assertIn(" ntp ", result.stdout)
