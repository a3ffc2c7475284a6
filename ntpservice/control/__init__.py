# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Mode 6 control, runtime configuration, metrics.
"""
