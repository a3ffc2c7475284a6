# -*- test-case-name: tests.core.test_discipline -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Actions: the decisions the pure core hands to the Twisted shell.

The core never touches a clock or a socket; its algorithms return immutable
action objects and the shell carries them out. This module holds the action
types that more than one part of the core returns, so the clock discipline
(L{ntpservice.core.discipline}) and, later, the association and system
processes share one hierarchy::

    Action
     +-- ClockAction            carried out on an IClockDriver
          +-- Step              driver.step(offset)
          +-- Slew              driver.slew(offset)
          +-- SetFrequency      driver.setFrequency(freqPPM)
          +-- SetLeap           driver.setLeap(leap)

Every action is a frozen dataclass with slots: hashable, comparable by value
(tests assert C{result.actions == (Step(0.5),)}) and cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "checkFinite",
    "Action",
    "ClockAction",
    "SetFrequency",
    "SetLeap",
    "Slew",
    "Step",
]


@dataclass(frozen=True, slots=True)
class Action:
    """
    Something the core decided and the shell must do. Abstract: only its
    subclasses are returned.
    """


@dataclass(frozen=True, slots=True)
class ClockAction(Action):
    """
    An action on the system clock, carried out on the
    L{ntpservice.interfaces.IClockDriver} method of the same name.
    """


@dataclass(frozen=True, slots=True)
class Step(ClockAction):
    """
    Set the clock at once: C{IClockDriver.step(offset)}.

    @ivar offset: seconds to add to the clock; positive moves it forward
        (the clock was behind).
    """

    offset: float


@dataclass(frozen=True, slots=True)
class Slew(ClockAction):
    """
    Amortize a correction gradually: C{IClockDriver.slew(offset)}. Like
    C{adjtime(3)}, a slew replaces whatever remains of the previous one.

    @ivar offset: seconds to add to the clock over time; positive moves it
        forward.
    """

    offset: float


@dataclass(frozen=True, slots=True)
class SetFrequency(ClockAction):
    """
    Set the oscillator's frequency correction:
    C{IClockDriver.setFrequency(freqPPM)}.

    @ivar freqPPM: parts per million added to the clock rate; positive
        makes the clock run faster.
    """

    freqPPM: float


@dataclass(frozen=True, slots=True)
class SetLeap(ClockAction):
    """
    Arm or disarm a leap second at the end of the current UTC day:
    C{IClockDriver.setLeap(leap)}.

    @ivar leap: the RFC 5905 leap indicator: C{0} none, C{1} insert,
        C{2} delete (C{3}, unsynchronized, is never sent: it disarms like
        C{0}).
    """

    leap: int


def checkFinite(name: str, value: float) -> float:
    """
    Refuse a quantity that is not a finite number: what the discipline
    computes and what a clock driver is asked to apply alike.

    @param name: the parameter's name, for the message.
    @param value: the quantity.
    @return: C{value} as a C{float}.
    @raise ValueError: if C{value} is NaN or infinite.
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return value
