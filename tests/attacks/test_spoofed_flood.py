# -*- test-case-name: tests.attacks.test_spoofed_flood -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A flood of client requests from a million spoofed source addresses (issue
17, item 3): the daemon's memory stays within its configured MRU bounds,
and a polite client keeps getting time.

The attack: every datagram from a fresh forged source address makes a
daemon that keeps state per client (ntpd's monitoring list, the MRU list
behind C{restrict limited} and C{ntpq mrulist}) allocate one more entry.
Unbounded, that is a memory exhaustion attack (the reason ntpd bounds its
list with C{mru maxdepth}/C{maxmem}, and chrony its client log with
C{clientloglimit}); bounded badly, the flood evicts the state of genuine
clients or makes the daemon refuse them. See Malhotra et al., "Attacking
the Network Time Protocol" (NDSS 2016) on the MRU list and rate limiting,
and CVE-2013-5211 for the monitoring list as an attack surface.

The test: three namespaces on one Ethernet segment (L{peers.Network}): our
daemon (C{mru maxdepth} or C{maxmem} configured), an attacker that sends
a million mode 3 requests, each from the next address of 100.64.0.0/10,
with C{flood.c} (a raw socket and C{sendmmsg}: Python's
C{tests.attacks.spoof --flood} sends about 15,000 a second on this kind
of machine, too slow for a million in the time a test may take), and a
polite client that asks once a second. The daemon's replies to the forged
addresses go out through a default route to the attacker, which drops
them. Measured, and asserted:

  - the MRU list never held more than its bound (C{mru_deepest}, read
    with NTPsec's C{ntpq});
  - the daemon's peak resident memory (C{VmHWM}) grew by at most the
    configured bound (C{mru_maxmem}) plus a fixed margin (L{MARGIN}) over
    its resident memory before the flood (a leak of a few bytes per
    datagram would show: the daemon receives most of the million);
  - the polite client got answers during the flood (at least
    L{MIN_ANSWERED} of its requests), and all after it.

Both paths are flooded: the compiled fast path (the default) with a
million addresses and every packet in Python (C{--fast-path off}) with
half a million.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.net.fastpath import loadExtension
from tests.interop import peers

pytestmark = [pytest.mark.interop, pytest.mark.netns, pytest.mark.heavy]

FLOOD_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flood.c")

DATAGRAMS = 1_000_000
"""Spoofed requests, one per source address (the fast path's flood; the
Python path's is half of it at half the rate: it reads about 16,000 a
second here, and a test may not take a minute)."""

RATE = 50_000
"""Datagrams per second the attacker sends at most (the flood lasts 20 s)."""

FIRST_SOURCE = "100.64.0.1"
"""The first forged address (RFC 6598 shared space: nobody's here)."""

MARGIN = 8 * 1024 * 1024
"""Bytes of resident memory the daemon may grow by beyond its MRU bound
(socket buffers, the allocator's slack, the replies in flight)."""

MIN_ANSWERED = 0.1
"""The least fraction of the polite client's requests answered during the
flood. The daemon's socket buffer overflows when the attacker sends faster
than it reads: the kernel drops what does not fit, polite requests
included, so the fraction depends on the CPU left to the daemon (measured:
0.95 on the fast path, 0.45 to 0.8 on the Python path; a client polling
every 64 s with a few losses keeps its time)."""

POLITE = r"""
import json, socket, struct, sys, time
host, seconds = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.9)
print(json.dumps({"ready": True}), flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    start = time.monotonic()
    token = struct.pack("!Q", int(time.time() * 2**32))
    s.sendto(b"\x23" + bytes(39) + token, (host, 123))
    answered = False
    while not answered:
        try:
            data, _ = s.recvfrom(1024)
        except socket.timeout:
            break
        answered = len(data) >= 48 and data[24:32] == token
    print(json.dumps({"at": start, "answered": answered}), flush=True)
    time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
"""
"""A client asking once a second for C{argv[2]} seconds: one JSON line per
request, when it was sent (C{CLOCK_MONOTONIC}, shared by every namespace)
and whether the reply came (its origin timestamp matching)."""

MRU_VARIABLES = ("mru_depth", "mru_deepest", "mru_maxdepth", "mru_maxmem", "mru_none",
                 "mru_recyclefull", "ss_received")


def memory(pid: int) -> dict[str, int]:
    """
    @return: C{VmRSS} and C{VmHWM} of process C{pid}, in bytes.
    """
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(value.split()[0]) * 1024
    return values


class SpoofedFloodTests(SynchronousTestCase):
    """
    A million requests from spoofed addresses leave the daemon's memory
    within its MRU bounds, and a polite client answered.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        peers.requireBinary("ntpq")
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            peers.unavailable("no C compiler for flood.c")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.flooder = os.path.join(self.workdir, "flood")
        subprocess.run([compiler, "-O2", "-o", self.flooder, FLOOD_SOURCE], check=True,
                       timeout=120)
        self.network = peers.Network(hosts=3)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.server, self.attacker, self.client = self.network.hosts
        # Replies to the forged addresses go to the attacker, which drops them.
        self.server.run(["ip", "route", "add", "default", "via", self.attacker.address])

    def mruVariables(self) -> dict[str, int]:
        """The MRU list's variables and the received count, read with ntpq."""
        result = self.server.run(
            [peers.requireBinary("ntpq"), "-c", "rv 0 " + ",".join(MRU_VARIABLES),
             "127.0.0.1"], timeout=60)
        values = {name: value for name, value in re.findall(r"(\w+)=(\d+)", result.stdout)
                  if name in MRU_VARIABLES}
        self.assertEqual(set(values), set(MRU_VARIABLES), result.stdout)
        return {name: int(value) for name, value in values.items()}

    def flood(self, mruLine: str, fastPath: str, datagrams: int, rate: int) -> None:
        """
        Flood the daemon configured with C{mruLine} with C{datagrams} at
        C{rate} a second, report and assert.
        """
        daemon = peers.startNtpservice(
            self.workdir,
            f"driftfile {self.workdir}/ntp.drift\n{mruLine}\n",
            netns=self.server, host=self.server.address,
            extraArgs=["--fast-path", fastPath], timeout=60,
        )
        self.addCleanup(daemon.stop)
        assert daemon.pid is not None
        before = self.mruVariables()
        memoryBefore = memory(daemon.pid)
        seconds = datagrams / rate
        polite = self.client.popen(
            [sys.executable, "-c", POLITE, self.server.address, str(seconds + 5)],
            stdout=subprocess.PIPE, text=True,
        )
        self.addCleanup(polite.kill)
        assert polite.stdout is not None
        self.assertEqual(json.loads(polite.stdout.readline()), {"ready": True})
        start = time.monotonic()
        out = self.attacker.run(
            [self.flooder, self.server.address, "123", FIRST_SOURCE, str(datagrams),
             str(rate)], timeout=seconds * 10,
        ).stdout
        end = time.monotonic()
        sent = json.loads(out)
        answers = [json.loads(line) for line in polite.communicate(timeout=seconds + 60)[0]
                   .splitlines()]
        after = self.mruVariables()
        memoryAfter = memory(daemon.pid)

        during = [a["answered"] for a in answers if start <= a["at"] < end - 1]
        later = [a["answered"] for a in answers if a["at"] >= end + 1]
        bound = after["mru_maxmem"] * 1024
        figures = {
            "path": fastPath,
            "mru": mruLine,
            "sent": sent["sent"],
            "sent_per_second": round(sent["sent"] / sent["seconds"]),
            "received": after["ss_received"] - before["ss_received"],
            "received_per_second": round(
                (after["ss_received"] - before["ss_received"]) / sent["seconds"]),
            "mru_depth": after["mru_depth"],
            "mru_deepest": after["mru_deepest"],
            "mru_maxdepth": after["mru_maxdepth"],
            "mru_not_recorded": after["mru_none"],
            "mru_recycled_full": after["mru_recyclefull"],
            "rss_before_kib": memoryBefore["VmRSS"] // 1024,
            "rss_after_kib": memoryAfter["VmRSS"] // 1024,
            "peak_growth_kib": (memoryAfter["VmHWM"] - memoryBefore["VmRSS"]) // 1024,
            "mru_maxmem_kib": after["mru_maxmem"],
            "polite_answered_during": f"{sum(during)}/{len(during)}",
            "polite_answered_after": f"{sum(later)}/{len(later)}",
        }
        sys.stderr.write(f"spoofed flood: {json.dumps(figures)}\n")
        self.assertEqual(sent["sent"], datagrams)
        # The flood reached the daemon: it filled the list, and then some.
        self.assertEqual(after["mru_depth"], after["mru_maxdepth"], figures)
        self.assertGreater(figures["received"], 10 * after["mru_maxdepth"], figures)
        # The list never held more than its bound ...
        self.assertLessEqual(after["mru_deepest"], after["mru_maxdepth"], figures)
        # ... and memory stayed within it, plus the margin.
        self.assertLessEqual(memoryAfter["VmHWM"] - memoryBefore["VmRSS"], bound + MARGIN,
                             figures)
        # The polite client was answered during the flood, and after it.
        self.assertGreater(len(during), seconds / 2, figures)
        self.assertGreaterEqual(sum(during), MIN_ANSWERED * len(during), figures)
        self.assertTrue(later and all(later), figures)
        self.assertTrue(daemon.running(), daemon.output())

    def test_fastPath(self) -> None:
        """
        With the compiled fast path (the default) and C{mru maxdepth 5000},
        the list stays at 5000 entries at most, the daemon's memory within
        the bound plus the margin, and the polite client answered.
        """
        module, why = loadExtension()
        if module is None:
            peers.unavailable(f"the fast path: {why}")
        self.flood("mru maxdepth 5000 maxage 3600", "on", DATAGRAMS, RATE)

    def test_pythonPath(self) -> None:
        """
        With every packet in Python, half a million spoofed addresses
        and C{mru maxmem 2048} (KiB), the list
        stays within the entries that fit in 2 MiB, the daemon's memory
        within the bound plus the margin, and the polite client answered.
        """
        self.flood("mru maxmem 2048 maxage 3600", "off", DATAGRAMS // 2, RATE // 2)
