# -*- test-case-name: tests.control.test_codec -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The mode 6 control protocol (the one ntpq speaks), as a pure codec: the
header, the opcodes and error codes, the status words, ntpd's variable
lists with their quoting and line layout, fragmentation and reassembly,
where a MAC sits on a control message, the nonces of the MRU handshake and
the READ_MRU request.

The message (draft-ietf-ntp-mode-6-cmds, ntpd's C{ntp_control.h})::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |LI | VN  |Mode |R|E|M| OpCode  |       Sequence Number         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |            Status             |       Association ID          |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |            Offset             |            Count              |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                 Data (up to 468 octets), padded to 32 bits    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |      zero padding to 64 bits (only before a MAC)              |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |          Key Identifier (optional)                            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |          Digest (16 or 20 octets, optional)                   |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

R is set in responses, E in error responses (the error code is then the
high byte of the status word), M in every fragment of a response but the
last. A response longer than 468 octets of data is split into fragments,
each carrying its offset in the whole.

Variables travel as text, ntpd's way: C{name=value} items separated by
C{", "}, a C{"\\r\\n"} instead of the space when a line would reach 72
characters, and a final C{"\\r\\n"}; strings are quoted (C{version="..."}),
numbers and addresses are not, timestamps are C{0x%08x.%08x}, times in
milliseconds.

Time comes in as arguments (L{NTPTimestamp}s); nothing here reads a clock
or draws random numbers: the secret that nonces are derived from is the
caller's. Nor does it know keys: L{ntpservice.auth.mac.verifyControl} and
L{ntpservice.auth.mac.signControl} compute and check the MACs, with the
layout found here (L{macCandidates}, L{padForMAC}).

@see: ntpd's C{ntpd/ntp_control.c} and C{include/ntp_control.h}; NTPsec's
    C{pylib/packet.py} (C{ControlSession}), which is the client this codec
    must satisfy.
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from dataclasses import dataclass, field
from hmac import compare_digest
from typing import Any, Iterable, Sequence

from ntpservice.core.refid import formatRefid as _formatRefid
from ntpservice.core.status import (
    ASSOCIATION_EVENT_NAMES,
    LEAP_NAMES,
    PEER_AUTHENABLE,
    PEER_AUTHENTIC,
    PEER_BROADCAST,
    PEER_CONFIG,
    PEER_REACH,
    SELECT_REJECT,
    SELECTION_NAMES,
    SOURCE_NAMES,
    SYSTEM_EVENT_NAMES,
    TALLY,
    peerStatusWord,
    systemStatusWord,
)
from ntpservice.core.timestamps import NTPTimestamp

__all__ = [
    "ControlError",
    "ControlAuth",
    "ControlMessage",
    "MRURequest",
    "PeerStatus",
    "Reassembler",
    "RequestError",
    "SystemStatus",
    "NO_AUTH",
    "checkNonce",
    "decodePeerStatus",
    "decodeSystemStatus",
    "encodeVariables",
    "errorResponse",
    "eventsText",
    "formatAddressPort",
    "formatArray",
    "formatFixed",
    "formatHex",
    "formatRefid",
    "formatTimestamp",
    "fragmentResponse",
    "macCandidates",
    "makeNonce",
    "mruResponseItems",
    "padForMAC",
    "parseAddressPort",
    "parseRequestItems",
    "parseTimestamp",
    "parseVariables",
    "peerStatus",
    "quoted",
    "restrictionBits",
    "secondsToTimestamp",
    "systemStatus",
]

HEADER_LEN = 12
"""Octets of the control header."""

MAX_DATA_LEN = 468
"""Octets of data in one control message (ntpd's C{CTL_MAX_DATA_LEN})."""

MAX_LINE_LEN = 72
"""ntpd starts a new line (C{"\\r\\n"}) before a line reaches this length."""

MODE_CONTROL = 6

# The R, E and M bits and the opcode field of the second octet.
RESPONSE = 0x80
ERROR = 0x40
MORE = 0x20
OPCODE_MASK = 0x1F

# Opcodes.
OP_UNSPEC = 0
OP_READSTAT = 1
OP_READVAR = 2
OP_WRITEVAR = 3
OP_READCLOCK = 4
OP_WRITECLOCK = 5
OP_SETTRAP = 6
OP_ASYNCMSG = 7
OP_CONFIGURE = 8
OP_SAVECONFIG = 9
OP_READ_MRU = 10
OP_READ_ORDLIST_A = 11
OP_REQ_NONCE = 12
OP_UNSETTRAP = 31

# Error codes (the high byte of the status word of an error response).
ERR_UNSPEC = 0
ERR_PERMISSION = 1
ERR_BADFMT = 2
ERR_BADOP = 3
ERR_BADASSOC = 4
ERR_UNKNOWNVAR = 5
ERR_BADVALUE = 6
ERR_RESTRICT = 7

ERROR_NAMES = {
    ERR_UNSPEC: "UNSPEC",
    ERR_PERMISSION: "PERMISSION",
    ERR_BADFMT: "BADFMT",
    ERR_BADOP: "BADOP",
    ERR_BADASSOC: "BADASSOC",
    ERR_UNKNOWNVAR: "UNKNOWNVAR",
    ERR_BADVALUE: "BADVALUE",
    ERR_RESTRICT: "RESTRICT",
}
"""Error code -> the name ntpq prints (C{***Server error code BADASSOC})."""

CLOCK_STATUS_NAMES = (
    "clk_unspec",
    "clk_no_reply",
    "clk_bad_format",
    "clk_fault",
    "clk_bad_signal",
    "clk_bad_date",
    "clk_bad_time",
)
"""The clock status codes of a clock status word (READCLOCK)."""

RESTRICTION_BITS = {
    "ignore": 0x0001,
    "noserve": 0x0002,
    "notrust": 0x0004,
    "version": 0x0008,
    "nopeer": 0x0010,
    "limited": 0x0020,
    "noquery": 0x0040,
    "nomodify": 0x0080,
    "notrap": 0x0100,
    "lowpriotrap": 0x0200,
    "kod": 0x0400,
    "mssntp": 0x0800,
    "flake": 0x1000,
    "nomrulist": 0x2000,
}
"""Restriction flag -> NTPsec's C{RES_*} bit (C{ntpq mrulist} shows them)."""

NONCE_TIMEOUT = 16
"""Seconds a nonce is good for (ntpd's and NTPsec's C{NONCE_TIMEOUT})."""

MRU_ROW_LIMIT = 256
"""The largest C{limit=} a READ_MRU request may give (ntpd)."""

MRU_FRAGS_LIMIT = 128
"""The largest C{frags=} a READ_MRU request may give (ntpd)."""

_HEADER = struct.Struct("!BBHHHHH")
_KEY_ID = struct.Struct("!I")

MAC_DIGEST_LENGTHS = (16, 20)
"""
The digest lengths of a MAC on a control message, octets: MD5 and the
CMACs (16), SHA-1 (20).
"""


class ControlError(ValueError):
    """
    A datagram is not a well-formed control message.
    """


class RequestError(Exception):
    """
    A request the server must answer with an error response.

    @ivar code: the error code (C{ERR_*}).
    """

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        name = ERROR_NAMES.get(self.code, str(self.code))
        return f"{name}: {self.message}" if self.message else name


# ---------------------------------------------------------------------------
# The message


@dataclass(frozen=True, slots=True)
class ControlMessage:
    """
    One control message (a request, or one fragment of a response).

    @ivar opcode: the operation, C{OP_*} (0-31).
    @ivar sequence: the request's sequence number, echoed in its response.
    @ivar status: the status word (a system or peer status word; in an
        error response the error code in the high byte).
    @ivar associd: the association ID (0: the system).
    @ivar offset: octets of the whole response that precede this fragment.
    @ivar data: the data (C{count} octets), without padding or MAC.
    @ivar response: the R bit.
    @ivar error: the E bit.
    @ivar more: the M bit: more fragments follow.
    @ivar version: the NTP version field (ntpq sends 2).
    @ivar leap: the leap indicator field (a response carries the system's).
    @ivar trailer: what followed the data and its padding to 32 bits in a
        decoded datagram (zero padding and a MAC), else empty.
    """

    opcode: int
    sequence: int = 0
    status: int = 0
    associd: int = 0
    offset: int = 0
    data: bytes = b""
    response: bool = False
    error: bool = False
    more: bool = False
    version: int = 2
    leap: int = 0
    trailer: bytes = field(default=b"", compare=False)

    @property
    def errorCode(self) -> int:
        """The error code of an error response (the status word's high byte)."""
        return (self.status >> 8) & 0xFF

    @property
    def end(self) -> int:
        """The offset just past this fragment's data."""
        return self.offset + len(self.data)

    def encode(self) -> bytes:
        """
        The datagram: header, data, zero padding to a multiple of 4 octets
        (no MAC: see L{ntpservice.auth.mac.signControl}).

        @raise ValueError: if a field is out of range.
        """
        if not 0 <= self.opcode <= OPCODE_MASK:
            raise ValueError(f"opcode must be 0-31, not {self.opcode}")
        if not 0 <= self.version <= 7 or not 0 <= self.leap <= 3:
            raise ValueError("version must be 0-7 and leap 0-3")
        if len(self.data) > 0xFFFF:
            raise ValueError("data too long")
        flags = (
            (RESPONSE if self.response else 0)
            | (ERROR if self.error else 0)
            | (MORE if self.more else 0)
            | self.opcode
        )
        header = _HEADER.pack(
            (self.leap << 6) | (self.version << 3) | MODE_CONTROL,
            flags,
            self.sequence & 0xFFFF,
            self.status & 0xFFFF,
            self.associd & 0xFFFF,
            self.offset & 0xFFFF,
            len(self.data),
        )
        return header + self.data + bytes(-len(self.data) % 4)

    @classmethod
    def decode(cls, datagram: bytes) -> ControlMessage:
        """
        Decode a datagram.

        @param datagram: the UDP payload.
        @return: the message; C{data} is the C{count} octets of data,
            C{trailer} what follows them after padding to 32 bits.
        @raise ControlError: if it is shorter than a header, is not mode
            6, or its count exceeds the data present.
        """
        if len(datagram) < HEADER_LEN:
            raise ControlError(f"{len(datagram)} octets are shorter than a header")
        livnmode, flags, sequence, status, associd, offset, count = _HEADER.unpack_from(
            datagram
        )
        if livnmode & 7 != MODE_CONTROL:
            raise ControlError(f"mode {livnmode & 7} is not 6")
        if HEADER_LEN + count > len(datagram):
            raise ControlError(
                f"count {count} exceeds the {len(datagram) - HEADER_LEN} octets of data"
            )
        end = HEADER_LEN + count
        padded = end + (-count % 4)
        return cls(
            opcode=flags & OPCODE_MASK,
            sequence=sequence,
            status=status,
            associd=associd,
            offset=offset,
            data=bytes(datagram[HEADER_LEN:end]),
            response=bool(flags & RESPONSE),
            error=bool(flags & ERROR),
            more=bool(flags & MORE),
            version=(livnmode >> 3) & 7,
            leap=livnmode >> 6,
            trailer=bytes(datagram[padded:]),
        )


def fragmentResponse(
    request: ControlMessage,
    data: bytes,
    status: int,
    leap: int = 0,
    associd: int | None = None,
) -> list[ControlMessage]:
    """
    The response to C{request}, as fragments of at most L{MAX_DATA_LEN}
    octets of data each.

    @param request: the request answered (opcode, sequence, version and,
        unless C{associd} is given, association ID are echoed).
    @param data: the whole response data.
    @param status: the status word of every fragment.
    @param leap: the system leap indicator.
    @param associd: the association ID to answer with.
    @return: one message for empty data, else C{ceil(len / 468)}.
    """
    chunks = [data[i : i + MAX_DATA_LEN] for i in range(0, len(data), MAX_DATA_LEN)]
    if not chunks:
        chunks = [b""]
    out = []
    offset = 0
    for index, chunk in enumerate(chunks):
        out.append(
            ControlMessage(
                opcode=request.opcode,
                sequence=request.sequence,
                status=status,
                associd=request.associd if associd is None else associd,
                offset=offset,
                data=chunk,
                response=True,
                more=index < len(chunks) - 1,
                version=request.version,
                leap=leap,
            )
        )
        offset += len(chunk)
    return out


def errorResponse(request: ControlMessage, code: int, leap: int = 0) -> ControlMessage:
    """
    The error response to C{request}: no data, the error code in the high
    byte of the status word.
    """
    return ControlMessage(
        opcode=request.opcode,
        sequence=request.sequence,
        status=(code & 0xFF) << 8,
        associd=request.associd,
        response=True,
        error=True,
        version=request.version,
        leap=leap,
    )


class Reassembler:
    """
    Collects the fragments of one response (the client side).

    Fragments may arrive in any order; duplicates are ignored; a fragment
    that overlaps another is refused.

    @ivar status: the status word of the last fragment, once seen.
    @ivar data: the whole data, once L{add} returned C{True}.
    """

    def __init__(self) -> None:
        self._fragments: dict[int, ControlMessage] = {}
        self._total: int | None = None
        self.status: int | None = None
        self.data: bytes | None = None

    def add(self, message: ControlMessage) -> bool:
        """
        Add one fragment.

        @return: whether the response is now complete (then read L{data}).
        @raise ControlError: if the fragment overlaps another, or a second
            last fragment disagrees with the first.
        """
        if self.data is not None:
            return True
        if message.offset in self._fragments:
            return False
        if message.more and not message.data:
            raise ControlError("an empty fragment that is not the last")
        for other in self._fragments.values():
            if message.offset < other.end and other.offset < message.end:
                raise ControlError(
                    f"fragment at {message.offset} overlaps the one at {other.offset}"
                )
        if not message.more:
            if self._total is not None and self._total != message.end:
                raise ControlError("two last fragments")
            self._total = message.end
            self.status = message.status
        self._fragments[message.offset] = message
        if self._total is None:
            return False
        position = 0
        parts = []
        for offset in sorted(self._fragments):
            if offset != position:
                return False
            fragment = self._fragments[offset]
            parts.append(fragment.data)
            position = fragment.end
        if position != self._total:
            return False
        self.data = b"".join(parts)
        return True

    @property
    def fragments(self) -> int:
        """How many fragments were accepted."""
        return len(self._fragments)


# ---------------------------------------------------------------------------
# Authentication


@dataclass(frozen=True, slots=True)
class ControlAuth:
    """
    What L{ntpservice.auth.mac.verifyControl} found in a control message.

    @ivar status: C{"none"} (no MAC), C{"ok"} (verified with a trusted
        key), C{"bad"} (a MAC that did not verify, or an unknown or
        untrusted key).
    @ivar keyID: the key identifier of the MAC, or C{None}.
    @ivar key: the key, when C{status} is C{"ok"}.
    """

    status: str
    keyID: int | None = None
    key: Any = None

    @property
    def authenticated(self) -> bool:
        """Whether the MAC verified."""
        return self.status == "ok"


NO_AUTH = ControlAuth("none")


def macCandidates(datagram: bytes, count: int) -> list[tuple[int, int, int]] | None:
    """
    Where a MAC may start in a control message whose data is C{count}
    octets: right after the data padded to 32 bits (ntpd's reading), or
    after padding to 64 bits (what NTPsec's ntpq sends). Only the layout
    is checked here: whether a key with that identifier and digest length
    exists, and whether the digest matches, is for the caller
    (L{ntpservice.auth.mac.verifyControl}).

    @param datagram: the message as received.
    @param count: its data length (the header's count).
    @return: C{None} when the message has no MAC (nothing, or only
        padding, follows the data); otherwise C{(start, keyID,
        digestLength)} for each plausible position, C{start} being the
        offset of the key identifier (none at all: what follows the data
        is not a well-placed MAC).
    """
    length = len(datagram)
    base = HEADER_LEN + count + (-count % 4)
    if length - base < 4 + min(MAC_DIGEST_LENGTHS):
        return None
    candidates = []
    for digestLength in MAC_DIGEST_LENGTHS:
        start = length - 4 - digestLength
        if start < base or start - base not in (0, 4) or start % 4:
            continue
        if any(datagram[base:start]):
            continue
        (keyID,) = _KEY_ID.unpack_from(datagram, start)
        candidates.append((start, keyID, digestLength))
    return candidates


def padForMAC(encoded: bytes) -> bytes:
    """
    An encoded control message padded with zeros to a multiple of 8
    octets, as ntpd pads it before the key identifier and the digest of
    everything before it (L{ntpservice.auth.mac.signControl}).

    @param encoded: L{ControlMessage.encode}'s result.
    """
    return encoded + bytes(-len(encoded) % 8)


# ---------------------------------------------------------------------------
# Status words


@dataclass(frozen=True, slots=True)
class SystemStatus:
    """
    A decoded system status word.

    @ivar leap: the leap indicator.
    @ivar source: the clock source (L{ntpservice.core.status}'s C{SOURCE_*}).
    @ivar eventCount: events since the counter was reset (0-15).
    @ivar lastEvent: the last system event (C{EVNT_*} of L{ntpservice.core.status}).
    """

    leap: int
    source: int
    eventCount: int
    lastEvent: int

    def describe(self) -> str:
        """
        The status as ntpq shows it: C{leap_none, sync_ntp, 2 events,
        clock_sync}.
        """
        return ", ".join(
            (
                LEAP_NAMES[self.leap],
                SOURCE_NAMES.get(self.source, f"sync_{self.source}"),
                eventsText(self.eventCount),
                SYSTEM_EVENT_NAMES.get(self.lastEvent, f"_{self.lastEvent}"),
            )
        )


def systemStatus(leap: int, source: int, eventCount: int, lastEvent: int) -> int:
    """
    Encode a system status word (the one encoding, shared with the
    statistics files: L{ntpservice.core.status.systemStatusWord}).

    @param leap: the system leap indicator (0-3).
    @param source: the clock source (C{SOURCE_*} of L{ntpservice.core.status}, 0-63).
    @param eventCount: how many events (saturated at 15).
    @param lastEvent: the last event (C{EVNT_*} of L{ntpservice.core.status}, 0-15).
    """
    return systemStatusWord(leap, source, eventCount, lastEvent)


def decodeSystemStatus(word: int) -> SystemStatus:
    """Decode a system status word."""
    return SystemStatus(word >> 14 & 3, word >> 8 & 0x3F, word >> 4 & 0xF, word & 0xF)


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """
    A decoded peer status word.

    @ivar bits: the status bits (C{PEER_CONFIG} ... of
        L{ntpservice.core.status}).
    @ivar selection: the selection code (C{SELECT_*}).
    @ivar eventCount: events since the counter was reset (0-15).
    @ivar lastEvent: the last peer event (C{PEVNT_*}).
    """

    bits: int
    selection: int
    eventCount: int
    lastEvent: int

    @property
    def configured(self) -> bool:
        return bool(self.bits & PEER_CONFIG)

    @property
    def reachable(self) -> bool:
        return bool(self.bits & PEER_REACH)

    @property
    def tally(self) -> str:
        """The ntpq C{peers} tally character."""
        return TALLY[self.selection]

    @property
    def conf(self) -> str:
        """ntpq's C{conf} column: C{yes}/C{no}."""
        return "yes" if self.configured else "no"

    @property
    def reach(self) -> str:
        """ntpq's C{reach} column: C{yes}/C{no}/C{none}."""
        if self.bits & PEER_BROADCAST:
            return "none"
        return "yes" if self.reachable else "no"

    @property
    def auth(self) -> str:
        """ntpq's C{auth} column: C{none}/C{ok }/C{bad}."""
        if not self.bits & PEER_AUTHENABLE:
            return "none"
        return "ok " if self.bits & PEER_AUTHENTIC else "bad"

    @property
    def condition(self) -> str:
        """ntpq's C{condition} column (C{sys.peer}, C{candidate}, ...)."""
        return SELECTION_NAMES[self.selection]

    @property
    def lastEventName(self) -> str:
        """ntpq's C{last_event} column (empty when it has no name)."""
        return ASSOCIATION_EVENT_NAMES.get(self.lastEvent, "")


def peerStatus(
    *,
    configured: bool,
    authEnabled: bool,
    authentic: bool,
    reachable: bool,
    broadcast: bool = False,
    selection: int = SELECT_REJECT,
    eventCount: int = 0,
    lastEvent: int = 0,
) -> int:
    """
    Encode a peer status word (the one encoding, shared with the statistics
    files: L{ntpservice.core.status.peerStatusWord}).

    @param selection: the selection code (C{SELECT_*}, see
        L{ntpservice.core.status.SELECT_CODES}).
    @param eventCount: how many events (saturated at 15).
    @param lastEvent: the last event (C{PEVNT_*}, 0 for none).
    """
    return peerStatusWord(
        configured=configured,
        authEnabled=authEnabled,
        authentic=authentic,
        reachable=reachable,
        broadcast=broadcast,
        select=selection,
        eventCount=eventCount,
        lastEvent=lastEvent,
    )


def decodePeerStatus(word: int) -> PeerStatus:
    """Decode a peer status word."""
    high = word >> 8 & 0xFF
    return PeerStatus(high & 0xF8, high & 7, word >> 4 & 0xF, word & 0xF)


def eventsText(count: int) -> str:
    """An event count as ntpq shows it: C{no events}, C{1 event}, C{3 events}."""
    if count == 0:
        return "no events"
    return f"{count} event{'' if count == 1 else 's'}"


# ---------------------------------------------------------------------------
# Values, ntpd's way


def quoted(text: str) -> str:
    """
    A string value: in double quotes (a double quote inside, which ntpd
    never sends and ntpq could not parse, becomes a single quote).
    """
    return '"' + text.replace('"', "'") + '"'


def formatFixed(value: float, digits: int = 3) -> str:
    """
    A number with C{digits} decimals (ntpd's C{%.3f}, C{%.6f}).
    """
    return f"{value:.{digits}f}"


def formatHex(value: int) -> str:
    """An unsigned number in hex, C{0x} first (C{reach=0x377}... as ntpd)."""
    return f"0x{value:x}"


def formatTimestamp(timestamp: NTPTimestamp) -> str:
    """An NTP timestamp as ntpd sends it: C{0xe9c1b2a0.80000000}."""
    return f"0x{timestamp.seconds:08x}.{timestamp.fraction:08x}"


def parseTimestamp(text: str) -> NTPTimestamp:
    """
    The inverse of L{formatTimestamp}.

    @raise ValueError: if C{text} is not C{0xSSSSSSSS.FFFFFFFF}.
    """
    if not text.lower().startswith("0x") or "." not in text:
        raise ValueError(f"not a timestamp: {text!r}")
    seconds, _, fraction = text[2:].partition(".")
    if not seconds or not fraction or len(seconds) > 8 or len(fraction) > 8:
        raise ValueError(f"not a timestamp: {text!r}")
    return NTPTimestamp((int(seconds, 16) << 32) | int(fraction, 16))


def formatArray(seconds: Iterable[float]) -> str:
    """
    A clock-filter register (C{filtdelay}, C{filtoffset}, C{filtdisp}):
    each value in milliseconds with two decimals, each after a space.
    """
    return "".join(f" {value * 1e3:.2f}" for value in seconds)


def formatRefid(refid: bytes, asAddress: bool) -> str:
    """
    A reference ID as ntpd's mode 6 sends it: a dotted quad when it is an
    address (stratum 2-15), else text (L{ntpservice.core.refid.formatRefid},
    the one refid formatter, for a stratum that says which).
    """
    return _formatRefid(refid[:4], 2 if asAddress else 1)


def formatAddressPort(address: str, port: int) -> str:
    """
    An address with its port, as ntpd's C{sockporttoa}: C{192.0.2.1:123},
    C{[2001:db8::1]:123}.
    """
    if ":" in address:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def parseAddressPort(text: str) -> tuple[str, int | None]:
    """
    The inverse of L{formatAddressPort} (a port is optional).

    @raise ValueError: if the address part is not an IP address.
    """
    text = text.strip()
    port: int | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":") and rest[1:]:
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, portText = text.partition(":")
        port = int(portText)
    else:
        host = text
    host = host.partition("%")[0]
    return str(ipaddress.ip_address(host)), port


