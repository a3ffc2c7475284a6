# -*- test-case-name: tests.test_coreconfig -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.coreconfig}: configuration directives turned into
the core's settings.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.core.mru import DEFAULT_MAXDEPTH, ENTRY_BYTES, MRUSettings
from ntpservice.core.restrict import RestrictRule
from ntpservice.coreconfig import mruSettings, restrictRule, restrictTable


class MRUSettingsTests(SynchronousTestCase):
    """
    L{mruSettings} turns C{mru} lines into the MRU list's limits.
    """

    def test_defaults(self) -> None:
        """
        Without C{mru} lines the settings are the core's defaults.
        """
        self.assertEqual(mruSettings(()), MRUSettings())

    def test_lastOfMaxdepthAndMaxmemWins(self) -> None:
        """
        C{maxdepth} (entries) and C{maxmem} (KiB) set the same limit; the
        one written last wins, as in ntpd.
        """
        c = config.parseString("mru maxdepth 5000 maxmem 64\n", "t.conf")
        self.assertEqual(mruSettings(c.mruDirectives).maxdepth, 64 * 1024 // ENTRY_BYTES)
        c = config.parseString("mru maxmem 64\nmru maxdepth 5000\n", "t.conf")
        self.assertEqual(mruSettings(c.mruDirectives).maxdepth, 5000)

    def test_otherOptions(self) -> None:
        """
        C{mindepth}, C{maxage} and C{minage} are taken; the allocator
        knobs are accepted and ignored.
        """
        c = config.parseString(
            "mru mindepth 10 maxage 3600 minage 30 initalloc 5 incmem 8\n", "t.conf"
        )
        settings = mruSettings(c.mruDirectives)
        self.assertEqual(
            (settings.mindepth, settings.maxage, settings.minage), (10, 3600, 30)
        )
        self.assertEqual(settings.maxdepth, DEFAULT_MAXDEPTH)


class RestrictTests(SynchronousTestCase):
    """
    L{restrictRule} and L{restrictTable} turn C{restrict}, C{unrestrict}
    and C{delrestrict} lines into the restriction table's rules.
    """

    def test_rule(self) -> None:
        """
        Every field of a line is carried over, and its location becomes
        the rule's C{source}.
        """
        c = config.parseString(
            "restrict -6 2001:db8::/32 ippeerlimit 3 nopeer noquery\n"
            "restrict 192.0.2.0 mask 255.255.255.0 kod\n"
            "unrestrict 192.0.2.0 mask 255.255.255.0 kod\n"
            "delrestrict source 192.0.2.7\n",
            "t.conf",
        )
        self.assertEqual(
            [restrictRule(line) for line in c.restrictions],
            [
                RestrictRule(
                    "restrict",
                    "2001:db8::",
                    ipVersion=6,
                    prefixLength=32,
                    ippeerlimit=3,
                    flags=frozenset({"nopeer", "noquery"}),
                    source=config.SourceLocation("t.conf", 1),
                ),
                RestrictRule(
                    "restrict",
                    "192.0.2.0",
                    mask="255.255.255.0",
                    flags=frozenset({"kod"}),
                    source=config.SourceLocation("t.conf", 2),
                ),
                RestrictRule(
                    "unrestrict",
                    "192.0.2.0",
                    mask="255.255.255.0",
                    flags=frozenset({"kod"}),
                    source=config.SourceLocation("t.conf", 3),
                ),
                RestrictRule(
                    "delrestrict",
                    "192.0.2.7",
                    flags=frozenset({"source"}),
                    source=config.SourceLocation("t.conf", 4),
                ),
            ],
        )

    def test_table(self) -> None:
        """
        L{restrictTable} applies the lines in order, with the cache size
        given; host names wait in C{unresolved} as rules that still name
        the line they came from.
        """
        c = config.parseString(
            "restrict default noquery\nrestrict 192.0.2.1 nomodify\n"
            "restrict ntp.example.com kod\n",
            "t.conf",
        )
        table = restrictTable(c.restrictions, cacheSize=2)
        self.assertEqual(set(table.lookup("192.0.2.1").flags), {"nomodify"})
        self.assertEqual(set(table.lookup("192.0.2.2").flags), {"noquery"})
        [line] = table.unresolved
        self.assertEqual(
            (str(line.source), line.directive, line.address),
            ("t.conf:3", "restrict", "ntp.example.com"),
        )
