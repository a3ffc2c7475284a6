# -*- test-case-name: tests.core.test_packet -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The NTP packet codec: bytes to L{NTPPacket} and back, nothing else.

An NTP packet (modes 0 to 5) is a 48-byte header, zero or more extension
fields and an optional message authentication code::

       0                   1                   2                   3
       0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |LI | VN  |Mode |    Stratum    |     Poll      |   Precision   |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                         Root Delay                            |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                         Root Dispersion                       |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                          Reference ID                         |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                                                               |
      +                     Reference Timestamp (64)                  +
      |                                                               |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                                                               |
      +                      Origin Timestamp (64)                    +
      |                                                               |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                                                               |
      +                      Receive Timestamp (64)                   +
      |                                                               |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                                                               |
      +                      Transmit Timestamp (64)                  +
      |                                                               |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                                                               |
      .                                                               .
      .                    Extension Field 1 (variable)               .
      .                                                               .
      |                                                               |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                                                               |
      .                                                               .
      .                    Extension Field 2 (variable)               .
      .                                                               .
      |                                                               |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                          Key Identifier                       |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                                                               |
      |                            dgst (128)                         |
      |                                                               |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

                      RFC 5905 Figure 8: Packet Header Format

An extension field is a 16-bit type, a 16-bit length (of the whole field,
header and padding included, a multiple of 4 and at least 16) and a body::

       0                   1                   2                   3
       0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |          Field Type           |            Length             |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      .                                                               .
      .                            Value                              .
      .                                                               .
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
      |                       Padding (as needed)                     |
      +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Parsing the part after the header (RFC 7822 section 7.5): whatever
remains is a MAC if it is exactly 4 bytes (a crypto-NAK: key identifier
only), 20 bytes (key identifier and a 128-bit digest: MD5, AES-128-CMAC)
or 24 bytes (key identifier and a 160-bit SHA-1 digest); otherwise it must
start with a well-formed extension field, and parsing goes on after it.
Anything else is malformed.

Mode 6 (control) and mode 7 (private) messages do not have this header:
route them with L{peekHeader} before calling L{NTPPacket.decode}, which
refuses them.

Decoding is the daemon's hot path, so L{NTPPacket.decode} builds its
objects without re-running the constructors' checks: every value it
produces is in range by construction.

@see: RFC 5905 section 7.3, RFC 5905 section 7.5, RFC 7822
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Callable

from ntpservice.core.timestamps import (
    ZERO,
    NTPTimestamp,
    _fromTrustedValue,
    decodeShort,
)

__all__ = [
    "HEADER_LEN",
    "MODE_RESERVED",
    "MODE_ACTIVE",
    "MODE_PASSIVE",
    "MODE_CLIENT",
    "MODE_SERVER",
    "MODE_BROADCAST",
    "MODE_CONTROL",
    "MODE_PRIVATE",
    "LEAP_NONE",
    "LEAP_ADD",
    "LEAP_DEL",
    "LEAP_NOTINSYNC",
    "MAX_STRATUM",
    "EXTENSION_MIN_LEN",
    "MAC_LENGTHS",
    "KISS_CODES",
    "PacketError",
    "peekHeader",
    "ExtensionField",
    "MAC",
    "NTPPacket",
]

HEADER_LEN = 48
"""Length in bytes of the NTP header (up to the end of the transmit timestamp)."""

MODE_RESERVED = 0
MODE_ACTIVE = 1
MODE_PASSIVE = 2
MODE_CLIENT = 3
MODE_SERVER = 4
MODE_BROADCAST = 5
MODE_CONTROL = 6
MODE_PRIVATE = 7

LEAP_NONE = 0
"""No leap second warning."""
LEAP_ADD = 1
"""The last minute of the day has 61 seconds."""
LEAP_DEL = 2
"""The last minute of the day has 59 seconds."""
LEAP_NOTINSYNC = 3
"""Unknown: the clock is not synchronized."""

