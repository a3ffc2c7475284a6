# -*- test-case-name: tests.scenarios.012_multicast_scale -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Scenario 012, seed 002's size: one multicast server (our daemon,
synchronized to a reference server) and 600 multicast clients (our
daemons, each with its own clock: up to 20 ms off and 10 ppm), on a LAN
(1 ms each way, 20 us of jitter), the server sending every 16 s
(C{broadcast 224.0.1.1 minpoll 4}).

Bounds: every client mobilizes one association with the server (mode 6)
and selects it, and every clock is within 2 ms of true time after seven
minutes; after the calibration volleys (at most 8 requests per client,
all in the first minutes) no client sends anything: the server's cost per
interval is one multicast packet whatever the number of clients (the same
as with one client). Measured: 3 requests per client (the volley ends at
its third reply). The simulation takes about 40 s of CPU
(L{ntpservice.sim.clock.SimClock}; twelve minutes with Twisted's C{Clock},
which sorts its pending calls at every call).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core.dispatch import ASSOC_BCLIENT
from ntpservice.core.peer import VOLLEY_REQUESTS
from ntpservice.sim.hosts import Simulation
from ntpservice.sim.network import LinkSpec

REFERENCE = "10.0.0.1"
SERVER = "10.0.0.2"
GROUP = "224.0.1.1"
CLIENTS = 600


class Site:
    """
    The site, run for seven minutes, then watched for 160 s more.
    """

    def __init__(self, clients: int) -> None:
        sim = Simulation(12, defaultLink=LinkSpec(delay=1e-3, jitter=2e-5))
        self.sim = sim
        sim.addReferenceServer(REFERENCE)
        server = sim.addHost(SERVER, offset=0.0005)
        self.server = server.runDaemon(
            f"server {REFERENCE} iburst minpoll 4\nbroadcast {GROUP} minpoll 4\n"
        )
        self.server.instances["broadcast"].interfaces = lambda: []
        self.clients: list[Any] = []
        for n in range(clients):
            address = f"10.1.{n // 250}.{n % 250 + 1}"
            host = sim.addHost(
                address,
                offset=(n % 41 - 20) * 1e-3,
                freqPPM=(n % 21 - 10) * 1.0,
            )
            self.clients.append(host.runDaemon(f"multicastclient {GROUP}\ndisable auth\n"))
        broadcaster = self.server.instances["broadcast"].broadcasters[0]
        self.totals = sim.network.totals
        sim.run(420)
        self.sentBefore = broadcaster.sent
        self.volleyRequests = self._requests()
        sim.run(160)
        self.broadcasts = broadcaster.sent - self.sentBefore
        self.lateRequests = self._requests() - self.volleyRequests

    def _requests(self) -> int:
        return sum(
            self.sim.network.counters(host.address, SERVER).sent
            for host in self.sim.hosts.values()
            if host.address.startswith("10.1.")
        )


@cache
def site(clients: int = CLIENTS) -> Site:
    return Site(clients)


class MulticastScaleTests(SynchronousTestCase):
    """
    600 multicast clients of one server.
    """

    def test_allSynchronized(self) -> None:
        """
        Every client has exactly one association, in mode 6, with the
        server, and it is the client's system peer; each is within 2 ms of
        true time.
        """
        s = site()
        for daemon in s.clients:
            associations = list(daemon.associations)
            self.assertEqual([(a.address, a.hmode) for a in associations], [(SERVER, ASSOC_BCLIENT)])
            self.assertEqual(daemon.engine.systemPeer, associations[0].associd)
        errors = [abs(host.clock.error()) for host in s.sim.hosts.values() if host.address.startswith("10.1.")]
        self.assertLess(max(errors), 2e-3)

    def test_serverCostIndependentOfClients(self) -> None:
        """
        After the volleys, the clients send nothing: during 160 s the
        server sent one multicast packet per 16 s and received no request;
        the volleys were at most 8 requests per client.
        """
        s = site()
        self.assertEqual(s.lateRequests, 0)
        self.assertIn(s.broadcasts, (9, 10, 11))
        self.assertLessEqual(s.volleyRequests, VOLLEY_REQUESTS * CLIENTS)
