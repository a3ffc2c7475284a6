# -*- test-case-name: tests.auth.test_mac, tests.control.test_codec -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Symmetric-key message authentication codes for NTP packets (modes 1 to 5):
computing, signing, verifying, and the crypto-NAK; and the same for mode 6
control messages (L{verifyControl}, L{signControl}), whose layout the
codec L{ntpservice.core.control} knows.

A MAC follows the header and any extension fields::

      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                          Key Identifier                       |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                                                               |
      |                   Digest (128 or 160 bits)                    |
      |                                                               |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

The digest covers every byte before the key identifier: header and
extension fields.  For a digest key type it is the legacy "key prefix"
construction of ntpd, NTPsec and chrony, C{H(key || packet)}; for an AES
key it is C{AES-CMAC(key, packet)} (RFC 4493, 16 bytes).  Digests longer
than 20 bytes (SHA-256 and up) are truncated to their first 20 bytes, as
NTPsec and chrony do in NTPv4, so that the decoder can tell the MAC from
an extension field (RFC 7822).  A crypto-NAK is a MAC of a key identifier
alone (4 bytes, identifier zero when we send one): the server's way of
saying it could not authenticate the request.

Telling a MAC from extension fields is the decoder's job
(L{NTPPacket.decode}, RFC 7822 section 7.5); L{verifyPacket} takes its
result and the datagram it decoded.  Every comparison of digests is
constant-time (C{hmac.compare_digest}).

Speed: each L{SymmetricKey} caches a pre-keyed object (a hash already fed
with the key, or a CMAC already keyed) that is copied for each packet;
that is about a third cheaper for digests and four times cheaper for
CMAC than starting afresh.

This module does no I/O and reads no clock.

@see: RFC 5905 section 7.3 and section 9.2, RFC 7822, RFC 8573, RFC 4493
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass, field
from hmac import compare_digest
from typing import Any, Callable

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms

from ntpservice.auth.keys import KEY_TYPES, KeyRing, SymmetricKey
from ntpservice.core import control as _control
from ntpservice.core.packet import (
    EXTENSION_MIN_LEN,
    HEADER_LEN,
    LONG_DIGEST_LENGTHS,
    NTPPacket,
)

__all__ = [
    "CRYPTO_NAK_LENGTH",
    "fullDigestLength",
    "AuthStatus",
    "AuthResult",
    "NO_MAC",
    "computeMAC",
    "signPacket",
    "verifyPacket",
    "cryptoNAK",
    "verifyControl",
    "signControl",
    "MACStatistics",
    "STATISTICS",
]

CRYPTO_NAK_LENGTH = 4
"""Length in bytes of a crypto-NAK: a key identifier without a digest."""

_KEY_ID = struct.Struct("!I")
_EXTENSION_LENGTH = struct.Struct("!H")


class MACStatistics:
    """
    What this process's MACs did, as ntpd counts it for C{ntpq authinfo}:
    key lookups on arrival, digests and CMACs computed to sign
    ("encryptions") and to verify ("decryptions"), and failed
    verifications. Process-wide, as ntpd's are: one daemon per process.
    """

    __slots__ = (
        "lookups",
        "notFound",
        "digestEncrypts",
        "cmacEncrypts",
        "digestDecrypts",
        "cmacDecrypts",
        "digestFails",
        "cmacFails",
    )

    def __init__(self) -> None:
        self.lookups = 0
        self.notFound = 0
        self.digestEncrypts = 0
        self.cmacEncrypts = 0
        self.digestDecrypts = 0
        self.cmacDecrypts = 0
        self.digestFails = 0
        self.cmacFails = 0

    def lookedUp(self, found: bool) -> None:
        """A received MAC's key was looked up."""
        self.lookups += 1
        if not found:
            self.notFound += 1

    def signed(self, key: SymmetricKey) -> None:
        """A MAC was computed with C{key} to sign."""
        if KEY_TYPES[key.keyType].isCMAC:
            self.cmacEncrypts += 1
        else:
            self.digestEncrypts += 1

    def verified(self, key: SymmetricKey, ok: bool) -> None:
        """A MAC was computed with C{key} to verify; C{ok}: it matched."""
        if KEY_TYPES[key.keyType].isCMAC:
            self.cmacDecrypts += 1
            if not ok:
                self.cmacFails += 1
        else:
            self.digestDecrypts += 1
            if not ok:
                self.digestFails += 1

    def snapshot(self) -> dict[str, int]:
        """Every count by name."""
        return {name: getattr(self, name) for name in self.__slots__}


STATISTICS = MACStatistics()
"""This process's L{MACStatistics} (L{signPacket}, L{verifyPacket} and the
mode 6 codec count into it)."""


