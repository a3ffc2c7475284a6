# -*- test-case-name: tests.test_coreconfig -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.coreconfig}: configuration objects to core settings.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.config import TinkerSettings
from ntpservice.core.discipline import (
    ALGORITHM_KALMAN,
    ALGORITHM_RFC5905,
    DisciplineSettings,
)
from ntpservice.coreconfig import disciplineSettings


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
