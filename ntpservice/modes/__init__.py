# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Association-mode plugins, one module per mode, found with
C{twisted.plugin.getPlugins(IAssociationMode, ntpservice.modes)}.

Third-party modes: a directory C{ntpservice/modes/} (without
C{__init__.py}) in any C{sys.path} entry is searched too, as Twisted does for
C{twisted/plugins}.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))  # type: ignore[name-defined]
