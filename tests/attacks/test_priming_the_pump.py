# -*- test-case-name: tests.attacks.test_priming_the_pump -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
"Priming the pump" (Malhotra, Cohen, Brakke and Goldberg, "Attacking the
Network Time Protocol", NDSS 2016, section V; CVE-2015-7704 and -7705 are
the spoofed-kiss attacks of the same paper): an off-path attacker sends
requests with a victim's source address to the victim's server, so that
the server's rate limiter holds the victim's address over the limit and
refuses the victim's own polls, or answers them with a RATE kiss that an
ntpd-style client honours by backing off. Nothing in a plain NTP request
tells the victim's packets from the attacker's.

Our defence (L{ntpservice.core.mru}, the same in the C fast path): the
C{discard leak}, one request over the limit in four answered with time
anyway, drawn at random; a kiss never answers a leaked request, nor one
that broke the guard time (as every request in a flood does, the
victim's included: ntpd kisses those), kisses stay rate limited (one per
episode over the limit), and a kiss's poll is the request's own poll or
C{discard average}, whichever is larger, never what the attacker's
requests said.

The test runs the attack against the real daemon, with real victims:
chronyd, NTPsec's ntpd (which honours RATE kisses) and our own daemon as
clients, each on a host of its own, while an attacker host floods the
server with requests spoofed from each victim's address. The server's
rate limit is scaled to the test's time (C{discard average 1 minimum 2}:
ntpd's guard time, and a request a second on average, where ntpd's
default is one in 8 s), so that victims polling every second are polite
clients, never limited without the attack, and each of the attacker's
requests, 50 ms apart, is over the limit; every victim request then
arrives within 50 ms of a spoofed one and is over the limit too: this is
the pump primed. The victims' polls are short so that they send enough
requests in the test's 45 s to judge a one-in-four share; where they
cannot (NTPsec polls every 2 s at best, our client every 8 s, as ntpd),
several hosts run them, each its own victim, and their requests are
counted together.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.attacks import wire
from tests.interop import peers

pytestmark = [pytest.mark.interop, pytest.mark.netns]

LOCAL = "server 127.127.1.0\nfudge 127.127.1.0 stratum 1\n"
"""The LOCAL clock: our server serves synchronized time at stratum 2."""

ATTACK_SECONDS = 45.0
"""How long the attacker floods (the victims start with the flood)."""

FLOOD_RATE = 20.0
"""Spoofed requests a second, from each victim's address."""

DISCARD_AVERAGE_LOG2 = 1
"""
The server's C{discard average}: 2 s, which with ntpd's 2 s grace lets a
client send one request a second (ntpd's default 3 lets it send one in 6
s).
"""

LEAK_SHARE = 0.25
"""The default C{discard leak} 2: one request over the limit in four."""

SERVER_ACCESS = (
    "restrict default kod limited nomodify nopeer noquery notrap\n"
    "restrict 127.0.0.1\n"
    f"discard average {DISCARD_AVERAGE_LOG2} minimum 2\n"
)
"""The server's access lines: C{etc/ntp.conf}'s, the rate limit scaled."""

CHRONY_POLL_LOG2 = 0
"""chronyd's poll: 1 s, fixed (C{minpoll 0 maxpoll 0})."""

NTPSEC_MINPOLL_LOG2 = 0
NTPSEC_MAXPOLL_LOG2 = 0
"""NTPsec's poll: 1 s (a RATE kiss may raise it: see the assertions)."""

OURS_POLL_LOG2 = 3
"""Our client's poll: 8 s (our smallest, as ntpd's)."""

VICTIMS = {"chronyd": 1, "ntpsec": 2, "ours": 6}
"""How many victim hosts run each client."""


def backOffBound(pollLog2: int) -> float:
    """
    The longest a victim polling every M{2**pollLog2} s may stay silent,
    seconds: kisses (one per episode over the limit, a few when the
    attacker's flood pauses) carry a poll of at most the request's own or
    C{discard average}; chronyd answers one by skipping four polls (it
    waits 5 polls), NTPsec and our client by polling at the kiss's poll;
    and 3 s for a loaded machine.
    """
    return 5 * 2.0 ** max(pollLog2, DISCARD_AVERAGE_LOG2) + 3.0