MAX_STRATUM = 16
"""MAXSTRAT: stratum of an unsynchronized server (RFC 5905 section 7.2)."""

EXTENSION_MIN_LEN = 16
"""Smallest on-wire length of an extension field, in bytes (RFC 7822)."""

MAC_LENGTHS = frozenset((4, 20, 24))
"""On-wire lengths of a MAC in bytes: crypto-NAK, 128-bit and 160-bit digest."""

LONG_DIGEST_LENGTHS = frozenset((28, 32, 48, 64))
"""
Digest lengths (SHA-224, SHA-256/SHA3-256, SHA-384, SHA-512) that only an
NTPv3 packet carries untruncated: NTPv3 has no extension fields, so its whole
trailer is the MAC (chrony sends NTPv3 requests with such keys).
"""

_DIGEST_LENGTHS = frozenset((0, 16, 20)) | LONG_DIGEST_LENGTHS

KISS_CODES: dict[str, str] = {
    "ACST": "The association belongs to a unicast server.",
    "AUTH": "Server authentication failed.",
    "AUTO": "Autokey sequence failed.",
    "BCST": "The association belongs to a broadcast server.",
    "CRYP": "Cryptographic authentication or identification failed.",
    "DENY": "Access denied by remote server.",
    "DROP": "Lost peer in symmetric mode.",
    "RSTR": "Access denied due to local policy.",
    "INIT": "The association has not yet synchronized for the first time.",
    "MCST": "The association belongs to a dynamically discovered server.",
    "NKEY": "No key found: it was never installed or is not trusted.",
    "NTSN": "NTS negative acknowledgment: the server could not use the cookie.",
    "RATE": "Rate exceeded: the client exceeded the server's rate threshold.",
    "RMOT": "Alteration of association from a remote host running ntpdc.",
    "STEP": "A step change in system time has occurred, not yet resynchronized.",
}
"""
Kiss codes and their meanings.

@see: RFC 5905 section 7.4, RFC 8915 section 5.7 (C{NTSN})
"""

_HEADER_RANGES = (
    ("leap", 0, 3),
    ("version", 0, 7),
    ("mode", 0, 7),
    ("stratum", 0, 255),
    ("poll", -128, 127),
    ("precision", -128, 127),
    ("rootDelay", 0, 0xFFFFFFFF),
    ("rootDispersion", 0, 0xFFFFFFFF),
)

_KOD_MODES = frozenset((MODE_PASSIVE, MODE_SERVER, MODE_BROADCAST))

_HEADER = struct.Struct("!BBbbII4sQQQQ")
_EXTENSION_HEADER = struct.Struct("!HH")
_KEY_ID = struct.Struct("!I")


def packHeader(
    leap: int,
    version: int,
    mode: int,
    stratum: int,
    poll: int,
    precision: int,
    rootDelay: int,
    rootDispersion: int,
    refid: bytes,
    reftime: int,
    org: int,
    rec: int,
    xmt: int,
) -> bytes:
    """
    The 48-byte header from raw field values, without building an
    L{NTPPacket}: for hot paths (the server's replies) whose values are
    already known to be in range. The timestamps are 64-bit integers
    (L{NTPTimestamp.value}); root delay and dispersion are raw NTP shorts.

    @raise struct.error: for a value out of its field's range.
    """
    return _HEADER.pack(
        (leap << 6) | (version << 3) | mode,
        stratum,
        poll,
        precision,
        rootDelay,
        rootDispersion,
        refid,
        reftime,
        org,
        rec,
        xmt,
    )


class PacketError(ValueError):
    """
    A datagram is not a well-formed NTP packet.

    This is the only exception that decoding untrusted bytes raises; its
    message says what is wrong, for the log.
    """


