# -*- test-case-name: tests.interop.test_fastpath -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The compiled server fast path in a running daemon: two native threads
with their own SO_REUSEPORT sockets, steered by source address, keep the
rate limit exact per address; C{mrulist} merges their shards.

Every daemon here runs with the no-adjust clock driver and without
CAP_SYS_TIME.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
import time

import pytest

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from ntpservice.net import fastpath
from tests.interop import peers

pytestmark = pytest.mark.interop

CONFIG = """\
server 127.127.1.0
fudge 127.127.1.0 stratum 4
restrict default limited kod
restrict 127.0.0.1
discard leak 0
"""
"""
Rate limiting with kisses for everyone but the harness's own probes; no
C{discard leak}, so that the counts are exact (ntpd's rule).
"""

ADDRESSES = [f"127.0.0.{i}" for i in range(2, 10)]
PORTS_PER_ADDRESS = 8
REQUESTS_PER_PORT = 3


def _request(tag: int) -> bytes:
    return bytes([0x23]) + bytes(39) + struct.pack("!Q", tag)


def _requireExtension() -> None:
    module, why = fastpath.loadExtension()
    if module is None:
        if peers.isCI():
            raise AssertionError(f"the fast path must be built in CI: {why}")
        raise SkipTest(why)
    if fastpath.forcedOff():
        raise SkipTest(f"{fastpath.ENVIRONMENT} forces the Python path")


