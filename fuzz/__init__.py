# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Coverage-guided fuzz targets (atheris) for the parsers that read untrusted
input: one module per target, each runnable as C{python -m fuzz.TARGET
[libFuzzer options] [corpus directories]}; L{fuzz.run} runs several for a
bounded time and sums up. See C{docs/testing.md} and C{docs/security.md}.
"""

TARGETS = (
    "packet",
    "config",
    "keys",
    "control",
    "control_handler",
    "nts_ke",
    "nts_fields",
)
"""Every target, in the order L{fuzz.run} runs them."""
