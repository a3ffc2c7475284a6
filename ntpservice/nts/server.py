# -*- test-case-name: tests.nts.test_client,tests.interop.test_nts -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The NTP server's side of NTS (RFC 8915 section 5): requests carrying NTS
extension fields are claimed from the plain server (an
L{IPacketClaimant} on mode 3), checked, answered by the plain server's
own logic (access control, rate limits, the reply header), and the reply
is then protected:

  - the Unique Identifier field is echoed;
  - the cookie is opened with the master keys; one that no kept key opens
    gets an NTS NAK (a kiss-o'-death C{NTSN} with the identifier, section
    5.7); a request whose authenticator does not verify with the keys in
    its cookie is dropped (and counted);
  - the reply carries, encrypted under the server-to-client key, one fresh
    cookie for the cookie and each placeholder of the request, as many as
    fit: a reply is never larger than its request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from zope.interface import implementer

from ntpservice.core.access import buildKissOfDeath
from ntpservice.core.packet import HEADER_LEN, NTPPacket
from ntpservice.interfaces import IModeInstance, IPacketClaimant
from ntpservice.nts import protocol as P
from ntpservice.nts.aead import open_, seal
from ntpservice.nts.cookies import CookieKeys, MasterKeys

__all__ = ["NTSRequest", "NTSServerHandler", "checkRequest", "protectReply"]

NONCE_LENGTH = 16


@dataclass(frozen=True, slots=True)
class NTSRequest:
    """
    A request whose NTS fields were checked.

    @ivar outcome: C{ok}; C{nak} (no cookie, or one we cannot open: answer
        with an NTS NAK); or why it is dropped (C{malformed}, C{badauth}).
    @ivar uid: its Unique Identifier field, or C{None}.
    @ivar keys: the keys of its cookie, when opened.
    @ivar cookies: how many cookies the client asked for (its cookie and
        its placeholders).
    """

    outcome: str
    uid: bytes | None = None
    keys: CookieKeys | None = None
    cookies: int = 0


def hasNTSFields(packet: NTPPacket) -> bool:
    """
    Whether a request is an NTS request: it carries a Unique Identifier or
    a cookie.
    """
    return any(
        e.fieldType in (P.EF_UNIQUE_IDENTIFIER, P.EF_COOKIE) for e in packet.extensions
    )


def checkRequest(data: bytes, packet: NTPPacket, masterKeys: MasterKeys) -> NTSRequest:
    """
    Check the NTS fields of a request.

    @param data: the datagram.
    @param packet: its decoding.
    """
    uid: bytes | None = None
    cookie: bytes | None = None
    placeholders = 0
    authIndex: int | None = None
    for index, extension in enumerate(packet.extensions):
        kind = extension.fieldType
        if kind == P.EF_AUTHENTICATOR:
            authIndex = index
            break
        if kind == P.EF_UNIQUE_IDENTIFIER:
            if uid is not None:
                return NTSRequest("malformed")
            uid = extension.value
        elif kind == P.EF_COOKIE:
            if cookie is not None:
                return NTSRequest("malformed", uid)
            cookie = extension.value
        elif kind == P.EF_COOKIE_PLACEHOLDER:
            placeholders += 1
    if uid is None or len(uid) < P.MIN_UID_LENGTH:
        return NTSRequest("malformed")
    if cookie is None:
        return NTSRequest("nak", uid)
    keys = masterKeys.open(_unpadded(cookie))
    if keys is None:
        return NTSRequest("nak", uid)
    if authIndex is None:
        return NTSRequest("badauth", uid)
    try:
        nonce, ciphertext = P.parseAuthenticator(packet.extensions[authIndex])
    except P.NTSError:
        return NTSRequest("malformed", uid)
    if len(nonce) < P.MIN_NONCE_LENGTH:
        return NTSRequest("malformed", uid)
    associated = P.associatedData(data, packet, authIndex)
    plaintext = open_(keys.c2s, nonce, ciphertext, associated)
    if plaintext is None:
        return NTSRequest("badauth", uid)
    # Encrypted fields from the client (none are defined) are ignored.
    return NTSRequest("ok", uid, keys, 1 + placeholders)


def _unpadded(cookie: bytes) -> bytes:
    """
    A cookie as we made it: our cookies are a multiple of 4 bytes, so the
    field holds no padding; other lengths cannot be ours anyway.
    """
    return cookie