def restrictionBits(flags: Iterable[str]) -> int:
    """The C{RES_*} bits of some restriction flags (L{RESTRICTION_BITS})."""
    bits = 0
    for flag in flags:
        bits |= RESTRICTION_BITS.get(flag, 0)
    return bits


# ---------------------------------------------------------------------------
# Variable lists


def encodeVariables(items: Iterable[tuple[str, str | None]]) -> bytes:
    """
    A variable list as ntpd lays it out: items C{name=value} (or C{name}
    alone when the value is C{None}) separated by a comma and a space, or
    by a comma and C{"\\r\\n"} when the line would reach L{MAX_LINE_LEN}
    characters, and C{"\\r\\n"} at the end. No items: no data.

    @param items: C{(name, value)} pairs, values already formatted
        (L{quoted}, L{formatFixed}, ...).
    @return: ASCII text; characters outside ASCII are replaced by C{?}.
    """
    parts: list[str] = []
    lineLength = 0
    for name, value in items:
        item = name if value is None else f"{name}={value}"
        if parts:
            parts.append(",")
            lineLength += 1
            if len(item) + lineLength + 1 >= MAX_LINE_LEN:
                parts.append("\r\n")
                lineLength = 0
            else:
                parts.append(" ")
                lineLength += 1
        parts.append(item)
        lineLength += len(item)
    if not parts:
        return b""
    parts.append("\r\n")
    return "".join(parts).encode("ascii", "replace")


