# -*- test-case-name: tests.test_devsh -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for C{dev.sh}, the quick start: it installs the package into C{.venv}
only when the tree changed, so that a second C{./dev.sh daemon} starts the
daemon at once.

Each test runs the real C{dev.sh} in a scratch copy of a small tree whose
C{.venv} holds stand-ins for C{python} and C{twistd} that only record how
they were called: no pip, no network, no daemon.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

from twisted.trial.unittest import SynchronousTestCase

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RECORDER = """#!/bin/sh
printf '%s %s\\n' "$(basename "$0")" "$*" >>"{log}"
"""


class DevShTests(SynchronousTestCase):
    """
    C{./dev.sh daemon} installs on the first run and after a change of the
    tree, and skips the installation otherwise.
    """

    def setUp(self) -> None:
        if shutil.which("sh") is None or shutil.which("sha256sum") is None:
            raise self.skipTest("needs sh and sha256sum")  # type: ignore[misc]
        check = subprocess.run(
            ["python3", "-c", "import venv, ensurepip"], capture_output=True
        )
        if check.returncode != 0:
            # dev.sh would install python3-venv with apt-get.
            raise self.skipTest("python3 lacks venv/ensurepip")  # type: ignore[misc]
        self.tree = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.tree, "ntpservice"))
        os.makedirs(os.path.join(self.tree, "twisted", "plugins"))
        shutil.copy(os.path.join(REPOSITORY_ROOT, "dev.sh"), self.tree)
        for name, text in (
            ("setup.cfg", "[metadata]\nname = ntpservice\n"),
            ("pyproject.toml", "[build-system]\n"),
            ("README.md", "readme\n"),
            ("ntpservice/__init__.py", ""),
            ("ntpservice/module.py", "x = 1\n"),
            ("twisted/plugins/ntpservice_plugin.py", ""),
        ):
            with open(os.path.join(self.tree, name), "w") as f:
                f.write(text)
        self.log = os.path.join(self.tree, "calls.log")
        bin = os.path.join(self.tree, ".venv", "bin")
        os.makedirs(bin)
        for program in ("python", "twistd"):
            path = os.path.join(bin, program)
            with open(path, "w") as f:
                f.write(RECORDER.format(log=self.log))
            os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)

    def devsh(self, *args: str) -> list[str]:
        """
        Run C{dev.sh daemon ARGS} in the scratch tree.

        @return: the calls of the stand-ins, one C{PROGRAM ARGS} string each.
        """
        if os.path.exists(self.log):
            os.remove(self.log)
        result = subprocess.run(
            ["sh", os.path.join(self.tree, "dev.sh"), "daemon", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(self.log) as f:
            return f.read().splitlines()

    def pipInstalls(self, calls: list[str]) -> list[str]:
        return [c for c in calls if c.startswith("python -m pip install -q /")]

    def test_installsOnceThenStartsAtOnce(self) -> None:
        """
        The first run installs the tree (and rebuilds the plugin cache)
        before starting C{twistd}; a second run of the unchanged tree
        starts C{twistd} without calling pip at all.
        """
        first = self.devsh("-c", "x.conf")
        self.assertEqual(
            self.pipInstalls(first), [f"python -m pip install -q {self.tree}"]
        )
        self.assertIn("python -m ntpservice._plugincache", first)
        self.assertEqual(first[-1], "twistd -n --pidfile= ntp -c x.conf")
        second = self.devsh("-c", "x.conf")
        self.assertEqual(second, ["twistd -n --pidfile= ntp -c x.conf"])

    def test_changedTreeReinstalls(self) -> None:
        """
        Changing a file of the package, or adding one, installs again.
        """
        self.devsh()
        with open(os.path.join(self.tree, "ntpservice", "module.py"), "w") as f:
            f.write("x = 2\n")
        self.assertEqual(len(self.pipInstalls(self.devsh())), 1)
        self.assertEqual(self.pipInstalls(self.devsh()), [])
        with open(os.path.join(self.tree, "ntpservice", "new.py"), "w") as f:
            f.write("")
        self.assertEqual(len(self.pipInstalls(self.devsh())), 1)

    def test_generatedFilesIgnored(self) -> None:
        """
        Byte code and Twisted's plugin cache, which running the daemon
        writes into the tree, do not count as a change.
        """
        self.devsh()
        cache = os.path.join(self.tree, "ntpservice", "__pycache__")
        os.makedirs(cache)
        with open(os.path.join(cache, "module.cpython-311.pyc"), "wb") as f:
            f.write(b"\0")
        plugins = os.path.join(self.tree, "twisted", "plugins")
        with open(os.path.join(plugins, "dropin.cache"), "wb") as f:
            f.write(b"\0")
        self.assertEqual(self.pipInstalls(self.devsh()), [])

    def test_testExtraCoversDaemon(self) -> None:
        """
        An installation with the test extra (what C{./dev.sh test} makes)
        serves C{./dev.sh daemon} too; a stamp without the current tree's
        hash does not.
        """
        self.devsh()
        stampPath = os.path.join(self.tree, ".venv", ".ntpservice-installed")
        with open(stampPath) as f:
            [line] = f.read().splitlines()
        with open(stampPath, "w") as f:
            f.write(line + "[test]\n")
        self.assertEqual(self.pipInstalls(self.devsh()), [])
        with open(stampPath, "w") as f:
            f.write("0" * 64 + "[test]\n")
        self.assertEqual(len(self.pipInstalls(self.devsh())), 1)
