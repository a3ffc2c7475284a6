# -*- test-case-name: tests.test_plugin_contract -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The plugin contract (issue 10): a mode plugin from outside L{ntpservice}
(L{tests.toyplugins.toy}) does its work through the public interfaces only:
it parses its own directive, mobilizes an association, sends an unsolicited
packet through the daemon's sockets, receives the reply by claiming it, and
is told when its association is removed.
"""

from __future__ import annotations

from zope.interface.verify import verifyObject

from twisted.trial.unittest import SynchronousTestCase

import tests.toyplugins
from ntpservice.interfaces import (
    IAssociationMode,
    IAssociationView,
    IDaemon,
    IModeInstance,
    IPacketClaimant,
    ISourceSpawner,
)
from ntpservice.plugins import loadModePlugins
from ntpservice.sim.hosts import Simulation
from ntpservice.sim.network import LinkSpec
from tests.toyplugins.toy import NONCE

CLIENT = "10.0.1.1"
POLLED = "10.0.0.1"
PROBED = "10.0.0.2"


class ToyModeTests(SynchronousTestCase):
    """
    The toy mode plugin at work in a simulated daemon.
    """

    def setUp(self) -> None:
        [toy] = loadModePlugins(tests.toyplugins)
        self.plugin = toy
        self.sim = Simulation(3)
        self.sim.addReferenceServer(POLLED, refid="GPS")
        self.sim.addReferenceServer(PROBED, refid="PPS")
        host = self.sim.addHost(CLIENT)
        for server in (POLLED, PROBED):
            self.sim.link(CLIENT, server, LinkSpec(delay=1e-3, jitter=1e-5))
        self.daemon = host.runDaemon(
            f"toy {POLLED} {PROBED}\n", plugins=[*loadModePlugins(), toy]
        )
        self.toy = self.daemon.instances["toy"]

    def test_verified(self) -> None:
        """
        The plugin and its instance provide what they declare, and the
        daemon provides L{IDaemon} with a read-only L{IAssociationView}.
        """
        verifyObject(IAssociationMode, self.plugin)
        for interface in (IModeInstance, IPacketClaimant, ISourceSpawner):
            verifyObject(interface, self.toy)
        verifyObject(IDaemon, self.daemon)
        verifyObject(IAssociationView, self.daemon.associations)

    def test_associationSynchronizes(self) -> None:
        """
        The association the toy mobilized is polled like any other and
        becomes the system peer.
        """
        self.sim.run(30.0)
        association = self.daemon.associations.get(self.toy.associd)
        self.assertEqual((association.address, association.settings.origin), (POLLED, "toy"))
        self.assertEqual(list(self.daemon.associations), [association])
        self.assertEqual(self.daemon.engine.systemPeer, self.toy.associd)

    def test_unsolicitedReplyClaimed(self) -> None:
        """
        The probed server's reply to the toy's own request, from a server
        the daemon has no association with, reaches the toy (by its origin
        timestamp), and nobody else.
        """
        self.sim.run(5.0)
        [reply] = self.toy.replies
        self.assertEqual(reply.org, NONCE)
        self.assertEqual(reply.refid, b"PPS\0")
        self.assertIsNone(self.daemon.associations.find(PROBED, 123))

    def test_toldOfRemoval(self) -> None:
        """
        A spawner is told when its association is removed.
        """
        self.sim.run(5.0)
        self.daemon.demobilize(self.toy.associd, "unpeer")
        self.assertEqual(self.toy.removed, [(self.toy.associd, POLLED, "unpeer")])
        self.assertEqual(len(self.daemon.associations), 0)