def peekHeader(data: bytes) -> tuple[int, int, int]:
    """
    Read the first byte of a datagram of any mode, without decoding it.

    The multiplexer uses this to send mode 6 and mode 7 datagrams, which
    do not have the 48-byte header, to their own parsers.

    @param data: a received datagram.
    @return: C{(leap, version, mode)}.
    @raise PacketError: if C{data} is empty.
    """
    if not data:
        raise PacketError("empty datagram")
    first = data[0]
    return first >> 6, (first >> 3) & 7, first & 7


_newObject = object.__new__


def _setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """
    The slot descriptor's C{__set__} for C{cls.name}: it writes a slot of a
    frozen dataclass directly, for the decoder's unchecked constructors.
    """
    setter: Callable[[Any, Any], None] = getattr(cls, name).__set__
    return setter


@dataclass(frozen=True, slots=True)
class ExtensionField:
    """
    One NTP extension field.

    @ivar fieldType: the 16-bit field type.
    @ivar value: the body, without the 4-byte type and length words but
        with any padding, so that C{4 + len(value)} is the on-wire length:
        a multiple of 4, at least 16 and at most 65532.

    @see: RFC 5905 section 7.5, RFC 7822
    """

    fieldType: int
    value: bytes

    def __post_init__(self) -> None:
        """
        @raise ValueError: if the type or the length is out of range.
        @raise TypeError: if C{fieldType} is not an C{int} or C{value} is
            not C{bytes}.
        """
        if not isinstance(self.fieldType, int):
            raise TypeError(f"extension field type must be an int: {self.fieldType!r}")
        if not 0 <= self.fieldType <= 0xFFFF:
            raise ValueError(f"extension field type out of range: {self.fieldType}")
        if not isinstance(self.value, bytes):
            raise TypeError(f"extension field value must be bytes: {self.value!r}")
        length = 4 + len(self.value)
        if length % 4 or not EXTENSION_MIN_LEN <= length <= 0xFFFC:
            raise ValueError(
                f"extension field length {length} must be a multiple of 4 "
                f"from {EXTENSION_MIN_LEN} to 65532 bytes"
            )

    @classmethod
    def padded(cls, fieldType: int, body: bytes) -> ExtensionField:
        """
        Build an extension field, appending zero bytes to C{body} so that
        the field is a whole number of 32-bit words and at least 16 bytes.

        @param fieldType: the 16-bit field type.
        @param body: the unpadded body.
        @raise ValueError: if the type is out of range or the body too long.
        """
        length = max(EXTENSION_MIN_LEN, (4 + len(body) + 3) & ~3)
        return cls(fieldType, bytes(body) + bytes(length - 4 - len(body)))

    @property
    def length(self) -> int:
        """
        The on-wire length of the field in bytes, header and padding
        included.
        """
        return 4 + len(self.value)

    def encode(self) -> bytes:
        """
        @return: the field's wire form: type, length, value.
        """
        return _EXTENSION_HEADER.pack(self.fieldType, 4 + len(self.value)) + self.value


@dataclass(frozen=True, slots=True)
class MAC:
    """
    A message authentication code: a key identifier and a digest.

    @ivar keyID: the 32-bit key identifier.
    @ivar digest: the message digest, 16 bytes (MD5, AES-128-CMAC) or 20
        bytes (SHA-1); empty in a crypto-NAK.

    @see: RFC 5905 section 7.3, RFC 7822
    """

    keyID: int
    digest: bytes

    def __post_init__(self) -> None:
        """
        @raise ValueError: if the key identifier or the digest length is out
            of range.
        @raise TypeError: if C{keyID} is not an C{int} or C{digest} is not
            C{bytes}.
        """
        if not isinstance(self.keyID, int):
            raise TypeError(f"MAC key identifier must be an int: {self.keyID!r}")
        if not 0 <= self.keyID <= 0xFFFFFFFF:
            raise ValueError(f"MAC key identifier out of range: {self.keyID}")
        if not isinstance(self.digest, bytes):
            raise TypeError(f"MAC digest must be bytes: {self.digest!r}")
        if len(self.digest) not in _DIGEST_LENGTHS:
            raise ValueError(
                f"MAC digest must be 0, 16, 20 bytes (or, in NTPv3, 28, 32, 48 "
                f"or 64), not {len(self.digest)}"
            )

    @property
    def isCryptoNAK(self) -> bool:
        """
        Whether this is a crypto-NAK: a key identifier without a digest,
        which a server sends when it cannot authenticate a request.
        """
        return not self.digest

    def encode(self) -> bytes:
        """
        @return: the wire form: key identifier, then digest (4, 20 or 24
            bytes).
        """
        return _KEY_ID.pack(self.keyID) + self.digest


