# -*- test-case-name: tests.core.test_selection -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.selection}.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.constants import PHI
from ntpservice.core.selection import (
    REASON_DISTANCE,
    REASON_FALLBACK,
    REASON_LOOP,
    REASON_NOSELECT,
    REASON_STRATUM,
    REASON_UNREACHABLE,
    REASON_UNSYNCHRONIZED,
    STATUS_CANDIDATE,
    STATUS_EXCESS,
    STATUS_FALSETICKER,
    STATUS_OUTLIER,
    STATUS_SYNC,
    STATUS_UNFIT,
    TALLY_CODES,
    Candidate,
    SelectionResult,
    SelectionSettings,
    rootDistance,
    select,
    unfitReason,
)

NOW = 1_700_000_000.0
SETTINGS = SelectionSettings()
OUR_REFID = b"\xc0\x00\x02\x63"


def candidate(key: str, offset: float = 0.0, **fields: Any) -> Candidate:
    """
    A fit stratum-2 candidate whose root distance at L{NOW} is 22 ms:
    0.030 / 2 + 0.005 + 0.001 + 0.001.
    """
    values: dict[str, Any] = dict(
        key=key,
        offset=offset,
        delay=0.020,
        dispersion=0.001,
        jitter=0.001,
        rootDelay=0.010,
        rootDispersion=0.005,
        stratum=2,
        leap=0,
        refid=b"\xc0\x00\x02\x01",
        time=NOW,
        reachable=True,
    )
    values.update(fields)
    return Candidate(**values)


def run(*candidates: Candidate, **settings: Any) -> SelectionResult:
    """
    L{select} the candidates at L{NOW} with default settings but
    C{settings}.
    """
    return select(candidates, NOW, replace(SETTINGS, **settings))


class RootDistanceTests(SynchronousTestCase):
    """
    Tests for L{rootDistance}.
    """

    def test_worked(self) -> None:
        """
        The root distance is half the total delay, plus root dispersion,
        peer dispersion, its growth at PHI since the peer update, and the
        jitter: 0.140 / 2 + 0.020 + 0.003 + 15e-6 * 1000 + 0.002 = 0.110.
        """
        c = candidate(
            "a",
            rootDelay=0.100,
            delay=0.040,
            rootDispersion=0.020,
            dispersion=0.003,
            jitter=0.002,
            time=NOW - 1000,
        )
        self.assertAlmostEqual(rootDistance(c, NOW), 0.110, places=12)
        self.assertAlmostEqual(PHI * 1000, 0.015, places=15)

    def test_default(self) -> None:
        """
        The helper candidate is 22 ms away from the root.
        """
        self.assertAlmostEqual(rootDistance(candidate("a"), NOW), 0.022, places=12)

    def test_mindist(self) -> None:
        """
        The delay term is at least mindist: with 0.4 ms of total delay and
        nothing else, the distance is 1 ms / 2, or 5 ms / 2 with mindist
        5 ms.
        """
        c = candidate(
            "a",
            delay=0.0004,
            rootDelay=0.0,
            rootDispersion=0.0,
            dispersion=0.0,
            jitter=0.0,
        )
        self.assertAlmostEqual(rootDistance(c, NOW), 0.0005, places=15)
        self.assertAlmostEqual(rootDistance(c, NOW, mindist=0.005), 0.0025, places=15)

    def test_noNegativeAge(self) -> None:
        """
        Peer variables stamped after C{now} do not shrink the distance.
        """
        c = candidate("a", time=NOW + 100)
        self.assertAlmostEqual(rootDistance(c, NOW), 0.022, places=12)


