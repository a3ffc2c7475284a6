# -*- test-case-name: tests.test_packaging -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Regenerate Twisted's plugin cache (C{dropin.cache}) after installation.

Twisted rebuilds the cache itself when it can write to the plugins
directory and the cache is stale; a stale cache it cannot rewrite is merely
slower, never wrong (plugins are re-scanned). Running this once after
C{pip install} as the installing user keeps C{twistd} start-up quiet.
"""

from __future__ import annotations


def regenerate() -> list[str]:
    """
    Rebuild the cache of C{twisted.plugins} and return the names of the
    service makers found.
    """
    from twisted.application.service import IServiceMaker
    from twisted.plugin import getPlugins
    from twisted import plugins

    return sorted(p.tapname for p in getPlugins(IServiceMaker, plugins))


def main() -> None:
    names = regenerate()
    print("twistd plugins: " + ", ".join(names))
