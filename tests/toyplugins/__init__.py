# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A plugin package outside L{ntpservice}: the toy association mode of
L{tests.test_plugin_contract}, found with C{getPlugins} like any
third-party mode.
"""
