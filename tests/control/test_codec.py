# -*- test-case-name: tests.control.test_codec -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.control}: the mode 6 codec.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.auth.keys import KeyRing, SymmetricKey
from ntpservice.auth.mac import signControl, verifyControl
from ntpservice.core import control as K
from ntpservice.core import status as S
from ntpservice.core.timestamps import NTPTimestamp

SHA1_SECRET = bytes.fromhex("0123456789abcdef0123456789abcdef01234567")
KEY = SymmetricKey(1, "SHA1", SHA1_SECRET)
MD5_KEY = SymmetricKey(2, "MD5", b"crocus")
RING = KeyRing([KEY, MD5_KEY], trusted=[1, 2])

# READVAR request for association 0 as NTPsec's ntpq sends it: version 2,
# sequence 1, no data.
READVAR = bytes.fromhex("160200010000000000000000")


class MessageTests(SynchronousTestCase):
    """
    L{K.ControlMessage} encodes and decodes the 12-octet header and data.
    """

    def test_decodeNtpqRequest(self) -> None:
        """
        A READVAR request as ntpq sends it decodes to opcode 2, version 2,
        sequence 1, association 0, no data.
        """
        message = K.ControlMessage.decode(READVAR)
        self.assertEqual(
            (message.opcode, message.version, message.sequence, message.associd),
            (K.OP_READVAR, 2, 1, 0),
        )
        self.assertFalse(message.response or message.error or message.more)
        self.assertEqual(message.data, b"")

    def test_encodePadsToFourOctets(self) -> None:
        """
        The data is padded with zeros to a multiple of 4 octets; the count
        says how much of it is data.
        """
        encoded = K.ControlMessage(K.OP_READVAR, 7, associd=3, data=b"offset").encode()
        self.assertEqual(len(encoded), 12 + 8)
        self.assertEqual(encoded[10:12], b"\x00\x06")
        self.assertEqual(encoded[12:], b"offset\0\0")
        self.assertEqual(K.ControlMessage.decode(encoded).data, b"offset")

    def test_responseBits(self) -> None:
        """
        The R, E and M bits and the leap indicator round-trip; the error
        code is the high byte of the status word.
        """
        message = K.ControlMessage(
            K.OP_READSTAT, 9, status=0x0500, response=True, error=True, more=True, leap=3
        )
        decoded = K.ControlMessage.decode(message.encode())
        self.assertEqual(decoded, message)
        self.assertEqual(decoded.errorCode, K.ERR_UNKNOWNVAR)
        self.assertEqual(message.encode()[0] >> 6, 3)
        self.assertEqual(message.encode()[1], 0x80 | 0x40 | 0x20 | 1)

    def test_trailer(self) -> None:
        """
        What follows the padded data (padding to 64 bits, a MAC) is kept
        apart in C{trailer}.
        """
        data = K.ControlMessage(K.OP_CONFIGURE, 1, data=b"abcde").encode() + b"MACMACMA"
        self.assertEqual(K.ControlMessage.decode(data).trailer, b"MACMACMA")

    def test_malformed(self) -> None:
        """
        Fewer than 12 octets, a mode other than 6, or a count beyond the
        data are L{K.ControlError}s.
        """
        for datagram in (
            b"\x16\x02\x00",
            bytes.fromhex("1b0200010000000000000000"),
            bytes.fromhex("16020001000000000000000a") + b"abc",
        ):
            self.assertRaises(K.ControlError, K.ControlMessage.decode, datagram)

    @given(
        opcode=st.integers(0, 31),
        sequence=st.integers(0, 0xFFFF),
        status=st.integers(0, 0xFFFF),
        associd=st.integers(0, 0xFFFF),
        data=st.binary(max_size=468),
        flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    )
    def test_roundTrip(self, opcode, sequence, status, associd, data, flags) -> None:  # type: ignore[no-untyped-def]
        """
        Every message decodes to itself.
        """
        message = K.ControlMessage(
            opcode, sequence, status, associd, 0, data, *flags, version=2
        )
        self.assertEqual(K.ControlMessage.decode(message.encode()), message)


