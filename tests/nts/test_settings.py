# -*- test-case-name: tests.nts.test_settings -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.nts.settings}: the C{nts} directive and the
C{server ... nts} options in NTPsec's dialect, and the checks made before
anything is bound.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.nts.settings import checkNTS, ntsSettings
from ntpservice.plugins import loadModePlugins, registryFor
from tests.nts.certs import makeCA, makeServer


def parse(text: str) -> config.Configuration:
    return config.parseString(text, "ntp.conf", registry=registryFor(loadModePlugins()))


class DirectiveTests(SynchronousTestCase):
    """
    C{nts} lines and C{server ... nts}.
    """

    def test_options(self) -> None:
        """
        Options on one line or several merge; a repeated one replaces the
        earlier with a warning.
        """
        settings = ntsSettings(parse(
            "nts enable cert /c key /k\nnts cookie /var/x aead AES_SIV_CMAC_512\n"
            "nts port 4461 mintls TLS1.3\nnts key /k2\n"
        ))
        self.assertTrue(settings.enabled)
        self.assertEqual((settings.cert, settings.key, settings.cookie), ("/c", "/k2", "/var/x"))
        self.assertEqual((settings.aead, settings.port), (17, 4461))
        self.assertEqual(len(settings.warnings), 1)
        self.assertIn("ntp.conf:4: nts key replaces the one of ntp.conf:1", settings.warnings[0])

    def test_errors(self) -> None:
        """
        Unknown options, missing values, TLS below 1.3 and unknown
        algorithms are refused as C{FILE:LINE: message}.
        """
        for line, message in (
            ("nts", "nts requires an option"),
            ("nts frobnicate", "unknown nts option 'frobnicate'"),
            ("nts cert", "nts cert requires a value"),
            ("nts mintls TLS1.2", "NTS requires TLS 1.3"),
            ("nts aead AES_GCM", "unknown algorithm"),
            ("nts port 0", "nts port must be from 1 to 65535"),
            ("server a.example noval", "server option 'noval' needs 'nts'"),
            ("server a.example ca /x", "server option 'ca' needs 'nts'"),
            ("pool a.example nts", "unknown pool option 'nts'"),
            ("server 127.127.1.0 nts", "nts needs a network server"),
            ("server a.example nts key 1", "nts and key cannot be used together"),
        ):
            e = self.assertRaises(config.ConfigError, parse, f"\n{line}\n")
            self.assertIn(message, str(e), line)
            self.assertTrue(str(e).startswith("ntp.conf:2: "), str(e))

    def test_serverLine(self) -> None:
        """
        C{server NAME nts [ca FILE] [noval] [aead NAME]} as NTPsec writes it.
        """
        [line] = parse("server nts.example nts ca /etc/ca.pem noval iburst\n").associations
        self.assertTrue(line.nts)
        self.assertEqual(line.ntsCA, "/etc/ca.pem")
        self.assertIn("noval", line.flags)


