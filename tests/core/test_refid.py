# -*- test-case-name: tests.core.test_refid -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.refid}.
"""

from __future__ import annotations

import hashlib

import pytest
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.refid import (
    formatRefid,
    refidFromAddress,
    refidFromASCII,
    refidFromIPv4,
    refidFromIPv6,
)


class IPv4Tests(SynchronousTestCase):
    """
    Tests for L{refidFromIPv4}.
    """

    def test_address(self) -> None:
        """
        The refid of an IPv4 source is its address bytes, in network order.
        """
        self.assertEqual(refidFromIPv4("192.0.2.1"), b"\xc0\x00\x02\x01")
        self.assertEqual(refidFromIPv4("127.0.0.1"), b"\x7f\x00\x00\x01")

    def test_invalid(self) -> None:
        """
        Anything but an IPv4 address raises C{ValueError}.
        """
        for bad in ("::1", "300.1.1.1", "192.0.2", "ntp.example.com", ""):
            with self.assertRaises(ValueError, msg=bad):
                refidFromIPv4(bad)


class IPv6Tests(SynchronousTestCase):
    """
    Tests for L{refidFromIPv6}.
    """

    def test_loopback(self) -> None:
        """
        The refid of ::1 is the first four bytes of the MD5 digest of its 16
        bytes (computed with C{openssl dgst -md5}: cf404dc8...).
        """
        self.assertEqual(refidFromIPv6("::1"), bytes.fromhex("cf404dc8"))

    def test_documentationAddress(self) -> None:
        """
        The refid of 2001:db8::1 is the first four bytes of the MD5 digest
        of its 16 bytes, however the address is written.
        """
        expected = bytes.fromhex("39ab9b37")
        packed = bytes.fromhex("20010db8000000000000000000000001")
        self.assertEqual(hashlib.md5(packed).digest()[:4], expected)
        self.assertEqual(refidFromIPv6("2001:db8::1"), expected)
        self.assertEqual(refidFromIPv6("2001:0DB8:0:0:0:0:0:1"), expected)

    def test_scope(self) -> None:
        """
        The scope of a link-local address does not change its refid.
        """
        self.assertEqual(refidFromIPv6("fe80::1%eth0"), refidFromIPv6("fe80::1"))

    def test_invalid(self) -> None:
        """
        Anything but an IPv6 address raises C{ValueError}.
        """
        for bad in ("192.0.2.1", "::g", "1:2:3:4:5:6:7:8:9", ""):
            with self.assertRaises(ValueError, msg=bad):
                refidFromIPv6(bad)


class AddressTests(SynchronousTestCase):
    """
    Tests for L{refidFromAddress}.
    """

    def test_families(self) -> None:
        """
        IPv4 addresses give their bytes and IPv6 addresses their hash.
        """
        self.assertEqual(refidFromAddress("192.0.2.1"), b"\xc0\x00\x02\x01")
        self.assertEqual(refidFromAddress("::1"), bytes.fromhex("cf404dc8"))

    def test_mappedIPv4(self) -> None:
        """
        An IPv4-mapped IPv6 address gives the refid of the IPv4 address.
        """
        self.assertEqual(refidFromAddress("::ffff:192.0.2.1"), b"\xc0\x00\x02\x01")

    def test_invalid(self) -> None:
        """
        Anything but an IP address raises C{ValueError}.
        """
        for bad in ("ntp.example.com", "", "1.2.3.4.5"):
            with self.assertRaises(ValueError, msg=bad):
                refidFromAddress(bad)


class ASCIITests(SynchronousTestCase):
    """
    Tests for L{refidFromASCII}.
    """

    def test_padding(self) -> None:
        """
        One to four characters are left-justified and NUL-padded.
        """
        self.assertEqual(refidFromASCII("GPS"), b"GPS\0")
        self.assertEqual(refidFromASCII("RATE"), b"RATE")
        self.assertEqual(refidFromASCII("X"), b"X\0\0\0")

    def test_invalid(self) -> None:
        """
        Empty, too long, non-ASCII or non-printable text raises
        C{ValueError}.
        """
        for bad in ("", "GOESX", "\xe9", "A\0", "\x01", "\u20ac"):
            with self.assertRaises(ValueError, msg=repr(bad)):
                refidFromASCII(bad)


@pytest.mark.parametrize(
    "refid, stratum, text",
    [
        (b"RATE", 0, "RATE"),
        (b"INIT", 0, "INIT"),
        (b"GPS\0", 1, "GPS"),
        (b"PPS\0", 1, "PPS"),
        (b"\0\0\0\0", 1, ""),
        (b"A\x01B\0", 1, "A.B"),
        # Text ends at the first NUL, as ntpd's mode 6 sends it, and a
        # space is not graphic.
        (b"A\0B\0", 1, "A"),
        (b"A B\0", 1, "A.B"),
        (b"\xffGPS", 0, ".GPS"),
        (b"\xc0\x00\x02\x01", 2, "192.0.2.1"),
        (b"\x7f\x00\x00\x01", 15, "127.0.0.1"),
        (b"GPS\0", 2, "71.80.83.0"),
        (b"\0\0\0\0", 3, "0.0.0.0"),
        # Stratum 16 and above are text too (ntpd's REFID_ISTEXT).
        (b"INIT", 16, "INIT"),
        (b"STEP", 255, "STEP"),
    ],
)
def test_formatRefid(refid: bytes, stratum: int, text: str) -> None:
    """
    L{formatRefid} shows text at strata 0, 1 and 16 and above, and a
    dotted quad at strata 2 to 15.
    """
    assert formatRefid(refid, stratum) == text


@pytest.mark.parametrize(
    "refid, stratum, unsynchronizedAsText, text",
    [
        (b"GPS\0", 1, True, ".GPS."),
        (b"RATE", 0, True, ".RATE."),
        (b"INIT", 16, True, ".INIT."),
        (b"INIT", 16, False, "73.78.73.84"),
        (b"\xc0\x00\x02\x01", 2, True, "192.0.2.1"),
    ],
)
def test_formatRefidDotted(
    refid: bytes, stratum: int, unsynchronizedAsText: bool, text: str
) -> None:
    """
    L{formatRefid} with C{dotted} puts text between dots and leaves
    addresses alone; without C{unsynchronizedAsText}, stratum 16 is an
    address (NTPsec's C{refid_str}, which C{rawstats} uses).
    """
    assert (
        formatRefid(
            refid, stratum, dotted=True, unsynchronizedAsText=unsynchronizedAsText
        )
        == text
    )


@pytest.mark.parametrize("refid", [b"", b"abc", b"abcde"])
def test_formatRefidLength(refid: bytes) -> None:
    """
    L{formatRefid} refuses a refid that is not 4 bytes long.
    """
    with pytest.raises(ValueError):
        formatRefid(refid, 2)
