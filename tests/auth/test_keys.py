# -*- test-case-name: tests.auth.test_keys -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.auth.keys}: the keys file of ntpd and NTPsec.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import pickle
from pathlib import Path

import pytest
from twisted.trial.unittest import SynchronousTestCase

import ntpservice.auth
from ntpservice.auth.keys import (
    KEY_TYPES,
    MAX_KEY_ID,
    KeyRing,
    KeysError,
    SymmetricKey,
    checkPermissions,
    formatKeysFile,
    lookupKeyType,
    parseKeysFile,
    parseKeysText,
)
from ntpservice.config import ConfigError, SourceLocation
from tests.core.test_purity import forbiddenImports

SECRET = "S3cretW0rd"
"""A key that must never show up in a message."""

SHA1_HEX = "933f62be1d604e68a81b557f18cfa200483f5b70"
AES128_HEX = "7ea62ae64d190114d46d5a082f948ec1"
AES256_HEX = "37ddcbc67bb902bcb8e995977fab4d2b5642f5b32ebceee421921d97e5cbfe39"

EXAMPLE = f"""\
# ntp.keys: KEYID TYPE KEY -- café, commentaire en UTF-8
1 M crocus
2 SHA1 {SHA1_HEX}   # a hex key
3\tAES128CMAC\t{AES128_HEX}
4 sha256 tulip
5 AES-256 {AES256_HEX}

10 md5 {SECRET}
"""


class KeyTypeTests(SynchronousTestCase):
    """
    Tests for the key type table and L{lookupKeyType}.
    """

    def test_canonicalNamesLookUpThemselves(self) -> None:
        """
        Every canonical name, every alias and every name written by
        L{formatKeysFile} for NTPsec finds its own type, in any case.
        """
        for name, keyType in KEY_TYPES.items():
            self.assertIs(lookupKeyType(name), keyType)
            self.assertIs(lookupKeyType(name.lower()), keyType)
            self.assertIs(lookupKeyType(keyType.ntpsecName), keyType)
            for alias in keyType.aliases:
                self.assertIs(lookupKeyType(alias.lower()), keyType)

    def test_wireLengths(self) -> None:
        """
        MD5 and the AES CMACs put 16 bytes on the wire, everything else 20
        (SHA-1, and the longer digests truncated).
        """
        lengths = {name: keyType.macLength for name, keyType in KEY_TYPES.items()}
        self.assertEqual(
            lengths,
            {
                "MD5": 16,
                "SHA1": 20,
                "SHA224": 20,
                "SHA256": 20,
                "SHA384": 20,
                "SHA512": 20,
                "SHA3-224": 20,
                "SHA3-256": 20,
                "SHA3-384": 20,
                "SHA3-512": 20,
                "AES128CMAC": 16,
                "AES192CMAC": 16,
                "AES256CMAC": 16,
            },
        )

    def test_unknownTypes(self) -> None:
        """
        Unknown names, including SHA (SHA-0) and MD5-lookalikes that only
        start with M, are not found.
        """
        for name in ("SHA", "MD4", "MX", "DES", "AES-128-CBC", "", "RSA"):
            self.assertIsNone(lookupKeyType(name), name)


@pytest.mark.parametrize(
    "written, canonical",
    [
        ("M", "MD5"),
        ("m", "MD5"),
        ("md5", "MD5"),
        ("SHA1", "SHA1"),
        ("sha-1", "SHA1"),
        ("SHA-256", "SHA256"),
        ("sha2-512", "SHA512"),
        ("sha3-256", "SHA3-256"),
        ("AES", "AES128CMAC"),
        ("aes128", "AES128CMAC"),
        ("AES-128", "AES128CMAC"),
        ("AES128CMAC", "AES128CMAC"),
        ("aes-128-cmac", "AES128CMAC"),
        ("AES-192", "AES192CMAC"),
        ("AES256", "AES256CMAC"),
    ],
)
def test_typeAliases(written: str, canonical: str) -> None:
    """
    The type names of classic ntpd (C{M}, C{AES128CMAC}), NTPsec (C{AES},
    C{AES-128}, C{SHA-1}) and chrony (C{AES128}) are accepted in any case
    and stored by their canonical name.
    """
    text = f"7 {written} {AES128_HEX if 'AES' in canonical else 'somekey'}"
    if canonical == "AES192CMAC":
        text = f"7 {written} {'ab' * 24}"
    elif canonical == "AES256CMAC":
        text = f"7 {written} {AES256_HEX}"
    ring = parseKeysText(text)
    assert ring[7].keyType == canonical


