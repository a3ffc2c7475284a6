# -*- test-case-name: tests.core.test_server -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The system variables: what this host tells its clients about its own time.

@see: RFC 5905 section 11 (System Process), Figure 26 and Appendix A.1.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from ntpservice.core.packet import LEAP_NOTINSYNC, MAX_STRATUM
from ntpservice.core.timestamps import ZERO, NTPTimestamp

PHI = 15e-6
"""
Frequency tolerance (s/s): the rate at which dispersion grows with time
since the last update. @see: RFC 5905 section 7.2, Figure 6 (PHI).
"""

INIT_REFID = b"INIT"
"""
The reference ID served before the first synchronization, as ntpd does: a
client reading stratum 0 with it sees the kiss code INIT (RFC 5905 section
7.4: the association has not yet synchronized for the first time).
"""


@dataclass(frozen=True, slots=True)
class SystemVariables:
    """
    The RFC 5905 system variables that the server side reports (s.*).

    Immutable: the system process replaces the whole object when it updates,
    so a reply is always built from one consistent snapshot.

    @ivar leap: the leap indicator (0-3); 3 while unsynchronized.
    @ivar stratum: 1-16; 16 (MAXSTRAT) while unsynchronized, sent as 0.
    @ivar precision: log2 seconds of the system clock's precision.
    @ivar rootDelay: seconds, total round-trip delay to the primary source.
    @ivar rootDispersion: seconds, total dispersion to the primary source at
        the time of the last update (L{lastUpdateNs}).
    @ivar refid: 4 bytes: the reference ID (IPv4 address, IPv6 hash, or
        ASCII for stratum 1 and kiss codes).
    @ivar reftime: when the system clock was last set or corrected.
    @ivar lastUpdateNs: local time (ns since the Unix epoch) of the last
        update, from which dispersion grows at L{PHI}; C{None} while
        unsynchronized.
    @ivar poll: log2 seconds: the system poll exponent.
    @ivar smearNs: nanoseconds the server adds to the timestamps it serves
        (C{leapsmearinterval}: a leap second smeared out over the interval
        before it), 0 otherwise.
    """

    leap: int = LEAP_NOTINSYNC
    stratum: int = MAX_STRATUM
    precision: int = -20
    rootDelay: float = 0.0
    rootDispersion: float = 0.0
    refid: bytes = INIT_REFID
    reftime: NTPTimestamp = ZERO
    lastUpdateNs: int | None = None
    poll: int = 6
    smearNs: int = 0

    @property
    def synchronized(self) -> bool:
        """
        Whether this host has a usable time: leap below 3 and stratum below
        MAXSTRAT.
        """
        return self.leap != LEAP_NOTINSYNC and self.stratum < MAX_STRATUM

    def packetStratum(self) -> int:
        """
        The stratum as it goes on the wire: MAXSTRAT and above map to 0.

        @see: RFC 5905 section 7.3 (stratum 16 is sent as 0).
        """
        return 0 if self.stratum >= MAX_STRATUM else self.stratum

    def rootDispersionAt(self, nowNs: int) -> float:
        """
        The root dispersion at C{nowNs}, grown at L{PHI} since the last
        update.

        @param nowNs: the local time, ns since the Unix epoch.
        @return: seconds.
        @see: RFC 5905 section 5 and Appendix A.5.3 (the dispersion field
            of an outgoing header must be updated).
        """
        if self.lastUpdateNs is None:
            return self.rootDispersion
        elapsed = max(0, nowNs - self.lastUpdateNs) / 1e9
        return self.rootDispersion + PHI * elapsed