class PrimingThePumpTests(SynchronousTestCase):
    """
    Real clients of our server keep getting time while an attacker
    keeps their addresses over the server's rate limit.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        self.chronyd = peers.requireBinary("chronyd")
        self.chronyc = peers.requireBinary("chronyc")
        self.ntpd = peers.requireBinary("ntpd")
        self.ntpq = peers.requireBinary("ntpq")
        peers.requireBinary("tshark")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)

    def startChrony(self, host: peers.Host, server: str, name: str) -> peers.DaemonProcess:
        """chronyd as a client of C{server}, polling every second."""
        # A Unix socket's path is short (108 bytes): not under the workdir.
        sockets = tempfile.mkdtemp(prefix="ntps-chrony-")
        self.addCleanup(shutil.rmtree, sockets, True)
        os.chmod(sockets, 0o700)
        self.chronySocket = os.path.join(sockets, "chronyd.sock")
        path = os.path.join(self.workdir, f"{name}.conf")
        with open(path, "w") as f:
            f.write(
                f"server {server} iburst minpoll {CHRONY_POLL_LOG2} "
                f"maxpoll {CHRONY_POLL_LOG2}\n"
                "cmdport 0\n"
                f"bindcmdaddress {self.chronySocket}\n"
                f"pidfile {os.path.join(self.workdir, name + '.pid')}\n"
            )
        return peers.startDaemon([self.chronyd, "-x", "-u", "root", "-d", "-f", path],
                                 self.workdir, name, host)

    def startNtpsec(self, host: peers.Host, server: str, name: str) -> peers.DaemonProcess:
        """NTPsec's ntpd as a client of C{server}."""
        path = os.path.join(self.workdir, f"{name}.conf")
        with open(path, "w") as f:
            f.write(
                f"server {server} iburst minpoll {NTPSEC_MINPOLL_LOG2} "
                f"maxpoll {NTPSEC_MAXPOLL_LOG2}\n"
                f"driftfile {self.workdir}/{name}.drift\n"
                + "".join(line + "\n" for line in peers.DEFAULT_NTPSEC_RESTRICT)
            )
        argv = [self.ntpd, "-n", "-c", path, "-l", os.path.join(self.workdir, f"{name}.log"),
                "-p", os.path.join(self.workdir, f"{name}.pid")]
        return peers.startDaemon(argv, self.workdir, name, host)

    def startOurs(self, host: peers.Host, server: str, name: str) -> peers.DaemonProcess:
        """Our daemon as a client of C{server}."""
        path = os.path.join(self.workdir, f"{name}.conf")
        with open(path, "w") as f:
            f.write(
                f"server {server} iburst minpoll {OURS_POLL_LOG2} "
                f"maxpoll {OURS_POLL_LOG2}\n"
                f"driftfile {self.workdir}/{name}.drift\n"
            )
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (peers.REPOSITORY_ROOT, env.get("PYTHONPATH", "")) if p
        )
        return peers.startDaemon(peers.ntpserviceCommand(path, 123), self.workdir,
                                 name, host, env=env)

    def status(self, kind: str, host: peers.Host) -> str:
        """What the victim says of its source: C{chronyc sources}, C{ntpq -p}."""
        if kind == "chronyd":
            argv = [self.chronyc, "-h", self.chronySocket, "-n", "sources"]
        else:
            argv = [self.ntpq, "-n", "-p", "127.0.0.1"]
        result = peers.runCommand(argv, netns=host, timeout=20, check=False)
        return result.stdout + result.stderr

    def test_victimsKeepTime(self) -> None:
        """
        While the attacker sends 20 requests a second with each victim's
        address (poll field 17), for 45 s from the victims' start:

          - the victims get time: of the requests of each kind of victim
            (chronyd on one host, NTPsec on two, ours on six), at least
            as many are answered with time as a one-in-four share gives
            with probability 1 - 10**-4 (L{wire.binomialBounds}), and at least
            one (without the leak, none would be); chronyd selects our
            server (its log says so), and on some host NTPsec, and on some
            our client, holds a sample of it (a delay in C{ntpq -p});
          - the back-off is bounded: no RATE kiss to a victim has a poll
            above the poll of the request it answers or C{discard
            average} (never the attacker's 17), and no victim goes longer
            than L{backOffBound} without a request;
          - the spoofed requests themselves are limited: between 10% and
            40% of them are answered (one in four expected).
        """
        kinds = [kind for kind, count in VICTIMS.items() for _ in range(count)]
        starters = {"chronyd": self.startChrony, "ntpsec": self.startNtpsec,
                    "ours": self.startOurs}
        with peers.Network(hosts=2 + len(kinds)) as network:
            serverHost, attacker, *hosts = network.hosts
            server = serverHost.address
            victims = [(kind, f"{kind}-{i}", host)
                       for i, (kind, host) in enumerate(zip(kinds, hosts))]
            with peers.startNtpservice(
                self.workdir, f"{LOCAL}{SERVER_ACCESS}driftfile {self.workdir}/ntp.drift\n",
                port=123, netns=serverHost, synchronised=True, name="server",
            ) as daemon, peers.capture(
                self.workdir, 123, interface="eth0", netns=serverHost,
                duration=ATTACK_SECONDS + 60, name="attack",
            ) as cap:
                spoofers = [
                    wire.startSpoofer(attacker, host.address, server, FLOOD_RATE,
                                      ATTACK_SECONDS, self.workdir, f"spoofer-{name}")
                    for _, name, host in victims
                ]
                try:
                    with contextlib.ExitStack() as running:
                        runningProcesses = [
                            running.enter_context(starters[kind](host, server, name))
                            for kind, name, host in victims
                        ]
                        sent = [wire.spooferSent(s, ATTACK_SECONDS + 60) for s in spoofers]
                        statuses = [self.status(kind, host) for kind, _, host in victims]
                        chronyOutput = "".join(
                            process.output() for process in runningProcesses
                            if process.name.startswith("chronyd")
                        )
                finally:
                    for s in spoofers:
                        if s.poll() is None:
                            s.kill()
                            s.wait(10)
                daemon.assertNoSysTime()
        headers = wire.readCapture(cap.path)
        seen = {kind: wire.Exchanges() for kind in VICTIMS}
        for kind, _, host in victims:
            more = wire.exchanges(headers, host.address, server)
            seen[kind].requests += more.requests
            seen[kind].answered += more.answered
            seen[kind].kisses += more.kisses
            seen[kind].gaps.append(more.longestGap)
        spoofed = [h for h in headers if h.xmt == wire.ATTACKER_MARK
                   and h.destination == server]
        spoofedAnswered = [h for h in headers if h.org == wire.ATTACKER_MARK
                           and h.source == server and h.isTime]
        spoofedKisses = [h for h in headers if h.org == wire.ATTACKER_MARK
                         and h.source == server and h.isRateKiss]
        report = "\n".join(
            [f"{kind} ({VICTIMS[kind]} hosts): {seen[kind].summary()}" for kind in VICTIMS]
            + [f"spoofed: {sum(sent)} sent, {len(spoofed)} captured, "
               f"{len(spoofedAnswered)} answered with time, "
               f"{len(spoofedKisses)} kissed"]
            + [f"{name} says:\n{status}" for (_, name, _), status in zip(victims, statuses)]
        )
        with open(os.path.join(self.workdir, "report.txt"), "w") as f:
            f.write(report + "\n")

        # The attack happened.
        for count in sent:
            self.assertGreater(count, FLOOD_RATE * ATTACK_SECONDS * 0.8, report)
        self.assertGreater(len(spoofed), sum(sent) * 0.8, report)
        # ... and was limited.
        self.assertLess(len(spoofedAnswered), len(spoofed) * 0.4, report)
        self.assertGreater(len(spoofedAnswered), len(spoofed) * 0.1, report)

        # The victims got time.
        for kind in VICTIMS:
            requests = len(seen[kind].requests)
            self.assertGreaterEqual(requests, 20, report)
            self.assertGreaterEqual(
                len(seen[kind].answered),
                max(1, wire.binomialBounds(requests, LEAK_SHARE)[0]),
                report,
            )
        # ... and took it: chronyd selected our server; on some host NTPsec
        # and our client hold a sample of it (a delay in ntpq -p). (Which
        # is selected at the end is chance: with one poll in four answered,
        # eight polls in a row go unanswered, and reach falls to 0, one
        # time in ten.)
        said = {kind: [status for (k, _, _), status in zip(victims, statuses) if k == kind]
                for kind in VICTIMS}
        self.assertIn(f"Selected source {server}", chronyOutput, report)
        for kind in ("ntpsec", "ours"):
            delays = [line.split()[7] for status in said[kind]
                      for line in status.splitlines() if line[1:].startswith(server + " ")]
            self.assertEqual(len(delays), VICTIMS[kind], report)
            self.assertTrue(any(float(delay) > 0 for delay in delays), report)

        # The back-off is bounded.
        polls = {"chronyd": CHRONY_POLL_LOG2, "ntpsec": NTPSEC_MAXPOLL_LOG2,
                 "ours": OURS_POLL_LOG2}
        for kind, largest in polls.items():
            for kissPoll, requestPoll in seen[kind].kissBound():
                self.assertLessEqual(
                    kissPoll, max(requestPoll, DISCARD_AVERAGE_LOG2), report
                )
            self.assertLessEqual(max(seen[kind].gaps), backOffBound(largest), report)