class StatusWordTests(SynchronousTestCase):
    """
    Status words are ntpd's: ntpq's descriptions of known words.
    """

    def test_systemStatus(self) -> None:
        """
        0x0615 is leap_none, sync_ntp, 1 event, clock_sync (ntpq's own
        example).
        """
        word = K.systemStatus(0, S.SOURCE_NTP, 1, S.EVNT_SYNC)
        self.assertEqual(word, 0x0615)
        self.assertEqual(
            K.decodeSystemStatus(word).describe(),
            "leap_none, sync_ntp, 1 event, clock_sync",
        )
        self.assertEqual(
            K.decodeSystemStatus(0xC016).describe(),
            "leap_alarm, sync_unspec, 1 event, restart",
        )

    def test_eventCountSaturates(self) -> None:
        """
        The 4-bit event count stays at 15.
        """
        self.assertEqual(K.decodeSystemStatus(K.systemStatus(0, 0, 99, 5)).eventCount, 15)

    def test_peerStatus(self) -> None:
        """
        0x9614: configured, reachable, system peer, one event, the last
        "reachable"; ntpq shows it as C{*} and C{sys.peer}.
        """
        word = K.peerStatus(
            configured=True,
            authEnabled=False,
            authentic=False,
            reachable=True,
            selection=S.SELECT_SYSPEER,
            eventCount=1,
            lastEvent=S.PEVNT_REACH,
        )
        self.assertEqual(word, 0x9614)
        status = K.decodePeerStatus(word)
        self.assertEqual(
            (status.tally, status.conf, status.reach, status.auth, status.condition),
            ("*", "yes", "yes", "none", "sys.peer"),
        )
        self.assertEqual(status.lastEventName, "reachable")

    def test_authColumn(self) -> None:
        """
        The auth column: none without a key, ok with a key and an authentic
        last packet, bad with a key and no authentic packet.
        """
        def auth(enabled: bool, authentic: bool) -> str:
            return K.decodePeerStatus(
                K.peerStatus(configured=True, authEnabled=enabled, authentic=authentic,
                             reachable=True)
            ).auth

        self.assertEqual([auth(False, False), auth(True, True), auth(True, False)],
                         ["none", "ok ", "bad"])

    def test_selectionCodesMatchTally(self) -> None:
        """
        Each selection status gets the code whose ntpq tally character is
        the one L{ntpservice.core.selection.TALLY_CODES} gives it.
        """
        from ntpservice.core.selection import TALLY_CODES

        for status, code in S.SELECT_CODES.items():
            self.assertEqual(S.TALLY[code], TALLY_CODES[status], status)


