#!/usr/bin/env python3
# -*- test-case-name: tests.interop.test_nts -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
NTS throughput: NTS-protected replies per second and NTS-KE handshakes per
second, our daemon and chronyd side by side, with the same generator in one
run.

Both servers run on this machine's loopback (free ports, a throw-away CA
and certificate made for the run), without CAP_SYS_TIME, our daemon with
C{--no-clock-adjust}, chronyd with C{-x}. For each server, one after the
other:

  - handshakes/s: NTS-KE exchanges (TCP connect, TLS 1.3 handshake, request,
    eight cookies, close) done back to back by one client for C{--duration}
    seconds;
  - replies/s: after one NTS-KE, a closed-loop generator keeps C{--window}
    NTS requests outstanding (unique identifier, one cookie, placeholders
    to keep its jar full, authenticator) and counts the replies that echo an
    outstanding identifier and whose authenticator verifies, over
    C{--duration} seconds after C{--warmup}.

The generator is Python (it seals and opens every packet): a server
measured close to its ceiling is limited by the generator; its CPU time is
reported with each row. This is not a test; run it by hand::

    python benchmarks/nts.py [--duration 5] [--window 32] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ntpservice.core.packet import MODE_CLIENT, NTPPacket  # noqa: E402
from ntpservice.nts import protocol as P  # noqa: E402
from ntpservice.nts.aead import open_, seal  # noqa: E402
from tests.interop import peers  # noqa: E402
from tests.nts.certs import makeCA, makeServer  # noqa: E402
from tests.nts.kehelper import keExchange as blockingExchange  # noqa: E402


def keExchange(port: int, ca: str) -> tuple[object, float]:
    """
    One blocking NTS-KE exchange with the server on 127.0.0.1:C{port}.

    @return: its L{ntpservice.nts.ke.KEResult} and how long it took.
    """
    started = time.perf_counter()
    result = blockingExchange(port, ca)
    return result, time.perf_counter() - started


def handshakes(port: int, ca: str, duration: float) -> float:
    """
    NTS-KE exchanges per second, back to back.
    """
    count = 0
    deadline = time.perf_counter() + duration
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        keExchange(port, ca)
        count += 1
    return count / (time.perf_counter() - started)


def replies(kePort: int, ntpPort: int, ca: str, duration: float, warmup: float,
            window: int) -> dict[str, float]:
    """
    NTS-protected replies per second with C{window} requests outstanding.
    """
    result, _ = keExchange(kePort, ca)
    cookies = list(result.cookies)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", ntpPort))
    sock.settimeout(0.2)
    header = NTPPacket(mode=MODE_CLIENT).encode()
    outstanding: dict[bytes, float] = {}
    counts = {"sent": 0, "good": 0, "bad": 0, "lost": 0}
    random = os.urandom

    def send() -> None:
        if not cookies:
            return
        cookie = cookies.pop()
        uid = random(32)
        placeholders = max(0, 8 - len(cookies) - 1 - len(outstanding))
        fields = P.field(P.EF_UNIQUE_IDENTIFIER, uid).encode()
        fields += P.field(P.EF_COOKIE, cookie).encode()
        fields += P.field(P.EF_COOKIE_PLACEHOLDER, bytes(len(cookie))).encode() * placeholders
        associated = header[:40] + random(8) + fields
        nonce = random(16)
        packet = associated + P.authenticatorField(
            nonce, seal(result.c2s, nonce, b"", associated)).encode()
        outstanding[uid] = time.perf_counter()
        sock.send(packet)
        counts["sent"] += 1

    for _ in range(min(window, len(cookies))):
        send()
    start = time.perf_counter() + warmup
    end = start + duration
    measured = {"good": 0}
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        try:
            data = sock.recv(2048)
        except socket.timeout:
            for uid, sent in list(outstanding.items()):
                if now - sent > 0.5:
                    del outstanding[uid]
                    counts["lost"] += 1
            if not cookies and not outstanding:
                result, _ = keExchange(kePort, ca)
                cookies = list(result.cookies)
            while len(outstanding) < window and cookies:
                send()
            continue
        packet = NTPPacket.decode(data)
        uid = packet.extensions[0].value if packet.extensions else b""
        if uid not in outstanding:
            counts["bad"] += 1
            continue
        index = len(packet.extensions) - 1
        nonce, ciphertext = P.parseAuthenticator(packet.extensions[index])
        plaintext = open_(result.s2c, nonce, ciphertext, P.associatedData(data, packet, index))
        del outstanding[uid]
        if plaintext is None:
            counts["bad"] += 1
        else:
            counts["good"] += 1
            if now >= start:
                measured["good"] += 1
            cookies.extend(f.value for f in P.decodeFields(plaintext)
                           if f.fieldType == P.EF_COOKIE)
        while len(outstanding) < window and cookies:
            send()
    sock.close()
    return {"replies/s": measured["good"] / duration, **counts}


def cpuSeconds(pid: int) -> float:
    """
    The CPU time (user + system) of a process and its children (chronyd's
    NTS-KE helper processes), s.
    """
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--only", default="ours,chronyd")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="nts-bench-")
    rows = []
    try:
        ca = makeCA(workdir)
        cert = makeServer(workdir, ca, ("nts.test",), ("127.0.0.1",))
        for name in options.only.split(","):
            ntpPort, kePort = peers.freePort(), peers.freePort()
            if name == "ours":
                config = (
                    "server 127.127.1.0\nfudge 127.127.1.0 stratum 1\n"
                    f"nts enable cert {cert.cert} key {cert.key}\n"
                    f"nts cookie {workdir}/nts-keys\nnts port {kePort}\n"
                )
                server = peers.startNtpservice(workdir, config, port=ntpPort,
                                               synchronised=True)
            elif name == "chronyd":
                os.makedirs(os.path.join(workdir, "chrony"), exist_ok=True)
                server = peers.startChronydServer(
                    workdir, port=ntpPort, stratum=2,
                    extraConfig=(f"ntsserverkey {cert.key}", f"ntsservercert {cert.cert}",
                                 f"ntsport {kePort}", f"ntsdumpdir {workdir}/chrony"),
                )
            else:
                raise SystemExit(f"unknown server {name!r}")
            with server:
                time.sleep(1.0)
                pid = server.pid
                assert pid is not None
                cpu = cpuSeconds(pid)
                started = time.perf_counter()
                keRate = handshakes(kePort, ca[0].cert, options.duration)
                keCPU = (cpuSeconds(pid) - cpu) / (time.perf_counter() - started)
                cpu = cpuSeconds(pid)
                started = time.perf_counter()
                ntp = replies(kePort, ntpPort, ca[0].cert, options.duration, options.warmup,
                              options.window)
                ntpCPU = (cpuSeconds(pid) - cpu) / (time.perf_counter() - started)
            rows.append({"server": name, "handshakes/s": keRate, "ke cpu %": 100 * keCPU,
                         **ntp, "ntp cpu %": 100 * ntpCPU})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if options.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'server':8} {'KE/s':>8} {'KE cpu%':>8} {'replies/s':>10} {'NTP cpu%':>9}"
              f" {'lost':>6} {'bad':>5}")
        for row in rows:
            print(f"{row['server']:8} {row['handshakes/s']:8.0f} {row['ke cpu %']:8.0f} "
                  f"{row['replies/s']:10.0f} {row['ntp cpu %']:9.0f} {row['lost']:6d} "
                  f"{row['bad']:5d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
