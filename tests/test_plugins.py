# -*- test-case-name: tests.test_plugins -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.plugins}: loading the association-mode plugins and
refusing conflicts.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.interfaces import IAssociationMode
from ntpservice.plugins import PluginError, checkPlugins, loadModePlugins


@implementer(IAssociationMode)
class FakeMode:
    """
    A mode plugin that claims the routes it is given.
    """

    description = "a test mode"
    directives: tuple[str, ...] = ()
    enabledByDefault = True

    def __init__(self, name: str, packetModes: tuple[Any, ...]) -> None:
        self.name = name
        self.packetModes = packetModes

    def parseDirective(self, line: object, source: object) -> object:
        return line

    def build(self, daemon: object) -> object:
        raise NotImplementedError()


class CheckPluginsTests(SynchronousTestCase):
    """
    L{checkPlugins} refuses two plugins that claim one route.
    """

    def test_builtins(self) -> None:
        """
        The plugins that ship with ntpservice load together.
        """
        names = [p.name for p in loadModePlugins()]  # type: ignore[attr-defined]
        self.assertIn("server", names)
        self.assertIn("client", names)

    def test_sameModeDifferentKinds(self) -> None:
        """
        Two plugins may share a packet mode for different destination kinds
        (a unicast and a manycast server).
        """
        checkPlugins(
            [FakeMode("unicast", ((3, "unicast"),)), FakeMode("many", ((3, "multicast"),))]
        )

    def test_conflict(self) -> None:
        """
        A plugin claiming a whole mode conflicts with one that claims one
        of its destination kinds; the error names both plugins.
        """
        error = self.assertRaises(
            PluginError,
            checkPlugins,
            [FakeMode("one", (3,)), FakeMode("two", ((3, "multicast"),))],
        )
        self.assertIn("'one'", str(error))
        self.assertIn("'two'", str(error))
        self.assertIn("multicast", str(error))

    def test_badRoute(self) -> None:
        """
        Modes 6 and 7 and unknown destination kinds are refused.
        """
        self.assertRaises(PluginError, checkPlugins, [FakeMode("x", (6,))])
        self.assertRaises(PluginError, checkPlugins, [FakeMode("x", ((3, "anycast"),))])