class VariableTests(SynchronousTestCase):
    """
    Variable lists in ntpd's layout, parsed the ways ntpd and ntpq do.
    """

    def test_layout(self) -> None:
        """
        Items are separated by ", ", and by ",\\r\\n" before an item that
        would make the line reach 72 characters; the text ends with
        "\\r\\n".
        """
        items = [(f"name{i}", "x" * 10) for i in range(6)]
        text = K.encodeVariables(items).decode()
        self.assertTrue(text.endswith("\r\n"))
        lines = text.split("\r\n")
        self.assertEqual(lines[-1], "")
        self.assertTrue(all(len(line) < 72 for line in lines))
        self.assertEqual(
            lines[0], "name0=xxxxxxxxxx, name1=xxxxxxxxxx, name2=xxxxxxxxxx, name3=xxxxxxxxxx,"
        )
        self.assertEqual(lines[1], "name4=xxxxxxxxxx, name5=xxxxxxxxxx")

    def test_empty(self) -> None:
        """
        No items, no data (no "\\r\\n" either).
        """
        self.assertEqual(K.encodeVariables([]), b"")

    def test_bareName(self) -> None:
        """
        An item without a value is its name alone (the text of :config).
        """
        self.assertEqual(K.encodeVariables([("Config Succeeded", None)]), b"Config Succeeded\r\n")

    def test_parseLikeNtpq(self) -> None:
        """
        Commas inside quotes do not split; quotes are removed; control
        characters dropped; bare names have an empty value.
        """
        data = b'version="ntpd, 4.2", stratum=2,\r\nrefid=GPS, flag\r\n'
        self.assertEqual(
            K.parseVariables(data),
            [("version", "ntpd, 4.2"), ("stratum", "2"), ("refid", "GPS"), ("flag", "")],
        )

    def test_roundTrip(self) -> None:
        """
        What L{K.encodeVariables} writes, L{K.parseVariables} reads back.
        """
        items = [("a", "1"), ("b", K.quoted("two words")), ("c", K.formatArray([0.001] * 8))]
        self.assertEqual(
            K.parseVariables(K.encodeVariables(items)),
            [("a", "1"), ("b", "two words"), ("c", " ".join(["1.00"] * 8))],
        )

    def test_parseRequestItems(self) -> None:
        """
        Requests are split at commas, whitespace trimmed, values after the
        first "=".
        """
        self.assertEqual(
            K.parseRequestItems(b"offset,  stratum , nonce=abc=, , frags= 32"),
            [("offset", None), ("stratum", None), ("nonce", "abc="), ("frags", "32")],
        )

    def test_longValueRefused(self) -> None:
        """
        A value of 128 octets or more is a bad format (ntpd's guard).
        """
        self.assertRaises(K.RequestError, K.parseRequestItems, b"x=" + b"a" * 128)

    def test_formats(self) -> None:
        """
        ntpd's value formats: timestamps in hex, filter registers in
        milliseconds, refids as text or dotted quads, addresses with ports.
        """
        stamp = NTPTimestamp(0xE9C1B2A080000000)
        self.assertEqual(K.formatTimestamp(stamp), "0xe9c1b2a0.80000000")
        self.assertEqual(K.parseTimestamp("0xe9c1b2a0.80000000"), stamp)
        self.assertRaises(ValueError, K.parseTimestamp, "e9c1b2a0")
        self.assertEqual(K.formatArray([0.0125, 0.0]), " 12.50 0.00")
        self.assertEqual(K.formatRefid(b"GPS\0", False), "GPS")
        self.assertEqual(K.formatRefid(b"A B\x01", False), "A.B.")
        self.assertEqual(K.formatRefid(b"\xc0\x00\x02\x01", True), "192.0.2.1")
        self.assertEqual(K.formatAddressPort("192.0.2.1", 123), "192.0.2.1:123")
        self.assertEqual(K.formatAddressPort("2001:db8::1", 123), "[2001:db8::1]:123")
        self.assertEqual(K.parseAddressPort("[2001:db8::1]:123"), ("2001:db8::1", 123))
        self.assertEqual(K.parseAddressPort("192.0.2.1:40000"), ("192.0.2.1", 40000))
        self.assertEqual(K.parseAddressPort("192.0.2.1"), ("192.0.2.1", None))
        self.assertEqual(K.formatFixed(-0.0001234, 6), "-0.000123")
        self.assertEqual(K.restrictionBits({"limited", "kod", "unknown"}), 0x420)


