# -*- test-case-name: tests.interop.test_peers_harness -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{tests.interop.peers}, the real-peer harness, run against chronyd
(and NTPsec) as the server so that the harness is known to work before our
daemon is tested with it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import pytest

from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers

# A canned `tshark -T json --no-duplicate-keys` output: an NTPsec reply and a
# truncated 21-byte request that tshark flags as malformed.
REPLY_HEX = (
    "24:05:00:e9:00:00:00:00:00:00:00:00:7f:00:00:01:00:00:00:00:00:00:00:00:"
    "ee:ac:8c:4f:e8:45:90:00:ee:ac:8c:4f:e8:4c:88:e9:ee:ac:8c:4f:e8:51:4e:73"
)
TRUNCATED_HEX = ":".join(["23"] + ["00"] * 20)
TSHARK_JSON = json.dumps([
    {"_source": {"layers": {
        "frame": {"frame.time_epoch": "1795296719.907498766", "frame.number": "2"},
        "ip": {"ip.src": "127.0.0.1", "ip.dst": "127.0.0.1"},
        "udp": {"udp.srcport": "123", "udp.dstport": "59647",
                "udp.payload": REPLY_HEX},
        "ntp": {"ntp.flags": "0x24",
                "ntp.flags_tree": {"ntp.flags.li": "0", "ntp.flags.vn": "4",
                                   "ntp.flags.mode": "4"},
                "ntp.stratum": "5", "ntp.refid": "7f:00:00:01",
                "ntp.org": "Nov 21, 2026 21:31:59.907311439 UTC"}}}},
    {"_source": {"layers": {
        "frame": {"frame.time_epoch": "1795296720.054670815", "frame.number": "3"},
        "ip": {"ip.src": "127.0.0.1", "ip.dst": "127.0.0.1"},
        "udp": {"udp.srcport": "51186", "udp.dstport": "123",
                "udp.payload": TRUNCATED_HEX},
        "ntp": {"ntp.flags": "0x23",
                "ntp.flags_tree": {"ntp.flags.li": "0", "ntp.flags.vn": "4",
                                   "ntp.flags.mode": "3"},
                "ntp.stratum": "0"},
        "_ws.malformed": {
            "_ws.expert": {"_ws.malformed.expert": "",
                           "_ws.expert.message":
                               "Malformed Packet (Exception occurred)",
                           "_ws.expert.severity": "8388608",
                           "_ws.expert.group": "117440512"},
            "_ws.malformed": "Malformed Packet"}}}},
])

NTPDIG_OUTPUT = """\
org t1: eeac8c4a.5e714800 rec t2: eeac8c4a.5e7a538b
xmt t3: eeac8c4a.5e7ed549 dst t4: eeac8c4a.5e84e000
org t1: 1795296714.368916 rec t2: 1795296714.369054
xmt t3: 1795296714.369123 dst t4: 1795296714.369215
rec-org t21: 0.000138  xmt-dst t34: -0.000092
{"time":"2026-11-21T21:31:54.369123+0000","offset":0.000023,"precision":0.000115,\
"host":"127.0.0.1","ip":"127.0.0.1","stratum":5,"leap":"no-leap","adjusted":false}
"""

CHRONYD_QUERY_OUTPUT = """\
2026-11-21T21:31:28Z chronyd version 4.3 starting (+CMDMON +NTP)
2026-11-21T21:31:28Z Disabled control of system clock
2026-11-21T21:31:28Z System clock wrong by {} seconds (ignored)
2026-11-21T21:31:28Z chronyd exiting
"""


def makeWorkdir(testCase: SynchronousTestCase) -> str:
    """
    @return: a fresh directory, removed after the test.
    """
    path = tempfile.mkdtemp(prefix="ntps-test-")
    testCase.addCleanup(shutil.rmtree, path, True)
    return path


def makeNamespace(testCase: SynchronousTestCase) -> peers.NetNamespace:
    """
    @return: a new network namespace, deleted after the test (skips the
        test without root, fails it under CI=true).
    """
    namespace = peers.NetNamespace()
    namespace.create()
    testCase.addCleanup(namespace.close)
    return namespace


