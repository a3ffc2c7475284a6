# -*- test-case-name: tests.nts.test_cookies -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.nts.cookies}: cookies, master key rotation and the
key file.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.nts.cookies import CookieKeys, KeyFileError, MasterKeys, readKeyFile

DAY = 86400.0
KEYS = CookieKeys(15, b"c" * 32, b"s" * 32)


class CookieTests(SynchronousTestCase):
    """
    Cookies are sealed with the newest master key and opened by any kept
    one.
    """

    def test_roundTrip(self) -> None:
        """
        A cookie opens to the algorithm and keys sealed in it; it is 104
        bytes (a multiple of 4) and two cookies of the same keys differ.
        """
        ring = MasterKeys.load(None, 0.0)
        cookie = ring.seal(KEYS)
        self.assertEqual(len(cookie), 104)
        self.assertEqual(ring.open(cookie), KEYS)
        self.assertNotEqual(ring.seal(KEYS), cookie)

    def test_forged(self) -> None:
        """
        A changed byte, a truncated cookie or another server's cookie does
        not open.
        """
        ring = MasterKeys.load(None, 0.0)
        cookie = ring.seal(KEYS)
        for i in (0, 10, 30, 60, 103):
            forged = cookie[:i] + bytes([cookie[i] ^ 0x40]) + cookie[i + 1 :]
            self.assertIsNone(ring.open(forged), i)
        self.assertIsNone(ring.open(cookie[:40]))
        self.assertIsNone(MasterKeys.load(None, 0.0).open(cookie))

    def test_rotation(self) -> None:
        """
        A rotation makes a new key for new cookies; cookies of older keys
        open until their key is no longer among the C{keep} kept.
        """
        ring = MasterKeys.load(None, 0.0, rotation=DAY, keep=3)
        old = ring.seal(KEYS)
        self.assertFalse(ring.rotate(DAY - 1))
        self.assertTrue(ring.rotate(DAY))
        self.assertEqual(len(ring.keys), 2)
        self.assertNotEqual(ring.open(ring.seal(KEYS)), None)
        self.assertEqual(ring.open(old), KEYS)
        ring.rotate(2 * DAY)
        self.assertEqual(ring.open(old), KEYS)
        ring.rotate(3 * DAY)
        self.assertEqual(len(ring.keys), 3)
        self.assertIsNone(ring.open(old))

    def test_clockStepBack(self) -> None:
        """
        A newest key from the future (the clock was stepped back) is
        rotated at once.
        """
        ring = MasterKeys.load(None, 10 * DAY)
        self.assertTrue(ring.rotate(DAY))
        self.assertEqual(ring.nextRotation(), 2 * DAY)


class KeyFileTests(SynchronousTestCase):
    """
    The master keys are saved atomically, mode 0600, and read back.
    """

    def setUp(self) -> None:
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.path = os.path.join(self.directory, "nts-keys")

    def test_persisted(self) -> None:
        """
        A cookie made before a restart opens after it: the keys are read
        back from the file, which only its owner can read, and no temporary
        file is left behind.
        """
        ring = MasterKeys.load(self.path, 0.0)
        cookie = ring.seal(KEYS)
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o600)
        again = MasterKeys.load(self.path, 100.0)
        self.assertEqual(again.open(cookie), KEYS)
        self.assertEqual(os.listdir(self.directory), ["nts-keys"])

    def test_rotationSaved(self) -> None:
        """
        A rotation is saved: the file holds the new key too.
        """
        ring = MasterKeys.load(self.path, 0.0)
        ring.rotate(DAY)
        self.assertEqual(len(readKeyFile(self.path)), 2)

    def test_malformed(self) -> None:
        """
        A file that is not ours, or has a bad line, is refused with its
        name (and line).
        """
        with open(self.path, "w") as f:
            f.write("something else\n")
        e = self.assertRaises(KeyFileError, MasterKeys.load, self.path, 0.0)
        self.assertIn(self.path, str(e))
        with open(self.path, "w") as f:
            f.write("ntpservice-nts-keys 1\n0000000z 00 1\n")
        e = self.assertRaises(KeyFileError, readKeyFile, self.path)
        self.assertIn(f"{self.path}:2:", str(e))

    def test_unwritable(self) -> None:
        """
        A file that cannot be written gives a clear error.
        """
        path = os.path.join(self.directory, "missing", "nts-keys")
        e = self.assertRaises(KeyFileError, MasterKeys.load, path, 0.0)
        self.assertIn("cannot write NTS master keys", str(e))