class CheckTests(SynchronousTestCase):
    """
    L{checkNTS}: the server's files, before anything is bound.
    """

    def setUp(self) -> None:
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.ca = makeCA(self.directory)
        self.server = makeServer(self.directory, self.ca)

    def check(self, cert: str, key: str, extra: str = "") -> object:
        return checkNTS(parse(
            f"nts enable\nnts cert {cert}\nnts key {key}\n"
            f"nts cookie {self.directory}/nts-keys\n{extra}"
        ))

    def test_good(self) -> None:
        """
        A matching certificate and key pass.
        """
        self.check(self.server.cert, self.server.key)

    def test_missingFiles(self) -> None:
        """
        C{nts enable} without a certificate, or with an unreadable one, is
        refused at the line that names it.
        """
        e = self.assertRaises(config.ConfigError, checkNTS, parse("nts enable\n"))
        self.assertEqual(str(e), "ntp.conf:1: nts enable needs nts cert FILE")
        e = self.assertRaises(config.ConfigError, self.check, "/nonexistent", self.server.key)
        self.assertIn("ntp.conf:2: nts cert /nonexistent: No such file", str(e))

    def test_unboundedFiles(self) -> None:
        """
        A certificate or key that is a FIFO or C{/dev/zero}, or a cookie-key
        file that is a FIFO, is refused at once, without blocking or
        reading without end (issue 17).
        """
        fifo = os.path.join(self.directory, "fifo")
        os.mkfifo(fifo)
        e = self.assertRaises(config.ConfigError, self.check, fifo, self.server.key)
        self.assertEqual(str(e), f"ntp.conf:2: nts cert {fifo}: not a regular file (a FIFO)")
        e = self.assertRaises(config.ConfigError, self.check, self.server.cert, "/dev/zero")
        self.assertEqual(
            str(e), "ntp.conf:3: nts key /dev/zero: not a regular file (a character device)"
        )
        os.mkfifo(os.path.join(self.directory, "nts-keys"))
        e = self.assertRaises(config.ConfigError, self.check, self.server.cert, self.server.key)
        self.assertIn("ntp.conf:4: ", str(e))
        self.assertIn("not a regular file (a FIFO)", str(e))

    def test_keyMismatch(self) -> None:
        """
        A key that is not the certificate's is refused.
        """
        other = makeServer(self.directory, self.ca, stem="other")
        e = self.assertRaises(config.ConfigError, self.check, self.server.cert, other.key)
        self.assertIn("ntp.conf:3: nts key", str(e))
        self.assertIn("does not match nts cert", str(e))

    def test_expired(self) -> None:
        """
        An expired certificate is refused, with its expiry date.
        """
        old = makeServer(self.directory, self.ca, stem="old", expired=True)
        e = self.assertRaises(config.ConfigError, self.check, old.cert, old.key)
        self.assertIn("ntp.conf:2: nts cert", str(e))
        self.assertIn("expired on", str(e))

    def test_badKeyFile(self) -> None:
        """
        A master key file that is not ours is refused at the C{nts cookie}
        line.
        """
        with open(os.path.join(self.directory, "nts-keys"), "w") as f:
            f.write("garbage\n")
        e = self.assertRaises(config.ConfigError, self.check, self.server.cert, self.server.key)
        self.assertIn("ntp.conf:4: ", str(e))
        self.assertIn("is not an ntpservice NTS key file", str(e))

    def test_clientCA(self) -> None:
        """
        The C{ca} of a C{server ... nts} line must be a readable PEM
        certificate file.
        """
        e = self.assertRaises(config.ConfigError, checkNTS,
                              parse("server a.example nts ca /nonexistent\n"))
        self.assertIn("ntp.conf:1: ca /nonexistent", str(e))
        checkNTS(parse(f"server a.example nts ca {self.ca[0].cert}\n"))


class PluginTests(SynchronousTestCase):
    """
    The C{nts} plugin claims NTS requests only when NTS is enabled.
    """

    def test_claimsOnlyWhenEnabled(self) -> None:
        """
        Without C{nts enable} the plugin claims no route (plain requests
        keep the multiplexer's route without claimants); with it, it claims
        unicast mode 3.
        """
        from ntpservice.modes.nts import NTSMode

        class Daemon:
            configuration = parse("nts cookie /tmp/x\n")

        self.assertEqual(NTSMode(Daemon()).claimedModes, ())  # type: ignore[arg-type]
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        server = makeServer(directory, makeCA(directory))
        Daemon.configuration = parse(
            f"nts enable cert {server.cert} key {server.key} cookie {directory}/k\n"
        )
        self.assertEqual(NTSMode(Daemon()).claimedModes, ((3, "unicast"),))  # type: ignore[arg-type]


class StartupTests(SynchronousTestCase):
    """
    C{twistd ntp} refuses a bad NTS configuration before anything is bound.
    """

    def test_refusedBeforeBinding(self) -> None:
        """
        The option parser's configuration loading exits with status 2 and
        one line C{FILE:LINE: message} for a key that does not match its
        certificate.
        """
        import io
        import sys

        from ntpservice.tap import loadConfiguration

        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        ca = makeCA(directory)
        server = makeServer(directory, ca)
        path = os.path.join(directory, "ntp.conf")
        with open(path, "w") as f:
            f.write(f"nts enable\nnts cert {server.cert} key {ca[0].key}\n")
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        e = self.assertRaises(SystemExit, loadConfiguration, path)
        self.assertEqual(e.code, 2)
        self.assertEqual(
            stderr.getvalue(),
            f"{path}:2: nts key {ca[0].key} does not match nts cert {server.cert}\n",
        )


class CADirectoryTests(SynchronousTestCase):
    """
    C{ca} may name a directory of PEM files, as NTPsec allows.
    """

    def test_directory(self) -> None:
        """
        A directory holding a CA certificate is accepted by the check and
        loaded by the client's TLS options; an empty one is refused.
        """
        from ntpservice.nts.ke import clientOptions

        directory = os.path.abspath(self.mktemp())
        cas = os.path.join(directory, "cas")
        os.makedirs(cas)
        makeCA(cas)
        os.unlink(os.path.join(cas, "ca.key"))
        checkNTS(parse(f"server a.example nts ca {cas}\nnts ca {cas}\n"))
        self.assertIsNotNone(clientOptions("a.example", cas))
        empty = os.path.join(directory, "empty")
        os.makedirs(empty)
        e = self.assertRaises(config.ConfigError, checkNTS,
                              parse(f"server a.example nts ca {empty}\n"))
        self.assertIn("no certificate", str(e))