def parseVariables(data: bytes) -> list[tuple[str, str]]:
    """
    Parse a variable list the way ntpq does: items are separated by commas
    outside double quotes; control characters (and NULs) are dropped; each
    item is C{name=value} or a bare C{name}; whitespace around names and
    values is removed, and so are the quotes around a quoted value.

    @return: C{(name, value)} pairs in order, C{value} C{""} for a bare
        name.
    """
    items: list[str] = []
    current: list[str] = []
    inString = False
    for char in data.decode("latin-1"):
        if char == '"':
            current.append(char)
            inString = not inString
        elif char == "," and not inString:
            items.append("".join(current).strip())
            current = []
        elif 0 < ord(char) < 127 and (char.isprintable() or char in " \t"):
            current.append(char)
    tail = "".join(current).strip()
    if tail:
        items.append(tail)
    out = []
    for item in items:
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        out.append((name, value))
    return out


def parseRequestItems(data: bytes) -> list[tuple[str, str | None]]:
    """
    Parse the variable names (and values) of a request the way ntpd's
    C{ctl_getitem} does: items end at a comma; leading commas and
    whitespace are skipped; the name runs to the first C{=}; the value is
    the rest of the item, whitespace trimmed.

    @return: C{(name, value)} pairs, C{value} C{None} without C{=}.
    @raise RequestError: C{ERR_BADFMT} for a value of 128 octets or more
        (ntpd drops such requests as exploits).
    """
    text = data.decode("latin-1")
    out: list[tuple[str, str | None]] = []
    for raw in text.split(","):
        raw = raw.strip(" \t\r\n\0")
        if not raw:
            continue
        name, sep, value = raw.partition("=")
        if sep:
            value = value.strip()
            if len(value) >= 128:
                raise RequestError(ERR_BADFMT, "value too long")
            out.append((name.strip(), value))
        else:
            out.append((name.strip(), None))
    return out