class UnfitTests(SynchronousTestCase):
    """
    Tests for L{unfitReason}.
    """

    def reason(self, c: Candidate, ourRefid: bytes | None = OUR_REFID) -> str | None:
        """
        L{unfitReason} of C{c} at L{NOW} with the default settings.
        """
        return unfitReason(c, NOW, SETTINGS, ourRefid)

    def test_fit(self) -> None:
        """
        A reachable, synchronized, near, non-looping candidate is fit.
        """
        self.assertIsNone(self.reason(candidate("a")))

    def test_reasons(self) -> None:
        """
        Each rule gives its reason.
        """
        cases = [
            (candidate("a", noselect=True), REASON_NOSELECT),
            (candidate("a", reachable=False), REASON_UNREACHABLE),
            (candidate("a", leap=3), REASON_UNSYNCHRONIZED),
            (candidate("a", stratum=16), REASON_STRATUM),
            (candidate("a", rootDispersion=1.6), REASON_DISTANCE),
            (candidate("a", time=NOW - 100_000), REASON_DISTANCE),
            (candidate("a", refid=OUR_REFID), REASON_LOOP),
        ]
        for c, expected in cases:
            self.assertEqual(self.reason(c), expected, c)

    def test_maxdist(self) -> None:
        """
        The distance threshold is C{tos maxdist}: exceeding it is unfit,
        reaching it is not.
        """
        c = candidate("a", rootDispersion=0.5 - 0.017)  # distance 0.5
        tight = replace(SETTINGS, maxdist=0.4)
        exact = replace(SETTINGS, maxdist=0.5 + 1e-12)
        self.assertEqual(unfitReason(c, NOW, tight), REASON_DISTANCE)
        self.assertIsNone(unfitReason(c, NOW, exact))

    def test_loopOnlyAboveStratumOne(self) -> None:
        """
        At stratum 1 the refid is a clock name, never a loop; without our
        refid there is no loop check.
        """
        self.assertIsNone(self.reason(candidate("a", refid=OUR_REFID, stratum=1)))
        self.assertIsNone(self.reason(candidate("a", refid=OUR_REFID), None))

    def test_firstReasonWins(self) -> None:
        """
        With several faults the configuration one is reported first.
        """
        c = candidate("a", noselect=True, reachable=False, leap=3, stratum=16)
        self.assertEqual(self.reason(c), REASON_NOSELECT)


