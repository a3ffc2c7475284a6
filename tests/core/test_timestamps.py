# -*- test-case-name: tests.core.test_timestamps -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.timestamps}.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.timestamps import (
    ERA_SECONDS,
    NTP_UNIX_OFFSET,
    SHORT_MAX,
    ZERO,
    NTPTimestamp,
    decodeShort,
    encodeShort,
)

NS = 1_000_000_000

# 2036-02-07 06:28:16 UTC, the first instant of NTP era 1
# (`date -u -d @2085978496`).
ERA1_UNIX_SECONDS = 2085978496

# 100 years, in nanoseconds: a comfortable bound for generated times.
CENTURY_NS = 100 * 366 * 86400 * NS

# 60 years, in nanoseconds: within the 68 years the era resolution allows.
SIXTY_YEARS_NS = 60 * 365 * 86400 * NS


class ConstantsTests(SynchronousTestCase):
    """
    Tests for the module constants.
    """

    def test_values(self) -> None:
        """
        The Unix epoch is 2208988800 s after the NTP prime epoch, an era is
        2**32 seconds, and the largest short value is 2**32 - 1.
        """
        self.assertEqual(NTP_UNIX_OFFSET, 2208988800)
        self.assertEqual(ERA_SECONDS, 4294967296)
        self.assertEqual(SHORT_MAX, 0xFFFFFFFF)

    def test_zero(self) -> None:
        """
        L{ZERO} is the all-zero timestamp, and it is "not set".
        """
        self.assertEqual(ZERO, NTPTimestamp(0))
        self.assertTrue(ZERO.isZero)
        self.assertFalse(NTPTimestamp(1).isZero)


class NTPTimestampValueTests(SynchronousTestCase):
    """
    Tests for the value semantics of L{NTPTimestamp}.
    """

    def test_range(self) -> None:
        """
        The value must be an C{int} from 0 to 2**64 - 1; anything else
        raises C{ValueError}.
        """
        NTPTimestamp(0)
        NTPTimestamp(2**64 - 1)
        for bad in (-1, 2**64, 1.5, True, "1", None):
            with self.assertRaises(ValueError, msg=repr(bad)):
                NTPTimestamp(bad)  # type: ignore[arg-type]

    def test_frozen(self) -> None:
        """
        A timestamp cannot be changed.
        """
        timestamp = NTPTimestamp(5)
        with self.assertRaises(dataclasses.FrozenInstanceError):
            timestamp.value = 6  # type: ignore[misc]

    def test_equalityAndHash(self) -> None:
        """
        Timestamps with the same value are equal and hash alike.
        """
        self.assertEqual(NTPTimestamp(7), NTPTimestamp(7))
        self.assertNotEqual(NTPTimestamp(7), NTPTimestamp(8))
        self.assertEqual(hash(NTPTimestamp(7)), hash(NTPTimestamp(7)))
        self.assertEqual(len({NTPTimestamp(7), NTPTimestamp(7)}), 1)

    def test_notOrdered(self) -> None:
        """
        Timestamps wrap around, so they do not support C{<}.
        """
        with self.assertRaises(TypeError):
            NTPTimestamp(1) < NTPTimestamp(2)  # type: ignore[operator]

    def test_secondsAndFraction(self) -> None:
        """
        C{seconds} is the upper 32 bits and C{fraction} the lower 32 bits.
        """
        timestamp = NTPTimestamp(0x12345678_9ABCDEF0)
        self.assertEqual(timestamp.seconds, 0x12345678)
        self.assertEqual(timestamp.fraction, 0x9ABCDEF0)

    def test_repr(self) -> None:
        """
        The representation shows the value in hexadecimal, as ntpq does.
        """
        self.assertEqual(
            repr(NTPTimestamp(0xE8FE6F80_80000000)),
            "NTPTimestamp(0xe8fe6f8080000000)",
        )