def started(testCase: SynchronousTestCase, daemon: peers.DaemonProcess) -> None:
    """Stop C{daemon} after the test."""
    testCase.addCleanup(daemon.stop)


class ParsingTests(SynchronousTestCase):
    """
    The parsers of peer output work on recorded output.
    """

    def test_chronydQueryOffset(self) -> None:
        """
        The offset chronyd -Q prints is returned as is, sign included:
        positive when the server is ahead.
        """
        self.assertEqual(
            peers.parseChronydQueryOutput(CHRONYD_QUERY_OUTPUT.format("1.000041")),
            1.000041,
        )
        self.assertEqual(
            peers.parseChronydQueryOutput(CHRONYD_QUERY_OUTPUT.format("-0.000002")),
            -0.000002,
        )

    def test_chronydQueryNoOffset(self) -> None:
        """
        Without the offset line, L{peers.PeerError} names what chronyd said.
        """
        error = self.assertRaises(
            peers.PeerError,
            peers.parseChronydQueryOutput,
            "x chronyd version 4.3 starting\nx Timeout reached\nx chronyd exiting\n",
        )
        self.assertIn("Timeout reached", str(error))

    def test_ntpdigOutput(self) -> None:
        """
        The JSON line is returned with t1..t4 from the debug lines (POSIX
        seconds) and the round-trip delay computed from them.
        """
        result = peers.parseNtpdigOutput(NTPDIG_OUTPUT)
        self.assertEqual(result["stratum"], 5)
        self.assertEqual(result["leap"], "no-leap")
        self.assertEqual(result["offset"], 0.000023)
        self.assertFalse(result["adjusted"])
        self.assertAlmostEqual(result["t1"], 1795296714.368916, places=5)
        self.assertAlmostEqual(result["t4"], 1795296714.369215, places=5)
        self.assertAlmostEqual(result["delay"], 0.000138 + 0.000092, places=5)

    def test_ntpdigNoResult(self) -> None:
        """
        Output without a JSON line raises L{peers.NtpdigError}.
        """
        self.assertRaises(peers.NtpdigError, peers.parseNtpdigOutput,
                          "ntpdig: no eligible servers\n")

    def test_tsharkJson(self) -> None:
        """
        Each frame becomes a L{peers.DecodedPacket}: addresses, ports,
        payload bytes, flattened NTP fields; a malformed packet has problems,
        a good one none.
        """
        reply, truncated = peers.parseTsharkJson(TSHARK_JSON)
        self.assertEqual(
            (reply.number, reply.source, reply.sourcePort, reply.destinationPort),
            (2, "127.0.0.1", 123, 59647),
        )
        self.assertEqual(reply.mode, 4)
        self.assertEqual(reply.fields["ntp.stratum"], "5")
        self.assertEqual(len(reply.payload), 48)
        self.assertEqual(reply.payload[0], 0x24)
        self.assertAlmostEqual(reply.time, 1795296719.907498766, places=5)
        self.assertEqual(reply.problems, [])
        self.assertFalse(reply.malformed)

        self.assertEqual(truncated.mode, 3)
        self.assertEqual(len(truncated.payload), 21)
        self.assertTrue(truncated.malformed)
        self.assertEqual(
            truncated.expert,
            [peers.ExpertInfo("error", "malformed",
                              "Malformed Packet (Exception occurred)")],
        )
        self.assertIn("Malformed Packet", truncated.problems)

    def test_tsharkEmpty(self) -> None:
        """
        No output means no packets.
        """
        self.assertEqual(peers.parseTsharkJson(""), [])


