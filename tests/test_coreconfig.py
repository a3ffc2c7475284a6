# -*- test-case-name: tests.test_coreconfig -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.coreconfig}: configuration objects to core settings.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.config import TinkerSettings
from ntpservice.core.discipline import (
    ALGORITHM_KALMAN,
    ALGORITHM_RFC5905,
    DisciplineSettings,
)
from ntpservice.core.mru import DEFAULT_MAXDEPTH, ENTRY_BYTES, MRUSettings
from ntpservice.core.restrict import RestrictRule
from ntpservice.coreconfig import (
    disciplineSettings,
    mruSettings,
    restrictRule,
    restrictTable,
)


class DisciplineSettingsTests(SynchronousTestCase):
    """
    L{disciplineSettings}: the C{tinker} values to the discipline's
    settings.
    """

    def test_defaults(self) -> None:
        """
        The configuration's default tinker values map to ntpd's: step
        0.125 s, stepout 900 s, panic 1000 s, Allan intercept 2**11 s.
        """
        settings = disciplineSettings(TinkerSettings())
        self.assertEqual(settings.step, 0.125)
        self.assertEqual(settings.stepout, 900.0)
        self.assertEqual(settings.panic, 1000.0)
        self.assertEqual(settings.allan, 2048.0)
        self.assertEqual(settings.dispersion, 15e-6)
        self.assertIsNone(settings.initialFreqPPM)
        self.assertEqual((settings.minPollLog2, settings.maxPollLog2), (3, 17))

    def test_values(self) -> None:
        """
        Every tinker value lands in its field, C{allan} converted from log2
        seconds; the poll limits come from the caller.
        """
        tinker = TinkerSettings(
            allan=12.0,
            dispersion=20e-6,
            freq=-12.5,
            huffpuff=7200.0,
            panic=0.0,
            step=0.0,
            stepback=0.5,
            stepfwd=2.0,
            stepout=300.0,
        )
        settings = disciplineSettings(tinker, 6, 10)
        self.assertEqual(
            settings,
            DisciplineSettings(
                step=0.0,
                stepBack=0.5,
                stepForward=2.0,
                stepout=300.0,
                panic=0.0,
                allan=4096.0,
                dispersion=20e-6,
                initialFreqPPM=-12.5,
                huffpuff=7200.0,
                minPollLog2=6,
                maxPollLog2=10,
            ),
        )

    def test_algorithm(self) -> None:
        """
        L{disciplineSettings} takes the algorithm from its argument, else
        from the configuration's C{tinker algorithm} when there is one, else
        the default.
        """
        tinker = TinkerSettings()
        self.assertEqual(disciplineSettings(tinker).algorithm, ALGORITHM_KALMAN)
        self.assertEqual(
            disciplineSettings(tinker, 6, 10, ALGORITHM_RFC5905).algorithm,
            ALGORITHM_RFC5905,
        )

        class Tinkered:
            def __getattr__(self, name: str) -> object:
                if name == "algorithm":
                    return ALGORITHM_RFC5905
                return getattr(tinker, name)

        self.assertEqual(
            disciplineSettings(Tinkered()).algorithm,  # type: ignore[arg-type]
            ALGORITHM_RFC5905,
        )


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
