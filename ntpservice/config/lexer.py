# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The lexer: configuration text into words, every line located as
C{FILE:LINE}.

A configuration file is a sequence of lines, split at newlines. C{#} starts a
comment that runs to the end of the line, also inside a word, as in ntpd;
blank lines and comment lines yield nothing. A line is a directive name
followed by arguments separated by whitespace (space, tab, CR, VT, FF). A
double-quoted string is a single argument (so a path may contain spaces);
it must be followed by whitespace, a comment or the end of the line, and a
C{"} inside a word is an error.

There is no line continuation: ntpd has none, and a line that a mail client
wrapped is an error here (its second half is read as a line of its own,
whose first word is no directive; ntpd would log it and carry on, we refuse
the whole file). A line is at most 4096 characters
(L{MAX_LINE_CHARACTERS <ntpservice.config.files.MAX_LINE_CHARACTERS>}),
comments included, and holds no NUL character.

Every line is located by a L{SourceLocation}, whose C{str()} is
C{FILE:LINE}; every refusal is a L{ConfigError}, whose C{str()} is
C{FILE:LINE: what is wrong}. A directive parser gets each line as a
L{ConfigLine}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ntpservice.config.files import lineTooLong, shortenMessage

__all__ = [
    "ConfigError",
    "ConfigLine",
    "SourceLocation",
    "tokenize",
    "tokenizeLines",
]

_WHITESPACE = " \t\r\v\f"


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """
    Where a directive was written.

    @ivar path: the file name, as given to the parser or as resolved for an
        included file (or a pseudo-filename such as C{<string>}).
    @ivar line: the 1-based line number; 0 means the file as a whole.
    """

    path: str
    line: int

    def __str__(self) -> str:
        if self.line == 0:
            return self.path
        return f"{self.path}:{self.line}"


class ConfigError(Exception):
    """
    A configuration was refused.

    C{str()} of the exception is C{FILE:LINE: what is wrong} (just
    C{FILE: what is wrong} when the file itself could not be read).

    @ivar source: where the error is (a L{SourceLocation}).
    @ivar message: what is wrong, without the location.
    """

    def __init__(self, source: SourceLocation, message: str) -> None:
        message = shortenMessage(message)
        super().__init__(source, message)
        self.source = source
        self.message = message

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass(frozen=True, slots=True)
class ConfigLine:
    """
    One tokenized configuration line, as handed to a directive parser.

    @ivar directive: the first word of the line (C{"server"}).
    @ivar arguments: the other words, comments removed, quotes removed from
        quoted strings.
    @ivar source: where the line is.
    """

    directive: str
    arguments: tuple[str, ...]
    source: SourceLocation


def tokenize(text: str, source: SourceLocation) -> tuple[str, ...]:
    """
    Split one line into words: whitespace separates, C{#} starts a comment
    (also inside a word, as in ntpd), C{"..."} is one word.
    """
    tokens: list[str] = []
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char in _WHITESPACE:
            index += 1
        elif char == "#":
            break
        elif char == '"':
            end = text.find('"', index + 1)
            if end < 0:
                raise ConfigError(source, "unterminated quoted string")
            tokens.append(text[index + 1 : end])
            index = end + 1
            if index < length and text[index] not in _WHITESPACE and text[index] != "#":
                raise ConfigError(source, "a quoted string must be followed by a space")
        else:
            end = index
            while (
                end < length and text[end] not in _WHITESPACE and text[end] not in '#"'
            ):
                end += 1
            if end < length and text[end] == '"':
                raise ConfigError(source, "unexpected '\"' inside a word")
            tokens.append(text[index:end])
            index = end
    return tuple(tokens)


def tokenizeLines(
    text: str, filename: str
) -> Iterator[tuple[SourceLocation, tuple[str, ...]]]:
    """
    The lines of C{text} that hold words, tokenized, in file order.

    A line is tokenized only when the one before it has been consumed, so
    errors come in file order, as the lines are parsed.

    @param text: the contents of one configuration file.
    @param filename: the name used in the locations.
    @return: C{(source, tokens)} for every line that is not blank or only
        a comment.
    @raise ConfigError: on a bad quoted string, a line longer than
        L{MAX_LINE_CHARACTERS <ntpservice.config.files.MAX_LINE_CHARACTERS>},
        or a line holding a NUL character.
    """
    for number, rawLine in enumerate(text.split("\n"), start=1):
        source = SourceLocation(filename, number)
        tooLong = lineTooLong(rawLine)
        if tooLong is not None:
            raise ConfigError(source, tooLong)
        if "\0" in rawLine:
            # No directive takes one, and a path holding one cannot be
            # opened (found by fuzz/config.py: "includefile a\0b").
            raise ConfigError(source, "a NUL character (byte 0) in the line")
        tokens = tokenize(rawLine, source)
        if tokens:
            yield source, tokens
