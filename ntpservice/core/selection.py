# -*- test-case-name: tests.core.test_selection,tests.core.test_symmetric -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The mitigation algorithms of the system process: selection (casting off
the falsetickers), cluster (discarding the outliers) and combine (the
weighted system offset and jitter), and the choice of the system peer.

Theory of operation
===================

L{select} is a pure function of the associations' peer variables (one
L{Candidate} each) and the time; the system process calls it whenever a
clock filter releases a sample, and applies the L{SelectionResult}.

 1. B{Sanity.} A candidate that is unfit (L{unfitReason}) leaves at once,
    with status C{unfit}. So does the LOCAL clock unless it is
    C{prefer}: it is set aside and used only when nothing else survives
    the selection (reason C{fallback}).

 2. B{Selection} (Marzullo's intersection as modified by Mills). Each
    candidate defines the correctness interval C{offset +/- rootdist}.
    Assuming C{f = 0, 1, ...} falsetickers while C{2f < m}, scan the
    sorted endpoints for the interval C{[low, high]} where at least
    C{m - f} intervals overlap and at most C{f} midpoints lie outside it.
    The truechimers are the candidates whose offset (midpoint) lies in
    C{[low, high]}, and those configured C{true}; the others are
    falsetickers. With no such interval there is no majority clique and
    every candidate that is not C{true} is a falseticker.

 3. B{Cluster.} The truechimers are ranked by the metric
    C{stratum * maxdist + rootdist}. While there are more than
    C{maxclock} of them, or more than C{minclock} and the largest
    selection jitter (RMS offset difference to the others) exceeds the
    smallest peer jitter, the one with the largest selection jitter is
    discarded (C{excess} beyond C{maxclock}, else C{outlier}). A C{prefer}
    or C{true} candidate is immune: when it is the worst, clustering stops.

 4. B{System peer and combine.} With fewer than C{minsane} truechimers
    there is no system peer. Otherwise the system peer is the C{prefer}
    survivor if there is one, whose offset and jitter are used as they are
    (ntpd's mitigation rules). Failing that, it is the first survivor,
    unless the previous system peer is still a survivor at the same
    stratum (RFC 5905's clock-hop avoidance); the system offset is the
    average of the survivors' offsets weighted by 1 / rootdist, and the
    system jitter is C{sqrt(psi_p ** 2 + psi_s ** 2)} where C{psi_p} is
    the system peer's jitter and C{psi_s} the weighted RMS difference of
    the survivors' offsets to the system peer's (RFC 5905 clock_combine).

Times are float seconds of the local clock since the Unix epoch; offsets,
delays, dispersions, jitters and distances are float seconds.

@see: RFC 5905 section 11.2 and Appendix A.5.5 (clock_select, root_dist,
    accept, clock_combine).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from ntpservice.core.constants import (
    MAXCLOCK,
    MAXDIST,
    MAXSTRAT,
    MINCLOCK,
    MINDIST,
    MINSANE,
    PHI,
)
from ntpservice.core.packet import LEAP_NOTINSYNC
from ntpservice.core.refid import refidFromAddress

__all__ = [
    "Candidate",
    "SelectionSettings",
    "SelectionResult",
    "rootDistance",
    "rootDistanceOf",
    "unfitReason",
    "select",
    "majorityExcludes",
    "STATUS_UNFIT",
    "STATUS_FALSETICKER",
    "STATUS_EXCESS",
    "STATUS_OUTLIER",
    "STATUS_CANDIDATE",
    "STATUS_SYNC",
    "TALLY_CODES",
    "REASON_NOSELECT",
    "REASON_UNREACHABLE",
    "REASON_UNSYNCHRONIZED",
    "REASON_STRATUM",
    "REASON_DISTANCE",
    "REASON_LOOP",
    "REASON_FALLBACK",
    "REASON_ORPHAN",
    "orphanMetric",
]

STATUS_UNFIT = "unfit"
"""Rejected before selection (see L{SelectionResult.reasons})."""
STATUS_FALSETICKER = "falseticker"
"""Outside the majority clique."""
STATUS_EXCESS = "excess"
"""A truechimer discarded by the cluster algorithm beyond C{maxclock}."""
STATUS_OUTLIER = "outlier"
"""A truechimer discarded by the cluster algorithm."""
STATUS_CANDIDATE = "candidate"
"""A survivor that is not the system peer."""
STATUS_SYNC = "sync"
"""The system peer."""

TALLY_CODES: Mapping[str, str] = MappingProxyType(
    {
        STATUS_UNFIT: " ",
        STATUS_FALSETICKER: "x",
        STATUS_EXCESS: ".",
        STATUS_OUTLIER: "-",
        STATUS_CANDIDATE: "+",
        STATUS_SYNC: "*",
    }
)
"""The ntpq C{peers} tally character of each status."""

REASON_NOSELECT = "noselect"
"""Configured C{noselect}."""
REASON_UNREACHABLE = "unreachable"
"""
None of its last five polls was answered, or none of its last three while
another source is answering (see L{Candidate.reachable} and
L{Candidate.answering}).
"""
REASON_UNSYNCHRONIZED = "unsynchronized"
"""The source's leap indicator is 3."""
REASON_STRATUM = "stratum"
"""The source's stratum is C{MAXSTRAT} (16) or more."""
REASON_DISTANCE = "distance"
"""The root distance exceeds C{maxdist}."""
REASON_LOOP = "loop"
"""The source is synchronized to this host (its refid is ours)."""
REASON_FALLBACK = "fallback"
"""The LOCAL clock, held back while other sources can be selected."""
REASON_ORPHAN = "orphan"
"""
Orphan mode: a source at the orphan stratum that is not the orphan parent
chosen, or one above the orphan stratum (it may be synchronized to the
orphan parent: selecting it could make a loop within the orphan mesh).
"""


@dataclass(frozen=True, slots=True)
class Candidate:
    """
    The peer variables of one association, as the mitigation algorithms
    see them.

    @ivar key: any hashable identifier of the association.
    @ivar offset: seconds, the peer offset (from its clock filter).
    @ivar delay: seconds, the peer delay (from its clock filter).
    @ivar dispersion: seconds, the peer dispersion as of L{time}.
    @ivar jitter: seconds, the peer jitter.
    @ivar rootDelay: seconds, the root delay of its last packet.
    @ivar rootDispersion: seconds, the root dispersion of its last packet.
    @ivar stratum: 0 (reference clock) to 16 (unsynchronized).
    @ivar leap: the leap indicator, 0-3.
    @ivar refid: the 4-byte reference ID of its last packet.
    @ivar time: seconds of the local clock at which L{dispersion} was
        computed (L{ntpservice.core.filter.ClockFilter.updateTime}); the
        dispersion grows at PHI from then.
    @ivar reachable: whether it answered any of its last five polls (the
        outstanding one included); if not, it is unfit.
    @ivar answering: whether it answered any of its last three polls; if
        not, it is unfit while another fit source is answering (so that a
        dead system peer is replaced within three poll intervals).
    @ivar prefer: configured C{prefer}.
    @ivar noselect: configured C{noselect}: never selected.
    @ivar truechimer: configured C{true}: never a falseticker.
    @ivar lastResort: whether this is a last-resort reference clock (the
        LOCAL clock driver, 127.127.1.u), selected only when nothing else
        is.
    @ivar srcAddress: the source's address, if any.
    @ivar localRefid: the reference ID of our own address as this source
        knows it (where its packets come to), or C{None}: a source whose
        reference ID it is is synchronized to us (L{REASON_LOOP}), and
        orphan mode compares it with the source's (see L{select}).
    """

    key: Hashable
    offset: float
    delay: float
    dispersion: float
    jitter: float
    rootDelay: float
    rootDispersion: float
    stratum: int
    leap: int
    refid: bytes
    time: float
    reachable: bool
    answering: bool = True
    prefer: bool = False
    noselect: bool = False
    truechimer: bool = False
    lastResort: bool = False
    srcAddress: str | None = None
    localRefid: bytes | None = None


@dataclass(frozen=True, slots=True)
class SelectionSettings:
    """
    The C{tos} parameters of the mitigation algorithms.

    @ivar minclock: the cluster algorithm keeps at least this many
        survivors.
    @ivar minsane: fewest truechimers needed for a system peer.
    @ivar maxclock: the cluster algorithm keeps at most this many
        survivors.
    @ivar maxdist: seconds, the root distance above which a source is
        unfit; also the stratum weight of the survivor metric.
    @ivar mindist: seconds, the floor of the delay term of the root
        distance.
    @ivar precision: seconds, the system precision: the floor of the
        system jitter.
    @ivar orphan: the orphan stratum (C{tos orphan}); L{MAXSTRAT}: orphan
        mode is off.
    @ivar orphanWait: seconds without a source after which this host may
        become an orphan parent (C{tos orphanwait}).
    """

    minclock: int = MINCLOCK
    minsane: int = MINSANE
    maxclock: int = MAXCLOCK
    maxdist: float = MAXDIST
    mindist: float = MINDIST
    precision: float = 2.0**-20
    orphan: int = MAXSTRAT
    orphanWait: float = 300.0


@dataclass(frozen=True, slots=True)
class SelectionResult:
    """
    The outcome of one run of the mitigation algorithms.

    @ivar systemPeer: the key of the system peer, or C{None} if the clock
        must not be disciplined.
    @ivar offset: seconds, the system offset THETA (0.0 without a system
        peer).
    @ivar jitter: seconds, the system jitter PSI, at least the precision
        (0.0 without a system peer).
    @ivar survivors: the keys of the survivors of the cluster algorithm,
        best metric first.
    @ivar truechimers: the keys of the truechimers (survivors of the
        selection algorithm), best metric first.
    @ivar status: each candidate's key to one of L{STATUS_UNFIT},
        L{STATUS_FALSETICKER}, L{STATUS_EXCESS}, L{STATUS_OUTLIER},
        L{STATUS_CANDIDATE}, L{STATUS_SYNC} (see L{TALLY_CODES}).
    @ivar reasons: the key of each C{unfit} candidate to the reason
        (C{REASON_*}).
    """

    systemPeer: Hashable | None
    offset: float
    jitter: float
    survivors: tuple[Hashable, ...]
    truechimers: tuple[Hashable, ...]
    status: Mapping[Hashable, str]
    reasons: Mapping[Hashable, str]


def rootDistance(c: Candidate, now: float, *, mindist: float = MINDIST) -> float:
    """
    The root synchronization distance lambda of a candidate: the maximum
    error of its time relative to the primary reference.

        max(mindist, rootDelay + delay) / 2 + rootDispersion + dispersion
        + PHI * (now - time) + jitter

    @param c: the candidate.
    @param now: seconds of the local clock.
    @param mindist: seconds (C{tos mindist}).
    @return: seconds.
    @see: RFC 5905 Appendix A.5.5.2 (root_dist).
    """
    return rootDistanceOf(
        c.rootDelay, c.delay, c.rootDispersion, c.dispersion, now - c.time, c.jitter,
        mindist=mindist,
    )


def rootDistanceOf(
    rootDelay: float,
    delay: float,
    rootDispersion: float,
    dispersion: float,
    age: float,
    jitter: float,
    *,
    mindist: float = MINDIST,
) -> float:
    """
    The root distance of L{rootDistance} from its terms, for callers that
    have them without a L{Candidate} (the engine's start-up majority check
    on single samples).

    @param age: seconds since C{dispersion} was computed (negative counts
        as 0).
    @return: seconds.
    """
    return (
        max(mindist, rootDelay + delay) / 2
        + rootDispersion
        + dispersion
        + PHI * max(0.0, age)
        + jitter
    )


def unfitReason(
    c: Candidate,
    now: float,
    settings: SelectionSettings,
    ourRefid: bytes | None = None,
) -> str | None:
    """
    Why a candidate is unfit to synchronize to, if it is.

    @param c: the candidate.
    @param now: seconds of the local clock.
    @param settings: the C{tos} parameters.
    @param ourRefid: the refid of this host's own address, or C{None} to
        skip the loop check.
    @return: C{None} if fit; else the first of L{REASON_NOSELECT},
        L{REASON_UNREACHABLE}, L{REASON_UNSYNCHRONIZED}, L{REASON_STRATUM},
        L{REASON_DISTANCE}, L{REASON_LOOP} that applies.
    @see: RFC 5905 Appendix A.5.5.3 (accept).
    """
    if c.noselect:
        return REASON_NOSELECT
    if not c.reachable:
        return REASON_UNREACHABLE
    if c.leap == LEAP_NOTINSYNC:
        return REASON_UNSYNCHRONIZED
    if c.stratum >= MAXSTRAT:
        return REASON_STRATUM
    if rootDistance(c, now, mindist=settings.mindist) > settings.maxdist:
        return REASON_DISTANCE
    # At stratum 0 and 1 the refid is an ASCII name, not an address.
    if c.stratum > 1 and (c.refid == ourRefid or c.refid == c.localRefid):
        return REASON_LOOP
    return None


def orphanMetric(refid: bytes | None) -> int:
    """
    Orphan mode's address metric (ntpd's): the reference ID of an address
    (the IPv4 address, or the hash of an IPv6 one) as a 32-bit number;
    the largest for an unknown address.
    """
    if refid is None:
        return 0xFFFFFFFF
    return int.from_bytes(refid, "big")


def select(
    candidates: Sequence[Candidate],
    now: float,
    settings: SelectionSettings,
    previous: Hashable | None = None,
    ourRefid: bytes | None = None,
) -> SelectionResult:
    """
    Run the selection, cluster and combine algorithms and choose the system
    peer.

    @param candidates: every association's peer variables (keys unique).
    @param now: seconds of the local clock.
    @param settings: the C{tos} parameters.
    @param previous: the key of the current system peer, if any; it is
        kept while it survives at the stratum of the best survivor.
    @param ourRefid: the refid of this host's own address, for the loop
        check (see L{unfitReason}).
    @return: the L{SelectionResult}.
    @raise ValueError: if two candidates share a key.
    @see: RFC 5905 section 11.2 and Appendix A.5.5.1 (clock_select).
    """
    status: dict[Hashable, str] = {}
    reasons: dict[Hashable, str] = {}
    distance: dict[Hashable, float] = {}
    pool: list[Candidate] = []
    lastResorts: list[Candidate] = []

    seen: set[Hashable] = set()
    for c in candidates:
        if c.key in seen:
            raise ValueError(f"duplicate candidate key {c.key!r}")
        seen.add(c.key)
        reason = unfitReason(c, now, settings, ourRefid)
        if reason is not None:
            status[c.key] = STATUS_UNFIT
            reasons[c.key] = reason
            continue
        distance[c.key] = rootDistance(c, now, mindist=settings.mindist)
        if c.lastResort and not c.prefer:
            status[c.key] = STATUS_UNFIT
            reasons[c.key] = REASON_FALLBACK
            lastResorts.append(c)
            continue
        pool.append(c)
    orphans: list[Candidate] = []
    if settings.orphan < MAXSTRAT:
        # Orphan mode (seed 003, ntpd's clock_select): sources at the
        # orphan stratum are orphan parents, chosen by address metric
        # only when no other source survives; sources above it are left
        # out (they may be synchronized to the orphan parent).
        for c in [c for c in pool if c.stratum >= settings.orphan]:
            pool.remove(c)
            del distance[c.key]
            status[c.key] = STATUS_UNFIT
            reasons[c.key] = REASON_ORPHAN
            if c.stratum == settings.orphan and c.srcAddress is not None:
                orphans.append(c)
    # A source that stopped answering gives way to those that answer.
    if any(c.answering for c in pool):
        for c in [c for c in pool if not c.answering]:
            status[c.key] = STATUS_UNFIT
            reasons[c.key] = REASON_UNREACHABLE
            del distance[c.key]
            pool.remove(c)

    def metric(c: Candidate) -> float:
        """The survivor ranking, seconds: stratum * maxdist + rootdist."""
        return c.stratum * settings.maxdist + distance[c.key]

    # Selection: the majority clique.
    interval = _intersection([(c.offset, distance[c.key]) for c in pool])
    chimers: list[Candidate] = []
    for c in pool:
        if c.truechimer or (
            interval is not None and interval[0] <= c.offset <= interval[1]
        ):
            chimers.append(c)
        else:
            status[c.key] = STATUS_FALSETICKER
    if not chimers and lastResorts:
        fallback = min(lastResorts, key=metric)
        del reasons[fallback.key]
        chimers.append(fallback)
    chimers.sort(key=metric)
    truechimers = tuple(c.key for c in chimers)

    # Cluster: vote the outliers off the island.
    survivors = list(chimers)
    while len(survivors) > 1:
        n = len(survivors)
        worst, worstJitter = 0, -1.0
        for i, c in enumerate(survivors):
            squares = math.fsum((c.offset - o.offset) ** 2 for o in survivors)
            selectionJitter = math.sqrt(squares / (n - 1))
            if selectionJitter >= worstJitter:
                worst, worstJitter = i, selectionJitter
        if n > settings.maxclock:
            verdict = STATUS_EXCESS
        elif n > settings.minclock and worstJitter > min(c.jitter for c in survivors):
            verdict = STATUS_OUTLIER
        else:
            break
        loser = survivors[worst]
        if loser.prefer or loser.truechimer:
            break
        status[loser.key] = verdict
        del survivors[worst]

    for c in survivors:
        status[c.key] = STATUS_CANDIDATE

    systemPeer: Candidate | None = None
    offset = jitter = 0.0
    if survivors and len(chimers) >= settings.minsane:
        preferred = [c for c in survivors if c.prefer]
        if preferred:
            systemPeer = preferred[0]
            offset, jitter = systemPeer.offset, systemPeer.jitter
        else:
            systemPeer = survivors[0]
            for c in survivors:
                if (
                    previous is not None
                    and c.key == previous
                    and c.stratum == systemPeer.stratum
                ):
                    systemPeer = c
            offset, spread = _combine(survivors, systemPeer, distance, settings)
            jitter = math.hypot(systemPeer.jitter, spread)
        jitter = max(jitter, settings.precision)
        status[systemPeer.key] = STATUS_SYNC

    if systemPeer is None and orphans:
        parent = _orphanParent(orphans)
        if parent is not None:
            systemPeer = parent
            offset = parent.offset
            jitter = max(parent.jitter, settings.precision)
            del reasons[parent.key]
            status[parent.key] = STATUS_SYNC
            survivors = [parent]

    return SelectionResult(
        systemPeer=None if systemPeer is None else systemPeer.key,
        offset=offset,
        jitter=jitter,
        survivors=tuple(c.key for c in survivors),
        truechimers=truechimers,
        status=MappingProxyType(status),
        reasons=MappingProxyType(reasons),
    )


def _orphanParent(orphans: Sequence[Candidate]) -> Candidate | None:
    """
    The orphan parent to follow: of the sources at the orphan stratum (the
    answering ones, when some answer), the one with the smallest address
    metric, provided it is smaller than our own address's as that source
    knows it; otherwise we may be the orphan parent ourselves (C{None}).
    Every host applies the same rule, so all choose the same parent.

    @see: ntpd's C{clock_select()} (C{typeorphan}).
    """
    answering = [c for c in orphans if c.answering] or list(orphans)
    best: Candidate | None = None
    bestMetric = 0xFFFFFFFF + 1
    for c in answering:
        assert c.srcAddress is not None
        try:
            metric = orphanMetric(refidFromAddress(c.srcAddress))
        except ValueError:
            continue
        if metric < orphanMetric(c.localRefid) and metric < bestMetric:
            best, bestMetric = c, metric
    return best


def majorityExcludes(
    offset: float, intervals: Sequence[tuple[float, float]]
) -> bool:
    """
    Whether more than half of the sources' own correctness intervals
    exclude C{offset}: a source selected alone (the others not yet fit)
    whose offset the majority of the answering sources contradicts must
    not set the clock.

    @param offset: seconds, the offset about to be applied.
    @param intervals: C{(offset, halfWidth)} of each answering source,
        seconds.
    @return: C{True} if a strict majority excludes C{offset}.
    """
    excluding = sum(1 for middle, half in intervals if abs(offset - middle) > half)
    return 2 * excluding > len(intervals)


def _intersection(
    intervals: Sequence[tuple[float, float]],
) -> tuple[float, float] | None:
    """
    The intersection interval of the majority clique.

    @param intervals: C{(offset, rootdist)} of each candidate, seconds.
    @return: C{(low, high)} seconds, or C{None} if no majority clique
        exists.
    @see: RFC 5905 section 11.2.1, steps 1-6.
    """
    m = len(intervals)
    # Type -1 lowpoint, 0 midpoint, +1 highpoint; at equal edges lowpoints
    # sort first, so touching intervals count as overlapping.
    edges = sorted(
        (edge, kind)
        for offset, rootdist in intervals
        for edge, kind in ((offset - rootdist, -1), (offset, 0), (offset + rootdist, 1))
    )
    allow = 0
    while 2 * allow < m:
        found = 0
        low: float | None = None
        high: float | None = None
        chime = 0
        for edge, kind in edges:
            chime -= kind
            if chime >= m - allow:
                low = edge
                break
            if kind == 0:
                found += 1
        chime = 0
        for edge, kind in reversed(edges):
            chime += kind
            if chime >= m - allow:
                high = edge
                break
            if kind == 0:
                found += 1
        if low is not None and high is not None and found <= allow and low < high:
            return low, high
        allow += 1
    return None


def _combine(
    survivors: Sequence[Candidate],
    systemPeer: Candidate,
    distance: Mapping[Hashable, float],
    settings: SelectionSettings,
) -> tuple[float, float]:
    """
    The combine algorithm: the survivors' offsets weighted by the inverse
    of their root distance.

    @param survivors: the survivors of the cluster algorithm.
    @param systemPeer: the system peer, among them.
    @param distance: each candidate's root distance, seconds.
    @param settings: the C{tos} parameters (the precision floors the
        distances, so that no weight is infinite).
    @return: C{(offset, psi)}: the system offset and the weighted RMS
        difference of the survivors' offsets to the system peer's, seconds.
    @see: RFC 5905 section 11.2.3 and Appendix A.5.5.5 (clock_combine).
    """
    weights = [1.0 / max(distance[c.key], settings.precision) for c in survivors]
    total = math.fsum(weights)
    offset = math.fsum(w * c.offset for w, c in zip(weights, survivors)) / total
    spread = math.fsum(
        w * (c.offset - systemPeer.offset) ** 2 for w, c in zip(weights, survivors)
    )
    # The weighted mean lies within the offsets; rounding must not move it out.
    low = min(c.offset for c in survivors)
    high = max(c.offset for c in survivors)
    return min(max(offset, low), high), math.sqrt(spread / total)
