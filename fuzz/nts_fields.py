# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Fuzz target: NTS extension fields in NTP packets (RFC 8915 section 5):
our server's check of a request (L{ntpservice.nts.server.checkRequest})
and its protected reply (L{protectReply}), our client's check of a reply
(L{NTSClientSession.verify}), and the field codecs
(L{parseAuthenticator}, L{decodeFields}).

The first byte of an input chooses how the rest is used (modulo 3):

  0. a datagram: decoded; its NTS fields checked by the server (nothing
     raised, a known outcome) and by a client expecting its Unique
     Identifier (nothing raised); the decrypted-fields codec run on the
     rest.
  1. a request built from the input (a Unique Identifier, a cookie sealed
     with our master key, placeholders, other fields, a nonce, encrypted
     fields), optionally with one byte flipped: when it is well-formed
     and untouched the server accepts it, and the client accepts the
     reply the server protects; a flipped one is never accepted with the
     original keys unless the flip missed the authenticated bytes.
  2. a reply with the expected Unique Identifier whose encrypted part is
     the input: the client raises nothing.

Run: C{python -m fuzz.nts_fields [libFuzzer options] [corpus directories]}.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["ntpservice"]):
    from twisted.internet.defer import Deferred
    from twisted.internet.testing import MemoryReactorClock

    from ntpservice.core.packet import HEADER_LEN, NTPPacket, PacketError
    from ntpservice.nts import protocol as P
    from ntpservice.nts.aead import seal
    from ntpservice.nts.client import UID_LENGTH, NTSClientSession
    from ntpservice.nts.cookies import (
        MASTER_KEY_LENGTH,
        CookieKeys,
        MasterKey,
        MasterKeys,
    )
    from ntpservice.nts.server import checkRequest, protectReply

from fuzz._harness import countingBytes as _counter
from fuzz._harness import main

OUTCOMES = {"ok", "nak", "malformed", "badauth"}
C2S = b"c" * 32
S2C = b"s" * 32
KEYS = CookieKeys(15, C2S, S2C)
HEADER = bytes.fromhex("230006ec" + "00" * 36 + "e9a1b2c3d4e5f607")
REPLY_HEADER = bytes.fromhex("240306ec" + "00" * 36 + "e9a1b2c3d4e5f608")


MASTER = MasterKeys([MasterKey(7, b"m" * MASTER_KEY_LENGTH, 0.0)], randomBytes=_counter())


def session(uid: bytes | None) -> NTSClientSession:
    """A client session keyed with L{KEYS}, expecting C{uid}."""
    client = NTSClientSession(
        "nts.test", MemoryReactorClock(), lambda *a, **k: Deferred(),
        randomBytes=_counter(),
    )
    client.aeadID, client._c2s, client._s2c = 15, C2S, S2C
    client._pendingUID = uid
    client.stop()
    return client


def raw(data: bytes) -> None:
    try:
        packet = NTPPacket.decode(data)
    except PacketError:
        return
    request = checkRequest(data, packet, MASTER)
    if request.outcome not in OUTCOMES:
        raise AssertionError(f"unknown outcome {request.outcome!r}")
    uid = next((e.value for e in packet.extensions
                if e.fieldType == P.EF_UNIQUE_IDENTIFIER), None)
    session(None if uid is None else uid[:UID_LENGTH]).verify(data, packet)
    for extension in packet.extensions:
        if extension.fieldType == P.EF_AUTHENTICATOR:
            try:
                P.parseAuthenticator(extension)
            except P.NTSError:
                pass
    try:
        P.decodeFields(data[HEADER_LEN:])
    except P.NTSError:
        pass


def built(fdp: atheris.FuzzedDataProvider) -> None:
    uid = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    ownCookie = fdp.ConsumeBool()
    cookie = MASTER.seal(KEYS) if ownCookie else fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 120))
    placeholders = fdp.ConsumeIntInRange(0, 7)
    others = [
        (fdp.ConsumeIntInRange(0, 0xFFFF), fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40)))
        for _ in range(fdp.ConsumeIntInRange(0, 2))
    ]
    nonce = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 32))
    plaintext = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    flip = fdp.ConsumeIntInRange(-1, 511)
    xor = fdp.ConsumeIntInRange(1, 255)
    fields = P.field(P.EF_UNIQUE_IDENTIFIER, uid).encode()
    fields += P.field(P.EF_COOKIE, cookie).encode()
    fields += P.field(P.EF_COOKIE_PLACEHOLDER, bytes(len(cookie))).encode() * placeholders
    for fieldType, body in others:
        if fieldType in P.NTS_FIELD_TYPES:
            continue
        fields += P.field(fieldType, body).encode()
    associated = HEADER + fields
    ciphertext = seal(C2S, nonce, plaintext, associated) if nonce else b""
    data = associated + P.authenticatorField(nonce, ciphertext).encode()
    flipped = 0 <= flip < len(data)
    if flipped:
        data = data[:flip] + bytes([data[flip] ^ xor]) + data[flip + 1:]
    try:
        packet = NTPPacket.decode(data)
    except PacketError:
        return
    request = checkRequest(data, packet, MASTER)
    wellFormed = (
        ownCookie and len(P.field(P.EF_UNIQUE_IDENTIFIER, uid).value) >= P.MIN_UID_LENGTH
        and len(nonce) >= P.MIN_NONCE_LENGTH
    )
    if not flipped and wellFormed and request.outcome != "ok":
        raise AssertionError(f"a well-formed request is refused: {request.outcome}")
    if flipped and request.outcome == "ok" and flip < len(data) - len(ciphertext) - 8:
        # The flip hit the header, a field, or the nonce: all authenticated.
        raise AssertionError(f"a request with byte {flip} flipped is accepted")
    if request.outcome != "ok":
        return
    reply = protectReply(REPLY_HEADER, request, len(data), MASTER, randomBytes=_counter())
    replyPacket = NTPPacket.decode(reply)
    client = session(request.uid[:UID_LENGTH] if request.uid else None)
    if not client.verify(reply, replyPacket):
        raise AssertionError("our client refuses our server's reply")


def reply(data: bytes) -> None:
    uid = bytes(range(UID_LENGTH))
    nonce = b"n" * 16
    head = REPLY_HEADER + P.field(P.EF_UNIQUE_IDENTIFIER, uid).encode()
    ciphertext = seal(S2C, nonce, data, head)
    datagram = head + P.authenticatorField(nonce, ciphertext).encode()
    try:
        packet = NTPPacket.decode(datagram)
    except PacketError:
        return
    session(uid).verify(datagram, packet)


def testOneInput(data: bytes) -> None:
    """
    One input (see the module's docstring).
    """
    if not data:
        return
    choice, rest = data[0] % 3, bytes(data[1:])
    if choice == 0:
        raw(rest)
    elif choice == 1:
        built(atheris.FuzzedDataProvider(rest))
    else:
        reply(rest)


if __name__ == "__main__":
    main("nts_fields", testOneInput)