# ---------------------------------------------------------------------------
# Nonces


def _nonceDigest(secret: bytes, seconds: int, fraction: int, address: str, port: int) -> int:
    try:
        packed = ipaddress.ip_address(address.partition("%")[0]).packed
    except ValueError:
        packed = address.encode("utf-8", "replace")
    digest = hashlib.blake2b(
        struct.pack("!II", seconds, fraction) + packed + struct.pack("!H", port & 0xFFFF),
        key=secret[:64],
        digest_size=4,
    ).digest()
    return int.from_bytes(digest, "big")


def makeNonce(secret: bytes, address: str, port: int, timestamp: NTPTimestamp) -> str:
    """
    A nonce for a client (ntpd's C{generate_nonce}): the time it was made
    and a keyed digest of that time with the client's address and port, as
    24 hex digits. Only the holder of C{secret} can make one, and it is
    good for one address and port, for L{NONCE_TIMEOUT} seconds.

    @param secret: the server's secret (1 to 64 octets), rotated by the
        caller.
    @param timestamp: now.
    """
    seconds, fraction = timestamp.seconds, timestamp.fraction
    return f"{seconds:08x}{fraction:08x}{_nonceDigest(secret, seconds, fraction, address, port):08x}"


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def checkNonce(
    nonce: str,
    secrets: Sequence[bytes],
    address: str,
    port: int,
    now: NTPTimestamp,
    timeout: float = NONCE_TIMEOUT,
) -> bool:
    """
    Whether C{nonce} was made by L{makeNonce} with one of C{secrets} for
    this address and port less than C{timeout} seconds before C{now}.
    """
    if len(nonce) != 24 or not _HEX_DIGITS.issuperset(nonce):
        # Only hex digits: int() also takes a sign, spaces and "_", and a
        # negative part raised ValueError (found by fuzz/control_handler.py).
        return False
    seconds = int(nonce[0:8], 16)
    fraction = int(nonce[8:16], 16)
    supposed = int(nonce[16:24], 16)
    age = now - NTPTimestamp((seconds << 32) | fraction)
    if not 0 <= age < timeout:
        return False
    return any(
        compare_digest(
            _nonceDigest(secret, seconds, fraction, address, port).to_bytes(4, "big"),
            supposed.to_bytes(4, "big"),
        )
        for secret in secrets
    )


