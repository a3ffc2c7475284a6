# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Reading configuration files, and C{includefile}.

C{includefile PATH} reads another file in place, relative to the directory
of the file that includes it (the current directory for a pseudo-filename
such as C{<string>}). Include loops (a file that includes itself, directly
or through others, compared by real path) and nesting deeper than
L{MAX_INCLUDE_DEPTH} are errors at the C{includefile} line; so is a file
that cannot be read. Text that is not UTF-8 is an error at the first line
that is not.

A file is read only if it is a regular file of at most
L{MAX_CONFIG_BYTES <ntpservice.config.files.MAX_CONFIG_BYTES>} (1 MiB);
C{/dev/zero}, a FIFO or a larger file is refused without being read
(L{ntpservice.config.files.readBounded}), and the main file and its
includes together hold at most
L{MAX_TOTAL_CONFIG_BYTES <ntpservice.config.files.MAX_TOTAL_CONFIG_BYTES>}
(8 MiB; the parser loop counts).

The parser loop (L{ntpservice.config.parser}) handles C{includefile}
itself, with L{readInclude}, while the name belongs to
L{BUILTIN_OWNER <ntpservice.config.BUILTIN_OWNER>}; the built-in registry
holds L{includefileParser} only to reserve the name. A plugin that takes
the name over gets its lines like those of any other directive.
"""

from __future__ import annotations

import os

from ntpservice.config.files import MAX_CONFIG_BYTES, readBounded, shortQuote
from ntpservice.config.lexer import ConfigError, ConfigLine, SourceLocation

__all__ = [
    "MAX_INCLUDE_DEPTH",
    "includefileParser",
    "readFile",
    "readInclude",
]

MAX_INCLUDE_DEPTH = 10
"""How deeply C{includefile} may nest (the main file is depth 0)."""


def readInclude(
    arguments: tuple[str, ...], source: SourceLocation, includeStack: tuple[str, ...]
) -> tuple[str, str, tuple[str, ...]]:
    """
    Check an C{includefile} line and read the file it names.

    @param arguments: the arguments of the line.
    @param source: where the line is.
    @param includeStack: the real paths of the files being read, outermost
        first (the last one is that of the file holding the line).
    @return: C{(path, text, includeStack)}: the included file's path (as
        its lines will be located), its text, and the stack to parse it
        with.
    @raise ConfigError: on a wrong number of arguments, an include nested
        too deeply, an include loop, or a file that cannot be read.
    """
    if len(arguments) != 1:
        raise ConfigError(source, "includefile requires exactly one path")
    path = os.path.join(os.path.dirname(source.path), arguments[0])
    if len(includeStack) > MAX_INCLUDE_DEPTH:
        raise ConfigError(
            source,
            f"includefile {shortQuote(arguments[0])}: "
            f"includes nested deeper than {MAX_INCLUDE_DEPTH}",
        )
    realPath = os.path.realpath(path)
    if realPath in includeStack:
        chain = " -> ".join([*includeStack[includeStack.index(realPath) :], realPath])
        raise ConfigError(source, f"includefile loop: {chain}")
    text = readFile(path, source, f"cannot read includefile {shortQuote(arguments[0])}")
    return path, text, (*includeStack, realPath)


def readFile(path: str, source: SourceLocation, what: str) -> str:
    """
    The text of a configuration file.

    @param path: the file.
    @param source: where to locate an error reading it.
    @param what: how to begin that error message.
    @raise ConfigError: C{SOURCE: WHAT: reason} when the file cannot be
        read (also when it is not a regular file, or larger than
        L{MAX_CONFIG_BYTES <ntpservice.config.files.MAX_CONFIG_BYTES>}),
        C{PATH:LINE: not valid UTF-8 text} when it is not UTF-8.
    """
    try:
        data = readBounded(path, MAX_CONFIG_BYTES)
    except OSError as e:
        raise ConfigError(source, f"{what}: {e.strerror or e}") from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(SourceLocation(path, line), "not valid UTF-8 text") from e


def includefileParser(line: ConfigLine, source: SourceLocation) -> object:
    """
    Placeholder entry reserving C{includefile} for the parser loop, which
    handles it itself.
    """
    raise ConfigError(source, "includefile is handled by the parser itself")
