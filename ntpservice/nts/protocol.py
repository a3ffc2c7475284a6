# -*- test-case-name: tests.nts.test_protocol -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The wire formats of NTS (RFC 8915), without crypto: NTS-KE records and the
NTS extension fields of NTPv4.

An NTS-KE record (section 4)::

       0                   1                   2                   3
       0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |C|         Record Type         |          Body Length          |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      .                           Record Body                         .
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

The NTS Authenticator and Encrypted Extension Fields extension field
(section 5.6), after the usual type and length::

      |        Nonce Length           |      Ciphertext Length        |
      .                 Nonce (padded to a multiple of 4)             .
      .               Ciphertext (padded to a multiple of 4)          .
      .                      Additional Padding                       .

@see: RFC 8915 sections 4, 5 and 7
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ntpservice.core.packet import HEADER_LEN, ExtensionField, NTPPacket

# -- NTS-KE (RFC 8915 section 4, IANA registry of section 7.6) --------------

ALPN_NTSKE = b"ntske/1"
"""The ALPN protocol identifier of NTS-KE (section 4)."""

DEFAULT_KE_PORT = 4460
"""The NTS-KE TCP port (section 4)."""

EXPORTER_LABEL = b"EXPORTER-network-time-security"
"""The TLS exporter label of the keys (section 5.1)."""

PROTOCOL_NTPV4 = 0
"""NTS Next Protocol identifier of NTPv4 (section 7.7)."""

RECORD_END = 0
RECORD_NEXT_PROTOCOL = 1
RECORD_ERROR = 2
RECORD_WARNING = 3
RECORD_AEAD = 4
RECORD_COOKIE = 5
RECORD_SERVER = 6
RECORD_PORT = 7

RECORD_NAMES = {
    RECORD_END: "End of Message",
    RECORD_NEXT_PROTOCOL: "NTS Next Protocol Negotiation",
    RECORD_ERROR: "Error",
    RECORD_WARNING: "Warning",
    RECORD_AEAD: "AEAD Algorithm Negotiation",
    RECORD_COOKIE: "New Cookie for NTPv4",
    RECORD_SERVER: "NTPv4 Server Negotiation",
    RECORD_PORT: "NTPv4 Port Negotiation",
}

ERROR_UNRECOGNIZED_CRITICAL = 0
ERROR_BAD_REQUEST = 1
ERROR_INTERNAL = 2

CRITICAL = 0x8000

MAX_KE_MESSAGE = 16384
"""The largest NTS-KE message accepted, bytes (a request is a few dozen;
a response with eight cookies a little over a kilobyte)."""

# -- NTS extension fields (section 5.7, IANA registry of section 7.5) -------

EF_UNIQUE_IDENTIFIER = 0x0104
EF_COOKIE = 0x0204
EF_COOKIE_PLACEHOLDER = 0x0304
EF_AUTHENTICATOR = 0x0404

NTS_FIELD_TYPES = frozenset(
    {EF_UNIQUE_IDENTIFIER, EF_COOKIE, EF_COOKIE_PLACEHOLDER, EF_AUTHENTICATOR}
)

MIN_UID_LENGTH = 32
"""Bytes of unique identifier a request must carry at least (section 5.3)."""

MIN_NONCE_LENGTH = 16
"""The shortest nonce accepted in an authenticator field (section 5.6 asks
for at least 16 bytes with the AES-SIV algorithms)."""

KISS_NTSN = b"NTSN"
"""The kiss code of an NTS NAK (section 5.7)."""


class NTSError(ValueError):
    """
    A malformed NTS-KE message or NTS extension field; the message says
    what is wrong.
    """


@dataclass(frozen=True, slots=True)
class Record:
    """
    One NTS-KE record.

    @ivar recordType: the 15-bit type.
    @ivar body: the body.
    @ivar critical: the critical bit.
    """

    recordType: int
    body: bytes = b""
    critical: bool = False

    def encode(self) -> bytes:
        """
        @return: the record on the wire.
        """
        first = self.recordType | (CRITICAL if self.critical else 0)
        return struct.pack("!HH", first, len(self.body)) + self.body

    def uint16s(self) -> list[int]:
        """
        @return: the body read as a list of 16-bit integers.
        @raise NTSError: if its length is odd.
        """
        if len(self.body) % 2:
            raise NTSError(
                f"{RECORD_NAMES.get(self.recordType, self.recordType)} record "
                f"body of odd length {len(self.body)}"
            )
        return [v for (v,) in struct.iter_unpack("!H", self.body)]


