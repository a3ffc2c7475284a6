# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Deterministic network and oscillator simulator.
"""
