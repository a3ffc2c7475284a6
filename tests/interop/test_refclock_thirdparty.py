# -*- test-case-name: tests.interop.test_refclock_thirdparty -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Issue 15's third-party driver: the complete driver of C{docs/refclocks.md},
taken from the document as it is, installed as a package of its own outside
the tree (its C{twisted/plugins/} file in a site directory of its own), is
found by the daemon started under twistd, selected, and served at stratum 1.
"""

from __future__ import annotations

import os
import re
import threading
import time
from unittest import mock

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers
from tests.interop.test_ntpq import peerRows

pytestmark = [pytest.mark.interop, pytest.mark.netns]

DOCUMENT = os.path.join(peers.REPOSITORY_ROOT, "docs", "refclocks.md")


def exampleDriver() -> str:
    """The driver's source, as C{docs/refclocks.md} shows it."""
    with open(DOCUMENT) as f:
        text = f.read()
    match = re.search(
        r"<!-- refclock-example begin -->\n```python\n(.*?)```\n<!-- refclock-example end -->",
        text,
        re.S,
    )
    assert match is not None, "no example driver in docs/refclocks.md"
    return match.group(1)


def installPackage(site: str) -> None:
    """
    Lay the driver out as an installed distribution does in C{site}: its
    package and its Twisted plugin module.
    """
    package = os.path.join(site, "textfileclock")
    plugins = os.path.join(site, "twisted", "plugins")
    os.makedirs(package)
    os.makedirs(plugins)
    with open(os.path.join(package, "__init__.py"), "w") as f:
        f.write('"""A third-party reference clock package."""\n')
    with open(os.path.join(plugins, "textfile_refclock.py"), "w") as f:
        f.write(exampleDriver())


class ThirdPartyDriverTests(SynchronousTestCase):
    """
    The documented driver, installed outside the tree, drives the daemon.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        peers.requireBinary("ntpdig")
        self.ntpq = peers.requireBinary("ntpq")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.netns = peers.NetNamespace()
        self.netns.create()
        self.addCleanup(self.netns.close)

    def test_selectedAndServed(self) -> None:
        """
        C{refclock textfile path FILE refid TXT}, with another program
        appending reference times to FILE: the daemon's association
        TEXTFILE(0) is the system peer (ntpq -p: C{*}, type l, refid
        .TXT.) and ntpdig sees stratum 1.
        """
        site = os.path.join(self.workdir, "site")
        installPackage(site)
        timeFile = os.path.join(self.workdir, "time.txt")
        stop = threading.Event()

        def writer() -> None:
            while not stop.wait(0.5):
                now = time.time()
                with open(timeFile, "a") as f:
                    f.write(f"{now + 0.0005:.6f} {now:.6f}\n")

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(stop.set)
        with mock.patch.dict(os.environ, {"PYTHONPATH": site}):
            ours = peers.startNtpservice(
                self.workdir,
                f"refclock textfile path {timeFile} refid TXT\n"
                f"driftfile {self.workdir}/ntp.drift\n",
                port=123,
                netns=self.netns,
            )
        self.addCleanup(ours.stop)
        ours.waitForOutput(r"Selected 127\.127\.201\.0 \(association \d+\)", timeout=60)
        self.assertIn("textfile 127.127.201.0", ours.output())
        rows = peerRows(
            peers.runCommand([self.ntpq, "-n", "-p", "127.0.0.1"], netns=self.netns).stdout
        )
        row = rows.get("TEXTFILE(0)")
        self.assertIsNotNone(row, rows)
        assert row is not None
        self.assertEqual((row["tally"], row["t"], row["st"], row["refid"]), ("*", "l", "0", ".TXT."))
        [reply] = peers.runNtpdig("127.0.0.1", 1, netns=self.netns)
        self.assertEqual(reply["stratum"], 1, reply)