class SelectionTests(SynchronousTestCase):
    """
    Tests for the selection (intersection) algorithm of L{select}.
    """

    def test_falsetickerRejected(self) -> None:
        """
        Four servers that agree outvote a fifth that is 100 ms off: it is a
        falseticker and the system peer is one of the four.
        """
        agree = [candidate(k, o) for k, o in zip("abcd", (0.0, 0.001, -0.001, 0.0005))]
        result = run(*agree, candidate("x", 0.100))
        self.assertEqual(result.status["x"], STATUS_FALSETICKER)
        self.assertEqual(set(result.truechimers), set("abcd"))
        self.assertIn(result.systemPeer, set("abcd"))
        self.assertEqual(TALLY_CODES[result.status["x"]], "x")

    def test_noMajority(self) -> None:
        """
        Two groups of two that disagree have no majority clique: every
        candidate is a falseticker and there is no system peer.
        """
        result = run(
            candidate("a", 0.0),
            candidate("b", 0.001),
            candidate("c", 0.200),
            candidate("d", 0.201),
        )
        self.assertIsNone(result.systemPeer)
        self.assertEqual(result.truechimers, ())
        self.assertEqual(result.survivors, ())
        self.assertEqual(set(result.status.values()), {STATUS_FALSETICKER})
        self.assertEqual((result.offset, result.jitter), (0.0, 0.0))

    def test_twoDisagree(self) -> None:
        """
        Two disjoint candidates have no majority either.
        """
        result = run(candidate("a", 0.0), candidate("b", 0.5))
        self.assertIsNone(result.systemPeer)

    def test_singleCandidate(self) -> None:
        """
        A lone fit candidate is a truechimer and the system peer.
        """
        result = run(candidate("a", 0.3))
        self.assertEqual(result.systemPeer, "a")
        self.assertEqual(result.offset, 0.3)
        self.assertEqual(result.status, {"a": STATUS_SYNC})

    def test_overlapCountsButMidpointOutside(self) -> None:
        """
        A candidate whose interval overlaps the intersection but whose
        offset lies outside it is a falseticker: three intervals around 0
        and a wide one centred at 30 ms.
        """
        wide = candidate("w", 0.030, rootDispersion=0.040)
        result = run(
            candidate("a", 0.0), candidate("b", 0.0), candidate("c", 0.0), wide
        )
        self.assertEqual(result.status["w"], STATUS_FALSETICKER)

    def test_trueNeverFalseticker(self) -> None:
        """
        A candidate configured C{true} is a truechimer even 100 ms off the
        majority, and is immune to the cluster algorithm.
        """
        agree = [candidate(k, o) for k, o in zip("abcd", (0.0, 0.001, -0.001, 0.0005))]
        t = candidate("t", 0.100, truechimer=True)
        result = run(*agree, t)
        self.assertIn("t", result.truechimers)
        self.assertNotEqual(result.status["t"], STATUS_FALSETICKER)
        self.assertIn("t", result.survivors)

    def test_trueWithoutMajority(self) -> None:
        """
        Without a majority clique a C{true} candidate is still a truechimer
        and becomes the system peer.
        """
        result = run(
            candidate("a", 0.0),
            candidate("b", 0.200),
            candidate("t", 0.400, truechimer=True),
        )
        self.assertEqual(result.truechimers, ("t",))
        self.assertEqual(result.systemPeer, "t")

    def test_minsane(self) -> None:
        """
        With fewer truechimers than minsane there is no system peer; the
        survivors are still reported as candidates.
        """
        result = run(candidate("a"), candidate("b"), minsane=3)
        self.assertIsNone(result.systemPeer)
        self.assertEqual(set(result.survivors), {"a", "b"})
        self.assertEqual(set(result.status.values()), {STATUS_CANDIDATE})
        self.assertEqual(run(candidate("a"), candidate("b"), minsane=2).systemPeer, "a")

    def test_unfitExcluded(self) -> None:
        """
        Unfit candidates take no part and have a reason; they do not count
        towards the majority.
        """
        result = run(
            candidate("a", 0.0),
            candidate("u1", 0.5, reachable=False),
            candidate("u2", 0.5, reachable=False),
        )
        self.assertEqual(result.systemPeer, "a")
        self.assertEqual(result.status["u1"], STATUS_UNFIT)
        self.assertEqual(
            result.reasons, {"u1": REASON_UNREACHABLE, "u2": REASON_UNREACHABLE}
        )

    def test_duplicateKeys(self) -> None:
        """
        Two candidates with one key are refused.
        """
        self.assertRaises(ValueError, run, candidate("a"), candidate("a"))

    def test_empty(self) -> None:
        """
        No candidates, no system peer.
        """
        result = run()
        self.assertIsNone(result.systemPeer)
        self.assertEqual(result.status, {})