class ParseTests(SynchronousTestCase):
    """
    Tests for L{parseKeysText} on well-formed files.
    """

    def test_example(self) -> None:
        """
        Every line of a mixed file is read: identifiers, canonical types,
        ASCII and hex keys, with their source lines; comments (in UTF-8
        too), blank lines, tabs and trailing comments are ignored, and
        nothing is trusted yet.
        """
        ring = parseKeysText(EXAMPLE, "ntp.keys")
        self.assertEqual(list(ring), [1, 2, 3, 4, 5, 10])
        self.assertEqual(
            [(k.keyType, k.secret) for k in ring.values()],
            [
                ("MD5", b"crocus"),
                ("SHA1", bytes.fromhex(SHA1_HEX)),
                ("AES128CMAC", bytes.fromhex(AES128_HEX)),
                ("SHA256", b"tulip"),
                ("AES256CMAC", bytes.fromhex(AES256_HEX)),
                ("MD5", SECRET.encode()),
            ],
        )
        self.assertEqual(ring[3].source, SourceLocation("ntp.keys", 4))
        self.assertEqual(ring[10].source, SourceLocation("ntp.keys", 8))
        self.assertEqual(ring.trusted, frozenset())
        self.assertEqual(ring.warnings, ())
        self.assertEqual(ring.path, "ntp.keys")

    def test_twentyCharactersAreASCII(self) -> None:
        """
        A key of 20 characters is ASCII even if every character is a hex
        digit; 22 hex digits are 11 bytes.
        """
        ring = parseKeysText("1 SHA1 " + "ab" * 10 + "\n2 SHA1 " + "ab" * 11)
        self.assertEqual(ring[1].secret, b"ab" * 10)
        self.assertEqual(ring[2].secret, b"\xab" * 11)

    def test_hexUpTo64Digits(self) -> None:
        """
        A hex key may have up to 64 digits (32 bytes), in either case.
        """
        ring = parseKeysText("1 SHA256 " + "AbCd" * 16)
        self.assertEqual(ring[1].secret, b"\xab\xcd" * 16)

    def test_hashInKeyStartsComment(self) -> None:
        """
        C{#} ends the key and starts a comment, as in ntpd: C{abc#def} is
        the key C{abc}.
        """
        ring = parseKeysText("1 MD5 abc#def")
        self.assertEqual(ring[1].secret, b"abc")

    def test_crlfAndBytes(self) -> None:
        """
        A file with CRLF line ends, given as bytes, reads the same.
        """
        ring = parseKeysText(b"1 MD5 crocus\r\n2 SHA1 tulip\r\n")
        self.assertEqual([k.secret for k in ring.values()], [b"crocus", b"tulip"])

    def test_emptyFile(self) -> None:
        """
        A file with no keys gives an empty ring.
        """
        self.assertEqual(len(parseKeysText("# nothing\n\n")), 0)

    def test_duplicateLastWins(self) -> None:
        """
        A key identifier defined twice: the last definition wins, as in
        ntpd, and a warning names both lines.
        """
        ring = parseKeysText("1 MD5 first\n1 SHA1 second\n", "k")
        self.assertEqual((ring[1].keyType, ring[1].secret), ("SHA1", b"second"))
        self.assertEqual(len(ring.warnings), 1)
        self.assertTrue(ring.warnings[0].startswith("k:2: key 1 "), ring.warnings)
        self.assertIn("k:1", ring.warnings[0])

    def test_chronyPrefixWarning(self) -> None:
        """
        A short key written with chrony's C{ASCII:} or C{HEX:} prefix is
        taken literally, as ntpd does, with a warning that does not quote
        it.
        """
        ring = parseKeysText("20 MD5 ASCII:crocus\n", "k")
        self.assertEqual(ring[20].secret, b"ASCII:crocus")
        self.assertEqual(len(ring.warnings), 1)
        self.assertIn("chrony", ring.warnings[0])
        self.assertNotIn("crocus", ring.warnings[0])

    def test_aesShortKeyPadded(self) -> None:
        """
        An AES-128 key shorter than 16 bytes is padded with zero bytes, as
        classic ntpd does, with a warning.
        """
        ring = parseKeysText("3 AES abc\n", "k")
        self.assertEqual(ring[3].secret, b"abc" + bytes(13))
        self.assertEqual(len(ring.warnings), 1)
        self.assertTrue(ring.warnings[0].startswith("k:1: key 3: "))
        self.assertIn("padded", ring.warnings[0])

    def test_aesLongKeyTruncated(self) -> None:
        """
        A 40-digit hex key (the usual SHA-1 key of ntp-keygen) given the
        AES-128 type is truncated to its first 16 bytes, with a warning.
        """
        ring = parseKeysText(f"3 AES128CMAC {SHA1_HEX}\n", "k")
        self.assertEqual(ring[3].secret, bytes.fromhex(SHA1_HEX)[:16])
        self.assertIn("truncated", ring.warnings[0])

    def test_addressList(self) -> None:
        """
        Classic ntpd's fourth field, a comma-separated list of addresses
        and networks, is read into L{SymmetricKey.restrictedTo}.
        """
        ring = parseKeysText("4 SHA1 tulip 192.0.2.1,198.51.100.0/24,2001:db8::/32")
        self.assertEqual(
            ring[4].restrictedTo,
            (
                ipaddress.ip_network("192.0.2.1/32"),
                ipaddress.ip_network("198.51.100.0/24"),
                ipaddress.ip_network("2001:db8::/32"),
            ),
        )


