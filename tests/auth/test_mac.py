# -*- test-case-name: tests.auth.test_mac -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.auth.mac}: MACs on NTP packets.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.auth import mac as macModule
from ntpservice.auth.keys import KEY_TYPES, KeyRing, SymmetricKey, parseKeysText
from ntpservice.auth.mac import (
    NO_MAC,
    AuthResult,
    AuthStatus,
    computeMAC,
    cryptoNAK,
    signPacket,
    verifyPacket,
)
from ntpservice.core.packet import (
    MODE_CLIENT,
    MODE_SERVER,
    ExtensionField,
    NTPPacket,
    PacketError,
)
from ntpservice.core.timestamps import NTPTimestamp

# A client request, written out: LI 0, VN 4, mode 3, stratum 0, poll 6,
# precision -20, root delay and dispersion 0, refid 0, reftime, org and rec
# 0, a transmit timestamp.
PACKET = bytes.fromhex("230006ec" + "00" * 36 + "e9a1b2c3d4e5f607")
assert len(PACKET) == 48

SHA1_HEX = "933f62be1d604e68a81b557f18cfa200483f5b70"
AES128_HEX = "7ea62ae64d190114d46d5a082f948ec1"
AES256_HEX = "37ddcbc67bb902bcb8e995977fab4d2b5642f5b32ebceee421921d97e5cbfe39"

# Digests of PACKET computed with the openssl command-line tool, not with
# this code: "(printf KEY; cat packet) | openssl dgst -md5" for the digest
# types, "openssl mac -cipher AES-128-CBC -macopt hexkey:KEY CMAC" for AES.
# The full digest is written; the wire carries its first 20 bytes.
OPENSSL_VECTORS = [
    ("MD5", b"crocus", "d175612980742bd1ad26ddbd68234525"),
    ("SHA1", bytes.fromhex(SHA1_HEX), "03cdc65f8a9bc7e75f23433dde4efdf7308345f3"),
    (
        "SHA256",
        b"tulip",
        "4e071749a79753eb846a927573b91d1eb336fb1bc2a3fc74d72f458ba513fb28",
    ),
    (
        "SHA512",
        b"tulip",
        "5cfea858837aa73d7f9a71ab04899a263b3badd8cfa2db95757059481782fbdf"
        "6789106ab787d5b28b27ca15f5bcaea78088174387c940fe7ca75dbbdcfb87e3",
    ),
    (
        "SHA3-256",
        b"tulip",
        "97ccaf3f5bf92f499264edd39c28b5cc3d0ee03c944618b646f00a13c1d567a0",
    ),
    ("AES128CMAC", bytes.fromhex(AES128_HEX), "528871856e7dbf6eb59fe0ad18add5fa"),
    ("AES256CMAC", bytes.fromhex(AES256_HEX), "61ddf87d45b24d45986db00570b79dc6"),
]


@pytest.mark.parametrize("keyType, secret, expected", OPENSSL_VECTORS)
def test_knownAnswers(keyType: str, secret: bytes, expected: str) -> None:
    """
    L{computeMAC} agrees with OpenSSL's command-line tool: H(key || packet)
    for digests, AES-CMAC(key, packet) for AES, truncated to 20 bytes.
    """
    key = SymmetricKey(1, keyType, secret)
    assert computeMAC(key, PACKET) == bytes.fromhex(expected)[:20]
    assert len(computeMAC(key, PACKET)) == key.macLength


@pytest.mark.parametrize(
    "keyType", [name for name, t in KEY_TYPES.items() if not t.isCMAC]
)
def test_digestIsKeyPrefixHash(keyType: str) -> None:
    """
    For every digest type, the MAC is the legacy key-prefix construction
    C{H(secret || data)} truncated to 20 bytes, written out with hashlib;
    for data of any length, and for the same key used again.
    """
    hashName = KEY_TYPES[keyType].hashName
    assert hashName is not None
    secret = b"0123456789abcdef0123"
    key = SymmetricKey(9, keyType, secret)
    for data in (PACKET, PACKET + bytes(28), b"", PACKET):
        expected = hashlib.new(hashName, secret + data).digest()[:20]
        assert computeMAC(key, data) == expected


# RFC 4493 section 4: AES-128 key and the four examples.
RFC4493_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
RFC4493_MESSAGE = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172a"
    "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef"
    "f69f2445df4f9b17ad2b417be66c3710"
)