# ---------------------------------------------------------------------------
# READ_MRU


@dataclass(frozen=True, slots=True)
class MRURequest:
    """
    The parameters of a READ_MRU request (see ntpd's C{read_mru_list}).

    @ivar nonce: the nonce the client regurgitates, or C{None}.
    @ivar frags: the most datagrams in the response (0: not given).
    @ivar limit: the most entries in the response (0: not given).
    @ivar mincount: only entries with at least this many packets.
    @ivar mindrop: only entries with at least this many drops.
    @ivar minscore: only entries with at least this score.
    @ivar resall: only entries with all these C{RES_*} bits.
    @ivar resany: only entries with any of these C{RES_*} bits.
    @ivar maxlstint: only entries heard at most this many seconds ago (0:
        any).
    @ivar minlstint: only entries heard at least this many seconds ago.
    @ivar laddr: the local address asked for, or C{None}.
    @ivar recent: start with roughly this many most recent entries (0:
        all).
    @ivar priors: C{(address, last)} of the newest entries the client has,
        newest first: the response continues after the first of them that
        is unchanged.
    """

    nonce: str | None = None
    frags: int = 0
    limit: int = 0
    mincount: int = 0
    mindrop: int = 0
    minscore: float = 0.0
    resall: int = 0
    resany: int = 0
    maxlstint: int = 0
    minlstint: int = 0
    laddr: str | None = None
    recent: int = 0
    priors: tuple[tuple[str, NTPTimestamp], ...] = ()

    @classmethod
    def parse(cls, items: Sequence[tuple[str, str | None]]) -> MRURequest:
        """
        The request's parameters, from L{parseRequestItems}.

        Unknown names are ignored (ntpd ignores them too). A value that does
        not parse ends the request without a nonce, which makes the server
        send nothing (as ntpd does).
        """
        values: dict[str, Any] = {}
        last: dict[int, NTPTimestamp] = {}
        addr: dict[int, str] = {}
        try:
            for name, value in items:
                text = value if value is not None else ""
                if name == "nonce":
                    values["nonce"] = text or None
                elif name in ("frags", "limit", "mindrop", "maxlstint", "minlstint", "recent"):
                    values[name] = _unsigned(text)
                elif name == "mincount":
                    values[name] = max(0, int(text))
                elif name == "minscore":
                    values[name] = max(0.0, float(text))
                elif name in ("resall", "resany"):
                    values[name] = int(text, 16) & 0xFFFF
                elif name == "laddr":
                    values[name] = parseAddressPort(text)[0]
                elif name.startswith("last."):
                    index = _index(name)
                    if index is not None:
                        last[index] = parseTimestamp(text)
                elif name.startswith("addr."):
                    index = _index(name)
                    if index is not None:
                        addr[index] = parseAddressPort(text)[0]
        except ValueError:
            values["nonce"] = None
        priors = []
        for index in range(16):
            if index not in last or index not in addr:
                break
            priors.append((addr[index], last[index]))
        return cls(priors=tuple(priors), **values)


