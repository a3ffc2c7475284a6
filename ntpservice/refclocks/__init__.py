# -*- test-case-name: tests.refclocks.test_plugins -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Reference clock drivers: plugins providing
L{IRefClockFactory <ntpservice.interfaces.IRefClockFactory>}.

The built-in drivers live in this package; L{loadRefClockPlugins} finds them
with L{twisted.plugin.getPlugins}, checks each with C{verifyObject}, and
refuses two drivers with one name or one driver type (as the mode plugins
are checked in L{ntpservice.plugins}).

Third-party drivers put their plugin module in the C{twisted/plugins/}
directory of their own package (Twisted's usual place, see
C{docs/refclocks.md}), or in a C{ntpservice/refclocks/} directory without
C{__init__.py}, or the caller passes their plugin package to
L{loadRefClockPlugins}.

L{refClockLines} reads what the configuration asks for, as ntpd writes it
(C{server 127.127.t.u} with C{fudge}) and as NTPsec does (C{refclock NAME
unit N ...}), and refuses an unknown driver or option with C{FILE:LINE}.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    @ivar mode: the C{mode} option (of the C{server} or C{refclock}
        line), or C{None}.
    @ivar path: NTPsec's C{path}: the device (or socket) to read instead
        of the driver's default, or C{None}.
    @ivar ppspath: NTPsec's C{ppspath}: the PPS device, or C{None}.
    @ivar baud: NTPsec's C{baud}: the serial speed, or C{None}.
    @ivar source: the configuration line, C{FILE:LINE}, for messages.
    """

    unit: int = 0
    stratum: int | None = None
    refid: bytes | None = None
    time1: float | None = None
    time2: float | None = None
    flags: tuple[tuple[int, bool], ...] = ()
    mode: int | None = None
    path: str | None = None
    ppspath: str | None = None
    baud: int | None = None
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


_REFCLOCK_FLAGS = {"prefer", "noselect", "true"}
"""The options of NTPsec's C{refclock} line that take no value."""

_REFCLOCK_VALUES = {
    "unit", "refid", "stratum", "time1", "time2", "flag1", "flag2", "flag3",
    "flag4", "minpoll", "maxpoll", "mode", "path", "ppspath", "baud",
}
"""The options of NTPsec's C{refclock} line that take a value."""


