# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Scenario tests, modelled on chrony's C{test/simulation/NNN-topic}: our real
daemon on simulated hosts for simulated hours, asserting the convergence
time and the remaining offset. The files are named C{NNN_topic.py};
C{conftest.py} has pytest collect them.
"""