MALFORMED = [
    ("0 MD5 abc", "key 0 is fixed"),
    ("65536 MD5 abc", "key identifier 65536 out of range 1..65535"),
    (f"{SECRET} MD5 abc", "the first field must be a key identifier"),
    ("-1 MD5 abc", "the first field must be a key identifier"),
    ("7", "key 7: expected KEYID TYPE KEY, found 1 field "),
    (f"7 {SECRET}", "key 7: expected KEYID TYPE KEY, found 2 fields"),
    (f"7 {SECRET} MD5", "key 7: unknown key type in field 2"),
    (f"7 SHA {SECRET}", "key 7: type SHA (SHA-0) is not supported; use SHA1"),
    ("7 DES abcdef", "key 7: unknown key type"),
    ("7 SHA1 " + "a" * 41, "key 7: odd number of hex digits (41)"),
    ("7 SHA1 " + SECRET * 3, "must be hexadecimal"),
    ("7 SHA1 HEX:" + SHA1_HEX, "remove chrony's ASCII: or HEX: prefix"),
    ("7 SHA1 " + "ab" * 33, "66 hex digits; the limit is 64 (32 bytes)"),
    (f"7 MD5 {SECRET} 192.0.2.1 extra", "found 5 fields"),
    (f"7 MD5 {SECRET} 192.0.2.1,{SECRET}", "item 2 of the address list"),
    (f"7 MD5 {SECRET}\x01", "field 3 holds a character that is not printable"),
    (f"7 MD5 {SECRET}é", "field 3 holds a character that is not printable"),
    (f"7\fMD5 {SECRET}", "field 1 holds a character that is not printable"),
]


