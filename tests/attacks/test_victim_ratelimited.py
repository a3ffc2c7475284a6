# -*- test-case-name: tests.attacks.test_victim_ratelimited -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Rate limiting turned against a victim: "denial of service by spoofed
rate limiting" (Malhotra, Cohen, Brakke and Goldberg, "Attacking the
Network Time Protocol", NDSS 2016; CVE-2015-7704 and -7705 are the
spoofed-kiss half of it, L{tests.attacks.test_priming_the_pump} the
kiss the server itself sends). An off-path attacker sends requests with
the victim's source address, so that the server's per-address rate limit
(C{restrict ... limited}, C{discard}) counts them against the victim:
with ntpd's rules, every request of the victim is then refused.

  - L{ClientVictimTests}: clients of our server, whose addresses are
    flooded at 10 and at 100 requests a second, keep one request in four
    answered with time (the C{discard leak}); a server with C{discard leak
    0} (ntpd's rule) answers them nothing, which shows the attack is real;
    NTPsec's ntpdig, queried from a flooded address, gets time; a client
    that floods from its own address is still limited.
  - L{UpstreamVictimTests}: requests spoofed with the address of our
    daemon's own server (chronyd) never cost that server's replies
    anything: rate limiting is for the requests we answer (this replaces
    C{tests/interop/test_access.py}'s 83-second C{LimitedRepliesTests}).

The server's rate limit is scaled to the tests' time (C{discard average 1
minimum 2}: ntpd's guard time, and one request a second on average where
ntpd's default allows one in 6 s), so that a victim asking once a second
is a polite client that is never limited without the attack.
"""

from __future__ import annotations

import os
import re
import secrets
import select
import socket
import subprocess
import time

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.attacks import spoof, wire
from tests.interop import peers
from tests.interop.test_access import namespaceSocket

pytestmark = [pytest.mark.interop, pytest.mark.netns]

LOCAL = "server 127.127.1.0\nfudge 127.127.1.0 stratum 1\n"
"""The LOCAL clock: our server serves synchronized time at stratum 2."""

SCALED_DISCARD = "discard average 1 minimum 2\n"
"""The rate limit, scaled: a polite client may ask once a second."""

ETC_ACCESS = (
    "restrict default kod limited nomodify nopeer noquery notrap\n"
    "restrict source kod limited nomodify noquery notrap\n"
    "restrict 127.0.0.1\n"
)
"""The access lines of our C{etc/ntp.conf} (ntpq asks from 127.0.0.1)."""

LEAKY_PORT = 123
"""Our server with the default C{discard leak} (2: one in four)."""

NTPD_PORT = 1123
"""The same server with C{discard leak 0}: ntpd's rule."""

PROBE_SECONDS = 20.0
"""How long the victims ask, once a second from each address."""

SLOW_GROUP = ("64/29", 10.0)
"""Victim addresses (six: a /29 of the network) flooded at 10 a second each."""

FAST_GROUP = ("72/30", 100.0)
"""Victim addresses (two: a /30) flooded at 100 a second each."""

LEAK_SHARE = 0.25
"""The default C{discard leak} 2: one request over the limit in four."""

NTPDIG_TRIES = 30
"""
ntpdig queries from a flooded address until one gets time: with one in
four answered, all 30 fail with probability 0.75**30, 2 in 10,000.
"""


def groupAddresses(prefix: str, group: tuple[str, float]) -> list[str]:
    """The host addresses of a victim group in the network C{prefix}.0/24."""
    start, length = group[0].split("/")
    count = 2 ** (32 - int(length)) - 2
    return [f"{prefix}.{int(start) + 1 + i}" for i in range(count)]


def namespaceRawSocket(netns: peers.NetNamespace) -> socket.socket:
    """
    A raw IPv4 socket (C{IPPROTO_RAW}: L{spoof.send} sends forged packets
    on it) created inside C{netns} (L{namespaceSocket}).
    """
    return namespaceSocket(netns, spoof.rawSocket)


def buildRequest() -> tuple[bytes, bytes]:
    """A client request with a random transmit timestamp, and that timestamp."""
    xmt = secrets.token_bytes(8)
    return bytes([(4 << 3) | wire.MODE_CLIENT, 0, 0]) + bytes(37) + xmt, xmt


class Prober:
    """
    Clients on several addresses of a victim's host, each asking once a
    second, from a socket created in the victim's namespace: what share of
    their requests is answered with time, by each server port.
    """

    def __init__(self, netns: peers.NetNamespace, addresses: list[str],
                 server: str, ports: tuple[int, ...],
                 primer: socket.socket | None = None) -> None:
        """
        @param primer: if given, a raw socket of the attacker's on which a
            spoofed request from each address goes to each port just
            before each of the address's own requests.
        """
        self.server = server
        self.ports = ports
        self.primer = primer
        self.sockets = {}
        for address in addresses:
            s = namespaceSocket(netns)
            s.bind((address, 0))
            s.setblocking(False)
            self.sockets[address] = s
        self.pending: dict[bytes, tuple[str, int]] = {}
        self.sent: dict[tuple[str, int], int] = {}
        self.answered: dict[tuple[str, int], int] = {}
        self.kissed: dict[tuple[str, int], int] = {}

    def close(self) -> None:
        for s in self.sockets.values():
            s.close()

    def run(self, seconds: float) -> None:
        """Ask once a second from every address, for C{seconds}."""
        start = time.monotonic()
        tick = 0
        while True:
            due = start + tick
            if due >= start + seconds:
                break
            if self.primer is not None:
                spoof.send([spoof.udpPacket(address, 123, self.server, port,
                                            wire.spoofedRequest())
                            for address in self.sockets for port in self.ports],
                           self.primer)
                time.sleep(0.002)
            for address, s in self.sockets.items():
                for port in self.ports:
                    request, xmt = buildRequest()
                    s.sendto(request, (self.server, port))
                    self.pending[xmt] = (address, port)
                    key = (address, port)
                    self.sent[key] = self.sent.get(key, 0) + 1
            tick += 1
            self.receive(start + tick)
        self.receive(time.monotonic() + 1.0)

    def receive(self, until: float) -> None:
        """Read replies until C{until} (monotonic)."""
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            readable, _, _ = select.select(list(self.sockets.values()), [], [], left)
            for s in readable:
                while True:
                    try:
                        data, (host, port) = s.recvfrom(2048)
                    except BlockingIOError:
                        break
                    if len(data) < 48 or host != self.server:
                        continue
                    key = self.pending.pop(data[24:32], None)
                    if key is None or key[1] != port:
                        continue
                    table = self.kissed if data[1] == 0 else self.answered
                    table[key] = table.get(key, 0) + 1

    def share(self, addresses: list[str], port: int) -> tuple[int, int, int]:
        """(sent, answered with time, kissed) by C{addresses} to C{port}."""
        keys = [(a, port) for a in addresses]
        return (sum(self.sent.get(k, 0) for k in keys),
                sum(self.answered.get(k, 0) for k in keys),
                sum(self.kissed.get(k, 0) for k in keys))


def flooding(test: SynchronousTestCase, attacker: peers.NetNamespace,
             victims: list[str], server: str, port: int, rate: float,
             seconds: float, workdir: str, name: str) -> subprocess.Popen[str]:
    """Start a flooder (L{wire.startFlooder}) that the test kills at the end."""
    process = wire.startFlooder(attacker, victims, server, port, rate, seconds,
                                workdir, name)

    def stop() -> None:
        if process.poll() is None:
            process.kill()
            process.wait(10)

    test.addCleanup(stop)
    return process


class ClientVictimTests(SynchronousTestCase):
    """
    Clients of our server whose addresses an attacker floods with spoofed
    requests.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        peers.requireBinary("ntpdig")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)

    def test_victimKeepsAShare(self) -> None:
        """
        Our server answers on port 123 with the default leak, and on port
        1123 with C{discard leak 0} (ntpd's rule); both with
        C{restrict default kod limited} and the scaled rate limit. The
        attacker floods six victim addresses at 10 requests a second each
        and two at 100, on both ports, while each victim address asks each
        port once a second for 20 s; and, so that a flood that stalls on a
        loaded machine does not let victim requests through, the attacker
        also sends a spoofed request just before each of them (the pump
        primed: one spoofed request just before each poll suffices):

          - with the leak, the share of the victims' requests answered
            with time, at either flood rate, is one in four: within the
            bounds a one-in-four draw keeps with probability 1 - 10**-4
            (L{wire.binomialBounds}; for 120 requests 14 to 49);
          - with ntpd's rule, none: the attack works there;
          - ntpdig, run from the victim's host whose own address is
            flooded too, gets time within L{NTPDIG_TRIES} queries;
          - a client flooding from its own address (20 a second for 5 s)
            is still limited: its share is one in four too (the first
            request and the leak), within the same bounds.
        """
        with peers.Network(hosts=3) as network:
            serverHost, attacker, victimHost = network.hosts
            server = serverHost.address
            prefix = server.rsplit(".", 1)[0]
            slow = groupAddresses(prefix, SLOW_GROUP)
            fast = groupAddresses(prefix, FAST_GROUP)
            for address in slow + fast:
                victimHost.run(["ip", "addr", "add", f"{address}/24", "dev", "eth0"])
            common = f"{LOCAL}{ETC_ACCESS}{SCALED_DISCARD}"
            leaky = peers.startNtpservice(
                self.workdir, f"{common}driftfile {self.workdir}/leaky.drift\n",
                port=LEAKY_PORT, netns=serverHost, synchronised=True, name="leaky",
            )
            self.addCleanup(leaky.stop)
            ntpdLike = peers.startNtpservice(
                self.workdir,
                f"{common}discard leak 0\ndriftfile {self.workdir}/ntpd.drift\n",
                port=NTPD_PORT, netns=serverHost, synchronised=True, name="ntpd-like",
            )
            self.addCleanup(ntpdLike.stop)

            seconds = PROBE_SECONDS + 30.0
            flooders = [
                flooding(self, attacker, addresses, server, port, rate, seconds,
                         self.workdir, f"flood-{rate:g}-{port}")
                for addresses, rate in ((slow + [victimHost.address], SLOW_GROUP[1]),
                                        (fast, FAST_GROUP[1]))
                for port in (LEAKY_PORT, NTPD_PORT)
            ]
            time.sleep(2.0)
            primer = namespaceRawSocket(attacker)
            self.addCleanup(primer.close)
            prober = Prober(victimHost, slow + fast, server, (LEAKY_PORT, NTPD_PORT),
                            primer)
            self.addCleanup(prober.close)
            prober.run(PROBE_SECONDS)

            ntpdig = None
            tries = 0
            while ntpdig is None and tries < NTPDIG_TRIES:
                tries += 1
                try:
                    [ntpdig] = peers.runNtpdig(server, 1, 1.0, victimHost)
                except peers.NtpdigError:
                    pass

            # A client flooding from its own address.
            abuser = Prober(attacker, [attacker.address], server, (LEAKY_PORT,))
            self.addCleanup(abuser.close)
            for _ in range(20 * 5):
                request, xmt = buildRequest()
                abuser.sockets[attacker.address].sendto(request, (server, LEAKY_PORT))
                abuser.pending[xmt] = (attacker.address, LEAKY_PORT)
                abuser.sent[(attacker.address, LEAKY_PORT)] = (
                    abuser.sent.get((attacker.address, LEAKY_PORT), 0) + 1)
                abuser.receive(time.monotonic() + 0.05)
            abuser.receive(time.monotonic() + 1.0)

            for f in flooders:
                f.kill()
                f.wait(10)
            leaky.assertNoSysTime()

        figures = {}
        for label, addresses in (("10/s", slow), ("100/s", fast)):
            for port in (LEAKY_PORT, NTPD_PORT):
                figures[(label, port)] = prober.share(addresses, port)
        abused = abuser.share([attacker.address], LEAKY_PORT)
        report = "\n".join(
            [f"flood {label}, port {port}: {sent} requests, {answered} answered with "
             f"time ({answered / max(sent, 1):.0%}), {kissed} kissed"
             for (label, port), (sent, answered, kissed) in figures.items()]
            + [f"ntpdig: {'time' if ntpdig else 'nothing'} after {tries} queries",
               f"abusive client: {abused[0]} requests, {abused[1]} answered, "
               f"{abused[2]} kissed"]
        )
        with open(os.path.join(self.workdir, "report.txt"), "w") as f:
            f.write(report + "\n")

        for (label, port), (sent, answered, _) in figures.items():
            self.assertGreaterEqual(sent, 40, report)
            if port == LEAKY_PORT:
                low, high = wire.binomialBounds(sent, LEAK_SHARE)
                self.assertGreaterEqual(answered, max(1, low), report)
                self.assertLessEqual(answered, high, report)
            else:
                self.assertEqual(answered, 0, report)
        self.assertIsNotNone(ntpdig, report)
        assert ntpdig is not None
        self.assertEqual(ntpdig["stratum"], 2, report)
        low, high = wire.binomialBounds(abused[0] - 1, LEAK_SHARE)
        self.assertGreaterEqual(abused[1], low, report)
        self.assertLessEqual(abused[1], 1 + high, report)


UPSTREAM_SPOOF_SECONDS = 36.0
"""How long the upstream's address is flooded: four polls of 8 s, and more."""


class UpstreamVictimTests(SynchronousTestCase):
    """
    Our daemon under C{restrict source kod limited}, polling a chronyd
    upstream every 8 s, while an attacker floods it with requests spoofed
    from the upstream's address: rate limiting is for the requests we
    answer, never for the replies on our associations.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        self.ntpq = peers.requireBinary("ntpq")
        peers.requireBinary("chronyd")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)

    def test_spoofedRequestsDoNotSilenceUpstream(self) -> None:
        """
        On three hosts (chronyd upstream, our daemon, the attacker), once
        our daemon selected chronyd, the attacker sends 20 requests a
        second with chronyd's address (and port 123, chronyd's) to our
        daemon for 36 s:

          - the spoofed requests are rate limited: at most 40% of them are
            answered with time (one in four expected, of 720);
          - every poll of chronyd in that time counts: at the end C{ntpq
            -p} shows it selected (C{*}), and its reach register has no
            zero bit (three polls or more, all during the flood; they were
            0 when replies were rate limited too).
        """
        with peers.Network(hosts=3) as network:
            upstreamHost, oursHost, attacker = network.hosts
            upstream = upstreamHost.address
            chronyd = peers.startChronydServer(
                self.workdir, port=123, netns=upstreamHost, stratum=2,
            )
            self.addCleanup(chronyd.stop)
            daemon = peers.startNtpservice(
                self.workdir,
                f"server {upstream} iburst minpoll 3 maxpoll 3\n"
                f"{ETC_ACCESS}driftfile {self.workdir}/ntp.drift\n",
                port=123, netns=oursHost,
            )
            self.addCleanup(daemon.stop)
            daemon.waitForOutput(
                re.compile(rf"Selected {re.escape(upstream)} \(association \d+\)"),
                timeout=30,
            )
            with peers.capture(self.workdir, 123, interface="eth0", netns=oursHost,
                               duration=UPSTREAM_SPOOF_SECONDS + 60, name="attack") as cap:
                flooder = flooding(self, attacker, [upstream], oursHost.address, 123,
                                   20.0, UPSTREAM_SPOOF_SECONDS, self.workdir, "flood")
                sent = wire.spooferSent(flooder, UPSTREAM_SPOOF_SECONDS + 60)
                output = peers.runCommand(
                    [self.ntpq, "-n", "-p", "127.0.0.1"], netns=oursHost
                ).stdout
            daemon.assertNoSysTime()
        headers = wire.readCapture(cap.path)
        spoofed = [h for h in headers if h.xmt == wire.ATTACKER_MARK
                   and h.source == upstream]
        answered = [h for h in headers if h.org == wire.ATTACKER_MARK
                    and h.destination == upstream and h.isTime]
        polls = wire.exchanges(headers, oursHost.address, upstream)
        report = (f"{sent} spoofed sent, {len(spoofed)} captured, {len(answered)} "
                  f"answered with time; our polls of chronyd: {polls.summary()}\n"
                  f"{output}")
        with open(os.path.join(self.workdir, "report.txt"), "w") as f:
            f.write(report + "\n")
        self.assertGreater(len(spoofed), 20.0 * UPSTREAM_SPOOF_SECONDS * 0.8, report)
        self.assertLessEqual(len(answered), 0.4 * len(spoofed), report)
        self.assertGreaterEqual(len(polls.requests), 4, report)
        self.assertEqual(len(polls.answered), len(polls.requests), report)
        [row] = [line for line in output.splitlines() if upstream in line]
        fields = row.split()
        self.assertEqual(fields[0], f"*{upstream}", report)
        # Every poll since the start was answered: the reach register has
        # no zero bit (at least three polls, ntpq may run just before the
        # fourth falls due on a loaded machine).
        reach = int(fields[6], 8)
        self.assertGreaterEqual(reach, 0o7, report)
        self.assertEqual(reach & (reach + 1), 0, report)
