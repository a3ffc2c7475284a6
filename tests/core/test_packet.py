# -*- test-case-name: tests.core.test_packet -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.packet}.
"""

from __future__ import annotations

import dataclasses
import inspect
import struct

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.packet import (
    EXTENSION_MIN_LEN,
    HEADER_LEN,
    KISS_CODES,
    LEAP_ADD,
    LEAP_DEL,
    LEAP_NONE,
    LEAP_NOTINSYNC,
    MAC,
    LONG_DIGEST_LENGTHS,
    MAC_LENGTHS,
    MAX_STRATUM,
    MODE_ACTIVE,
    MODE_BROADCAST,
    MODE_CLIENT,
    MODE_CONTROL,
    MODE_PASSIVE,
    MODE_PRIVATE,
    MODE_RESERVED,
    MODE_SERVER,
    ExtensionField,
    NTPPacket,
    PacketError,
    peekHeader,
)
from ntpservice.core.timestamps import ZERO, NTPTimestamp

NS = 1_000_000_000

# A server answer as ntpd would send it, written out field by field.
NTPD_RESPONSE = bytes.fromhex(
    "24"  # LI 0, VN 4, mode 4 (server)
    "02"  # stratum 2
    "06"  # poll 2**6 s
    "e8"  # precision 2**-24 s
    "00000a3d"  # root delay 2621/65536 s (about 40 ms)
    "00000342"  # root dispersion 834/65536 s (about 12.7 ms)
    "c0000201"  # refid 192.0.2.1
    "e8fe6f00"
    "00000000"  # reftime, Unix 1699999872.0
    "e8fe6f80"
    "80000000"  # org, Unix 1700000000.5
    "e8fe6f80"
    "8010624e"  # rec, Unix 1700000000.500250
    "e8fe6f80"
    "8020c49c"  # xmt, Unix 1700000000.500500
)

# A client request as chrony sends it: zero org and rec, a random xmt.
CHRONY_REQUEST = bytes.fromhex(
    "23"  # LI 0, VN 4, mode 3 (client)
    "00"  # stratum 0
    "0a"  # poll 2**10 s
    "20"  # precision 2**32 s: chrony sends 32 here
    "00000000"
    "00000000"
    "00000000"
    "0000000000000000"
    "0000000000000000"
    "0000000000000000"
    "5f3c2a1b9d8e7f60"
)

# A rate-limiting kiss-o'-death.
KOD_RATE = bytes.fromhex(
    "e4"  # LI 3, VN 4, mode 4
    "00"  # stratum 0: kiss-o'-death
    "0a"
    "00"
    "00000000"
    "00000000"
    "52415445"  # "RATE"
    "0000000000000000"
    "5f3c2a1b9d8e7f60"  # org: the request's xmt, echoed
    "0000000000000000"
    "0000000000000000"
)


def extension(fieldType: int, bodyLength: int, fill: int = 0xAB) -> ExtensionField:
    """
    Make an extension field whose body is C{bodyLength} bytes of C{fill}.
    """
    return ExtensionField(fieldType, bytes([fill]) * bodyLength)


def fullPacket() -> NTPPacket:
    """
    A packet with every field set, two extension fields and a SHA-1 MAC.
    """
    return NTPPacket(
        leap=LEAP_ADD,
        version=4,
        mode=MODE_ACTIVE,
        stratum=3,
        poll=-2,
        precision=-20,
        rootDelay=0x00012345,
        rootDispersion=0x00000ABC,
        refid=b"\x0a\x00\x00\x01",
        reftime=NTPTimestamp(0xE8FE6F00_00000000),
        org=NTPTimestamp(0xE8FE6F80_80000000),
        rec=NTPTimestamp(0xE8FE6F80_8010624E),
        xmt=NTPTimestamp(0xE8FE6F80_8020C49C),
        extensions=(extension(0x0104, 32, 1), extension(0x0204, 12, 2)),
        mac=MAC(42, bytes(range(20))),
    )


class ConstantsTests(SynchronousTestCase):
    """
    Tests for the module constants.
    """

    def test_values(self) -> None:
        """
        The constants have their RFC 5905 values.
        """
        self.assertEqual(HEADER_LEN, 48)
        self.assertEqual(
            [
                MODE_RESERVED,
                MODE_ACTIVE,
                MODE_PASSIVE,
                MODE_CLIENT,
                MODE_SERVER,
                MODE_BROADCAST,
                MODE_CONTROL,
                MODE_PRIVATE,
            ],
            list(range(8)),
        )
        self.assertEqual([LEAP_NONE, LEAP_ADD, LEAP_DEL, LEAP_NOTINSYNC], [0, 1, 2, 3])
        self.assertEqual(MAX_STRATUM, 16)
        self.assertEqual(EXTENSION_MIN_LEN, 16)
        self.assertEqual(MAC_LENGTHS, {4, 20, 24})

    def test_kissCodes(self) -> None:
        """
        L{KISS_CODES} has the codes of RFC 5905 Figure 13 and RFC 8915's
        NTSN, each with a one-line meaning.
        """
        self.assertEqual(
            set(KISS_CODES),
            {
                "ACST",
                "AUTH",
                "AUTO",
                "BCST",
                "CRYP",
                "DENY",
                "DROP",
                "RSTR",
                "INIT",
                "MCST",
                "NKEY",
                "NTSN",
                "RATE",
                "RMOT",
                "STEP",
            },
        )
        for meaning in KISS_CODES.values():
            self.assertTrue(meaning)
            self.assertNotIn("\n", meaning)


class PeekHeaderTests(SynchronousTestCase):
    """
    Tests for L{peekHeader}.
    """

    def test_fields(self) -> None:
        """
        L{peekHeader} returns leap, version and mode from the first byte.
        """
        self.assertEqual(peekHeader(b"\xe3"), (3, 4, 3))
        self.assertEqual(peekHeader(NTPD_RESPONSE), (0, 4, 4))
        # An ntpq read-variables request: LI 0, VN 2, mode 6.
        self.assertEqual(peekHeader(b"\x16\x02\x00\x01"), (0, 2, 6))
        # An ntpdc request: LI 0, VN 2, mode 7.
        self.assertEqual(peekHeader(b"\x17\x00"), (0, 2, 7))

    def test_empty(self) -> None:
        """
        An empty datagram raises L{PacketError}.
        """
        self.assertRaises(PacketError, peekHeader, b"")

    def test_buffer(self) -> None:
        """
        L{peekHeader} accepts C{bytearray} and C{memoryview}.
        """
        self.assertEqual(peekHeader(bytearray(b"\xe3")), (3, 4, 3))  # type: ignore[arg-type]
        self.assertEqual(peekHeader(memoryview(b"\xe3")), (3, 4, 3))  # type: ignore[arg-type]


class KnownPacketTests(SynchronousTestCase):
    """
    Tests decoding and encoding packets written out by hand.
    """

    def test_ntpdResponse(self) -> None:
        """
        Every field of an ntpd server answer decodes to its value.
        """
        packet = NTPPacket.decode(NTPD_RESPONSE)
        self.assertEqual(packet.leap, LEAP_NONE)
        self.assertEqual(packet.version, 4)
        self.assertEqual(packet.mode, MODE_SERVER)
        self.assertEqual(packet.stratum, 2)
        self.assertEqual(packet.poll, 6)
        self.assertEqual(packet.precision, -24)
        self.assertEqual(packet.rootDelay, 2621)
        self.assertAlmostEqual(packet.rootDelaySeconds, 0.04, places=4)
        self.assertEqual(packet.rootDispersion, 834)
        self.assertAlmostEqual(packet.rootDispersionSeconds, 0.0127, places=4)
        self.assertEqual(packet.refid, b"\xc0\x00\x02\x01")
        pivot = 1_700_000_000 * NS
        self.assertEqual(packet.reftime.toUnixNanoseconds(pivot), 1_699_999_872 * NS)
        self.assertEqual(packet.org.toUnixNanoseconds(pivot), 1_700_000_000_500_000_000)
        self.assertEqual(packet.rec.toUnixNanoseconds(pivot), 1_700_000_000_500_250_000)
        self.assertEqual(packet.xmt.toUnixNanoseconds(pivot), 1_700_000_000_500_500_000)
        self.assertAlmostEqual(packet.xmt - packet.org, 0.0005, places=9)
        self.assertEqual(packet.extensions, ())
        self.assertIsNone(packet.mac)
        self.assertFalse(packet.isKissOfDeath)
        self.assertIsNone(packet.kissCode)
        self.assertEqual(packet.encode(), NTPD_RESPONSE)

    def test_chronyRequest(self) -> None:
        """
        A chrony client request decodes, with zero org and rec, and
        encodes back to the same bytes.
        """
        packet = NTPPacket.decode(CHRONY_REQUEST)
        self.assertEqual((packet.leap, packet.version, packet.mode), (0, 4, 3))
        self.assertEqual(packet.poll, 10)
        self.assertEqual(packet.precision, 32)
        self.assertTrue(packet.org.isZero)
        self.assertTrue(packet.rec.isZero)
        self.assertEqual(packet.xmt, NTPTimestamp(0x5F3C2A1B9D8E7F60))
        self.assertEqual(packet.encode(), CHRONY_REQUEST)

    def test_defaultPacket(self) -> None:
        """
        The default packet is the classic SNTP request: first byte 0xE3
        (unsynchronized, version 4, client), everything else zero.
        """
        self.assertEqual(NTPPacket().encode(), b"\xe3" + bytes(47))
        self.assertEqual(NTPPacket.decode(b"\xe3" + bytes(47)), NTPPacket())

    def test_signedFields(self) -> None:
        """
        Poll and precision are signed bytes at offsets 2 and 3.
        """
        data = NTPPacket(poll=-1, precision=-128).encode()
        self.assertEqual(data[2:4], b"\xff\x80")
        data = NTPPacket(poll=127, precision=-20).encode()
        self.assertEqual(data[2:4], b"\x7f\xec")

    def test_fieldOffsets(self) -> None:
        """
        Every header field is encoded at its RFC 5905 offset, big-endian.
        """
        data = fullPacket().encode()
        self.assertEqual(data[0], (1 << 6) | (4 << 3) | 1)
        self.assertEqual(data[1], 3)
        self.assertEqual(data[4:8], b"\x00\x01\x23\x45")
        self.assertEqual(data[8:12], b"\x00\x00\x0a\xbc")
        self.assertEqual(data[12:16], b"\x0a\x00\x00\x01")
        self.assertEqual(data[16:24], bytes.fromhex("e8fe6f0000000000"))
        self.assertEqual(data[24:32], bytes.fromhex("e8fe6f8080000000"))
        self.assertEqual(data[32:40], bytes.fromhex("e8fe6f808010624e"))
        self.assertEqual(data[40:48], bytes.fromhex("e8fe6f808020c49c"))
        self.assertEqual(data[48:52], b"\x01\x04\x00\x24")
        self.assertEqual(data[52:84], b"\x01" * 32)
        self.assertEqual(data[84:88], b"\x02\x04\x00\x10")
        self.assertEqual(data[88:100], b"\x02" * 12)
        self.assertEqual(data[100:104], b"\x00\x00\x00\x2a")
        self.assertEqual(data[104:], bytes(range(20)))
        self.assertEqual(len(data), 124)


class RoundTripTests(SynchronousTestCase):
    """
    Packets survive encoding and decoding.
    """

    def assertRoundTrip(self, packet: NTPPacket) -> None:
        """
        Assert that C{packet} encodes to bytes that decode to C{packet} and
        that those bytes are canonical.
        """
        data = packet.encode()
        decoded = NTPPacket.decode(data)
        self.assertEqual(decoded, packet)
        self.assertEqual(decoded.encode(), data)

    def test_header(self) -> None:
        """
        A header-only packet round-trips.
        """
        self.assertRoundTrip(dataclasses.replace(fullPacket(), extensions=(), mac=None))

    def test_macMD5(self) -> None:
        """
        A packet with a 16-byte digest round-trips, 68 bytes long.
        """
        packet = NTPPacket(mac=MAC(1, bytes(16)))
        self.assertEqual(len(packet.encode()), 68)
        self.assertRoundTrip(packet)

    def test_macSHA1(self) -> None:
        """
        A packet with a 20-byte digest round-trips, 72 bytes long.
        """
        packet = NTPPacket(mac=MAC(0xFFFFFFFF, b"\xff" * 20))
        self.assertEqual(len(packet.encode()), 72)
        self.assertRoundTrip(packet)

    def test_cryptoNAK(self) -> None:
        """
        A crypto-NAK, a key identifier alone, round-trips.
        """
        packet = NTPPacket(mode=MODE_SERVER, mac=MAC(0, b""))
        self.assertEqual(len(packet.encode()), 52)
        self.assertRoundTrip(packet)
        self.assertTrue(NTPPacket.decode(packet.encode()).mac.isCryptoNAK)  # type: ignore[union-attr]

    def test_cryptoNAKAnyKeyID(self) -> None:
        """
        A 4-byte trailer is a crypto-NAK whatever its key identifier.
        """
        packet = NTPPacket.decode(CHRONY_REQUEST + b"\x00\x00\x00\x07")
        self.assertEqual(packet.mac, MAC(7, b""))

    def test_extensionsAndMAC(self) -> None:
        """
        Extension fields followed by a MAC round-trip.
        """
        self.assertRoundTrip(fullPacket())

    def test_extensionsAndCryptoNAK(self) -> None:
        """
        Extension fields followed by a crypto-NAK round-trip.
        """
        self.assertRoundTrip(NTPPacket(extensions=(extension(1, 24),), mac=MAC(0, b"")))

    def test_extensionsWithoutMAC(self) -> None:
        """
        Extension fields without a MAC round-trip (as in NTS).
        """
        self.assertRoundTrip(NTPPacket(extensions=(extension(0x0104, 32),)))
        self.assertRoundTrip(
            NTPPacket(extensions=(extension(0x0104, 12), extension(0x0204, 28)))
        )
        self.assertRoundTrip(NTPPacket(extensions=(extension(1, 12),)))

    def test_bufferInput(self) -> None:
        """
        L{NTPPacket.decode} accepts C{bytearray} and C{memoryview} and still
        produces C{bytes} fields.
        """
        data = fullPacket().encode()
        for buffer in (bytearray(data), memoryview(data)):
            packet = NTPPacket.decode(buffer)  # type: ignore[arg-type]
            self.assertEqual(packet, fullPacket())
            self.assertIs(type(packet.refid), bytes)
            self.assertIs(type(packet.extensions[0].value), bytes)
            self.assertIs(type(packet.mac.digest), bytes)  # type: ignore[union-attr]

    def test_allVersionsAndModes(self) -> None:
        """
        Versions 1 to 7 and modes 0 to 5 all decode.
        """
        for version in range(1, 8):
            for mode in range(6):
                packet = NTPPacket(version=version, mode=mode)
                self.assertRoundTrip(packet)


class DecodeErrorTests(SynchronousTestCase):
    """
    Malformed datagrams raise L{PacketError} with a message.
    """

    def assertMalformed(self, data: bytes, reason: str) -> None:
        """
        Assert that decoding C{data} raises L{PacketError} whose message
        contains C{reason}.
        """
        with self.assertRaises(PacketError) as context:
            NTPPacket.decode(data)
        self.assertIn(reason, str(context.exception))

    def test_shortHeader(self) -> None:
        """
        Anything shorter than 48 bytes is refused, at every length.
        """
        for length in range(48):
            self.assertMalformed(NTPD_RESPONSE[:length], "shorter than the 48-byte")

    def test_controlAndPrivateModes(self) -> None:
        """
        Mode 6 and mode 7 datagrams are refused, even 48 bytes long.
        """
        for first in (0x16, 0x17, 0x26, 0x27, 0xE6, 0xE7):
            self.assertMalformed(bytes([first]) + bytes(47), "do not have an NTP")

    def test_versionZero(self) -> None:
        """
        Version 0 is refused.
        """
        self.assertMalformed(b"\x03" + bytes(47), "version 0")
        self.assertMalformed(b"\xc4" + bytes(47), "version 0")

    def test_trailerTooShort(self) -> None:
        """
        A trailer of 1 to 15 bytes that is not 4 bytes long is neither an
        extension field nor a MAC.
        """
        for length in range(1, 16):
            if length == 4:
                continue
            self.assertMalformed(
                CHRONY_REQUEST + bytes(length), "neither an extension field"
            )

    def test_trailerBetweenMACs(self) -> None:
        """
        Trailers that are not a MAC length and not a valid extension field
        are refused: 8 bytes, 28 bytes of zeros (length field 0).
        """
        self.assertMalformed(CHRONY_REQUEST + bytes(8), "neither an extension field")
        self.assertMalformed(CHRONY_REQUEST + bytes(28), "invalid length 0")

    def test_extensionLengthTooSmall(self) -> None:
        """
        An extension field whose length is less than 16 is refused.
        """
        for length in (0, 4, 8, 12):
            self.assertMalformed(
                CHRONY_REQUEST + struct.pack("!HH", 1, length) + bytes(28),
                f"invalid length {length}",
            )

    def test_extensionLengthNotWordMultiple(self) -> None:
        """
        An extension field whose length is not a multiple of 4 is refused.
        """
        for length in (17, 18, 19, 30):
            self.assertMalformed(
                CHRONY_REQUEST + struct.pack("!HH", 1, length) + bytes(28),
                f"invalid length {length}",
            )

    def test_extensionPastEnd(self) -> None:
        """
        An extension field that claims more bytes than the datagram has is
        refused.
        """
        self.assertMalformed(
            CHRONY_REQUEST + struct.pack("!HH", 1, 32) + bytes(12),
            "claims 32 bytes but only 16 remain",
        )
        self.assertMalformed(
            CHRONY_REQUEST + struct.pack("!HH", 1, 0xFFFC) + bytes(60),
            "claims 65532 bytes",
        )

    def test_extensionThenGarbage(self) -> None:
        """
        After a valid extension field, 8 bytes (or any length that is
        neither a MAC nor an extension field) are refused.
        """
        field = extension(1, 24).encode()
        for length in (1, 2, 3, 5, 8, 12, 15):
            self.assertMalformed(
                CHRONY_REQUEST + field + bytes(length), "neither an extension field"
            )

    def test_extensionThenBadExtension(self) -> None:
        """
        A malformed second extension field is refused, with its offset.
        """
        field = extension(1, 12).encode()
        self.assertMalformed(
            CHRONY_REQUEST + field + struct.pack("!HH", 2, 18) + bytes(28),
            "extension field at offset 64 has invalid length 18",
        )

    def test_extensionThenMAC(self) -> None:
        """
        After extension fields, 4, 20 and 24 remaining bytes are the MAC.
        """
        fields = extension(1, 12).encode() + extension(2, 28).encode()
        for digestLength in (0, 16, 20):
            data = CHRONY_REQUEST + fields + b"\x00\x00\x00\x05" + bytes(digestLength)
            packet = NTPPacket.decode(data)
            self.assertEqual(len(packet.extensions), 2)
            self.assertEqual(packet.mac, MAC(5, bytes(digestLength)))

    def test_truncatedFullPacket(self) -> None:
        """
        Every truncation of a packet with extension fields and a MAC either
        is refused or decodes to a packet that encodes to the same bytes.
        """
        data = fullPacket().encode()
        for length in range(len(data)):
            try:
                packet = NTPPacket.decode(data[:length])
            except PacketError:
                continue
            self.assertEqual(packet.encode(), data[:length])

    def test_wrappedValueError(self) -> None:
        """
        A C{ValueError} raised while decoding becomes a L{PacketError}.
        """

        class BadStruct:
            def unpack_from(self, data: bytes, offset: int = 0) -> tuple[int, ...]:
                raise struct.error("unpack requires a buffer of 48 bytes")

        from ntpservice.core import packet as packetModule

        self.patch(packetModule, "_HEADER", BadStruct())
        self.assertMalformed(CHRONY_REQUEST, "malformed NTP packet")


class ConstructorTests(SynchronousTestCase):
    """
    The constructors refuse out-of-range values with C{ValueError} and
    wrong types with C{TypeError}.
    """

    def test_defaults(self) -> None:
        """
        The defaults are an unsynchronized NTPv4 client with every other
        field zero.
        """
        packet = NTPPacket()
        self.assertEqual(
            (packet.leap, packet.version, packet.mode, packet.stratum),
            (LEAP_NOTINSYNC, 4, MODE_CLIENT, 0),
        )
        self.assertEqual((packet.poll, packet.precision), (0, 0))
        self.assertEqual((packet.rootDelay, packet.rootDispersion), (0, 0))
        self.assertEqual(packet.refid, bytes(4))
        self.assertEqual(
            (packet.reftime, packet.org, packet.rec, packet.xmt), (ZERO,) * 4
        )
        self.assertEqual(packet.extensions, ())
        self.assertIsNone(packet.mac)

    def test_signatureMatchesFields(self) -> None:
        """
        The hand-written constructor takes the dataclass fields, in order,
        with the declared defaults.
        """
        parameters = list(inspect.signature(NTPPacket).parameters.values())
        fields = dataclasses.fields(NTPPacket)
        self.assertEqual([p.name for p in parameters], [f.name for f in fields])
        self.assertEqual([p.default for p in parameters], [f.default for f in fields])

    def test_positional(self) -> None:
        """
        Fields can be given positionally, in declaration order.
        """
        packet = NTPPacket(0, 3, MODE_SERVER, 1, 4, -6, 1, 2, b"GPS\0")
        self.assertEqual(
            packet,
            NTPPacket(
                leap=0,
                version=3,
                mode=MODE_SERVER,
                stratum=1,
                poll=4,
                precision=-6,
                rootDelay=1,
                rootDispersion=2,
                refid=b"GPS\0",
            ),
        )

    def test_frozen(self) -> None:
        """
        Packets cannot be changed; L{dataclasses.replace} makes a new one,
        and checks it.
        """
        packet = NTPPacket()
        with self.assertRaises(dataclasses.FrozenInstanceError):
            packet.stratum = 2  # type: ignore[misc]
        self.assertEqual(dataclasses.replace(packet, stratum=2).stratum, 2)
        with self.assertRaises(ValueError):
            dataclasses.replace(packet, stratum=256)

    def test_hashable(self) -> None:
        """
        Equal packets hash alike.
        """
        self.assertEqual(hash(fullPacket()), hash(fullPacket()))

    def test_ranges(self) -> None:
        """
        Every integer header field is checked at both ends of its range.
        """
        ranges = {
            "leap": (0, 3),
            "version": (0, 7),
            "mode": (0, 7),
            "stratum": (0, 255),
            "poll": (-128, 127),
            "precision": (-128, 127),
            "rootDelay": (0, 2**32 - 1),
            "rootDispersion": (0, 2**32 - 1),
        }
        for name, (low, high) in ranges.items():
            NTPPacket(**{name: low})  # type: ignore[arg-type]
            NTPPacket(**{name: high})  # type: ignore[arg-type]
            for bad in (low - 1, high + 1):
                with self.assertRaises(ValueError, msg=f"{name}={bad}") as context:
                    NTPPacket(**{name: bad})  # type: ignore[arg-type]
                self.assertIn(name, str(context.exception))

    def test_integerTypes(self) -> None:
        """
        Integer fields refuse floats, strings and bools.
        """
        for name in ("leap", "stratum", "poll", "rootDelay"):
            for bad in (1.0, "1", True):
                with self.assertRaises(TypeError, msg=f"{name}={bad!r}"):
                    NTPPacket(**{name: bad})  # type: ignore[arg-type]

    def test_intSubclass(self) -> None:
        """
        An C{int} subclass, such as an C{IntEnum}, is accepted.
        """
        import enum

        class Mode(enum.IntEnum):
            server = 4

        packet = NTPPacket(mode=Mode.server)
        self.assertEqual(NTPPacket.decode(packet.encode()).mode, 4)

    def test_refid(self) -> None:
        """
        The refid must be exactly 4 bytes.
        """
        for bad in (b"", b"abc", b"abcde", "abcd", bytearray(4)):
            with self.assertRaises(ValueError, msg=repr(bad)):
                NTPPacket(refid=bad)  # type: ignore[arg-type]

    def test_timestamps(self) -> None:
        """
        The timestamp fields must be L{NTPTimestamp}s.
        """
        for name in ("reftime", "org", "rec", "xmt"):
            with self.assertRaises(TypeError, msg=name):
                NTPPacket(**{name: 0})  # type: ignore[arg-type]

    def test_extensionsType(self) -> None:
        """
        C{extensions} must be a tuple of L{ExtensionField}.
        """
        with self.assertRaises(TypeError):
            NTPPacket(extensions=[extension(1, 12)])  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            NTPPacket(extensions=(b"\x00\x01\x00\x10" + bytes(12),))  # type: ignore[arg-type]

    def test_macType(self) -> None:
        """
        C{mac} must be a L{MAC} or C{None}.
        """
        with self.assertRaises(TypeError):
            NTPPacket(mac=b"\x00\x00\x00\x01")  # type: ignore[arg-type]

    def test_ambiguousTrailer(self) -> None:
        """
        A last extension field that, with what follows it, would be decoded
        as a MAC (20 or 24 bytes) is refused.
        """
        for fields, mac in [
            ((extension(1, 16),), None),
            ((extension(1, 20),), None),
            ((extension(1, 12),), MAC(0, b"")),
            ((extension(1, 16),), MAC(0, b"")),
            ((extension(1, 40), extension(2, 16)), None),
        ]:
            with self.assertRaises(ValueError, msg=repr((fields, mac))):
                NTPPacket(extensions=fields, mac=mac)

    def test_unambiguousTrailer(self) -> None:
        """
        The same fields followed by a full MAC are fine.
        """
        for length in (12, 16, 20):
            NTPPacket(extensions=(extension(1, length),), mac=MAC(1, bytes(16)))


class ExtensionFieldTests(SynchronousTestCase):
    """
    Tests for L{ExtensionField}.
    """

    def test_encode(self) -> None:
        """
        An extension field is type, total length, body.
        """
        field = ExtensionField(0x0104, b"\x01" * 12)
        self.assertEqual(field.length, 16)
        self.assertEqual(field.encode(), b"\x01\x04\x00\x10" + b"\x01" * 12)

    def test_lengths(self) -> None:
        """
        The on-wire length must be a multiple of 4 from 16 to 65532.
        """
        for bodyLength in (12, 16, 65528):
            ExtensionField(1, bytes(bodyLength))
        for bodyLength in (0, 8, 11, 13, 14, 15, 17, 65529, 65532):
            with self.assertRaises(ValueError, msg=bodyLength):
                ExtensionField(1, bytes(bodyLength))

    def test_fieldType(self) -> None:
        """
        The type must fit in 16 bits.
        """
        ExtensionField(0, bytes(12))
        ExtensionField(0xFFFF, bytes(12))
        for bad in (-1, 0x10000):
            with self.assertRaises(ValueError):
                ExtensionField(bad, bytes(12))
        with self.assertRaises(TypeError):
            ExtensionField(1.0, bytes(12))  # type: ignore[arg-type]

    def test_valueType(self) -> None:
        """
        The value must be C{bytes}.
        """
        with self.assertRaises(TypeError):
            ExtensionField(1, bytearray(12))  # type: ignore[arg-type]

    def test_padded(self) -> None:
        """
        L{ExtensionField.padded} zero-pads the body to a whole number of
        words and to at least 16 bytes on the wire.
        """
        self.assertEqual(ExtensionField.padded(1, b""), ExtensionField(1, bytes(12)))
        self.assertEqual(
            ExtensionField.padded(1, b"abc"), ExtensionField(1, b"abc" + bytes(9))
        )
        self.assertEqual(
            ExtensionField.padded(1, b"x" * 13), ExtensionField(1, b"x" * 13 + bytes(3))
        )
        self.assertEqual(
            ExtensionField.padded(1, b"x" * 16), ExtensionField(1, b"x" * 16)
        )
        with self.assertRaises(ValueError):
            ExtensionField.padded(1, bytes(65529))


class MACTests(SynchronousTestCase):
    """
    Tests for L{MAC}.
    """

    def test_encode(self) -> None:
        """
        A MAC is the key identifier then the digest.
        """
        self.assertEqual(
            MAC(1, b"\xaa" * 16).encode(), b"\x00\x00\x00\x01" + b"\xaa" * 16
        )
        self.assertEqual(MAC(0, b"").encode(), bytes(4))

    def test_cryptoNAK(self) -> None:
        """
        A MAC without a digest is a crypto-NAK.
        """
        self.assertTrue(MAC(0, b"").isCryptoNAK)
        self.assertFalse(MAC(0, bytes(16)).isCryptoNAK)

    def test_ranges(self) -> None:
        """
        The key identifier fits in 32 bits and the digest is 0, 16 or 20
        bytes, or, for NTPv3's untruncated digests, 28, 32, 48 or 64.
        """
        MAC(2**32 - 1, bytes(20))
        for length in (28, 32, 48, 64):
            MAC(1, bytes(length))
        for keyID in (-1, 2**32):
            with self.assertRaises(ValueError):
                MAC(keyID, bytes(16))
        for length in (1, 8, 15, 17, 19, 21, 33):
            with self.assertRaises(ValueError):
                MAC(1, bytes(length))
        with self.assertRaises(TypeError):
            MAC(1, bytearray(16))  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            MAC(1.0, bytes(16))  # type: ignore[arg-type]


class KissOfDeathTests(SynchronousTestCase):
    """
    Tests for L{NTPPacket.isKissOfDeath} and L{NTPPacket.kissCode}.
    """

    def test_rate(self) -> None:
        """
        A stratum 0 server answer with refid RATE is a RATE kiss.
        """
        packet = NTPPacket.decode(KOD_RATE)
        self.assertTrue(packet.isKissOfDeath)
        self.assertEqual(packet.kissCode, "RATE")
        self.assertIn(packet.kissCode, KISS_CODES)

    def test_serverModes(self) -> None:
        """
        Stratum 0 is a kiss in server, symmetric passive and broadcast
        packets, and not in client, symmetric active or reserved ones.
        """
        for mode in (MODE_SERVER, MODE_PASSIVE, MODE_BROADCAST):
            packet = NTPPacket(mode=mode, stratum=0, refid=b"DENY")
            self.assertTrue(packet.isKissOfDeath, mode)
            self.assertEqual(packet.kissCode, "DENY")
        for mode in (MODE_RESERVED, MODE_ACTIVE, MODE_CLIENT):
            packet = NTPPacket(mode=mode, stratum=0, refid=b"DENY")
            self.assertFalse(packet.isKissOfDeath, mode)
            self.assertIsNone(packet.kissCode)

    def test_nonzeroStratum(self) -> None:
        """
        A server answer with a stratum other than 0 is not a kiss.
        """
        for stratum in (1, 2, 15, 16):
            packet = NTPPacket(mode=MODE_SERVER, stratum=stratum, refid=b"RATE")
            self.assertFalse(packet.isKissOfDeath)
            self.assertIsNone(packet.kissCode)

    def test_padding(self) -> None:
        """
        Trailing NULs are removed from the kiss code; an empty refid gives an
        empty code; non-ASCII bytes become U+FFFD.
        """
        self.assertEqual(NTPPacket(mode=MODE_SERVER, refid=b"XY\0\0").kissCode, "XY")
        self.assertEqual(NTPPacket(mode=MODE_SERVER, refid=bytes(4)).kissCode, "")
        self.assertEqual(
            NTPPacket(mode=MODE_SERVER, refid=b"A\xffB\0").kissCode, "A\ufffdB"
        )


# Hypothesis strategies.

timestamps = st.builds(NTPTimestamp, st.integers(min_value=0, max_value=2**64 - 1))

extensionFields = st.builds(
    ExtensionField,
    st.integers(min_value=0, max_value=0xFFFF),
    st.integers(min_value=3, max_value=40).flatmap(
        lambda words: st.binary(min_size=4 * words, max_size=4 * words)
    ),
)

macs = st.builds(
    MAC,
    st.integers(min_value=0, max_value=2**32 - 1),
    st.sampled_from([0, 16, 20]).flatmap(
        lambda size: st.binary(min_size=size, max_size=size)
    ),
)


@st.composite
def packets(draw: st.DrawFn) -> NTPPacket:
    """
    Any packet that L{NTPPacket.decode} accepts: versions 1 to 7, modes 0
    to 5, any header values, extension fields and MAC.
    """
    fields = tuple(draw(st.lists(extensionFields, max_size=3)))
    mac = draw(st.none() | macs)
    version = draw(st.integers(1, 7))
    if fields:
        tail = fields[-1].length + (0 if mac is None else len(mac.encode()))
        assume(tail not in MAC_LENGTHS)
        if version <= 3:
            # NTPv3 has no extension fields: a trailer that could be a
            # long NTPv3 MAC is read as one.
            trailer = sum(f.length for f in fields) + (
                0 if mac is None else len(mac.encode())
            )
            assume(trailer - 4 not in LONG_DIGEST_LENGTHS)
    return NTPPacket(
        leap=draw(st.integers(0, 3)),
        version=version,
        mode=draw(st.integers(0, 5)),
        stratum=draw(st.integers(0, 255)),
        poll=draw(st.integers(-128, 127)),
        precision=draw(st.integers(-128, 127)),
        rootDelay=draw(st.integers(0, 2**32 - 1)),
        rootDispersion=draw(st.integers(0, 2**32 - 1)),
        refid=draw(st.binary(min_size=4, max_size=4)),
        reftime=draw(timestamps),
        org=draw(timestamps),
        rec=draw(timestamps),
        xmt=draw(timestamps),
        extensions=fields,
        mac=mac,
    )


def decodeOrPacketError(data: bytes) -> NTPPacket | None:
    """
    Decode C{data}; return C{None} if it raises L{PacketError}.  Any other
    exception propagates, failing the test.  A packet that decodes must
    encode back to exactly C{data}: the decoder loses nothing.
    """
    try:
        packet = NTPPacket.decode(data)
    except PacketError:
        return None
    assert isinstance(packet, NTPPacket)
    assert packet.encode() == data
    # What the decoder builds passes the constructor's checks.
    assert dataclasses.replace(packet) == packet
    return packet


@given(packets())
def test_anyPacketRoundTrips(packet: NTPPacket) -> None:
    """
    Any valid packet encodes to bytes that decode to an equal packet.
    """
    data = packet.encode()
    assert NTPPacket.decode(data) == packet
    assert decodeOrPacketError(data) == packet


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_anyBytes(data: bytes) -> None:
    """
    Any bytes at all either decode or raise L{PacketError}.
    """
    decodeOrPacketError(data)


@settings(max_examples=500)
@given(
    st.sampled_from([0x23, 0x24, 0xE3, 0x1C, 0x0D]),
    st.binary(min_size=47, max_size=47),
    st.binary(max_size=200),
)
def test_anyTrailer(first: int, header: bytes, trailer: bytes) -> None:
    """
    A valid header followed by any bytes either decodes or raises
    L{PacketError}.
    """
    decodeOrPacketError(bytes([first]) + header + trailer)


@settings(max_examples=500)
@given(
    st.sampled_from([0x23, 0x24]),
    st.lists(
        st.tuples(
            st.integers(0, 0xFFFF),
            st.sampled_from([0, 4, 12, 15, 16, 18, 20, 24, 28, 32, 36, 0xFFFC]),
            st.integers(0, 40),
        ),
        max_size=4,
    ),
    st.sampled_from([0, 4, 8, 20, 24, 28]),
)
def test_structuredTrailer(
    first: int, fields: list[tuple[int, int, int]], macLength: int
) -> None:
    """
    Extension fields whose declared and actual lengths disagree, followed
    by trailers of every interesting size, either decode or raise
    L{PacketError}.
    """
    data = bytes([first]) + bytes(47)
    for fieldType, declared, actual in fields:
        data += struct.pack("!HH", fieldType, declared) + bytes(actual)
    decodeOrPacketError(data + bytes(macLength))


@settings(max_examples=300)
@given(
    packets(),
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "truncate", "insert", "delete"]),
            st.integers(min_value=0, max_value=10_000),
            st.integers(min_value=0, max_value=255),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutatedPacket(
    packet: NTPPacket, mutations: list[tuple[str, int, int]]
) -> None:
    """
    A valid packet (with extension fields and a MAC, when hypothesis draws
    them) with bytes flipped, inserted, deleted or cut off either decodes
    or raises L{PacketError}.
    """
    data = bytearray(packet.encode())
    for kind, position, value in mutations:
        index = position % (len(data) + 1)
        if kind == "flip" and index < len(data):
            data[index] ^= value or 1
        elif kind == "truncate":
            del data[index:]
        elif kind == "insert":
            data[index:index] = bytes([value])
        elif kind == "delete" and index < len(data):
            del data[index]
    decodeOrPacketError(bytes(data))


@pytest.mark.parametrize("length", [4, 20, 24])
def test_macLengthsFullPacket(length: int) -> None:
    """
    Cutting the MAC of a full packet down to another MAC length leaves a
    packet whose extension fields are intact (when the last one is at least
    28 bytes long, as RFC 7822 asks).
    """
    fields = (extension(0x0104, 32, 1), extension(0x0204, 24, 2))
    data = dataclasses.replace(fullPacket(), extensions=fields).encode()
    macStart = len(data) - 24
    packet = NTPPacket.decode(data[: macStart + length])
    assert packet.extensions == fields
    assert packet.mac is not None
    assert packet.mac.keyID == 42


class LongDigestTests(SynchronousTestCase):
    """
    NTPv3 packets carry SHA-224/256/384/512 digests untruncated (chrony
    sends such requests); NTPv4 packets never do.
    """

    def test_ntpv3LongMAC(self) -> None:
        """
        An NTPv3 packet with a 32-byte digest decodes with that MAC and
        encodes back.
        """
        packet = NTPPacket(version=3, mac=MAC(7, bytes(range(32))))
        data = packet.encode()
        self.assertEqual(len(data), 48 + 36)
        self.assertEqual(NTPPacket.decode(data), packet)

    def test_ntpv4Refused(self) -> None:
        """
        An NTPv4 packet cannot carry a long digest (its trailer would be
        extension fields), nor an NTPv3 packet one beside extension fields.
        """
        self.assertRaises(ValueError, NTPPacket, version=4, mac=MAC(7, bytes(32)))
        self.assertRaises(
            ValueError,
            NTPPacket,
            version=3,
            extensions=(ExtensionField(1, bytes(12)),),
            mac=MAC(7, bytes(32)),
        )