@pytest.mark.parametrize("line, message", MALFORMED)
def test_malformedLine(line: str, message: str) -> None:
    """
    A malformed line refuses the whole file with a C{FILE:LINE: message}
    error that never quotes the key (nor any field that could be it).
    """
    text = f"# keys\n1 MD5 good\n{line}\n2 SHA1 fine\n"
    with pytest.raises(KeysError) as info:
        parseKeysText(text, "/etc/ntp.keys")
    error = info.value
    assert str(error).startswith("/etc/ntp.keys:3: "), str(error)
    assert message in str(error)
    assert SECRET not in str(error)
    assert error.source == SourceLocation("/etc/ntp.keys", 3)
    assert isinstance(error, ConfigError)


def test_malformedBytes() -> None:
    """
    Bytes that are not UTF-8 in a key are refused like any other
    non-ASCII character; in a comment they are ignored.
    """
    assert len(parseKeysText(b"# \xff\xfe\n1 MD5 abc\n")) == 1
    with pytest.raises(KeysError, match=r"^k:1: field 3 holds"):
        parseKeysText(b"1 MD5 ab\xffc\n", "k")


class SymmetricKeyTests(SynchronousTestCase):
    """
    Tests for L{SymmetricKey}.
    """

    def test_reprHidesSecret(self) -> None:
        """
        C{repr()} and C{str()} show the identifier, type and source, never
        the secret, in ASCII or in any other spelling.
        """
        key = parseKeysText(f"10 MD5 {SECRET}", "ntp.keys")[10]
        for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key])):
            self.assertNotIn(SECRET, text)
            self.assertNotIn(SECRET.encode().hex(), text)
            self.assertNotIn(repr(SECRET.encode()), text)
        self.assertEqual(
            repr(key), "SymmetricKey(keyID=10, keyType='MD5', source='ntp.keys:1')"
        )
        ring = parseKeysText(f"10 MD5 {SECRET}").withTrusted([10])
        self.assertNotIn(SECRET, repr(ring))
        self.assertNotIn(SECRET, str(ring))

    def test_aliasNormalized(self) -> None:
        """
        The constructor accepts any type alias and stores the canonical name.
        """
        key = SymmetricKey(1, "aes", bytes(16))
        self.assertEqual(key.keyType, "AES128CMAC")
        self.assertEqual(key.macLength, 16)
        self.assertTrue(key.type.isCMAC)

    def test_invalid(self) -> None:
        """
        Out-of-range identifiers, unknown types, wrong key lengths and wrong
        field types are refused; the messages do not quote the secret.
        """
        for args, exception in [
            ((0, "MD5", b"x"), ValueError),
            ((MAX_KEY_ID + 1, "MD5", b"x"), ValueError),
            ((True, "MD5", b"x"), TypeError),
            ((1, "SHA", b"x"), ValueError),
            ((1, "MD5", b""), ValueError),
            ((1, "MD5", bytes(33)), ValueError),
            ((1, "AES128CMAC", bytes(15)), ValueError),
            ((1, "AES256CMAC", bytes(16)), ValueError),
            ((1, "MD5", SECRET), TypeError),
        ]:
            error = self.assertRaises(exception, SymmetricKey, *args)
            self.assertNotIn(SECRET, str(error))
        self.assertRaises(TypeError, SymmetricKey, 1, "MD5", b"x", "file:1")
        self.assertRaises(TypeError, SymmetricKey, 1, "MD5", b"x", None, ["1.2.3.4"])

    def test_equalityIgnoresSource(self) -> None:
        """
        Keys are equal when identifier, type, secret and address list are;
        where they were read does not matter.
        """
        a = SymmetricKey(1, "MD5", b"abc", SourceLocation("a", 1))
        b = SymmetricKey(1, "md5", b"abc", SourceLocation("b", 9))
        self.assertEqual(a, b)
        self.assertEqual(hash(a), hash(b))
        self.assertNotEqual(a, SymmetricKey(1, "MD5", b"abd"))
        self.assertNotEqual(a, SymmetricKey(1, "SHA1", b"abc"))

    def test_copyAndPickle(self) -> None:
        """
        Copies and pickles of a key (even one already used, which caches a
        pre-keyed MAC object) are equal to it.
        """
        from ntpservice.auth.mac import computeMAC

        for key in (SymmetricKey(1, "MD5", b"abc"), SymmetricKey(2, "AES", bytes(16))):
            computeMAC(key, bytes(48))
            for other in (
                copy.copy(key),
                copy.deepcopy(key),
                pickle.loads(pickle.dumps(key)),
            ):
                self.assertEqual(other, key)
                self.assertEqual(
                    computeMAC(other, b"x" * 48), computeMAC(key, b"x" * 48)
                )

    def test_frozen(self) -> None:
        """
        Keys cannot be changed.
        """
        key = SymmetricKey(1, "MD5", b"abc")
        self.assertRaises(AttributeError, setattr, key, "secret", b"x")

    def test_trustedFrom(self) -> None:
        """
        A key without an address list is trusted from anywhere; one with a
        list only from inside it (IPv4-mapped IPv6 addresses count as
        IPv4), never from an unknown or unparseable address.
        """
        free = SymmetricKey(1, "MD5", b"abc")
        self.assertTrue(free.trustedFrom(None))
        self.assertTrue(free.trustedFrom("203.0.113.9"))
        nets = (
            ipaddress.ip_network("192.0.2.0/24"),
            ipaddress.ip_network("2001:db8::/32"),
        )
        bound = SymmetricKey(1, "MD5", b"abc", restrictedTo=nets)
        self.assertTrue(bound.trustedFrom("192.0.2.77"))
        self.assertTrue(bound.trustedFrom(ipaddress.ip_address("192.0.2.1")))
        self.assertTrue(bound.trustedFrom("::ffff:192.0.2.5"))
        self.assertTrue(bound.trustedFrom("2001:db8::1%eth0"))
        self.assertFalse(bound.trustedFrom("192.0.3.1"))
        self.assertFalse(bound.trustedFrom("2001:db9::1"))
        self.assertFalse(bound.trustedFrom(None))
        self.assertFalse(bound.trustedFrom("example.com"))


