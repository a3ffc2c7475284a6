# -*- test-case-name: tests.test_tap,tests.test_logging -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Logging for ntpservice: a L{twisted.logger.Logger} that honours the
daemon's C{--loglevel} and the message classes of C{logconfig}.

twistd owns the log observer (a file, or stdout with C{-n}); the level is a
property of ntpservice's own messages, so the filter sits in the logger
ntpservice's modules use rather than in the observer.

C{logconfig} (ntpd's message classes C{sys}, C{peer}, C{clock}, C{sync}
and types C{info}, C{events}, C{status}, C{statistics}) filters the
informational messages that belong to a class: a message names its class
with the keywords C{ntpClass} and C{ntpType}, or its format string is in
the table given to L{setLogMask} (see L{ntpservice.logging}). Warnings,
errors and messages without a class are always logged, as ntpd logs its
unconditional messages.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger as _TwistedLogger, LogLevel

_minimum = [LogLevel.info]

_mask: list[frozenset[tuple[str, str]] | None] = [None]
"""The C{(class, type)} pairs logged, or C{None}: every class."""

_formatClasses: dict[str, tuple[str, str]] = {}
"""Message classes of format strings that do not name their own."""

LEVEL_NAMES = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "warning": LogLevel.warn,
    "error": LogLevel.error,
    "critical": LogLevel.critical,
}


def setLevel(level: LogLevel) -> None:
    """
    Emit only events at C{level} or above from now on.
    """
    _minimum[0] = level


def getLevel() -> LogLevel:
    """
    The current minimum level.
    """
    return _minimum[0]


def setLogMask(
    mask: frozenset[tuple[str, str]] | None,
    formatClasses: dict[str, tuple[str, str]] | None = None,
) -> None:
    """
    Log only the classified informational messages whose C{(class, type)}
    is in C{mask} from now on.

    @param mask: C{(class, type)} pairs such as C{("sync", "status")}, or
        C{None} to log every class.
    @param formatClasses: the C{(class, type)} of messages that do not
        carry C{ntpClass}/C{ntpType}, by format string (replaces the
        previous table; C{None} keeps it).
    """
    _mask[0] = mask
    if formatClasses is not None:
        _formatClasses.clear()
        _formatClasses.update(formatClasses)


def getLogMask() -> frozenset[tuple[str, str]] | None:
    """
    The C{(class, type)} pairs logged, or C{None} for all.
    """
    return _mask[0]


def messageClass(format: str | None, kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """
    The C{(class, type)} of a message: its C{ntpClass}/C{ntpType}
    keywords, else the table entry of its format string, else C{None}.
    """
    cls = kwargs.get("ntpClass")
    if cls is not None:
        return (str(cls), str(kwargs.get("ntpType", "events")))
    if format is None:
        return None
    return _formatClasses.get(format)


class Logger(_TwistedLogger):
    """
    A L{twisted.logger.Logger} that drops events below the level set with
    L{setLevel}, and informational events of a class that L{setLogMask}
    leaves out.
    """

    def emit(self, level: LogLevel, format: str | None = None, **kwargs: Any) -> None:
        order = _LEVEL_ORDER[level]
        if order < _LEVEL_ORDER[_minimum[0]]:
            return
        mask = _mask[0]
        if mask is not None and order < _LEVEL_ORDER[LogLevel.warn]:
            cls = messageClass(format, kwargs)
            if cls is not None and cls not in mask:
                return
        super().emit(level, format, **kwargs)


_LEVEL_ORDER = {level: i for i, level in enumerate(LogLevel.iterconstants())}
