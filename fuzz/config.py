# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Fuzz target: the ntp.conf parser (L{ntpservice.config}), with the
daemon's own directive registry (every mode plugin's directives) and
C{includefile}, and the reference clock lines (L{refClockLines}).

An input is the main file, optionally followed by a NUL byte and the text
of C{inc.conf}; both are written to a temporary directory and the main
file is read with L{parseFile} (bounded reading, includes relative to it:
C{includefile inc.conf}, C{includefile ntp.conf} is a loop).

The property: nothing is raised but L{ConfigError} (of which
C{KeysError} is one) and L{RefClockConfigError}; every message is one line
of bounded length; a configuration parsed once parses the same again.

Run: C{python -m fuzz.config [libFuzzer options] [corpus directories]}.
"""

from __future__ import annotations

import os
import tempfile

import atheris

with atheris.instrument_imports(include=["ntpservice"]):
    from ntpservice.config import ConfigError, parseFile
    from ntpservice.plugins import loadModePlugins, registryFor
    from ntpservice.refclocks import RefClockConfigError, refClockLines

from fuzz._harness import main

REGISTRY = registryFor(loadModePlugins())
DIRECTORY = tempfile.mkdtemp(prefix="ntpservice-fuzz-config-")
"""Where the files go: in C{$TMPDIR}, which L{fuzz.run} removes afterwards
(libFuzzer exits without running C{atexit} handlers; run by hand, remove
it yourself)."""
MAIN = os.path.join(DIRECTORY, "ntp.conf")
INCLUDE = os.path.join(DIRECTORY, "inc.conf")
MAX_MESSAGE = 4096
"""The longest error message accepted (a path may be quoted whole)."""


def write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def testOneInput(data: bytes) -> None:
    """
    Parse one input (see the module's docstring).
    """
    main_, _, include = data.partition(b"\0")
    write(MAIN, main_)
    write(INCLUDE, include)
    try:
        configuration = parseFile(MAIN, registry=REGISTRY)
        refClockLines(configuration)
    except (ConfigError, RefClockConfigError) as e:
        message = str(e)
        if len(message) > MAX_MESSAGE or "\n" in message:
            raise AssertionError(f"a message of {len(message)} characters: {message[:200]!r}")
        return
    again = parseFile(MAIN, registry=REGISTRY)
    if again != configuration:
        raise AssertionError("a configuration parsed twice differs")


if __name__ == "__main__":
    main("config", testOneInput)
