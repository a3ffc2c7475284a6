# -*- test-case-name: tests.attacks.test_victim_ratelimited -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
What the rate-limiting attack tests (L{tests.attacks.test_victim_ratelimited},
L{tests.attacks.test_priming_the_pump}) share: the attacker's spoofed
request, a spoofing process in the attacker's namespace, a capture read
back as NTP headers, and the victim's exchanges picked out of it.

The attacker's requests carry a transmit timestamp that starts with
L{ATTACKER_MARK}, so that in a capture they (and every answer to them,
whose origin timestamp echoes it) are told from the victim's own.

Run as a module in the attacker's namespace, it floods smoothly from
several forged sources at once (L{tests.attacks.spoof} sends from one
source at a fixed interval, or from many in bursts)::

    python -m tests.attacks.wire --sources A,B --dst S --dport 123 \\
        --rate 10 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Sequence

from tests.attacks import spoof
from tests.interop import peers

ATTACKER_MARK = b"ATTACKER"
"""The transmit timestamp of every spoofed request."""

MODE_CLIENT = 3
MODE_SERVER = 4

_HEADER = struct.Struct("!BBbbII4s8s8s8s8s")


FLAKE_PROBABILITY = 1e-4
"""
The chance that a count drawn by the leak falls outside the bounds
L{binomialBounds} gives: the tests assert shares within them.
"""


def binomialBounds(trials: int, share: float,
                   probability: float = FLAKE_PROBABILITY) -> tuple[int, int]:
    """
    Bounds on how many of C{trials} independent events of probability
    C{share} happen: fewer than the first, or more than the second, each
    with probability below C{probability}.
    """
    pmf = [math.comb(trials, k) * share**k * (1 - share) ** (trials - k)
           for k in range(trials + 1)]
    low, tail = 0, 0.0
    for k in range(trials + 1):
        tail += pmf[k]
        if tail >= probability:
            low = k
            break
    high, tail = trials, 0.0
    for k in range(trials, -1, -1):
        tail += pmf[k]
        if tail >= probability:
            high = k
            break
    return low, high


def spoofedRequest(pollLog2: int = 17) -> bytes:
    """
    The attacker's client request: NTPv4 mode 3, the poll field C{pollLog2}
    (17 by default: were the server to copy it into a kiss to the victim,
    the victim would back off for 36 hours), transmit timestamp
    L{ATTACKER_MARK}.
    """
    return (bytes([(4 << 3) | MODE_CLIENT, 0, pollLog2 & 0xFF]) + bytes(37)
            + ATTACKER_MARK)


@dataclass(frozen=True)
class Header:
    """
    An NTP packet seen on the wire.

    @ivar time: when it was captured (POSIX seconds).
    @ivar source: its source address.
    @ivar destination: its destination address.
    @ivar sourcePort: its UDP source port.
    @ivar destinationPort: its UDP destination port.
    """

    time: float
    source: str
    destination: str
    sourcePort: int
    destinationPort: int
    leap: int
    version: int
    mode: int
    stratum: int
    poll: int
    refid: bytes
    org: bytes
    xmt: bytes

    @property
    def isSpoofed(self) -> bool:
        """A spoofed request, or an answer to one."""
        return self.xmt == ATTACKER_MARK or self.org == ATTACKER_MARK

    @property
    def isRateKiss(self) -> bool:
        """A RATE kiss-o'-death."""
        return self.stratum == 0 and self.refid == b"RATE"

    @property
    def isTime(self) -> bool:
        """A server reply carrying time (not a kiss)."""
        return self.mode == MODE_SERVER and self.stratum != 0


def readCapture(path: str) -> list[Header]:
    """
    The NTP packets of a capture file, read with C{tshark -T fields}
    (cheaper than decoding every field when there are thousands).
    """
    tshark = peers.requireBinary("tshark")
    result = peers.runCommand(
        [tshark, "-n", "-r", path, "-T", "fields", "-E", "separator=|",
         "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst",
         "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.payload"],
        timeout=120,
    )
    headers = []
    for line in result.stdout.splitlines():
        parts = line.split("|")
        if len(parts) != 6 or not parts[5]:
            continue
        payload = bytes.fromhex(parts[5].replace(":", ""))
        if len(payload) < _HEADER.size:
            continue
        (flags, stratum, poll, _precision, _delay, _disp, refid, _ref, org, _rec,
         xmt) = _HEADER.unpack_from(payload)
        headers.append(Header(
            float(parts[0]), parts[1], parts[2], int(parts[3]), int(parts[4]),
            flags >> 6, (flags >> 3) & 7, flags & 7, stratum, poll, refid, org, xmt,
        ))
    return headers


