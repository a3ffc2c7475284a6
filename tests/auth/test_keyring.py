# -*- test-case-name: tests.auth.test_keyring -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.auth.keyring}'s admission checks: L{admit} for the
requests we answer, L{admitReply} for the replies on our associations.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.auth.keyring import admit, admitReply
from ntpservice.auth.keys import parseKeysText
from ntpservice.auth.mac import AuthStatus, signPacket
from ntpservice.core import access
from ntpservice.core.access import ANSWER, CRYPTO_NAK, Decision
from ntpservice.core.restrict import RestrictTable
from ntpservice.coreconfig import restrictTable
from ntpservice.core.mru import MRUList
from ntpservice.core.packet import MODE_CLIENT, MODE_SERVER, NTPPacket
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.net.udp import ReceivedDatagram

UPSTREAM = "192.0.2.1"
"""Our server's address."""

T0 = 1_790_000_000
"""Seconds since the Unix epoch."""

KEYS = parseKeysText("1 SHA1 0123456789abcdef0123456789abcdef01234567\n").withTrusted(
    [1]
)


def restrictions(text: str) -> RestrictTable:
    """
    @return: the table of C{restrict} lines, with C{restrict source}
        applied to L{UPSTREAM} as for an association.
    """
    table = restrictTable(config.parseString(text, "t.conf").restrictions)
    table.addSource(UPSTREAM)
    return table


def datagram(
    mode: int, port: int, seconds: float, key: bool = False, tamper: bool = False
) -> tuple[ReceivedDatagram, NTPPacket]:
    """
    A time packet from L{UPSTREAM}.

    @param mode: its mode.
    @param port: its source port.
    @param seconds: its arrival, seconds after L{T0}.
    @param key: sign it with key 1.
    @param tamper: then change a byte of the digest.
    @return: the datagram and its decoded packet.
    """
    data = NTPPacket(
        version=4, mode=mode, stratum=2 if mode == MODE_SERVER else 0, poll=6,
        precision=-20, xmt=NTPTimestamp(0xE9A1B2C3_12345678),
    ).encode()
    if key:
        data = signPacket(data, KEYS[1])
        if tamper:
            data = data[:-1] + bytes([data[-1] ^ 1])
    received = ReceivedDatagram(
        data, (UPSTREAM, port), rxTime=int((T0 + seconds) * 1e9)
    )
    return received, NTPPacket.decode(data)


class AdmitReplyTests(SynchronousTestCase):
    """
    L{admitReply}: a reply is not a request.
    """

    def test_spoofedRequestsDoNotSilenceTheServer(self) -> None:
        """
        Under C{restrict source kod limited}, requests a second with the
        server's address are rate limited by L{admit}; the server's
        genuine replies meanwhile all pass L{admitReply}.
        """
        table = restrictions(
            "restrict default kod limited nomodify nopeer noquery\n"
            "restrict source kod limited nomodify noquery\n"
        )
        mru = MRUList()
        limited = 0
        for second in range(64):
            spoofed, packet = datagram(MODE_CLIENT, 123, second)
            _, decision = admit(spoofed, packet, KEYS, table, mru)
            limited += decision.action != "answer"
            if second % 8 == 7:
                reply, packet = datagram(MODE_SERVER, 123, second + 0.5)
                self.assertEqual(admitReply(reply, packet, KEYS, table)[1], ANSWER)
        self.assertGreater(limited, 0)

    def test_repliesNotCountedAgainstTheServer(self) -> None:
        """
        Replies leave the MRU list alone: the server's own requests to us,
        a poll interval apart, are answered however many replies came
        in between.
        """
        table = restrictions("restrict default kod limited\n")
        mru = MRUList()
        for poll in range(8):
            for second in range(0, 64, 2):
                reply, packet = datagram(MODE_SERVER, 123, poll * 64 + second)
                admitReply(reply, packet, KEYS, table)
            request, packet = datagram(MODE_CLIENT, 123, poll * 64 + 63.5)
            self.assertEqual(admit(request, packet, KEYS, table, mru)[1], ANSWER)
        entry = mru.get(UPSTREAM)
        assert entry is not None
        self.assertEqual((entry.count, entry.mode), (8, MODE_CLIENT))

    def test_restrictStillApplies(self) -> None:
        """
        C{ignore}, C{noserve} and C{notrust} without a MAC drop replies,
        as in ntpd; C{notrust} with a MAC that verifies lets them on.
        """
        for flag, reason in (
            ("ignore", access.IGNORED),
            ("noserve", access.NOSERVE),
            ("notrust", access.NOTRUST),
        ):
            table = restrictions(f"restrict default {flag}\n")
            reply, packet = datagram(MODE_SERVER, 123, 0)
            self.assertEqual(
                admitReply(reply, packet, KEYS, table)[1], Decision.drop(reason)
            )
        table = restrictions("restrict default notrust\n")
        reply, packet = datagram(MODE_SERVER, 123, 0, key=True)
        auth, decision = admitReply(reply, packet, KEYS, table)
        self.assertEqual((auth.status, decision), (AuthStatus.OK, ANSWER))

    def test_badMAC(self) -> None:
        """
        A reply whose MAC fails is reported as such and goes on (the
        association decides); without restrictions the decision is a
        crypto-NAK, as L{admit}'s.
        """
        reply, packet = datagram(MODE_SERVER, 123, 0, key=True, tamper=True)
        auth, decision = admitReply(reply, packet, KEYS, restrictions(""))
        self.assertTrue(auth.failed)
        self.assertEqual(decision, ANSWER)
        self.assertEqual(admitReply(reply, packet, KEYS, None)[1], CRYPTO_NAK)
        self.assertEqual(admit(reply, packet, KEYS, None, None)[1], CRYPTO_NAK)


class AuthenticatorTests(SynchronousTestCase):
    """
    L{signFor} and L{authenticates}: the shell's side of an association's
    authenticator.
    """

    def test_none(self) -> None:
        """
        Without authentication a packet goes unsigned, and any reply is
        acceptable.
        """
        from ntpservice.auth.keyring import authenticates, signFor
        from ntpservice.auth.mac import NO_MAC
        from ntpservice.core.authenticator import NO_AUTHENTICATION, authenticatorFor

        data = NTPPacket(mode=MODE_CLIENT).encode()
        self.assertIs(authenticatorFor(None), NO_AUTHENTICATION)
        self.assertEqual(signFor(NO_AUTHENTICATION, data, KEYS), data)
        self.assertTrue(authenticates(NO_AUTHENTICATION, NO_MAC))

    def test_symmetricKey(self) -> None:
        """
        With a trusted key a packet is signed with it and a reply must
        verify with it; with a key no longer trusted nothing is sent.
        """
        from ntpservice.auth.keyring import authenticates, signFor
        from ntpservice.auth.mac import NO_MAC, verifyPacket
        from ntpservice.core.authenticator import SymmetricKey, authenticatorFor

        data = NTPPacket(mode=MODE_CLIENT).encode()
        self.assertEqual(authenticatorFor(1), SymmetricKey(1))
        signed = signFor(SymmetricKey(1), data, KEYS)
        assert signed is not None
        result = verifyPacket(signed, NTPPacket.decode(signed), KEYS)
        self.assertEqual(result.status, AuthStatus.OK)
        self.assertTrue(authenticates(SymmetricKey(1), result))
        self.assertFalse(authenticates(SymmetricKey(2), result))
        self.assertFalse(authenticates(SymmetricKey(1), NO_MAC))
        self.assertIsNone(signFor(SymmetricKey(2), data, KEYS))
