# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for the mode 6 control protocol: codec, server, client, ntpservice-q.
"""
