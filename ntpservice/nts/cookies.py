# -*- test-case-name: tests.nts.test_cookies -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The NTS server's cookies and the master keys that encrypt them.

A cookie is self-contained: the server keeps no state per client. It is
the identifier of the master key that sealed it, a nonce, and the AEAD
output over the negotiated algorithm and the two keys of the client
(client-to-server and server-to-client)::

    key identifier (4) | nonce (16) | SIV (16) | AEAD id (2) | 0 (2) | C2S | S2C

Master keys are AES-SIV-CMAC-256 keys, rotated (daily by default); the
most recent ones are kept, so a cookie works until its master key ages
out. They are saved in a file only the daemon can read, written whole
and renamed over the old one (never half written), so cookies survive a
restart.

@see: RFC 8915 section 6 (suggested format for NTS cookies)
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any, Callable

from ntpservice.config.files import MAX_NTS_KEYS_BYTES, readBounded, writeAtomically
from ntpservice.nts.aead import AEAD_ALGORITHMS, cipher, open_, seal

__all__ = [
    "CookieKeys",
    "DEFAULT_KEEP",
    "DEFAULT_ROTATION",
    "KeyFileError",
    "MasterKey",
    "MasterKeys",
]

DEFAULT_ROTATION = 86400.0
"""Seconds between master key rotations (daily)."""

DEFAULT_KEEP = 7
"""How many master keys are kept (the newest and six older ones): a cookie
works for six to seven rotations after it was made."""

MASTER_KEY_LENGTH = 32
"""Bytes of a master key (AES-SIV-CMAC-256)."""

NONCE_LENGTH = 16

FILE_MAGIC = "ntpservice-nts-keys 1"
"""The first line of the master key file."""


class KeyFileError(Exception):
    """
    The master key file cannot be read or written; the message says why.
    """


@dataclass(frozen=True, slots=True)
class MasterKey:
    """
    @ivar keyID: its 32-bit identifier, the first 4 bytes of its cookies.
    @ivar key: the AES-SIV-CMAC-256 key.
    @ivar created: when it was made, s since the Unix epoch.
    """

    keyID: int
    key: bytes
    created: float


@dataclass(frozen=True, slots=True)
class CookieKeys:
    """
    What a cookie holds: the negotiated AEAD algorithm and the two keys.
    """

    aeadID: int
    c2s: bytes
    s2c: bytes


