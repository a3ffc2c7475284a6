# -*- test-case-name: tests.net.test_multiplexer -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Packet counters: what came in, what went out, and why anything was dropped.

Mode 6 (C{ntpq -c sysstats}-like views) and the metrics endpoint read them;
tests assert on them. Names are short lowercase words, stable over releases.
"""

from __future__ import annotations

from collections import Counter

RECEIVED = "received"
SENT = "sent"
MALFORMED = "malformed"
"""Dropped: the datagram did not decode (L{ntpservice.core.packet.PacketError})."""
NO_HANDLER = "nohandler"
"""Dropped: nothing is registered for the packet's mode."""
BAD_VERSION = "badversion"
"""Dropped: a version we do not answer."""
NOT_UNICAST = "notunicast"
"""Dropped: a request sent to a broadcast or multicast address."""
INTERFACE_DROP = "interfacedrop"
"""Dropped: arrived on an address or interface that C{interface drop} names."""


class PacketCounters:
    """
    Named monotonic counters.

    @ivar counts: the counts by name; a name never seen reads as 0.
    """

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def count(self, name: str, n: int = 1) -> None:
        """
        Add C{n} to the counter C{name}.
        """
        self.counts[name] += n

    def __getitem__(self, name: str) -> int:
        return self.counts[name]

    def snapshot(self) -> dict[str, int]:
        """
        A copy of every counter, for reporting.
        """
        return dict(self.counts)
