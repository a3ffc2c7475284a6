# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Fuzz target: the keys file parser (L{ntpservice.auth.keys}).

An input is the bytes of a keys file. The property: L{parseKeysText}
raises nothing but L{KeysError}, whose message never holds a secret of
the file; a ring it returns, written out again (L{formatKeysFile}, ntpd's
dialect), reads back to the same keys.

Run: C{python -m fuzz.keys [libFuzzer options] [corpus directories]}.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["ntpservice"]):
    from ntpservice.auth.keys import KeysError, formatKeysFile, parseKeysText

from fuzz._harness import main


def testOneInput(data: bytes) -> None:
    """
    Parse one keys file (see the module's docstring).
    """
    try:
        ring = parseKeysText(data, "fuzz.keys")
    except KeysError as e:
        message = str(e)
        if "\n" in message or len(message) > 1024:
            raise AssertionError(f"a message of {len(message)} characters")
        return
    trusted = ring.withTrusted(list(ring))
    text = formatKeysFile(trusted)
    again = parseKeysText(text, "fuzz.keys")
    if {k: again[k].secret for k in again} != {k: ring[k].secret for k in ring}:
        raise AssertionError("keys written out read back differently")
    if {k: again[k].keyType for k in again} != {k: ring[k].keyType for k in ring}:
        raise AssertionError("key types written out read back differently")
    for keyID in ring:
        key = ring[keyID]
        if key.secret and len(key.secret) >= 8 and key.secret in repr(key).encode():
            raise AssertionError("a key's repr shows its secret")


if __name__ == "__main__":
    main("keys", testOneInput)
