# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The pure core: NTP codec and algorithms.

Nothing below this package imports twisted, socket, time, select or random,
reads the wall clock or touches a socket (C{tests/core/test_purity.py}
enforces it). Time comes in as arguments, decisions go out as return values.
"""
