# -*- test-case-name: tests.core.test_timestamps -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
NTP time formats: the 64-bit timestamp and the 32-bit short format.

An NTP timestamp is an unsigned 32.32 fixed-point number of seconds since
the prime epoch of the current I{era} (era 0 began 1900-01-01 00:00 UTC,
era 1 begins 2036-02-07 06:28:16 UTC).  The era itself is not on the wire,
so converting a timestamp back to an absolute time needs a I{pivot}: a
nearby absolute time the caller already knows (the local clock), and the
answer is the instant congruent to the timestamp that is closest to it.

Absolute times in ntpservice are integer nanoseconds since the Unix epoch
(see L{ntpservice.interfaces}); all conversions here are exact integer
arithmetic, rounded to the nearest unit of the target format.

@see: RFC 5905 section 6
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

__all__ = [
    "NTP_UNIX_OFFSET",
    "ERA_SECONDS",
    "SHORT_MAX",
    "NTPTimestamp",
    "ZERO",
    "encodeShort",
    "decodeShort",
]

NTP_UNIX_OFFSET: int = 2208988800
"""Seconds from the NTP prime epoch (1900-01-01) to the Unix epoch (1970-01-01)."""

ERA_SECONDS: int = 2**32
"""Length of one NTP era in seconds (about 136 years)."""

SHORT_MAX: int = 0xFFFFFFFF
"""The largest raw NTP short value (65535.99998 seconds)."""

_NS_PER_SECOND = 1_000_000_000
_OFFSET_NS = NTP_UNIX_OFFSET * _NS_PER_SECOND
_FRACTION_SCALE = 2**32  # timestamp units per second
_HALF_SECOND_NS = _NS_PER_SECOND // 2
_TWO_64 = 2**64
_MASK_64 = _TWO_64 - 1
_TWO_63 = 2**63


@dataclass(frozen=True, slots=True, repr=False)
class NTPTimestamp:
    """
    A 64-bit NTP timestamp, exactly as it is on the wire.

    Instances are immutable and hashable.  They are deliberately not
    ordered: timestamps wrap around every era, so C{<} would be wrong near
    2036.  Compare them by subtracting (C{a - b} is a signed number of
    seconds, correct across an era boundary) or convert them with
    L{toUnixNanoseconds}.

    A value of zero means "not set" (RFC 5905 section 6); see L{isZero}.

    @ivar value: the on-wire unsigned integer, 32 bits of seconds and 32
        bits of fraction (units of 2**-32 s, about 233 picoseconds),
        C{0 <= value < 2**64}.

    @see: RFC 5905 section 6
    """

    value: int

    def __post_init__(self) -> None:
        """
        Check the range of C{value}.

        @raise ValueError: if C{value} is not an C{int} in [0, 2**64).
        """
        value = self.value
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not 0 <= value <= _MASK_64
        ):
            raise ValueError(f"NTP timestamp out of range: {value!r}")

    @classmethod
    def fromUnixNanoseconds(cls, ns: int) -> NTPTimestamp:
        """
        Convert an absolute time to a timestamp of the era it falls in.

        The fraction is rounded to the nearest 2**-32 s, so that
        L{toUnixNanoseconds} gives back exactly C{ns}.

        @param ns: nanoseconds since the Unix epoch (may be negative).
        @return: the timestamp, reduced modulo 2**32 seconds.
        """
        fixed = (((ns + _OFFSET_NS) << 32) + _HALF_SECOND_NS) // _NS_PER_SECOND
        return _fromTrustedValue(fixed & _MASK_64)

    def toUnixNanoseconds(self, pivotNs: int) -> int:
        """
        Resolve the era: find the absolute time this timestamp stands for.

        @param pivotNs: a time known to be within 68 years of the answer
            (normally the local clock), in nanoseconds since the Unix epoch.
        @return: the time congruent to this timestamp modulo 2**32 seconds
            that is closest to C{pivotNs}, in nanoseconds since the Unix
            epoch, rounded to the nearest nanosecond.
        """
        pivotFixed = ((pivotNs + _OFFSET_NS) << 32) // _NS_PER_SECOND
        delta = (self.value - pivotFixed) & _MASK_64
        if delta >= _TWO_63:
            delta -= _TWO_64
        fixed = pivotFixed + delta
        return ((fixed * _NS_PER_SECOND + _TWO_31) >> 32) - _OFFSET_NS

    @classmethod
    def fromBytes(cls, data: bytes) -> NTPTimestamp:
        """
        Decode a timestamp from its wire form.

        @param data: exactly 8 bytes, big-endian.
        @raise ValueError: if C{data} is not 8 bytes long.
        """
        if len(data) != 8:
            raise ValueError(f"NTP timestamp needs 8 bytes, got {len(data)}")
        return _fromTrustedValue(int.from_bytes(data, "big"))

    def toBytes(self) -> bytes:
        """
        @return: the 8-byte big-endian wire form.
        """
        return self.value.to_bytes(8, "big")

    @property
    def seconds(self) -> int:
        """
        The seconds field: whole seconds since the start of the era.
        """
        return self.value >> 32

    @property
    def fraction(self) -> int:
        """
        The fraction field, in units of 2**-32 seconds.
        """
        return self.value & 0xFFFFFFFF

    @property
    def isZero(self) -> bool:
        """
        Whether this is the zero timestamp, which RFC 5905 uses for
        "unknown" or "not set" (a client's first C{org}, for instance).
        """
        return self.value == 0

    def __sub__(self, other: NTPTimestamp) -> float:
        """
        Subtract two timestamps in twos-complement arithmetic.

        @return: C{self - other} in seconds, a signed 64-bit fixed-point
            difference converted to C{float}; correct across an era
            boundary as long as the two are less than 68 years apart.
        @see: RFC 5905 section 6
        """
        if not isinstance(other, NTPTimestamp):
            return NotImplemented
        delta = (self.value - other.value) & _MASK_64
        if delta >= _TWO_63:
            delta -= _TWO_64
        return delta / _FRACTION_SCALE

    def add(self, seconds: float) -> NTPTimestamp:
        """
        Move this timestamp by a number of seconds.

        @param seconds: seconds to add (negative to go back), rounded to the
            nearest 2**-32 s.
        @return: the new timestamp, wrapped modulo 2**64 (into the next or
            previous era if need be).
        @raise ValueError: if C{seconds} is not finite.
        """
        if not math.isfinite(seconds):
            raise ValueError(f"cannot add {seconds!r} seconds to a timestamp")
        return _fromTrustedValue(
            (self.value + round(seconds * _FRACTION_SCALE)) & _MASK_64
        )

    def __repr__(self) -> str:
        return f"NTPTimestamp(0x{self.value:016x})"