class KeyRingTests(SynchronousTestCase):
    """
    Tests for L{KeyRing}.
    """

    def setUp(self) -> None:
        self.ring = parseKeysText(EXAMPLE, "ntp.keys")

    def test_mapping(self) -> None:
        """
        A ring is a read-only mapping from identifier to key, iterated in
        identifier order.
        """
        ring = self.ring
        self.assertEqual(len(ring), 6)
        self.assertIn(2, ring)
        self.assertNotIn(6, ring)
        self.assertEqual(ring[2].keyID, 2)
        self.assertIsNone(ring.get(6))
        self.assertEqual(ring.get(6, "x"), "x")
        self.assertEqual(list(ring.keys()), [1, 2, 3, 4, 5, 10])
        self.assertRaises(KeyError, lambda: ring[6])
        with self.assertRaises(TypeError):
            ring[6] = ring[1]  # type: ignore[index]
        with self.assertRaises(TypeError):
            del ring[1]  # type: ignore[attr-defined]
        self.assertRaises(AttributeError, setattr, ring, "trusted", frozenset())

    def test_withTrusted(self) -> None:
        """
        L{KeyRing.withTrusted} returns a ring with the same keys and the
        given trusted identifiers (replacing the old ones); the original is
        unchanged.
        """
        trusted = self.ring.withTrusted([1, 2, 99])
        self.assertEqual(trusted.trusted, frozenset({1, 2, 99}))
        self.assertEqual(self.ring.trusted, frozenset())
        self.assertEqual(dict(trusted), dict(self.ring))
        self.assertEqual(trusted.path, "ntp.keys")
        self.assertEqual(trusted.withTrusted([3]).trusted, frozenset({3}))
        self.assertNotEqual(trusted, self.ring)
        self.assertEqual(
            trusted, self.ring.withTrusted(range(1, 3)).withTrusted([1, 2, 99])
        )

    def test_isTrusted(self) -> None:
        """
        A key is trusted when it exists and its identifier is trusted; a
        trusted identifier without a key, or a key not listed, is not.
        """
        ring = self.ring.withTrusted([1, 2, 99])
        self.assertTrue(ring.isTrusted(1))
        self.assertIs(ring.trustedKey(2), ring[2])
        self.assertFalse(ring.isTrusted(3))
        self.assertIsNone(ring.trustedKey(3))
        self.assertFalse(ring.isTrusted(99))

    def test_isTrustedFromAddress(self) -> None:
        """
        A key with an address list is trusted only from those addresses.
        """
        ring = parseKeysText("4 SHA1 tulip 192.0.2.0/24\n").withTrusted([4])
        self.assertTrue(ring.isTrusted(4, "192.0.2.1"))
        self.assertFalse(ring.isTrusted(4, "198.51.100.1"))
        self.assertFalse(ring.isTrusted(4))

    def test_invalidTrusted(self) -> None:
        """
        Trusted identifiers must be ints from 1 to 65535.
        """
        for bad in (0, MAX_KEY_ID + 1, "1"):
            self.assertRaises(ValueError, self.ring.withTrusted, [bad])

    def test_constructor(self) -> None:
        """
        A ring is built from keys with unique identifiers.
        """
        a = SymmetricKey(1, "MD5", b"a")
        ring = KeyRing([a], trusted=[1])
        self.assertEqual(dict(ring), {1: a})
        self.assertRaises(ValueError, KeyRing, [a, SymmetricKey(1, "SHA1", b"b")])
        self.assertRaises(TypeError, KeyRing, ["1 MD5 a"])