@dataclass
class Exchanges:
    """
    A client's requests to a server and what answered them, from a capture.

    @ivar requests: the client's own requests (spoofed ones excluded).
    @ivar answered: the requests answered with time.
    @ivar kisses: the RATE kisses answering them.
    @ivar gaps: when several clients' exchanges are put together, the
        longest interval between two requests of each.
    """

    requests: list[Header] = field(default_factory=list)
    answered: list[Header] = field(default_factory=list)
    kisses: list[Header] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """The share of the requests answered with time."""
        return len(self.answered) / len(self.requests) if self.requests else 0.0

    @property
    def longestGap(self) -> float:
        """
        The longest interval between two requests, seconds (of one client;
        the largest of L{gaps} if some were put together).
        """
        times = [r.time for r in self.requests]
        return max([b - a for a, b in zip(times, times[1:])] + self.gaps, default=0.0)

    def kissBound(self) -> list[tuple[int, int]]:
        """(kiss poll, poll of the request it answered) for every kiss."""
        byXmt = {r.xmt: r for r in self.requests}
        return [(k.poll, byXmt[k.org].poll) for k in self.kisses]

    def summary(self) -> str:
        """The figures, for assertion messages and the report."""
        return (f"{len(self.requests)} requests, {len(self.answered)} answered with "
                f"time ({self.fraction:.0%}), {len(self.kisses)} RATE kisses, "
                f"longest interval between requests {self.longestGap:.1f} s")


def exchanges(headers: list[Header], client: str, server: str,
              serverPort: int = 123) -> Exchanges:
    """
    The exchanges of C{client} with C{server} in a capture, the spoofed
    requests (and the answers to them) left out.
    """
    result = Exchanges()
    requests = {}
    for h in headers:
        if h.isSpoofed:
            continue
        if (h.source == client and h.destination == server
                and h.destinationPort == serverPort and h.mode == MODE_CLIENT):
            result.requests.append(h)
            requests[h.xmt] = h
    for h in headers:
        if (h.source == server and h.destination == client
                and h.sourcePort == serverPort and h.org in requests
                and not h.isSpoofed):
            if h.isRateKiss:
                result.kisses.append(h)
            elif h.isTime:
                result.answered.append(h)
    return result


def startSpoofer(attacker: peers.NetNamespace, victim: str, server: str,
                 rate: float, seconds: float, workdir: str, name: str,
                 victimPort: int = 123, serverPort: int = 123
                 ) -> subprocess.Popen[str]:
    """
    Start sending L{spoofedRequest}s with C{victim}'s address and port to
    C{server}, C{rate} a second for C{seconds}, from C{attacker}'s
    namespace (L{tests.attacks.spoof}); its JSON summary goes to its
    standard output.
    """
    count = max(1, int(rate * seconds))
    argv = spoof.moduleCommand(
        "tests.attacks.spoof", "--src", victim, "--sport", str(victimPort),
        "--dst", server, "--dport", str(serverPort),
        "--payload", spoofedRequest().hex(), "--count", str(count),
        "--interval", f"{1.0 / rate:.6f}",
    )
    errors = open(os.path.join(workdir, f"{name}.err"), "w")
    try:
        return attacker.popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True)
    finally:
        errors.close()


def spooferSent(process: subprocess.Popen[str], timeout: float) -> int:
    """Wait for a spoofer; return how many requests it sent."""
    out, _ = process.communicate(timeout=timeout)
    lines = [line for line in (out or "").splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise AssertionError(f"the spoofer failed ({process.returncode}): {out!r}")
    return int(json.loads(lines[-1])["sent"])


def startFlooder(attacker: peers.NetNamespace, victims: Sequence[str], server: str,
                 serverPort: int, rate: float, seconds: float, workdir: str,
                 name: str) -> subprocess.Popen[str]:
    """
    Start sending L{spoofedRequest}s to C{server}, C{rate} a second from
    each address of C{victims} (port 123), evenly spaced, for C{seconds},
    from C{attacker}'s namespace (this module's L{main}); wait for it with
    L{spooferSent}.
    """
    argv = spoof.moduleCommand(
        "tests.attacks.wire", "--sources", ",".join(victims), "--dst", server,
        "--dport", str(serverPort), "--rate", f"{rate:g}", "--seconds", f"{seconds:g}",
    )
    errors = open(os.path.join(workdir, f"{name}.err"), "w")
    try:
        return attacker.popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True)
    finally:
        errors.close()


def flood(sources: Sequence[str], dst: str, dport: int, rate: float,
          seconds: float) -> dict[str, float]:
    """
    Send L{spoofedRequest}s to C{dst}, C{rate} a second from each of
    C{sources} in turn, on a fixed schedule (a late packet is sent at once,
    the schedule is kept).

    @return: C{{"sent": n, "seconds": s, "stall": longest pause}}.
    """
    packets = [spoof.udpPacket(src, 123, dst, dport, spoofedRequest(), ident=i + 1)
               for i, src in enumerate(sources)]
    interval = 1.0 / (rate * len(sources))
    total = max(1, int(rate * len(sources) * seconds))
    sock = spoof.rawSocket()
    start = last = time.monotonic()
    stall = 0.0
    try:
        for sent in range(total):
            due = start + sent * interval
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
                now = time.monotonic()
            try:
                sock.sendto(packets[sent % len(packets)], (dst, 0))
            except OSError:
                pass
            stall = max(stall, now - last)
            last = now
    finally:
        sock.close()
    return {"sent": total, "seconds": time.monotonic() - start, "stall": stall}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.attacks.wire",
                                     description="flood spoofed NTP requests")
    parser.add_argument("--sources", required=True, help="forged sources, comma-separated")
    parser.add_argument("--dst", required=True)
    parser.add_argument("--dport", type=int, default=123)
    parser.add_argument("--rate", type=float, required=True,
                        help="requests a second from each source")
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    result = flood(args.sources.split(","), args.dst, args.dport, args.rate, args.seconds)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