@pytest.mark.parametrize(
    "length, expected",
    [
        (0, "bb1d6929e95937287fa37d129b756746"),
        (16, "070a16b46b4d4144f79bdd9dd04a287c"),
        (40, "dfa66747de9ae63030ca32611497c827"),
        (64, "51f0bebf7e3b9d92fc49741779363cfe"),
    ],
)
def test_cmacRFC4493(length: int, expected: str) -> None:
    """
    The AES-128 CMAC is RFC 4493's: its four test vectors, computed twice
    with the same key (the second time from the cached pre-keyed object).
    """
    key = SymmetricKey(1, "AES128CMAC", RFC4493_KEY)
    for _ in range(2):
        assert computeMAC(key, RFC4493_MESSAGE[:length]) == bytes.fromhex(expected)


KEYS_TEXT = f"""\
1 MD5 crocus
2 SHA1 {SHA1_HEX}
3 AES128CMAC {AES128_HEX}
4 SHA256 tulip
5 AES256CMAC {AES256_HEX}
6 SHA512 tulip
7 MD5 untrusted
8 SHA1 narcissus 192.0.2.0/24
"""
TRUSTED = [1, 2, 3, 4, 5, 6, 8]


def keyring() -> KeyRing:
    return parseKeysText(KEYS_TEXT, "ntp.keys").withTrusted(TRUSTED)


def requestBytes(extensions: tuple[ExtensionField, ...] = ()) -> bytes:
    return NTPPacket(
        leap=0,
        mode=MODE_CLIENT,
        poll=6,
        precision=-20,
        xmt=NTPTimestamp(0xE9A1B2C3D4E5F607),
        extensions=extensions,
    ).encode()


class SignTests(SynchronousTestCase):
    """
    Tests for L{signPacket} and L{cryptoNAK}.
    """

    def test_layout(self) -> None:
        """
        A signed packet is the packet, the key identifier in network order
        and the digest; the decoder finds that MAC.
        """
        ring = keyring()
        for keyID in ring:
            key = ring[keyID]
            signed = signPacket(PACKET, key)
            self.assertEqual(
                signed, PACKET + struct.pack("!I", keyID) + computeMAC(key, PACKET)
            )
            self.assertEqual(len(signed), 48 + 4 + key.macLength)
            packet = NTPPacket.decode(signed)
            assert packet.mac is not None
            self.assertEqual(packet.mac.keyID, keyID)
            self.assertEqual(packet.mac.digest, computeMAC(key, PACKET))

    def test_afterExtensionFields(self) -> None:
        """
        The MAC covers extension fields too, and a signed packet with
        extension fields of any size (even the 16-byte minimum) decodes to
        the same fields and the MAC.
        """
        key = keyring()[2]
        for size in (16, 20, 24, 28, 64):
            field = ExtensionField.padded(0x0104, b"x" * (size - 4))
            # Built by hand: unsigned, a 20-byte last field would decode as
            # a MAC, so NTPPacket refuses to encode it.
            unsigned = requestBytes() + field.encode()
            signed = signPacket(unsigned, key)
            packet = NTPPacket.decode(signed)
            self.assertEqual(packet.extensions, (field,))
            assert packet.mac is not None
            self.assertEqual(packet.mac.digest, computeMAC(key, unsigned))
            self.assertEqual(
                verifyPacket(signed, packet, keyring()).status, AuthStatus.OK
            )

    def test_refusesAmbiguousNTPv3(self) -> None:
        """
        An NTPv1-3 packet with extension fields whose trailer, once signed
        (or given a crypto-NAK), the decoder would read as one NTPv3 MAC
        with a 28-, 32-, 48- or 64-byte digest is refused: it could not be
        verified (found by C{fuzz/packet.py}; the input is in
        C{fuzz/corpus/packet/}). NTPv4 packets, and other sizes, are signed.
        """
        md5 = keyring()[1]
        field16 = ExtensionField.padded(0x0104, b"x" * 12)
        for version in (1, 2, 3):
            unsigned = bytes([(version << 3) | 3]) + requestBytes()[1:] + field16.encode()
            self.assertRaises(ValueError, signPacket, unsigned, md5)
            field28 = ExtensionField.padded(0x0104, b"x" * 24)
            nak = bytes([(version << 3) | 3]) + requestBytes()[1:] + field28.encode()
            self.assertRaises(ValueError, cryptoNAK, nak)
        unsigned = requestBytes() + field16.encode()
        packet = NTPPacket.decode(signPacket(unsigned, md5))
        self.assertEqual(packet.extensions, (field16,))
        sha1 = keyring()[2]
        unsigned = bytes([(3 << 3) | 3]) + requestBytes()[1:] + field16.encode()
        signed = signPacket(unsigned, sha1)
        packet = NTPPacket.decode(signed)
        self.assertEqual(packet.extensions, (field16,))
        self.assertEqual(verifyPacket(signed, packet, keyring()).status, AuthStatus.OK)

    def test_refusesNonPackets(self) -> None:
        """
        Bytes shorter than a header, or with something after the header
        that is not whole extension fields (such as a MAC already), are
        refused.
        """
        key = keyring()[1]
        signed = signPacket(PACKET, key)
        for bad in (PACKET[:47], b"", signed, PACKET + bytes(4), PACKET + bytes(16)):
            self.assertRaises(ValueError, signPacket, bad, key)

    def test_cryptoNAK(self) -> None:
        """
        A crypto-NAK is the packet and four zero bytes; it decodes as a MAC
        with key identifier 0 and no digest.
        """
        nak = cryptoNAK(PACKET)
        self.assertEqual(nak, PACKET + bytes(4))
        packet = NTPPacket.decode(nak)
        assert packet.mac is not None
        self.assertTrue(packet.mac.isCryptoNAK)
        self.assertEqual(packet.mac.keyID, 0)

    def test_cryptoNAKAfterExtensionFields(self) -> None:
        """
        A crypto-NAK after a last extension field of 16 or 20 bytes would
        be decoded as a MAC: refused.  Other sizes decode as the field and
        the crypto-NAK.
        """
        for size in (16, 20):
            field = ExtensionField.padded(0x0104, b"x" * (size - 4))
            self.assertRaises(ValueError, cryptoNAK, requestBytes() + field.encode())
        field = ExtensionField.padded(0x0104, b"x" * 24)
        packet = NTPPacket.decode(cryptoNAK(requestBytes((field,))))
        self.assertEqual(packet.extensions, (field,))
        assert packet.mac is not None
        self.assertTrue(packet.mac.isCryptoNAK)
        self.assertRaises(ValueError, cryptoNAK, PACKET[:40])


