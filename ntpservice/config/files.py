# -*- test-case-name: tests.test_config_files -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Bounded reading of the files an administrator names, and short quoting of
what they hold.

Every file the daemon reads because a configuration names it (C{ntp.conf},
C{includefile}, C{keys}, C{leapfile}, the NTS cookie-key file, the drift
file) is read with L{readBounded}: only a regular file (or C{/dev/null},
read as empty) is read, at most a fixed number of bytes. A FIFO, a
terminal or C{/dev/zero} is refused at once, without blocking in C{open}
or reading until memory runs out, and a file larger than its limit is
refused as a whole: C{FILE: too large (more than N bytes)}.

The refusals are L{OSError}s (L{BoundedReadError}) with a C{strerror}, so
that the callers' existing C{except OSError} report them like any other
file that cannot be read.

The files the daemon owns (the drift file, the NTS cookie keys) are written
with L{writeAtomically}: a crash mid-write leaves the old content or the
new, never a torn file.

An error message quotes what it found; L{shortQuote} and L{shortenMessage}
keep a quoted token short (its first L{QUOTE_LIMIT} characters, an
ellipsis and its length), so that a line holding a 16 MiB word makes a
one-line message.
"""

from __future__ import annotations

import errno
import os
import re
import stat

__all__ = [
    "BoundedReadError",
    "MAX_CONFIG_BYTES",
    "MAX_DRIFT_BYTES",
    "MAX_KEYS_BYTES",
    "MAX_LEAP_BYTES",
    "MAX_LINE_CHARACTERS",
    "MAX_NTS_KEYS_BYTES",
    "MAX_TOTAL_CONFIG_BYTES",
    "QUOTE_LIMIT",
    "lineTooLong",
    "readBounded",
    "readBoundedStat",
    "shortQuote",
    "writeAtomically",
    "shortenMessage",
]

MAX_CONFIG_BYTES = 1 << 20
"""The largest C{ntp.conf} or C{includefile}, in bytes (1 MiB)."""

MAX_TOTAL_CONFIG_BYTES = 8 << 20
"""The most configuration read in all, main file and includes, in bytes
(8 MiB: a file may include another many times over)."""

MAX_KEYS_BYTES = 1 << 20
"""The largest keys file, in bytes (1 MiB: ntpd's 65534 keys fit, barely,
only with short secrets; real files are a few kilobytes)."""

MAX_LEAP_BYTES = 1 << 20
"""The largest leap seconds file, in bytes (the IERS file is about 10 KB)."""

MAX_NTS_KEYS_BYTES = 1 << 20
"""The largest NTS cookie-key file, in bytes (a few hundred bytes a key)."""

MAX_DRIFT_BYTES = 256
"""The largest drift file, in bytes (it holds one number)."""

MAX_LINE_CHARACTERS = 4096
"""The longest line of a configuration or keys file, in characters."""

QUOTE_LIMIT = 64
"""How many characters of a token an error message quotes at most."""

_QUOTE_THRESHOLD = 256
"""A word of a message longer than this is shortened by L{shortenMessage}
(paths are quoted whole up to this length)."""

_MESSAGE_LIMIT = 2048
"""The longest message L{shortenMessage} returns, in characters."""

_LONG_WORD = re.compile(r"\S{%d,}" % (_QUOTE_THRESHOLD + 1))


class BoundedReadError(OSError):
    """
    A file was not read: it is not a regular file, or it is too large.
    C{strerror} says which (C{"too large (more than N bytes)"}, C{"not a
    regular file (a FIFO)"}).
    """


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def _isDevNull(st: os.stat_result) -> bool:
    if not stat.S_ISCHR(st.st_mode):
        return False
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(null.st_mode) and null.st_rdev == st.st_rdev


def readBounded(path: str, limit: int) -> bytes:
    """
    The contents of a regular file of at most C{limit} bytes (see
    L{readBoundedStat}).
    """
    return readBoundedStat(path, limit)[0]


def readBoundedStat(path: str, limit: int) -> tuple[bytes, os.stat_result]:
    """
    The contents of a regular file of at most C{limit} bytes, with the
    status of the very file read (its mode, for a permission check that
    cannot be about another file renamed into place meanwhile).

    The file is opened without blocking (a FIFO with no writer does not
    hang the daemon), checked with C{fstat}, and read up to C{limit + 1}
    bytes, so that neither a lying size nor a growing file can make us
    read more.

    @param path: the file.
    @param limit: the most bytes accepted.
    @return: its bytes (C{b""} for C{/dev/null}) and its C{fstat}.
    @raise BoundedReadError: for a file that is not a regular file (a
        directory is reported as C{EISDIR}, "Is a directory"), or that
        holds more than C{limit} bytes.
    @raise OSError: when it cannot be opened or read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise BoundedReadError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(st.st_mode):
            if _isDevNull(st):
                return b"", st
            raise BoundedReadError(
                errno.EINVAL, f"not a regular file ({_kind(st.st_mode)})", path
            )
        tooLarge = BoundedReadError(
            errno.EFBIG, f"too large (more than {limit} bytes)", path
        )
        if st.st_size > limit:
            raise tooLarge
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        if remaining <= 0:
            raise tooLarge
        return b"".join(chunks), st
    finally:
        os.close(fd)


def shortQuote(token: str, limit: int = QUOTE_LIMIT) -> str:
    """
    C{repr(token)}, or for a token longer than C{limit} characters the
    C{repr} of its first C{limit} characters followed by an ellipsis and
    its length: C{'aaaa...'... (16777216 characters)}.
    """
    if len(token) <= limit:
        return repr(token)
    return f"{token[:limit]!r}\u2026 ({len(token)} characters)"


def _shortWord(match: re.Match[str]) -> str:
    word = match.group(0)
    return f"{word[:QUOTE_LIMIT]}\u2026 ({len(word)} characters)"


def lineTooLong(line: str) -> str | None:
    """
    @return: why C{line} is refused when it is longer than
        L{MAX_LINE_CHARACTERS} (the message of the C{FILE:LINE} error of
        every file we parse line by line), else C{None}.
    """
    if len(line) <= MAX_LINE_CHARACTERS:
        return None
    return (
        f"line too long ({len(line)} characters; the limit is "
        f"{MAX_LINE_CHARACTERS})"
    )


def shortenMessage(message: str) -> str:
    """
    A message with every word (run of non-space characters) longer than
    256 characters cut to its first L{QUOTE_LIMIT} characters, an ellipsis
    and its length, and the whole cut to 2048 characters.
    """
    if len(message) <= _QUOTE_THRESHOLD:
        return message
    message = _LONG_WORD.sub(_shortWord, message)
    if len(message) > _MESSAGE_LIMIT:
        message = f"{message[:_MESSAGE_LIMIT]}\u2026 ({len(message)} characters)"
    return message


def writeAtomically(path: str, data: bytes, mode: int) -> None:
    """
    Replace C{path} with C{data}: written to a temporary file in the same
    directory with C{mode}, synced, renamed over C{path}, then the
    directory synced (where the file system allows it), so that a crash
    leaves the old file or the new one. The temporary file has one name per
    file (C{.NAME.tmp}): crashes never leave more than one behind.

    @raise OSError: when the file cannot be written (the old one stays,
        and the temporary file is removed).
    """
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    try:
        dirfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dirfd)
    except OSError:
        pass
    finally:
        os.close(dirfd)
