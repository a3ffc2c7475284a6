# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Authentication: keys file, MACs, NTS.
"""
