# -*- test-case-name: tests.test_assembly -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.assembly}: what L{assembleDaemon} makes of a
configuration, for the service and the simulator alike.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.assembly import assembleDaemon
from ntpservice.auth.keyring import KEYS_TEXT_NAME
from ntpservice.auth.keys import parseKeysText
from ntpservice.clock.simulated import SimulatedClock
from ntpservice.core.counters import PacketCounters
from ntpservice.daemon import NTPDaemon
from ntpservice.net.multiplexer import ModeTable
from ntpservice.plugins import loadModePlugins, registryFor
from ntpservice.refclocks import RefClockConfigError

KEYS = "1 SHA1 0123456789abcdef0123456789abcdef01234567\n2 MD5 other\n"
"""A keys file's text: keys 1 and 2."""


def parse(text: str) -> Any:
    """
    @return: the configuration C{text} (named C{t.conf}), with the
        installed mode plugins' directives and switches.
    """
    return config.parseString(text, "t.conf", registry=registryFor(loadModePlugins()))


def assemble(text: str, adjusts: bool = True, **kw: Any) -> NTPDaemon:
    """
    @param text: the configuration.
    @param adjusts: whether the (simulated) clock applies corrections.
    @return: the daemon L{assembleDaemon} builds from C{text}.
    """
    reactor = Clock()
    return assembleDaemon(
        parse(text),
        SimulatedClock(reactor, adjusts=adjusts),
        reactor,
        PacketCounters(),
        ModeTable(),
        **kw,
    )


class KeysTests(SynchronousTestCase):
    """
    The daemon's keys come from the configuration's keys file, from keys
    text given instead of it, or from a key ring given as it is.
    """

    def keysFile(self) -> str:
        """
        @return: the path of a keys file holding L{KEYS}.
        """
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(KEYS)
        os.chmod(path, 0o600)
        return path

    def test_noKeys(self) -> None:
        """
        Without a C{keys} line and without keys given, the daemon has no
        keys.
        """
        daemon = assemble("server 192.0.2.1\n")
        self.assertEqual(len(daemon.keyring), 0)

    def test_keysFile(self) -> None:
        """
        The keys file the C{keys} line names is read; C{trustedkey} says
        which of its keys are trusted.
        """
        path = self.keysFile()
        daemon = assemble(f"keys {path}\ntrustedkey 1\nserver 192.0.2.1 key 1\n")
        self.assertEqual(sorted(daemon.keyring), [1, 2])
        self.assertEqual(daemon.keyring.trusted, frozenset({1}))
        self.assertEqual(daemon.keyring.path, path)

    def test_keysFileMissing(self) -> None:
        """
        A keys file that cannot be read is a configuration error at the
        C{keys} line.
        """
        path = os.path.abspath(self.mktemp())
        error = self.assertRaises(
            config.ConfigError, assemble, f"keys {path}\ntrustedkey 1\n"
        )
        self.assertTrue(str(error).startswith(f"t.conf:1: {path}: "), str(error))

    def test_keysText(self) -> None:
        """
        Keys text is read instead of any file, trusted as C{trustedkey}
        (and C{controlkey}) say, and named after the C{keys} line's path,
        or L{KEYS_TEXT_NAME} without one.
        """
        daemon = assemble(
            "trustedkey 1\ncontrolkey 2\nserver 192.0.2.1 key 1\n", keyring=KEYS
        )
        self.assertEqual(sorted(daemon.keyring), [1, 2])
        self.assertEqual(daemon.keyring.trusted, frozenset({1, 2}))
        self.assertEqual(daemon.keyring.path, KEYS_TEXT_NAME)
        daemon = assemble(
            "keys /nonexistent/ntp.keys\ntrustedkey 1\n", keyring=KEYS.encode()
        )
        self.assertEqual(daemon.keyring.path, "/nonexistent/ntp.keys")

    def test_keysTextChecked(self) -> None:
        """
        An association naming a key the text lacks, or one that is not
        trusted, is refused with its C{FILE:LINE}, as with a keys file;
        so is a malformed line of the text.
        """
        error = self.assertRaises(
            config.ConfigError,
            assemble,
            "trustedkey 1\nserver 192.0.2.1 key 3\n",
            keyring=KEYS,
        )
        self.assertEqual(
            str(error), f"t.conf:2: key 3 is not in the keys file {KEYS_TEXT_NAME}"
        )
        error = self.assertRaises(
            config.ConfigError,
            assemble,
            "trustedkey 1\nserver 192.0.2.1 key 2\n",
            keyring=KEYS,
        )
        self.assertEqual(
            str(error), "t.conf:2: key 2 is not trusted: add it to a trustedkey line"
        )
        error = self.assertRaises(
            config.ConfigError, assemble, "trustedkey 1\n", keyring="1 NOPE x\n"
        )
        self.assertTrue(str(error).startswith(f"{KEYS_TEXT_NAME}:1: "), str(error))

    def test_keyRing(self) -> None:
        """
        A key ring given is the daemon's, as it is.
        """
        ring = parseKeysText(KEYS).withTrusted([2])
        daemon = assemble("keys /nonexistent/ntp.keys\n", keyring=ring)
        self.assertIs(daemon.keyring, ring)