@dataclass(frozen=True, slots=True, init=False)
class NTPPacket:
    """
    An NTP packet of mode 0 to 5: header, extension fields, MAC.

    Build one with keyword arguments and change one with
    C{dataclasses.replace}.  Out-of-range values are programming errors
    and raise C{ValueError} (or C{TypeError} for a wrong type); L{decode}
    never raises them, it raises L{PacketError}.

    The constructor is written by hand rather than generated by
    C{dataclass}, because a server builds one of these per request: it
    writes the slots directly, which halves the cost.  Its parameters are
    the fields, in order, with the same defaults.

    @ivar leap: the leap indicator, C{LEAP_*}.
    @ivar version: the version number, 0 to 7 (4 for NTPv4).
    @ivar mode: the association mode, C{MODE_*}.
    @ivar stratum: 0 to 255; 0 is "unspecified" (a kiss-o'-death in a
        server's answer), 16 (L{MAX_STRATUM}) is "unsynchronized".
    @ivar poll: the poll exponent, log2 seconds, -128 to 127.
    @ivar precision: the clock precision, log2 seconds, -128 to 127.
    @ivar rootDelay: the root delay, raw NTP short format (units of 2**-16
        s); see L{rootDelaySeconds} and L{encodeShort
        <ntpservice.core.timestamps.encodeShort>}.
    @ivar rootDispersion: the root dispersion, raw NTP short format (units
        of 2**-16 s); see L{rootDispersionSeconds}.
    @ivar refid: the 4-byte reference identifier (see
        L{ntpservice.core.refid}), or the kiss code when the stratum is 0.
    @ivar reftime: the reference timestamp: when the clock was last set.
    @ivar org: the origin timestamp (T1).
    @ivar rec: the receive timestamp (T2).
    @ivar xmt: the transmit timestamp (T3).
    @ivar extensions: the extension fields, in wire order.
    @ivar mac: the MAC, or C{None} for an unauthenticated packet.

    @see: RFC 5905 section 7.3
    """

    leap: int = LEAP_NOTINSYNC
    version: int = 4
    mode: int = MODE_CLIENT
    stratum: int = 0
    poll: int = 0
    precision: int = 0
    rootDelay: int = 0
    rootDispersion: int = 0
    refid: bytes = b"\0\0\0\0"
    reftime: NTPTimestamp = ZERO
    org: NTPTimestamp = ZERO
    rec: NTPTimestamp = ZERO
    xmt: NTPTimestamp = ZERO
    extensions: tuple[ExtensionField, ...] = ()
    mac: MAC | None = None

    def __init__(
        self,
        leap: int = LEAP_NOTINSYNC,
        version: int = 4,
        mode: int = MODE_CLIENT,
        stratum: int = 0,
        poll: int = 0,
        precision: int = 0,
        rootDelay: int = 0,
        rootDispersion: int = 0,
        refid: bytes = b"\0\0\0\0",
        reftime: NTPTimestamp = ZERO,
        org: NTPTimestamp = ZERO,
        rec: NTPTimestamp = ZERO,
        xmt: NTPTimestamp = ZERO,
        extensions: tuple[ExtensionField, ...] = (),
        mac: MAC | None = None,
    ) -> None:
        _setLeap(self, leap)
        _setVersion(self, version)
        _setMode(self, mode)
        _setStratum(self, stratum)
        _setPoll(self, poll)
        _setPrecision(self, precision)
        _setRootDelay(self, rootDelay)
        _setRootDispersion(self, rootDispersion)
        _setRefid(self, refid)
        _setReftime(self, reftime)
        _setOrg(self, org)
        _setRec(self, rec)
        _setXmt(self, xmt)
        _setExtensions(self, extensions)
        _setMAC(self, mac)
        self._validate()

    def _validate(self) -> None:
        """
        Check every field.

        @raise ValueError: if a field is out of range, or if the extension
            fields and MAC could not be told apart when decoded again.
        @raise TypeError: if a field has the wrong type.
        """
        # A quick test for the usual case; _checkHeader has the last word.
        if not (
            type(self.leap) is int
            and type(self.version) is int
            and type(self.mode) is int
            and type(self.stratum) is int
            and type(self.poll) is int
            and type(self.precision) is int
            and type(self.rootDelay) is int
            and type(self.rootDispersion) is int
            and 0 <= self.leap <= 3
            and 0 <= self.version <= 7
            and 0 <= self.mode <= 7
            and 0 <= self.stratum <= 255
            and -128 <= self.poll <= 127
            and -128 <= self.precision <= 127
            and 0 <= self.rootDelay <= 0xFFFFFFFF
            and 0 <= self.rootDispersion <= 0xFFFFFFFF
            and type(self.refid) is bytes
            and len(self.refid) == 4
            and type(self.reftime) is NTPTimestamp
            and type(self.org) is NTPTimestamp
            and type(self.rec) is NTPTimestamp
            and type(self.xmt) is NTPTimestamp
        ):
            self._checkHeader()
        extensions = self.extensions
        if type(extensions) is not tuple:
            raise TypeError("extensions must be a tuple of ExtensionField")
        for extension in extensions:
            if not isinstance(extension, ExtensionField):
                raise TypeError(f"not an ExtensionField: {extension!r}")
        mac = self.mac
        if mac is not None and not isinstance(mac, MAC):
            raise TypeError(f"not a MAC: {mac!r}")
        if mac is not None and len(mac.digest) in LONG_DIGEST_LENGTHS:
            if self.version > 3 or extensions:
                raise ValueError(
                    f"a {len(mac.digest)}-byte digest goes only in an NTPv3 "
                    f"packet without extension fields"
                )
        if extensions and self.version <= 3:
            trailer = sum(e.length for e in extensions) + (
                0 if mac is None else 4 + len(mac.digest)
            )
            if trailer - 4 in LONG_DIGEST_LENGTHS:
                raise ValueError(
                    f"an NTPv3 trailer of {trailer} bytes would be decoded as a "
                    f"MAC with a {trailer - 4}-byte digest"
                )
        if extensions:
            # The decoder takes a trailer of 20 or 24 bytes for a MAC: the
            # last extension field plus a crypto-NAK (or nothing) must not
            # add up to that, or the packet would not decode to itself.
            tail = extensions[-1].length + (0 if mac is None else 4 + len(mac.digest))
            if tail in MAC_LENGTHS:
                raise ValueError(
                    f"a {extensions[-1].length}-byte last extension field "
                    f"followed by a {tail - extensions[-1].length}-byte MAC "
                    f"would be decoded as a MAC (RFC 7822 asks for at least "
                    f"28 bytes)"
                )

    def _checkHeader(self) -> None:
        """
        Check the header fields one by one (the slow path of L{_validate},
        which accepts C{int} subclasses too).

        @raise ValueError: for a value out of range.
        @raise TypeError: for a value of the wrong type.
        """
        for name, low, high in _HEADER_RANGES:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int: {value!r}")
            if not low <= value <= high:
                raise ValueError(f"{name} out of range {low}..{high}: {value!r}")
        if not isinstance(self.refid, bytes) or len(self.refid) != 4:
            raise ValueError(f"refid must be 4 bytes: {self.refid!r}")
        for name in ("reftime", "org", "rec", "xmt"):
            if not isinstance(getattr(self, name), NTPTimestamp):
                raise TypeError(f"{name} must be an NTPTimestamp")

    @property
    def rootDelaySeconds(self) -> float:
        """
        The root delay in seconds.
        """
        return decodeShort(self.rootDelay)

    @property
    def rootDispersionSeconds(self) -> float:
        """
        The root dispersion in seconds.
        """
        return decodeShort(self.rootDispersion)

    @property
    def isKissOfDeath(self) -> bool:
        """
        Whether this is a kiss-o'-death: stratum 0 in a packet from a server
        (mode 2, 4 or 5).  The receive and transmit timestamps of a KoD mean
        nothing.

        @see: RFC 5905 section 7.4
        """
        return self.stratum == 0 and self.mode in _KOD_MODES

    @property
    def kissCode(self) -> str | None:
        """
        The kiss code of a kiss-o'-death, such as C{"RATE"}, with the
        trailing NUL bytes removed and any non-ASCII byte replaced by
        U+FFFD; C{None} if this is not a kiss-o'-death.  It may be a code
        that is not in L{KISS_CODES}, or empty.
        """
        if not self.isKissOfDeath:
            return None
        return self.refid.rstrip(b"\0").decode("ascii", "replace")

    def encode(self) -> bytes:
        """
        @return: the packet's wire form.
        """
        header = _HEADER.pack(
            (self.leap << 6) | (self.version << 3) | self.mode,
            self.stratum,
            self.poll,
            self.precision,
            self.rootDelay,
            self.rootDispersion,
            self.refid,
            self.reftime.value,
            self.org.value,
            self.rec.value,
            self.xmt.value,
        )
        if not self.extensions and self.mac is None:
            return header
        parts = [header]
        parts.extend([extension.encode() for extension in self.extensions])
        if self.mac is not None:
            parts.append(self.mac.encode())
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> NTPPacket:
        """
        Decode a datagram.

        @param data: the datagram: C{bytes}, or a C{bytearray} or a
            C{memoryview} of unsigned bytes (format C{"B"}).
        @return: the packet.  Every version from 1 to 7 and every mode from
            0 to 5 is accepted; what to answer is the caller's business.
        @raise PacketError: if C{data} is not a well-formed packet: shorter
            than the header, version 0, mode 6 or 7, or a malformed
            extension field or MAC.
        """
        length = len(data)
        if length < HEADER_LEN:
            raise PacketError(
                f"datagram of {length} bytes is shorter than the "
                f"{HEADER_LEN}-byte NTP header"
            )
        try:
            (
                first,
                stratum,
                poll,
                precision,
                rootDelay,
                rootDispersion,
                refid,
                reftime,
                org,
                rec,
                xmt,
            ) = _HEADER.unpack_from(data)
            mode = first & 7
            if mode >= MODE_CONTROL:
                raise PacketError(
                    f"mode {mode} messages do not have an NTP packet header"
                )
            version = (first >> 3) & 7
            if version == 0:
                raise PacketError("NTP version 0 is not a valid version")
            if length == HEADER_LEN:
                extensions: tuple[ExtensionField, ...] = ()
                mac = None
            else:
                extensions, mac = _decodeTrailer(data, length, version)
            packet: NTPPacket = _newObject(cls)
            _setLeap(packet, first >> 6)
            _setVersion(packet, version)
            _setMode(packet, mode)
            _setStratum(packet, stratum)
            _setPoll(packet, poll)
            _setPrecision(packet, precision)
            _setRootDelay(packet, rootDelay)
            _setRootDispersion(packet, rootDispersion)
            _setRefid(packet, refid)
            _setReftime(packet, _fromTrustedValue(reftime))
            _setOrg(packet, _fromTrustedValue(org))
            _setRec(packet, _fromTrustedValue(rec))
            _setXmt(packet, _fromTrustedValue(xmt))
            _setExtensions(packet, extensions)
            _setMAC(packet, mac)
            return packet
        except PacketError:
            raise
        except (struct.error, ValueError, IndexError) as e:
            # Not reachable for well-behaved input types; kept so that the
            # one documented exception really is the only one.
            raise PacketError(f"malformed NTP packet: {e}") from e