class AuthStatus(enum.Enum):
    """
    What L{verifyPacket} found.

    The sanity-check numbers are those of ntpd's association management
    page (seed 004): a failed MAC is check 5, an unknown key check 11.
    """

    NONE = "none"
    """No MAC: an unauthenticated packet."""
    OK = "ok"
    """The MAC verifies with a trusted key."""
    CRYPTO_NAK = "crypto-NAK"
    """A 4-byte trailer: the sender could not authenticate our packet."""
    BAD_LENGTH = "bad length"
    """The digest's length does not fit the key's type."""
    UNKNOWN_KEY = "unknown key"
    """No key with this identifier (check 11)."""
    UNTRUSTED_KEY = "untrusted key"
    """The key exists but is not trusted (from this address)."""
    BAD_MAC = "bad MAC"
    """The digest does not match (check 5)."""


_FAILURES = frozenset(
    (
        AuthStatus.BAD_LENGTH,
        AuthStatus.UNKNOWN_KEY,
        AuthStatus.UNTRUSTED_KEY,
        AuthStatus.BAD_MAC,
    )
)


@dataclass(frozen=True, slots=True)
class AuthResult:
    """
    The outcome of checking a packet's MAC.

    @ivar status: what was found.
    @ivar keyID: the key identifier in the packet's MAC (in a crypto-NAK
        too), or C{None} when it has none.
    @ivar key: the key that verified the MAC, for L{AuthStatus.OK} only:
        a server signs its answer with it.  Not part of equality.
    """

    status: AuthStatus
    keyID: int | None = None
    key: SymmetricKey | None = field(default=None, compare=False)

    @property
    def authenticated(self) -> bool:
        """Whether the MAC verified (L{AuthStatus.OK})."""
        return self.status is AuthStatus.OK

    @property
    def failed(self) -> bool:
        """
        Whether the packet has a MAC that did not verify: bad length,
        unknown or untrusted key, bad digest.  ntpd answers such a request
        with a crypto-NAK and drops such a reply.  (A crypto-NAK itself and
        a packet without a MAC are not failures.)
        """
        return self.status in _FAILURES

    def isAuthenticWith(self, keyID: int) -> bool:
        """
        Whether the packet is authenticated with a given key, as a client
        or peer association configured with C{key N} requires.

        @param keyID: the association's key identifier.
        """
        return self.status is AuthStatus.OK and self.keyID == keyID


NO_MAC = AuthResult(AuthStatus.NONE)
"""The result for a packet without a MAC."""

_newObject = object.__new__


def _slotSetter(name: str) -> Callable[[AuthResult, Any], None]:
    """
    The slot descriptor's C{__set__} for C{AuthResult.name}, to fill a
    frozen instance without its constructor.
    """
    setter: Callable[[AuthResult, Any], None] = getattr(AuthResult, name).__set__
    return setter


_setStatus = _slotSetter("status")
_setKeyID = _slotSetter("keyID")
_setKey = _slotSetter("key")


def _result(
    status: AuthStatus, keyID: int, key: SymmetricKey | None = None
) -> AuthResult:
    """
    Build an L{AuthResult} without the frozen dataclass's constructor,
    which costs more than the digest: verifying is a hot path, and a
    flood of forged MACs should cost as little as possible.
    """
    result: AuthResult = _newObject(AuthResult)
    _setStatus(result, status)
    _setKeyID(result, keyID)
    _setKey(result, key)
    return result


def _prepare(key: SymmetricKey) -> tuple[Any, bool, AuthResult]:
    """
    Build and cache what a key needs per packet: its pre-keyed object (a
    hash fed with the secret, or an AES CMAC keyed with it) and its
    L{AuthStatus.OK} result.

    @return: the object, whether it is a CMAC, the result.
    """
    keyType = KEY_TYPES[key.keyType]
    prekeyed: Any
    if keyType.hashName is None:
        prekeyed = cmac.CMAC(algorithms.AES(key.secret))
    else:
        prekeyed = hashlib.new(keyType.hashName, key.secret)
    state = (prekeyed, keyType.isCMAC, _result(AuthStatus.OK, key.keyID, key))
    # The key is frozen; this private slot is a cache of derived data.
    object.__setattr__(key, "_macState", state)
    return state


def computeMAC(key: SymmetricKey, data: bytes, full: bool = False) -> bytes:
    """
    Compute the digest of some bytes as it goes on the wire.

    @param key: the key.
    @param data: the authenticated bytes: header and extension fields
        (any bytes-like object).
    @return: the digest: C{H(secret || data)} truncated to 20 bytes for a
        digest type (16 bytes for MD5, 20 for the others), C{AES-CMAC(secret,
        data)} for an AES type (16 bytes).
    """
    state = key._macState
    if state is None:
        state = _prepare(key)
    mac = state[0].copy()
    mac.update(data)
    if state[1]:
        digest: bytes = mac.finalize()
        return digest
    if full:
        return mac.digest()  # type: ignore[no-any-return]
    return mac.digest()[:20]  # type: ignore[no-any-return]


