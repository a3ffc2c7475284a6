# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The pure core: NTP codec and algorithms.

Nothing below this package imports anything outside it, directly or
transitively, but a short list of pure standard library modules: not
twisted, socket, time, select, asyncio, random, os or datetime, not the
configuration, not the shell. It reads no clock and touches no socket
(C{tests/core/test_purity.py} enforces it). Time comes in as arguments,
decisions go out as return values; configuration comes in as the core's
own settings, which L{ntpservice.coreconfig} makes from the configuration.
The core type-checks with C{mypy --strict} (C{tests/test_types.py}).
"""