class AvailabilityTests(SynchronousTestCase):
    """
    Missing peers skip a test, except under CI=true, where they fail it.
    """

    def test_override(self) -> None:
        """
        C{$NTPSERVICE_<NAME>} names the program to use.
        """
        environ = {"NTPSERVICE_CHRONYD": sys.executable, "PATH": ""}
        self.assertEqual(peers.findBinary("chronyd", environ), sys.executable)
        self.assertEqual(peers.requireBinary("chronyd", environ), sys.executable)

    def test_overrideNotExecutable(self) -> None:
        """
        An override naming no executable file is not silently replaced by
        another program; the skip reason names the variable.
        """
        environ = {"NTPSERVICE_NTPD": "/nonexistent/ntpd", "PATH": "/usr/sbin"}
        self.assertIsNone(peers.findBinary("ntpd", environ))
        error = self.assertRaises(unittest.SkipTest, peers.requireBinary, "ntpd",
                                  environ)
        self.assertIn("$NTPSERVICE_NTPD", str(error))

    def test_prefix(self) -> None:
        """
        Programs are found under the peers prefix (where CI extracts chrony).
        """
        prefix = makeWorkdir(self)
        os.makedirs(os.path.join(prefix, "usr", "sbin"))
        program = os.path.join(prefix, "usr", "sbin", "chronyd")
        with open(program, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(program, 0o755)
        environ = {"NTPSERVICE_PEERS_PREFIX": prefix, "PATH": ""}
        self.assertEqual(peers.findBinary("chronyd", environ), program)

    def test_missingSkips(self) -> None:
        """
        A missing program raises L{unittest.SkipTest} with a reason.
        """
        environ = {"PATH": makeWorkdir(self), "NTPSERVICE_PEERS_PREFIX": "/nonexistent"}
        error = self.assertRaises(unittest.SkipTest, peers.requireBinary,
                                  "ntps-no-such-peer", environ)
        self.assertIn("ntps-no-such-peer not found", str(error))

    def test_missingFailsUnderCI(self) -> None:
        """
        Under C{CI=true} (any case), a missing program raises
        L{peers.PeerUnavailableError}, which is not a skip.
        """
        for value in ("true", "TRUE", "True"):
            environ = {"PATH": makeWorkdir(self), "CI": value,
                       "NTPSERVICE_PEERS_PREFIX": "/nonexistent"}
            error = self.assertRaises(peers.PeerUnavailableError,
                                      peers.requireBinary, "ntps-no-such-peer",
                                      environ)
            self.assertNotIsInstance(error, unittest.SkipTest)
            self.assertIn("CI=true", str(error))

    def test_ciOtherValues(self) -> None:
        """
        Only C{true} means CI: C{CI=1} or C{CI=false} still skips.
        """
        self.assertFalse(peers.isCI({"CI": "false"}))
        self.assertFalse(peers.isCI({"CI": "1"}))
        self.assertFalse(peers.isCI({}))
        self.assertTrue(peers.isCI({"CI": "true"}))

    def test_notRootSkips(self) -> None:
        """
        Without root, L{peers.requireRoot} skips with a reason.
        """
        self.patch(peers, "_rootProbe", None)
        self.patch(peers.os, "geteuid", lambda: 1000)
        error = self.assertRaises(unittest.SkipTest, peers.requireRoot, {})
        self.assertIn("need root", str(error))

    def test_notRootFailsUnderCI(self) -> None:
        """
        Without root and with C{CI=true}, L{peers.requireRoot} fails.
        """
        self.patch(peers, "_rootProbe", None)
        self.patch(peers.os, "geteuid", lambda: 1000)
        self.assertRaises(peers.PeerUnavailableError, peers.requireRoot,
                          {"CI": "true"})

    def test_freePort(self) -> None:
        """
        L{peers.freePort} returns a UDP port that can be bound on 127.0.0.1.
        """
        port = peers.freePort()
        self.assertTrue(1024 <= port <= 65535)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))