class AssemblyTests(SynchronousTestCase):
    """
    What else L{assembleDaemon} takes from the configuration unless told
    otherwise: the reference clocks (the LOCAL clock among them), the
    drift file, the open loop, the mode plugins.
    """

    def test_localClock(self) -> None:
        """
        The LOCAL clock of a C{server 127.127.1.u} line, with its C{fudge}
        stratum, becomes a reference clock association of the started
        daemon; without one there is none. A bad C{fudge} line is refused
        when the daemon is assembled.
        """
        daemon = assemble("server 127.127.1.2\nfudge 127.127.1.2 stratum 7\n")
        daemon.start()
        self.addCleanup(daemon.stop)
        [local] = list(daemon.engine.associations)
        source: Any = local.settings.refclock
        self.assertEqual(
            (local.address, source.unit, source.stratum, source.lastResort),
            ("127.127.1.2", 2, 7, True),
        )
        other = assemble("server 192.0.2.1\n")
        other.start()
        self.addCleanup(other.stop)
        self.assertEqual(
            [a for a in other.engine.associations if a.settings.refclock is not None], []
        )
        self.assertRaises(
            RefClockConfigError, assemble, "server 127.127.1.0\nfudge 127.127.1.0 stratum 99\n"
        )

    def test_driftFile(self) -> None:
        """
        The drift file is the C{driftfile} line's unless another (or none)
        is given.
        """
        path = os.path.abspath(self.mktemp())
        self.assertEqual(assemble(f"driftfile {path}\n").driftFile, path)
        self.assertIsNone(assemble("").driftFile)
        self.assertIsNone(assemble(f"driftfile {path}\n", driftFile=None).driftFile)
        self.assertEqual(assemble("", driftFile=path).driftFile, path)

    def test_openLoop(self) -> None:
        """
        The discipline runs open loop after C{disable ntp} or on a clock
        that does not adjust, unless C{clockAdjust} says otherwise.
        """

        def openLoop(daemon: NTPDaemon) -> bool:
            return bool(daemon.engine.discipline.openLoop)

        self.assertFalse(openLoop(assemble("")))
        self.assertTrue(openLoop(assemble("disable ntp\n")))
        self.assertTrue(openLoop(assemble("", adjusts=False)))
        self.assertTrue(openLoop(assemble("", clockAdjust=False)))
        self.assertFalse(openLoop(assemble("disable ntp\n", clockAdjust=True)))

    def test_plugins(self) -> None:
        """
        Of the mode plugins available (every installed one by default),
        those that C{enable}/C{disable} leave on run.
        """
        installed = sorted(p.name for p in loadModePlugins())  # type: ignore[attr-defined]
        self.assertEqual(sorted(assemble("").instances), installed)
        self.assertNotIn("server", assemble("disable server\n").instances)
        [client] = [
            p for p in loadModePlugins() if p.name == "client"  # type: ignore[attr-defined]
        ]
        self.assertEqual(list(assemble("", plugins=[client]).instances), ["client"])
