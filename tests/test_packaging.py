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


class PackageDiscoveryTests(SynchronousTestCase):
    """
    setup.cfg's package discovery, run on the checkout: what C{pip install .}
    will install.
    """

    def test_everyPackageInstalled(self) -> None:
        """
        Every directory of the checkout's C{ntpservice} tree that holds an
        C{__init__.py} (C{ntpservice.config} and
        C{ntpservice.config.directives} among them) is a package that
        setup.cfg's C{find_namespace:} with its include list installs.
        """
        try:
            from setuptools import find_namespace_packages
        except ImportError:
            raise self.skipTest("setuptools is not installed")  # type: ignore[misc]
        import configparser

        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        setup = configparser.ConfigParser()
        setup.read(os.path.join(root, "setup.cfg"))
        include = setup["options.packages.find"]["include"].split()
        found = set(find_namespace_packages(where=root, include=include))
        packages = {
            os.path.relpath(directory, root).replace(os.sep, ".")
            for directory, _, files in os.walk(os.path.join(root, "ntpservice"))
            if "__init__.py" in files
        }
        self.assertIn("ntpservice.config", packages)
        self.assertIn("ntpservice.config.directives", packages)
        self.assertEqual(packages - found, set())