class FileTests(SynchronousTestCase):
    """
    Tests for L{parseKeysFile} and L{checkPermissions}.
    """

    def write(self, text: str, mode: int = 0o600) -> str:
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def test_privateFile(self) -> None:
        """
        A mode 0600 file is read without warnings.
        """
        path = self.write(EXAMPLE)
        ring = parseKeysFile(path)
        self.assertEqual(ring, parseKeysText(EXAMPLE))
        self.assertEqual(ring.path, path)
        self.assertEqual(ring[1].source, SourceLocation(path, 2))
        self.assertEqual(ring.warnings, ())
        self.assertIsNone(checkPermissions(path))

    def test_readableByOthers(self) -> None:
        """
        A keys file that group or others can read (or write) is read, with
        a warning first in L{KeyRing.warnings} that says who and gives the
        mode; L{checkPermissions} gives the same warning.
        """
        for mode, words in [
            (0o640, ["readable", "by group", "0640"]),
            (0o604, ["readable", "by others", "0604"]),
            (0o644, ["readable", "group and others", "0644"]),
            (0o620, ["writable", "by group", "0620"]),
        ]:
            path = self.write(EXAMPLE, mode)
            warning = checkPermissions(path)
            assert warning is not None
            self.assertTrue(warning.startswith(f"{path}: keys file is "), warning)
            for word in words:
                self.assertIn(word, warning)
            self.assertNotIn(SECRET, warning)
            self.assertEqual(parseKeysFile(path).warnings[0], warning)
        self.assertIsNone(checkPermissions(self.write(EXAMPLE, 0o700)))

    def test_missingFile(self) -> None:
        """
        A file that cannot be read raises L{KeysError} C{FILE: cannot read
        keys file: ...}; L{checkPermissions} reports it too.
        """
        path = os.path.abspath(self.mktemp())
        error = self.assertRaises(KeysError, parseKeysFile, path)
        self.assertEqual(
            str(error), f"{path}: cannot read keys file: No such file or directory"
        )
        warning = checkPermissions(path)
        assert warning is not None
        self.assertTrue(warning.startswith(path))

    def test_malformedFile(self) -> None:
        """
        Errors in a file name the file and the line.
        """
        path = self.write("1 MD5 a\n\n3 FOO bar\n")
        error = self.assertRaises(KeysError, parseKeysFile, path)
        self.assertTrue(str(error).startswith(f"{path}:3: key 3: unknown key type"))