def fullDigestLength(key: SymmetricKey) -> int:
    """
    The untruncated digest length of C{key}'s algorithm, in bytes: what an
    NTPv3 packet carries (16 for the CMACs and MD5, 20 for SHA-1, 32 for
    SHA-256, ...).
    """
    keyType = KEY_TYPES[key.keyType]
    if keyType.hashName is None:
        return keyType.macLength
    return hashlib.new(keyType.hashName).digest_size


def _checkUnsigned(packetBytes: bytes) -> int:
    """
    Check that some bytes are a header and whole extension fields.

    @return: the on-wire length of the last extension field, 0 if none.
    @raise ValueError: if not.
    """
    length = len(packetBytes)
    if length == HEADER_LEN:
        return 0
    if length < HEADER_LEN:
        raise ValueError(
            f"{length} bytes are shorter than the {HEADER_LEN}-byte NTP header"
        )
    offset = HEADER_LEN
    last = 0
    while offset < length:
        if length - offset < EXTENSION_MIN_LEN:
            raise ValueError(
                f"{length - offset} bytes at offset {offset} are not an "
                f"extension field (is there a MAC already?)"
            )
        last = _EXTENSION_LENGTH.unpack_from(packetBytes, offset + 2)[0]
        if last < EXTENSION_MIN_LEN or last % 4 or last > length - offset:
            raise ValueError(
                f"malformed extension field at offset {offset} (is there a "
                f"MAC already?)"
            )
        offset += last
    return last


def signPacket(packetBytes: bytes, key: SymmetricKey, full: bool = False) -> bytes:
    """
    Append a MAC to a packet.

    @param packetBytes: the packet without a MAC: the 48-byte header and
        any extension fields (as L{NTPPacket.encode} gives with C{mac=None}).
    @param key: the key to sign with.
    @return: C{packetBytes}, the key identifier (4 bytes, network order)
        and the digest (L{computeMAC}).
    @raise ValueError: if C{packetBytes} is not a header followed by whole
        extension fields (for example, if it already has a MAC), or is an
        NTPv1-3 packet with extension fields that, signed, would decode as
        a packet with a long NTPv3 digest instead.
    """
    if len(packetBytes) != HEADER_LEN:
        _checkUnsigned(packetBytes)
        _checkNTPv3Trailer(packetBytes, 4 + len(computeMAC(key, b"", full)))
    STATISTICS.signed(key)
    return b"".join(
        (packetBytes, _KEY_ID.pack(key.keyID), computeMAC(key, packetBytes, full))
    )


def _checkNTPv3Trailer(packetBytes: bytes, macLength: int) -> None:
    """
    Refuse to add a MAC of C{macLength} bytes to an NTPv1-3 packet with
    extension fields when the decoder would read the whole trailer as an
    NTPv3 MAC with a long digest (NTPv3 has no extension fields; found by
    C{fuzz/packet.py}).

    @raise ValueError: if it would.
    """
    version = (packetBytes[0] >> 3) & 7
    trailer = len(packetBytes) - HEADER_LEN + macLength
    if version <= 3 and trailer - 4 in LONG_DIGEST_LENGTHS:
        raise ValueError(
            f"an NTPv{version} trailer of {trailer} bytes (extension fields "
            f"and a MAC) would be decoded as a MAC with a {trailer - 4}-byte "
            f"digest"
        )


def cryptoNAK(packetBytes: bytes) -> bytes:
    """
    Append a crypto-NAK to a packet: a key identifier of zero and no digest.

    @param packetBytes: the packet without a MAC, as for L{signPacket}.
    @return: C{packetBytes} followed by 4 zero bytes.
    @raise ValueError: if C{packetBytes} is not a header followed by whole
        extension fields, or if its last extension field is 16 or 20 bytes
        long: with the 4 bytes after it, the receiver would take it for a
        MAC (RFC 7822 section 7.5); or if it is an NTPv1-3 packet whose
        extension fields and crypto-NAK would decode as an NTPv3 MAC.
    @see: RFC 5905 section 7.4 ("crypto-NAK")
    """
    last = _checkUnsigned(packetBytes)
    if last:
        _checkNTPv3Trailer(packetBytes, CRYPTO_NAK_LENGTH)
    if last + CRYPTO_NAK_LENGTH in (4 + 16, 4 + 20):
        raise ValueError(
            f"a {last}-byte last extension field followed by a crypto-NAK "
            f"would be decoded as a MAC"
        )
    return bytes(packetBytes) + bytes(CRYPTO_NAK_LENGTH)