class FragmentTests(SynchronousTestCase):
    """
    Long responses are fragmented and reassembled.
    """

    def test_fragments(self) -> None:
        """
        1000 octets go in three fragments of 468, 468 and 64 octets, with
        their offsets; all but the last have the M bit.
        """
        request = K.ControlMessage.decode(READVAR)
        data = bytes(range(256)) * 3 + bytes(232)
        fragments = K.fragmentResponse(request, data, 0x0615, leap=0)
        self.assertEqual([len(f.data) for f in fragments], [468, 468, 64])
        self.assertEqual([f.offset for f in fragments], [0, 468, 936])
        self.assertEqual([f.more for f in fragments], [True, True, False])
        self.assertTrue(all(f.response and f.sequence == 1 for f in fragments))

    def test_empty(self) -> None:
        """
        An empty response is one message without data.
        """
        [message] = K.fragmentResponse(K.ControlMessage.decode(READVAR), b"", 0)
        self.assertEqual((message.data, message.more), (b"", False))

    def test_reassembleOutOfOrder(self) -> None:
        """
        Fragments in any order, with duplicates, reassemble to the data.
        """
        request = K.ControlMessage.decode(READVAR)
        data = bytes(range(256)) * 5
        fragments = K.fragmentResponse(request, data, 0x1234)
        reassembler = K.Reassembler()
        self.assertFalse(reassembler.add(fragments[2]))
        self.assertFalse(reassembler.add(fragments[0]))
        self.assertFalse(reassembler.add(fragments[0]))
        self.assertTrue(reassembler.add(fragments[1]))
        self.assertEqual((reassembler.data, reassembler.status), (data, 0x1234))

    def test_overlap(self) -> None:
        """
        A fragment overlapping another is refused.
        """
        reassembler = K.Reassembler()
        reassembler.add(K.ControlMessage(2, data=b"a" * 10, response=True, more=True))
        self.assertRaises(
            K.ControlError,
            reassembler.add,
            K.ControlMessage(2, offset=5, data=b"b" * 10, response=True),
        )

    def test_hole(self) -> None:
        """
        A missing middle fragment keeps the response incomplete.
        """
        reassembler = K.Reassembler()
        reassembler.add(K.ControlMessage(2, data=b"a" * 4, response=True, more=True))
        self.assertFalse(reassembler.add(K.ControlMessage(2, offset=8, data=b"c", response=True)))
        self.assertIsNone(reassembler.data)


class AuthenticationTests(SynchronousTestCase):
    """
    MACs on control messages, as ntpq and ntpd place them: the codec finds
    where they sit (L{K.macCandidates}, L{K.padForMAC}), L{verifyControl}
    and L{signControl} of L{ntpservice.auth.mac} check and compute them.
    """

    def signedLikeNtpq(self, data: bytes, key: SymmetricKey) -> bytes:
        """
        A request signed the way NTPsec's ntpq does it, written out here
        independently: pad to 8 octets, key ID, digest of the padded
        message (SHA1 or MD5 of secret and message).
        """
        message = K.ControlMessage(K.OP_CONFIGURE, 5, data=data).encode()
        message += bytes(-len(message) % 8)
        digest = hashlib.new(key.keyType.lower(), key.secret + message).digest()
        return message + struct.pack("!I", key.keyID) + digest

    def test_ntpqPadding(self) -> None:
        """
        A request padded to 64 bits before the MAC (ntpq) verifies, for
        data lengths that need the extra 4 octets and those that do not.
        """
        for data in (b"server 192.0.2.1", b"server 192.0.2.10", b"x", b""):
            for key in (KEY, MD5_KEY):
                datagram = self.signedLikeNtpq(data, key)
                auth = verifyControl(datagram, len(data), RING)
                self.assertEqual((auth.status, auth.keyID), ("ok", key.keyID), (data, key))

    def test_ntpdPadding(self) -> None:
        """
        A MAC right after the data padded to 32 bits (ntpd's reading)
        verifies too.
        """
        message = K.ControlMessage(K.OP_CONFIGURE, 5, data=b"abcd").encode()
        datagram = message + struct.pack("!I", 1) + hashlib.sha1(SHA1_SECRET + message).digest()
        self.assertTrue(verifyControl(datagram, 4, RING).authenticated)

    def test_signVerify(self) -> None:
        """
        L{signControl} pads to 8 octets and appends key ID and digest,
        which is what ntpq checks in responses.
        """
        encoded = K.ControlMessage(K.OP_CONFIGURE, 5, data=b"Config Succeeded\r\n",
                                   response=True).encode()
        signed = signControl(encoded, KEY)
        end = 12 + 18 + (-(12 + 18) % 8)
        self.assertEqual(signed[end : end + 4], b"\0\0\0\x01")
        self.assertEqual(signed[end + 4 :], hashlib.sha1(SHA1_SECRET + signed[:end]).digest())
        self.assertTrue(verifyControl(signed, 18, RING).authenticated)

    def test_macCandidates(self) -> None:
        """
        L{K.macCandidates} gives C{None} when nothing or only padding
        follows the data, the key identifier's offset, identifier and
        digest length of each well-placed MAC, and nothing for a trailer
        that is no MAC; L{K.padForMAC} pads to a multiple of 8 octets.
        """
        self.assertIsNone(K.macCandidates(READVAR, 0))
        self.assertIsNone(K.macCandidates(READVAR + bytes(4), 0))
        signed = self.signedLikeNtpq(b"x", KEY)
        self.assertEqual(K.macCandidates(signed, 1), [(16, KEY.keyID, 20)])
        signed = self.signedLikeNtpq(b"abcd", MD5_KEY)
        self.assertEqual(K.macCandidates(signed, 4), [(16, MD5_KEY.keyID, 16)])
        self.assertEqual(K.macCandidates(READVAR + b"\xff" * 26, 0), [])
        self.assertEqual(K.padForMAC(bytes(12)), bytes(16))
        self.assertEqual(K.padForMAC(bytes(16)), bytes(16))

    def test_failures(self) -> None:
        """
        A wrong digest, an unknown key and an untrusted key are C{bad}; no
        MAC is C{none}.
        """
        datagram = bytearray(self.signedLikeNtpq(b"server x", KEY))
        datagram[-1] ^= 1
        self.assertEqual(verifyControl(bytes(datagram), 8, RING).status, "bad")
        untrusted = KeyRing([KEY], trusted=[])
        self.assertEqual(
            verifyControl(self.signedLikeNtpq(b"server x", KEY), 8, untrusted).status, "bad"
        )
        other = SymmetricKey(9, "SHA1", SHA1_SECRET)
        self.assertEqual(
            verifyControl(self.signedLikeNtpq(b"server x", other), 8, RING).status, "bad"
        )
        self.assertEqual(verifyControl(READVAR, 0, RING).status, "none")
        self.assertEqual(verifyControl(READVAR + bytes(4), 0, RING).status, "none")


