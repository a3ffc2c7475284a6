# Copyright (c) ntpservice developers. See LICENSE for details.
"""
ntpservice: an NTPv4 time daemon (RFC 5905) on Twisted.

The package is split into a pure core (L{ntpservice.core}: codec and
algorithms, no I/O, no wall clock) and a thin Twisted shell
(L{ntpservice.net}, L{ntpservice.clock}, L{ntpservice.service}).
"""

__version__ = "0.1.0.dev0"
