# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The C{twistd ntp} plugin. This directory must not have an C{__init__.py}:
it extends Twisted's C{twisted.plugins} namespace.
"""

from twisted.application.service import ServiceMaker

ntpService = ServiceMaker(
    "ntpservice",
    "ntpservice.tap",
    "An NTPv4 time daemon (RFC 5905) configured with ntp.conf",
    "ntp",
)
