# -*- test-case-name: tests.test_config_files -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.config.files}: every file a configuration names is
read bounded (regular files only, at most so many bytes, without blocking
on a FIFO), and error messages quote tokens short (issue 17).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.auth.keys import KeysError, parseKeysFile, parseKeysText
from ntpservice.config import ConfigError, parseFile, parseString
from ntpservice.config.files import (
    MAX_CONFIG_BYTES,
    MAX_DRIFT_BYTES,
    MAX_KEYS_BYTES,
    MAX_LINE_CHARACTERS,
    MAX_TOTAL_CONFIG_BYTES,
    QUOTE_LIMIT,
    BoundedReadError,
    readBounded,
    readBoundedStat,
    shortenMessage,
    shortQuote,
)
from ntpservice.driftfile import DriftFileError, readDriftFile
from ntpservice.leapseconds import LeapFileError, loadLeapFile
from ntpservice.nts.cookies import KeyFileError, readKeyFile

HUGE_TOKEN = "a" * (16 << 20)
"""A 16 MiB word."""


def makeDirectory(case: SynchronousTestCase) -> str:
    """
    A fresh temporary directory, removed after C{case}.
    """
    path = os.path.realpath(tempfile.mkdtemp(prefix="ntpservice-files-"))
    case.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


def writeFile(directory: str, name: str, data: bytes | str) -> str:
    """
    Write C{data} to C{directory/name}; return the path.
    """
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return path


def sparseFile(directory: str, name: str, size: int) -> str:
    """
    A sparse file of C{size} bytes (no disk used).
    """
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def fifo(directory: str, name: str = "fifo") -> str:
    """
    A FIFO nobody writes to: opening it for reading would block.
    """
    path = os.path.join(directory, name)
    os.mkfifo(path)
    return path


class ReadBoundedTests(SynchronousTestCase):
    """
    L{readBounded}.
    """

    def setUp(self) -> None:
        self.directory = makeDirectory(self)

    def test_regularFile(self) -> None:
        """
        A regular file of at most C{limit} bytes is read whole.
        """
        path = writeFile(self.directory, "f", b"x" * 100)
        self.assertEqual(readBounded(path, 100), b"x" * 100)

    def test_status(self) -> None:
        """
        L{readBoundedStat} also gives the status of the very file it read:
        replacing the file afterwards (a rename into place) does not change
        the mode it reports, which the keys file's permission check uses.
        """
        path = writeFile(self.directory, "f", b"key")
        os.chmod(path, 0o600)
        data, status = readBoundedStat(path, 100)
        other = writeFile(self.directory, "g", b"other")
        os.chmod(other, 0o644)
        os.rename(other, path)
        self.assertEqual((data, status.st_mode & 0o777), (b"key", 0o600))
        self.assertEqual(readBoundedStat(os.devnull, 10)[0], b"")

    def test_tooLarge(self) -> None:
        """
        One byte more than the limit is refused: EFBIG, "too large (more
        than N bytes)".
        """
        path = writeFile(self.directory, "f", b"x" * 101)
        error = self.assertRaises(BoundedReadError, readBounded, path, 100)
        self.assertEqual(error.errno, errno.EFBIG)
        self.assertEqual(error.strerror, "too large (more than 100 bytes)")
        self.assertIsInstance(error, OSError)

    def test_sparseHugeFile(self) -> None:
        """
        A 100 MiB sparse file is refused from its size, without reading it.
        """
        path = sparseFile(self.directory, "big", 100 << 20)
        error = self.assertRaises(BoundedReadError, readBounded, path, 1 << 20)
        self.assertEqual(error.strerror, "too large (more than 1048576 bytes)")

    def test_lyingSize(self) -> None:
        """
        A file whose size says 0 but which holds more (a C{/proc} file) is
        read only up to the limit and refused.
        """
        error = self.assertRaises(BoundedReadError, readBounded, "/proc/self/status", 8)
        self.assertEqual(error.strerror, "too large (more than 8 bytes)")

    def test_devZero(self) -> None:
        """
        C{/dev/zero} is not read: it is not a regular file.
        """
        error = self.assertRaises(BoundedReadError, readBounded, "/dev/zero", 1 << 20)
        self.assertEqual(error.strerror, "not a regular file (a character device)")

    def test_fifo(self) -> None:
        """
        A FIFO with no writer is refused at once (opening it does not block).
        """
        error = self.assertRaises(
            BoundedReadError, readBounded, fifo(self.directory), 1 << 20
        )
        self.assertEqual(error.strerror, "not a regular file (a FIFO)")

    def test_devNull(self) -> None:
        """
        C{/dev/null} reads as empty (C{-c /dev/null} is an empty
        configuration, as with chronyd C{-f /dev/null}).
        """
        self.assertEqual(readBounded(os.devnull, 10), b"")

    def test_directory(self) -> None:
        """
        A directory is refused with EISDIR, as C{open()} does.
        """
        error = self.assertRaises(OSError, readBounded, self.directory, 10)
        self.assertEqual(error.errno, errno.EISDIR)
        self.assertEqual(error.strerror, "Is a directory")

    def test_missing(self) -> None:
        """
        A missing file raises C{FileNotFoundError}, as C{open()} does.
        """
        self.assertRaises(
            FileNotFoundError, readBounded, os.path.join(self.directory, "no"), 10
        )