class ClusterTests(SynchronousTestCase):
    """
    Tests for the cluster algorithm of L{select}.
    """

    def test_noisiestDropped(self) -> None:
        """
        With more survivors than minclock, the one with the largest
        selection jitter is discarded as an outlier while that jitter
        exceeds the smallest peer jitter.
        """
        offsets = {"a": 0.0, "b": 0.0001, "c": -0.0001, "d": 0.0002, "n": 0.012}
        result = run(*(candidate(k, o) for k, o in offsets.items()), minclock=4)
        self.assertEqual(result.status["n"], STATUS_OUTLIER)
        self.assertEqual(TALLY_CODES[STATUS_OUTLIER], "-")
        self.assertEqual(set(result.survivors), {"a", "b", "c", "d"})
        self.assertIn("n", result.truechimers)

    def test_stopsAtMinclock(self) -> None:
        """
        The cluster algorithm never goes below minclock survivors.
        """
        offsets = (0.0, 0.004, -0.004, 0.008, -0.008)
        result = run(*(candidate(str(i), o) for i, o in enumerate(offsets)))
        self.assertEqual(len(result.survivors), 3)

    def test_stopsWhenJitterSmall(self) -> None:
        """
        Discarding stops when the largest selection jitter is no more than
        the smallest peer jitter.
        """
        offsets = (0.0, 0.0001, -0.0001, 0.0002, 0.0003)
        result = run(
            *(candidate(str(i), o, jitter=0.002) for i, o in enumerate(offsets))
        )
        self.assertEqual(len(result.survivors), 5)

    def test_excess(self) -> None:
        """
        Beyond maxclock survivors are discarded as excess, even when they
        agree closely.
        """
        offsets = (0.0, 0.0001, -0.0001, 0.0002, 0.0003)
        result = run(
            *(candidate(str(i), o, jitter=0.002) for i, o in enumerate(offsets)),
            maxclock=3,
        )
        self.assertEqual(len(result.survivors), 3)
        self.assertEqual(list(result.status.values()).count(STATUS_EXCESS), 2)
        self.assertEqual(TALLY_CODES[STATUS_EXCESS], ".")

    def test_preferImmune(self) -> None:
        """
        The cluster algorithm stops rather than discard a prefer peer.
        """
        offsets = {"a": 0.0, "b": 0.0001, "c": -0.0001, "d": 0.0002}
        others = [candidate(k, o) for k, o in offsets.items()]
        result = run(*others, candidate("p", 0.012, prefer=True), minclock=4)
        self.assertIn("p", result.survivors)
        self.assertEqual(result.systemPeer, "p")

    def test_survivorOrder(self) -> None:
        """
        Survivors are ranked by stratum * maxdist + root distance: a lower
        stratum comes first even when farther.
        """
        result = run(
            candidate("s3", stratum=3),
            candidate("s2far", stratum=2, rootDispersion=0.3),
            candidate("s2", stratum=2),
        )
        self.assertEqual(result.survivors, ("s2", "s2far", "s3"))
        self.assertEqual(result.systemPeer, "s2")


