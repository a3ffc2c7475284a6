"""
Attack tests (issue 17): one module per published attack on NTP, each
citing its CVE or paper and running the attack against the real daemon on
loopback or in network namespaces. L{tests.attacks.spoof} forges packets.
"""
