# -*- test-case-name: tests.test_leapseconds -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The leap seconds file (C{leapfile PATH}): the IERS/NIST
C{leap-seconds.list}, as Debian ships it in
C{/usr/share/zoneinfo/leap-seconds.list}.

    #$	 3960835200                 (last update, NTP seconds)
    #@	 3991593600                 (expiry, NTP seconds)
    3692217600	37	# 1 Jan 2017    (a leap second before this instant:
                                     TAI - UTC from then on)
    #h	49db2447 571e5e1b 2f002a53 9c8da8e4 39b8e49e

The hash (C{#h}) is the SHA-1 of the digits of the update and expiry lines
and of every data line (comments left out), as ntpd checks it; a file whose
hash does not match is refused unless the C{leapfile} line says
C{ignorehash}.

L{LeapTable} answers what the daemon needs: TAI - UTC now (C{ntpq rv tai}),
the next leap second and whether it is announced yet (the leap indicator of
the last month before it), whether the kernel is to be armed (the last day
before it), and whether the file has expired or soon will (a warning at
start and on reload).
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import math
import os
import re
from dataclasses import dataclass

from ntpservice.config.files import MAX_LEAP_BYTES, readBounded

NTP_UNIX_OFFSET = 2_208_988_800
"""Seconds from 1900-01-01 (NTP's era 0) to 1970-01-01."""
DAY = 86400.0
EXPIRY_WARNING = 30 * DAY
"""Seconds: a file expiring within this is warned about."""

LEAP_NONE = 0
LEAP_ADDSECOND = 1
LEAP_DELSECOND = 2


class LeapFileError(ValueError):
    """
    A leap seconds file that cannot be used; the message starts with
    C{PATH:LINE} (or C{PATH}) and says why.
    """


@dataclass(frozen=True, slots=True)
class LeapTable:
    """
    The contents of a leap seconds file, times in Unix seconds (UTC).

    @ivar path: where it was read from.
    @ivar updated: when it was last updated.
    @ivar expires: when it expires.
    @ivar entries: C{(when, taiOffset)}: from C{when} on, TAI - UTC is
        C{taiOffset}, in time order.
    @ivar mtime: the file's modification time when read.
    """

    path: str
    updated: float
    expires: float
    entries: tuple[tuple[float, int], ...]
    mtime: float = 0.0

    def taiOffset(self, now: float) -> int:
        """TAI - UTC at C{now} (10 before the first entry)."""
        offset = 10
        for when, tai in self.entries:
            if when <= now:
                offset = tai
        return offset

    def nextLeap(self, now: float) -> tuple[float, int] | None:
        """
        The next leap second after C{now}: C{(when, +1 or -1)}, C{when}
        being the instant after it (00:00:00 UTC of the first day of a
        month), or C{None}.
        """
        previous = self.taiOffset(now)
        for when, tai in self.entries:
            if when > now:
                return when, (1 if tai > previous else -1)
        return None

    def lastLeap(self, now: float) -> float | None:
        """The instant after the last leap second before C{now}, or C{None}."""
        last = None
        for when, _ in self.entries[1:]:
            if when <= now:
                last = when
        return last

    def leapIndicator(self, now: float) -> int:
        """
        The leap indicator servers announce at C{now}: a leap second at the
        end of the current UTC month (the last month before it), else
        none.
        """
        leap = self.nextLeap(now)
        if leap is None:
            return LEAP_NONE
        when, sign = leap
        if not sameMonth(now, when - 1):
            return LEAP_NONE
        return LEAP_ADDSECOND if sign > 0 else LEAP_DELSECOND

    def kernelLeap(self, now: float) -> int:
        """
        How the kernel is to be armed at C{now}: the leap indicator of a
        leap second within the next day (the kernel inserts or deletes it
        at the end of the UTC day it is armed on), else none.
        """
        leap = self.nextLeap(now)
        if leap is None or leap[0] - now > DAY:
            return LEAP_NONE
        return LEAP_ADDSECOND if leap[1] > 0 else LEAP_DELSECOND

    def expired(self, now: float) -> bool:
        """Whether the file is past its expiry date."""
        return now >= self.expires


def sameMonth(a: float, b: float) -> bool:
    """Whether two instants fall in one UTC month."""
    ta, tb = time_gm(a), time_gm(b)
    return (ta.year, ta.month) == (tb.year, tb.month)


def time_gm(seconds: float) -> datetime.datetime:
    """
    The UTC date and time of the whole second C{seconds} falls in (floored:
    rounding would put an instant a microsecond before midnight on the
    next day).
    """
    return datetime.datetime.fromtimestamp(math.floor(seconds), datetime.timezone.utc)


def formatDate(seconds: float) -> str:
    """C{YYYY-MM-DD} in UTC."""
    return time_gm(seconds).strftime("%Y-%m-%d")


def formatNtpqStamp(seconds: float) -> str:
    """ntpd's C{YYYYMMDDHHMM} of C{leapsec} and C{expire}."""
    return time_gm(seconds).strftime("%Y%m%d%H%M")


_DIGITS = re.compile(r"\D")


def parseLeapSeconds(text: str, path: str, checkHash: bool = True) -> LeapTable:
    """
    Read the text of a leap seconds file.

    @raise LeapFileError: on a malformed line, a missing update or expiry
        date, no entries, or (with C{checkHash}) a missing or wrong hash.
    """
    digest = hashlib.sha1()
    updated = expires = None
    expected: str | None = None
    entries: list[tuple[float, int]] = []
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{path}:{number}"
        if line.startswith(("#$", "#@")):
            digits = _DIGITS.sub("", line[2:])
            if not digits:
                raise LeapFileError(f"{where}: {line[:2]} needs NTP seconds")
            digest.update(digits.encode("ascii"))
            value = int(digits) - NTP_UNIX_OFFSET
            if line.startswith("#$"):
                updated = float(value)
            else:
                expires = float(value)
            continue
        if line.startswith("#h"):
            words = line[2:].split()
            if len(words) != 5 or not all(re.fullmatch(r"[0-9a-fA-F]{1,8}", w) for w in words):
                raise LeapFileError(f"{where}: #h needs five hexadecimal words")
            expected = "".join(w.lower().rjust(8, "0") for w in words)
            continue
        if line.startswith("#"):
            continue
        data = line.split("#", 1)[0]
        if not data.strip():
            continue
        fields = data.split()
        if len(fields) != 2 or not all(f.isdigit() for f in fields):
            raise LeapFileError(f"{where}: expected NTP seconds and TAI - UTC")
        digest.update(_DIGITS.sub("", data).encode("ascii"))
        when = float(int(fields[0]) - NTP_UNIX_OFFSET)
        if entries and when <= entries[-1][0]:
            raise LeapFileError(f"{where}: entries out of order")
        entries.append((when, int(fields[1])))
    if updated is None or expires is None:
        raise LeapFileError(f"{path}: no update (#$) or expiry (#@) line")
    if not entries:
        raise LeapFileError(f"{path}: no leap second entries")
    if checkHash:
        if expected is None:
            raise LeapFileError(
                f"{path}: no hash (#h) line; 'leapfile {path} ignorehash' to use it anyway"
            )
        if digest.hexdigest() != expected:
            raise LeapFileError(
                f"{path}: the hash (#h) does not match the contents "
                "(a damaged or edited file)"
            )
    return LeapTable(path, updated, expires, tuple(entries))


def loadLeapFile(path: str, checkHash: bool = True) -> LeapTable:
    """
    Read and check a leap seconds file.

    @raise LeapFileError: when it cannot be read or used (also when it is
        not a regular file, or larger than
        L{MAX_LEAP_BYTES <ntpservice.config.files.MAX_LEAP_BYTES>}, 1 MiB).
    """
    try:
        text = readBounded(path, MAX_LEAP_BYTES).decode("ascii", "replace")
        mtime = os.stat(path).st_mtime
    except OSError as e:
        raise LeapFileError(f"{path}: {e.strerror}")
    table = parseLeapSeconds(text, path, checkHash)
    return LeapTable(table.path, table.updated, table.expires, table.entries, mtime)


def expiryWarning(table: LeapTable, now: float) -> str | None:
    """
    A warning for a file that has expired or expires within
    L{EXPIRY_WARNING}, else C{None}.
    """
    if table.expired(now):
        return (
            f"leapfile {table.path} expired on {formatDate(table.expires)}: leap "
            "seconds announced after it are unknown; install a current "
            "leap-seconds.list (Debian: the tzdata package)"
        )
    if table.expires - now < EXPIRY_WARNING:
        return (
            f"leapfile {table.path} expires on {formatDate(table.expires)}; "
            "install a current leap-seconds.list before then"
        )
    return None


def monthEnd(seconds: float) -> float:
    """The instant after the last second of the UTC month of C{seconds}."""
    t = time_gm(seconds)
    days = calendar.monthrange(t.year, t.month)[1]
    return calendar.timegm((t.year, t.month, days, 0, 0, 0)) + DAY