class SystemPeerTests(SynchronousTestCase):
    """
    Tests for the choice of system peer and the combine algorithm.
    """

    def test_preferHonoured(self) -> None:
        """
        A surviving prefer peer is the system peer even with a worse
        metric, and its own offset and jitter are the system's.
        """
        result = run(
            candidate("a", 0.001),
            candidate("b", 0.002),
            candidate("p", 0.003, stratum=3, jitter=0.0015, prefer=True),
        )
        self.assertEqual(result.systemPeer, "p")
        self.assertEqual(result.status["p"], STATUS_SYNC)
        self.assertEqual((result.offset, result.jitter), (0.003, 0.0015))
        self.assertEqual(result.status["a"], STATUS_CANDIDATE)

    def test_preferFalseticker(self) -> None:
        """
        A prefer peer that is a falseticker is not selected.
        """
        agree = [candidate(k, o) for k, o in zip("abc", (0.0, 0.001, -0.001))]
        result = run(*agree, candidate("p", 0.100, prefer=True))
        self.assertEqual(result.status["p"], STATUS_FALSETICKER)
        self.assertIn(result.systemPeer, set("abc"))

    def test_noselectNeverSelected(self) -> None:
        """
        A noselect candidate is never selected, even when it is the best.
        """
        result = run(
            candidate("n", stratum=1, noselect=True), candidate("a", stratum=3)
        )
        self.assertEqual(result.systemPeer, "a")
        self.assertEqual(result.status["n"], STATUS_UNFIT)
        self.assertEqual(result.reasons["n"], REASON_NOSELECT)
        self.assertIsNone(run(candidate("n", noselect=True)).systemPeer)

    def test_combineEqualDistance(self) -> None:
        """
        Two survivors at equal root distance combine to the mean offset.
        """
        result = run(candidate("a", 0.002), candidate("b", 0.004))
        self.assertAlmostEqual(result.offset, 0.003, places=15)

    def test_combineWeights(self) -> None:
        """
        Offsets are weighted by the inverse of the root distance: 0 at 10 ms
        and 4 ms at 30 ms combine to 4 * (1/30) / (1/10 + 1/30) = 1 ms.
        """
        near = candidate("near", 0.0, rootDispersion=0.005 - 0.012)
        far = candidate("far", 0.004, rootDispersion=0.005 + 0.008)
        self.assertAlmostEqual(rootDistance(near, NOW), 0.010, places=12)
        self.assertAlmostEqual(rootDistance(far, NOW), 0.030, places=12)
        result = run(near, far)
        self.assertEqual(result.systemPeer, "near")
        self.assertAlmostEqual(result.offset, 0.001, places=12)

    def test_systemJitter(self) -> None:
        """
        The system jitter combines the system peer's jitter with the
        distance-weighted RMS offset difference of the survivors to the
        system peer: equal weights, offsets 2 and 4 ms, peer jitter 1 ms
        give sqrt(1e-6 + (0 + 4e-6) / 2).
        """
        result = run(candidate("a", 0.002), candidate("b", 0.004))
        self.assertAlmostEqual(result.jitter, math.sqrt(1e-6 + 2e-6), places=12)

    def test_jitterFloor(self) -> None:
        """
        The system jitter is at least the precision.
        """
        result = run(candidate("a", jitter=0.0), precision=0.001)
        self.assertEqual(result.jitter, 0.001)

    def test_previousKept(self) -> None:
        """
        The previous system peer is kept while it survives at the stratum of
        the best survivor, rather than hopping to the best survivor.
        """
        best = candidate("best", 0.0)
        old = candidate("old", 0.0005, rootDispersion=0.010)
        self.assertEqual(run(best, old).systemPeer, "best")
        result = select([best, old], NOW, SETTINGS, previous="old")
        self.assertEqual(result.systemPeer, "old")
        self.assertEqual(result.status, {"old": STATUS_SYNC, "best": STATUS_CANDIDATE})
        self.assertEqual(result.survivors, ("best", "old"))

    def test_previousNotKept(self) -> None:
        """
        The previous system peer is dropped if it no longer survives or is
        at a higher stratum than the best survivor.
        """
        best = candidate("best", 0.0)
        higher = candidate("old", 0.0005, stratum=3)
        result = select([best, higher], NOW, SETTINGS, previous="old")
        self.assertEqual(result.systemPeer, "best")
        gone = candidate("old", 0.0, reachable=False)
        result = select([best, gone], NOW, SETTINGS, previous="old")
        self.assertEqual(result.systemPeer, "best")

    def test_statusCodes(self) -> None:
        """
        Every status has an ntpq tally code.
        """
        self.assertEqual(
            dict(TALLY_CODES),
            {
                STATUS_UNFIT: " ",
                STATUS_FALSETICKER: "x",
                STATUS_EXCESS: ".",
                STATUS_OUTLIER: "-",
                STATUS_CANDIDATE: "+",
                STATUS_SYNC: "*",
            },
        )


class LocalClockTests(SynchronousTestCase):
    """
    Tests for the LOCAL clock fallback.
    """

    def local(self, **fields: Any) -> Candidate:
        """
        A fit LOCAL clock candidate at stratum 5 (or as C{fields} say).
        """
        values: dict[str, Any] = dict(
            stratum=5,
            delay=0.0,
            rootDelay=0.0,
            rootDispersion=0.0,
            refid=b"LOCL",
            lastResort=True,
        )
        values.update(fields)
        return candidate("local", 0.0, **values)

    def test_notWithOthers(self) -> None:
        """
        With another source surviving, the LOCAL clock (even of lower
        stratum) is held back.
        """
        result = run(self.local(stratum=0), candidate("a", 0.050))
        self.assertEqual(result.systemPeer, "a")
        self.assertEqual(result.status["local"], STATUS_UNFIT)
        self.assertEqual(result.reasons["local"], REASON_FALLBACK)
        self.assertEqual(result.truechimers, ("a",))

    def test_alone(self) -> None:
        """
        When nothing else survives, the LOCAL clock is the system peer.
        """
        result = run(self.local(), candidate("a", reachable=False))
        self.assertEqual(result.systemPeer, "local")
        self.assertEqual(result.status["local"], STATUS_SYNC)
        self.assertNotIn("local", result.reasons)
        self.assertEqual(result.survivors, ("local",))

    def test_whenOthersAreFalsetickers(self) -> None:
        """
        When the other sources have no majority, the LOCAL clock is used.
        """
        result = run(self.local(), candidate("a", 0.0), candidate("b", 0.5))
        self.assertEqual(result.systemPeer, "local")
        self.assertEqual(result.status["a"], STATUS_FALSETICKER)

    def test_preferLocal(self) -> None:
        """
        A prefer LOCAL clock takes part in selection like any source.
        """
        result = run(self.local(prefer=True), candidate("a", 0.001))
        self.assertEqual(result.systemPeer, "local")
        self.assertEqual(result.status["a"], STATUS_CANDIDATE)

    def test_unfitLocal(self) -> None:
        """
        An unfit LOCAL clock is not a fallback.
        """
        result = run(self.local(reachable=False))
        self.assertIsNone(result.systemPeer)
        self.assertEqual(result.reasons["local"], REASON_UNREACHABLE)


