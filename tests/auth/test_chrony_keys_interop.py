# -*- test-case-name: tests.auth.test_chrony_keys_interop -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Our MACs judged by a real chronyd, without our daemon: chronyd reads the
keys file L{formatKeysFile} writes, answers requests we sign with
L{signPacket}, and L{verifyPacket} accepts its signed answers.

chronyd runs as a server on a free loopback port, without CAP_SYS_TIME and
with C{-x} (it never touches the clock), through the peers harness.  Every
wait is bounded.  chronyd does not answer a request whose MAC fails (it
sends no crypto-NAK), so "no valid reply" is what a wrong key gets.
"""

from __future__ import annotations

import os
import socket
import time

import pytest
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.auth.keys import KeyRing, formatKeysFile, parseKeysFile, parseKeysText
from ntpservice.auth.mac import AuthResult, AuthStatus, signPacket, verifyPacket
from ntpservice.core.packet import MODE_CLIENT, MODE_SERVER, NTPPacket, PacketError
from ntpservice.core.timestamps import NTPTimestamp
from tests.interop import peers

pytestmark = pytest.mark.interop

NTPSEC_KEYS = """\
# An NTPsec keys file: one key of every type chrony has, ASCII and hex.
1 MD5 crocus
2 SHA1 933f62be1d604e68a81b557f18cfa200483f5b70
3 AES128CMAC 7ea62ae64d190114d46d5a082f948ec1
4 SHA256 tulip-hyacinth
5 SHA512 1f2e3d4c5b6a79881f2e3d4c5b6a7988aabbccdd
6 AES-256 37ddcbc67bb902bcb8e995977fab4d2b5642f5b32ebceee421921d97e5cbfe39
7 SHA3-256 narcissus
# Known to us, not trusted, so not given to chronyd.
99 MD5 unshared
"""
TRUSTED = (1, 2, 3, 4, 5, 6, 7)
REPLY_TIMEOUT = 2.0
"""Seconds to wait for an answer chronyd should send."""
CHRONY_KEY_WARNINGS = (
    r"Could not (open keyfile|parse key|decode key)|Unsupported .* in key|"
    r"Invalid (length|type)|duplicate key"
)
"""What chronyd 4.3 logs about a keys file line it does not use."""
SILENCE_TIMEOUT = 0.7
"""Seconds to wait before deciding that chronyd will not answer."""


class ChronydKeysTests(SynchronousTestCase):
    """
    chronyd as an authenticating server for each key type, with the keys
    file that L{formatKeysFile} writes for it.
    """

    def setUp(self) -> None:
        peers.requireBinary("chronyd")
        peers.requireBinary("setpriv")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.ring = parseKeysText(NTPSEC_KEYS, "ntp.keys").withTrusted(TRUSTED)
        keysPath = os.path.join(self.workdir, "chrony.keys")
        fd = os.open(keysPath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(formatKeysFile(self.ring, "chrony", onlyTrusted=True))
        port = peers.freePort()
        self.server = peers.startChronydServer(
            self.workdir,
            port,
            bindAddresses=("127.0.0.1",),
            allow="127.0.0.1",
            extraConfig=[f"keyfile {keysPath}"],
        )
        self.addCleanup(self.server.stop)
        self.address = ("127.0.0.1", port)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.socket.close)
        self.socket.bind(("127.0.0.1", 0))

    def exchange(self, key: object, timeout: float) -> tuple[bytes, NTPPacket] | None:
        """
        Send a client request, signed with C{key} (or unsigned for
        C{None}), and wait for the answer to it.

        @return: the answer's bytes and packet, or C{None} if none came
            within C{timeout} seconds.
        """
        xmt = NTPTimestamp(int.from_bytes(os.urandom(8), "big"))
        request = NTPPacket(
            leap=0, version=4, mode=MODE_CLIENT, poll=6, xmt=xmt
        ).encode()
        if key is not None:
            request = signPacket(request, key)  # type: ignore[arg-type]
        self.socket.sendto(request, self.address)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.socket.settimeout(remaining)
            try:
                data, _ = self.socket.recvfrom(2048)
            except socket.timeout:
                return None
            try:
                packet = NTPPacket.decode(data)
            except PacketError:
                continue
            if packet.org == xmt:
                return data, packet

    def verifiedReply(self, keyID: int) -> AuthResult:
        reply = self.exchange(self.ring[keyID], REPLY_TIMEOUT)
        self.assertIsNotNone(
            reply, f"chronyd did not answer a request signed with {self.ring[keyID]}"
        )
        assert reply is not None
        data, packet = reply
        self.assertEqual(packet.mode, MODE_SERVER)
        return verifyPacket(data, packet, self.ring)

    def test_chronydLoadsEveryKey(self) -> None:
        """
        chronyd complains about no line of the file we wrote for it (it
        logs a warning for each key it cannot open, parse, decode or use).
        """
        self.assertIsNotNone(self.exchange(self.ring[1], REPLY_TIMEOUT))
        self.assertNotRegex(self.server.output(), CHRONY_KEY_WARNINGS)

    def test_everyKeyType(self) -> None:
        """
        For MD5, SHA1, AES128 (CMAC), SHA256 and SHA512 (truncated to 20
        bytes), AES256 and SHA3-256: chronyd answers a request we sign, and
        its answer verifies with the same key.
        """
        self.assertEqual(
            [self.ring[keyID].keyType for keyID in TRUSTED],
            ["MD5", "SHA1", "AES128CMAC", "SHA256", "SHA512", "AES256CMAC", "SHA3-256"],
        )
        for keyID in TRUSTED:
            result = self.verifiedReply(keyID)
            self.assertEqual(result, AuthResult(AuthStatus.OK, keyID), self.ring[keyID])
            self.assertTrue(result.isAuthenticWith(keyID))

    def test_untrustedOnOurSide(self) -> None:
        """
        chronyd's answer signed with a key we hold but do not trust is
        L{AuthStatus.UNTRUSTED_KEY}.
        """
        keyID = 2
        self.ring = self.ring.withTrusted(set(TRUSTED) - {keyID})
        request = self.exchange(self.ring[keyID], REPLY_TIMEOUT)
        assert request is not None
        data, packet = request
        self.assertEqual(
            verifyPacket(data, packet, self.ring),
            AuthResult(AuthStatus.UNTRUSTED_KEY, keyID),
        )

    def test_wrongKeysGetNoValidReply(self) -> None:
        """
        A request signed with a key chronyd does not have, or with a wrong
        secret under a key identifier it has, gets no authenticated answer
        (chronyd stays silent); an unsigned request still gets an unsigned
        answer.
        """
        wrongSecret = parseKeysText(
            "3 AES128CMAC 00112233445566778899aabbccddeeff\n1 MD5 crocuz"
        )
        for key in (self.ring[99], wrongSecret[3], wrongSecret[1]):
            reply = self.exchange(key, SILENCE_TIMEOUT)
            if reply is not None:
                data, packet = reply
                result = verifyPacket(data, packet, self.ring)
                self.assertFalse(result.authenticated, (key, result))
        reply = self.exchange(None, REPLY_TIMEOUT)
        assert reply is not None
        self.assertEqual(
            verifyPacket(reply[0], reply[1], self.ring).status, AuthStatus.NONE
        )


class KeysFileRoundTripTests(SynchronousTestCase):
    """
    The NTPsec and chrony files written from one ring describe the same
    keys.
    """

    def test_sameKeys(self) -> None:
        """
        The NTPsec file reads back to the ring; the chrony file has one
        line per key with the same secret in hex.
        """
        ring = parseKeysText(NTPSEC_KEYS, "ntp.keys")
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(formatKeysFile(ring, "ntpsec"))
        os.chmod(path, 0o600)
        self.assertEqual(dict(parseKeysFile(path)), dict(ring))
        chrony = formatKeysFile(ring, "chrony").splitlines()[1:]
        self.assertEqual(len(chrony), len(ring))
        for line, keyID in zip(chrony, ring):
            number, _, secret = line.split()
            self.assertEqual(int(number), keyID)
            self.assertEqual(
                bytes.fromhex(secret.removeprefix("HEX:")), ring[keyID].secret
            )
        self.assertIsInstance(ring, KeyRing)