class NonceTests(SynchronousTestCase):
    """
    Nonces are good for one address and port for 16 seconds.
    """

    NOW = NTPTimestamp.fromUnixNanoseconds(1_790_000_000 * 10**9)
    SECRET = b"s" * 32

    def test_valid(self) -> None:
        """
        A nonce made now is valid now and 15 s later, from the same address
        and port, with the current or the previous secret.
        """
        nonce = K.makeNonce(self.SECRET, "127.0.0.1", 40000, self.NOW)
        self.assertEqual(len(nonce), 24)
        self.assertTrue(K.checkNonce(nonce, [self.SECRET], "127.0.0.1", 40000, self.NOW))
        self.assertTrue(
            K.checkNonce(nonce, [b"new", self.SECRET], "127.0.0.1", 40000, self.NOW.add(15.9))
        )

    def test_invalid(self) -> None:
        """
        Another port or address, 16 s later, another secret, or garbage: not
        valid.
        """
        nonce = K.makeNonce(self.SECRET, "127.0.0.1", 40000, self.NOW)
        check = K.checkNonce
        self.assertFalse(check(nonce, [self.SECRET], "127.0.0.1", 40001, self.NOW))
        self.assertFalse(check(nonce, [self.SECRET], "127.0.0.2", 40000, self.NOW))
        self.assertFalse(check(nonce, [self.SECRET], "127.0.0.1", 40000, self.NOW.add(16)))
        self.assertFalse(check(nonce, [self.SECRET], "127.0.0.1", 40000, self.NOW.add(-1)))
        self.assertFalse(check(nonce, [b"other"], "127.0.0.1", 40000, self.NOW))
        self.assertFalse(check("zz" * 12, [self.SECRET], "127.0.0.1", 40000, self.NOW))
        self.assertFalse(check(nonce[:-1], [self.SECRET], "127.0.0.1", 40000, self.NOW))

    def test_notHex(self) -> None:
        """
        A nonce of 24 characters that C{int(..., 16)} reads but that is not
        24 hex digits (a sign, spaces, underscores) is not valid and raises
        nothing: "ee00cd19-c74e749266e5a8a" raised C{ValueError} from
        L{NTPTimestamp} in the mode 6 server (found by
        C{fuzz/control_handler.py}; the input is
        C{fuzz/corpus/control_handler/regression-nonce-sign}).
        """
        nonce = K.makeNonce(self.SECRET, "127.0.0.1", 40000, self.NOW)
        check = K.checkNonce
        for bad in (
            "ee00cd19-c74e749266e5a8a",
            nonce[:8] + "-" + nonce[9:],
            "+" + nonce[1:],
            nonce[:16] + "-" + nonce[17:],
            nonce[:8] + " " + nonce[9:],
            nonce[:8] + "_" + nonce[9:],
            nonce[:23] + "\u0661",
        ):
            self.assertFalse(check(bad, [self.SECRET], "127.0.0.1", 40000, self.NOW), bad)
        self.assertTrue(check(nonce.upper(), [self.SECRET], "127.0.0.1", 40000, self.NOW))


