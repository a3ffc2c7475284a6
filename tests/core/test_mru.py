# -*- test-case-name: tests.core.test_mru -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.mru}: the MRU list of recent clients, its size
limits and eviction order, and ntpd's leaky-bucket rate limiter.
"""

from __future__ import annotations

import random
from typing import Callable

from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.core.mru import (
    DEFAULT_MAXAGE,
    DEFAULT_MAXDEPTH,
    DEFAULT_MINDEPTH,
    ENTRY_BYTES,
    MRUEntry,
    MRUList,
    MRUSettings,
    isLeaked,
    isRateLimited,
    mayKiss,
    nextLeakState,
)

T0 = 1_000_000.0
"""An arbitrary monotonic start time, seconds."""


def constant(value: float) -> Callable[[], float]:
    """A fake random source that always returns C{value}."""
    return lambda: value


class SettingsTests(SynchronousTestCase):
    """
    L{MRUSettings}: the limits of the list (C{mru} lines become settings
    in L{ntpservice.coreconfig.mruSettings}).
    """

    def test_defaults(self) -> None:
        """
        By default: 1024 KiB worth of entries, mindepth 600, maxage 64 s
        (ntpd's defaults), no minage.
        """
        settings = MRUSettings()
        self.assertEqual(settings.maxdepth, 1024 * 1024 // ENTRY_BYTES)
        self.assertEqual(settings.maxdepth, DEFAULT_MAXDEPTH)
        self.assertEqual(settings.mindepth, DEFAULT_MINDEPTH)
        self.assertEqual(settings.maxage, DEFAULT_MAXAGE)
        self.assertIsNone(settings.minage)

    def test_capacity(self) -> None:
        """
        The hard bound is the larger of C{maxdepth} and C{mindepth}: ntpd
        always fills the list up to C{mindepth}.
        """
        self.assertEqual(MRUSettings(maxdepth=100, mindepth=600).capacity, 600)
        self.assertEqual(MRUSettings(maxdepth=1000, mindepth=600).capacity, 1000)


class ObserveTests(SynchronousTestCase):
    """
    L{MRUList.observe} records packets per source address.
    """

    def test_firstPacket(self) -> None:
        """
        The first packet from an address makes an entry: first and last
        time, count 1, mode and version, flags; it is never rate limited.
        """
        mru = MRUList()
        entry = mru.observe("192.0.2.1", 40000, 3, 4, T0, frozenset({"kod"}))
        assert entry is not None
        self.assertEqual(
            (
                entry.address,
                entry.port,
                entry.first,
                entry.last,
                entry.count,
                entry.mode,
                entry.version,
                entry.flags,
            ),
            ("192.0.2.1", 40000, T0, T0, 1, 3, 4, frozenset({"kod"})),
        )
        self.assertFalse(isRateLimited(entry))
        self.assertFalse(mayKiss(entry))
        self.assertIsNone(entry.lastKiss)
        self.assertEqual(len(mru), 1)
        self.assertIn("192.0.2.1", mru)

    def test_samePacketsUpdate(self) -> None:
        """
        Later packets update the same entry: last time, count, last port,
        mode and version; C{averageInterval} is ntpq's C{avgint}.
        """
        mru = MRUList()
        first = mru.observe("192.0.2.1", 40000, 3, 4, T0)
        later = mru.observe("192.0.2.1", 40001, 1, 3, T0 + 64)
        self.assertIs(first, later)
        assert later is not None
        self.assertEqual(
            (later.port, later.mode, later.version, later.count, later.last),
            (40001, 1, 3, 2, T0 + 64),
        )
        self.assertEqual(later.first, T0)
        self.assertEqual(later.averageInterval, 32.0)

    def test_portsShareAnEntry(self) -> None:
        """
        All source ports of one address share one entry (ntpd: otherwise a
        client changing ports would evade rate limiting).
        """
        mru = MRUList()
        for port in range(1024, 1034):
            mru.observe("192.0.2.1", port, 3, 4, T0 + port)
        self.assertEqual(len(mru), 1)
        entry = mru.get("192.0.2.1")
        assert entry is not None
        self.assertEqual(entry.count, 10)

    def test_recencyOrder(self) -> None:
        """
        Iteration gives the most recently heard address first; a packet
        from a listed address moves it to the front.
        """
        mru = MRUList()
        for i, address in enumerate(["a", "b", "c"]):
            mru.observe(address, 123, 3, 4, T0 + i)
        self.assertEqual([e.address for e in mru], ["c", "b", "a"])
        mru.observe("a", 123, 3, 4, T0 + 10)
        self.assertEqual([e.address for e in mru], ["a", "c", "b"])
        oldest = mru.oldest()
        assert oldest is not None
        self.assertEqual(oldest.address, "b")

    def test_removeAndClear(self) -> None:
        """
        L{MRUList.remove} forgets one address, L{MRUList.clear} all.
        """
        mru = MRUList()
        mru.observe("a", 1, 3, 4, T0)
        mru.observe("b", 1, 3, 4, T0)
        mru.remove("a")
        mru.remove("not there")
        self.assertEqual([e.address for e in mru], ["b"])
        mru.clear()
        self.assertEqual(len(mru), 0)
        self.assertIsNone(mru.oldest())


class EvictionTests(SynchronousTestCase):
    """
    When an address is new, L{MRUList} finds a slot in ntpd's order:
    below mindepth grow; recycle the oldest if older than maxage; grow up to
    maxdepth; then the full-list rule (NTPsec's minage, or ntpd's
    probability age / monitor).
    """

    def fill(self, mru: MRUList, count: int, start: float = T0) -> None:
        for i in range(count):
            mru.observe(f"198.51.100.{i}", 123, 3, 4, start + i)

    def test_belowMindepthNeverRecycles(self) -> None:
        """
        Below C{mindepth} entries, a new address always gets a new entry,
        however old the others are.
        """
        mru = MRUList(MRUSettings(maxdepth=0, mindepth=3, maxage=1))
        self.fill(mru, 3)
        self.assertEqual(len(mru), 3)
        self.assertEqual(mru.recycledOld, 0)

    def test_recyclesOlderThanMaxage(self) -> None:
        """
        Above C{mindepth}, an oldest entry older than C{maxage} is recycled
        (the least recently heard one) before the list grows.
        """
        mru = MRUList(MRUSettings(maxdepth=100, mindepth=2, maxage=64))
        self.fill(mru, 2)
        entry = mru.observe("203.0.113.1", 123, 3, 4, T0 + 1 + 65)
        self.assertEqual(len(mru), 2)
        self.assertNotIn("198.51.100.0", mru)
        self.assertEqual(mru.recycledOld, 1)
        assert entry is not None
        self.assertEqual(
            (entry.address, entry.count, entry.first), ("203.0.113.1", 1, T0 + 66)
        )

    def test_growsUpToMaxdepth(self) -> None:
        """
        Above C{mindepth} and with no entry older than C{maxage}, the list
        grows up to C{maxdepth}.
        """
        mru = MRUList(MRUSettings(maxdepth=5, mindepth=2, maxage=3600))
        self.fill(mru, 5)
        self.assertEqual(len(mru), 5)
        self.assertEqual(mru.peakEntries, 5)

    def test_minageFull(self) -> None:
        """
        With C{minage} (NTPsec), a full list recycles its oldest entry if
        it is at least C{minage} seconds old; otherwise the packet is not
        recorded, and C{observe} returns C{None} (not rate limited).
        """
        mru = MRUList(MRUSettings(maxdepth=3, mindepth=0, maxage=3600, minage=64))
        self.fill(mru, 3)
        self.assertIsNone(mru.observe("203.0.113.1", 123, 3, 4, T0 + 30))
        self.assertFalse(isRateLimited(None))
        self.assertFalse(mayKiss(None))
        self.assertEqual(mru.notRecorded, 1)
        self.assertNotIn("203.0.113.1", mru)
        entry = mru.observe("203.0.113.1", 123, 3, 4, T0 + 64)
        self.assertIsNotNone(entry)
        self.assertEqual(mru.recycledFull, 1)
        self.assertEqual(
            [e.address for e in mru], ["203.0.113.1", "198.51.100.2", "198.51.100.1"]
        )

    def test_ntpdProbability(self) -> None:
        """
        Without C{minage}, a full list recycles its oldest entry with
        probability age / (discard monitor), drawn from the injected random
        source (ntp.conf(5): an entry 300 s old is replaced with
        probability 10% by default).
        """
        settings = MRUSettings(maxdepth=2, mindepth=0, maxage=3600)
        mru = MRUList(settings, random=constant(0.11))
        self.fill(mru, 2)
        # The oldest entry is 300 s old: 0.11 > 300 / 3000, no slot.
        self.assertIsNone(mru.observe("203.0.113.1", 123, 3, 4, T0 + 300))
        mru = MRUList(settings, random=constant(0.09))
        self.fill(mru, 2)
        self.assertIsNotNone(mru.observe("203.0.113.1", 123, 3, 4, T0 + 300))
        self.assertNotIn("198.51.100.0", mru)

    def test_monitorZero(self) -> None:
        """
        C{discard monitor 0} makes a full list always recycle its oldest
        entry.
        """
        discard = config.DiscardSettings(monitor=0)
        mru = MRUList(MRUSettings(maxdepth=1, mindepth=0), discard, constant(0.99))
        mru.observe("a", 1, 3, 4, T0)
        self.assertIsNotNone(mru.observe("b", 1, 3, 4, T0))
        self.assertEqual([e.address for e in mru], ["b"])

    def test_deterministicWithoutRandom(self) -> None:
        """
        Without a random source, a full list uses NTPsec's rule with
        C{minage} 64 s, so the core stays deterministic.
        """
        mru = MRUList(MRUSettings(maxdepth=1, mindepth=0, maxage=3600))
        mru.observe("a", 1, 3, 4, T0)
        self.assertIsNone(mru.observe("b", 1, 3, 4, T0 + 63))
        self.assertIsNotNone(mru.observe("b", 1, 3, 4, T0 + 64))

    def test_nothingRecorded(self) -> None:
        """
        C{mru maxdepth 0 mindepth 0} records nothing.
        """
        mru = MRUList(MRUSettings(maxdepth=0, mindepth=0))
        self.assertIsNone(mru.observe("a", 1, 3, 4, T0))
        self.assertEqual(len(mru), 0)

    def test_recycledEntryIsReset(self) -> None:
        """
        A recycled entry carries nothing over from its previous address:
        count, times, rate-limit state and KoD time start afresh.
        """
        mru = MRUList(MRUSettings(maxdepth=1, mindepth=0, maxage=10))
        old = mru.observe("a", 1, 3, 4, T0)
        assert old is not None
        old.lastKiss = T0
        old.dropped = 5
        mru.observe("a", 1, 3, 4, T0 + 0.1)  # over the limit
        new = mru.observe("b", 2, 1, 3, T0 + 100)
        assert new is not None
        self.assertEqual(
            (new.address, new.port, new.count, new.first, new.leak, new.dropped),
            ("b", 2, 1, T0 + 100, 0, 0),
        )
        self.assertIsNone(new.lastKiss)
        self.assertFalse(new.overLimit)


class RateLimitTests(SynchronousTestCase):
    """
    ntpd's leaky bucket: C{discard average} (log2 s), C{minimum} (s).
    """

    def send(self, mru: MRUList, times: list[float]) -> list[tuple[bool, bool]]:
        """
        Send packets from one address at C{times}; return (over the limit,
        KoD allowed) for each.
        """
        verdicts = []
        for t in times:
            entry = mru.observe("192.0.2.1", 40000, 3, 4, t)
            verdicts.append((isRateLimited(entry), mayKiss(entry)))
        return verdicts

    def test_politeClient(self) -> None:
        """
        A client polling every 2**average seconds (8 s) is never limited,
        nor one polling every 64 s.
        """
        for spacing in (8.0, 64.0, 1024.0):
            mru = MRUList()
            verdicts = self.send(mru, [T0 + spacing * i for i in range(200)])
            self.assertEqual(verdicts, [(False, False)] * 200, spacing)

    def test_guardTime(self) -> None:
        """
        A packet less than C{minimum} seconds after the previous one (with
        ntpd's 1 s grace and rounding to whole seconds: less than 0.5 s)
        is over the limit, and a KoD may answer it.
        """
        mru = MRUList()
        self.assertEqual(self.send(mru, [T0, T0 + 0.4]), [(False, False), (True, True)])
        mru = MRUList()
        self.assertEqual(
            self.send(mru, [T0, T0 + 0.6]), [(False, False), (False, False)]
        )
        strict = config.DiscardSettings(minimum=4)
        self.assertEqual(
            self.send(MRUList(discard=strict), [T0, T0 + 2.4]),
            [(False, False), (True, True)],
        )
        self.assertEqual(
            self.send(MRUList(discard=strict), [T0, T0 + 2.6]),
            [(False, False), (False, False)],
        )

    def test_burstThenAverage(self) -> None:
        """
        A burst at 2 s spacing (RFC 5905 burst) is within limits for its
        first packets; a client that keeps sending every 2 s is eventually
        over the average limit.
        """
        mru = MRUList()
        verdicts = self.send(mru, [T0 + 2.0 * i for i in range(40)])
        self.assertEqual(verdicts[:8], [(False, False)] * 8)
        self.assertIn((True, True), verdicts)

    def test_averageHeadway(self) -> None:
        """
        C{discard average 6} (64 s) limits a client polling every 16 s that
        the default (8 s) accepts.
        """
        times = [T0 + 16.0 * i for i in range(100)]
        self.assertNotIn((True, True), self.send(MRUList(), times))
        strict = MRUList(discard=config.DiscardSettings(average=6))
        self.assertIn((True, True), self.send(strict, times))

    def test_kissRateLimit(self) -> None:
        """
        After an allowed KoD, the next is allowed only once the counter has
        drained below the ceiling: at one packet per second, one KoD every
        9 s (the average headway plus ntpd's rounding), the rest are just
        over the limit.
        """
        mru = MRUList()
        times = [T0, T0 + 0.1] + [T0 + 0.1 + i for i in range(1, 61)]
        verdicts = self.send(mru, times)
        kisses = [times[i] for i, (_, kiss) in enumerate(verdicts) if kiss]
        self.assertEqual(kisses[0], T0 + 0.1)
        gaps = {round(b - a, 6) for a, b in zip(kisses, kisses[1:])}
        self.assertEqual(gaps, {9.0})
        self.assertTrue(all(over for over, _ in verdicts[1:]))

    def test_floodGetsOneKiss(self) -> None:
        """
        A flood faster than one packet per half second never drains the
        counter (intervals round to 0 s): the whole flood gets exactly one
        KoD, so spoofing a victim's address cannot make the server send
        the victim a stream of KoDs.
        """
        mru = MRUList()
        verdicts = self.send(mru, [T0 + 0.01 * i for i in range(10_000)])
        self.assertEqual(sum(kiss for _, kiss in verdicts), 1)
        self.assertEqual(sum(over for over, _ in verdicts), 9_999)

    def test_recovers(self) -> None:
        """
        A limited client that goes quiet long enough is served again.
        """
        mru = MRUList()
        self.send(mru, [T0 + 0.01 * i for i in range(100)])
        self.assertEqual(self.send(mru, [T0 + 200.0]), [(False, False)])

    def test_backwardsTime(self) -> None:
        """
        A time earlier than the previous packet counts as a zero interval:
        it does not grow the counter beyond what a burst would.
        """
        mru = MRUList()
        self.send(mru, [T0, T0 - 100.0])
        entry = mru.get("192.0.2.1")
        assert entry is not None
        self.assertEqual(entry.leak, 8 * 8 + 8)


class LeakTests(SynchronousTestCase):
    """
    C{discard leak}: one packet over the limit in M{2**leak} is let
    through, drawn from a seeded generator.
    """

    def flood(self, mru: MRUList, count: int = 4000) -> list[MRUEntry]:
        """
        Send C{count} packets 10 ms apart from one address.

        @return: a copy of the verdict fields of each observation.
        """
        verdicts = []
        for i in range(count):
            entry = mru.observe("192.0.2.1", 123, 3, 4, T0 + 0.01 * i)
            assert entry is not None
            copy = MRUEntry(entry.address, entry.port, 3, 4, entry.last)
            copy.overLimit = entry.overLimit
            copy.kissAllowed = entry.kissAllowed
            copy.leaked = entry.leaked
            verdicts.append(copy)
        return verdicts

    def test_defaultOneInFour(self) -> None:
        """
        With a seed and the default C{leak 2}, about one packet in four
        over the limit is leaked (of 3999 over the limit, between 850 and
        1150); packets within limits never are.
        """
        verdicts = self.flood(MRUList(leakSeed=12345))
        self.assertFalse(verdicts[0].overLimit)
        self.assertFalse(verdicts[0].leaked)
        leaked = sum(isLeaked(v) for v in verdicts)
        self.assertTrue(all(v.overLimit for v in verdicts[1:]))
        self.assertGreater(leaked, 850)
        self.assertLess(leaked, 1150)

    def test_leakSetting(self) -> None:
        """
        C{discard leak 4}: about one in sixteen (between 180 and 320 of
        3999); C{discard leak 0}: none, as without a seed (ntpd).
        """
        rare = MRUList(discard=config.DiscardSettings(leak=4), leakSeed=99)
        leaked = sum(isLeaked(v) for v in self.flood(rare))
        self.assertGreater(leaked, 180)
        self.assertLess(leaked, 320)
        off = MRUList(discard=config.DiscardSettings(leak=0), leakSeed=99)
        self.assertFalse(any(v.leaked for v in self.flood(off)))
        self.assertFalse(any(v.leaked for v in self.flood(MRUList())))

    def test_seeded(self) -> None:
        """
        The same seed gives the same draws; another seed other draws.
        """
        def pattern(seed: int) -> list[bool]:
            return [v.leaked for v in self.flood(MRUList(leakSeed=seed), 400)]

        self.assertEqual(pattern(7), pattern(7))
        self.assertNotEqual(pattern(7), pattern(8))
        # A seed of 0 still draws (xorshift would stay at 0).
        self.assertTrue(any(pattern(0)))

    def test_generator(self) -> None:
        """
        L{nextLeakState} is xorshift64 with shifts 13, 7, 17 on 64 bits
        (the fast path's C{leak_next}): known first values, never 0.
        """
        state = 1
        values = []
        for _ in range(3):
            state = nextLeakState(state)
            values.append(state)
        self.assertEqual(values[0], 1082269761)
        self.assertTrue(all(0 < v < 2**64 for v in values))
        state = 2**64 - 1
        for _ in range(1000):
            state = nextLeakState(state)
            self.assertTrue(0 < state < 2**64)

    def test_kissUnchanged(self) -> None:
        """
        The leak changes neither the counter nor when a packet is over
        the limit; the one KoD a flood 10 ms apart gets from ntpd's rule
        (for its second packet, which broke the guard time) is gone.
        """
        leaky = MRUList(leakSeed=5)
        plain = MRUList()
        a = self.flood(leaky, 1000)
        b = self.flood(plain, 1000)
        self.assertEqual([v.overLimit for v in a], [v.overLimit for v in b])
        self.assertEqual(sum(v.kissAllowed for v in b), 1)
        self.assertEqual(sum(v.kissAllowed for v in a), 0)
        self.assertEqual(leaky.get("192.0.2.1").leak, plain.get("192.0.2.1").leak)  # type: ignore[union-attr]


class LeakKissTests(SynchronousTestCase):
    """
    With the leak on (a seeded list), a packet that broke only the guard
    time earns no KoD; one that broke the average does, as in ntpd.
    """

    def send(self, mru: MRUList, times: list[float]) -> list[tuple[bool, bool]]:
        """(over the limit, KoD allowed) for packets from one address."""
        verdicts = []
        for t in times:
            entry = mru.observe("192.0.2.1", 123, 3, 4, t)
            verdicts.append((isRateLimited(entry), mayKiss(entry)))
        return verdicts

    def test_guardTimeNoKiss(self) -> None:
        """
        A packet 0.4 s after the previous one breaks the guard time: over
        the limit, but no KoD (ntpd, and a list without the leak, kiss it).
        """
        leaky = MRUList(leakSeed=1)
        self.assertEqual(self.send(leaky, [T0, T0 + 0.4]), [(False, False), (True, False)])
        off = MRUList(discard=config.DiscardSettings(leak=0), leakSeed=1)
        self.assertEqual(self.send(off, [T0, T0 + 0.4]), [(False, False), (True, True)])

    def test_floodNoKiss(self) -> None:
        """
        A flood 10 ms apart (a spoofed one) gets no KoD at all.
        """
        verdicts = self.send(MRUList(leakSeed=2), [T0 + 0.01 * i for i in range(5000)])
        self.assertEqual(sum(kiss for _, kiss in verdicts), 0)
        self.assertEqual(sum(over for over, _ in verdicts), 4999)

    def test_averageKissed(self) -> None:
        """
        A client sending every 0.6 s keeps the guard time but breaks the
        average: its first packet over the limit may be kissed, and the
        next only once the counter drained, as in ntpd.
        """
        times = [T0 + 0.6 * i for i in range(100)]
        leaky = self.send(MRUList(leakSeed=3), times)
        plain = self.send(MRUList(), times)
        self.assertEqual(leaky, plain)
        first = leaky.index((True, True))
        self.assertGreater(first, 8)
        self.assertFalse(any(over for over, _ in leaky[:first]))


    def test_filledThenGuardBroken(self) -> None:
        """
        A counter filled by requests every 0.6 s, then one 0.1 s after the
        last (a spoofed request just before a victim's poll, once the
        attacker filled the counter): ntpd kisses it, the leaky list does
        not.
        """
        times = [T0 + 0.6 * i for i in range(100)]
        first = self.send(MRUList(), times).index((True, True))
        primed = times[:first] + [times[first - 1] + 0.1]
        self.assertEqual(self.send(MRUList(), primed)[-1], (True, True))
        self.assertEqual(self.send(MRUList(leakSeed=4), primed)[-1], (True, False))


class FloodTests(SynchronousTestCase):
    """
    A flood from a million spoofed addresses keeps the list bounded and
    the legitimate clients' entries working.
    """

    FLOOD = 1_000_000
    RATE = 20_000.0
    """Flood packets per second (simulated)."""

    def flood(self, mru: MRUList, rate: float = RATE) -> list[tuple[bool, bool]]:
        """
        Observe C{FLOOD} distinct addresses at C{rate} per second while a
        legitimate client polls every 16 s; return the legitimate client's
        verdicts (rate limited, recorded).
        """
        observe = mru.observe
        capacity = mru.capacity
        legitimate = []
        period = int(16 * rate)
        step = 1.0 / rate
        for i in range(self.FLOOD):
            now = T0 + i * step
            observe(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 123, 3, 4, now)
            if i % period == 0:
                entry = observe("192.0.2.1", 40000, 3, 4, now)
                legitimate.append((isRateLimited(entry), entry is not None))
                self.assertLessEqual(len(mru), capacity)
        self.assertLessEqual(len(mru), capacity)
        self.assertLessEqual(mru.peakEntries, capacity)
        return legitimate

    def test_ntpdRule(self) -> None:
        """
        With ntpd's probabilistic recycling and default sizes, the list
        never holds more than its capacity and the legitimate client is
        never rate limited. (Its entry is old by the list's standards, so
        it may be recycled: it is then served as a first packet is.)
        """
        mru = MRUList(random=random.Random(5).random)
        verdicts = self.flood(mru)
        self.assertEqual(len(mru), DEFAULT_MAXDEPTH)
        self.assertEqual([limited for limited, _ in verdicts], [False] * len(verdicts))
        self.assertGreater(mru.notRecorded, self.FLOOD // 2)

    def test_minageRule(self) -> None:
        """
        With NTPsec's deterministic C{minage} rule, the list stays at its
        bound too, and the legitimate client keeps its entry through the
        flood (100 s long, so the flood's own entries are recycled once
        they are 64 s old): every one of its packets is recorded, none is
        limited.
        """
        mru = MRUList(MRUSettings(minage=64))
        verdicts = self.flood(mru, rate=10_000.0)
        self.assertEqual(len(mru), DEFAULT_MAXDEPTH)
        self.assertEqual(verdicts, [(False, True)] * len(verdicts))
        entry = mru.get("192.0.2.1")
        assert entry is not None
        self.assertEqual(entry.count, len(verdicts))
        self.assertGreater(mru.recycledOld + mru.recycledFull, 0)
        self.assertGreater(mru.notRecorded, self.FLOOD // 2)