class QuoteTests(SynchronousTestCase):
    """
    L{shortQuote} and L{shortenMessage}.
    """

    def test_shortToken(self) -> None:
        """
        A token of at most 64 characters is quoted whole.
        """
        self.assertEqual(shortQuote("x" * QUOTE_LIMIT), repr("x" * QUOTE_LIMIT))

    def test_longToken(self) -> None:
        """
        A longer token: its first 64 characters, an ellipsis and its length.
        """
        self.assertEqual(
            shortQuote(HUGE_TOKEN),
            f"{'a' * 64!r}\u2026 (16777216 characters)",
        )

    def test_messageWords(self) -> None:
        """
        A word longer than 256 characters in a message is cut short; shorter
        words (paths) are left whole.
        """
        path = "/" + "p" * 200
        message = shortenMessage(f"{path}: unknown thing {HUGE_TOKEN!r} here")
        self.assertEqual(
            message,
            f"{path}: unknown thing '{'a' * 63}\u2026 (16777218 characters) here",
        )

    def test_messageLength(self) -> None:
        """
        A message of many short words is cut to about 2 KiB.
        """
        message = shortenMessage("word " * 100_000)
        self.assertLess(len(message), 2100)
        self.assertTrue(message.endswith("(500000 characters)"))


class ConfigurationBoundsTests(SynchronousTestCase):
    """
    ntp.conf and C{includefile}: what is read and what is echoed is bounded.
    """

    def setUp(self) -> None:
        self.directory = makeDirectory(self)

    def test_hugeToken(self) -> None:
        """
        A 16 MiB word is refused as a line too long, with a short message.
        """
        error = self.assertRaises(ConfigError, parseString, HUGE_TOKEN, "t.conf")
        self.assertEqual(
            str(error), "t.conf:1: line too long (16777216 characters; the limit is 4096)"
        )

    def test_longTokenQuotedShort(self) -> None:
        """
        An unknown directive of 4000 characters (a line within the limit)
        is quoted by its first 64 characters and its length.
        """
        error = self.assertRaises(ConfigError, parseString, "b" * 4000, "t.conf")
        self.assertEqual(
            str(error),
            f"t.conf:1: unknown directive {'b' * 64!r}\u2026 (4000 characters)",
        )

    def test_longArgumentQuotedShort(self) -> None:
        """
        A directive's own error message quoting a 4000-character argument
        is cut short too (L{ConfigError} shortens every message).
        """
        error = self.assertRaises(
            ConfigError, parseString, "restrict default " + "c" * 4000, "t.conf"
        )
        self.assertLess(len(str(error)), 300)
        self.assertIn("\u2026", str(error))

    def test_lineLimit(self) -> None:
        """
        A comment line of exactly 4096 characters is accepted, one more is not.
        """
        parseString("#" * MAX_LINE_CHARACTERS)
        error = self.assertRaises(
            ConfigError, parseString, "#" * (MAX_LINE_CHARACTERS + 1), "t.conf"
        )
        self.assertEqual(
            str(error), "t.conf:1: line too long (4097 characters; the limit is 4096)"
        )

    def test_configDevZero(self) -> None:
        """
        C{-c /dev/zero} is refused at once.
        """
        error = self.assertRaises(ConfigError, parseFile, "/dev/zero")
        self.assertEqual(
            str(error),
            "/dev/zero: cannot read configuration file: "
            "not a regular file (a character device)",
        )

    def test_configFifo(self) -> None:
        """
        A FIFO as the configuration is refused without blocking.
        """
        path = fifo(self.directory)
        error = self.assertRaises(ConfigError, parseFile, path)
        self.assertEqual(
            str(error),
            f"{path}: cannot read configuration file: not a regular file (a FIFO)",
        )

    def test_configTooLarge(self) -> None:
        """
        A configuration file of more than 1 MiB is refused.
        """
        path = sparseFile(self.directory, "ntp.conf", MAX_CONFIG_BYTES + 1)
        error = self.assertRaises(ConfigError, parseFile, path)
        self.assertEqual(
            str(error),
            f"{path}: cannot read configuration file: too large (more than "
            f"{MAX_CONFIG_BYTES} bytes)",
        )

    def test_includeDevZero(self) -> None:
        """
        C{includefile /dev/zero} is an error at its line.
        """
        path = writeFile(self.directory, "ntp.conf", "\nincludefile /dev/zero\n")
        error = self.assertRaises(ConfigError, parseFile, path)
        self.assertEqual(
            str(error),
            f"{path}:2: cannot read includefile '/dev/zero': "
            "not a regular file (a character device)",
        )

    def test_includeFifo(self) -> None:
        """
        C{includefile} naming a FIFO is an error at its line, at once.
        """
        fifo(self.directory, "inc")
        path = writeFile(self.directory, "ntp.conf", "includefile inc\n")
        error = self.assertRaises(ConfigError, parseFile, path)
        self.assertEqual(
            str(error),
            f"{path}:1: cannot read includefile 'inc': not a regular file (a FIFO)",
        )

    def test_includeHuge(self) -> None:
        """
        C{includefile} naming a 100 MiB sparse file is refused as too large.
        """
        sparseFile(self.directory, "big.conf", 100 << 20)
        path = writeFile(self.directory, "ntp.conf", "includefile big.conf\n")
        error = self.assertRaises(ConfigError, parseFile, path)
        self.assertEqual(
            str(error),
            f"{path}:1: cannot read includefile 'big.conf': too large "
            f"(more than {MAX_CONFIG_BYTES} bytes)",
        )

    def test_includeLongName(self) -> None:
        """
        A missing include of a 4000-character name is quoted short.
        """
        path = writeFile(self.directory, "ntp.conf", "includefile " + "n" * 4000 + "\n")
        error = self.assertRaises(ConfigError, parseFile, path)
        self.assertLess(len(str(error)), 300)
        self.assertIn("(4000 characters)", str(error))

    def test_includeTotal(self) -> None:
        """
        One file included again and again (no loop) may not add up to more
        than 8 MiB of configuration in all.
        """
        writeFile(self.directory, "part.conf", ("#" * 4000 + "\n") * 250)
        count = MAX_TOTAL_CONFIG_BYTES // 1000_250 + 1
        path = writeFile(
            self.directory, "ntp.conf", "includefile part.conf\n" * count
        )
        error = self.assertRaises(ConfigError, parseFile, path)
        self.assertEqual(
            str(error),
            f"{path}:{count}: includefile 'part.conf': more than "
            f"{MAX_TOTAL_CONFIG_BYTES} characters of configuration in all "
            "(the main file and its includes)",
        )