class DaemonProcessTests(SynchronousTestCase):
    """
    L{peers.DaemonProcess} starts programs without CAP_SYS_TIME, captures
    their output and always stops them within a bounded time.
    """

    def setUp(self) -> None:
        peers.requireBinary("setpriv")
        self.workdir = makeWorkdir(self)

    def test_outputAndStop(self) -> None:
        """
        The output is captured; L{peers.DaemonProcess.stop} ends the program
        with SIGTERM.
        """
        daemon = peers.startDaemon(
            [sys.executable, "-u", "-c",
             "import time; print('ready', flush=True); time.sleep(60)"],
            self.workdir, "sleeper")
        started(self, daemon)
        match = daemon.waitForOutput(r"^(ready)$", timeout=10)
        self.assertEqual(match.group(1), "ready")
        self.assertEqual(daemon.stop(), -signal.SIGTERM)
        self.assertFalse(daemon.running())
        self.assertIn("ready", daemon.output())

    def test_killAfterTimeout(self) -> None:
        """
        A program that ignores SIGTERM gets SIGKILL once the stop timeout
        expires.
        """
        daemon = peers.startDaemon(
            [sys.executable, "-u", "-c",
             "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
             " print('ready', flush=True); time.sleep(60)"],
            self.workdir, "stubborn")
        started(self, daemon)
        daemon.waitForOutput("ready", timeout=10)
        begin = time.monotonic()
        self.assertEqual(daemon.stop(timeout=0.5), -signal.SIGKILL)
        self.assertLess(time.monotonic() - begin, 5)

    def test_exitedEarly(self) -> None:
        """
        Waiting for output from a program that exits raises
        L{peers.PeerError} with its output.
        """
        daemon = peers.startDaemon(
            [sys.executable, "-c", "print('bad configuration'); raise SystemExit(3)"],
            self.workdir, "broken")
        started(self, daemon)
        error = self.assertRaises(peers.PeerError, daemon.waitForOutput, "never",
                                  timeout=10)
        self.assertIn("status 3", str(error))
        self.assertIn("bad configuration", str(error))

    def test_timeout(self) -> None:
        """
        Waiting for output that never comes raises L{peers.PeerError} after
        the timeout.
        """
        daemon = peers.startDaemon(
            [sys.executable, "-c", "import time; time.sleep(60)"], self.workdir, "quiet"
        )
        started(self, daemon)
        begin = time.monotonic()
        self.assertRaises(peers.PeerError, daemon.waitForOutput, "never", timeout=0.3)
        self.assertLess(time.monotonic() - begin, 5)

    def test_noSysTime(self) -> None:
        """
        A daemon has CAP_SYS_TIME neither in its effective nor in its
        bounding set, even when this process has it.
        """
        daemon = peers.startDaemon(
            [sys.executable, "-u", "-c",
             "import time; print('ready', flush=True); time.sleep(60)"],
            self.workdir, "capless")
        started(self, daemon)
        daemon.waitForOutput("ready", timeout=10)
        assert daemon.pid is not None
        masks = peers.capabilitySets(daemon.pid)
        self.assertFalse(masks["CapBnd"] & (1 << peers.CAP_SYS_TIME))
        self.assertFalse(masks["CapEff"] & (1 << peers.CAP_SYS_TIME))
        daemon.assertNoSysTime()


@pytest.mark.interop
class ChronydLoopbackTests(SynchronousTestCase):
    """
    chronyd as a server on this machine's loopback, queried with
    C{chronyd -Q}.
    """

    def setUp(self) -> None:
        self.workdir = makeWorkdir(self)
        self.port = peers.freePort()
        self.server = peers.startChronydServer(self.workdir, port=self.port,
                                               stratum=3)
        started(self, self.server)

    def test_synchronisedReplies(self) -> None:
        """
        With C{local stratum 3} chronyd answers synchronised replies at
        stratum 3 at once, without CAP_SYS_TIME.
        """
        reply = peers.waitForNtp("127.0.0.1", self.port, timeout=5,
                                 synchronised=True)
        self.assertEqual((reply.mode, reply.stratum, reply.leap), (4, 3, 0))
        self.assertLess(abs(reply.offset), 0.05)
        self.server.assertNoSysTime()

    def test_queryOffset(self) -> None:
        """
        L{peers.runChronydQuery} returns chronyd's offset to a server on the
        same clock: close to zero.
        """
        offset = peers.runChronydQuery("127.0.0.1", self.port, samples=4,
                                       pollLog2=-4)
        self.assertLess(abs(offset), 0.01)

    def test_queryDefaultPolling(self) -> None:
        """
        With chrony's default iburst spacing the query also works (two
        samples, about 2 s).
        """
        offset = peers.runChronydQuery("127.0.0.1", self.port, samples=2)
        self.assertLess(abs(offset), 0.01)

    def test_queryNoServer(self) -> None:
        """
        Without a server, chronyd gives up after C{-t} seconds and
        L{peers.PeerError} says so.
        """
        error = self.assertRaises(peers.PeerError, peers.runChronydQuery,
                                  "127.0.0.1", peers.freePort(), timeout=1)
        self.assertIn("Timeout reached", str(error))

    def test_chronyc(self) -> None:
        """
        chronyc reaches the server through its private Unix socket.
        """
        self.assertRegex(self.server.chronyc("tracking"), r"Stratum\s+: 3")