def protectReply(
    reply: bytes,
    request: NTSRequest,
    requestLength: int,
    masterKeys: MasterKeys,
    randomBytes: Callable[[int], bytes] = os.urandom,
    made: Callable[[int], None] = lambda count: None,
) -> bytes:
    """
    Add the NTS fields to an encoded reply header: the echoed identifier and
    the authenticator with the new cookies encrypted, as many as fit in
    C{requestLength} bytes.

    @param made: told how many cookies the reply carries.
    """
    assert request.uid is not None and request.keys is not None
    keys = request.keys
    head = reply[:HEADER_LEN] + P.field(P.EF_UNIQUE_IDENTIFIER, request.uid).encode()
    nonce = randomBytes(NONCE_LENGTH)
    first = P.field(P.EF_COOKIE, masterKeys.seal(keys)).encode()
    # Every cookie field has the length of the first: fit as many as the
    # request's length allows (an authenticator field is 4 + 4 bytes, the
    # nonce, the 16-byte synthetic IV and the cookie fields).
    base = len(head) + 8 + NONCE_LENGTH + 16
    count = min(request.cookies, max(0, (requestLength - base) // len(first)))
    cookies = (first if count else b"") + b"".join(
        P.field(P.EF_COOKIE, masterKeys.seal(keys)).encode() for _ in range(count - 1)
    )
    ciphertext = seal(keys.s2c, nonce, cookies, head)
    made(count)
    return head + P.authenticatorField(nonce, ciphertext).encode()


def nakFor(packet: NTPPacket, uid: bytes) -> bytes:
    """
    An NTS NAK: a kiss-o'-death C{NTSN} echoing the request's timestamps and
    its Unique Identifier, not authenticated (section 5.7).
    """
    kiss = buildKissOfDeath(packet, "NTSN", packet.poll)
    return kiss.encode()[:HEADER_LEN] + P.field(P.EF_UNIQUE_IDENTIFIER, uid).encode()


class _ProtectingSender:
    """
    Passes the plain server's reply through L{protectReply} on its way to
    the real sender; the transmit timestamp is stamped first (it is
    authenticated too).
    """

    def __init__(self, sender: Any, protect: Callable[[bytes], bytes]) -> None:
        self._sender = sender
        self._protect = protect
        self.now = sender.now

    def sendReply(self, datagram: Any, data: Any) -> None:
        protect = self._protect
        if callable(data):
            stamped = data
            self._sender.sendReply(datagram, lambda: protect(stamped()))
        else:
            self._sender.sendReply(datagram, protect(data))


@implementer(IModeInstance, IPacketClaimant)
class NTSServerHandler:
    """
    Claims the NTS requests among the client requests and answers them
    through the plain server (C{server}), protected.

    @ivar counters: where outcomes are counted (C{nts.ok}, C{nts.nak},
        C{nts.badauth}, C{nts.malformed}).
    """

    claimedModes = ((3, "unicast"),)

    def __init__(
        self,
        server: Any,
        masterKeys: Callable[[], MasterKeys],
        counters: Any,
        randomBytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """
        @param server: the plain server's mode instance (its
            C{datagramReceived} answers a request).
        @param masterKeys: returns the current master keys.
        @param counters: the daemon's packet counters.
        """
        self._server = server
        self._masterKeys = masterKeys
        self.counters = counters
        self._random = randomBytes

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def claims(self, packet: Any, datagram: Any) -> bool:
        return bool(packet.extensions) and hasNTSFields(packet)

    def datagramReceived(self, packet: Any, datagram: Any, sender: Any) -> None:
        masterKeys = self._masterKeys()
        request = checkRequest(datagram.data, packet, masterKeys)
        self.counters.count(f"nts.{request.outcome}")
        if request.outcome == "nak":
            assert request.uid is not None
            sender.sendReply(datagram, nakFor(packet, request.uid))
            return
        if request.outcome != "ok":
            return
        length = len(datagram.data)
        counters = self.counters

        def protect(reply: bytes) -> bytes:
            return protectReply(
                reply, request, length, masterKeys, self._random,
                lambda count: counters.count("nts.cookie.make", count),
            )

        self._server.datagramReceived(packet, datagram, _ProtectingSender(sender, protect))
