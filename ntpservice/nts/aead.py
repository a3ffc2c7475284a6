# -*- test-case-name: tests.nts.test_protocol -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The AEAD algorithms of NTS: AES-SIV-CMAC (RFC 5297) from C{cryptography},
the IANA AEAD identifiers NTS-KE negotiates, and the names NTPsec's
configuration uses for them.

With AES-SIV the nonce is the last component of the associated data
(C{cryptography}'s C{AESSIV} takes a list), and the ciphertext starts with
the 16-byte synthetic IV.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

__all__ = [
    "AEAD_ALGORITHMS",
    "AEAD_BY_NAME",
    "AEADAlgorithm",
    "DEFAULT_AEAD",
    "cipher",
    "open_",
    "seal",
]


@dataclass(frozen=True, slots=True)
class AEADAlgorithm:
    """
    An AEAD algorithm NTS can use.

    @ivar aeadID: its IANA identifier (the NTS-KE AEAD record).
    @ivar name: its name in NTPsec's configuration (C{nts aead}).
    @ivar keyLength: bytes of key.
    """

    aeadID: int
    name: str
    keyLength: int


AEAD_ALGORITHMS = {
    15: AEADAlgorithm(15, "AES_SIV_CMAC_256", 32),
    16: AEADAlgorithm(16, "AES_SIV_CMAC_384", 48),
    17: AEADAlgorithm(17, "AES_SIV_CMAC_512", 64),
}
"""The supported algorithms, by identifier."""

AEAD_BY_NAME = {a.name: a for a in AEAD_ALGORITHMS.values()}

DEFAULT_AEAD = AEAD_ALGORITHMS[15]
"""AEAD_AES_SIV_CMAC_256, which every NTS implementation must support."""


def cipher(key: bytes) -> AESSIV:
    """
    A keyed cipher, to keep for a key used often (a master key): keying
    costs about as much as sealing a cookie.
    """
    return AESSIV(key)


def seal(key: bytes | AESSIV, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """
    Encrypt and authenticate.

    @param key: the key (its length selects the algorithm), or a keyed
        L{cipher}.
    @param nonce: the nonce.
    @param plaintext: what to encrypt (may be empty).
    @param associated: the associated data, authenticated only.
    @return: the synthetic IV followed by the ciphertext.
    """
    aead = key if isinstance(key, AESSIV) else AESSIV(key)
    return aead.encrypt(plaintext, [associated, nonce])


def open_(
    key: bytes | AESSIV, nonce: bytes, ciphertext: bytes, associated: bytes
) -> bytes | None:
    """
    Verify and decrypt.

    @return: the plaintext, or C{None} if the ciphertext does not verify.
    """
    if len(ciphertext) < 16:
        return None
    aead = key if isinstance(key, AESSIV) else AESSIV(key)
    try:
        return aead.decrypt(ciphertext, [associated, nonce])
    except InvalidTag:
        return None
