# -*- test-case-name: tests.test_config -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.config}, the ntp.conf parser.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import shutil
import tempfile

import pytest
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.config import (
    BUILTIN_OWNER,
    DEFAULT_CONFIGURATION_FILENAME,
    DEFAULT_CONFIGURATION_TEXT,
    DEFAULT_DRIFTFILE_PATH,
    MAX_INCLUDE_DEPTH,
    RESTRICT_FLAGS,
    STATISTICS_NAMES,
    SWITCH_DEFAULTS,
    AddressedAssociationDirective,
    AssociationDirective,
    AutokeyDirective,
    BroadcastClientDirective,
    BroadcastDirective,
    ConfigError,
    ConfigLine,
    Configuration,
    DirectiveConflictError,
    DirectiveRegistry,
    DiscardSettings,
    ManycastClientDirective,
    ManycastServerDirective,
    MulticastClientDirective,
    PeerDirective,
    PoolDirective,
    RefclockDirective,
    ServerDirective,
    SourceLocation,
    TinkerSettings,
    TosSettings,
    defaultConfiguration,
    defaultRegistry,
    parseAssociation,
    parseFile,
    parseInteger,
    parseNumber,
    parseString,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ETC = os.path.join(ROOT, "etc")
SEED_002 = os.path.join(
    ROOT, os.pardir, "shared", "seeds", "002_7aeed17e9adb61ff.txt"
)

# The client configuration of seed 002 exactly as the mailing-list archive
# shows it: the mail client wrapped two comment lines, so lines 10 and 15
# are no longer comments.
SEED_002_WRAPPED = """\
# /etc/ntp.conf, configuration for ntpd; see ntp.conf(5) for help
# NTP mcast client configuration

driftfile /var/lib/ntp/ntp.drift

keys /etc/ntp/ntp.keys
trustedkey 1 2 3 4

# Access control configuration; see
/usr/share/doc/ntp-doc/html/accopt.html for
# details.  The web page
# might also be helpful.
# Note that "restrict" applies to both servers and clients, so a
# that might be intended to block requests from certain clients could
also end
# up blocking replies from your own upstream servers.

# By default, exchange time with everybody, but don't allow configuration.

restrict -4 default kod notrap nomodify nopeer noquery notrust
restrict -6 default kod notrap nomodify nopeer noquery notrust

# Local users may interrogate the ntp server more closely.
restrict ::1
"""


def parseOne(text: str) -> Configuration:
    """
    Parse C{text} as C{test.conf}.
    """
    return parseString(text, "test.conf")


def makeTemporaryDirectory(case: SynchronousTestCase) -> str:
    """
    Make a temporary directory (outside the source tree) that is removed
    when C{case} ends.

    @return: its absolute, symlink-free path.
    """
    path = os.path.realpath(tempfile.mkdtemp(prefix="ntpservice-config-"))
    case.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


class ErrorTestsMixin:
    """
    Helpers to assert on configuration errors.
    """

    def assertConfigError(
        self, text: str, expected: str, filename: str = "test.conf"
    ) -> ConfigError:
        """
        Assert that parsing C{text} fails with C{str()} equal to C{expected}.
        """
        error = self.assertRaises(  # type: ignore[attr-defined]
            ConfigError, parseString, text, filename
        )
        self.assertEqual(str(error), expected)  # type: ignore[attr-defined]
        return error


class TokenizerTests(ErrorTestsMixin, SynchronousTestCase):
    """
    The lexical rules: comments, blank lines, whitespace, quotes, no
    continuation lines.
    """

    def test_emptyText(self) -> None:
        """
        An empty file is an empty configuration.
        """
        config = parseOne("")
        self.assertEqual(config.associations, ())
        self.assertEqual(config.restrictions, ())
        self.assertIsNone(config.driftfile)
        self.assertEqual(config.warnings, ())

    def test_commentsAndBlankLines(self) -> None:
        """
        Comment lines, blank lines and trailing comments are ignored; line
        numbers still count them.
        """
        config = parseOne(
            "# comment\n\n   \t\n  # indented comment\n"
            "server a.example.com iburst # trailing comment\n"
        )
        (server,) = config.associations
        self.assertEqual(server.source, SourceLocation("test.conf", 5))
        self.assertEqual(server.flags, frozenset({"iburst"}))

    def test_hashInsideWordStartsComment(self) -> None:
        """
        As in ntpd, C{#} starts a comment even inside a word.
        """
        config = parseOne("server a.example.com iburst#prefer\n")
        (server,) = config.associations
        self.assertEqual(server.flags, frozenset({"iburst"}))

    def test_whitespace(self) -> None:
        """
        Tabs, repeated spaces, carriage returns (CRLF files) separate words.
        """
        config = parseOne("server\ta.example.com  \t iburst\r\npool b.example.com\r\n")
        self.assertEqual(
            [a.address for a in config.associations], ["a.example.com", "b.example.com"]
        )

    def test_quotedString(self) -> None:
        """
        A double-quoted string is one argument, may hold spaces and C{#}.
        """
        config = parseOne('driftfile "/var/lib/my ntp/#drift"\n')
        self.assertEqual(config.driftfile.path, "/var/lib/my ntp/#drift")

    def test_unterminatedQuote(self) -> None:
        """
        A quote that is not closed on its line is an error.
        """
        self.assertConfigError(
            'driftfile "/var/lib/ntp\n', "test.conf:1: unterminated quoted string"
        )

    def test_nulCharacter(self) -> None:
        """
        A NUL character anywhere in a line, comments included, is an error
        at that line (a path holding one cannot be opened: C{includefile
        a<NUL>b} raised C{ValueError} from C{os.path.realpath}, found by
        C{fuzz/config.py}; the input is C{fuzz/corpus/config/
        regression-include-nul}).
        """
        self.assertConfigError(
            "server 192.0.2.1\nincludefile inc.\0conf\n",
            "test.conf:2: a NUL character (byte 0) in the line",
        )
        self.assertConfigError(
            '# \0\n', "test.conf:1: a NUL character (byte 0) in the line"
        )
        directory = makeTemporaryDirectory(self)
        main = os.path.join(directory, "ntp.conf")
        with open(os.path.join(directory, "inc.conf"), "wb") as f:
            f.write(b"includefile inc.\0conf\n")
        with open(main, "w") as f:
            f.write("includefile inc.conf\n")
        error = self.assertRaises(ConfigError, parseFile, main)
        self.assertEqual(
            str(error),
            f"{directory}/inc.conf:1: a NUL character (byte 0) in the line",
        )

    def test_quoteInsideWord(self) -> None:
        """
        A quote in the middle of a word is an error.
        """
        self.assertConfigError(
            'driftfile /var/"lib"\n', "test.conf:1: unexpected '\"' inside a word"
        )

    def test_quoteFollowedByWord(self) -> None:
        """
        A closing quote must be followed by whitespace.
        """
        self.assertConfigError(
            'driftfile "/var"lib\n',
            "test.conf:1: a quoted string must be followed by a space",
        )

    def test_noLineContinuation(self) -> None:
        """
        A backslash at the end of a line does not continue it (ntpd has no
        continuation lines): it is an argument like any other.
        """
        self.assertConfigError(
            "server a.example.com \\\n  iburst\n",
            "test.conf:1: unknown server option '\\\\'",
        )

    def test_directivesAreCaseSensitive(self) -> None:
        """
        Directive names are lower case, as in ntpd.
        """
        self.assertConfigError(
            "Server a.example.com\n", "test.conf:1: unknown directive 'Server'"
        )


class ErrorFormatTests(ErrorTestsMixin, SynchronousTestCase):
    """
    L{ConfigError} says C{FILE:LINE: what is wrong} and refuses the whole
    file.
    """

    def test_unknownDirective(self) -> None:
        """
        An unknown directive is reported with file and line.
        """
        text = "\n" * 11 + "sever ntp.example.com\n"
        error = self.assertConfigError(
            text, "/etc/ntp.conf:12: unknown directive 'sever'", "/etc/ntp.conf"
        )
        self.assertEqual(error.source, SourceLocation("/etc/ntp.conf", 12))
        self.assertEqual(error.message, "unknown directive 'sever'")

    def test_outOfRange(self) -> None:
        """
        An out-of-range number names the option, its range and the value.
        """
        text = "driftfile /x\n\nserver a.example.com minpoll 40\n"
        self.assertConfigError(
            text,
            "/etc/ntp.conf:3: minpoll must be between 3 and 17, not 40",
            "/etc/ntp.conf",
        )

    def test_wholeFileRefused(self) -> None:
        """
        An error after good lines refuses everything: no partial result.
        """
        text = "server a.example.com\ndriftfile /x\nbogus\nserver b.example.com\n"
        self.assertConfigError(text, "test.conf:3: unknown directive 'bogus'")

    def test_firstErrorReported(self) -> None:
        """
        Of several errors, the first one in the file is reported.
        """
        self.assertConfigError("one\ntwo\n", "test.conf:1: unknown directive 'one'")

    def test_sourceLocationStr(self) -> None:
        """
        A L{SourceLocation} prints as C{FILE:LINE}, or C{FILE} for line 0.
        """
        self.assertEqual(str(SourceLocation("/etc/ntp.conf", 3)), "/etc/ntp.conf:3")
        self.assertEqual(str(SourceLocation("/etc/ntp.conf", 0)), "/etc/ntp.conf")

    def test_errorIsException(self) -> None:
        """
        L{ConfigError} is an C{Exception} with the source and message.
        """
        error = ConfigError(SourceLocation("f", 2), "bad")
        self.assertIsInstance(error, Exception)
        self.assertEqual(str(error), "f:2: bad")


class NumberHelperTests(ErrorTestsMixin, SynchronousTestCase):
    """
    L{parseInteger} and L{parseNumber}, public for plugin parsers.
    """

    source = SourceLocation("f", 1)

    def test_integer(self) -> None:
        """
        Decimal integers with an optional sign are accepted.
        """
        self.assertEqual(parseInteger("42", "x", self.source), 42)
        self.assertEqual(parseInteger("-1", "x", self.source, -1, 100), -1)
        self.assertEqual(parseInteger("+7", "x", self.source), 7)

    def test_notInteger(self) -> None:
        """
        Anything else is an error naming the value.
        """
        for token in ("4.0", "0x10", "1_000", "", "four"):
            error = self.assertRaises(
                ConfigError, parseInteger, token, "ttl", self.source
            )
            self.assertEqual(str(error), f"f:1: ttl must be an integer, not {token!r}")

    def test_integerBounds(self) -> None:
        """
        Lower-only and upper-only bounds have their own wording.
        """
        error = self.assertRaises(ConfigError, parseInteger, "0", "n", self.source, 1)
        self.assertEqual(str(error), "f:1: n must be at least 1, not 0")
        error = self.assertRaises(
            ConfigError, parseInteger, "9", "n", self.source, None, 5
        )
        self.assertEqual(str(error), "f:1: n must be at most 5, not 9")

    def test_number(self) -> None:
        """
        Decimal numbers, with fraction or exponent, are accepted.
        """
        self.assertEqual(parseNumber("0.128", "x", self.source), 0.128)
        self.assertEqual(parseNumber("1e-7", "x", self.source), 1e-7)
        self.assertEqual(parseNumber(".5", "x", self.source), 0.5)
        self.assertEqual(parseNumber("-3", "x", self.source), -3.0)

    def test_notNumber(self) -> None:
        """
        Non-numbers, including C{nan} and C{inf}, are errors.
        """
        for token in ("nan", "inf", "1.2.3", "x"):
            error = self.assertRaises(
                ConfigError, parseNumber, token, "step", self.source
            )
            self.assertEqual(str(error), f"f:1: step must be a number, not {token!r}")

    def test_numberRange(self) -> None:
        """
        Number ranges are checked.
        """
        error = self.assertRaises(
            ConfigError, parseNumber, "600", "freq", self.source, -500.0, 500.0
        )
        self.assertEqual(str(error), "f:1: freq must be between -500 and 500, not 600")


class AssociationTests(ErrorTestsMixin, SynchronousTestCase):
    """
    C{server}, C{peer}, C{pool}, C{broadcast}, C{manycastclient}.
    """

    def test_defaults(self) -> None:
        """
        Without options an association has ntpd's defaults.
        """
        (server,) = parseOne("server ntp.example.com\n").associations
        self.assertIsInstance(server, ServerDirective)
        self.assertEqual(server.directive, "server")
        self.assertEqual(server.address, "ntp.example.com")
        self.assertIsNone(server.ipVersion)
        self.assertIsNone(server.key)
        self.assertEqual(server.version, 4)
        self.assertEqual(server.minPollLog2, 6)
        self.assertEqual(server.maxPollLog2, 10)
        self.assertIsNone(server.ttl)
        self.assertIsNone(server.mode)
        self.assertEqual(server.flags, frozenset())
        self.assertFalse(server.isRefclock)
        self.assertIsNone(server.refclockType)

    def test_classes(self) -> None:
        """
        Each directive has its class, in file order in C{associations}.
        """
        config = parseOne(
            "server a.example.com\npeer b.example.com\npool pool.ntp.org\n"
            "broadcast 192.0.2.255\nmanycastclient 239.1.1.1\n"
        )
        self.assertEqual(
            [(type(a), a.directive) for a in config.associations],
            [
                (ServerDirective, "server"),
                (PeerDirective, "peer"),
                (PoolDirective, "pool"),
                (BroadcastDirective, "broadcast"),
                (ManycastClientDirective, "manycastclient"),
            ],
        )
        for association in config.associations:
            self.assertIsInstance(association, AddressedAssociationDirective)
            self.assertIsInstance(association, AssociationDirective)
        self.assertEqual(
            [a.address for a in config.associationsFor("pool")], ["pool.ntp.org"]
        )

    def test_allOptions(self) -> None:
        """
        Every option is parsed into its field.
        """
        (peer,) = parseOne(
            "peer -6 2001:db8::1 key 42 version 3 minpoll 4 maxpoll 12 ttl 8 "
            "mode 1 iburst burst prefer preempt true noselect xleave\n"
        ).associations
        self.assertEqual(peer.ipVersion, 6)
        self.assertEqual(peer.address, "2001:db8::1")
        self.assertEqual(peer.key, 42)
        self.assertEqual(peer.version, 3)
        self.assertEqual(peer.minPollLog2, 4)
        self.assertEqual(peer.maxPollLog2, 12)
        self.assertEqual(peer.ttl, 8)
        self.assertEqual(peer.mode, 1)
        self.assertEqual(
            peer.flags,
            frozenset(
                {"iburst", "burst", "prefer", "preempt", "true", "noselect", "xleave"}
            ),
        )
        self.assertTrue(peer.iburst)
        self.assertTrue(peer.burst)
        self.assertTrue(peer.prefer)
        self.assertTrue(peer.preempt)
        self.assertTrue(peer.noselect)
        self.assertTrue(peer.truechimer)

    def test_ipv4Flag(self) -> None:
        """
        C{-4} before a host name forces IPv4 resolution.
        """
        (server,) = parseOne("server -4 ntp.example.com\n").associations
        self.assertEqual(server.ipVersion, 4)

    def test_familyMismatch(self) -> None:
        """
        C{-4} with an IPv6 literal (or the reverse) is an error.
        """
        self.assertConfigError(
            "server -4 ::1\n", "test.conf:1: server: ::1 is not an IPv4 address"
        )
        self.assertConfigError(
            "server -6 192.0.2.1\n",
            "test.conf:1: server: 192.0.2.1 is not an IPv6 address",
        )

    def test_familyFlagAfterAddress(self) -> None:
        """
        C{-4}/C{-6} must come before the address.
        """
        self.assertConfigError(
            "server ntp.example.com -4\n",
            "test.conf:1: -4 must come before the server address",
        )

    def test_missingAddress(self) -> None:
        """
        An association directive needs an address.
        """
        self.assertConfigError("server\n", "test.conf:1: server requires an address")
        self.assertConfigError("pool -4\n", "test.conf:1: pool requires an address")
        self.assertConfigError(
            "peer -x\n", "test.conf:1: peer requires an address, not '-x'"
        )

    def test_badAddresses(self) -> None:
        """
        Malformed addresses and host names are refused (nothing is resolved).
        """
        self.assertConfigError(
            "server 192.0.2.300\n",
            "test.conf:1: server: '192.0.2.300' is not a valid IPv4 address",
        )
        self.assertConfigError(
            "server bad..name\n",
            "test.conf:1: server: 'bad..name' is not a valid address or host name",
        )
        self.assertConfigError(
            "server -bad\n", "test.conf:1: server requires an address, not '-bad'"
        )

    def test_goodAddresses(self) -> None:
        """
        IPv4, IPv6 (with scope) literals and host names are kept as written.
        """
        config = parseOne(
            "server 192.0.2.1\nserver fe80::1%eth0\nserver Time.Example.COM.\n"
            "server ntp_1.example\n"
        )
        self.assertEqual(
            [a.address for a in config.associations],
            ["192.0.2.1", "fe80::1%eth0", "Time.Example.COM.", "ntp_1.example"],
        )

    def test_unknownOption(self) -> None:
        """
        An unknown option is an error naming the directive and the option.
        """
        self.assertConfigError(
            "server a.example.com ibust\n",
            "test.conf:1: unknown server option 'ibust'",
        )
        self.assertConfigError(
            "pool a.example.com nts\n", "test.conf:1: unknown pool option 'nts'"
        )

    def test_missingValue(self) -> None:
        """
        A numeric option without its value is an error.
        """
        self.assertConfigError(
            "server a.example.com key\n", "test.conf:1: key requires a value"
        )

    def test_repeatedOption(self) -> None:
        """
        An option given twice on one line is an error.
        """
        self.assertConfigError(
            "server a.example.com minpoll 4 minpoll 5\n",
            "test.conf:1: server option 'minpoll' given twice",
        )
        self.assertConfigError(
            "server a.example.com iburst iburst\n",
            "test.conf:1: server option 'iburst' given twice",
        )

    def test_ranges(self) -> None:
        """
        key 1..65535, version 1..4, minpoll/maxpoll 3..17, ttl 0..255.
        """
        cases = [
            ("key 0", "key must be between 1 and 65535, not 0"),
            ("key 65536", "key must be between 1 and 65535, not 65536"),
            ("version 0", "version must be between 1 and 4, not 0"),
            ("version 5", "version must be between 1 and 4, not 5"),
            ("minpoll 2", "minpoll must be between 3 and 17, not 2"),
            ("maxpoll 18", "maxpoll must be between 3 and 17, not 18"),
            ("ttl 256", "ttl must be between 0 and 255, not 256"),
            ("ttl -1", "ttl must be between 0 and 255, not -1"),
            ("mode x", "mode must be an integer, not 'x'"),
        ]
        for option, message in cases:
            self.assertConfigError(
                f"server a.example.com {option}\n", f"test.conf:1: {message}"
            )
        (server,) = parseOne(
            "server a.example.com key 65535 version 1 minpoll 3 maxpoll 17 ttl 0\n"
        ).associations
        self.assertEqual(
            (server.key, server.version, server.minPollLog2, server.maxPollLog2),
            (65535, 1, 3, 17),
        )

    def test_minpollGreaterThanMaxpoll(self) -> None:
        """
        An explicit minpoll above an explicit maxpoll is an error.
        """
        self.assertConfigError(
            "server a.example.com minpoll 12 maxpoll 8\n",
            "test.conf:1: minpoll (12) must not be greater than maxpoll (8)",
        )

    def test_pollDefaultsYieldToExplicitValue(self) -> None:
        """
        An explicit minpoll above the default maxpoll raises maxpoll; an
        explicit maxpoll below the default minpoll lowers minpoll.
        """
        first, second = parseOne(
            "server a.example.com minpoll 12\nserver b.example.com maxpoll 4\n"
        ).associations
        self.assertEqual((first.minPollLog2, first.maxPollLog2), (12, 12))
        self.assertEqual((second.minPollLog2, second.maxPollLog2), (4, 4))

    def test_refclock(self) -> None:
        """
        C{server 127.127.t.u} is a reference clock; type and unit are
        available.
        """
        (clock,) = parseOne(
            "server 127.127.28.1 minpoll 4 prefer mode 1\n"
        ).associations
        self.assertTrue(clock.isRefclock)
        self.assertEqual(clock.address, "127.127.28.1")
        self.assertEqual(clock.refclockType, 28)
        self.assertEqual(clock.refclockUnit, 1)
        self.assertEqual(clock.mode, 1)

    def test_refclockOnlyWithServer(self) -> None:
        """
        Other directives cannot name a reference clock.
        """
        self.assertConfigError(
            "peer 127.127.1.0\n",
            "test.conf:1: reference clock address 127.127.1.0 can only be used "
            "with 'server'",
        )

    def test_badRefclockAddress(self) -> None:
        """
        Type and unit are at most 255.
        """
        self.assertConfigError(
            "server 127.127.300.0\n",
            "test.conf:1: '127.127.300.0' is not a valid reference clock address",
        )

    def test_duplicateServerIgnored(self) -> None:
        """
        A second C{server} line for the same name is dropped with a warning
        (seed 001); different directives or families are not duplicates.
        """
        config = parseOne(
            "server pool.ntp.org\nserver pool.ntp.org iburst\n"
            "server POOL.ntp.org\npool pool.ntp.org\nserver -4 pool.ntp.org\n"
        )
        self.assertEqual(
            [(a.directive, a.source.line) for a in config.associations],
            [("server", 1), ("pool", 4), ("server", 5)],
        )
        self.assertEqual(config.associations[0].flags, frozenset())
        self.assertEqual(
            config.warnings,
            (
                "test.conf:2: duplicate server pool.ntp.org ignored "
                "(the first is at test.conf:1)",
                "test.conf:3: duplicate server POOL.ntp.org ignored "
                "(the first is at test.conf:1)",
            ),
        )

    def test_autokeyOptionsWarn(self) -> None:
        """
        Autokey options are accepted and ignored with a warning.
        """
        config = parseOne("server a.example.com autokey ident group1\n")
        (server,) = config.associations
        self.assertEqual(server.ident, "group1")
        self.assertIn("autokey", server.flags)
        self.assertEqual(
            config.warnings,
            (
                "test.conf:1: autokey is not supported; the server a.example.com "
                "autokey options are ignored",
            ),
        )

    def test_parseAssociationIsPublic(self) -> None:
        """
        L{parseAssociation} parses a line for plugins; it refuses other
        directives.
        """
        source = SourceLocation("f", 1)
        result = parseAssociation(
            ConfigLine("peer", ("a.example.com", "key", "3"), source), source
        )
        self.assertEqual(
            result, PeerDirective(source=source, address="a.example.com", key=3)
        )
        error = self.assertRaises(
            ConfigError,
            parseAssociation,
            ConfigLine("restrict", ("x",), source),
            source,
        )
        self.assertEqual(str(error), "f:1: 'restrict' is not an association directive")


class OtherModeTests(ErrorTestsMixin, SynchronousTestCase):
    """
    C{broadcastclient}, C{multicastclient}, C{manycastserver}.
    """

    def test_broadcastclient(self) -> None:
        """
        C{broadcastclient} takes an optional C{novolley}.
        """
        first, second = parseOne(
            "broadcastclient\nbroadcastclient novolley\n"
        ).associations
        self.assertIsInstance(first, BroadcastClientDirective)
        self.assertEqual(first.directive, "broadcastclient")
        self.assertFalse(first.novolley)
        self.assertTrue(second.novolley)
        self.assertConfigError(
            "broadcastclient volley\n",
            "test.conf:1: unknown broadcastclient option 'volley'",
        )

    def test_multicastclientDefaultGroup(self) -> None:
        """
        C{multicastclient} without address joins 224.0.1.1.
        """
        (client,) = parseOne("multicastclient\n").associations
        self.assertIsInstance(client, MulticastClientDirective)
        self.assertEqual(client.addresses, ("224.0.1.1",))

    def test_multicastclientGroups(self) -> None:
        """
        Groups may be addresses or names; an address must be multicast.
        """
        (client,) = parseOne(
            "multicastclient 239.1.2.3 ff05::101 ntp.mcast.net\n"
        ).associations
        self.assertEqual(client.addresses, ("239.1.2.3", "ff05::101", "ntp.mcast.net"))
        self.assertConfigError(
            "multicastclient 192.0.2.1\n",
            "test.conf:1: multicastclient: 192.0.2.1 is not a multicast address",
        )

    def test_manycastserver(self) -> None:
        """
        C{manycastserver} needs at least one group.
        """
        (server,) = parseOne("manycastserver 239.1.1.1 ff05::101\n").associations
        self.assertIsInstance(server, ManycastServerDirective)
        self.assertEqual(server.addresses, ("239.1.1.1", "ff05::101"))
        self.assertConfigError(
            "manycastserver\n",
            "test.conf:1: manycastserver requires at least one address",
        )

    def test_orderWithOtherAssociations(self) -> None:
        """
        All association directives share one ordered tuple.
        """
        config = parseOne(
            "multicastclient\nserver a.example.com\nbroadcastclient\n"
            "manycastserver 239.1.1.1\n"
        )
        self.assertEqual(
            [a.directive for a in config.associations],
            ["multicastclient", "server", "broadcastclient", "manycastserver"],
        )


class RestrictTests(ErrorTestsMixin, SynchronousTestCase):
    """
    C{restrict}, C{unrestrict}, C{delrestrict}.
    """

    def test_default(self) -> None:
        """
        C{restrict default} applies to both families; C{-4}/C{-6} to one.
        """
        config = parseOne(
            "restrict default kod limited\nrestrict -4 default nopeer\n"
            "restrict -6 default noquery\n"
        )
        both, four, six = config.restrictions
        self.assertEqual((both.address, both.ipVersion), ("default", None))
        self.assertTrue(both.isDefault)
        self.assertEqual(both.flags, frozenset({"kod", "limited"}))
        self.assertEqual((four.ipVersion, four.flags), (4, frozenset({"nopeer"})))
        self.assertEqual((six.ipVersion, six.flags), (6, frozenset({"noquery"})))

    def test_allFlags(self) -> None:
        """
        Every ntpd/NTPsec flag is accepted, C{serverresponse fuzz} as one.
        """
        words = sorted(RESTRICT_FLAGS - {"serverresponse fuzz"})
        (restriction,) = parseOne(
            "restrict 192.0.2.1 " + " ".join(words) + " serverresponse fuzz\n"
        ).restrictions
        self.assertEqual(restriction.flags, RESTRICT_FLAGS)
        for flag in (
            "ignore",
            "kod",
            "limited",
            "lowpriotrap",
            "mssntp",
            "noepeer",
            "nomodify",
            "nomrulist",
            "nopeer",
            "noquery",
            "noserve",
            "notrap",
            "notrust",
            "ntpport",
            "version",
            "flake",
            "interface",
        ):
            self.assertIn(flag, RESTRICT_FLAGS)

    def test_noFlags(self) -> None:
        """
        An address without flags has an empty flag set.
        """
        (restriction,) = parseOne("restrict ::1\n").restrictions
        self.assertEqual(restriction.address, "::1")
        self.assertEqual(restriction.flags, frozenset())
        self.assertIsNone(restriction.mask)

    def test_unknownFlag(self) -> None:
        """
        An unknown flag is an error.
        """
        self.assertConfigError(
            "restrict default nomodfy\n", "test.conf:1: unknown restrict flag 'nomodfy'"
        )

    def test_serverresponseNeedsFuzz(self) -> None:
        """
        C{serverresponse} alone is an error.
        """
        self.assertConfigError(
            "restrict default serverresponse\n",
            "test.conf:1: 'serverresponse' must be followed by 'fuzz'",
        )

    def test_mask(self) -> None:
        """
        C{mask} takes an address of the same family.
        """
        (restriction,) = parseOne(
            "restrict 192.0.2.0 mask 255.255.255.0 nomodify\n"
        ).restrictions
        self.assertEqual(restriction.mask, "255.255.255.0")
        self.assertConfigError(
            "restrict 192.0.2.0 mask ffff::\n",
            "test.conf:1: mask ffff:: is not an IPv4 address",
        )
        self.assertConfigError(
            "restrict 192.0.2.0 mask eth0\n",
            "test.conf:1: mask 'eth0' is not an address",
        )
        self.assertConfigError(
            "restrict 192.0.2.0 mask\n", "test.conf:1: mask requires a value"
        )
        self.assertConfigError(
            "restrict default mask 0.0.0.0\n",
            "test.conf:1: a mask cannot be used with 'default'",
        )

    def test_prefixLength(self) -> None:
        """
        NTPsec's C{address/prefix} form is accepted and checked.
        """
        (restriction,) = parseOne("restrict 2001:db8::/32 noquery\n").restrictions
        self.assertEqual(restriction.address, "2001:db8::")
        self.assertEqual(restriction.prefixLength, 32)
        self.assertConfigError(
            "restrict 192.0.2.0/33\n",
            "test.conf:1: prefix length must be between 0 and 32, not 33",
        )
        self.assertConfigError(
            "restrict 192.0.2.0/24 mask 255.255.255.0\n",
            "test.conf:1: give either a prefix length or a mask, not both",
        )
        self.assertConfigError(
            "restrict host.example/24\n",
            "test.conf:1: restrict: 'host.example/24' is not an address with a "
            "prefix length",
        )

    def test_source(self) -> None:
        """
        C{restrict source} is the template for association sources.
        """
        (restriction,) = parseOne("restrict source nomodify noquery\n").restrictions
        self.assertTrue(restriction.isSource)
        self.assertFalse(restriction.isDefault)
        self.assertEqual(restriction.flags, frozenset({"nomodify", "noquery"}))
        self.assertConfigError(
            "restrict -4 source\n",
            "test.conf:1: -4 cannot be used with 'restrict source'",
        )

    def test_hostname(self) -> None:
        """
        A host name is kept unresolved.
        """
        (restriction,) = parseOne("restrict time.nist.gov nomodify\n").restrictions
        self.assertEqual(restriction.address, "time.nist.gov")

    def test_ippeerlimit(self) -> None:
        """
        ntpd's C{ippeerlimit} is -1 to 100.
        """
        (restriction,) = parseOne(
            "restrict default ippeerlimit 2 nopeer\n"
        ).restrictions
        self.assertEqual(restriction.ippeerlimit, 2)
        self.assertConfigError(
            "restrict default ippeerlimit 101\n",
            "test.conf:1: ippeerlimit must be between -1 and 100, not 101",
        )

    def test_missingAddress(self) -> None:
        """
        C{restrict} needs an address.
        """
        self.assertConfigError(
            "restrict\n", "test.conf:1: restrict requires an address"
        )
        self.assertConfigError(
            "restrict -6\n", "test.conf:1: restrict requires an address"
        )

    def test_unrestrict(self) -> None:
        """
        NTPsec's C{unrestrict} has the syntax of C{restrict}.
        """
        (restriction,) = parseOne("unrestrict default noquery limited\n").restrictions
        self.assertEqual(restriction.directive, "unrestrict")
        self.assertEqual(restriction.flags, frozenset({"noquery", "limited"}))

    def test_delrestrict(self) -> None:
        """
        ntpd's C{delrestrict [source] ADDRESS [mask MASK]} takes no flags.
        """
        plain, masked, source = parseOne(
            "delrestrict 192.0.2.1\ndelrestrict 192.0.2.0 mask 255.255.255.0\n"
            "delrestrict source 192.0.2.7\n"
        ).restrictions
        self.assertEqual((plain.directive, plain.address), ("delrestrict", "192.0.2.1"))
        self.assertEqual(masked.mask, "255.255.255.0")
        self.assertEqual(
            (source.address, source.flags), ("192.0.2.7", frozenset({"source"}))
        )
        self.assertConfigError(
            "delrestrict 192.0.2.1 nomodify\n",
            "test.conf:1: unknown delrestrict option 'nomodify'",
        )
        self.assertConfigError(
            "delrestrict default\n",
            "test.conf:1: delrestrict cannot remove the default entry",
        )

    def test_kodWithoutLimitedWarns(self) -> None:
        """
        As ntpd, C{kod} without C{limited} is accepted with a warning.
        """
        config = parseOne("restrict default kod nomodify\nrestrict ::1 kod limited\n")
        self.assertEqual(
            config.warnings, ("test.conf:1: kod does nothing without limited",)
        )


class AuthenticationTests(ErrorTestsMixin, SynchronousTestCase):
    """
    C{keys}, C{trustedkey}, C{requestkey}, C{controlkey}, autokey.
    """

    def test_keys(self) -> None:
        """
        C{keys} takes exactly one path.
        """
        config = parseOne("keys /etc/ntp/ntp.keys\n")
        self.assertEqual(config.keys.path, "/etc/ntp/ntp.keys")
        self.assertEqual(config.keys.directive, "keys")
        self.assertConfigError("keys\n", "test.conf:1: keys requires a path")
        self.assertConfigError(
            "keys a b\n", "test.conf:1: unexpected argument 'b' after the keys path"
        )

    def test_trustedkeyList(self) -> None:
        """
        C{trustedkey} takes key identifiers; several lines add up.
        """
        config = parseOne("trustedkey 1 2 3 4\ntrustedkey 7\n")
        self.assertEqual(config.trustedKeys, frozenset({1, 2, 3, 4, 7}))
        self.assertEqual(len(config.trustedKeyDirectives), 2)

    def test_trustedkeyRanges(self) -> None:
        """
        Ranges are C{(1 ... 10)} (ntpd/NTPsec, spaces optional) or C{1-10}.
        """
        config = parseOne("trustedkey 1 (10 ... 12) 20-22 (30...31) 40 - 41\n")
        self.assertEqual(
            config.trustedKeys, frozenset({1, 10, 11, 12, 20, 21, 22, 30, 31, 40, 41})
        )

    def test_trustedkeyErrors(self) -> None:
        """
        Bad identifiers, empty ranges and out-of-range keys are errors.
        """
        self.assertConfigError(
            "trustedkey\n",
            "test.conf:1: trustedkey requires at least one key identifier",
        )
        self.assertConfigError(
            "trustedkey 1 two\n",
            "test.conf:1: trustedkey: 'two' is not a key identifier or range",
        )
        self.assertConfigError(
            "trustedkey (5 ... 3)\n", "test.conf:1: trustedkey: range 5 ... 3 is empty"
        )
        self.assertConfigError(
            "trustedkey 0\n",
            "test.conf:1: trusted key must be between 1 and 65535, not 0",
        )
        self.assertConfigError(
            "trustedkey (1 ... 70000)\n",
            "test.conf:1: trusted key must be between 1 and 65535, not 70000",
        )
        self.assertConfigError(
            "trustedkey (1 ... 3\n",
            "test.conf:1: trustedkey: '(1' is not a key identifier or range",
        )

    def test_requestkeyControlkey(self) -> None:
        """
        C{requestkey} and C{controlkey} take one key identifier.
        """
        config = parseOne("requestkey 15\ncontrolkey 16\n")
        self.assertEqual(config.requestKey.value, 15)
        self.assertEqual(config.controlKey.value, 16)
        self.assertConfigError(
            "controlkey 0\n",
            "test.conf:1: controlkey must be between 1 and 65535, not 0",
        )
        self.assertConfigError(
            "requestkey\n", "test.conf:1: requestkey requires a key identifier"
        )

    def test_autokeyDirectivesWarn(self) -> None:
        """
        C{crypto}, C{keysdir}, C{revoke}, C{automax} are accepted, kept and
        ignored with a warning.
        """
        config = parseOne(
            "crypto pw secret randfile /dev/urandom\nkeysdir /etc/ntp\n"
            "revoke 17\nautomax 12\n"
        )
        self.assertEqual(
            [(a.directive, a.arguments) for a in config.autokey],
            [
                ("crypto", ("pw", "secret", "randfile", "/dev/urandom")),
                ("keysdir", ("/etc/ntp",)),
                ("revoke", ("17",)),
                ("automax", ("12",)),
            ],
        )
        self.assertIsInstance(config.autokey[0], AutokeyDirective)
        self.assertEqual(
            config.warnings,
            tuple(
                f"test.conf:{n}: autokey is not supported; {d!r} is ignored"
                for n, d in enumerate(["crypto", "keysdir", "revoke", "automax"], 1)
            ),
        )
        self.assertConfigError(
            "revoke x\n", "test.conf:1: revoke must be an integer, not 'x'"
        )


class TosTests(ErrorTestsMixin, SynchronousTestCase):
    """
    C{tos}.
    """

    def test_defaults(self) -> None:
        """
        Without C{tos} lines the settings are ntpd's defaults.
        """
        self.assertEqual(parseOne("").tos, TosSettings())
        self.assertEqual(TosSettings().maxclock, 10)
        self.assertEqual(TosSettings().orphan, 16)

    def test_allOptions(self) -> None:
        """
        Every option is parsed, typed and merged (the last value wins).
        """
        config = parseOne(
            "tos beacon 1800 ceiling 14 cohort 1 floor 2 maxclock 7\n"
            "tos maxdist 2.5 maxdisp 8 minclock 4 mindist 0.01 minsane 2\n"
            "tos orphan 10 orphanwait 120 bcpollbstep 3 basedate 2020-01-01\n"
            "tos maxclock 11\n"
        )
        self.assertEqual(
            config.tos,
            TosSettings(
                beacon=1800,
                ceiling=14,
                cohort=1,
                floor=2,
                maxclock=11,
                maxdist=2.5,
                maxdisp=8.0,
                minclock=4,
                mindist=0.01,
                minsane=2,
                orphan=10,
                orphanwait=120,
                bcpollbstep=3,
                basedate="2020-01-01",
            ),
        )
        self.assertEqual(config.tosDirectives[0].options[0], ("beacon", 1800))
        self.assertIsInstance(config.tosDirectives[1].options[0][1], float)
        self.assertEqual(config.warnings, ())

    def test_cohortWords(self) -> None:
        """
        C{cohort} also takes C{true}/C{false}.
        """
        self.assertEqual(parseOne("tos cohort true\n").tos.cohort, 1)
        self.assertEqual(parseOne("tos cohort false\n").tos.cohort, 0)

    def test_ranges(self) -> None:
        """
        Values are checked (orphan 1..16, bcpollbstep 0..4, ...).
        """
        cases = [
            ("orphan 17", "orphan must be between 1 and 16, not 17"),
            ("orphan 0", "orphan must be between 1 and 16, not 0"),
            ("cohort 2", "cohort must be between 0 and 1, not 2"),
            ("bcpollbstep 5", "bcpollbstep must be between 0 and 4, not 5"),
            ("ceiling 17", "ceiling must be between 1 and 16, not 17"),
            ("floor 16", "floor must be between 0 and 15, not 16"),
            ("maxclock 0", "maxclock must be at least 1, not 0"),
            ("minclock 0", "minclock must be at least 1, not 0"),
            ("minsane -1", "minsane must be at least 0, not -1"),
            ("beacon 0", "beacon must be at least 1, not 0"),
            ("orphanwait -1", "orphanwait must be at least 0, not -1"),
            ("maxdist -1", "maxdist must be at least 0, not -1"),
            ("mindist x", "mindist must be a number, not 'x'"),
            ("maxclock 3.5", "maxclock must be an integer, not '3.5'"),
            (
                "basedate 2020-13-01",
                "basedate must be a date as YYYY-MM-DD, not '2020-13-01'",
            ),
        ]
        for option, message in cases:
            self.assertConfigError(f"tos {option}\n", f"test.conf:1: {message}")

    def test_syntaxErrors(self) -> None:
        """
        Unknown, repeated and valueless options are errors, as is an empty
        C{tos}.
        """
        self.assertConfigError("tos\n", "test.conf:1: tos requires at least one option")
        self.assertConfigError(
            "tos maxclok 3\n", "test.conf:1: unknown tos option 'maxclok'"
        )
        self.assertConfigError("tos orphan\n", "test.conf:1: orphan requires a value")
        self.assertConfigError(
            "tos orphan 5 orphan 6\n", "test.conf:1: tos option 'orphan' given twice"
        )

    def test_inconsistentClockCountsWarn(self) -> None:
        """
        minsane < minclock <= maxclock not holding is a warning, as in ntpd.
        """
        config = parseOne("tos minclock 1 minsane 1\n")
        self.assertEqual(
            config.warnings,
            (
                "test.conf:1: tos: minsane (1) < minclock (1) <= maxclock (10) does "
                "not hold; the daemon will not select sources properly",
            ),
        )


class TinkerTests(ErrorTestsMixin, SynchronousTestCase):
    """
    C{tinker}.
    """

    def test_allOptions(self) -> None:
        """
        Every option is a number, merged over the defaults.
        """
        config = parseOne(
            "tinker allan 12 dispersion 0.00002 freq -12.5 huffpuff 7200 panic 0\n"
            "tinker step 0.5 stepback 0.2 stepfwd 0.3 stepout 300 tick 0.01\n"
        )
        self.assertEqual(
            config.tinker,
            TinkerSettings(
                allan=12.0,
                dispersion=0.00002,
                freq=-12.5,
                huffpuff=7200.0,
                panic=0.0,
                step=0.5,
                stepback=0.2,
                stepfwd=0.3,
                stepout=300.0,
                tick=0.01,
            ),
        )

    def test_defaults(self) -> None:
        """
        Without C{tinker} the defaults are RFC 5905's (ntpd's, but for the step
        threshold: 0.125 s, where ntpd uses 0.128 s).
        """
        tinker = parseOne("").tinker
        self.assertEqual(tinker.panic, 1000.0)
        self.assertEqual(tinker.step, 0.125)
        self.assertIsNone(tinker.freq)

    def test_errors(self) -> None:
        """
        Unknown options and out-of-range values are errors.
        """
        self.assertConfigError(
            "tinker freq 600\n",
            "test.conf:1: freq must be between -500 and 500, not 600",
        )
        self.assertConfigError(
            "tinker panic -1\n", "test.conf:1: panic must be at least 0, not -1"
        )
        self.assertConfigError(
            "tinker wobble 1\n", "test.conf:1: unknown tinker option 'wobble'"
        )
        self.assertConfigError(
            "tinker\n", "test.conf:1: tinker requires at least one option"
        )


class InterfaceTests(ErrorTestsMixin, SynchronousTestCase):
    """
    C{interface} and C{nic}.
    """

    def test_classes(self) -> None:
        """
        C{all}, C{ipv4}, C{ipv6}, C{wildcard} are classes.
        """
        config = parseOne(
            "interface listen all\ninterface ignore ipv6\nnic drop wildcard\n"
            "interface listen ipv4\n"
        )
        self.assertEqual(
            [(i.directive, i.action, i.kind) for i in config.interfaces],
            [
                ("interface", "listen", "all"),
                ("interface", "ignore", "ipv6"),
                ("nic", "drop", "wildcard"),
                ("interface", "listen", "ipv4"),
            ],
        )

    def test_nameAndAddresses(self) -> None:
        """
        An interface name, an address and an address/prefix are told apart.
        """
        name, address, prefix, six = parseOne(
            "interface listen eth0\ninterface ignore 192.0.2.1\n"
            "interface drop 192.0.2.0/24\ninterface listen fe80::/10\n"
        ).interfaces
        self.assertEqual((name.kind, name.match), ("name", "eth0"))
        self.assertEqual(
            (address.kind, address.address, address.prefixLength),
            ("address", "192.0.2.1", 32),
        )
        self.assertEqual(
            (prefix.kind, prefix.address, prefix.prefixLength),
            ("address", "192.0.2.0", 24),
        )
        self.assertEqual((six.address, six.prefixLength), ("fe80::", 10))

    def test_errors(self) -> None:
        """
        A bad action, a missing or extra argument, a bad prefix are errors.
        """
        usage = (
            "requires an action (listen, ignore, drop) and an address, interface "
            "name or class (all, ipv4, ipv6, wildcard)"
        )
        self.assertConfigError("interface listen\n", f"test.conf:1: interface {usage}")
        self.assertConfigError("nic listen eth0 eth1\n", f"test.conf:1: nic {usage}")
        self.assertConfigError(
            "interface open eth0\n",
            "test.conf:1: unknown interface action 'open' (use listen, ignore or drop)",
        )
        self.assertConfigError(
            "interface listen 192.0.2.0/40\n",
            "test.conf:1: prefix length must be between 0 and 32, not 40",
        )
        self.assertConfigError(
            "interface listen eth0/24\n",
            "test.conf:1: interface: 'eth0/24' is not an address with a prefix length",
        )


class SwitchTests(ErrorTestsMixin, SynchronousTestCase):
    """
    C{enable} and C{disable}.
    """

    def test_allBuiltinFlags(self) -> None:
        """
        Every built-in flag is accepted.
        """
        names = " ".join(SWITCH_DEFAULTS)
        config = parseOne(f"enable {names}\n")
        for name in SWITCH_DEFAULTS:
            self.assertTrue(config.isEnabled(name))
        config = parseOne(f"disable {names}\n")
        for name in SWITCH_DEFAULTS:
            self.assertFalse(config.isEnabled(name))

    def test_defaults(self) -> None:
        """
        Unmentioned flags have ntpd's defaults.
        """
        config = parseOne("")
        self.assertTrue(config.isEnabled("ntp"))
        self.assertTrue(config.isEnabled("monitor"))
        self.assertTrue(config.isEnabled("stats"))
        self.assertFalse(config.isEnabled("stats", default=False))
        self.assertTrue(config.isEnabled("stats", default=True))
        self.assertTrue(config.isEnabled("some-plugin"))

    def test_disableNtp(self) -> None:
        """
        C{disable ntp} turns L{Configuration.clockAdjust} off; the last
        line wins.
        """
        self.assertTrue(parseOne("").clockAdjust)
        self.assertFalse(parseOne("disable ntp\n").clockAdjust)
        self.assertTrue(parseOne("disable ntp\nenable ntp\n").clockAdjust)
        self.assertFalse(parseOne("enable ntp stats\ndisable kernel ntp\n").clockAdjust)

    def test_unknownFlag(self) -> None:
        """
        An unknown flag is an error; so is a bare C{enable}.
        """
        self.assertConfigError(
            "disable ntpd\n", "test.conf:1: unknown disable flag 'ntpd'"
        )
        self.assertConfigError(
            "enable\n", "test.conf:1: enable requires at least one flag"
        )

    def test_pluginSwitch(self) -> None:
        """
        A name registered with L{DirectiveRegistry.registerSwitch} is
        accepted; unmentioned plugin names are on.
        """
        registry = defaultRegistry()
        registry.registerSwitch("symmetric", "symmetric-mode")
        config = parseString("disable symmetric\n", "t", registry)
        self.assertFalse(config.isEnabled("symmetric"))
        self.assertTrue(parseString("", "t", registry).isEnabled("symmetric"))
        self.assertRaises(ConfigError, parseString, "disable symmetric\n", "t")


class MonitoringTests(ErrorTestsMixin, SynchronousTestCase):
    """
    C{statistics}, C{statsdir}, C{filegen}, C{logfile}, C{logconfig}.
    """

    def test_statistics(self) -> None:
        """
        C{statistics} names file generations.
        """
        config = parseOne("statistics loopstats peerstats\nstatistics clockstats\n")
        self.assertEqual(
            config.statistics, frozenset({"loopstats", "peerstats", "clockstats"})
        )
        everything = parseOne("statistics " + " ".join(sorted(STATISTICS_NAMES)) + "\n")
        self.assertEqual(everything.statistics, STATISTICS_NAMES)
        self.assertConfigError(
            "statistics loopstat\n", "test.conf:1: unknown statistics name 'loopstat'"
        )
        self.assertConfigError(
            "statistics\n",
            "test.conf:1: statistics requires at least one statistics name",
        )

    def test_statsdir(self) -> None:
        """
        C{statsdir} takes a path.
        """
        self.assertEqual(
            parseOne("statsdir /var/log/ntp/\n").statsdir.path, "/var/log/ntp/"
        )

    def test_filegen(self) -> None:
        """
        C{filegen} options; a filegen line enables unless it says disable.
        """
        config = parseOne(
            "statistics rawstats\n"
            "filegen loopstats file loops type week nolink enable\n"
            "filegen peerstats\n"
            "filegen rawstats disable link\n"
        )
        loop, peer, raw = config.filegens
        self.assertEqual(
            (loop.name, loop.file, loop.type, loop.link, loop.enabled),
            ("loopstats", "loops", "week", False, True),
        )
        self.assertEqual(
            (peer.file, peer.type, peer.link, peer.enabled),
            ("peerstats", "day", True, True),
        )
        self.assertFalse(raw.enabled)
        self.assertEqual(config.statistics, frozenset({"loopstats", "peerstats"}))

    def test_filegenTypes(self) -> None:
        """
        Every ntpd type is accepted; others are refused.
        """
        for kind in ("none", "pid", "day", "week", "month", "year", "age"):
            (filegen,) = parseOne(f"filegen sysstats type {kind}\n").filegens
            self.assertEqual(filegen.type, kind)
        self.assertConfigError(
            "filegen sysstats type hour\n",
            "test.conf:1: unknown filegen type 'hour' "
            "(use age, day, month, none, pid, week, year)",
        )
        self.assertConfigError(
            "filegen sysstats bogus\n", "test.conf:1: unknown filegen option 'bogus'"
        )
        self.assertConfigError(
            "filegen sysstats file\n", "test.conf:1: file requires a value"
        )
        self.assertConfigError(
            "filegen bogus\n", "test.conf:1: unknown filegen name 'bogus'"
        )

    def test_logfile(self) -> None:
        """
        C{logfile} takes a path.
        """
        self.assertEqual(
            parseOne("logfile /var/log/ntp.log\n").logfile.path, "/var/log/ntp.log"
        )

    def test_logconfig(self) -> None:
        """
        C{logconfig} keywords are class+type with an optional prefix.
        """
        config = parseOne(
            "logconfig =syncstatus +sysevents\nlogconfig -clockall allall\n"
        )
        self.assertEqual(
            config.logconfig, ("=syncstatus", "+sysevents", "-clockall", "allall")
        )
        self.assertConfigError(
            "logconfig +syncstuff\n",
            "test.conf:1: unknown logconfig keyword '+syncstuff'",
        )


class MiscellaneousTests(ErrorTestsMixin, SynchronousTestCase):
    """
    The remaining directives.
    """

    def test_driftfile(self) -> None:
        """
        C{driftfile PATH [tolerance]}.
        """
        config = parseOne("driftfile /var/lib/ntp/ntp.drift\n")
        self.assertEqual(config.driftfile.path, "/var/lib/ntp/ntp.drift")
        self.assertEqual(config.driftfilePath, "/var/lib/ntp/ntp.drift")
        self.assertIsNone(config.driftfile.tolerance)
        self.assertEqual(parseOne("driftfile /d 1e-7\n").driftfile.tolerance, 1e-7)
        self.assertIsNone(parseOne("").driftfilePath)
        self.assertConfigError("driftfile\n", "test.conf:1: driftfile requires a path")
        self.assertConfigError(
            "driftfile /d x\n",
            "test.conf:1: driftfile tolerance must be a number, not 'x'",
        )
        self.assertConfigError(
            "driftfile /d 1 2\n",
            "test.conf:1: unexpected argument '2' after the tolerance",
        )

    def test_singletonReplaced(self) -> None:
        """
        A second C{driftfile} (or other one-value directive) replaces the
        first, with a warning.
        """
        config = parseOne("driftfile /a\nkeys /k1\ndriftfile /b\nkeys /k2\n")
        self.assertEqual(config.driftfile.path, "/b")
        self.assertEqual(config.keys.path, "/k2")
        self.assertEqual(
            config.warnings,
            (
                "test.conf:3: driftfile replaces the one at test.conf:1",
                "test.conf:4: keys replaces the one at test.conf:2",
            ),
        )

    def test_leapfile(self) -> None:
        """
        C{leapfile PATH [checkhash|ignorehash]}.
        """
        config = parseOne("leapfile /usr/share/zoneinfo/leap-seconds.list\n")
        self.assertEqual(config.leapfile.path, "/usr/share/zoneinfo/leap-seconds.list")
        self.assertTrue(config.leapfile.checkHash)
        self.assertFalse(parseOne("leapfile /l ignorehash\n").leapfile.checkHash)
        self.assertTrue(parseOne("leapfile /l checkhash\n").leapfile.checkHash)
        self.assertConfigError(
            "leapfile /l nohash\n",
            "test.conf:1: unknown leapfile option 'nohash' "
            "(use checkhash or ignorehash)",
        )

    def test_broadcastdelay(self) -> None:
        """
        C{broadcastdelay} is seconds, not negative.
        """
        self.assertEqual(parseOne("broadcastdelay 0.004\n").broadcastDelay.value, 0.004)
        self.assertConfigError(
            "broadcastdelay -1\n",
            "test.conf:1: broadcastdelay must be at least 0, not -1",
        )
        self.assertConfigError(
            "broadcastdelay\n", "test.conf:1: broadcastdelay requires a value"
        )

    def test_discard(self) -> None:
        """
        C{discard average N minimum N monitor N leak N}; C{leak} (ours,
        after chrony's C{ratelimit leak}) is 2 by default, 0 to 4.
        """
        config = parseOne("discard average 4 minimum 1\ndiscard monitor 3000\n")
        self.assertEqual(
            config.discard, DiscardSettings(average=4, minimum=1, monitor=3000)
        )
        self.assertEqual(parseOne("").discard, DiscardSettings())
        self.assertEqual(parseOne("").discard.leak, 2)
        self.assertEqual(parseOne("discard leak 0\n").discard.leak, 0)
        self.assertEqual(
            parseOne("discard leak 4 average 5\n").discard,
            DiscardSettings(average=5, leak=4),
        )
        self.assertConfigError(
            "discard leak 5\n", "test.conf:1: leak must be between 0 and 4, not 5"
        )
        self.assertConfigError(
            "discard average 18\n",
            "test.conf:1: average must be between 0 and 17, not 18",
        )
        self.assertConfigError(
            "discard maximum 1\n", "test.conf:1: unknown discard option 'maximum'"
        )

    def test_mru(self) -> None:
        """
        Every C{mru} option takes a non-negative integer.
        """
        names = [
            "maxage",
            "minage",
            "maxdepth",
            "mindepth",
            "maxmem",
            "initalloc",
            "initmem",
            "incalloc",
            "incmem",
        ]
        config = parseOne(
            "mru " + " ".join(f"{n} {i}" for i, n in enumerate(names)) + "\n"
        )
        self.assertEqual(dict(config.mru), {n: i for i, n in enumerate(names)})
        self.assertConfigError(
            "mru maxdepth -1\n", "test.conf:1: maxdepth must be at least 0, not -1"
        )

    def test_fudge(self) -> None:
        """
        C{fudge} keeps its tokens for the reference clock.
        """
        (fudge,) = parseOne("fudge 127.127.1.0 stratum 10 refid LOCL\n").refclocks
        self.assertIsInstance(fudge, RefclockDirective)
        self.assertEqual(fudge.target, "127.127.1.0")
        self.assertEqual(fudge.arguments, ("stratum", "10", "refid", "LOCL"))
        self.assertConfigError(
            "fudge 192.0.2.1 stratum 1\n",
            "test.conf:1: fudge: '192.0.2.1' is not a reference clock address "
            "(127.127.t.u)",
        )
        self.assertConfigError(
            "fudge 127.127.1.0\n", "test.conf:1: fudge requires at least one option"
        )

    def test_refclock(self) -> None:
        """
        NTPsec's C{refclock} keeps its tokens.
        """
        (clock,) = parseOne("refclock shm unit 0 refid GPS prefer\n").refclocks
        self.assertEqual((clock.directive, clock.target), ("refclock", "shm"))
        self.assertEqual(clock.arguments, ("unit", "0", "refid", "GPS", "prefer"))
        self.assertConfigError(
            "refclock\n", "test.conf:1: refclock requires a driver name"
        )

    def test_setvar(self) -> None:
        """
        C{setvar NAME = VALUE [default]} in its spellings.
        """
        config = parseOne(
            'setvar Owner = "The Boss" default\nsetvar a=b\nsetvar c= d\nsetvar e =f\n'
        )
        self.assertEqual(
            [(s.name, s.value, s.isDefault) for s in config.setvars],
            [
                ("Owner", "The Boss", True),
                ("a", "b", False),
                ("c", "d", False),
                ("e", "f", False),
            ],
        )
        usage = "test.conf:1: setvar requires NAME = VALUE [default]"
        self.assertConfigError("setvar\n", usage)
        self.assertConfigError("setvar a\n", usage)
        self.assertConfigError("setvar a =\n", usage)
        self.assertConfigError(
            "setvar a = b c\n",
            "test.conf:1: unexpected argument 'c' after the setvar value",
        )

    def test_trap(self) -> None:
        """
        C{trap ADDRESS [port N] [interface ADDRESS]}.
        """
        plain, full = parseOne(
            "trap 192.0.2.5\ntrap monitor.example port 18447 interface 192.0.2.1\n"
        ).traps
        self.assertEqual(
            (plain.address, plain.port, plain.interface), ("192.0.2.5", None, None)
        )
        self.assertEqual(
            (full.address, full.port, full.interface),
            ("monitor.example", 18447, "192.0.2.1"),
        )
        self.assertConfigError(
            "trap 192.0.2.5 port 0\n",
            "test.conf:1: trap port must be between 1 and 65535, not 0",
        )
        self.assertConfigError(
            "trap 192.0.2.5 interface eth0\n",
            "test.conf:1: trap interface must be an address, not 'eth0'",
        )
        self.assertConfigError("trap\n", "test.conf:1: trap requires an address")

    def test_phone(self) -> None:
        """
        C{phone} keeps its numbers.
        """
        (phone,) = parseOne("phone ATDT13034944774 ATDT13034949774\n").phones
        self.assertEqual(phone.numbers, ("ATDT13034944774", "ATDT13034949774"))
        self.assertConfigError(
            "phone\n", "test.conf:1: phone requires at least one number"
        )

    def test_pathDirectives(self) -> None:
        """
        C{saveconfigdir} and C{pidfile} take a path.
        """
        config = parseOne("saveconfigdir /var/lib/ntp/saved\npidfile /run/ntpd.pid\n")
        self.assertEqual(config.saveconfigdir.path, "/var/lib/ntp/saved")
        self.assertEqual(config.pidfile.path, "/run/ntpd.pid")

    def test_numberDirectives(self) -> None:
        """
        C{nonvolatile} (seconds per second) and C{dscp} (0..63).
        """
        config = parseOne("nonvolatile 1e-7\ndscp 46\n")
        self.assertEqual(config.nonvolatile.value, 1e-7)
        self.assertEqual(config.dscp.value, 46)
        self.assertIsInstance(config.dscp.value, int)
        self.assertConfigError(
            "dscp 64\n", "test.conf:1: dscp must be between 0 and 63, not 64"
        )

    def test_rlimit(self) -> None:
        """
        C{rlimit memlock|stacksize|filenum N}.
        """
        (rlimit,) = parseOne(
            "rlimit memlock 32 stacksize 50 filenum 1024\n"
        ).rlimitDirectives
        self.assertEqual(
            rlimit.options, (("memlock", 32), ("stacksize", 50), ("filenum", 1024))
        )
        self.assertConfigError(
            "rlimit cpu 3\n", "test.conf:1: unknown rlimit option 'cpu'"
        )


class IncludeTests(ErrorTestsMixin, SynchronousTestCase):
    """
    C{includefile}.
    """

    def makeDirectory(self) -> str:
        """
        Make a fresh temporary directory, removed after the test.
        """
        return makeTemporaryDirectory(self)

    def write(self, directory: str, name: str, text: str) -> str:
        """
        Write C{text} to C{directory/name}, making directories.
        """
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_relativeInclude(self) -> None:
        """
        A relative include is read from the including file's directory, in
        place; locations name the included file.
        """
        directory = self.makeDirectory()
        main = self.write(
            directory,
            "ntp.conf",
            "server a.example.com\n"
            "includefile conf.d/servers.conf\n"
            "server c.example.com\n",
        )
        included = self.write(
            directory, "conf.d/servers.conf", "# more\nserver b.example.com\n"
        )
        config = parseFile(main)
        self.assertEqual(
            [a.address for a in config.associations],
            ["a.example.com", "b.example.com", "c.example.com"],
        )
        self.assertEqual(config.associations[1].source, SourceLocation(included, 2))
        self.assertEqual(config.files, (main, included))

    def test_nestedRelativeToIncluder(self) -> None:
        """
        An include inside an included file is relative to that file.
        """
        directory = self.makeDirectory()
        main = self.write(directory, "ntp.conf", "includefile sub/a.conf\n")
        self.write(directory, "sub/a.conf", "includefile b.conf\n")
        self.write(directory, "sub/b.conf", "driftfile /nested\n")
        self.assertEqual(parseFile(main).driftfile.path, "/nested")

    def test_absoluteInclude(self) -> None:
        """
        An absolute include path is used as is.
        """
        directory = self.makeDirectory()
        other = self.write(directory, "keys.conf", "keys /etc/ntp.keys\n")
        config = parseString(f"includefile {other}\n", "<string>")
        self.assertEqual(config.keys.path, "/etc/ntp.keys")

    def test_errorInIncludedFile(self) -> None:
        """
        An error in an included file names that file and line.
        """
        directory = self.makeDirectory()
        main = self.write(directory, "ntp.conf", "includefile bad.conf\n")
        bad = self.write(directory, "bad.conf", "\n\nserver a.example.com minpoll 40\n")
        error = self.assertRaises(ConfigError, parseFile, main)
        self.assertEqual(
            str(error), f"{bad}:3: minpoll must be between 3 and 17, not 40"
        )

    def test_missingInclude(self) -> None:
        """
        An include that cannot be read is an error at the includefile line.
        """
        directory = self.makeDirectory()
        main = self.write(directory, "ntp.conf", "\nincludefile missing.conf\n")
        error = self.assertRaises(ConfigError, parseFile, main)
        self.assertEqual(
            str(error),
            f"{main}:2: cannot read includefile 'missing.conf': "
            "No such file or directory",
        )

    def test_includeArguments(self) -> None:
        """
        C{includefile} takes exactly one path.
        """
        self.assertConfigError(
            "includefile\n", "test.conf:1: includefile requires exactly one path"
        )
        self.assertConfigError(
            "includefile a b\n", "test.conf:1: includefile requires exactly one path"
        )

    def test_loop(self) -> None:
        """
        A file that includes itself, directly or not, is an error.
        """
        directory = self.makeDirectory()
        main = self.write(directory, "ntp.conf", "includefile a.conf\n")
        a = self.write(
            directory, "a.conf", "server a.example.com\nincludefile b.conf\n"
        )
        b = self.write(directory, "b.conf", "includefile a.conf\n")
        error = self.assertRaises(ConfigError, parseFile, main)
        self.assertEqual(str(error), f"{b}:1: includefile loop: {a} -> {b} -> {a}")
        selfish = self.write(directory, "self.conf", "includefile self.conf\n")
        error = self.assertRaises(ConfigError, parseFile, selfish)
        self.assertEqual(
            str(error), f"{selfish}:1: includefile loop: {selfish} -> {selfish}"
        )

    def test_sameFileTwiceIsNotALoop(self) -> None:
        """
        Including one file twice in sequence is allowed (only the duplicate
        server is dropped).
        """
        directory = self.makeDirectory()
        main = self.write(
            directory, "ntp.conf", "includefile x.conf\nincludefile x.conf\n"
        )
        self.write(directory, "x.conf", "restrict ::1\nserver a.example.com\n")
        config = parseFile(main)
        self.assertEqual(len(config.restrictions), 2)
        self.assertEqual(len(config.associations), 1)

    def test_depth(self) -> None:
        """
        Includes may nest 10 deep; the 11th level is an error.
        """
        directory = self.makeDirectory()
        for level in range(MAX_INCLUDE_DEPTH + 1):
            self.write(directory, f"{level}.conf", f"includefile {level + 1}.conf\n")
        self.write(directory, f"{MAX_INCLUDE_DEPTH}.conf", "driftfile /deep\n")
        self.assertEqual(
            parseFile(os.path.join(directory, "0.conf")).driftfile.path, "/deep"
        )
        self.write(
            directory,
            f"{MAX_INCLUDE_DEPTH}.conf",
            f"includefile {MAX_INCLUDE_DEPTH + 1}.conf\n",
        )
        self.write(directory, f"{MAX_INCLUDE_DEPTH + 1}.conf", "driftfile /too-deep\n")
        error = self.assertRaises(
            ConfigError, parseFile, os.path.join(directory, "0.conf")
        )
        last = os.path.join(directory, f"{MAX_INCLUDE_DEPTH}.conf")
        self.assertEqual(
            str(error),
            f"{last}:1: includefile '{MAX_INCLUDE_DEPTH + 1}.conf': "
            f"includes nested deeper than {MAX_INCLUDE_DEPTH}",
        )


class ParseFileTests(SynchronousTestCase):
    """
    L{parseFile} reading errors.
    """

    def test_missingFile(self) -> None:
        """
        A missing file is a L{ConfigError} naming it.
        """
        path = os.path.join(makeTemporaryDirectory(self), "ntp.conf")
        error = self.assertRaises(ConfigError, parseFile, path)
        self.assertEqual(
            str(error),
            f"{path}: cannot read configuration file: No such file or directory",
        )

    def test_notUTF8(self) -> None:
        """
        Bytes that are not UTF-8 are an error at their line.
        """
        path = os.path.join(makeTemporaryDirectory(self), "ntp.conf")
        with open(path, "wb") as f:
            f.write(b"server a.example.com\n# caf\xe9\n")
        error = self.assertRaises(ConfigError, parseFile, path)
        self.assertEqual(str(error), f"{path}:2: not valid UTF-8 text")


class ImmutabilityTests(SynchronousTestCase):
    """
    The results are immutable, hashable values.
    """

    def test_frozen(self) -> None:
        """
        Neither the configuration nor its items can be changed.
        """
        config = parseOne("server a.example.com iburst\nrestrict default kod\n")
        self.assertRaises(
            dataclasses.FrozenInstanceError, setattr, config, "associations", ()
        )
        self.assertRaises(
            dataclasses.FrozenInstanceError,
            setattr,
            config.associations[0],
            "address",
            "x",
        )
        # No new attributes either (CPython 3.11 says TypeError for frozen
        # slotted dataclasses, later versions AttributeError).
        self.assertRaises(
            (AttributeError, TypeError), setattr, config.restrictions[0], "other", 1
        )

    def test_collectionsAreImmutable(self) -> None:
        """
        Sequences are tuples and flag sets frozensets.
        """
        config = parseOne(
            "server a.example.com iburst\nrestrict default kod\ntrustedkey 1\n"
            "enable stats\n"
        )
        self.assertIsInstance(config.associations, tuple)
        self.assertIsInstance(config.restrictions, tuple)
        self.assertIsInstance(config.warnings, tuple)
        self.assertIsInstance(config.extra, tuple)
        self.assertIsInstance(config.associations[0].flags, frozenset)
        self.assertIsInstance(config.restrictions[0].flags, frozenset)
        self.assertIsInstance(config.trustedKeys, frozenset)
        self.assertIsInstance(config.switchDirectives[0].names, tuple)

    def test_hashableAndComparable(self) -> None:
        """
        Equal texts give equal, hashable configurations.
        """
        text = open(os.path.join(ETC, "ntp.conf")).read()
        self.assertEqual(parseOne(text), parseOne(text))
        self.assertEqual(hash(parseOne(text)), hash(parseOne(text)))

    def test_slots(self) -> None:
        """
        Items use slots (no per-instance dictionary).
        """
        config = parseOne("server a.example.com\n")
        self.assertFalse(hasattr(config, "__dict__"))
        self.assertFalse(hasattr(config.associations[0], "__dict__"))


@dataclasses.dataclass(frozen=True)
class _PluginThing:
    """
    What a test plugin parser returns.
    """

    value: str
    source: SourceLocation


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _SymmetricPeer(AssociationDirective):
    """
    An association class of a test plugin.
    """

    directive: str = "peer"
    address: str


class RegistryTests(SynchronousTestCase):
    """
    L{DirectiveRegistry}, the plugin door.
    """

    def test_defaultRegistryIsFresh(self) -> None:
        """
        Each call returns a new registry with the built-ins.
        """
        first = defaultRegistry()
        second = defaultRegistry()
        self.assertIsNot(first, second)
        first.register("thing", lambda line, source: None, "plugin")
        self.assertIsNone(second.lookup("thing"))
        self.assertEqual(second.ownerOf("server"), BUILTIN_OWNER)
        self.assertIn("includefile", second.names())
        self.assertEqual(second.switches(), frozenset(SWITCH_DEFAULTS))

    def test_conflictNamesBothOwners(self) -> None:
        """
        Registering a name owned by someone else names both owners.
        """
        registry = defaultRegistry()
        error = self.assertRaises(
            DirectiveConflictError,
            registry.register,
            "peer",
            lambda line, source: None,
            "symmetric-mode",
        )
        self.assertIn(repr(BUILTIN_OWNER), str(error))
        self.assertIn("'symmetric-mode'", str(error))
        registry.register("thing", lambda line, source: 1, "a")
        error = self.assertRaises(
            DirectiveConflictError,
            registry.register,
            "thing",
            lambda line, source: 2,
            "b",
        )
        self.assertEqual(
            str(error),
            "directive 'thing' is already registered by 'a'; "
            "'b' cannot register it too",
        )
        error = self.assertRaises(
            DirectiveConflictError, registry.registerSwitch, "ntp", "b"
        )
        self.assertIn("'ntpservice'", str(error))
        self.assertIn("'b'", str(error))

    def test_sameOwnerReplaces(self) -> None:
        """
        The owner may register its directive again.
        """
        registry = DirectiveRegistry()

        def first(line: ConfigLine, source: SourceLocation) -> object:
            return 1

        def second(line: ConfigLine, source: SourceLocation) -> object:
            return 2

        registry.register("thing", first, "a")
        registry.register("thing", second, "a")
        self.assertIs(registry.lookup("thing"), second)

    def test_badNames(self) -> None:
        """
        Names that cannot be the first word of a line are refused.
        """
        registry = DirectiveRegistry()
        for name in ("", "two words", "a#b", 'q"'):
            self.assertRaises(
                ValueError, registry.register, name, lambda l, s: None, "a"
            )

    def test_pluginDirectiveInExtra(self) -> None:
        """
        A plugin's results land in C{extra}, in file order; C{None} results
        are dropped.
        """
        registry = defaultRegistry()

        def parseThing(line: ConfigLine, source: SourceLocation) -> object:
            if line.arguments == ("skip",):
                return None
            return _PluginThing(" ".join(line.arguments), source)

        registry.register("thing", parseThing, "thing-plugin")
        config = parseString(
            "thing one\nserver a.example.com\nthing skip\nthing two words\n",
            "t",
            registry,
        )
        self.assertEqual(
            config.extra,
            (
                ("thing", _PluginThing("one", SourceLocation("t", 1))),
                ("thing", _PluginThing("two words", SourceLocation("t", 4))),
            ),
        )
        self.assertEqual(len(config.associations), 1)

    def test_pluginErrors(self) -> None:
        """
        A plugin's L{ConfigError} propagates; its C{ValueError} becomes one.
        """
        registry = defaultRegistry()

        def strict(line: ConfigLine, source: SourceLocation) -> object:
            raise ConfigError(source, "thing is broken")

        def sloppy(line: ConfigLine, source: SourceLocation) -> object:
            return int(line.arguments[0])

        registry.register("strict", strict, "p")
        registry.register("sloppy", sloppy, "p")
        error = self.assertRaises(ConfigError, parseString, "\nstrict\n", "t", registry)
        self.assertEqual(str(error), "t:2: thing is broken")
        error = self.assertRaises(ConfigError, parseString, "sloppy x\n", "t", registry)
        self.assertEqual(
            str(error), "t:1: sloppy: invalid literal for int() with base 10: 'x'"
        )

    def test_takeOverBuiltinDirective(self) -> None:
        """
        A plugin can take over C{peer} without editing L{ntpservice.config}; its
        association objects land in C{associations}, in file order.
        """
        registry = defaultRegistry()
        registry.unregister("peer", BUILTIN_OWNER)
        self.assertIsNone(registry.lookup("peer"))

        def parsePeer(line: ConfigLine, source: SourceLocation) -> object:
            return _SymmetricPeer(source=source, address=line.arguments[0])

        registry.register("peer", parsePeer, "symmetric-mode")
        self.assertEqual(registry.ownerOf("peer"), "symmetric-mode")
        config = parseString(
            "server a.example.com\npeer b.example.com\nserver c.example.com\n",
            "t",
            registry,
        )
        self.assertEqual(
            [(type(a), a.directive) for a in config.associations],
            [
                (ServerDirective, "server"),
                (_SymmetricPeer, "peer"),
                (ServerDirective, "server"),
            ],
        )
        self.assertEqual(config.extra, ())
        # The built-in registry used by default is untouched.
        (peer,) = parseOne("peer b.example.com\n").associations
        self.assertIsInstance(peer, PeerDirective)

    def test_pluginReusesParseAssociation(self) -> None:
        """
        A plugin owning a directive can reuse L{parseAssociation}; the
        duplicate rule still applies.
        """
        registry = defaultRegistry()
        registry.unregister("pool", BUILTIN_OWNER)
        registry.register("pool", parseAssociation, "pool-mode")
        config = parseString("pool p.example\npool p.example\n", "t", registry)
        self.assertEqual(len(config.associations), 1)
        self.assertEqual(
            config.warnings,
            ("t:2: duplicate pool p.example ignored (the first is at t:1)",),
        )

    def test_unregisterNeedsOwner(self) -> None:
        """
        Only the owner can unregister a directive.
        """
        registry = defaultRegistry()
        error = self.assertRaises(
            DirectiveConflictError, registry.unregister, "server", "x"
        )
        self.assertEqual(
            str(error), "directive 'server' is registered by 'ntpservice', not by 'x'"
        )
        self.assertRaises(KeyError, registry.unregister, "nothing", "x")

    def test_copy(self) -> None:
        """
        L{DirectiveRegistry.copy} is independent of the original.
        """
        registry = defaultRegistry()
        copy = registry.copy()
        copy.register("thing", lambda line, source: None, "p")
        copy.registerSwitch("mode", "p")
        self.assertIsNone(registry.lookup("thing"))
        self.assertNotIn("mode", registry.switches())

    def test_emptyRegistry(self) -> None:
        """
        With an empty registry every directive is unknown.
        """
        error = self.assertRaises(
            ConfigError, parseString, "server a.example.com\n", "t", DirectiveRegistry()
        )
        self.assertEqual(str(error), "t:1: unknown directive 'server'")


class DefaultConfigurationTests(SynchronousTestCase):
    """
    The built-in default configuration.
    """

    def test_parses(self) -> None:
        """
        The default text parses into a pool, safe restrictions and a drift
        file, without warnings.
        """
        config = defaultConfiguration()
        self.assertEqual(
            config,
            parseString(DEFAULT_CONFIGURATION_TEXT, DEFAULT_CONFIGURATION_FILENAME),
        )
        (pool,) = config.associations
        self.assertIsInstance(pool, PoolDirective)
        self.assertEqual(pool.address, "pool.ntp.org")
        self.assertTrue(pool.iburst)
        safe = frozenset({"kod", "limited", "nomodify", "nopeer", "noquery"})
        self.assertEqual(
            [(r.address, r.ipVersion, r.flags) for r in config.restrictions],
            [
                ("default", None, safe),
                ("default", 6, safe),
                ("127.0.0.1", None, frozenset()),
                ("::1", None, frozenset()),
                ("source", None, frozenset({"nomodify", "nopeer", "noquery"})),
            ],
        )
        self.assertEqual(config.driftfilePath, DEFAULT_DRIFTFILE_PATH)
        self.assertEqual(DEFAULT_DRIFTFILE_PATH, "/var/lib/ntpservice/ntp.drift")
        self.assertTrue(config.clockAdjust)
        self.assertEqual(config.warnings, ())
        self.assertEqual(config.associations[0].source.path, "<built-in default>")


class Seed002Tests(ErrorTestsMixin, SynchronousTestCase):
    """
    The multicast client configuration of seed 002 must parse as written.
    """

    path = os.path.join(ETC, "seed-002-multicast-client.conf")

    def test_meaning(self) -> None:
        """
        The unwrapped file means exactly: a drift file, a keys file, keys 1-4
        trusted, two default restrictions, ::1 unrestricted, no associations.
        """
        config = parseFile(self.path)
        self.assertEqual(config.driftfile.path, "/var/lib/ntp/ntp.drift")
        self.assertIsNone(config.driftfile.tolerance)
        self.assertEqual(config.keys.path, "/etc/ntp/ntp.keys")
        self.assertEqual(config.trustedKeys, frozenset({1, 2, 3, 4}))
        self.assertEqual(config.associations, ())
        flags = frozenset({"kod", "notrap", "nomodify", "nopeer", "noquery", "notrust"})
        self.assertEqual(
            [
                (r.directive, r.address, r.ipVersion, r.mask, r.flags)
                for r in config.restrictions
            ],
            [
                ("restrict", "default", 4, None, flags),
                ("restrict", "default", 6, None, flags),
                ("restrict", "::1", None, None, frozenset()),
            ],
        )
        self.assertEqual([r.source.line for r in config.restrictions], [18, 19, 22])
        self.assertTrue(config.clockAdjust)
        self.assertEqual(config.extra, ())
        self.assertEqual(config.interfaces, ())
        self.assertEqual(config.tosDirectives, ())
        self.assertIsNone(config.requestKey)
        self.assertIsNone(config.controlKey)
        # ntpd would say the same about kod without limited.
        self.assertEqual(
            config.warnings,
            (
                f"{self.path}:18: kod does nothing without limited",
                f"{self.path}:19: kod does nothing without limited",
            ),
        )

    def test_unwrapsTheRawText(self) -> None:
        """
        The example file is the raw text with the two wrapped comment lines
        joined back, and otherwise identical.
        """
        lines: list[str] = []
        for line in SEED_002_WRAPPED.split("\n"):
            if line in ("/usr/share/doc/ntp-doc/html/accopt.html for", "also end"):
                lines[-1] += " " + line
            else:
                lines.append(line)
        with open(self.path) as f:
            self.assertEqual(f.read(), "\n".join(lines))

    def test_rawTextIsTheSeeds(self) -> None:
        """
        The raw text in this module is the seed's, byte for byte.
        """
        if not os.path.exists(SEED_002):
            raise self.skipTest(f"{SEED_002} is not available")
        with open(SEED_002) as f:
            seed = f.read().split("\n")
        start = seed.index(SEED_002_WRAPPED.split("\n")[0])
        end = seed.index("restrict ::1", start)
        self.assertEqual("\n".join(seed[start : end + 1]) + "\n", SEED_002_WRAPPED)

    def test_wrappedTextIsRefused(self) -> None:
        """
        The raw, wrapped text fails where the wrapped comment spilled onto a
        line of its own (ntpd would only log it).
        """
        self.assertConfigError(
            SEED_002_WRAPPED,
            "/etc/ntp.conf:10: "
            "unknown directive '/usr/share/doc/ntp-doc/html/accopt.html'",
            "/etc/ntp.conf",
        )


EXAMPLE_FILES = sorted(glob.glob(os.path.join(ETC, "*.conf")))


class PackageTests(SynchronousTestCase):
    """
    L{ntpservice.config} is a package split by concern (lexer, includes,
    registry, directives, configuration, parser); its callers import every
    name from the package itself.
    """

    # Every public name of ntpservice.config when it was one module.
    PUBLIC_NAMES = (
        "AddressedAssociationDirective",
        "AssociationDirective",
        "AutokeyDirective",
        "BroadcastClientDirective",
        "BroadcastDirective",
        "BUILTIN_OWNER",
        "ConfigError",
        "ConfigLine",
        "Configuration",
        "DEFAULT_CONFIGURATION_FILENAME",
        "DEFAULT_CONFIGURATION_TEXT",
        "DEFAULT_DRIFTFILE_PATH",
        "DEFAULT_MAXPOLL_LOG2",
        "DEFAULT_MINPOLL_LOG2",
        "DEFAULT_MULTICAST_GROUP",
        "defaultConfiguration",
        "defaultRegistry",
        "Directive",
        "DirectiveConflictError",
        "DirectiveParser",
        "DirectiveRegistry",
        "DiscardDirective",
        "DiscardSettings",
        "DISCIPLINE_ALGORITHMS",
        "DisciplineDirective",
        "DriftfileDirective",
        "FilegenDirective",
        "InterfaceDirective",
        "LeapfileDirective",
        "LogconfigDirective",
        "ManycastClientDirective",
        "ManycastServerDirective",
        "MAX_INCLUDE_DEPTH",
        "MAX_KEY_ID",
        "MAXPOLL_LOG2",
        "MINPOLL_LOG2",
        "MruDirective",
        "MulticastClientDirective",
        "NumberDirective",
        "parseAssociation",
        "parseFile",
        "parseInteger",
        "parseNumber",
        "parseString",
        "PathDirective",
        "PeerDirective",
        "PhoneDirective",
        "PoolDirective",
        "RefclockDirective",
        "RESTRICT_FLAGS",
        "RestrictDirective",
        "RlimitDirective",
        "ServerDirective",
        "SetvarDirective",
        "SourceLocation",
        "STATISTICS_NAMES",
        "StatisticsDirective",
        "SWITCH_DEFAULTS",
        "SwitchDirective",
        "TinkerDirective",
        "TinkerSettings",
        "TosDirective",
        "TosSettings",
        "TrapDirective",
        "TrustedKeyDirective",
    )

    def test_publicNamesImportable(self) -> None:
        """
        Every public name of the former single-module C{ntpservice.config}
        is importable from the package and listed in its C{__all__}, and
        every name in C{__all__} exists.
        """
        import ntpservice.config

        for name in self.PUBLIC_NAMES:
            self.assertTrue(hasattr(ntpservice.config, name), name)
        self.assertEqual(sorted(ntpservice.config.__all__), sorted(self.PUBLIC_NAMES))

    def test_reexportsAreTheDefinitions(self) -> None:
        """
        A name re-exported by the package is the very object its module
        defines, so C{except} clauses and C{isinstance} checks agree
        whichever import path a caller used.
        """
        import ntpservice.config
        from ntpservice.config import directives, includes, lexer, parser, registry
        from ntpservice.config.directives import associations, system

        self.assertIs(ntpservice.config.ConfigError, lexer.ConfigError)
        self.assertIs(ntpservice.config.SourceLocation, lexer.SourceLocation)
        self.assertIs(ntpservice.config.DirectiveRegistry, registry.DirectiveRegistry)
        self.assertIs(ntpservice.config.MAX_INCLUDE_DEPTH, includes.MAX_INCLUDE_DEPTH)
        self.assertIs(ntpservice.config.defaultRegistry, directives.defaultRegistry)
        self.assertIs(ntpservice.config.parseString, parser.parseString)
        self.assertIs(ntpservice.config.ServerDirective, associations.ServerDirective)
        self.assertIs(ntpservice.config.TinkerSettings, system.TinkerSettings)

    def test_groupsRegisterDisjointDirectives(self) -> None:
        """
        Each built-in directive is parsed by exactly one module of
        L{ntpservice.config.directives}, and L{defaultRegistry} holds
        exactly those directives (and C{includefile}) with those parsers:
        no group silently replaces another's parser, and no group's table
        is left unregistered.
        """
        import importlib
        import pkgutil

        from ntpservice.config import directives

        owners: dict[str, str] = {}
        parsers: dict[str, object] = {}
        for info in pkgutil.iter_modules(directives.__path__):
            group = importlib.import_module(f"{directives.__name__}.{info.name}")
            for name, parser in getattr(group, "PARSERS", {}).items():
                self.assertNotIn(
                    name, owners, f"{name} in {info.name} and {owners.get(name)}"
                )
                owners[name] = info.name
                parsers[name] = parser
        registry = defaultRegistry()
        self.assertEqual(registry.names(), frozenset(owners) | {"includefile"})
        for name, parser in parsers.items():
            self.assertIs(registry.lookup(name), parser, name)
            self.assertEqual(registry.ownerOf(name), BUILTIN_OWNER)


def test_examplesExist() -> None:
    """
    The examples this module asserts on are there.
    """
    names = {os.path.basename(path) for path in EXAMPLE_FILES}
    assert {"ntp.conf", "seed-002-multicast-client.conf"} <= names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=os.path.basename)
def test_exampleParses(path: str) -> None:
    """
    Every example configuration under etc/ parses, as the daemon reads it
    (with the mode plugins' directives, such as C{nts}).
    """
    from ntpservice.plugins import loadModePlugins, registryFor

    config = parseFile(path, registry=registryFor(loadModePlugins()))
    assert isinstance(config, Configuration)
    assert config.files[0] == path


def test_sampleCommentedLinesParse() -> None:
    """
    The commented-out directives of etc/ntp.conf are valid when uncommented.
    """
    with open(os.path.join(ETC, "ntp.conf")) as f:
        text = f.read()
    uncommented = re.sub(r"(?m)^#(?=\S)", "", text)
    assert uncommented != text
    config = parseString(uncommented, "ntp.conf")
    assert not config.clockAdjust
    assert config.trustedKeys == frozenset({1, 2, 10, 11, 12})
    assert config.statistics == frozenset({"loopstats", "peerstats", "clockstats"})