def verifyPacket(
    data: bytes, packet: NTPPacket, keyring: KeyRing, source: Any = None
) -> AuthResult:
    """
    Check the MAC of a received packet.

    Checks, in order: is there a MAC (L{AuthStatus.NONE}); is it a
    crypto-NAK (L{AuthStatus.CRYPTO_NAK}); is the key known
    (L{AuthStatus.UNKNOWN_KEY}) and trusted, from C{source} if the key has
    an address list (L{AuthStatus.UNTRUSTED_KEY}); does the digest have the
    key type's length (L{AuthStatus.BAD_LENGTH}); does it match, compared in
    constant time (L{AuthStatus.BAD_MAC}, else L{AuthStatus.OK}).  Nothing
    is raised: every packet is classified.

    @param data: the datagram C{packet} was decoded from.
    @param packet: the decoded packet (L{NTPPacket.decode} found the MAC).
    @param keyring: the keys and the trusted identifiers.
    @param source: the sender's IP address, checked against a key's
        address list (a key with one is untrusted when C{source} is
        C{None}); ignored for keys without one.
    @return: the verdict.
    """
    mac = packet.mac
    if mac is None:
        return NO_MAC
    keyID = mac.keyID
    digest = mac.digest
    if not digest:
        return _result(AuthStatus.CRYPTO_NAK, keyID)
    key = keyring.get(keyID)
    STATISTICS.lookedUp(key is not None)
    if key is None:
        return _result(AuthStatus.UNKNOWN_KEY, keyID)
    if not keyring.isTrusted(keyID, source):
        return _result(AuthStatus.UNTRUSTED_KEY, keyID)
    end = len(data) - CRYPTO_NAK_LENGTH - len(digest)
    full = False
    if len(digest) != KEY_TYPES[key.keyType].macLength:
        # NTPv3 (chrony's requests with SHA-224 and longer keys) carries the
        # digest untruncated.
        full = (
            packet.version <= 3
            and len(digest) in LONG_DIGEST_LENGTHS
            and len(digest) == fullDigestLength(key)
        )
        if not full:
            return _result(AuthStatus.BAD_LENGTH, keyID)
    if end < HEADER_LEN:
        return _result(AuthStatus.BAD_LENGTH, keyID)
    if compare_digest(computeMAC(key, data[:end], full), digest):
        STATISTICS.verified(key, True)
        state = key._macState
        return state[2]  # type: ignore[no-any-return]
    STATISTICS.verified(key, False)
    return _result(AuthStatus.BAD_MAC, keyID)


def verifyControl(
    datagram: bytes, count: int, keyring: KeyRing, source: Any = None
) -> _control.ControlAuth:
    """
    Check the MAC of a mode 6 control request, if it has one.

    @param datagram: the request as received.
    @param count: its data length (the header's count).
    @param keyring: the keys and the trusted identifiers.
    @param source: the sender's address (for keys trusted from some
        networks only).
    @return: the verdict (L{ntpservice.core.control.ControlAuth}): C{none}
        without a MAC, C{ok} when it verifies with a trusted key of the
        digest's length, C{bad} otherwise; digests are compared in
        constant time.
    """
    candidates = _control.macCandidates(datagram, count)
    if candidates is None:
        return _control.NO_AUTH
    keyID: int | None = None
    for start, candidate, digestLength in candidates:
        key = keyring.get(candidate) if candidate else None
        if candidate:
            STATISTICS.lookedUp(key is not None)
        if key is None or key.macLength != digestLength:
            keyID = keyID if keyID is not None else candidate
            continue
        if not keyring.isTrusted(candidate, source):
            return _control.ControlAuth("bad", candidate)
        digest = datagram[start + 4 :]
        ok = compare_digest(computeMAC(key, datagram[:start]), digest)
        STATISTICS.verified(key, ok)
        if ok:
            return _control.ControlAuth("ok", candidate, key)
        return _control.ControlAuth("bad", candidate)
    return _control.ControlAuth("bad", keyID)


def signControl(encoded: bytes, key: SymmetricKey) -> bytes:
    """
    Append a MAC to an encoded mode 6 control message, as ntpd does: the
    message is padded with zeros to a multiple of 8 octets, then the key
    identifier and the digest of everything before it follow.

    @param encoded: L{ntpservice.core.control.ControlMessage.encode}'s
        result.
    @param key: the key to sign with.
    """
    padded = _control.padForMAC(encoded)
    STATISTICS.signed(key)
    return padded + _KEY_ID.pack(key.keyID) + computeMAC(key, padded)
