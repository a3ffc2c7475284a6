# -*- test-case-name: tests.interop.test_access -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Access control judged with real packets on real sockets: C{restrict},
C{discard} and C{mru} in the running daemon.

  - L{FloodTests}: requests from tens of thousands of source addresses
    (spoofed inside a namespace of our own, where all of 127.0.0.0/8 is
    local) leave the daemon's memory bounded, the MRU list at C{mru
    maxdepth}, and a polite client answered before, during and after.
  - L{NtpsecRateKissTests}: NTPsec's ntpd, as a client of ours under
    C{restrict default kod limited}, gets a RATE kiss-o'-death for its
    C{iburst} and backs off; tshark checks the packets.
  - L{RestrictFlagTests}: C{ignore}, C{noserve}, C{limited}, C{kod
    limited}, C{version} and an unrestricted address, one source address
    each, on loopback.

That requests spoofed with a server's address never cost our daemon that
server's replies is in
L{tests.attacks.test_victim_ratelimited.UpstreamVictimTests}.

@see: RFC 5905 section 7.4 (kiss-o'-death); ntpd's C{ntp_monitor()} and
    C{receive()}; L{ntpservice.core.access}, L{ntpservice.core.mru}.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import pytest

from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers

pytestmark = pytest.mark.interop

LOCAL = "server 127.127.1.0\nfudge 127.127.1.0 stratum 1\n"
"""The LOCAL clock: our daemon serves synchronized time at stratum 2."""

SERVED_STRATUM = 2
"""The stratum of our replies with L{LOCAL}."""

IP_PKTINFO = 8
"""C{IP_PKTINFO} (linux/in.h); Python 3.11's C{socket} lacks it."""

CLONE_NEWNET = 0x40000000
"""C{CLONE_NEWNET} (linux/sched.h), for C{setns(2)}."""

LEAP_NOTINSYNC = 3
"""The leap indicator of an unsynchronized server, and of every kiss."""

MODE_CLIENT = 3
MODE_SERVER = 4

_HEADER = struct.Struct("!BBbbII4s8s8s8s8s")
"""The 48-byte NTP header (RFC 5905 section 7.3), timestamps as raw bytes."""


# --------------------------------------------------------------------------
# A tiny NTP client


def buildRequest(version: int = 4, pollLog2: int = 2) -> tuple[bytes, bytes]:
    """
    A 48-byte client (mode 3) request with a random transmit timestamp, as
    chrony sends it (only its echo in the reply's origin timestamp counts).

    @param version: the NTP version number (1-7).
    @param pollLog2: the poll field, log2 seconds.
    @return: C{(request, transmitTimestamp)}, the timestamp as its 8 bytes.
    """
    xmt = secrets.token_bytes(8)
    request = bytes([(version << 3) | MODE_CLIENT, 0, pollLog2]) + bytes(37) + xmt
    return request, xmt


@dataclass(frozen=True)
class Reply:
    """
    A reply as it came off the wire.

    @ivar leap: the leap indicator (3: unsynchronized, and every kiss).
    @ivar version: the version number.
    @ivar mode: the mode (4: server).
    @ivar stratum: the stratum (0: kiss-o'-death).
    @ivar pollLog2: the poll field, log2 seconds.
    @ivar refid: the reference ID (the kiss code of a kiss).
    @ivar org: the origin timestamp, 8 raw bytes.
    @ivar rec: the receive timestamp, 8 raw bytes.
    @ivar xmt: the transmit timestamp, 8 raw bytes.
    @ivar length: the datagram's length, bytes.
    """

    leap: int
    version: int
    mode: int
    stratum: int
    pollLog2: int
    refid: bytes
    org: bytes
    rec: bytes
    xmt: bytes
    length: int

    @property
    def isRateKiss(self) -> bool:
        """Whether it is a RATE kiss-o'-death (RFC 5905 section 7.4)."""
        return (self.leap == LEAP_NOTINSYNC and self.stratum == 0
                and self.refid == b"RATE")

    @property
    def isTime(self) -> bool:
        """Whether it is a synchronized server reply of our stratum."""
        return (self.mode == MODE_SERVER and self.leap != LEAP_NOTINSYNC
                and self.stratum == SERVED_STRATUM)


def parseReply(data: bytes) -> Reply | None:
    """
    @param data: a datagram.
    @return: its header, or L{None} if it is shorter than 48 bytes.
    """
    if len(data) < _HEADER.size:
        return None
    (flags, stratum, poll, _precision, _rootDelay, _rootDisp, refid, _ref, org,
     rec, xmt) = _HEADER.unpack_from(data)
    return Reply(flags >> 6, (flags >> 3) & 7, flags & 7, stratum, poll, refid, org,
                 rec, xmt, len(data))


def exchange(
    source: str, serverPort: int, requests: list[bytes], fence: str,
    server: str = "127.0.0.1", timeoutSeconds: float = 3.0,
    lingerSeconds: float = 0.1,
) -> dict[bytes, list[Reply]]:
    """
    Send C{requests} back to back from C{source}, then one request from
    C{fence}, an address the server answers; collect the replies to
    C{source} until the fence is answered, and for C{lingerSeconds} more.

    The daemon reads its one socket in order and answers as it reads, so
    once the fence is answered every earlier request has been handled: a
    request without a reply by then was dropped, not merely slow.

    @param source: the local address to send from (any of 127.0.0.0/8).
    @param serverPort: the server's UDP port.
    @param requests: the datagrams (from L{buildRequest}).
    @param fence: an address whose requests are always answered.
    @param server: the server's address.
    @param timeoutSeconds: how long the fence may take, seconds.
    @param lingerSeconds: how long to listen after the fence is answered.
    @return: the replies to C{source} by the origin timestamp they echo
        (the transmit timestamp of the request they answer).
    @raise peers.PeerError: when the fence is not answered in time.
    """
    replies: dict[bytes, list[Reply]] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as f:
        s.bind((source, 0))
        f.bind((fence, 0))
        for request in requests:
            s.sendto(request, (server, serverPort))
        fenceRequest, fenceXmt = buildRequest()
        f.sendto(fenceRequest, (server, serverPort))
        deadline = time.monotonic() + timeoutSeconds
        fenced = False
        for _ in range(1000):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            readable = select.select([s, f], [], [], remaining)[0]
            if s in readable:
                reply = parseReply(s.recv(2048))
                if reply is not None:
                    replies.setdefault(reply.org, []).append(reply)
            if f in readable:
                reply = parseReply(f.recv(2048))
                if not fenced and reply is not None and reply.org == fenceXmt:
                    fenced = True
                    deadline = time.monotonic() + lingerSeconds
        if not fenced:
            raise peers.PeerError(
                f"no answer to the fence request from {fence} in {timeoutSeconds} s"
            )
    return replies


# --------------------------------------------------------------------------
# Processes and namespaces


def rssKiB(pid: int) -> int:
    """
    @param pid: a process id.
    @return: its resident set size (C{VmRSS} in C{/proc/PID/status}), KiB.
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise peers.PeerError(f"no VmRSS for pid {pid}")


_libc = ctypes.CDLL(None, use_errno=True)


def namespaceSocket(
    netns: peers.NetNamespace,
    factory: Callable[[], socket.socket] = lambda: socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM
    ),
) -> socket.socket:
    """
    Create a socket inside C{netns} without moving this process there:
    a short-lived thread joins the namespace (C{setns(2)} changes only the
    calling thread) and creates the socket, which stays in that namespace
    for its whole life wherever it is used from.

    @param netns: a namespace created by this process.
    @param factory: makes the socket (an unbound IPv4 UDP socket by default).
    @return: the socket, of that namespace.
    @raise OSError: when C{setns} fails.
    """
    made: list[socket.socket | OSError] = []

    def enter() -> None:
        fd = os.open(f"/run/netns/{netns.name}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                made.append(OSError(code, f"setns {netns.name}: {os.strerror(code)}"))
                return
            made.append(factory())
        finally:
            os.close(fd)

    thread = threading.Thread(target=enter, name=f"setns-{netns.name}")
    thread.start()
    thread.join(10)
    if not made:
        raise OSError(f"could not create a socket in {netns.name}")
    result = made[0]
    if isinstance(result, OSError):
        raise result
    return result


# --------------------------------------------------------------------------
# 1. A flood from many source addresses


FLOOD_SOURCES = 50_000
"""How many distinct source addresses the flood uses."""

FLOOD_MIN_SOURCES = 20_000
"""The flood must reach at least this many sources (10 x maxdepth) in time."""

FLOOD_REQUESTS_PER_SOURCE = 2
"""
Requests per source, back to back: the second one is over the C{discard
minimum} guard, so it is answered with a RATE kiss if and only if the
source got an MRU entry: the kisses count the entries on the wire.
"""

FLOOD_WINDOW = 128
"""Requests in flight at most (the daemon's socket buffer holds ~270)."""

FLOOD_MAX_SECONDS = 25.0
"""The flood stops after this long even if not every source was used."""

FLOOD_MIN_SECONDS = 6.0
"""
The flood is paced to last this long at least, so that the legitimate
client polls during it (every L{LEGIT_INTERVAL_SECONDS}).
"""

FLOOD_STALL_SECONDS = 0.2
"""Without any reply for this long, requests in flight count as lost."""

MRU_MAXDEPTH = 2000
"""C{mru maxdepth} for the flood."""

LEGIT_ADDRESS = "127.0.0.2"
"""The legitimate client's fixed address."""

LEGIT_INTERVAL_SECONDS = 2.0
"""The legitimate client's poll interval: within C{discard average 1}."""

LEGIT_TIMEOUT_SECONDS = 1.0
"""How long the legitimate client waits for each answer."""

LEGIT_QUERIES_BEFORE = 2
LEGIT_QUERIES_AFTER = 2

RSS_GROWTH_LIMIT_KIB = 10 * 1024
"""
The largest growth of the daemon's VmRSS over the whole flood, KiB.

What grows with the number of sources is bounded: the MRU list holds at
most C{mru maxdepth} = 2000 entries of about 640 bytes (1.3 MB,
L{ntpservice.core.mru.ENTRY_BYTES}); the restriction lookup cache at most
8192 addresses of about 150 bytes (1.2 MB); the reply-address cache of the
socket at most 4097 entries and here one. Measured: 2.3-3.2 MB. An MRU
list that ignored C{maxdepth} costs about 430 bytes per source: 21 MB for
50,000 sources (measured with C{maxdepth 200000}), which this limit
catches.
"""

RSS_PLATEAU_LIMIT_KIB = 3 * 1024
"""
The largest growth of VmRSS from halfway through the flood to its end,
KiB: once the bounded structures are full, memory stays flat (measured:
0 to 0.8 MB, in allocator steps of 400 KB); state kept per source, as an
MRU list without bound, adds 10 MB over the last 25,000 sources.
"""


def _sourceAddress(index: int) -> bytes:
    """
    @param index: 1 to 16,000,000.
    @return: the packed address of flood source C{index}, in 127.1.0.1 to
        127.245.x.x (never in 127.0.0.0/16, where the daemon, its readiness
        probe and the legitimate client live).
    """
    return bytes((127, 1 + (index >> 16), (index >> 8) & 255, index & 255))


@dataclass
class _Query:
    """
    One request of the legitimate client.

    @ivar phase: C{"before"}, C{"during"} or C{"after"} the flood.
    @ivar sentAt: when it was sent, monotonic seconds.
    @ivar reply: the reply, or L{None} (yet).
    """

    phase: str
    sentAt: float
    reply: Reply | None = None


@dataclass
class _LegitimateClient:
    """
    A client at a fixed address polling every L{LEGIT_INTERVAL_SECONDS},
    driven by the flood loop (no thread).

    @ivar sock: its connected, non-blocking socket.
    @ivar queries: its requests, in order.
    @ivar nextDue: when the next request may go, monotonic seconds.
    """

    sock: socket.socket
    queries: list[_Query] = field(default_factory=list)
    nextDue: float = 0.0
    _pending: dict[bytes, _Query] = field(default_factory=dict)

    def expire(self, now: float) -> None:
        """Give up on requests older than L{LEGIT_TIMEOUT_SECONDS}."""
        for xmt, query in list(self._pending.items()):
            if now - query.sentAt > LEGIT_TIMEOUT_SECONDS:
                del self._pending[xmt]

    def sendIfDue(self, now: float, phase: str) -> None:
        """Send a request if the poll interval has passed."""
        if now >= self.nextDue:
            request, xmt = buildRequest()
            self.sock.send(request)
            query = _Query(phase, now)
            self._pending[xmt] = query
            self.queries.append(query)
            self.nextDue = now + LEGIT_INTERVAL_SECONDS

    def read(self) -> None:
        """Take every reply waiting on the socket."""
        for _ in range(100):
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return
            reply = parseReply(data)
            if reply is not None and reply.org in self._pending:
                self._pending.pop(reply.org).reply = reply

    @property
    def waiting(self) -> bool:
        """Whether a request is still within its timeout."""
        return bool(self._pending)

    def count(self, phase: str) -> int:
        """How many requests were sent in C{phase}."""
        return sum(1 for q in self.queries if q.phase == phase)

    def alone(self, phase: str, queries: int, other: socket.socket | None = None,
              otherRead: Callable[[], object] | None = None) -> None:
        """
        Poll C{queries} times in C{phase} and wait for the last answer
        (at most 10 s), reading C{other} too when given.
        """
        start = time.monotonic()
        sockets = [self.sock] + ([other] if other is not None else [])
        for _ in range(100_000):
            now = time.monotonic()
            self.expire(now)
            if self.count(phase) >= queries and not self.waiting:
                return
            if now - start > 10.0:
                raise AssertionError(f"the {phase!r} phase did not end in 10 s")
            if self.count(phase) < queries:
                self.sendIfDue(now, phase)
            wait = max(0.0, min(self.nextDue - now, 0.1))
            readable = select.select(sockets, [], [], wait)[0]
            if self.sock in readable:
                self.read()
            if other is not None and other in readable and otherRead is not None:
                otherRead()


@dataclass
class _Flooder:
    """
    Sends L{FLOOD_REQUESTS_PER_SOURCE} requests from each of many source
    addresses (chosen per datagram with C{IP_PKTINFO}) through one socket,
    at most L{FLOOD_WINDOW} in flight, and sorts the replies.

    @ivar sources: the sources used so far.
    @ivar sent: the requests sent.
    @ivar answers: synchronized replies received.
    @ivar kisses: RATE kisses received.
    @ivar others: any other reply.
    @ivar lost: requests given up for lost (no reply within the stall time).
    @ivar answeredSources: the packed addresses that got at least one reply.
    """

    sock: socket.socket
    server: tuple[str, int]
    sources: int = 0
    sent: int = 0
    answers: int = 0
    kisses: int = 0
    others: int = 0
    lost: int = 0
    answeredSources: set[bytes] = field(default_factory=set)
    _inFlight: int = 0

    def fill(self, limit: int) -> None:
        """Send until L{FLOOD_WINDOW} requests are in flight."""
        while self._inFlight + FLOOD_REQUESTS_PER_SOURCE <= FLOOD_WINDOW:
            if self.sources >= limit:
                return
            self.sources += 1
            info = struct.pack("=i4s4s", 0, _sourceAddress(self.sources), bytes(4))
            ancillary = [(socket.IPPROTO_IP, IP_PKTINFO, info)]
            for _ in range(FLOOD_REQUESTS_PER_SOURCE):
                request, _xmt = buildRequest()
                self.sock.sendmsg([request], ancillary, 0, self.server)
                self.sent += 1
                self._inFlight += 1

    def read(self) -> int:
        """
        Take every reply waiting on the socket.

        @return: how many were read.
        """
        read = 0
        for _ in range(10_000):
            try:
                data, ancillary, _flags, _address = self.sock.recvmsg(2048, 64)
            except BlockingIOError:
                break
            read += 1
            self._inFlight = max(0, self._inFlight - 1)
            reply = parseReply(data)
            if reply is not None and reply.isRateKiss:
                self.kisses += 1
            elif reply is not None and reply.isTime:
                self.answers += 1
            else:
                self.others += 1
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    # struct in_pktinfo: ifindex, spec_dst, addr (the
                    # header's destination: the spoofed source).
                    self.answeredSources.add(value[8:12])
        return read

    @property
    def inFlight(self) -> int:
        """Requests sent and not yet answered."""
        return self._inFlight

    def stalled(self) -> None:
        """Nothing came back for a while: forget what is in flight."""
        self.lost += self._inFlight
        self._inFlight = 0


class FloodTests(SynchronousTestCase):
    """
    Requests from 50,000 source addresses: the daemon's memory stays
    bounded, its MRU list holds at most C{mru maxdepth} entries, and a
    polite client is answered throughout.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.netns = peers.NetNamespace()
        self.netns.create()
        self.addCleanup(self.netns.close)

    def namespaceSocket(self) -> socket.socket:
        """A non-blocking UDP socket in the test's namespace."""
        s = namespaceSocket(self.netns)
        self.addCleanup(s.close)
        s.setblocking(False)
        return s

    @pytest.mark.netns
    def test_floodBoundedLegitimateAnswered(self) -> None:
        """
        In a namespace of its own, under C{restrict default kod limited},
        C{discard average 1 leak 0} and C{mru maxdepth 2000}, the daemon gets two
        back-to-back requests from each of 50,000 addresses (at least
        20,000 within 25 s), while a client at 127.0.0.2 asks every 2 s:

          - every one of the legitimate client's requests, before, during
            and after the flood, is answered with synchronized time within
            1 s;
          - the flood is answered (at least 95% of the sources get a
            reply);
          - the RATE kisses, one for each source that got an MRU entry,
            number at least 90% of C{maxdepth} and at most C{maxdepth}
            plus the entries ntpd's probabilistic recycling may add (an
            entry of age I{a} s is recycled with probability I{a}/3000, and
            no entry is older than the daemon, about 30 s: at most 1% of
            the sources);
          - VmRSS grows by less than L{RSS_GROWTH_LIMIT_KIB} over the
            flood, and by less than L{RSS_PLATEAU_LIMIT_KIB} over its
            second half.
        """
        # 127.0.0.1 is free of limits for the harness's readiness probe,
        # which asks every 0.1 s; discard average 1 (2 s) makes a client
        # polling every 2 s polite, while the guard time (minimum 2 s)
        # catches each source's second, back-to-back request.
        config = (
            f"{LOCAL}driftfile {self.workdir}/ntp.drift\n"
            "restrict default kod limited\n"
            "restrict 127.0.0.1\n"
            "discard average 1\n"
            # ntpd's rule, so that every second request is kissed.
            "discard leak 0\n"
            f"mru maxdepth {MRU_MAXDEPTH}\n"
        )
        daemon = peers.startNtpservice(
            self.workdir, config, port=123, netns=self.netns, synchronised=True
        )
        self.addCleanup(daemon.stop)
        assert daemon.pid is not None
        pid = daemon.pid
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            self.assertIn(b"twistd", f.read())
        server = ("127.0.0.1", 123)

        legitSocket = self.namespaceSocket()
        legitSocket.bind((LEGIT_ADDRESS, 0))
        legitSocket.connect(server)
        legit = _LegitimateClient(legitSocket)
        floodSocket = self.namespaceSocket()
        floodSocket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        floodSocket.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        floodSocket.bind(("0.0.0.0", 0))
        flood = _Flooder(floodSocket, server)

        # Before: the legitimate client alone.
        legit.alone("before", LEGIT_QUERIES_BEFORE)
        rssBefore = rssKiB(pid)

        # During: the flood, with the legitimate client going on.
        floodStart = time.monotonic()
        floodDeadline = floodStart + FLOOD_MAX_SECONDS
        samples: list[tuple[float, int, int]] = []
        nextSample = floodStart
        for _ in range(10_000_000):
            now = time.monotonic()
            if flood.sources >= FLOOD_SOURCES or now >= floodDeadline:
                break
            if now >= nextSample:
                samples.append((now - floodStart, flood.sources, rssKiB(pid)))
                nextSample = now + 0.25
            legit.expire(now)
            legit.sendIfDue(now, "during")
            # Paced so that the flood lasts FLOOD_MIN_SECONDS at least: the
            # compiled fast path answers it all faster than the legitimate
            # client polls.
            paced = int(FLOOD_SOURCES * (now - floodStart) / FLOOD_MIN_SECONDS)
            flood.fill(min(FLOOD_SOURCES, FLOOD_WINDOW + paced))
            waiting = flood.inFlight > 0
            readable = select.select(
                [floodSocket, legitSocket], [], [],
                FLOOD_STALL_SECONDS if waiting else 0.01,
            )[0]
            if not readable and waiting:
                flood.stalled()
            if legitSocket in readable:
                legit.read()
            if floodSocket in readable:
                flood.read()
        floodSeconds = time.monotonic() - floodStart
        rssEnd = rssKiB(pid)
        halfway = [kib for _, n, kib in samples if n >= flood.sources // 2]
        rssHalfway = halfway[0] if halfway else rssEnd

        # After: the legitimate client alone again; late flood replies.
        legit.alone("after", LEGIT_QUERIES_AFTER, floodSocket, flood.read)
        rssAfter = rssKiB(pid)
        daemon.assertNoSysTime()
        self.assertTrue(daemon.running(), daemon.output())

        rssMax = max([rssBefore, rssEnd, rssAfter, *(kib for _, _, kib in samples)])
        unanswered = [q for q in legit.queries if q.reply is None]
        report = (
            f"flood: {flood.sources} sources, {flood.sent} requests in "
            f"{floodSeconds:.1f} s; {flood.answers} answers, {flood.kisses} RATE "
            f"kisses, {flood.others} other, {flood.lost} lost; "
            f"{len(flood.answeredSources)} sources answered; "
            f"VmRSS before {rssBefore} KiB, halfway {rssHalfway}, end {rssEnd}, "
            f"max {rssMax}, after {rssAfter}; legitimate queries "
            f"{[(q.phase, q.reply is not None) for q in legit.queries]}"
        )
        with open(os.path.join(self.workdir, "flood-report.txt"), "w") as f:
            f.write(report + "\n")
            f.writelines(f"{t:.2f} s {n} sources {k} KiB\n" for t, n, k in samples)

        # The flood happened, from many addresses, and was served.
        self.assertGreaterEqual(flood.sources, FLOOD_MIN_SOURCES, report)
        self.assertGreaterEqual(
            len(flood.answeredSources), 0.95 * flood.sources, report
        )
        self.assertEqual(flood.others, 0, report)
        # The MRU list tracked at most maxdepth sources (plus recycling).
        self.assertGreaterEqual(flood.kisses, 0.9 * MRU_MAXDEPTH, report)
        self.assertLessEqual(flood.kisses, MRU_MAXDEPTH + flood.sources // 100, report)
        # The legitimate client kept polling and was answered throughout.
        during = max(1, int(floodSeconds / LEGIT_INTERVAL_SECONDS) - 1)
        for phase, least in (("before", LEGIT_QUERIES_BEFORE), ("during", during),
                             ("after", LEGIT_QUERIES_AFTER)):
            self.assertGreaterEqual(legit.count(phase), least, report)
        self.assertEqual(unanswered, [], report)
        for query in legit.queries:
            assert query.reply is not None
            self.assertTrue(query.reply.isTime, query)
        # Memory stayed bounded.
        self.assertLess(rssMax - rssBefore, RSS_GROWTH_LIMIT_KIB, report)
        self.assertLess(rssEnd - rssHalfway, RSS_PLATEAU_LIMIT_KIB, report)


# --------------------------------------------------------------------------
# 2. NTPsec's ntpd and a RATE kiss


KISS_DISCARD_AVERAGE_LOG2 = 4
"""C{discard average}: the poll a RATE kiss asks for (16 s)."""

KISS_DISCARD_MINIMUM_SECONDS = 4
"""
C{discard minimum}: ours, like ntpd, rounds the interval to whole seconds
and grants 1 s of grace, so NTPsec's C{iburst} spacing of 2 s (2 + 1 < 4)
is over the limit.
"""

NTPSEC_MINPOLL_LOG2 = 3
"""The NTPsec client's C{minpoll}: below the kiss's poll, so that it must rise."""

KISS_CAPTURE_SECONDS = 26
"""How long tshark watches: the kiss comes about 3 s in, then 16 s + margin."""


class NtpsecRateKissTests(SynchronousTestCase):
    """
    NTPsec's ntpd as a client of ours under C{restrict default kod
    limited}: its C{iburst} earns a RATE kiss, and it backs off.
    """

    @pytest.mark.netns
    def test_rateKissBacksOff(self) -> None:
        """
        On two hosts, NTPsec polls our server with C{iburst minpoll 3}; we
        have C{discard average 4 minimum 4 leak 0} (ntpd's rule: no
        request over the limit is answered with time anyway, so the kiss is
        certain). tshark on our host sees:

          - the first request answered with time, then a RATE kiss (leap 3,
            stratum 0, refid C{RATE}, poll C{max(request poll, 4)}: 4, as
            NTPsec sends poll 0; every timestamp the request's transmit
            timestamp) to a request that came about 2 s after the previous
            one;
          - no request for at least 2**4 s after the kiss, against 2 s
            before it;
          - no malformed packet and no expert warning.

        ntpq on the NTPsec side shows the association's last event as
        C{rate_exceeded} and a host poll (C{hpoll}) of at least the kiss's
        poll.
        """
        peers.requireRoot()
        ntpd = peers.requireBinary("ntpd")
        ntpq = peers.requireBinary("ntpq")
        peers.requireBinary("tshark")
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        config = (
            f"{LOCAL}driftfile {workdir}/ntp.drift\n"
            "restrict default kod limited\n"
            "restrict 127.0.0.1\n"
            f"discard average {KISS_DISCARD_AVERAGE_LOG2} "
            f"minimum {KISS_DISCARD_MINIMUM_SECONDS} leak 0\n"
        )
        with peers.Network(hosts=2) as network:
            serverHost, clientHost = network.hosts
            with peers.startNtpservice(
                workdir, config, port=123, netns=serverHost, synchronised=True
            ) as ours, peers.capture(
                workdir, 123, interface="eth0", netns=serverHost,
                duration=KISS_CAPTURE_SECONDS, name="kiss",
            ) as cap:
                clientConf = os.path.join(workdir, "ntpsec-client.conf")
                with open(clientConf, "w") as f:
                    f.write(
                        f"server {serverHost.address} iburst "
                        f"minpoll {NTPSEC_MINPOLL_LOG2} maxpoll 10\n"
                        f"driftfile {workdir}/ntpsec.drift\n"
                        "unrestrict default limited noquery\n"
                    )
                argv = [ntpd, "-n", "-c", clientConf, "-l",
                        os.path.join(workdir, "ntpsec.log"), "-p",
                        os.path.join(workdir, "ntpsec.pid")]
                with peers.startDaemon(argv, workdir, "ntpsec-client", clientHost):
                    # The capture stops by itself (tshark -a duration): the
                    # observation window.
                    cap.process.wait(KISS_CAPTURE_SECONDS + 30)
                    observedUntil = time.time() - 0.5
                    result = peers.runCommand(
                        [ntpq, "-n", "-c", "as", "-c", "pe",
                         "-c", "rv &1 hpoll,ppoll,headway", "127.0.0.1"],
                        netns=clientHost, timeout=20, check=False,
                    )
                ours.assertNoSysTime()
        ntpqOutput = result.stdout + result.stderr

        packets = peers.tsharkDecode(cap.path, 123)
        for packet in packets:
            self.assertEqual(packet.problems, [], packet)
        requests = [p for p in packets if p.destinationPort == 123
                    and p.destination == serverHost.address]
        replies = [p for p in packets if p.sourcePort == 123
                   and p.source == serverHost.address]
        parsed = [(p, parseReply(p.payload)) for p in replies]
        kisses = [(p, r) for p, r in parsed if r is not None and r.isRateKiss]
        timeline = [
            (round(p.time - requests[0].time, 2) if requests else 0.0,
             "request" if p in requests else "reply", p.fields.get("ntp.ppoll"),
             p.fields.get("ntp.stratum"), p.fields.get("ntp.refid"))
            for p in packets
        ]
        report = (
            f"timeline (s from the first request, kind, poll, stratum, refid): "
            f"{timeline}; observed until {observedUntil - requests[0].time:.1f} s"
            f"\nntpq:\n{ntpqOutput}"
            if requests else f"no request captured\nntpq:\n{ntpqOutput}"
        )
        with open(os.path.join(workdir, "kiss-report.txt"), "w") as f:
            f.write(report + "\n")
        self.assertTrue(kisses, report)
        self.assertEqual(len(kisses), 1, report)
        kissPacket, kiss = kisses[0]

        # The kiss: a RATE KoD answering the second request of the burst.
        kissed = [p for p in requests if p.payload[40:48] == kiss.org]
        self.assertEqual(len(kissed), 1, report)
        request = parseReply(kissed[0].payload)
        assert request is not None
        # NTPsec minimizes its requests' data (poll 0): the kiss's poll is
        # our discard average, above the client's minpoll.
        self.assertLess(request.pollLog2, KISS_DISCARD_AVERAGE_LOG2, report)
        self.assertEqual(kiss.leap, LEAP_NOTINSYNC)
        self.assertEqual(kiss.stratum, 0)
        self.assertEqual(kiss.mode, MODE_SERVER)
        self.assertEqual(kiss.version, request.version)
        self.assertEqual(kiss.pollLog2, KISS_DISCARD_AVERAGE_LOG2, report)
        self.assertGreater(kiss.pollLog2, NTPSEC_MINPOLL_LOG2, report)
        self.assertEqual((kiss.org, kiss.rec, kiss.xmt), (request.xmt,) * 3)
        # tshark reads the kiss the same way.
        refid = str(kissPacket.fields.get("ntp.refid", ""))
        self.assertEqual(bytes.fromhex(refid.replace(":", "")), b"RATE", refid)
        self.assertEqual(kissPacket.fields.get("ntp.stratum"), "0", kissPacket.fields)
        self.assertEqual(kissPacket.fields.get("ntp.flags.li"), "3", kissPacket.fields)

        # Before it: a first request answered with time, ~2 s earlier.
        before = [p for p in requests if p.time < kissed[0].time]
        self.assertTrue(before, report)
        self.assertLess(kissed[0].time - before[-1].time, 3.5, report)
        answered = [r for p, r in parsed if r is not None and r.isTime]
        self.assertTrue(answered, report)

        # After it: silence for at least 2**poll of the kiss.
        backoff = 2.0 ** kiss.pollLog2
        self.assertGreaterEqual(observedUntil - kissPacket.time, backoff + 1.0, report)
        after = [p for p in requests if p.time > kissed[0].time]
        if after:
            self.assertGreaterEqual(after[0].time - kissed[0].time, backoff, report)

        # NTPsec says so.
        self.assertRegex(ntpqOutput, r"\brate_exceeded\b")
        match = re.search(r"\bhpoll=(\d+)", ntpqOutput)
        assert match is not None, ntpqOutput
        self.assertGreaterEqual(int(match.group(1)), kiss.pollLog2, ntpqOutput)


# --------------------------------------------------------------------------
# 3. One source address per restrict flag


UNRESTRICTED = "127.0.0.10"
IGNORED = "127.0.0.11"
NOSERVE = "127.0.0.12"
LIMITED = "127.0.0.13"
VERSION = "127.0.0.14"
KOD_LIMITED = "127.0.0.15"
FENCE = "127.0.0.20"
"""An unrestricted address for L{exchange}'s fence requests."""

BURST = 5
"""Back-to-back requests for the rate-limit checks."""

DEFAULT_DISCARD_AVERAGE_LOG2 = 3
"""ntpd's default C{discard average}, log2 seconds."""


class RestrictFlagTests(SynchronousTestCase):
    """
    One daemon on 127.0.0.1 with a C{restrict} line per source address, and
    a tiny client sending from each of those addresses; C{discard leak 0}
    (ntpd's rule), so that what is over the limit is never answered. Every exchange ends
    with a fence request from an unrestricted address (see L{exchange}):
    a request still unanswered when the fence is answered was dropped.
    """

    def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.port = peers.freePort()
        config = (
            f"{LOCAL}driftfile {self.workdir}/ntp.drift\n"
            f"restrict {IGNORED} ignore\n"
            f"restrict {NOSERVE} noserve\n"
            f"restrict {LIMITED} limited\n"
            f"restrict {VERSION} version\n"
            f"restrict {KOD_LIMITED} kod limited\n"
            # ntpd's rule: no request over the limit answered anyway.
            "discard leak 0\n"
        )
        self.daemon = peers.startNtpservice(
            self.workdir, config, port=self.port, synchronised=True,
            extraArgs=("-I", "127.0.0.1"),
        )
        self.addCleanup(self.daemon.stop)

    def burst(self, source: str, count: int = BURST, version: int = 4
              ) -> list[list[Reply]]:
        """
        Send C{count} requests back to back from C{source}.

        @return: the replies to each request, in the order sent.
        """
        sent = [buildRequest(version) for _ in range(count)]
        replies = exchange(source, self.port, [request for request, _ in sent], FENCE)
        unmatched = set(replies) - {xmt for _, xmt in sent}
        self.assertEqual(unmatched, set(), replies)
        return [replies.get(xmt, []) for _, xmt in sent]

    def assertAnsweredWithTime(self, replies: list[Reply], version: int = 4) -> None:
        """
        Assert that C{replies} is one synchronized 48-byte server reply of
        C{version}.
        """
        self.assertEqual(len(replies), 1, replies)
        reply = replies[0]
        self.assertTrue(reply.isTime, reply)
        self.assertEqual(reply.version, version, reply)
        self.assertEqual(reply.length, 48, reply)

    def test_unrestricted(self) -> None:
        """
        An address matching only the default entry (no flags) gets an
        answer to each of 5 back-to-back requests: without C{limited}
        nothing is rate limited, even though the MRU list runs.
        """
        for replies in self.burst(UNRESTRICTED):
            self.assertAnsweredWithTime(replies)

    def test_ignore(self) -> None:
        """
        C{ignore}: no answer at all, while the fence (another address) is
        answered.
        """
        self.assertEqual(self.burst(IGNORED, 3), [[], [], []])

    def test_noserve(self) -> None:
        """
        C{noserve}: no answer, and no kiss (ntpd sends none either), while
        the fence is answered.
        """
        self.assertEqual(self.burst(NOSERVE, 3), [[], [], []])

    def test_limitedWithoutKod(self) -> None:
        """
        C{limited} without C{kod}: of 5 back-to-back requests the first is
        answered and the other four, inside the C{discard minimum} guard,
        are dropped without a word.
        """
        replies = self.burst(LIMITED)
        self.assertAnsweredWithTime(replies[0])
        self.assertEqual(replies[1:], [[]] * (BURST - 1))

    def test_kodLimited(self) -> None:
        """
        C{kod limited}: of 5 back-to-back requests the first is answered,
        the second gets a RATE kiss (leap 3, stratum 0, poll C{discard
        average}, every timestamp the request's transmit timestamp) and the
        rest are dropped: the kisses are rate limited too.
        """
        replies = self.burst(KOD_LIMITED)
        self.assertAnsweredWithTime(replies[0])
        self.assertEqual(len(replies[1]), 1, replies)
        kiss = replies[1][0]
        self.assertTrue(kiss.isRateKiss, kiss)
        self.assertEqual((kiss.mode, kiss.version, kiss.length), (MODE_SERVER, 4, 48))
        self.assertEqual(kiss.pollLog2, DEFAULT_DISCARD_AVERAGE_LOG2)
        # org is the request's transmit timestamp (burst() matched on it).
        self.assertEqual((kiss.rec, kiss.xmt), (kiss.org, kiss.org))
        self.assertEqual(replies[2:], [[]] * (BURST - 2))

    def test_version(self) -> None:
        """
        C{version}: an NTPv3 request is dropped and an NTPv4 one answered;
        from an unrestricted address NTPv3 is answered, as NTPv3.
        """
        self.assertEqual(self.burst(VERSION, 1, version=3), [[]])
        self.assertAnsweredWithTime(self.burst(VERSION, 1, version=4)[0])
        self.assertAnsweredWithTime(self.burst(UNRESTRICTED, 1, version=3)[0], 3)
