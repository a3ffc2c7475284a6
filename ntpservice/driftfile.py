# -*- test-case-name: tests.test_driftfile -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The drift file: the oscillator's frequency correction, kept across restarts.

The format is ntpd's: one line holding the frequency in PPM
(C{-12.345}). It is written atomically (a temporary file in the same
directory, fsync, rename, fsync of the directory), so a crash mid-write
leaves the old content. The temporary file has one name per drift file
(C{.NAME.tmp}, as ntpd's C{NAME.TEMP}), so crashes never leave more than
one behind (the next write reuses it). A file that is torn, garbage or out
of range is reported and ignored, never trusted. Only a regular file of at
most 256 bytes is read (a FIFO or C{/dev/zero} is refused without blocking).
"""

from __future__ import annotations

import math

from ntpservice.config.files import MAX_DRIFT_BYTES, readBounded, writeAtomically

MAX_FREQUENCY_PPM = 500.0


class DriftFileError(ValueError):
    """
    The drift file exists but cannot be trusted; the message says why.
    """


def readDriftFile(path: str) -> float | None:
    """
    Read the frequency.

    @return: the frequency in PPM, or C{None} when the file does not exist.
    @raise DriftFileError: when it exists but is unreadable, torn, garbage
        or out of range.
    """
    try:
        raw = readBounded(path, MAX_DRIFT_BYTES)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DriftFileError(f"{path}: cannot read: {e.strerror}")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise DriftFileError(f"{path}: not a drift file (binary content)")
    fields = text.split()
    if len(fields) != 1 or not text.endswith("\n"):
        raise DriftFileError(f"{path}: not a drift file (expected one number and a newline)")
    try:
        freq = float(fields[0])
    except ValueError:
        raise DriftFileError(f"{path}: not a number: {fields[0][:20]!r}")
    if not math.isfinite(freq) or abs(freq) > MAX_FREQUENCY_PPM:
        raise DriftFileError(
            f"{path}: frequency {fields[0][:20]} PPM is beyond +-{MAX_FREQUENCY_PPM:g}"
        )
    return freq


def writeDriftFile(path: str, freqPPM: float) -> None:
    """
    Write the frequency atomically.

    @raise OSError: when the file cannot be written (the old one stays).
    """
    writeAtomically(path, f"{freqPPM:.3f}\n".encode("ascii"), 0o644)