class FormatTests(SynchronousTestCase):
    """
    Tests for L{formatKeysFile}.
    """

    def test_ntpsecRoundTrip(self) -> None:
        """
        The NTPsec dialect reads back to the same keys, address lists
        included; printable keys stay ASCII, others are hex.
        """
        text = EXAMPLE + "20 SHA1 tulip 192.0.2.0/24,2001:db8::/32\n21 AES abc\n"
        ring = parseKeysText(text)
        written = formatKeysFile(ring, "ntpsec")
        self.assertTrue(written.startswith("# "))
        back = parseKeysText(written)
        self.assertEqual(dict(back), dict(ring))
        self.assertIn("\n1 MD5 crocus\n", written)
        self.assertIn(f"\n3 AES128CMAC {AES128_HEX}\n", written)
        self.assertIn(f"\n5 AES-256 {AES256_HEX}\n", written)
        self.assertIn("\n21 AES128CMAC 61626300000000000000000000000000\n", written)
        self.assertIn("\n20 SHA1 tulip 192.0.2.0/24,2001:db8::/32\n", written)

    def test_ntpsecAwkwardSecrets(self) -> None:
        """
        Keys that cannot be written as ASCII (a C{#}, a space, a control
        character) are written in hex when they are at least 11 bytes long
        (more than 20 digits); shorter ones cannot be written at all.
        """
        for secret in (b"has#hash-11", b"with space!", b"\x00" * 11, bytes(range(32))):
            ring = KeyRing([SymmetricKey(1, "SHA1", secret)])
            back = parseKeysText(formatKeysFile(ring))
            self.assertEqual(back[1].secret, secret)
        ring = KeyRing([SymmetricKey(1, "SHA1", b"#short")])
        self.assertRaises(ValueError, formatKeysFile, ring)

    def test_chrony(self) -> None:
        """
        The chrony dialect writes C{ID TYPE HEX:KEY} with chrony's type
        names; C{onlyTrusted} leaves the untrusted keys out.
        """
        ring = parseKeysText(EXAMPLE).withTrusted([1, 2, 3, 4, 5])
        written = formatKeysFile(ring, "chrony")
        lines = written.splitlines()
        self.assertTrue(lines[0].startswith("#"))
        self.assertEqual(
            lines[1:],
            [
                "1 MD5 HEX:63726F637573",
                f"2 SHA1 HEX:{SHA1_HEX.upper()}",
                f"3 AES128 HEX:{AES128_HEX.upper()}",
                "4 SHA256 HEX:74756C6970",
                f"5 AES256 HEX:{AES256_HEX.upper()}",
                f"10 MD5 HEX:{SECRET.encode().hex().upper()}",
            ],
        )
        trusted = formatKeysFile(ring, "chrony", onlyTrusted=True)
        self.assertEqual(trusted.splitlines()[1:], lines[1:-1])

    def test_chronyMissingTypes(self) -> None:
        """
        chrony has no SHA224 or AES-192 keys: writing one raises.
        """
        for line in ("1 SHA224 abc", f"1 AES-192 {'ab' * 24}"):
            self.assertRaises(ValueError, formatKeysFile, parseKeysText(line), "chrony")

    def test_unknownDialect(self) -> None:
        """
        Only C{ntpsec} and C{chrony} are known.
        """
        self.assertRaises(ValueError, formatKeysFile, KeyRing(), "openntpd")


class PurityTests(SynchronousTestCase):
    """
    L{ntpservice.auth} does no network I/O and reads no clock; only
    C{keys.py} reads files.
    """

    def test_noForbiddenImports(self) -> None:
        """
        No module of the package imports twisted, socket, time, select,
        asyncio or random; only C{keys.py} imports C{os}, and only it
        calls C{open}.
        """
        directory = Path(ntpservice.auth.__file__).parent
        files = sorted(directory.glob("*.py"))
        self.assertIn(directory / "mac.py", files)
        found = []
        for path in files:
            source = path.read_text("utf-8")
            for entry in forbiddenImports(source, path.name):
                if not (path.name == "keys.py" and entry.endswith(": os")):
                    found.append(entry)
            if path.name != "keys.py" and "open(" in source:
                found.append(f"{path.name}: calls open()")
        self.assertEqual(found, [])
