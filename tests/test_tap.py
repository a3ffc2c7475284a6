# -*- test-case-name: tests.test_tap -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.tap}: the command line of C{twistd ntp}.
"""

from __future__ import annotations

import io
import os
import sys

from twisted.logger import LogLevel
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from ntpservice import _log, tap


class OptionsTests(SynchronousTestCase):
    """
    L{tap.Options} accepts ntpd's flags, refuses what is not implemented
    yet, and validates the configuration before anything else happens.
    """

    def writeConfig(self, text: str) -> str:
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_configFile(self) -> None:
        """
        C{-c FILE} reads and validates that file.
        """
        path = self.writeConfig("server 192.0.2.1 iburst\ndisable ntp\n")
        options = tap.Options()
        options.parseOptions(["-c", path])
        self.assertEqual(options["configuration"].clockAdjust, False)
        self.assertEqual(options["configuration"].associations[0].address, "192.0.2.1")

    def test_builtInDefault(self) -> None:
        """
        Without C{-c} and without C{/etc/ntp.conf}, the built-in default
        configuration is used.
        """
        self.patch(tap, "DEFAULT_CONFIG_PATH", self.mktemp())
        options = tap.Options()
        options.parseOptions([])
        configuration = options["configuration"]
        self.assertEqual(configuration.associations[0].directive, "pool")
        self.assertEqual(configuration.associations[0].address, "pool.ntp.org")

    def test_etcNtpConf(self) -> None:
        """
        Without C{-c}, C{/etc/ntp.conf} is read when it exists.
        """
        path = self.writeConfig("server 192.0.2.7\n")
        self.patch(tap, "DEFAULT_CONFIG_PATH", path)
        options = tap.Options()
        options.parseOptions([])
        self.assertEqual(options["configuration"].associations[0].address, "192.0.2.7")

    def test_badConfiguration(self) -> None:
        """
        A bad configuration prints C{FILE:LINE: message} on one line and
        exits with status 2.
        """
        path = self.writeConfig("driftfile /tmp/x\nsever 192.0.2.1\n")
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        exc = self.assertRaises(SystemExit, tap.Options().parseOptions, ["-c", path])
        self.assertEqual(exc.code, 2)
        [line] = stderr.getvalue().splitlines()
        self.assertTrue(line.startswith(f"{path}:2: "), line)
        self.assertIn("sever", line)

    def test_missingFile(self) -> None:
        """
        A configuration file that does not exist is reported in one line.
        """
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        path = self.mktemp()
        exc = self.assertRaises(SystemExit, tap.Options().parseOptions, ["-c", path])
        self.assertEqual(exc.code, 2)
        self.assertIn(path, stderr.getvalue())

    def test_interfaceAndUserOptions(self) -> None:
        """
        C{-L}, C{-u USER[:GROUP]} and C{-U SECONDS} are accepted and reach
        the service (C{-U} defaults to ntpd's 300 s); an unknown user, and
        a C{-U} that is not a number of seconds, are refused naming it.
        """
        path = self.writeConfig("")
        options = tap.Options()
        options.parseOptions(["-c", path, "-L", "-u", "nobody", "-U", "600", "--no-clock-adjust"])
        self.addCleanup(_log.setLevel, _log.getLevel())
        service = tap.makeService(options)
        self.assertTrue(service.noVirtual)
        self.assertEqual(service.updateInterval, 600.0)
        self.assertEqual(service.identity.uid, 65534)
        options = tap.Options()
        options.parseOptions(["-c", path, "--no-clock-adjust"])
        service = tap.makeService(options)
        self.assertEqual(service.updateInterval, 300.0)
        self.assertIsNone(service.identity)
        for argv, word in (
            (["-u", "no-such-user-x"], "unknown user"),
            (["-U", "x"], "-U must be a number"),
            (["-U", "-1"], "-U must be 0 or a positive number"),
        ):
            e = self.assertRaises(
                UsageError, tap.Options().parseOptions, ["-c", path] + argv
            )
            self.assertIn(word, str(e))

    def refusedUnderTwistd(self, argv: list[str]) -> str:
        """
        Parse C{argv} as twistd's C{ntp} command does (with a parent), and
        check that it ends the process with status 2.

        @return: what was written to standard error.
        """
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        options = tap.Options()
        options.parent = object()  # type: ignore[attr-defined]
        exc = self.assertRaises(SystemExit, options.parseOptions, argv)
        self.assertEqual(exc.code, 2)
        return stderr.getvalue()

    def test_refusedOptionShortMessage(self) -> None:
        """
        Under twistd, a refused or malformed option prints one line saying
        what is wrong and one pointing to C{--help}, not the whole usage
        text, and exits with status 2, as the manual says.
        """
        path = self.writeConfig("")
        for argv, words in (
            (["-u", "no-such-user-x"], "-u no-such-user-x: unknown user"),
            (["--port", "x"], "--port must be a number"),
            (["--frobnicate"], "frobnicate"),
            (["--quit-timeout", "5"], "--quit-timeout only applies with -q"),
        ):
            lines = self.refusedUnderTwistd(["-c", path, *argv]).splitlines()
            self.assertEqual(len(lines), 2, lines)
            self.assertTrue(lines[0].startswith("ntpservice: "), lines)
            self.assertIn(words, lines[0])
            self.assertIn("twistd ntp --help", lines[1])

    def test_helpDescribesInterfaceOptions(self) -> None:
        """
        C{--help} describes C{-u}, C{-U} and C{-L} as working options.
        """
        text = " ".join(str(tap.Options()).split())
        for flag, name, words in (
            ("-u", "--user=", "CAP_NET_BIND_SERVICE"),
            ("-U", "--updateinterval=", "scans of the local addresses"),
            ("-L", "--novirtualips", "virtual interfaces"),
        ):
            start = text.index(f"{flag}, {name}")
            described = text[start : start + 200]
            self.assertIn(words, described, flag)
            self.assertNotIn("not implemented", described, flag)

    def test_quitTimeout(self) -> None:
        """
        C{--quit-timeout SECONDS} goes with C{-q} and reaches the service;
        without it the service derives the bound from the configuration;
        a value that is not a positive number is refused.
        """
        path = self.writeConfig("server 192.0.2.1 iburst\n")
        options = tap.Options()
        options.parseOptions(
            ["-c", path, "-q", "--quit-timeout", "2.5", "--no-clock-adjust"]
        )
        self.addCleanup(_log.setLevel, _log.getLevel())
        self.assertEqual(tap.makeService(options).quitTimeout, 2.5)
        options = tap.Options()
        options.parseOptions(["-c", path, "-q", "--no-clock-adjust"])
        self.assertEqual(tap.makeService(options).quitTimeout, 128)
        for value in ("0", "-1", "x", "inf", "nan"):
            self.assertRaises(
                UsageError,
                tap.Options().parseOptions,
                ["-c", path, "-q", "--quit-timeout", value],
            )

    def test_panicGateAndQuit(self) -> None:
        """
        C{-g} and C{-q} are accepted and reach the daemon.
        """
        options = tap.Options()
        options.parseOptions(["-c", self.writeConfig(""), "-g", "-q", "--no-clock-adjust"])
        self.assertTrue(options["panicgate"])
        self.assertTrue(options["quit"])
        self.addCleanup(_log.setLevel, _log.getLevel())
        service = tap.makeService(options)
        self.assertTrue(service.daemon.engine.discipline._allowPanic)
        self.assertTrue(service.daemon._quit)

    def test_keyChecked(self) -> None:
        """
        A C{key} on an association must name a trusted key of the keys
        file; otherwise the file is refused with the line of the key.
        """
        keys = self.writeConfig("1 MD5 secret\n2 SHA1 other\n")
        os.chmod(keys, 0o600)
        for text, words in (
            ("server 192.0.2.1 key 1\n", "needs a keys file"),
            (f"keys {keys}\ntrustedkey 1\nserver 192.0.2.1 key 3\n", "not in the keys file"),
            (f"keys {keys}\ntrustedkey 1\nserver 192.0.2.1 key 2\n", "not trusted"),
        ):
            path = self.writeConfig(text)
            stderr = io.StringIO()
            self.patch(sys, "stderr", stderr)
            exc = self.assertRaises(SystemExit, tap.Options().parseOptions, ["-c", path])
            self.assertEqual(exc.code, 2)
            self.assertIn(path + ":", stderr.getvalue())
            self.assertIn(words, stderr.getvalue())
        options = tap.Options()
        options.parseOptions(
            ["-c", self.writeConfig(f"keys {keys}\ntrustedkey 1\nserver 192.0.2.1 key 1\n")]
        )

    def test_badKeysFile(self) -> None:
        """
        A malformed keys file is refused with its own file and line.
        """
        keys = self.writeConfig("1 MD5 secret\n2 NOPE x\n")
        path = self.writeConfig(f"keys {keys}\n")
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        exc = self.assertRaises(SystemExit, tap.Options().parseOptions, ["-c", path])
        self.assertEqual(exc.code, 2)
        self.assertTrue(stderr.getvalue().startswith(f"{keys}:2: "), stderr.getvalue())
        self.assertNotIn("secret", stderr.getvalue())

    def test_interfacesRepeatable(self) -> None:
        """
        C{-I} may be given several times.
        """
        options = tap.Options()
        options.parseOptions(["-c", self.writeConfig(""), "-I", "lo", "-I", "192.0.2.1"])
        self.assertEqual(options["interfaces"], ["lo", "192.0.2.1"])

    def test_addressFamily(self) -> None:
        """
        C{-4} and C{-6} (C{--ipv4}, C{--ipv6}) choose one address family,
        which the service's sockets and name resolution follow; together
        they are refused; without either, both families.
        """
        path = self.writeConfig("server ntp.example.org iburst\n")
        for flag, version in (("-4", 4), ("--ipv6", 6)):
            options = tap.Options()
            options.parseOptions(["-c", path, flag, "--no-clock-adjust"])
            self.assertEqual(options["ipVersion"], version)
            service = tap.makeService(options)
            self.assertEqual(
                {":" in spec.address for spec in service.listen}, {version == 6}
            )
            [server] = service.configuration.associations
            self.assertEqual(server.ipVersion, version)
        options = tap.Options()
        options.parseOptions(["-c", path])
        self.assertIsNone(options["ipVersion"])
        self.assertRaises(
            UsageError, tap.Options().parseOptions, ["-c", path, "-4", "-6"]
        )

    def test_port(self) -> None:
        """
        C{--port} takes a port number and refuses anything else.
        """
        path = self.writeConfig("")
        options = tap.Options()
        options.parseOptions(["-c", path, "--port", "12345"])
        self.assertEqual(options["port"], 12345)
        self.assertRaises(UsageError, tap.Options().parseOptions, ["-c", path, "--port", "x"])
        self.assertRaises(
            UsageError, tap.Options().parseOptions, ["-c", path, "--port", "70000"]
        )

    def test_loglevel(self) -> None:
        """
        C{--loglevel} takes a level name and sets the level of ntpservice's
        messages when the service is made.
        """
        path = self.writeConfig("")
        options = tap.Options()
        options.parseOptions(["-c", path, "--loglevel", "warn", "--no-clock-adjust"])
        self.assertEqual(options["loglevel"], LogLevel.warn)
        self.addCleanup(_log.setLevel, _log.getLevel())
        service = tap.makeService(options)
        self.assertEqual(_log.getLevel(), LogLevel.warn)
        self.assertEqual(service.clock.name, "noadjust")
        self.assertRaises(
            UsageError, tap.Options().parseOptions, ["-c", path, "--loglevel", "loud"]
        )


class LoggerTests(SynchronousTestCase):
    """
    L{_log.Logger} drops events below the level set.
    """

    def test_filter(self) -> None:
        """
        Below the level: dropped; at or above: emitted.
        """
        events: list[dict] = []
        logger = _log.Logger(observer=events.append)
        self.addCleanup(_log.setLevel, _log.getLevel())
        _log.setLevel(LogLevel.warn)
        logger.info("quiet")
        logger.warn("loud")
        self.assertEqual([e["log_format"] for e in events], ["loud"])