def _unsigned(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _index(name: str) -> int | None:
    suffix = name.partition(".")[2]
    if not suffix.isdigit():
        return None
    index = int(suffix)
    return index if index < 16 else None


def secondsToTimestamp(seconds: float) -> NTPTimestamp:
    """The NTP timestamp of a time in seconds since the Unix epoch."""
    return NTPTimestamp.fromUnixNanoseconds(int(round(seconds * 1e9)))


_ENTRY_ITEM_ESTIMATE = 3
"""Octets a separator adds to an item at most (C{", "} or C{",\\r\\n"})."""

_MRU_TAIL_RESERVE = 80
"""Octets kept free for C{now=} and C{last.newest=}."""


def mruResponseItems(
    request: MRURequest,
    entries: Sequence[Any],
    now: float,
    nonce: str,
    maxFragments: int = MRU_FRAGS_LIMIT,
) -> list[tuple[str, str | None]]:
    """
    The variables of the response to a READ_MRU request whose nonce was
    checked: a new nonce, then entries oldest first, each as C{addr.N},
    C{last.N}, C{first.N}, C{ct.N}, C{mv.N}, C{rs.N}, C{sc.N}, C{dr.N},
    and, when the list is complete, C{now} and C{last.newest}.

    A request that names entries the client already has (C{last.N},
    C{addr.N}, newest first) continues after the first of them that is
    unchanged, confirmed by C{last.older} and C{addr.older}. With
    C{limit=1} the named entries themselves are sent.

    @param request: the parsed request.
    @param entries: the MRU entries (L{ntpservice.core.mru.MRUEntry}),
        oldest first.
    @param now: seconds since the Unix epoch, in the timescale of the
        entries' C{first} and C{last}.
    @param nonce: the nonce for the client's next request.
    @param maxFragments: the server's own cap on datagrams per response.
    @return: the items, for L{encodeVariables}.
    @raise RequestError: C{ERR_BADVALUE} without a valid C{frags=} or
        C{limit=}; C{ERR_UNKNOWNVAR} when none of the entries the client
        names is still unchanged (it then backs up and asks again).
    """
    frags, limit = request.frags, request.limit
    if (frags == 0 and not 0 < limit <= MRU_ROW_LIMIT) or frags > MRU_FRAGS_LIMIT:
        raise RequestError(ERR_BADVALUE, "frags or limit out of range")
    if frags == 0:
        frags = MRU_FRAGS_LIMIT
    if limit == 0:
        limit = 1 << 31
    frags = max(1, min(frags, maxFragments))
    byAddress = {entry.address: entry for entry in entries}
    items: list[tuple[str, str | None]] = []
    nowStamp = formatTimestamp(secondsToTimestamp(now))

    if limit == 1:
        for index, (address, _last) in enumerate(request.priors):
            entry = byAddress.get(address)
            if entry is not None:
                items.extend(_mruEntryItems(entry, index))
        items.append(("nonce", nonce))
        items.append(("now", nowStamp))
        return items

    start = 0
    if request.priors:
        anchor = None
        for address, last in request.priors:
            entry = byAddress.get(address)
            if entry is not None and secondsToTimestamp(entry.last) == last:
                anchor = entry
                break
        if anchor is None:
            raise RequestError(ERR_UNKNOWNVAR, "no prior entry is unchanged")
        items.append(("last.older", formatTimestamp(secondsToTimestamp(anchor.last))))
        items.append(("addr.older", formatAddressPort(anchor.address, anchor.port)))
        start = next(i for i, e in enumerate(entries) if e is anchor) + 1
    elif request.recent:
        start = max(0, len(entries) - request.recent)

    items.insert(0, ("nonce", nonce))
    budget = frags * MAX_DATA_LEN - _MRU_TAIL_RESERVE
    size = sum(len(n) + len(v or "") + 1 + _ENTRY_ITEM_ESTIMATE for n, v in items)
    count = 0
    newest = None
    complete = True
    for position in range(start, len(entries)):
        entry = entries[position]
        if not _mruWanted(request, entry, now):
            continue
        entryItems = _mruEntryItems(entry, count)
        entrySize = sum(len(n) + len(v or "") + 1 + _ENTRY_ITEM_ESTIMATE for n, v in entryItems)
        # Always at least one entry, so that the client makes progress.
        if count >= limit or (count and size + entrySize > budget):
            complete = False
            break
        items.extend(entryItems)
        size += entrySize
        count += 1
        newest = entry
    if complete:
        items.append(("now", nowStamp))
        if newest is not None:
            items.append(("last.newest", formatTimestamp(secondsToTimestamp(newest.last))))
    return items


def _mruWanted(request: MRURequest, entry: Any, now: float) -> bool:
    if entry.count < request.mincount or entry.dropped < request.mindrop:
        return False
    if entry.leak < request.minscore:
        return False
    bits = restrictionBits(entry.flags)
    if request.resall and request.resall & bits != request.resall:
        return False
    if request.resany and not request.resany & bits:
        return False
    age = int(now) - int(entry.last)
    if request.maxlstint and age > request.maxlstint:
        return False
    if request.minlstint and age < request.minlstint:
        return False
    return True


def _mruEntryItems(entry: Any, index: int) -> list[tuple[str, str | None]]:
    return [
        (f"addr.{index}", formatAddressPort(entry.address, entry.port)),
        (f"last.{index}", formatTimestamp(secondsToTimestamp(entry.last))),
        (f"first.{index}", formatTimestamp(secondsToTimestamp(entry.first))),
        (f"ct.{index}", str(entry.count)),
        (f"mv.{index}", str(((entry.version & 7) << 3) | (entry.mode & 7))),
        (f"rs.{index}", formatHex(restrictionBits(entry.flags))),
        (f"sc.{index}", formatFixed(float(entry.leak), 3)),
        (f"dr.{index}", str(entry.dropped)),
    ]
