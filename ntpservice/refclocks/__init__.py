# -*- test-case-name: tests.refclocks.test_plugins -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Reference clock drivers: plugins providing
L{IRefClockFactory <ntpservice.interfaces.IRefClockFactory>}.

The built-in drivers live in this package; L{loadRefClockPlugins} finds them
with L{twisted.plugin.getPlugins}, checks each with C{verifyObject}, and
refuses two drivers with one name or one driver type (as the mode plugins
are checked in L{ntpservice.plugins}).

Third-party drivers put their plugin module in a C{ntpservice/refclocks/}
directory without C{__init__.py} (as C{twisted/plugins}) of their own
package, or the caller passes their plugin package to L{loadRefClockPlugins}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from zope.interface.verify import verifyObject

from twisted.plugin import getPlugins, pluginPackagePaths

from ntpservice.interfaces import IRefClockFactory

# Third-party drivers: a directory ntpservice/refclocks/ (without
# __init__.py) in any sys.path entry is searched too, as for the modes.
__path__.extend(pluginPackagePaths(__name__))  # type: ignore[name-defined]


class RefClockPluginError(Exception):
    """
    The reference clock plugins cannot be loaded together; the message says
    which and why.
    """


@dataclass(frozen=True, slots=True)
class RefClockOptions:
    """
    What the configuration says about one reference clock: its unit and
    the common C{fudge} options (each C{None} when not given, the driver's
    default then applies).

    @ivar unit: the C{u} of C{127.127.t.u}.
    @ivar stratum: C{fudge stratum}, the driver stratum (0-15).
    @ivar refid: C{fudge refid}, 4 bytes (padded with NULs).
    @ivar time1: C{fudge time1}, seconds.
    @ivar time2: C{fudge time2}, seconds.
    @ivar flags: C{fudge flag1-4}, indexed 1-4.
    @ivar source: the configuration line, C{FILE:LINE}, for messages.
    """

    unit: int = 0
    stratum: int | None = None
    refid: bytes | None = None
    time1: float | None = None
    time2: float | None = None
    flags: tuple[tuple[int, bool], ...] = ()
    source: str = ""


def loadRefClockPlugins(package: object | None = None) -> list[Any]:
    """
    Every L{IRefClockFactory} plugin, verified, in driver type order.

    @param package: the package to search (default L{ntpservice.refclocks}).
    @raise RefClockPluginError: on an invalid plugin or a conflict.
    """
    if package is None:
        import ntpservice.refclocks as package  # type: ignore[no-redef]
    plugins = sorted(
        getPlugins(IRefClockFactory, package),  # type: ignore[arg-type]
        key=lambda p: (p.driverType, p.name),
    )
    checkRefClockPlugins(plugins)
    return plugins


def checkRefClockPlugins(plugins: Sequence[object]) -> None:
    """
    Verify each plugin and refuse two with one name or one driver type.

    @raise RefClockPluginError: naming the plugins involved.
    """
    names: dict[str, object] = {}
    types: dict[int, str] = {}
    for plugin in plugins:
        try:
            verifyObject(IRefClockFactory, plugin)
        except Exception as e:
            raise RefClockPluginError(
                f"{plugin!r} is not a valid reference clock plugin: {e}"
            )
        name: str = plugin.name  # type: ignore[attr-defined]
        driverType: int = plugin.driverType  # type: ignore[attr-defined]
        if name in names:
            raise RefClockPluginError(f"two reference clock plugins are named {name!r}")
        names[name] = plugin
        if not isinstance(driverType, int) or not 1 <= driverType <= 255:
            raise RefClockPluginError(
                f"reference clock plugin {name!r}: driver type {driverType!r} "
                "is not 1-255"
            )
        if driverType in types:
            raise RefClockPluginError(
                f"driver type {driverType} is claimed by both the "
                f"{types[driverType]!r} and the {name!r} reference clock plugins"
            )
        types[driverType] = name
        refid = plugin.refid  # type: ignore[attr-defined]
        stratum = plugin.stratum  # type: ignore[attr-defined]
        if not isinstance(refid, bytes) or not 1 <= len(refid) <= 4:
            raise RefClockPluginError(
                f"reference clock plugin {name!r}: refid must be 1-4 bytes"
            )
        if not isinstance(stratum, int) or not 0 <= stratum <= 15:
            raise RefClockPluginError(
                f"reference clock plugin {name!r}: stratum must be 0-15"
            )


def byDriverType(plugins: Iterable[Any]) -> dict[int, Any]:
    """
    The plugins by driver type (the C{t} of C{127.127.t.u}).
    """
    return {p.driverType: p for p in plugins}
