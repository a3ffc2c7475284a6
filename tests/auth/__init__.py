# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.auth}.
"""
