# -*- test-case-name: tests.refclocks.test_plugins -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A toy reference clock driver, written as a third party would: it uses only
ntpservice's public interfaces. Each poll delivers a sample of the offset it
was told to report (as a GPS receiver on a serial line would).
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from twisted.plugin import IPlugin

from ntpservice.interfaces import IRefClock, IRefClockFactory, IRefClockSink

TOY_OFFSET = 0.0005
"""Seconds: the offset the toy clock reports."""


@implementer(IRefClock)
class ToyClock:
    def __init__(self, options: Any, sink: IRefClockSink) -> None:
        self.options = options
        self.sink = sink
        self.started = self.stopped = False
        self.polls = 0

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def poll(self) -> None:
        self.polls += 1
        if self.started and not self.stopped:
            self.sink.sample(TOY_OFFSET, 1e-6, 0, self.sink.now())


@implementer(IPlugin, IRefClockFactory)
class ToyClockFactory:
    name = "toy"
    driverType = 99
    description = "a toy reference clock from outside ntpservice"
    refid = b"TOY\0"
    stratum = 0
    precision = -20
    lastResort = False
    burst = (0, 0.0)

    def build(self, options: Any, sink: IRefClockSink, reactor: Any) -> ToyClock:
        return ToyClock(options, sink)


toyClock = ToyClockFactory()