class BytesTests(SynchronousTestCase):
    """
    Tests for L{NTPTimestamp.fromBytes} and L{NTPTimestamp.toBytes}.
    """

    def test_fromBytes(self) -> None:
        """
        Eight bytes are read big-endian.
        """
        timestamp = NTPTimestamp.fromBytes(b"\xe8\xfe\x6f\x80\x80\x00\x00\x00")
        self.assertEqual(timestamp.seconds, 0xE8FE6F80)
        self.assertEqual(timestamp.fraction, 0x80000000)
        # 0xe8fe6f80 is 3908988800: 2023-11-14 22:13:20 UTC, Unix 1700000000.
        self.assertEqual(
            timestamp.toUnixNanoseconds(1_700_000_000 * NS), 1_700_000_000_500_000_000
        )

    def test_toBytes(self) -> None:
        """
        L{NTPTimestamp.toBytes} writes eight bytes big-endian.
        """
        self.assertEqual(
            NTPTimestamp(0x0102030405060708).toBytes(),
            b"\x01\x02\x03\x04\x05\x06\x07\x08",
        )
        self.assertEqual(ZERO.toBytes(), bytes(8))

    def test_wrongLength(self) -> None:
        """
        Anything but eight bytes raises C{ValueError}.
        """
        for data in (b"", bytes(7), bytes(9)):
            with self.assertRaises(ValueError):
                NTPTimestamp.fromBytes(data)

    @given(st.binary(min_size=8, max_size=8))
    def test_roundTrip(self, data: bytes) -> None:
        """
        Any eight bytes round-trip.
        """
        self.assertEqual(NTPTimestamp.fromBytes(data).toBytes(), data)