class VerifyTests(SynchronousTestCase):
    """
    Tests for L{verifyPacket}: every outcome.
    """

    def setUp(self) -> None:
        self.ring = keyring()

    def verify(self, data: bytes, source: str | None = None) -> AuthResult:
        return verifyPacket(data, NTPPacket.decode(data), self.ring, source)

    def test_noMAC(self) -> None:
        """
        A packet without a MAC is L{AuthStatus.NONE}, without a key.
        """
        result = self.verify(PACKET)
        self.assertIs(result, NO_MAC)
        self.assertEqual(result, AuthResult(AuthStatus.NONE, None))
        self.assertFalse(result.authenticated)
        self.assertFalse(result.failed)

    def test_ok(self) -> None:
        """
        A packet signed with any trusted key verifies: L{AuthStatus.OK}
        with the key identifier and the key, for the server to sign its
        answer with.
        """
        for keyID in (1, 2, 3, 4, 5, 6):
            result = self.verify(signPacket(PACKET, self.ring[keyID]))
            self.assertEqual(result, AuthResult(AuthStatus.OK, keyID))
            self.assertIs(result.key, self.ring[keyID])
            self.assertTrue(result.authenticated)
            self.assertFalse(result.failed)
            self.assertTrue(result.isAuthenticWith(keyID))
            self.assertFalse(result.isAuthenticWith(keyID + 1))

    def test_okWithExtensionFields(self) -> None:
        """
        The authenticated bytes are everything before the MAC: header and
        extension fields.
        """
        field = ExtensionField.padded(0x2005, b"cookie" * 10)
        signed = signPacket(requestBytes((field,)), self.ring[3])
        self.assertEqual(self.verify(signed).status, AuthStatus.OK)

    def test_badMAC(self) -> None:
        """
        A packet signed with another secret under the same key identifier,
        or changed after signing (header, extension field or digest), is
        L{AuthStatus.BAD_MAC} (check 5).
        """
        forged = signPacket(PACKET, SymmetricKey(2, "SHA1", b"guess"))
        result = self.verify(forged)
        self.assertEqual(result, AuthResult(AuthStatus.BAD_MAC, 2))
        self.assertIsNone(result.key)
        self.assertTrue(result.failed)
        self.assertFalse(result.isAuthenticWith(2))
        field = ExtensionField.padded(0x2005, b"cookie" * 10)
        for signed in (
            signPacket(PACKET, self.ring[2]),
            signPacket(requestBytes((field,)), self.ring[3]),
        ):
            for position in (1, 47, 60, len(signed) - 1):
                tampered = bytearray(signed)
                tampered[position] ^= 0x10
                self.assertEqual(
                    self.verify(bytes(tampered)).status, AuthStatus.BAD_MAC
                )

    def test_unknownKey(self) -> None:
        """
        A key identifier that is not in the ring is
        L{AuthStatus.UNKNOWN_KEY} (check 11).
        """
        signed = signPacket(PACKET, SymmetricKey(99, "MD5", b"crocus"))
        result = self.verify(signed)
        self.assertEqual(result, AuthResult(AuthStatus.UNKNOWN_KEY, 99))
        self.assertTrue(result.failed)

    def test_untrustedKey(self) -> None:
        """
        A key that is in the ring but not trusted is
        L{AuthStatus.UNTRUSTED_KEY}, even with a correct MAC.
        """
        signed = signPacket(PACKET, self.ring[7])
        self.assertEqual(self.verify(signed), AuthResult(AuthStatus.UNTRUSTED_KEY, 7))
        self.ring = self.ring.withTrusted([7])
        self.assertEqual(self.verify(signed).status, AuthStatus.OK)

    def test_addressList(self) -> None:
        """
        A key with an address list verifies only from those addresses; from
        elsewhere, or when the source is not given, it is untrusted.
        """
        signed = signPacket(PACKET, self.ring[8])
        self.assertEqual(self.verify(signed, "192.0.2.9").status, AuthStatus.OK)
        self.assertEqual(
            self.verify(signed, "203.0.113.1").status, AuthStatus.UNTRUSTED_KEY
        )
        self.assertEqual(self.verify(signed).status, AuthStatus.UNTRUSTED_KEY)

    def test_badLength(self) -> None:
        """
        A digest whose length does not fit the key type (20 bytes for an
        MD5 or AES key, 16 for a SHA-1 key) is L{AuthStatus.BAD_LENGTH}.
        """
        for keyID, digestLength in ((1, 20), (3, 20), (2, 16), (4, 16)):
            data = PACKET + struct.pack("!I", keyID) + bytes(digestLength)
            result = self.verify(data)
            self.assertEqual(result, AuthResult(AuthStatus.BAD_LENGTH, keyID))
            self.assertTrue(result.failed)

    def test_cryptoNAK(self) -> None:
        """
        A 4-byte trailer is L{AuthStatus.CRYPTO_NAK}, with its key
        identifier; it is neither authenticated nor a failure.
        """
        result = self.verify(cryptoNAK(PACKET))
        self.assertEqual(result, AuthResult(AuthStatus.CRYPTO_NAK, 0))
        self.assertFalse(result.authenticated)
        self.assertFalse(result.failed)
        self.assertEqual(
            self.verify(PACKET + struct.pack("!I", 2)),
            AuthResult(AuthStatus.CRYPTO_NAK, 2),
        )

    def test_truncatedTrailers(self) -> None:
        """
        A signed packet cut short is refused by the decoder or classified:
        a SHA-1 MAC cut to 20 bytes is a digest of the wrong length, cut to
        4 bytes a crypto-NAK; never authenticated.
        """
        signed = signPacket(PACKET, self.ring[2])
        self.assertEqual(self.verify(signed[:-4]).status, AuthStatus.BAD_LENGTH)
        self.assertEqual(self.verify(signed[:52]).status, AuthStatus.CRYPTO_NAK)
        self.assertIs(self.verify(signed[:48]), NO_MAC)
        for length in range(49, len(signed)):
            if length in (52, 68):
                continue
            self.assertRaises(PacketError, NTPPacket.decode, signed[:length])

    def test_wrongPacketForData(self) -> None:
        """
        Given a packet whose MAC claims more bytes than the data has, the
        result is L{AuthStatus.BAD_LENGTH}, not an exception.
        """
        signed = signPacket(PACKET, self.ring[2])
        packet = NTPPacket.decode(signed)
        result = verifyPacket(signed[:30], packet, self.ring)
        self.assertEqual(result.status, AuthStatus.BAD_LENGTH)

    def test_constantTimeComparison(self) -> None:
        """
        Digests are compared with C{hmac.compare_digest}.
        """
        calls = []

        def recording(a: bytes, b: bytes) -> bool:
            calls.append((a, b))
            return hmac.compare_digest(a, b)

        self.patch(macModule, "compare_digest", recording)
        signed = signPacket(PACKET, self.ring[1])
        self.assertEqual(self.verify(signed).status, AuthStatus.OK)
        self.assertEqual(calls, [(computeMAC(self.ring[1], PACKET), signed[52:])])

    def test_reprHidesSecrets(self) -> None:
        """
        The C{repr()} of a result shows the key's identifier and type only.
        """
        result = self.verify(signPacket(PACKET, self.ring[1]))
        self.assertNotIn("crocus", repr(result))
        self.assertIn("keyID=1", repr(result))

    def test_replySignedWithRequestKey(self) -> None:
        """
        A server answers with the key that authenticated the request
        (L{AuthResult.key}); the client verifies the answer with the same
        key and checks it is the one its association uses.
        """
        request = signPacket(requestBytes(), self.ring[4])
        result = self.verify(request)
        assert result.key is not None
        answer = NTPPacket(leap=0, mode=MODE_SERVER, stratum=2).encode()
        reply = self.verify(signPacket(answer, result.key))
        self.assertTrue(reply.isAuthenticWith(4))
        self.assertFalse(
            self.verify(signPacket(answer, self.ring[2])).isAuthenticWith(4)
        )


