# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
What every fuzz target shares: its seed corpus and dictionary, and the
libFuzzer command line.

This module must not import C{ntpservice}: a target imports the modules it
fuzzes inside C{atheris.instrument_imports()}, which instruments only
modules not imported yet.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
DICTIONARIES = os.path.join(HERE, "dicts")

DEFAULT_OPTIONS = (
    "-rss_limit_mb=1024",
    "-timeout=20",
    "-max_len=4096",
)
"""libFuzzer options given unless the command line sets them: an input
may make the process use at most 1 GiB and take at most 20 s (a hang or a
leak is a crash); inputs of at most 4096 bytes (a datagram, a config
file's worth of lines)."""


def seedDirectory(name: str) -> str:
    """The seed corpus of target C{name}, in the tree."""
    return os.path.join(CORPUS, name)


def arguments(name: str, argv: list[str]) -> list[str]:
    """
    The libFuzzer command line for target C{name}: C{argv} with the
    default options it does not set, its dictionary, and, when it names
    no corpus directory, its L{scratchDirectory} (where libFuzzer writes
    the inputs it finds) followed by the seed corpus (only read).
    """
    given = {a.split("=", 1)[0] for a in argv[1:] if a.startswith("-")}
    defaults = [o for o in DEFAULT_OPTIONS if o.split("=", 1)[0] not in given]
    dictionary = os.path.join(DICTIONARIES, f"{name}.dict")
    if "-dict" not in given and os.path.exists(dictionary):
        defaults.append(f"-dict={dictionary}")
    out = [*argv[:1], *defaults, *argv[1:]]
    if not [a for a in out[1:] if not a.startswith("-")]:
        scratch = scratchDirectory(name)
        os.makedirs(scratch, exist_ok=True)
        out += [scratch, seedDirectory(name)]
    return out


def scratchDirectory(name: str) -> str:
    """
    Where a target run by hand keeps the inputs it found, from one run to
    the next: C{$XDG_CACHE_HOME/ntpservice-fuzz/NAME} (C{~/.cache} by
    default). L{fuzz.run} uses a temporary directory instead.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return os.path.join(cache, "ntpservice-fuzz", name)


def main(name: str, testOneInput: Callable[[bytes], None]) -> None:
    """
    Fuzz C{testOneInput} with atheris/libFuzzer, options from
    C{sys.argv}; does not return.
    """
    import atheris

    atheris.Setup(arguments(name, sys.argv), testOneInput)
    atheris.Fuzz()


def countingBytes() -> Callable[[int], bytes]:
    """
    A deterministic stand-in for C{os.urandom}: each call returns a
    different, repeatable string (a counter), so that a crash replays.
    """
    state = [0]

    def randomBytes(n: int) -> bytes:
        state[0] += 1
        return (state[0].to_bytes(4, "big") * (n // 4 + 1))[:n]

    return randomBytes