def uint16Record(recordType: int, values: list[int], critical: bool = False) -> Record:
    """
    A record whose body is a list of 16-bit integers.
    """
    return Record(recordType, b"".join(struct.pack("!H", v) for v in values), critical)


def encodeRecords(records: list[Record]) -> bytes:
    """
    @return: C{records} on the wire, one after the other.
    """
    return b"".join(record.encode() for record in records)


def splitRecords(buffer: bytes) -> tuple[list[Record], bool, int]:
    """
    Decode the complete records at the start of C{buffer}, up to and
    including an End of Message record.

    @return: the records, whether an End of Message record was among them,
        and how many bytes they took.
    """
    records: list[Record] = []
    offset = 0
    while len(buffer) - offset >= 4:
        first, length = struct.unpack_from("!HH", buffer, offset)
        if len(buffer) - offset - 4 < length:
            break
        record = Record(
            first & ~CRITICAL, bytes(buffer[offset + 4 : offset + 4 + length]),
            bool(first & CRITICAL),
        )
        offset += 4 + length
        records.append(record)
        if record.recordType == RECORD_END:
            return records, True, offset
    return records, False, offset


# -- extension fields --------------------------------------------------------


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def authenticatorField(nonce: bytes, ciphertext: bytes) -> ExtensionField:
    """
    The NTS Authenticator and Encrypted Extension Fields extension field.

    @param nonce: the nonce.
    @param ciphertext: the AEAD output (synthetic IV and encrypted fields).
    """
    body = struct.pack("!HH", len(nonce), len(ciphertext))
    body += _padded(nonce) + _padded(ciphertext)
    return ExtensionField.padded(EF_AUTHENTICATOR, body)


def parseAuthenticator(field: ExtensionField) -> tuple[bytes, bytes]:
    """
    @return: the nonce and ciphertext of an authenticator field.
    @raise NTSError: if the lengths do not fit the field.
    """
    value = field.value
    if len(value) < 4:
        raise NTSError("authenticator field too short")
    nonceLength, ciphertextLength = struct.unpack_from("!HH", value)
    nonceEnd = 4 + nonceLength + (-nonceLength % 4)
    ciphertextEnd = nonceEnd + ciphertextLength
    if ciphertextEnd > len(value):
        raise NTSError(
            f"authenticator field of {len(value)} bytes cannot hold a "
            f"{nonceLength}-byte nonce and a {ciphertextLength}-byte ciphertext"
        )
    return (
        bytes(value[4 : 4 + nonceLength]),
        bytes(value[nonceEnd:ciphertextEnd]),
    )


def associatedData(data: bytes, packet: NTPPacket, index: int) -> bytes:
    """
    The associated data an authenticator field protects: the packet from its
    first byte to the start of that field (section 5.6).

    @param data: the datagram.
    @param packet: its decoding.
    @param index: the authenticator field's position in C{packet.extensions}.
    """
    offset = HEADER_LEN + sum(e.length for e in packet.extensions[:index])
    return bytes(data[:offset])


def decodeFields(plaintext: bytes) -> list[ExtensionField]:
    """
    Decode the extension fields encrypted in an authenticator field.

    @raise NTSError: if they are malformed.
    """
    fields: list[ExtensionField] = []
    offset = 0
    while offset < len(plaintext):
        if len(plaintext) - offset < 4:
            raise NTSError("truncated encrypted extension field")
        fieldType, length = struct.unpack_from("!HH", plaintext, offset)
        if length < 4 or length % 4 or offset + length > len(plaintext):
            raise NTSError(f"encrypted extension field of bad length {length}")
        try:
            fields.append(
                ExtensionField(fieldType, bytes(plaintext[offset + 4 : offset + length]))
            )
        except ValueError as e:
            raise NTSError(f"bad encrypted extension field: {e}") from None
        offset += length
    return fields


def field(fieldType: int, body: bytes) -> ExtensionField:
    """
    An extension field of C{fieldType}, its body padded to a multiple of 4.
    """
    return ExtensionField.padded(fieldType, body)
