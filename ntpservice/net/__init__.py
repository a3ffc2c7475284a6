# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The Twisted network shell: multiplexer, kernel timestamps, interfaces, DNS.
"""