class MasterKeys:
    """
    The server's master keys: the newest seals new cookies, any kept one
    opens a cookie it sealed.

    @ivar keys: the keys, oldest first.
    @ivar path: the file they are saved in, or C{None} (kept in memory).
    """

    def __init__(
        self,
        keys: list[MasterKey],
        path: str | None = None,
        rotation: float = DEFAULT_ROTATION,
        keep: int = DEFAULT_KEEP,
        randomBytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.keys = list(keys)
        self.path = path
        self.rotation = rotation
        self.keep = keep
        self._random = randomBytes
        self._byID = {k.keyID: k for k in self.keys}
        self._ciphers: dict[int, Any] = {}

    def _cipher(self, master: MasterKey) -> Any:
        aead = self._ciphers.get(master.keyID)
        if aead is None:
            aead = self._ciphers[master.keyID] = cipher(master.key)
        return aead

    @classmethod
    def load(
        cls,
        path: str | None,
        now: float,
        rotation: float = DEFAULT_ROTATION,
        keep: int = DEFAULT_KEEP,
        randomBytes: Callable[[int], bytes] = os.urandom,
    ) -> MasterKeys:
        """
        Read the master keys from C{path}, or make the first one (and save
        it) when the file does not exist yet; rotate if the newest is due.

        @param path: the key file, or C{None} to keep keys in memory only.
        @param now: s since the Unix epoch.
        @raise KeyFileError: if the file is unreadable or malformed, or
            cannot be written.
        """
        keys: list[MasterKey] = []
        if path is not None and os.path.exists(path):
            keys = readKeyFile(path)
        ring = cls(keys, path, rotation, keep, randomBytes)
        if not ring.keys:
            ring._add(now)
            ring.save()
        else:
            ring.rotate(now)
        return ring

    @property
    def current(self) -> MasterKey:
        """The newest key, which seals new cookies."""
        return self.keys[-1]

    def nextRotation(self) -> float:
        """
        @return: when the next rotation is due, s since the Unix epoch.
        """
        return self.current.created + self.rotation

    def rotate(self, now: float) -> bool:
        """
        Make a new key if the newest one is C{rotation} seconds old (or
        from the future: the clock was stepped back), forget those beyond
        the C{keep} newest, and save.

        @return: whether a key was made.
        """
        age = now - self.current.created
        if 0 <= age < self.rotation:
            return False
        self._add(now)
        del self.keys[: -self.keep]
        self._byID = {k.keyID: k for k in self.keys}
        self._ciphers = {i: c for i, c in self._ciphers.items() if i in self._byID}
        self.save()
        return True

    def _add(self, now: float) -> None:
        while True:
            keyID = struct.unpack("!I", self._random(4))[0]
            if keyID not in self._byID:
                break
        key = MasterKey(keyID, self._random(MASTER_KEY_LENGTH), now)
        self.keys.append(key)
        self._byID[keyID] = key

    def save(self) -> None:
        """
        Write the keys to L{path} atomically, readable by the daemon only.

        @raise KeyFileError: if it cannot be written.
        """
        if self.path is None:
            return
        lines = [FILE_MAGIC] + [
            f"{k.keyID:08x} {k.key.hex()} {k.created:.0f}" for k in self.keys
        ]
        writeKeyFile(self.path, ("\n".join(lines) + "\n").encode("ascii"))

    def seal(self, keys: CookieKeys) -> bytes:
        """
        Make a cookie with the newest master key.
        """
        master = self.current
        keyID = struct.pack("!I", master.keyID)
        nonce = self._random(NONCE_LENGTH)
        plaintext = struct.pack("!HH", keys.aeadID, 0) + keys.c2s + keys.s2c
        return keyID + nonce + seal(self._cipher(master), nonce, plaintext, keyID)

    def open(self, cookie: bytes) -> CookieKeys | None:
        """
        Open a cookie.

        @return: what it holds, or C{None} if no kept master key opens it
            (aged out, forged, or from another server).
        """
        if len(cookie) < 4 + NONCE_LENGTH + 16 + 4:
            return None
        keyID = cookie[:4]
        master = self._byID.get(struct.unpack("!I", keyID)[0])
        if master is None:
            return None
        nonce = cookie[4 : 4 + NONCE_LENGTH]
        plaintext = open_(self._cipher(master), nonce, cookie[4 + NONCE_LENGTH :], keyID)
        if plaintext is None or len(plaintext) < 4:
            return None
        aeadID = struct.unpack_from("!H", plaintext)[0]
        algorithm = AEAD_ALGORITHMS.get(aeadID)
        if algorithm is None or len(plaintext) != 4 + 2 * algorithm.keyLength:
            return None
        length = algorithm.keyLength
        return CookieKeys(aeadID, plaintext[4 : 4 + length], plaintext[4 + length :])


def readKeyFile(path: str) -> list[MasterKey]:
    """
    @return: the master keys saved in C{path}, oldest first.
    @raise KeyFileError: if it is unreadable or malformed (also if it is
        not a regular file, or larger than
        L{MAX_NTS_KEYS_BYTES <ntpservice.config.files.MAX_NTS_KEYS_BYTES>},
        1 MiB).
    """
    try:
        text = readBounded(path, MAX_NTS_KEYS_BYTES).decode("ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError(f"cannot read NTS master keys {path}: {_reason(e)}")
    lines = text.splitlines()
    if not lines or lines[0].strip() != FILE_MAGIC:
        raise KeyFileError(f"{path} is not an ntpservice NTS key file")
    keys = []
    for number, line in enumerate(lines[1:], 2):
        words = line.split()
        if not words:
            continue
        try:
            keyID, key, created = int(words[0], 16), bytes.fromhex(words[1]), float(words[2])
        except (ValueError, IndexError):
            raise KeyFileError(f"{path}:{number}: malformed master key line")
        if len(words) != 3 or len(key) != MASTER_KEY_LENGTH or not 0 <= keyID < 2**32:
            raise KeyFileError(f"{path}:{number}: malformed master key line")
        keys.append(MasterKey(keyID, key, created))
    return sorted(keys, key=lambda k: k.created)


def writeKeyFile(path: str, data: bytes) -> None:
    """
    Replace the key file C{path} with C{data}, mode 0600, atomically
    (L{ntpservice.config.files.writeAtomically}).

    @raise KeyFileError: if it cannot be written.
    """
    try:
        writeAtomically(path, data, 0o600)
    except OSError as e:
        raise KeyFileError(f"cannot write NTS master keys {path}: {_reason(e)}")


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e)