_candidates: st.SearchStrategy[list[dict[str, Any]]] = st.lists(
    st.builds(
        dict,
        offset=st.floats(-0.5, 0.5),
        delay=st.floats(0.0, 0.2),
        dispersion=st.floats(0.0, 0.3),
        jitter=st.floats(0.0, 0.05),
        rootDelay=st.floats(0.0, 0.2),
        rootDispersion=st.floats(0.0, 0.3),
        stratum=st.integers(0, 16),
        leap=st.integers(0, 3),
        age=st.floats(0.0, 20000.0),
        reachable=st.booleans(),
        prefer=st.booleans(),
        noselect=st.booleans(),
        truechimer=st.booleans(),
        lastResort=st.booleans(),
    ),
    max_size=12,
)


class PropertyTests(SynchronousTestCase):
    """
    Properties of L{select} over arbitrary candidate sets.
    """

    @given(
        _candidates,
        st.integers(1, 6),
        st.integers(0, 4),
        st.integers(1, 12),
        st.booleans(),
    )
    def test_properties(
        self,
        fields: list[dict[str, Any]],
        minclock: int,
        minsane: int,
        maxclock: int,
        keepFirst: bool,
    ) -> None:
        """
        Whatever the candidates: every one has a status; the system peer is
        a survivor, the only one in C{sync}; survivors are truechimers;
        falsetickers and unfit candidates are neither; the combined offset
        lies within the survivors' offsets; the jitter is at least the
        precision when there is a system peer.
        """
        cands = []
        for i, f in enumerate(fields):
            age = f.pop("age")
            cands.append(candidate(f"c{i}", time=NOW - age, **f))
        settings = SelectionSettings(
            minclock=minclock, minsane=minsane, maxclock=maxclock
        )
        previous = cands[0].key if keepFirst and cands else None
        result = select(cands, NOW, settings, previous=previous)

        self.assertEqual(set(result.status), {c.key for c in cands})
        unfit = {k for k, s in result.status.items() if s == STATUS_UNFIT}
        self.assertEqual(set(result.reasons), unfit)
        self.assertLessEqual(set(result.survivors), set(result.truechimers))
        for key in result.truechimers:
            self.assertNotIn(result.status[key], (STATUS_UNFIT, STATUS_FALSETICKER))
        synced = [k for k, s in result.status.items() if s == STATUS_SYNC]
        if result.systemPeer is None:
            self.assertEqual(synced, [])
        else:
            self.assertEqual(synced, [result.systemPeer])
            self.assertIn(result.systemPeer, result.survivors)
            offsets = [c.offset for c in cands if c.key in result.survivors]
            self.assertTrue(min(offsets) <= result.offset <= max(offsets))
            self.assertGreaterEqual(result.jitter, settings.precision)
            self.assertGreaterEqual(len(result.truechimers), minsane)
        byKey = {c.key: c for c in cands}
        for key in result.survivors:
            self.assertFalse(byKey[key].noselect)
            self.assertTrue(byKey[key].reachable)
        for c in cands:
            if (
                c.truechimer
                and result.status[c.key] != STATUS_UNFIT
                and not (c.lastResort and not c.prefer)
            ):
                self.assertIn(c.key, result.truechimers)