class StatisticsTests(SynchronousTestCase):
    """
    L{macModule.STATISTICS} counts what ntpq's authinfo shows.
    """

    def test_counts(self) -> None:
        """
        Signing is an encryption (digest or CMAC by the key's type);
        verifying a MAC looks its key up (not found: counted) and, for a
        known trusted key, is a decryption, failed when the digest does
        not match. Packets without a MAC count nothing.
        """
        ring = keyring()
        stats = macModule.STATISTICS
        before = stats.snapshot()
        digest = signPacket(PACKET, ring[2])
        cmac = signPacket(PACKET, ring[3])
        for data in (digest, cmac, digest[:-1] + bytes([digest[-1] ^ 1]),
                     cmac[:-1] + bytes([cmac[-1] ^ 1]),
                     signPacket(PACKET, SymmetricKey(99, "MD5", b"crocus")), PACKET):
            verifyPacket(data, NTPPacket.decode(data), ring)
        after = stats.snapshot()
        self.assertEqual(
            {name: after[name] - before[name] for name in after},
            {
                "lookups": 5,
                "notFound": 1,
                "digestEncrypts": 2,
                "cmacEncrypts": 1,
                "digestDecrypts": 2,
                "cmacDecrypts": 2,
                "digestFails": 1,
                "cmacFails": 1,
            },
        )