_setLeap = _setter(NTPPacket, "leap")
_setVersion = _setter(NTPPacket, "version")
_setMode = _setter(NTPPacket, "mode")
_setStratum = _setter(NTPPacket, "stratum")
_setPoll = _setter(NTPPacket, "poll")
_setPrecision = _setter(NTPPacket, "precision")
_setRootDelay = _setter(NTPPacket, "rootDelay")
_setRootDispersion = _setter(NTPPacket, "rootDispersion")
_setRefid = _setter(NTPPacket, "refid")
_setReftime = _setter(NTPPacket, "reftime")
_setOrg = _setter(NTPPacket, "org")
_setRec = _setter(NTPPacket, "rec")
_setXmt = _setter(NTPPacket, "xmt")
_setExtensions = _setter(NTPPacket, "extensions")
_setMAC = _setter(NTPPacket, "mac")
_setFieldType = _setter(ExtensionField, "fieldType")
_setFieldValue = _setter(ExtensionField, "value")
_setKeyID = _setter(MAC, "keyID")
_setDigest = _setter(MAC, "digest")


def _decodeTrailer(
    data: bytes, length: int, version: int = 4
) -> tuple[tuple[ExtensionField, ...], MAC | None]:
    """
    Decode what follows the header: extension fields, then a MAC.

    @param data: the whole datagram.
    @param length: C{len(data)}, more than L{HEADER_LEN}.
    @return: the extension fields and the MAC (or C{None}).
    @raise PacketError: if the trailer is malformed.
    @see: RFC 7822 section 7.5
    """
    extensions: list[ExtensionField] = []
    offset = HEADER_LEN
    if version <= 3 and length - HEADER_LEN - 4 in LONG_DIGEST_LENGTHS:
        # NTPv3 has no extension fields: the whole trailer is the MAC.
        mac0: MAC = _newObject(MAC)
        _setKeyID(mac0, _KEY_ID.unpack_from(data, offset)[0])
        _setDigest(mac0, bytes(data[offset + 4 : length]))
        return (), mac0
    while offset < length:
        remaining = length - offset
        if remaining in MAC_LENGTHS:
            mac: MAC = _newObject(MAC)
            _setKeyID(mac, _KEY_ID.unpack_from(data, offset)[0])
            _setDigest(mac, bytes(data[offset + 4 : length]))
            return tuple(extensions), mac
        if remaining < EXTENSION_MIN_LEN:
            raise PacketError(
                f"{remaining} bytes at offset {offset} are neither an "
                f"extension field (at least {EXTENSION_MIN_LEN} bytes) nor a "
                f"MAC (4, 20 or 24 bytes)"
            )
        fieldType, fieldLength = _EXTENSION_HEADER.unpack_from(data, offset)
        if fieldLength < EXTENSION_MIN_LEN or fieldLength & 3:
            raise PacketError(
                f"extension field at offset {offset} has invalid length "
                f"{fieldLength} (must be a multiple of 4, at least "
                f"{EXTENSION_MIN_LEN})"
            )
        if fieldLength > remaining:
            raise PacketError(
                f"extension field at offset {offset} claims {fieldLength} "
                f"bytes but only {remaining} remain"
            )
        extension: ExtensionField = _newObject(ExtensionField)
        _setFieldType(extension, fieldType)
        _setFieldValue(extension, bytes(data[offset + 4 : offset + fieldLength]))
        extensions.append(extension)
        offset += fieldLength
    return tuple(extensions), None
