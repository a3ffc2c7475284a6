# -*- test-case-name: tests.test_plugins -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Loading the association-mode plugins and giving them their directives.

Plugins are found with L{twisted.plugin.getPlugins} in L{ntpservice.modes},
checked with C{verifyObject}, and refused when two of them claim the same
name, directive or route (packet mode and destination kind) (after pluggy and buildbot: conflicts are
errors at load time, never a silent winner).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from zope.interface.verify import verifyObject

from twisted.plugin import getPlugins

from ntpservice import config
from ntpservice.interfaces import IAssociationMode
from ntpservice.net.multiplexer import routeKeys


class PluginError(Exception):
    """
    The mode plugins cannot be loaded together; the message says which and
    why.
    """


def loadModePlugins(package: object | None = None) -> list[object]:
    """
    Every L{IAssociationMode} plugin, verified, in name order.

    @param package: the package to search (default L{ntpservice.modes}).
    @raise PluginError: on an invalid plugin or a conflict.
    """
    if package is None:
        import ntpservice.modes as package  # type: ignore[no-redef]
    plugins = sorted(getPlugins(IAssociationMode, package), key=lambda p: p.name)
    checkPlugins(plugins)
    return plugins


def checkPlugins(plugins: Sequence[object]) -> None:
    """
    Verify each plugin and refuse conflicts.

    @raise PluginError: naming the plugins involved.
    """
    names: dict[str, object] = {}
    directives: dict[str, str] = {}
    modes: dict[tuple[int, str], str] = {}
    for plugin in plugins:
        try:
            verifyObject(IAssociationMode, plugin)
        except Exception as e:
            raise PluginError(f"{plugin!r} is not a valid association mode plugin: {e}")
        name = plugin.name  # type: ignore[attr-defined]
        if name in names:
            raise PluginError(f"two association mode plugins are named {name!r}")
        names[name] = plugin
        for directive in plugin.directives:  # type: ignore[attr-defined]
            if directive in directives:
                raise PluginError(
                    f"directive {directive!r} is claimed by both the "
                    f"{directives[directive]!r} and the {name!r} plugins"
                )
            directives[directive] = name
        for spec in plugin.packetModes:  # type: ignore[attr-defined]
            try:
                keys = routeKeys(spec)
            except ValueError as e:
                raise PluginError(f"plugin {name!r}: {e}")
            for mode, kind in keys:
                if not 0 <= mode <= 5:
                    raise PluginError(
                        f"plugin {name!r} claims packet mode {mode}, not 0-5"
                    )
                if (mode, kind) in modes:
                    raise PluginError(
                        f"packet mode {mode} ({kind}) is claimed by both the "
                        f"{modes[mode, kind]!r} and the {name!r} plugins"
                    )
                modes[mode, kind] = name


def registryFor(plugins: Iterable[object]) -> config.DirectiveRegistry:
    """
    A configuration registry in which each plugin owns its directives and
    its C{enable}/C{disable} switch.
    """
    registry = config.defaultRegistry()
    for plugin in plugins:
        owner = f"{plugin.name} plugin"  # type: ignore[attr-defined]
        for directive in plugin.directives:  # type: ignore[attr-defined]
            if registry.ownerOf(directive) == config.BUILTIN_OWNER:
                registry.unregister(directive, config.BUILTIN_OWNER)
            registry.register(directive, plugin.parseDirective, owner)  # type: ignore[attr-defined]
        if plugin.name not in registry.switches():  # type: ignore[attr-defined]
            registry.registerSwitch(plugin.name, owner)  # type: ignore[attr-defined]
    return registry


def enabledPlugins(
    plugins: Iterable[object], configuration: config.Configuration
) -> list[object]:
    """
    The plugins that C{enable}/C{disable} leave on.
    """
    return [
        p
        for p in plugins
        if configuration.isEnabled(p.name, default=p.enabledByDefault)  # type: ignore[attr-defined]
    ]