_TWO_31 = 2**31
_newObject = object.__new__
# The slot descriptor writes the field of the frozen dataclass directly.
_setValue: Callable[[NTPTimestamp, int], None] = getattr(NTPTimestamp, "value").__set__


def _fromTrustedValue(value: int) -> NTPTimestamp:
    """
    Build an L{NTPTimestamp} without range checks, for values that are in
    range by construction (masked, or unpacked from 8 bytes).  This is the
    codec's hot path.
    """
    if value == 0:
        return ZERO
    timestamp: NTPTimestamp = _newObject(NTPTimestamp)
    _setValue(timestamp, value)
    return timestamp


ZERO: NTPTimestamp = NTPTimestamp(0)
"""The zero timestamp: "unknown" or "not set"."""


def encodeShort(seconds: float) -> int:
    """
    Encode a non-negative duration in the NTP short format (unsigned 16.16
    fixed-point seconds), as used by the root delay and root dispersion.

    @param seconds: the duration in seconds; values below 0 are clamped to
        0 and values above 65535.99998 to L{SHORT_MAX}.
    @return: the raw 32-bit value, rounded to the nearest 2**-16 s.
    @raise ValueError: if C{seconds} is NaN.
    @see: RFC 5905 section 6
    """
    scaled = seconds * 65536.0
    if scaled >= SHORT_MAX:
        return SHORT_MAX
    if scaled > 0.0:
        return int(scaled + 0.5)
    if scaled != scaled:
        raise ValueError("cannot encode NaN in NTP short format")
    return 0


def decodeShort(raw: int) -> float:
    """
    Decode an NTP short format value.

    @param raw: the raw 32-bit unsigned value from the wire.
    @return: the duration in seconds.
    @raise ValueError: if C{raw} is not in [0, 2**32).
    @see: RFC 5905 section 6
    """
    if not 0 <= raw <= SHORT_MAX:
        raise ValueError(f"NTP short value out of range: {raw!r}")
    return raw / 65536.0