class UnixConversionTests(SynchronousTestCase):
    """
    Tests for L{NTPTimestamp.fromUnixNanoseconds} and
    L{NTPTimestamp.toUnixNanoseconds}.
    """

    def test_unixEpoch(self) -> None:
        """
        The Unix epoch is NTP second 2208988800 with a zero fraction.
        """
        timestamp = NTPTimestamp.fromUnixNanoseconds(0)
        self.assertEqual(timestamp.seconds, 2208988800)
        self.assertEqual(timestamp.fraction, 0)
        self.assertEqual(timestamp.toUnixNanoseconds(0), 0)

    def test_primeEpoch(self) -> None:
        """
        1900-01-01 00:00 UTC is the zero timestamp.
        """
        self.assertEqual(NTPTimestamp.fromUnixNanoseconds(-NTP_UNIX_OFFSET * NS), ZERO)

    def test_historicDates(self) -> None:
        """
        The dates of RFC 5905 Figure 4 have the era offsets it gives.
        """
        # 1 Jan 1972, the first day of UTC: Unix 63072000.
        self.assertEqual(
            NTPTimestamp.fromUnixNanoseconds(63072000 * NS).seconds, 2272060800
        )
        # 31 Dec 1999: Unix 946598400.
        self.assertEqual(
            NTPTimestamp.fromUnixNanoseconds(946598400 * NS).seconds, 3155587200
        )
        # 8 Feb 2036, first day of era 1: Unix 2086041600, era offset 63104.
        self.assertEqual(
            NTPTimestamp.fromUnixNanoseconds(2086041600 * NS).seconds, 63104
        )

    def test_fractionRounding(self) -> None:
        """
        The fraction is rounded to the nearest 2**-32 s.
        """
        self.assertEqual(NTPTimestamp.fromUnixNanoseconds(500_000_000).fraction, 2**31)
        # 1 ns is 4.29 units.
        self.assertEqual(NTPTimestamp.fromUnixNanoseconds(1).fraction, 4)
        # 999999999 ns is 2**32 - 4.29 units.
        self.assertEqual(
            NTPTimestamp.fromUnixNanoseconds(999_999_999).fraction, 2**32 - 4
        )
        # 250 us is 1073741.824 units.
        self.assertEqual(NTPTimestamp.fromUnixNanoseconds(250_000).fraction, 1073742)

    def test_beforeUnixEpoch(self) -> None:
        """
        Negative Unix times (1900 to 1970) convert too.
        """
        ns = -NS // 2
        timestamp = NTPTimestamp.fromUnixNanoseconds(ns)
        self.assertEqual(timestamp.seconds, NTP_UNIX_OFFSET - 1)
        self.assertEqual(timestamp.fraction, 2**31)
        self.assertEqual(timestamp.toUnixNanoseconds(0), ns)

    def test_era1Start(self) -> None:
        """
        A few seconds after 2036-02-07 06:28:16 UTC the seconds field has
        wrapped to a few seconds; a few seconds before, it is near 2**32.
        """
        after = NTPTimestamp.fromUnixNanoseconds((ERA1_UNIX_SECONDS + 4) * NS)
        self.assertEqual(after.seconds, 4)
        self.assertEqual(after.fraction, 0)
        before = NTPTimestamp.fromUnixNanoseconds((ERA1_UNIX_SECONDS - 4) * NS)
        self.assertEqual(before.seconds, 2**32 - 4)

    def test_resolveAcrossEra(self) -> None:
        """
        With a pivot a few seconds either side of the 2036 rollover, or in
        2037, or in 2024, instants on both sides of the rollover are
        recovered exactly.
        """
        era1 = ERA1_UNIX_SECONDS * NS
        instants = [era1 - 4 * NS - 123, era1 - 1, era1, era1 + 1, era1 + 4 * NS + 7]
        pivots = [
            # 2036-02-07 06:28:20 UTC and a few seconds either side.
            era1 + 4 * NS,
            era1 - 3 * NS,
            era1 + 10 * NS,
            # 2037-01-01 UTC.
            2114380800 * NS,
            # 2024-01-01 UTC.
            1704067200 * NS,
        ]
        for instant in instants:
            timestamp = NTPTimestamp.fromUnixNanoseconds(instant)
            for pivot in pivots:
                self.assertEqual(
                    timestamp.toUnixNanoseconds(pivot),
                    instant,
                    f"instant {instant}, pivot {pivot}",
                )

    def test_closestToPivot(self) -> None:
        """
        The answer is the time congruent to the timestamp (modulo one era)
        that is closest to the pivot, even if the pivot is more than 68 years
        away from the instant the timestamp was made from.
        """
        timestamp = NTPTimestamp.fromUnixNanoseconds(0)
        # 1970 seen from 2040: 1970 is 70 years back, 2106 is 66 years on.
        pivot = 2208988800 * NS
        self.assertEqual(timestamp.toUnixNanoseconds(pivot), ERA_SECONDS * NS)

    @given(
        st.integers(min_value=-CENTURY_NS, max_value=3 * CENTURY_NS),
        st.integers(min_value=-SIXTY_YEARS_NS, max_value=SIXTY_YEARS_NS),
    )
    def test_roundTrip(self, ns: int, pivotOffsetNs: int) -> None:
        """
        Any time between 1870 and 2270 converts to a timestamp and back to
        exactly the same nanosecond, given a pivot within 60 years.
        """
        timestamp = NTPTimestamp.fromUnixNanoseconds(ns)
        self.assertEqual(timestamp.toUnixNanoseconds(ns + pivotOffsetNs), ns)

    @given(st.integers(min_value=0, max_value=2**64 - 1), st.integers())
    def test_resolvedIsCongruent(self, value: int, pivotNs: int) -> None:
        """
        Whatever the pivot, the resolved time is within half an era of it and
        converts back to the same timestamp, to within the half nanosecond
        of rounding.
        """
        timestamp = NTPTimestamp(value)
        ns = timestamp.toUnixNanoseconds(pivotNs)
        self.assertLessEqual(abs(ns - pivotNs), ERA_SECONDS * NS // 2 + 1)
        self.assertLessEqual(
            abs(NTPTimestamp.fromUnixNanoseconds(ns) - timestamp), 0.5e-9
        )


class ArithmeticTests(SynchronousTestCase):
    """
    Tests for subtraction and L{NTPTimestamp.add}.
    """

    def test_subtract(self) -> None:
        """
        Subtracting gives the signed difference in seconds.
        """
        a = NTPTimestamp.fromUnixNanoseconds(1_700_000_000_750_000_000)
        b = NTPTimestamp.fromUnixNanoseconds(1_700_000_000_500_000_000)
        self.assertEqual(a - b, 0.25)
        self.assertEqual(b - a, -0.25)
        self.assertEqual(a - a, 0.0)

    def test_subtractResolution(self) -> None:
        """
        The difference keeps the full 2**-32 s resolution.
        """
        self.assertEqual(NTPTimestamp(2**40 + 1) - NTPTimestamp(2**40), 2**-32)

    def test_subtractAcrossEra(self) -> None:
        """
        The difference of two instants either side of the 2036 rollover is
        small and correct, in both directions.
        """
        before = NTPTimestamp.fromUnixNanoseconds(ERA1_UNIX_SECONDS * NS - NS // 2)
        after = NTPTimestamp.fromUnixNanoseconds(ERA1_UNIX_SECONDS * NS + 3 * NS // 2)
        self.assertEqual(after - before, 2.0)
        self.assertEqual(before - after, -2.0)

    def test_subtractOther(self) -> None:
        """
        Subtracting something that is not a timestamp raises C{TypeError}.
        """
        with self.assertRaises(TypeError):
            NTPTimestamp(1) - 1  # type: ignore[operator]

    @given(
        st.integers(min_value=-CENTURY_NS, max_value=3 * CENTURY_NS),
        st.integers(min_value=-SIXTY_YEARS_NS, max_value=SIXTY_YEARS_NS),
    )
    def test_subtractMatchesTime(self, ns: int, deltaNs: int) -> None:
        """
        For any two times less than 68 years apart, in any eras, the
        difference of their timestamps is the difference of the times (to
        within the rounding of the two timestamps and of a C{float}).
        """
        a = NTPTimestamp.fromUnixNanoseconds(ns + deltaNs)
        b = NTPTimestamp.fromUnixNanoseconds(ns)
        self.assertAlmostEqual(
            a - b, deltaNs / NS, delta=1e-9 + abs(deltaNs / NS) * 1e-15
        )

    def test_add(self) -> None:
        """
        L{NTPTimestamp.add} moves a timestamp forward or back.
        """
        timestamp = NTPTimestamp(10 << 32)
        self.assertEqual(timestamp.add(0.5), NTPTimestamp((10 << 32) + 2**31))
        self.assertEqual(timestamp.add(-1.5), NTPTimestamp((8 << 32) + 2**31))
        self.assertEqual(timestamp.add(0), timestamp)

    def test_addWraps(self) -> None:
        """
        Adding wraps modulo 2**64, into the next or previous era.
        """
        self.assertEqual(NTPTimestamp(2**64 - 2**32).add(2.0), NTPTimestamp(2**32))
        self.assertEqual(ZERO.add(-1.0), NTPTimestamp(2**64 - 2**32))

    def test_addAcrossEra(self) -> None:
        """
        Adding across the 2036 rollover gives the timestamp of the later
        instant.
        """
        before = NTPTimestamp.fromUnixNanoseconds(ERA1_UNIX_SECONDS * NS - NS)
        self.assertEqual(
            before.add(5.0),
            NTPTimestamp.fromUnixNanoseconds(ERA1_UNIX_SECONDS * NS + 4 * NS),
        )

    def test_addNotFinite(self) -> None:
        """
        Adding NaN or an infinity raises C{ValueError}.
        """
        for bad in (float("nan"), float("inf"), float("-inf")):
            with self.assertRaises(ValueError):
                ZERO.add(bad)


@pytest.mark.parametrize(
    "seconds, raw",
    [
        (0.0, 0),
        (1.0, 0x10000),
        (0.5, 0x8000),
        (1 / 65536, 1),
        (0.5 / 65536, 1),  # halves round up
        (0.49 / 65536, 0),
        (0.0305, 1999),  # 1998.848 units
        (65535.99998, 0xFFFFFFFF),
        (65536.0, 0xFFFFFFFF),
        (1e300, 0xFFFFFFFF),
        (float("inf"), 0xFFFFFFFF),
        (-0.001, 0),
        (float("-inf"), 0),
    ],
)
def test_encodeShort(seconds: float, raw: int) -> None:
    """
    L{encodeShort} rounds to the nearest 2**-16 s and clamps to the range
    of the format.
    """
    assert encodeShort(seconds) == raw


def test_encodeShortNaN() -> None:
    """
    L{encodeShort} refuses NaN.
    """
    with pytest.raises(ValueError):
        encodeShort(float("nan"))


@pytest.mark.parametrize(
    "raw, seconds",
    [
        (0, 0.0),
        (1, 1 / 65536),
        (0x8000, 0.5),
        (0x10000, 1.0),
        (0xFFFFFFFF, 65536 - 2**-16),
    ],
)
def test_decodeShort(raw: int, seconds: float) -> None:
    """
    L{decodeShort} reads unsigned 16.16 fixed point.
    """
    assert decodeShort(raw) == seconds


@pytest.mark.parametrize("raw", [-1, 2**32])
def test_decodeShortRange(raw: int) -> None:
    """
    L{decodeShort} refuses values that do not fit in 32 bits.
    """
    with pytest.raises(ValueError):
        decodeShort(raw)


@given(st.integers(min_value=0, max_value=SHORT_MAX))
def test_shortRoundTrip(raw: int) -> None:
    """
    Every raw short value survives decoding and encoding.
    """
    assert encodeShort(decodeShort(raw)) == raw