@pytest.mark.interop
@pytest.mark.netns
class NamespaceTests(SynchronousTestCase):
    """
    Network namespaces are created with loopback up and always removed,
    together with the processes left inside.
    """

    def listNamespaces(self) -> str:
        return subprocess.run([peers.requireBinary("ip"), "netns", "list"],
                              capture_output=True, text=True, timeout=30).stdout

    def test_createAndDelete(self) -> None:
        """
        Inside the context the namespace exists with C{lo} up; after it, the
        namespace is gone and a process left inside was killed.
        """
        with peers.NetNamespace() as namespace:
            self.assertTrue(namespace.name.startswith("ntps-"))
            self.assertIn(namespace.name, self.listNamespaces())
            link = namespace.run(["ip", "-o", "link", "show", "lo"]).stdout
            self.assertIn("UP", link)
            leftover = namespace.popen(["sh", "-c", "echo inside; exec sleep 600"],
                                       stdout=subprocess.PIPE)
            assert leftover.stdout is not None
            self.addCleanup(leftover.stdout.close)
            # Once it printed, it runs inside the namespace.
            self.assertEqual(leftover.stdout.readline(), b"inside\n")
            self.assertIn(leftover.pid, namespace.pids())
        self.assertNotIn(namespace.name, self.listNamespaces())
        self.assertIsNotNone(leftover.wait(10))

    def test_deletedOnError(self) -> None:
        """
        An exception inside the context still deletes the namespace.
        """
        namespace = peers.NetNamespace()

        def failInside() -> None:
            with namespace:
                raise ValueError("boom")

        self.assertRaises(ValueError, failInside)
        self.assertNotIn(namespace.name, self.listNamespaces())

    def test_network(self) -> None:
        """
        Hosts of a L{peers.Network} reach each other over IPv4 and IPv6 on
        the shared segment; leaving the network deletes every namespace.
        """
        workdir = makeWorkdir(self)
        with peers.Network(hosts=2) as network:
            client, server = network.hosts
            self.assertTrue(client.address.startswith("10.250."))
            self.assertEqual(client.address.rsplit(".", 1)[0],
                             server.address.rsplit(".", 1)[0])
            with peers.startChronydServer(workdir, netns=server):
                for address in (server.address, server.address6):
                    reply = peers.waitForNtp(address, 123, timeout=10, netns=client)
                    self.assertEqual(reply.stratum, 2)
            names = [h.name for h in network.hosts] + [network.switch.name]
        remaining = self.listNamespaces()
        for name in names:
            self.assertNotIn(name, remaining)


