# -*- test-case-name: tests.interop.test_pool -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Pool replacement against real servers, in network namespaces: six servers
(three chronyd, three NTPsec) behind one pool name served by a real DNS
server (C{twistd dns}), C{tos maxclock 4}. A member that selection judges
a falseticker (a chronyd under Debian's C{faketime}, 2 s ahead) is
replaced, and so is a member that stops answering.

(The falseticker is 2 s rather than 0.5 s ahead: chronyd keeps the kernel's
receive timestamps when they are within a second of its own clock, so a
0.5 s shift gives a negative delay, a bad sample rather than a
falseticker.)
"""

from __future__ import annotations

import os
import time

import pytest

from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers
from tests.interop.test_dns import DNSServer, forgetNameServer, ntpqPeers, useNameServer, waitFor

pytestmark = [pytest.mark.interop, pytest.mark.netns]

POLL = 8
"""Seconds: the members' poll interval (minpoll = maxpoll = 3)."""


class PoolReplacementTests(SynchronousTestCase):
    """
    C{pool pool.test} with six servers, C{maxclock 4}.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        for binary in ("chronyd", "ntpd", "ntpq", "faketime"):
            peers.requireBinary(binary)
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.network = peers.Network(hosts=8)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.ours, self.dnsHost, *self.serverHosts = self.network.hosts
        useNameServer(self.ours, self.dnsHost.address)
        self.addCleanup(forgetNameServer, self.ours)
        self.dns = DNSServer(self.dnsHost, self.workdir)
        self.addCleanup(self.dns.stop)

    def server(self, index: int, host: peers.Host, falseticker: bool = False) -> peers.DaemonProcess:
        workdir = os.path.join(self.workdir, f"s{index}")
        os.makedirs(workdir)
        if index % 2 and not falseticker:
            server: peers.DaemonProcess = peers.startNtpsecServer(
                workdir, host, orphanStratum=3, host=host.address
            )
        else:
            chronyd = peers.requireBinary("chronyd")
            os.makedirs(os.path.join(workdir, "chronyd-sock"), mode=0o700)
            os.chmod(os.path.join(workdir, "chronyd-sock"), 0o700)
            config = os.path.join(workdir, "chronyd.conf")
            with open(config, "w") as f:
                f.write(peers.chronydServerConfig(workdir, 123, (), 2))
            argv = [chronyd, "-x", "-u", "root", "-d", "-f", config]
            if falseticker:
                argv = ["faketime", "-f", "+2", *argv]
            server = peers.DaemonProcess(argv, workdir, f"chronyd{index}", host).start()
            server.waitForNtp(host.address, 123, 20, synchronised=True)
        self.addCleanup(server.stop)
        return server

    def test_replaced(self) -> None:
        """
        The pool mobilizes four distinct servers of the six; the
        falseticker among them is demobilized and replaced within a few
        polls; a member that is stopped is demobilized once unreachable (10
        polls, ntpd's rule) and replaced; four members remain, never two
        to one address.
        """
        hosts = self.serverHosts
        servers = [self.server(i, host, falseticker=(i == 1)) for i, host in enumerate(hosts)]
        addresses = [host.address for host in hosts]
        self.dns.serve([("A", "pool.test", address, 300) for address in addresses])
        config = (
            "tos maxclock 4\n"
            "pool pool.test iburst minpoll 3 maxpoll 3\n"
            "restrict 127.0.0.1\n"
            f"driftfile {self.workdir}/ntp.drift\n"
        )

        def members() -> list[str]:
            rows, self.lastPeers = ntpqPeers(self.ours)
            return [remote for remote, _ in rows if remote in addresses]

        with peers.startNtpservice(
            self.workdir, config, netns=self.ours, host=self.ours.address, name="ours"
        ) as daemon:
            output = lambda: self.lastPeers + daemon.output()  # noqa: E731
            waitFor(lambda: len(members()) == 4, 30, "4 members", output)
            first = members()
            self.assertEqual(sorted(first), sorted(addresses[:4]))
            started = time.monotonic()
            waitFor(
                lambda: addresses[1] not in members() and len(members()) == 4,
                12 * POLL, "the falseticker replaced", output,
            )
            falsetickerGone = time.monotonic() - started
            self.assertIn(f"({addresses[1]}): falseticker", daemon.output())
            servers[0].stop()
            started = time.monotonic()
            waitFor(
                lambda: addresses[0] not in members() and len(members()) == 4,
                16 * POLL, "the stopped member replaced", output,
            )
            stoppedGone = time.monotonic() - started
            final = members()
            self.assertEqual(len(set(final)), 4, final)
            self.assertEqual(sorted(final), sorted(addresses[2:6]))
        print(f"falseticker replaced after {falsetickerGone:.0f} s, "
              f"stopped server after {stoppedGone:.0f} s")