@dataclass
class Entry:
    address: str
    last: float
    port: int = 123
    first: float = 0.0
    count: int = 1
    mode: int = 3
    version: int = 4
    flags: frozenset[str] = frozenset()
    leak: int = 0
    dropped: int = 0


NOW = 1_790_000_100.0


def entries(n: int) -> list[Entry]:
    """C{n} entries, oldest first, one second apart."""
    return [Entry(f"192.0.2.{i + 1}", NOW - n + i, first=NOW - 1000) for i in range(n)]


def response(request: K.MRURequest, listed: list[Entry], maxFragments: int = 32) -> dict[str, str]:
    return dict(K.mruResponseItems(request, listed, NOW, "nonce", maxFragments))


class MRUTests(SynchronousTestCase):
    """
    READ_MRU requests and responses, ntpd's protocol.
    """

    def test_parse(self) -> None:
        """
        Parameters are read; prior entries are the C{addr.N}/C{last.N}
        pairs from 0 on.
        """
        request = K.MRURequest.parse(
            K.parseRequestItems(
                b"nonce=abc, frags=32, mincount=2, resany=0x20, laddr=127.0.0.1, "
                b"addr.0=192.0.2.1:123, last.0=0xe9c1b2a0.80000000, "
                b"addr.2=192.0.2.2:123, last.2=0xe9c1b2a0.80000000, junk=1"
            )
        )
        self.assertEqual(
            (request.nonce, request.frags, request.mincount, request.resany, request.laddr),
            ("abc", 32, 2, 0x20, "127.0.0.1"),
        )
        self.assertEqual(
            request.priors, (("192.0.2.1", NTPTimestamp(0xE9C1B2A080000000)),)
        )

    def test_badValueDropsNonce(self) -> None:
        """
        A value that does not parse leaves the request without a nonce
        (ntpd then answers nothing).
        """
        request = K.MRURequest.parse(K.parseRequestItems(b"nonce=abc, frags=many"))
        self.assertIsNone(request.nonce)

    def test_wholeList(self) -> None:
        """
        A list that fits comes oldest first, numbered from 0, with C{now}
        and C{last.newest} at the end.
        """
        listed = entries(3)
        items = K.mruResponseItems(K.MRURequest(frags=4), listed, NOW, "N")
        values = dict(items)
        self.assertEqual(items[0], ("nonce", "N"))
        self.assertEqual(values["addr.0"], "192.0.2.1:123")
        self.assertEqual(values["addr.2"], "192.0.2.3:123")
        self.assertEqual(values["ct.0"], "1")
        self.assertEqual(values["mv.0"], str((4 << 3) | 3))
        self.assertEqual(values["last.newest"], values["last.2"])
        self.assertIn("now", values)

    def test_paging(self) -> None:
        """
        A long list comes in pieces that fit the fragment limit; each
        further request names the newest entries received and gets the
        ones after, until C{now} says the list is complete.
        """
        listed = entries(40)
        received: list[str] = []
        request = K.MRURequest(frags=2)
        for _ in range(40):
            items = K.mruResponseItems(request, listed, NOW, "N")
            size = len(K.encodeVariables(items))
            self.assertLessEqual(size, 2 * K.MAX_DATA_LEN)
            values = dict(items)
            batch = sorted(
                (int(n.split(".")[1]), v) for n, v in items if n.startswith("addr.") and n[5].isdigit()
            )
            received.extend(v for _, v in batch)
            if "now" in values:
                break
            newest = [K.parseAddressPort(v)[0] for _, v in batch][::-1]
            byAddress = {e.address: e for e in listed}
            request = K.MRURequest(
                frags=2,
                priors=tuple(
                    (a, K.secondsToTimestamp(byAddress[a].last)) for a in newest[:3]
                ),
            )
            self.assertIn("last.older", [n for n, _ in K.mruResponseItems(request, listed, NOW, "N")])
        self.assertEqual(received, [f"192.0.2.{i + 1}:123" for i in range(40)])

    def test_priorChanged(self) -> None:
        """
        When the entries the client names were updated since (their
        C{last} differs), the server says UNKNOWNVAR and the client starts
        over.
        """
        listed = entries(3)
        request = K.MRURequest(
            frags=4, priors=(("192.0.2.2", K.secondsToTimestamp(NOW - 100)),)
        )
        error = self.assertRaises(K.RequestError, K.mruResponseItems, request, listed, NOW, "N")
        self.assertEqual(error.code, K.ERR_UNKNOWNVAR)

    def test_limits(self) -> None:
        """
        Neither frags nor a limit of 1-256, or frags above 128: BADVALUE.
        """
        for request in (K.MRURequest(), K.MRURequest(limit=300), K.MRURequest(frags=129)):
            error = self.assertRaises(K.RequestError, K.mruResponseItems, request, [], NOW, "N")
            self.assertEqual(error.code, K.ERR_BADVALUE)

    def test_limitRows(self) -> None:
        """
        C{limit=} caps the entries of one response.
        """
        values = response(K.MRURequest(limit=2), entries(5))
        self.assertIn("addr.1", values)
        self.assertNotIn("addr.2", values)
        self.assertNotIn("now", values)

    def test_filters(self) -> None:
        """
        C{mincount}, C{resany}, C{resall} and C{maxlstint} leave entries
        out.
        """
        listed = [
            Entry("192.0.2.1", NOW - 5, count=1),
            Entry("192.0.2.2", NOW - 4, count=9, flags=frozenset({"limited"})),
            Entry("192.0.2.3", NOW - 500, count=9, flags=frozenset({"limited", "kod"})),
        ]
        def addresses(request: K.MRURequest) -> list[str]:
            return [v for n, v in K.mruResponseItems(request, listed, NOW, "N") if n.startswith("addr.")]

        self.assertEqual(addresses(K.MRURequest(frags=4, mincount=2)), ["192.0.2.2:123", "192.0.2.3:123"])
        self.assertEqual(addresses(K.MRURequest(frags=4, resall=0x420)), ["192.0.2.3:123"])
        self.assertEqual(addresses(K.MRURequest(frags=4, resany=0x20, maxlstint=60)), ["192.0.2.2:123"])
        self.assertEqual(addresses(K.MRURequest(frags=4, recent=1)), ["192.0.2.3:123"])

    def test_limitOne(self) -> None:
        """
        C{limit=1} returns the named entries themselves.
        """
        listed = entries(3)
        request = K.MRURequest(limit=1, priors=(("192.0.2.2", NTPTimestamp(1)),))
        values = response(request, listed)
        self.assertEqual(values["addr.0"], "192.0.2.2:123")
        self.assertIn("now", values)


@pytest.mark.parametrize(
    "refid, asAddress, text",
    [
        (b"LOCL", False, "LOCL"),
        (b"LOCL", True, "76.79.67.76"),
        (b"INIT", False, "INIT"),
        (b"\0\0\0\0", False, ""),
        (b"GP\0S", False, "GP"),
    ],
)
def test_refidVectors(refid: bytes, asAddress: bool, text: str) -> None:
    """
    Reference IDs as ntpd's mode 6 shows them.
    """
    assert K.formatRefid(refid, asAddress) == text