@pytest.mark.interop
@pytest.mark.netns
class NtpdigAndCaptureTests(SynchronousTestCase):
    """
    ntpdig and tshark inside a namespace against chronyd on port 123.
    """

    def setUp(self) -> None:
        self.workdir = makeWorkdir(self)
        self.namespace = makeNamespace(self)
        self.server = peers.startChronydServer(self.workdir, netns=self.namespace)
        started(self, self.server)

    def test_ntpdig(self) -> None:
        """
        L{peers.runNtpdig} returns one result per query with chronyd's
        stratum, no leap warning, a small offset and a small positive delay,
        and never adjusts the clock.
        """
        results = peers.runNtpdig("127.0.0.1", count=2, netns=self.namespace)
        self.assertEqual(len(results), 2)
        for result in results:
            self.assertEqual(result["stratum"], 2)
            self.assertEqual(result["leap"], "no-leap")
            self.assertFalse(result["adjusted"])
            self.assertLess(abs(result["offset"]), 0.05)
            self.assertTrue(0 <= result["delay"] < 0.05, result)

    def test_ntpdigRefusesToSetTheClock(self) -> None:
        """
        Options that would make ntpdig set the clock are refused.
        """
        self.assertRaises(ValueError, peers.runNtpdig, "127.0.0.1",
                          netns=self.namespace, extraArgs=("-S",))

    def test_captureAndDecode(self) -> None:
        """
        A capture started before ntpdig holds its request and chronyd's
        reply; tshark decodes both as NTP without any warning, and the
        reply's origin timestamp is the request's transmit timestamp.
        """
        with peers.capture(self.workdir, 123, netns=self.namespace) as running:
            peers.runNtpdig("127.0.0.1", netns=self.namespace)
        packets = peers.tsharkDecode(running.path, 123)
        self.assertEqual([p.mode for p in packets], [3, 4])
        request, reply = packets
        for packet in packets:
            self.assertEqual(packet.problems, [])
            self.assertEqual(len(packet.payload), 48)
        self.assertEqual(reply.sourcePort, 123)
        self.assertEqual(reply.destinationPort, request.sourcePort)
        self.assertEqual(reply.fields["ntp.stratum"], "2")
        self.assertEqual(reply.payload[24:32], request.payload[40:48])

    def test_malformedIsReported(self) -> None:
        """
        A truncated NTP packet in the capture comes back with problems.
        """
        script = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
                  " s.sendto(b'\\x23' + bytes(20), ('127.0.0.1', 123))")
        with peers.capture(self.workdir, 123, netns=self.namespace) as running:
            self.namespace.run([sys.executable, "-c", script])
        [packet] = peers.tsharkDecode(running.path, 123)
        self.assertTrue(packet.malformed)
        self.assertIn("Malformed Packet", packet.problems)


@pytest.mark.interop
@pytest.mark.netns
class NtpsecTests(SynchronousTestCase):
    """
    NTPsec's ntpd as a stand-alone server in a namespace.
    """

    def setUp(self) -> None:
        self.workdir = makeWorkdir(self)
        self.namespace = makeNamespace(self)
        self.server = peers.startNtpsecServer(self.workdir, self.namespace,
                                              orphanStratum=6)
        started(self, self.server)

    def test_serves(self) -> None:
        """
        It serves synchronised time at its orphan stratum to ntpdig and to
        chronyd, without CAP_SYS_TIME.
        """
        [result] = peers.runNtpdig("127.0.0.1", netns=self.namespace)
        self.assertEqual(result["stratum"], 6)
        offset = peers.runChronydQuery("127.0.0.1", 123, netns=self.namespace,
                                       pollLog2=-4)
        self.assertLess(abs(offset), 0.01)
        self.server.assertNoSysTime()

    def test_noRateLimit(self) -> None:
        """
        The default access lines lift NTPsec's built-in C{limited}: a burst
        of 50 queries from one address is answered in full (with C{restrict
        default} alone it stops answering after about ten).
        """
        script = (
            "import sys; sys.path.insert(0, sys.argv[1]); import peers;"
            " print(sum(peers.queryNtp('127.0.0.1', 123, 1.0) is not None"
            " for _ in range(50)))"
        )
        out = self.namespace.run([sys.executable, "-c", script,
                                  os.path.dirname(peers.__file__)]).stdout
        self.assertEqual(out.strip(), "50")

    def test_ntpq(self) -> None:
        """
        ntpq can read its system variables (C{noquery} is lifted too).
        """
        self.assertIn("stratum=6", self.server.ntpq("-c", "rv"))
