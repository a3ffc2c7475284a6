# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A reference clock plugin package outside L{ntpservice}: the toy driver of
L{tests.refclocks.test_plugins}, found with C{getPlugins} like any
third-party driver.
"""
