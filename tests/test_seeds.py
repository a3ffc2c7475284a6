# -*- test-case-name: tests.test_seeds -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The seeds' configuration lines parse, with the meaning ntpd gives them.

The seeds are the documents the project grew from (the steering
repository's C{shared/seeds}); their configuration lines live in C{etc/}.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config, tap
from twisted.python.usage import UsageError

ETC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "etc")


def parseExample(name: str) -> config.Configuration:
    return config.parseFile(os.path.join(ETC, name))


class Seed000Tests(SynchronousTestCase):
    """
    Seed 000 (dynamic interface tracking) uses ntpd's command line: C{-u
    ntp:ntp -g -U 600}: all three are accepted (the namespace test in
    C{tests/interop/test_interfaces.py} runs the whole scenario).
    """

    def test_flagsRecognised(self) -> None:
        """
        C{-u USER:GROUP -g -U 600} are accepted and reach the service; a
        user this host does not have is refused, naming it.
        """
        path = os.path.join(ETC, "ntp.conf")
        options = tap.Options()
        options.parseOptions(["-c", path, "-g", "-u", "nobody:nogroup", "-U", "600"])
        self.assertTrue(options["panicgate"])
        self.assertEqual(options["updateinterval"], 600.0)
        self.assertEqual(options["identity"].uid, 65534)
        try:
            import pwd

            pwd.getpwnam("ntp")
        except KeyError:
            e = self.assertRaises(
                UsageError, tap.Options().parseOptions, ["-c", path, "-u", "ntp:ntp"]
            )
            self.assertIn("unknown user 'ntp'", str(e))


    def test_example(self) -> None:
        """
        C{etc/seed-000-dsl.conf} parses; it asks for one socket per address
        (C{interface ignore wildcard}).
        """
        from ntpservice.service import interfaceRules, wildcardIgnored

        c = parseExample("seed-000-dsl.conf")
        rules = interfaceRules(c)
        self.assertTrue(wildcardIgnored(rules))
        self.assertEqual(c.tos.maxclock, 6)


class Seed001Tests(SynchronousTestCase):
    """
    Seed 001 (DNS and the pool): C{pool}, numbered pool servers, duplicate
    names ignored, C{tos maxclock}.
    """

    def test_pool(self) -> None:
        """
        The pool line is one association; the duplicate server line is
        dropped with a warning that names its line.
        """
        c = parseExample("seed-001-pool.conf")
        self.assertEqual(
            [(a.directive, a.address) for a in c.associations],
            [("pool", "pool.ntp.org"), ("server", "0.pool.ntp.org"),
             ("server", "1.pool.ntp.org")],
        )
        self.assertTrue(all(a.iburst for a in c.associations))
        self.assertEqual(c.tos.maxclock, 7)
        [warning] = [w for w in c.warnings if "duplicate" in w]
        self.assertIn("seed-001-pool.conf:12:", warning)

    def test_threeIdenticalServers(self) -> None:
        """
        C{server pool.ntp.org} three times is one association (seed 001:
        "once ntpd is keeping hostnames around I would expect duplicates to
        be ignored").
        """
        c = config.parseString("server pool.ntp.org\n" * 3, "t.conf")
        self.assertEqual(len(c.associations), 1)
        self.assertEqual(len([w for w in c.warnings if "duplicate" in w]), 2)


class Seed002Tests(SynchronousTestCase):
    """
    Seed 002's multicast client configuration (tested in detail in
    L{tests.test_config}) is what the daemon starts with.
    """

    def test_daemonAcceptsIt(self) -> None:
        """
        C{twistd ntp -c} accepts the file, once its keys file exists (the
        seed's site has four keys, one per multicast server).
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        keys = os.path.join(directory, "ntp.keys")
        with open(keys, "w") as f:
            f.write("".join(f"{n} MD5 server{n}secret\n" for n in range(1, 5)))
        os.chmod(keys, 0o600)
        with open(os.path.join(ETC, "seed-002-multicast-client.conf")) as f:
            text = f.read().replace("/etc/ntp/ntp.keys", keys)
        path = os.path.join(directory, "ntp.conf")
        with open(path, "w") as f:
            f.write(text)
        options = tap.Options()
        options.parseOptions(["-c", path])
        self.assertEqual(options["configuration"].trustedKeys, frozenset({1, 2, 3, 4}))

    def test_missingKeysFileRefused(self) -> None:
        """
        As written, on a host without /etc/ntp/ntp.keys, the file is refused
        with the keys file's name: the trusted keys could not be honoured.
        """
        import io
        import sys

        if os.path.exists("/etc/ntp/ntp.keys"):
            raise self.skipTest("/etc/ntp/ntp.keys exists here")  # type: ignore[misc]
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        exc = self.assertRaises(
            SystemExit,
            tap.Options().parseOptions,
            ["-c", os.path.join(ETC, "seed-002-multicast-client.conf")],
        )
        self.assertEqual(exc.code, 2)
        self.assertIn("/etc/ntp/ntp.keys", stderr.getvalue())


class Seed003Tests(SynchronousTestCase):
    """
    Seeds 003 and 004 (association management): every mode, burst and
    iburst, minpoll/maxpoll, keys, preempt, orphan.
    """

    def test_modes(self) -> None:
        """
        Each association directive parses with its options.
        """
        c = parseExample("seed-003-modes.conf")
        byAddress = {
            getattr(a, "address", a.directive): a for a in c.associations
        }
        self.assertTrue(byAddress["192.0.2.10"].iburst)
        burst = byAddress["192.0.2.11"]
        self.assertTrue(burst.burst)
        self.assertEqual((burst.minPollLog2, burst.maxPollLog2), (10, 12))
        peer = byAddress["192.0.2.20"]
        self.assertEqual((peer.directive, peer.key, peer.minPollLog2, peer.maxPollLog2),
                         ("peer", 1, 6, 6))
        self.assertEqual(byAddress["224.0.1.1"].ttl, 4)
        self.assertTrue(byAddress["239.1.1.1"].preempt)
        directives = sorted({a.directive for a in c.associations})
        self.assertEqual(
            directives,
            ["broadcast", "broadcastclient", "manycastclient", "manycastserver",
             "multicastclient", "peer", "server"],
        )
        self.assertEqual((c.tos.orphan, c.tos.orphanwait), (10, 300))
