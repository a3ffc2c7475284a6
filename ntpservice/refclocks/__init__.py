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
from typing import Any, Iterable, Mapping, Sequence

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


class RefClockConfigError(ValueError):
    """
    A reference clock line (C{server 127.127.t.u}, C{fudge}) that cannot be
    honoured; the message starts with its C{FILE:LINE}.
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
    @ivar mode: the C{mode} option of the C{server} line, or C{None}.
    @ivar source: the configuration line, C{FILE:LINE}, for messages.
    """

    unit: int = 0
    stratum: int | None = None
    refid: bytes | None = None
    time1: float | None = None
    time2: float | None = None
    flags: tuple[tuple[int, bool], ...] = ()
    mode: int | None = None
    source: str = ""

    def flag(self, number: int) -> bool:
        """Whether C{flagN} was set (the last setting wins)."""
        value = False
        for n, on in self.flags:
            if n == number:
                value = on
        return value


@dataclass(frozen=True, slots=True)
class RefClockLine:
    """
    One configured reference clock: its driver, its options and the
    association options of its line.

    @ivar driverType: the C{t} of C{127.127.t.u}.
    @ivar factory: its driver (an L{IRefClockFactory}), or C{None} when no
        installed driver has that type.
    @ivar options: the L{RefClockOptions} it is built with.
    @ivar minPollLog2: its poll interval, log2 s (C{minpoll}).
    @ivar maxPollLog2: C{maxpoll}.
    @ivar prefer: C{prefer}.
    @ivar noselect: C{noselect}.
    @ivar truechimer: C{true}.
    """

    driverType: int
    factory: Any
    options: RefClockOptions
    minPollLog2: int = 6
    maxPollLog2: int = 10
    prefer: bool = False
    noselect: bool = False
    truechimer: bool = False

    @property
    def address(self) -> str:
        """The pseudo-address C{127.127.t.u}."""
        return f"127.127.{self.driverType}.{self.options.unit}"

    @property
    def stratum(self) -> int:
        """The driver stratum: the C{fudge}'s, else the driver's."""
        if self.options.stratum is not None:
            return self.options.stratum
        return int(self.factory.stratum) if self.factory is not None else 0

    @property
    def refid(self) -> bytes:
        """The reference ID: the C{fudge}'s, else the driver's (4 bytes)."""
        if self.options.refid is not None:
            return self.options.refid
        refid = bytes(self.factory.refid) if self.factory is not None else b""
        return refid.ljust(4, b"\0")

    @property
    def name(self) -> str:
        """How ntpq names it: C{LOCAL(0)}, C{SHM(2)}, ..."""
        driver = self.factory.name if self.factory is not None else str(self.driverType)
        return f"{driver.upper()}({self.options.unit})"


_FUDGE_FLAGS = {"flag1": 1, "flag2": 2, "flag3": 3, "flag4": 4}


def _fudgeOptions(
    arguments: Sequence[str], source: str, options: RefClockOptions
) -> RefClockOptions:
    """
    C{options} with the words of one C{fudge} line applied.

    @raise RefClockConfigError: on a bad value or an unknown option.
    """
    from dataclasses import replace

    args = list(arguments)
    while args:
        word = args.pop(0)
        if not args:
            raise RefClockConfigError(f"{source}: fudge {word} needs a value")
        value = args.pop(0)
        if word == "stratum":
            try:
                stratum = int(value)
            except ValueError:
                stratum = -1
            if not 0 <= stratum <= 15:
                raise RefClockConfigError(
                    f"{source}: fudge stratum must be between 0 and 15, not {value}"
                )
            options = replace(options, stratum=stratum)
        elif word == "refid":
            if not 1 <= len(value) <= 4 or not value.isascii():
                raise RefClockConfigError(
                    f"{source}: fudge refid must be 1 to 4 ASCII characters"
                )
            options = replace(options, refid=value.encode("ascii").ljust(4, b"\0"))
        elif word in ("time1", "time2"):
            try:
                seconds = float(value)
            except ValueError:
                seconds = float("nan")
            if not abs(seconds) < 1e6:
                raise RefClockConfigError(
                    f"{source}: fudge {word} must be a number of seconds, not {value}"
                )
            options = replace(options, **{word: seconds})
        elif word in _FUDGE_FLAGS:
            if value not in ("0", "1"):
                raise RefClockConfigError(
                    f"{source}: fudge {word} must be 0 or 1, not {value}"
                )
            options = replace(
                options, flags=options.flags + ((_FUDGE_FLAGS[word], value == "1"),)
            )
        else:
            raise RefClockConfigError(
                f"{source}: fudge {word} is not a reference clock option"
            )
    return options


def refClockLines(
    configuration: Any, factories: Mapping[int, Any] | None = None
) -> list[RefClockLine]:
    """
    The reference clocks a configuration asks for: each C{server
    127.127.t.u} line with the C{fudge} lines that name it, in the order
    of the configuration.

    @param factories: the installed drivers by driver type (C{None}: none
        is looked up; each line's C{factory} is then C{None}).
    @raise RefClockConfigError: C{FILE:LINE: message} on a C{fudge} option
        that cannot be honoured.
    """
    factories = factories or {}
    fudges: dict[str, list[Any]] = {}
    for line in getattr(configuration, "refclocks", ()):
        if line.directive == "fudge":
            fudges.setdefault(line.target, []).append(line)
    out = []
    for directive in configuration.associations:
        driverType = getattr(directive, "refclockType", None)
        if driverType is None:
            continue
        unit = directive.refclockUnit
        options = RefClockOptions(
            unit=unit, mode=directive.mode, source=str(directive.source)
        )
        for fudge in fudges.get(directive.address, ()):
            options = _fudgeOptions(fudge.arguments, str(fudge.source), options)
        out.append(
            RefClockLine(
                driverType,
                factories.get(driverType),
                options,
                minPollLog2=directive.minPollLog2,
                maxPollLog2=directive.maxPollLog2,
                prefer=directive.prefer,
                noselect=directive.noselect,
                truechimer=directive.truechimer,
            )
        )
    return out


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
        burst = plugin.burst  # type: ignore[attr-defined]
        if (
            not isinstance(burst, tuple)
            or len(burst) != 2
            or not isinstance(burst[0], int)
            or not 0 <= burst[0] <= 16
            or not isinstance(burst[1], (int, float))
            or (burst[0] and not 0.1 <= burst[1] <= 64)
        ):
            raise RefClockPluginError(
                f"reference clock plugin {name!r}: burst must be (polls 0-16, "
                "seconds 0.1-64 apart)"
            )


def byDriverType(plugins: Iterable[Any]) -> dict[int, Any]:
    """
    The plugins by driver type (the C{t} of C{127.127.t.u}).
    """
    return {p.driverType: p for p in plugins}
