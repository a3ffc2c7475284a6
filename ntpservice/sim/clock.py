# -*- test-case-name: tests.sim.test_clock -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The simulator's true time: L{twisted.internet.task.Clock}, with the same
order of calls, at a cost that does not grow with the square of the
number of pending calls.

Twisted's C{Clock} sorts its whole list of pending calls at every
C{callLater} and after every call it runs (a call may have moved another
one with C{reset}). With hundreds of simulated daemons (a timer each per
second, one per poll, one per datagram in flight) that sorting is almost
all of a simulation's time. L{SimClock} inserts each new call in place
(after the calls due at the same time, as the stable sort does) and sorts
again only after a C{reset} or C{delay} moved a call: the calls run in
exactly the order C{Clock} runs them.
"""

from __future__ import annotations

import bisect
from typing import Any, Callable

from twisted.internet.base import DelayedCall
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import Clock


def _timeOf(call: DelayedCall) -> float:
    return call.getTime()


class _MovableCall(DelayedCall):
    """
    A L{DelayedCall} that tells its clock whenever C{reset} or C{delay}
    moves it (L{DelayedCall} calls its resetter only when a call moves
    earlier).
    """

    clock: "SimClock"

    def reset(self, secondsFromNow: float) -> None:
        super().reset(secondsFromNow)
        self.clock._moved = True

    def delay(self, secondsLater: float) -> None:
        super().delay(secondsLater)
        self.clock._moved = True


class SimClock(Clock):
    """
    A L{Clock} whose pending calls stay sorted as they are added.
    """

    def __init__(self) -> None:
        super().__init__()
        self._moved = False

    def _callMoved(self, call: DelayedCall) -> None:
        # A reset() or delay(): the list must be sorted again.
        self._moved = True

    def _sortCalls(self) -> None:
        if self._moved:
            self._moved = False
            super()._sortCalls()

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: Any
    ) -> IDelayedCall:
        """
        See L{twisted.internet.interfaces.IReactorTime.callLater}.
        """
        self._sortCalls()
        call = _MovableCall(
            self.seconds() + delay,
            callable,
            args,
            kw,
            self.calls.remove,
            self._callMoved,
            self.seconds,
        )
        call.clock = self
        bisect.insort_right(self.calls, call, key=_timeOf)
        return call

    def nextDue(self) -> float:
        """
        When the first pending call is due (there must be one).
        """
        self._sortCalls()
        return self.calls[0].getTime()
