# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Association-mode plugins (found with twisted.plugin.getPlugins).
"""