class FloodTests(SynchronousTestCase):
    """
    A flood from several addresses, each from many source ports, against
    two fast-path threads.
    """

    def setUp(self) -> None:
        _requireExtension()
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.port = peers.freePort()
        self.daemon = peers.startNtpservice(
            self.workdir,
            CONFIG,
            port=self.port,
            extraArgs=("--fast-path", "on", "--fast-path-threads", "2"),
            synchronised=True,
        )
        self.addCleanup(self.daemon.stop)

    def test_exactPerAddress(self) -> None:
        """
        Each address gets exactly one reply and one RATE kiss for its whole
        burst, whichever of its source ports and whichever thread: the
        leaky bucket is per address, as with one thread. C{ntpq mrulist}
        lists every address once, with all its packets counted.
        """
        self.assertIn("Server fast path on: 2 native threads", self.daemon.output())
        sockets = []
        try:
            for address in ADDRESSES:
                for _ in range(PORTS_PER_ADDRESS):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.bind((address, 0))
                    s.setblocking(False)
                    sockets.append((address, s))
            tag = 1
            for _round in range(REQUESTS_PER_PORT):
                for address, s in sockets:
                    s.sendto(_request(tag), ("127.0.0.1", self.port))
                    tag += 1
            replies: dict[str, list[bytes]] = {a: [] for a in ADDRESSES}
            deadline = time.monotonic() + 3.0
            bySocket = {s.fileno(): (a, s) for a, s in sockets}
            while time.monotonic() < deadline:
                readable, _, _ = select.select(list(bySocket), [], [], 0.2)
                for fd in readable:
                    address, s = bySocket[fd]
                    while True:
                        try:
                            replies[address].append(s.recv(100))
                        except BlockingIOError:
                            break
        finally:
            for _, s in sockets:
                s.close()
        for address, got in replies.items():
            normal = [r for r in got if r[1] != 0]
            kisses = [r for r in got if r[1] == 0 and r[12:16] == b"RATE"]
            self.assertEqual((len(normal), len(kisses), len(got)), (1, 1, 2), address)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (peers.REPOSITORY_ROOT, env.get("PYTHONPATH", "")) if p
        )
        result = peers.runCommand(
            [sys.executable, "-m", "ntpservice.control.ntpq", "-n", "-P", str(self.port),
             "-c", "mrulist", "127.0.0.1"],
            check=False, env=env,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        rows = [line.split() for line in result.stdout.splitlines()
                if line.split() and line.split()[-1] in ADDRESSES]
        self.assertEqual(sorted(row[-1] for row in rows), sorted(ADDRESSES), result.stdout)
        total = PORTS_PER_ADDRESS * REQUESTS_PER_PORT
        for row in rows:
            self.assertIn(str(total), row, result.stdout)


class SteeringTests(SynchronousTestCase):
    """
    The classic BPF program keeps one source address on one socket of a
    SO_REUSEPORT group, whatever its source port.
    """

    def test_bySourceAddress(self) -> None:
        """
        Datagrams from 127.0.0.2 (even) all reach the first socket and
        those from 127.0.0.3 (odd) the second, from 16 ports each; without
        the program the kernel's hash would spread each over both.
        """
        receivers = []
        try:
            for _ in range(2):
                r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                r.setsockopt(socket.SOL_SOCKET, fastpath.SO_REUSEPORT, 1)
                r.bind(("127.0.0.1", receivers[0].getsockname()[1] if receivers else 0))
                r.setblocking(False)
                receivers.append(r)
            fastpath._attachProgram(receivers[0], 2, socket.AF_INET)
            port = receivers[0].getsockname()[1]
            senders = []
            for address in ("127.0.0.2", "127.0.0.3"):
                for _ in range(16):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.bind((address, 0))
                    s.sendto(address.encode(), ("127.0.0.1", port))
                    senders.append(s)
            time.sleep(0.2)
            seen: list[set[bytes]] = [set(), set()]
            counts = [0, 0]
            for i, r in enumerate(receivers):
                while True:
                    try:
                        seen[i].add(r.recv(100))
                        counts[i] += 1
                    except BlockingIOError:
                        break
            for s in senders:
                s.close()
        finally:
            for r in receivers:
                r.close()
        self.assertEqual(seen, [{b"127.0.0.2"}, {b"127.0.0.3"}])
        self.assertEqual(counts, [16, 16])


class ServingTests(SynchronousTestCase):
    """
    The fast path answers IPv4 and IPv6 clients, and its counters reach the
    metrics endpoint.
    """

    def test_countersInMetrics(self) -> None:
        """
        Ten requests over IPv4 and ten over IPv6 are answered with
        synchronized mode 4 replies carrying each request's transmit
        timestamp as origin; the metrics count them under
        C{fastpath.replies} and in the packets sent and received.
        """
        _requireExtension()
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        port = peers.freePort()
        metricsPort = peers.freePort()
        with peers.startNtpservice(
            workdir, CONFIG + "restrict ::1\n", port=port, synchronised=True,
            extraArgs=("--fast-path", "on", "--metrics-port", str(metricsPort)),
        ) as daemon:
            self.assertIn("Server fast path on: 1 native thread", daemon.output())
            for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                s = socket.socket(family, socket.SOCK_DGRAM)
                s.settimeout(5)
                try:
                    for tag in range(10):
                        request = _request(1000 + tag)
                        s.sendto(request, (host, port))
                        reply = s.recv(100)
                        self.assertEqual((len(reply), reply[0] & 7, reply[1]), (48, 4, 5))
                        self.assertEqual(reply[24:32], request[40:48])
                finally:
                    s.close()
            import urllib.request

            with urllib.request.urlopen(
                f"http://127.0.0.1:{metricsPort}/metrics", timeout=10
            ) as response:
                text = response.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        self.assertGreaterEqual(
            values['ntpservice_other_events_total{name="fastpath.replies"}'], 20, text
        )
        self.assertGreaterEqual(values["ntpservice_packets_sent_total"], 20)
        self.assertGreaterEqual(values["ntpservice_packets_received_total"], 20)


class FallbackTests(SynchronousTestCase):
    """
    Without the extension (a machine that had no compiler), the daemon
    serves from Python and says so once.
    """

    def test_servesWithoutExtension(self) -> None:
        """
        With an C{_ntpservice_fastpath} that cannot be imported first on the
        daemon's path, the daemon answers, and its log says once that the fast path
        is not available.
        """
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        # The daemon runs "python -c ..." in its working directory, which
        # comes first on its path: this module hides the built one.
        with open(os.path.join(workdir, "_ntpservice_fastpath.py"), "w") as f:
            f.write("raise ImportError('built without a compiler')\n")
        port = peers.freePort()
        with peers.startNtpservice(workdir, CONFIG, port=port, synchronised=True) as daemon:
            reply = peers.queryNtp("127.0.0.1", port)
            output = daemon.output()
        self.assertIsNotNone(reply)
        if not fastpath.forcedOff():
            self.assertEqual(output.count("Server fast path not available"), 1, output)
            self.assertIn("every request is answered in Python", output)
        self.assertNotIn("Server fast path on", output)