def _integer(word: str, value: str, low: int, high: int, source: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise RefClockConfigError(
            f"{source}: {word} must be between {low} and {high}, not {value}"
        )
    return number


def _refclockLine(line: Any, byName: Mapping[str, Any]) -> RefClockLine:
    """
    NTPsec's C{refclock NAME [unit N] [option ...]}.

    @raise RefClockConfigError: on an unknown driver or option, or a bad
        value.
    """
    source = str(line.source)
    factory = byName.get(line.target.lower())
    if factory is None:
        raise RefClockConfigError(
            f"{source}: refclock {line.target}: no such reference clock driver "
            f"(installed: {', '.join(sorted(byName)) or 'none'})"
        )
    options = RefClockOptions(source=source)
    fudge: list[str] = []
    flags: set[str] = set()
    minPoll, maxPoll = 6, 10
    args = list(line.arguments)
    while args:
        word = args.pop(0)
        if word in _REFCLOCK_FLAGS:
            flags.add(word)
            continue
        if word not in _REFCLOCK_VALUES:
            raise RefClockConfigError(
                f"{source}: refclock {line.target}: unknown option {word!r}"
            )
        if not args:
            raise RefClockConfigError(f"{source}: refclock {word} needs a value")
        value = args.pop(0)
        if word == "unit":
            options = replace(options, unit=_integer(word, value, 0, 255, source))
        elif word == "minpoll":
            minPoll = _integer(word, value, 1, 17, source)
        elif word == "maxpoll":
            maxPoll = _integer(word, value, 1, 17, source)
        elif word == "mode":
            options = replace(options, mode=_integer(word, value, 0, 2**31 - 1, source))
        elif word == "baud":
            options = replace(options, baud=_integer(word, value, 50, 4_000_000, source))
        elif word in ("path", "ppspath"):
            options = replace(options, **{word: value})
        else:
            fudge += [word, value]
    if minPoll > maxPoll:
        if "maxpoll" in line.arguments:
            raise RefClockConfigError(f"{source}: minpoll must not exceed maxpoll")
        maxPoll = minPoll
    options = _fudgeOptions(fudge, source, options)
    return RefClockLine(
        int(factory.driverType),
        factory,
        options,
        minPollLog2=minPoll,
        maxPollLog2=maxPoll,
        prefer="prefer" in flags,
        noselect="noselect" in flags,
        truechimer="true" in flags,
    )


def refClockLines(
    configuration: Any, factories: Mapping[int, Any] | None = None
) -> list[RefClockLine]:
    """
    The reference clocks a configuration asks for, in the order of the
    configuration: each C{server 127.127.t.u} line (ntpd) with the C{fudge}
    lines that name it, and each C{refclock} line (NTPsec).

    @param factories: the installed drivers by driver type (C{None}: every
        installed one, L{loadRefClockPlugins}).
    @raise RefClockConfigError: C{FILE:LINE: message} for a driver that is
        not installed, an unknown option, a bad value, or two lines for
        one clock.
    """
    if factories is None:
        factories = byDriverType(loadRefClockPlugins())
    byName = {str(f.name).lower(): f for f in factories.values()}
    fudges: dict[str, list[Any]] = {}
    for line in getattr(configuration, "refclocks", ()):
        if line.directive == "fudge":
            fudges.setdefault(line.target, []).append(line)
    found: list[tuple[Any, RefClockLine]] = []
    for directive in configuration.associations:
        driverType = getattr(directive, "refclockType", None)
        if driverType is None:
            continue
        factory = factories.get(driverType)
        if factory is None:
            raise RefClockConfigError(
                f"{directive.source}: server {directive.address}: no reference "
                f"clock driver of type {driverType} is installed (installed: "
                + (", ".join(f"{t} {factories[t].name}" for t in sorted(factories)) or "none")
                + ")"
            )
        options = RefClockOptions(
            unit=directive.refclockUnit, mode=directive.mode, source=str(directive.source)
        )
        for fudge in fudges.get(directive.address, ()):
            options = _fudgeOptions(fudge.arguments, str(fudge.source), options)
        found.append(
            (
                directive.source,
                RefClockLine(
                    driverType,
                    factory,
                    options,
                    minPollLog2=directive.minPollLog2,
                    maxPollLog2=directive.maxPollLog2,
                    prefer=directive.prefer,
                    noselect=directive.noselect,
                    truechimer=directive.truechimer,
                ),
            )
        )
    for line in getattr(configuration, "refclocks", ()):
        if line.directive == "refclock":
            refclock = _refclockLine(line, byName)
            for fudge in fudges.get(refclock.address, ()):
                refclock = replace(
                    refclock,
                    options=_fudgeOptions(fudge.arguments, str(fudge.source), refclock.options),
                )
            found.append((line.source, refclock))
    found.sort(key=lambda pair: (str(getattr(pair[0], "path", "")), getattr(pair[0], "line", 0)))
    seen: dict[str, Any] = {}
    for source, refclock in found:
        for name in getattr(refclock.factory, "requiredOptions", ()):
            if getattr(refclock.options, name, None) is None:
                raise RefClockConfigError(
                    f"{source}: the {refclock.factory.name} driver needs the "
                    f"{name} option (refclock {refclock.factory.name} ... {name} ...)"
                )
        check = getattr(refclock.factory, "checkOptions", None)
        if check is not None:
            try:
                check(refclock.options)
            except ValueError as e:
                raise RefClockConfigError(f"{source}: {e}")
        if refclock.address in seen:
            raise RefClockConfigError(
                f"{source}: reference clock {refclock.address} is configured "
                f"already ({seen[refclock.address]})"
            )
        seen[refclock.address] = source
    return [refclock for _, refclock in found]


def loadRefClockPlugins(package: object | None = None) -> list[Any]:
    """
    Every L{IRefClockFactory} plugin, verified, in driver type order.

    @param package: the package to search; C{None}: L{ntpservice.refclocks}
        (with the C{ntpservice/refclocks/} directories of other packages)
        and C{twisted.plugins} (the C{twisted/plugins/} directories of every
        installed package).
    @raise RefClockPluginError: on an invalid plugin or a conflict.
    """
    if package is None:
        import twisted.plugins

        import ntpservice.refclocks

        found: list[Any] = []
        for searched in (ntpservice.refclocks, twisted.plugins):
            for plugin in getPlugins(IRefClockFactory, searched):  # type: ignore[arg-type]
                if not any(plugin is p for p in found):
                    found.append(plugin)
    else:
        found = list(getPlugins(IRefClockFactory, package))  # type: ignore[arg-type]
    plugins = sorted(found, key=lambda p: (p.driverType, p.name))
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
