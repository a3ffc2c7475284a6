# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Built-in reference clock plugins.
"""
