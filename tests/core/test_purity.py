# -*- test-case-name: tests.core.test_purity -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests that L{ntpservice.core} stays pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import ast
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import ntpservice.core

FORBIDDEN_MODULES = frozenset(
    ["twisted", "socket", "time", "select", "asyncio", "random", "os", "datetime"]
)
"""
Top-level modules the core must not import: the reactor, the network, the
clock, randomness, the operating system and the wall-clock date.
"""

CORE_DIRECTORY = Path(ntpservice.core.__file__).parent


def forbiddenImports(source: str, filename: str = "<source>") -> list[str]:
    """
    Find the forbidden imports in some Python source.

    @param source: the text of a module.
    @param filename: its name, for messages.
    @return: one C{"file:line: module"} entry per forbidden import.
    """
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{filename}:{node.lineno}: {name}")
    return found


class PurityTests(SynchronousTestCase):
    """
    Tests for the purity of the core package.
    """

    def test_coreImportsNothingForbidden(self) -> None:
        """
        No module under C{ntpservice/core} imports a forbidden module, at
        any level (top, function, or C{if TYPE_CHECKING} block).
        """
        files = sorted(CORE_DIRECTORY.rglob("*.py"))
        self.assertIn(CORE_DIRECTORY / "packet.py", files)
        found = []
        for path in files:
            found.extend(forbiddenImports(path.read_text("utf-8"), str(path)))
        self.assertEqual(found, [])

    def test_checkerFindsImports(self) -> None:
        """
        The checker sees every form of import of a forbidden module and
        ignores modules that merely share a prefix, and relative imports.
        """
        source = (
            "import os\n"
            "import os.path as p\n"
            "from time import monotonic\n"
            "from twisted.internet import reactor\n"
            "import json, random\n"
            "def f():\n"
            "    import socket\n"
            "import timeit\n"
            "import selectors\n"
            "from .time import x\n"
            "from . import random\n"
        )
        self.assertEqual(
            forbiddenImports(source),
            [
                "<source>:1: os",
                "<source>:2: os.path",
                "<source>:3: time",
                "<source>:4: twisted.internet",
                "<source>:5: random",
                "<source>:7: socket",
            ],
        )
