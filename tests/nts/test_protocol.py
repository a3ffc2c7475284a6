# -*- test-case-name: tests.nts.test_protocol -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.nts.protocol} (NTS-KE records, NTS extension
fields), L{ntpservice.nts.aead} and L{ntpservice.nts.ke.respond}.
"""

from __future__ import annotations

import struct

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.packet import ExtensionField
from ntpservice.nts import protocol as P
from ntpservice.nts.aead import open_, seal
from ntpservice.nts.cookies import MasterKeys
from ntpservice.nts.ke import NTSKEError, parseResponse, respond

KEY = bytes(range(32))


def keysFor(aeadID: int) -> tuple[bytes, bytes]:
    return b"c" * 32, b"s" * 32


def request(*records: P.Record) -> list[P.Record]:
    return [*records, P.Record(P.RECORD_END, critical=True)]


NEXT = P.uint16Record(P.RECORD_NEXT_PROTOCOL, [0], critical=True)
AEAD = P.uint16Record(P.RECORD_AEAD, [15], critical=True)


class RecordTests(SynchronousTestCase):
    """
    NTS-KE records on the wire.
    """

    def test_roundTrip(self) -> None:
        """
        Records encode with the critical bit in the type's top bit and
        decode back, up to and including End of Message; bytes after it
        are left.
        """
        records = request(NEXT, AEAD)
        data = P.encodeRecords(records)
        self.assertEqual(data[:4], b"\x80\x01\x00\x02")
        decoded, complete, used = P.splitRecords(data + b"junk")
        self.assertEqual(decoded, records)
        self.assertTrue(complete)
        self.assertEqual(used, len(data))

    def test_incomplete(self) -> None:
        """
        A message cut anywhere decodes only its complete records and is not
        complete.
        """
        data = P.encodeRecords(request(NEXT, AEAD))
        for cut in range(len(data)):
            records, complete, _ = P.splitRecords(data[:cut])
            self.assertFalse(complete)
            self.assertLessEqual(len(records), 2)

    def test_oddBody(self) -> None:
        """
        A list of 16-bit values with an odd length is malformed.
        """
        self.assertRaises(P.NTSError, P.Record(P.RECORD_AEAD, b"\x00").uint16s)


class RespondTests(SynchronousTestCase):
    """
    L{respond}: the server's answer to an NTS-KE request.
    """

    def setUp(self) -> None:
        self.keys = MasterKeys.load(None, 1000.0)

    def test_goodRequest(self) -> None:
        """
        NTPv4 and AES-SIV-CMAC-256 are accepted: eight cookies holding the
        exported keys, End of Message last, critical.
        """
        records, outcome = respond(request(NEXT, AEAD), keysFor, self.keys)
        self.assertEqual(outcome, "ok")
        kinds = [r.recordType for r in records]
        self.assertEqual(kinds, [1, 4] + [5] * 8 + [0])
        self.assertTrue(records[-1].critical)
        opened = self.keys.open(records[2].body)
        assert opened is not None
        self.assertEqual((opened.aeadID, opened.c2s, opened.s2c), (15, b"c" * 32, b"s" * 32))

    def test_portRecord(self) -> None:
        """
        When our NTP port is not 123, a Port Negotiation record names it.
        """
        records, _ = respond(request(NEXT, AEAD), keysFor, self.keys, ntpPort=11123)
        port = [r for r in records if r.recordType == P.RECORD_PORT]
        self.assertEqual(port[0].uint16s(), [11123])

    def test_unknownCritical(self) -> None:
        """
        An unrecognised critical record gets error 0; a non-critical one is
        ignored.
        """
        records, outcome = respond(
            request(NEXT, AEAD, P.Record(0x1234, b"x", critical=True)), keysFor, self.keys
        )
        self.assertEqual(outcome, "critical")
        self.assertEqual(records[0].uint16s(), [P.ERROR_UNRECOGNIZED_CRITICAL])
        _, outcome = respond(request(NEXT, AEAD, P.Record(0x1234, b"x")), keysFor, self.keys)
        self.assertEqual(outcome, "ok")

    def test_badRequests(self) -> None:
        """
        No Next Protocol record, no AEAD record, two of either, or records
        only a server sends: error 1 (bad request).
        """
        for records in (
            request(AEAD),
            request(NEXT),
            request(NEXT, NEXT, AEAD),
            request(NEXT, AEAD, P.Record(P.RECORD_COOKIE, b"x" * 8)),
            request(NEXT, P.Record(P.RECORD_AEAD, b"\x00")),
        ):
            response, outcome = respond(records, keysFor, self.keys)
            self.assertEqual(outcome, "badrequest", records)
            self.assertEqual(response[0].recordType, P.RECORD_ERROR)
            self.assertEqual(response[0].uint16s(), [P.ERROR_BAD_REQUEST])

    def test_noCommonAlgorithm(self) -> None:
        """
        Without an AEAD algorithm in common: an empty AEAD record and no
        cookies; without NTPv4: an empty Next Protocol record.
        """
        response, outcome = respond(
            request(NEXT, P.uint16Record(P.RECORD_AEAD, [30], critical=True)),
            keysFor, self.keys,
        )
        self.assertEqual(outcome, "noaead")
        self.assertEqual([r.recordType for r in response], [1, 4, 0])
        self.assertEqual(response[1].body, b"")
        response, outcome = respond(
            request(P.uint16Record(P.RECORD_NEXT_PROTOCOL, [7], critical=True), AEAD),
            keysFor, self.keys,
        )
        self.assertEqual(outcome, "noprotocol")
        self.assertEqual(response[0].body, b"")

    def test_clientParsesResponse(self) -> None:
        """
        The client takes the cookies, algorithm and port of a response, and
        refuses an error record or a response without cookies.
        """
        records, _ = respond(request(NEXT, AEAD), keysFor, self.keys, ntpPort=4123)
        result = parseResponse(records, (15,))
        self.assertEqual((result.aeadID, len(result.cookies), result.port), (15, 8, 4123))
        error, _ = respond(request(AEAD), keysFor, self.keys)
        self.assertRaises(NTSKEError, parseResponse, error, (15,))
        self.assertRaises(NTSKEError, parseResponse, records[:2] + records[-1:], (15,))
        self.assertRaises(NTSKEError, parseResponse, records, (16,))


class FieldTests(SynchronousTestCase):
    """
    NTS extension fields and the AEAD.
    """

    def test_authenticatorRoundTrip(self) -> None:
        """
        An authenticator field carries its nonce and ciphertext, each padded
        to 4 bytes, and gives them back.
        """
        field = P.authenticatorField(b"n" * 17, b"c" * 21)
        self.assertEqual(field.fieldType, P.EF_AUTHENTICATOR)
        self.assertEqual(field.length % 4, 0)
        self.assertEqual(P.parseAuthenticator(field), (b"n" * 17, b"c" * 21))

    def test_authenticatorTooShort(self) -> None:
        """
        Lengths that do not fit the field are refused.
        """
        field = ExtensionField(P.EF_AUTHENTICATOR, struct.pack("!HH", 16, 400) + bytes(12))
        self.assertRaises(P.NTSError, P.parseAuthenticator, field)

    def test_aead(self) -> None:
        """
        AES-SIV-CMAC-256 seals empty and non-empty plaintexts; a changed
        byte of the associated data, nonce or ciphertext does not open.
        """
        for plaintext in (b"", b"cookies" * 10):
            sealed = seal(KEY, b"N" * 16, plaintext, b"header")
            self.assertEqual(len(sealed), 16 + len(plaintext))
            self.assertEqual(open_(KEY, b"N" * 16, sealed, b"header"), plaintext)
            self.assertIsNone(open_(KEY, b"N" * 16, sealed, b"headeR"))
            self.assertIsNone(open_(KEY, b"M" * 16, sealed, b"header"))
            self.assertIsNone(open_(KEY, b"N" * 16, bytes([sealed[0] ^ 1]) + sealed[1:], b"header"))

    def test_decodeFields(self) -> None:
        """
        Encrypted extension fields decode; truncated or badly sized ones
        are malformed.
        """
        data = P.field(P.EF_COOKIE, b"x" * 20).encode() * 2
        self.assertEqual([f.value for f in P.decodeFields(data)], [b"x" * 20] * 2)
        self.assertRaises(P.NTSError, P.decodeFields, data[:-2])
        self.assertRaises(P.NTSError, P.decodeFields, b"\x02\x04\x00\x08abcd")
