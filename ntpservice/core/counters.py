# -*- test-case-name: tests.net.test_multiplexer -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Packet counters: what came in, what went out, and why anything was dropped.

Mode 6 (C{ntpq -c sysstats}, C{iostats}), the C{sysstats} file and the
metrics endpoint read them; tests assert on them. Names are short
lowercase words, stable over releases.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

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

# Packets by version (ntpq's sysstats, the sysstats file), counted for every
# NTP packet (modes 0-5) on arrival, whatever becomes of it afterwards.
VERSION_CURRENT = "version.current"
"""NTPv4 packets (ntpd's "current version")."""
VERSION_OLD = "version.old"
"""NTPv1, v2 and v3 packets (ntpd's "older version")."""
VERSION1 = "version.1"
"""NTPv1 packets of 48 octets (ntpd's "NTPv1 total"), also in L{VERSION_OLD}."""
VERSION1_CLIENT = "version.1.client"
"""NTPv1 packets with mode 3 (client)."""
VERSION1_ZERO = "version.1.zero"
"""NTPv1 packets with mode 0 (NTPv1 has no mode field: RFC 1059 clients)."""
VERSION1_SYMMETRIC = "version.1.symmetric"
"""NTPv1 packets with mode 1 (symmetric active: old Windows clients)."""

class PacketCounters:
    """
    Named monotonic counters, and the start of the current statistics
    interval (ntpd's "time since reset": the hourly C{sysstats} line starts
    a new one; ntpq's C{sysstats} shows both the interval and the totals).

    @ivar counts: the counts by name; a name never seen reads as 0.
    @ivar resetAt: when the current interval began (L{reset}'s C{now}, ns
        of the daemon's clock), or C{None} when it began with the counters.
    """

    __slots__ = ("counts", "resetAt", "_baseline", "_sources")

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.resetAt: int | None = None
        self._baseline: dict[str, int] = {}
        self._sources: list[Callable[[], dict[str, int]]] = []

    def addSource(self, source: Callable[[], dict[str, int]]) -> None:
        """
        Fold C{source}'s counts in before every read: C{source()} returns
        the increase of its counters since it was last called (the compiled
        server fast path counts in its own threads).
        """
        self._sources.append(source)

    def removeSource(self, source: Callable[[], dict[str, int]]) -> None:
        """
        Fold C{source} in one last time, then stop asking it.
        """
        self._fold()
        self._sources.remove(source)

    def _fold(self) -> None:
        for source in self._sources:
            for name, n in source().items():
                self.counts[name] += n

    def count(self, name: str, n: int = 1) -> None:
        """
        Add C{n} to the counter C{name}.
        """
        self.counts[name] += n

    def __getitem__(self, name: str) -> int:
        if self._sources:
            self._fold()
        return self.counts[name]

    def snapshot(self) -> dict[str, int]:
        """
        A copy of every counter, for reporting.
        """
        if self._sources:
            self._fold()
        return dict(self.counts)

    def sinceReset(self) -> dict[str, int]:
        """
        The increase of every counter since the last L{reset} (since the
        start without one).
        """
        if self._sources:
            self._fold()
        baseline = self._baseline
        return {name: n - baseline.get(name, 0) for name, n in self.counts.items()}

    def reset(self, now: int) -> dict[str, int]:
        """
        End the current statistics interval and start the next one. The
        counts themselves go on.

        @param now: the time, ns of the daemon's clock (kept as
            L{resetAt}).
        @return: the increase of every counter over the interval that
            ended (L{sinceReset}).
        """
        interval = self.sinceReset()
        self._baseline = dict(self.counts)
        self.resetAt = now
        return interval


_VERSION1_MODES = {0: VERSION1_ZERO, 1: VERSION1_SYMMETRIC, 3: VERSION1_CLIENT}
_NTPV1_LENGTH = 48


def countVersion(counters: PacketCounters, version: int, mode: int, length: int) -> None:
    """
    Count an NTP packet (modes 0-5) by its version, as ntpd does: NTPv4 as
    the current version, NTPv1-3 as older versions, and 48-octet NTPv1
    packets also by mode. Versions 0 and 5-7 are counted by neither.

    @param version: the packet's version field.
    @param mode: its mode field.
    @param length: the datagram's length in octets.
    """
    if version == 4:
        counters.count(VERSION_CURRENT)
    elif 1 <= version <= 3:
        counters.count(VERSION_OLD)
        if version == 1 and length == _NTPV1_LENGTH:
            counters.count(VERSION1)
            name = _VERSION1_MODES.get(mode)
            if name is not None:
                counters.count(name)
