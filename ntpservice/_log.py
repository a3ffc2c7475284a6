# -*- test-case-name: tests.test_tap -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Logging for ntpservice: a L{twisted.logger.Logger} that honours the
daemon's C{--loglevel}.

twistd owns the log observer (a file, or stdout with C{-n}); the level is a
property of ntpservice's own messages, so the filter sits in the logger
ntpservice's modules use rather than in the observer.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger as _TwistedLogger, LogLevel

_minimum = [LogLevel.info]

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


class Logger(_TwistedLogger):
    """
    A L{twisted.logger.Logger} that drops events below the level set with
    L{setLevel}.
    """

    def emit(self, level: LogLevel, format: str | None = None, **kwargs: Any) -> None:
        if _LEVEL_ORDER[level] < _LEVEL_ORDER[_minimum[0]]:
            return
        super().emit(level, format, **kwargs)


_LEVEL_ORDER = {level: i for i, level in enumerate(LogLevel.iterconstants())}
