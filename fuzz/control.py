# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Fuzz target: the mode 6 (control) message codec and request parsers
(L{ntpservice.core.control}): L{ControlMessage.decode}, the variable
lists (L{parseRequestItems}, L{parseVariables}), the MRU request
(L{MRURequest.parse}), the MAC candidates of a request and its check
(L{verifyControl}), the nonce check.

An input is a datagram. The property: decoding raises nothing but
L{ControlError}; a decoded message encodes to the datagram's header and
data (and decodes to itself); L{parseRequestItems} raises nothing but
L{RequestError}; the others raise nothing; a variable list written by
L{encodeVariables} reads back (names and values) with L{parseVariables}.

Run: C{python -m fuzz.control [libFuzzer options] [corpus directories]}.
"""

from __future__ import annotations

import dataclasses

import atheris

with atheris.instrument_imports(include=["ntpservice"]):
    from ntpservice.auth.keys import KeyRing, SymmetricKey
    from ntpservice.auth.mac import verifyControl
    from ntpservice.core import control as K
    from ntpservice.core.timestamps import NTPTimestamp

from fuzz._harness import main

RING = KeyRing(
    [
        SymmetricKey(1, "MD5", b"crocus"),
        SymmetricKey(2, "SHA1", bytes.fromhex("933f62be1d604e68a81b557f18cfa200483f5b70")),
    ],
    trusted=[1, 2],
)
SECRET = b"s" * 32
NOW = NTPTimestamp(0xE8FE6F8080000000)


def testOneInput(data: bytes) -> None:
    """
    Decode and parse one datagram (see the module's docstring).
    """
    try:
        message = K.ControlMessage.decode(data)
    except K.ControlError:
        return
    bare = dataclasses.replace(message, trailer=b"")
    encoded = bare.encode()
    padded = K.HEADER_LEN + len(message.data) + (-len(message.data) % 4)
    end = K.HEADER_LEN + len(message.data)
    if encoded[:end] != bytes(data[:end]):
        raise AssertionError("encode(decode(x)) differs from x")
    if len(encoded) != padded:
        raise AssertionError("the encoding is not padded to 32 bits")
    again = K.ControlMessage.decode(encoded)
    if again != bare:
        raise AssertionError("decode(encode(m)) != m")
    verifyControl(bytes(data), len(message.data), RING, "127.0.0.1")
    K.parseVariables(message.data)
    try:
        items = K.parseRequestItems(message.data)
    except K.RequestError:
        return
    request = K.MRURequest.parse(items)
    if request.nonce is not None:
        K.checkNonce(request.nonce, [SECRET], "127.0.0.1", 123, NOW)
    pairs = [(name, value) for name, value in items if value is not None]
    if all(
        name and name.isascii() and name.isprintable() and "," not in name
        and "=" not in name and '"' not in name and name == name.strip()
        and value.isascii() and value.isprintable() and "," not in value
        and '"' not in value and value == value.strip()
        for name, value in pairs
    ):
        back = K.parseVariables(K.encodeVariables(pairs))
        if back != [(n, v) for n, v in pairs]:
            raise AssertionError(f"variables do not read back: {pairs!r} -> {back!r}")


if __name__ == "__main__":
    main("control", testOneInput)