class KeysBoundsTests(SynchronousTestCase):
    """
    The keys file is read bounded.
    """

    def setUp(self) -> None:
        self.directory = makeDirectory(self)

    def test_devZero(self) -> None:
        """
        C{keys /dev/zero} is refused at once.
        """
        error = self.assertRaises(KeysError, parseKeysFile, "/dev/zero")
        self.assertEqual(
            str(error),
            "/dev/zero: cannot read keys file: not a regular file (a character device)",
        )

    def test_fifo(self) -> None:
        """
        A FIFO is refused without blocking.
        """
        path = fifo(self.directory)
        error = self.assertRaises(KeysError, parseKeysFile, path)
        self.assertEqual(
            str(error), f"{path}: cannot read keys file: not a regular file (a FIFO)"
        )

    def test_tooLarge(self) -> None:
        """
        A keys file of more than 1 MiB is refused.
        """
        path = sparseFile(self.directory, "ntp.keys", MAX_KEYS_BYTES + 1)
        error = self.assertRaises(KeysError, parseKeysFile, path)
        self.assertEqual(
            str(error),
            f"{path}: cannot read keys file: too large (more than {MAX_KEYS_BYTES} bytes)",
        )

    def test_longLine(self) -> None:
        """
        A line longer than 4096 characters is refused, without quoting it.
        """
        error = self.assertRaises(
            KeysError, parseKeysText, "1 MD5 " + "f" * 10_000, "k"
        )
        self.assertEqual(
            str(error), "k:1: line too long (10006 characters; the limit is 4096)"
        )