FUZZ_RING = keyring()
FUZZ_KEYS = [FUZZ_RING[keyID] for keyID in FUZZ_RING]


def classify(data: bytes) -> AuthResult | None:
    """
    Decode and verify, as the daemon does.

    @return: the result, or C{None} if the decoder refused the bytes.
    """
    try:
        packet = NTPPacket.decode(data)
    except PacketError:
        return None
    result = verifyPacket(data, packet, FUZZ_RING, "192.0.2.1")
    assert isinstance(result, AuthResult)
    assert isinstance(result.status, AuthStatus)
    return result


@settings(max_examples=500)
@given(st.binary(max_size=120), st.sampled_from([PACKET, requestBytes()]))
def test_fuzzRandomTrailers(trailer: bytes, header: bytes) -> None:
    """
    Whatever follows a header, decoding and verifying raise nothing but
    L{PacketError}, and random bytes never authenticate (except a MAC that
    hypothesis would have to forge).
    """
    result = classify(header + trailer)
    if result is not None and len(trailer) in (4, 20, 24):
        assert result.status is not AuthStatus.OK


@settings(max_examples=1000)
@given(
    st.sampled_from(FUZZ_KEYS),
    st.sampled_from([(), (ExtensionField.padded(0x0104, b"u" * 30),)]),
    st.lists(
        st.integers(min_value=0, max_value=8 * 200 - 1),
        min_size=1,
        max_size=3,
        unique=True,
    ),
)
def test_fuzzBitFlips(
    key: SymmetricKey, extensions: tuple[ExtensionField, ...], bits: list[int]
) -> None:
    """
    Flipping one to three bits anywhere in a signed packet (header,
    extension field, key identifier, digest) never raises anything but
    L{PacketError} from the decoder and never authenticates.
    """
    signed = bytearray(signPacket(requestBytes(extensions), key))
    bits = [bit % (8 * len(signed)) for bit in bits]
    if len(set(bits)) != len(bits):
        return
    assert classify(bytes(signed)) is not None
    for bit in bits:
        signed[bit // 8] ^= 1 << (bit % 8)
    result = classify(bytes(signed))
    if result is not None:
        assert result.status is not AuthStatus.OK, (key, bits, result)
