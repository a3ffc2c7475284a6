# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Build script: the metadata is in setup.cfg; this adds the optional C
extension C{_ntpservice_fastpath} (the server fast path, C{src/fastpath/}).

The extension is optional: when it cannot be built (no compiler, no Python
headers), the installation goes on without it, says so, and the daemon
serves every request in Python (it logs that once at start-up).
C{NTPSERVICE_NO_FASTPATH=1} in the environment skips the build.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """
    Build the extensions, but never fail the installation because of them.
    """

    def run(self):
        try:
            super().run()
        except Exception as e:  # no compiler: DistutilsPlatformError and kin
            self._skip(e)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as e:  # CompileError, LinkError, missing headers
            self._skip(e)

    def _skip(self, error):
        sys.stderr.write(
            "WARNING: the server fast path (C extension _ntpservice_fastpath) "
            f"could not be built ({error}); ntpservice will serve every request "
            "in Python.\n"
        )


extensions = []
if os.environ.get("NTPSERVICE_NO_FASTPATH", "") in ("", "0"):
    extensions.append(
        Extension(
            "_ntpservice_fastpath",
            sources=["src/fastpath/fastpath.c"],
            extra_compile_args=["-O2", "-std=gnu11", "-Wall"],
            libraries=["pthread"],
            optional=True,
        )
    )

setup(ext_modules=extensions, cmdclass={"build_ext": OptionalBuildExt})