class OtherFilesBoundsTests(SynchronousTestCase):
    """
    The leap seconds file, the drift file and the NTS cookie-key file.
    """

    def setUp(self) -> None:
        self.directory = makeDirectory(self)

    def test_leapFile(self) -> None:
        """
        A FIFO, C{/dev/zero} or a 100 MiB file as the leap seconds file is
        refused with a short message.
        """
        big = sparseFile(self.directory, "leap", 100 << 20)
        pipe = fifo(self.directory)
        for path, reason in [
            ("/dev/zero", "not a regular file (a character device)"),
            (pipe, "not a regular file (a FIFO)"),
            (big, "too large (more than 1048576 bytes)"),
        ]:
            error = self.assertRaises(LeapFileError, loadLeapFile, path)
            self.assertEqual(str(error), f"{path}: {reason}")

    def test_driftFile(self) -> None:
        """
        A FIFO, C{/dev/zero} or a file of more than 256 bytes as the drift
        file is refused (the caller then ignores it).
        """
        big = writeFile(self.directory, "drift", "1.000\n" + " " * MAX_DRIFT_BYTES)
        pipe = fifo(self.directory)
        for path, reason in [
            ("/dev/zero", "not a regular file (a character device)"),
            (pipe, "not a regular file (a FIFO)"),
            (big, "too large (more than 256 bytes)"),
        ]:
            error = self.assertRaises(DriftFileError, readDriftFile, path)
            self.assertEqual(str(error), f"{path}: cannot read: {reason}")

    def test_ntsKeyFile(self) -> None:
        """
        A FIFO, C{/dev/zero} or a 100 MiB file as the NTS cookie-key file is
        refused.
        """
        big = sparseFile(self.directory, "nts", 100 << 20)
        pipe = fifo(self.directory)
        for path, reason in [
            ("/dev/zero", "not a regular file (a character device)"),
            (pipe, "not a regular file (a FIFO)"),
            (big, "too large (more than 1048576 bytes)"),
        ]:
            error = self.assertRaises(KeyFileError, readKeyFile, path)
            self.assertEqual(str(error), f"cannot read NTS master keys {path}: {reason}")


class ReloadBoundsTests(SynchronousTestCase):
    """
    SIGHUP's reload of the keys and leap seconds files, with a file that
    became a FIFO or huge: the ones in use are kept, a short message logged.
    """

    def setUp(self) -> None:
        self.directory = makeDirectory(self)
        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def logged(self) -> list[str]:
        from twisted.logger import formatEvent

        return [formatEvent(event) for event in self.events]

    def test_keysAndLeapFileReload(self) -> None:
        """
        The keys file replaced by a FIFO, then by a 100 MiB sparse file, and
        the leap file by C{/dev/zero}-like content: each reload keeps what
        is in use and logs one short line naming the reason.
        """
        from ntpservice.config import parseString as parse
        from ntpservice.service import makeNTPService
        from tests.test_leapseconds import leapFileText, utc

        keys = writeFile(self.directory, "ntp.keys", "1 MD5 first\n")
        os.chmod(keys, 0o600)
        leap = writeFile(
            self.directory,
            "leap",
            leapFileText(utc(2100, 1, 1), [(utc(1972, 1, 1), 10), (utc(2017, 1, 1), 37)]),
        )
        configuration = parse(
            f"keys {keys}\ntrustedkey 1\nleapfile {leap}\nserver 192.0.2.1 key 1\n"
        )
        service = makeNTPService(
            configuration,
            port=0,
            interfaces=("127.0.0.1",),
            clockAdjust=False,
            reactor=MemoryReactorClock(),
        )
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        ring = service.daemon.keyring
        table = service.daemon.leapTable
        self.assertIsNotNone(table)

        os.unlink(keys)
        os.mkfifo(keys)
        os.unlink(leap)
        sparseFile(self.directory, "leap", 100 << 20)
        service.hangup()
        self.assertIs(service.daemon.keyring, ring)
        self.assertIs(service.daemon.leapTable, table)

        os.unlink(keys)
        sparseFile(self.directory, "ntp.keys", 100 << 20)
        service.reloadKeys()
        self.assertIs(service.daemon.keyring, ring)

        lines = self.logged()
        self.assertIn(
            f"Keys not reloaded: {configuration.keys.source}: {keys}: "
            "cannot read keys file: not a regular file (a FIFO)",
            lines,
        )
        self.assertIn(
            f"Leap seconds file not reloaded: {leap}: too large (more than "
            "1048576 bytes)",
            lines,
        )
        self.assertIn(
            f"Keys not reloaded: {configuration.keys.source}: {keys}: "
            "cannot read keys file: too large (more than 1048576 bytes)",
            lines,
        )
