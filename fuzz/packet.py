# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Fuzz target: the NTP packet codec (L{ntpservice.core.packet}) with
extension fields and MACs, and MAC verification (L{ntpservice.auth.mac}).

The first byte of an input chooses how the rest is used:

  - even: the rest is a datagram. L{NTPPacket.decode} raises nothing but
    L{PacketError}; a packet it returns encodes to the very same bytes
    and decodes to an equal packet; L{verifyPacket} classifies it without
    raising.
  - odd: the rest describes a packet (header fields, extension fields,
    a key to sign with, a byte to flip). A packet the constructor accepts
    (it may raise C{ValueError} only) and L{signPacket} signs decodes to
    itself and verifies as authentic; with one byte flipped it never
    verifies (a forgery) and decoding raises nothing but L{PacketError}.

Run: C{python -m fuzz.packet [libFuzzer options] [corpus directories]}.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["ntpservice"]):
    from ntpservice.auth.keys import KeyRing, SymmetricKey
    from ntpservice.auth.mac import AuthStatus, signPacket, verifyPacket
    from ntpservice.core.packet import (
        ExtensionField,
        NTPPacket,
        PacketError,
        peekHeader,
    )
    from ntpservice.core.timestamps import NTPTimestamp

from fuzz._harness import main

KEYS = (
    SymmetricKey(1, "MD5", b"crocus"),
    SymmetricKey(2, "SHA1", bytes.fromhex("933f62be1d604e68a81b557f18cfa200483f5b70")),
    SymmetricKey(3, "AES128CMAC", bytes.fromhex("7ea62ae64d190114d46d5a082f948ec1")),
    SymmetricKey(4, "SHA256", b"mykey10"),
)
RING = KeyRing(KEYS, trusted=[1, 2, 3, 4])


def decodeDatagram(data: bytes) -> None:
    """
    Decode arbitrary bytes: only L{PacketError}; round trip; verification
    never raises.
    """
    if data:
        peekHeader(data)
    try:
        packet = NTPPacket.decode(data)
    except PacketError:
        return
    encoded = packet.encode()
    if encoded != data:
        raise AssertionError(f"encode(decode(x)) != x: {data.hex()} -> {encoded.hex()}")
    if NTPPacket.decode(encoded) != packet:
        raise AssertionError("decode(encode(p)) != p")
    verifyPacket(data, packet, RING, "192.0.2.1")


def buildPacket(fdp: atheris.FuzzedDataProvider) -> None:
    """
    Build, sign, decode and verify a packet; flip a byte and verify again.
    """
    header = dict(
        leap=fdp.ConsumeIntInRange(0, 3),
        version=fdp.ConsumeIntInRange(1, 7),
        mode=fdp.ConsumeIntInRange(0, 5),
        stratum=fdp.ConsumeIntInRange(0, 255),
        poll=fdp.ConsumeIntInRange(-128, 127),
        precision=fdp.ConsumeIntInRange(-128, 127),
        rootDelay=fdp.ConsumeIntInRange(0, 0xFFFFFFFF),
        rootDispersion=fdp.ConsumeIntInRange(0, 0xFFFFFFFF),
        refid=fdp.ConsumeBytes(4).ljust(4, b"\0"),
        reftime=NTPTimestamp(fdp.ConsumeIntInRange(0, 2**64 - 1)),
        org=NTPTimestamp(fdp.ConsumeIntInRange(0, 2**64 - 1)),
        rec=NTPTimestamp(fdp.ConsumeIntInRange(0, 2**64 - 1)),
        xmt=NTPTimestamp(fdp.ConsumeIntInRange(0, 2**64 - 1)),
    )
    extensions = []
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        fieldType = fdp.ConsumeIntInRange(0, 0xFFFF)
        body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200))
        try:
            extensions.append(ExtensionField.padded(fieldType, body))
        except ValueError:
            return
    keyIndex = fdp.ConsumeIntInRange(0, len(KEYS))
    flip = fdp.ConsumeIntInRange(0, 1023)
    xor = fdp.ConsumeIntInRange(1, 255)
    try:
        unsigned = NTPPacket(extensions=tuple(extensions), **header)
    except ValueError:
        return
    data = unsigned.encode()
    if keyIndex < len(KEYS):
        key = KEYS[keyIndex]
        try:
            data = signPacket(data, key)
        except ValueError:
            return
    try:
        packet = NTPPacket.decode(data)
    except PacketError:
        # A signed packet whose trailer the decoder cannot tell apart (an
        # NTPv3 MAC after extension fields) is refused, not misread.
        if keyIndex < len(KEYS) and header["version"] <= 3 and extensions:
            return
        raise
    if packet.encode() != data:
        raise AssertionError("a built packet does not encode to itself")
    if keyIndex == len(KEYS):
        if packet != unsigned:
            raise AssertionError("an unsigned packet does not decode to itself")
        return
    result = verifyPacket(data, packet, RING, "192.0.2.1")
    if result.status is not AuthStatus.OK:
        raise AssertionError(f"a signed packet does not verify: {result}")
    index = flip % len(data)
    forged = data[:index] + bytes([data[index] ^ xor]) + data[index + 1 :]
    try:
        forgedPacket = NTPPacket.decode(forged)
    except PacketError:
        return
    if verifyPacket(forged, forgedPacket, RING, "192.0.2.1").status is AuthStatus.OK:
        raise AssertionError(f"a forged packet verifies: byte {index} ^ {xor:#x}")


def testOneInput(data: bytes) -> None:
    """
    One input (see the module's docstring).
    """
    if not data:
        return
    if data[0] % 2 == 0:
        decodeDatagram(data[1:])
    else:
        buildPacket(atheris.FuzzedDataProvider(data[1:]))


if __name__ == "__main__":
    main("packet", testOneInput)
