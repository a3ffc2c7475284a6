# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Fuzz target: NTS-KE records (RFC 8915 section 4) as our server and our
client read them (L{ntpservice.nts.protocol.splitRecords},
L{ntpservice.nts.ke.respond}, L{ntpservice.nts.ke.parseResponse}).

The first byte of an input chooses the side: even, the rest is what a
client sent our server; odd, what a server answered our client.

The property: L{splitRecords} raises nothing and its records encode back
to the bytes they took; L{respond} raises nothing, answers with records
that end with End of Message, and an answer it calls C{ok} is accepted by
our own client (L{parseResponse}), with the cookies it holds opening with
our master keys; L{parseResponse} raises nothing but L{NTSKEError}.

Run: C{python -m fuzz.nts_ke [libFuzzer options] [corpus directories]}.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["ntpservice"]):
    from ntpservice.nts import protocol as P
    from ntpservice.nts.aead import AEAD_ALGORITHMS
    from ntpservice.nts.cookies import MASTER_KEY_LENGTH, MasterKey, MasterKeys
    from ntpservice.nts.ke import NTSKEError, parseResponse, respond

from fuzz._harness import countingBytes as _counter
from fuzz._harness import main

OUTCOMES = {"ok", "badrequest", "critical", "noprotocol", "noaead"}


MASTER = MasterKeys([MasterKey(7, b"m" * MASTER_KEY_LENGTH, 0.0)], randomBytes=_counter())


def keysFor(aeadID: int) -> tuple[bytes, bytes]:
    length = AEAD_ALGORITHMS[aeadID].keyLength
    return b"c" * length, b"s" * length


def testOneInput(data: bytes) -> None:
    """
    One side of one NTS-KE exchange (see the module's docstring).
    """
    if not data:
        return
    side, stream = data[0], bytes(data[1:])
    records, complete, used = P.splitRecords(stream)
    if P.encodeRecords(records) != stream[:used]:
        raise AssertionError("records do not encode to the bytes they came from")
    if side % 2 == 0:
        if not complete:
            return
        response, outcome = respond(records, keysFor, MASTER, ntpPort=4123,
                                    ntpServer="ntp.example")
        if outcome not in OUTCOMES:
            raise AssertionError(f"unknown outcome {outcome!r}")
        if not response or response[-1].recordType != P.RECORD_END:
            raise AssertionError("a response without End of Message")
        again, done, _ = P.splitRecords(P.encodeRecords(response))
        if not done or again != response:
            raise AssertionError("our response does not read back")
        if outcome == "ok":
            result = parseResponse(response, tuple(AEAD_ALGORITHMS))
            for cookie in result.cookies:
                keys = MASTER.open(cookie)
                if keys is None or keys.aeadID != result.aeadID:
                    raise AssertionError("a cookie we made does not open")
            if (result.server, result.port) != ("ntp.example", 4123):
                raise AssertionError("server and port do not read back")
    else:
        try:
            parseResponse(records, (15, 16, 17))
        except NTSKEError:
            pass


if __name__ == "__main__":
    main("nts_ke", testOneInput)
