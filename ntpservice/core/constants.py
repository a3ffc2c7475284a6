# -*- test-case-name: tests.core.test_filter,tests.core.test_selection -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Constants of the RFC 5905 mitigation algorithms (clock filter, selection,
cluster and combine), shared by L{ntpservice.core.filter} and
L{ntpservice.core.selection}.

All durations are float seconds.

@see: RFC 5905 section 7.2 (Figure 6, global parameters) and Appendix
    A.1.1 (the C{#define}s of the skeleton).
"""

from __future__ import annotations

from ntpservice.core.packet import MAX_STRATUM
from ntpservice.core.system import PHI

__all__ = [
    "PHI",
    "MAXDISP",
    "MINDISP",
    "MAXDIST",
    "MINDIST",
    "NSTAGE",
    "NMAX",
    "SGATE",
    "MAXSTRAT",
    "ALLAN_INTERCEPT",
    "MINCLOCK",
    "MINSANE",
    "MAXCLOCK",
]

MAXDISP = 16.0
"""
Maximum dispersion, seconds: the dispersion of an empty (dummy) filter
stage, and the ceiling of every dispersion.
"""

MINDISP = 0.005
"""
Minimum dispersion increment, seconds, added to the root dispersion at each
system update so that it grows monotonically along a chain of servers.
"""

MAXDIST = 1.5
"""
Default distance threshold (C{tos maxdist}), seconds: a source whose root
distance exceeds it is unfit for synchronization.
"""

MINDIST = 0.001
"""
Default minimum distance (C{tos mindist}), seconds: the floor of the
delay term of the root distance.
"""

NSTAGE = 8
"""Number of stages of the clock filter shift register."""

NMAX = 50
"""Maximum number of associations considered by the system process."""

SGATE = 3.0
"""
Popcorn spike gate: a new offset further than C{SGATE} times the peer
jitter from the previous one, arriving within two poll intervals, is a
spike and is discarded.
"""

MAXSTRAT = MAX_STRATUM
"""Maximum stratum (16): a source at this stratum is unsynchronized."""

ALLAN_INTERCEPT = 2048.0
"""
Default Allan intercept, seconds (ntpd's C{allan} of 2**11 s). A filter
stage older than this is ranked by delay plus dispersion rather than by
delay alone, since its offset is no longer well correlated with the
present.
"""

MINCLOCK = 3
"""Default C{tos minclock}: fewest survivors the cluster algorithm keeps."""

MINSANE = 1
"""Default C{tos minsane}: fewest truechimers needed to set the clock."""

MAXCLOCK = 10
"""Default C{tos maxclock}: most survivors the cluster algorithm keeps."""
