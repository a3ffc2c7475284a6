# -*- test-case-name: tests.net.test_groups -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.net.groups}: multicast groups joined on the
interfaces the interface tracker reports (issue 13), through a socket
owner whose kernel is a fake that refuses a second join (EADDRINUSE).
"""

from __future__ import annotations

import errno
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.interfaces import IInterfaceObserver
from ntpservice.net.groups import (
    IFF_LOOPBACK,
    IFF_MULTICAST,
    IFF_UP,
    GroupMembership,
    InterfaceFollower,
)
from ntpservice.net.interfaces import InterfaceAddress, InterfaceTracker
from ntpservice.net.sockets import SocketOwner
from ntpservice.sim.hosts import Simulation

GROUP = "224.0.1.1"
GROUP6 = "ff05::101"
UP = IFF_UP | IFF_MULTICAST


class FakeKernel:
    """
    The memberships of one socket: a second join of a group on one
    interface is refused as Linux refuses it.
    """

    def __init__(self) -> None:
        self.members: set[tuple[str, Any]] = set()
        self.calls: list[tuple[str, str, Any]] = []

    def joinGroup(self, group: str, interface: Any = None) -> bool:
        self.calls.append(("join", group, interface))
        if (group, interface) in self.members:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        self.members.add((group, interface))
        return True

    def leaveGroup(self, group: str, interface: Any = None) -> bool:
        self.calls.append(("leave", group, interface))
        self.members.discard((group, interface))
        return True


class RecordingLog:
    """A logger that keeps the formatted lines."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def _line(self, level: str, format: str, **kwargs: Any) -> None:
        self.lines.append((level, format.format(**kwargs)))

    def info(self, format: str, **kwargs: Any) -> None:
        self._line("info", format, **kwargs)

    def warn(self, format: str, **kwargs: Any) -> None:
        self._line("warn", format, **kwargs)


class FollowTests(SynchronousTestCase):
    """
    L{GroupMembership.follow}: a real L{InterfaceTracker} (scanning a list
    the test edits) tells a real L{SocketOwner}, which tells the
    membership's L{InterfaceFollower}.
    """

    def setUp(self) -> None:
        self.kernel = FakeKernel()
        self.sockets = SocketOwner()
        self.sockets.joinGroup = self.kernel.joinGroup  # type: ignore[method-assign]
        self.sockets.leaveGroup = self.kernel.leaveGroup  # type: ignore[method-assign]
        self.addresses = [
            InterfaceAddress("127.0.0.1", 8, 1, "lo"),
            InterfaceAddress("10.1.0.2", 24, 2, "eth0"),
        ]
        self.flags = {"lo": UP | IFF_LOOPBACK, "eth0": UP, "ppp0": UP, "dummy0": IFF_UP}
        self.present = {1, 2}
        self.tracker = InterfaceTracker(
            Clock(), interval=10, scan=lambda: list(self.addresses), events=False
        )
        self.tracker.addObserver(self.sockets)
        self.log = RecordingLog()
        self.membership = GroupMembership(self.sockets, [GROUP, GROUP6], self.log)

    def follow(self) -> None:
        self.membership.follow(
            flags=lambda name: self.flags.get(name, 0), present=lambda: set(self.present)
        )

    def test_provides(self) -> None:
        """
        The follower is an L{IInterfaceObserver}.
        """
        follower = InterfaceFollower(lambda i: None, lambda i: None)
        self.assertTrue(IInterfaceObserver.providedBy(follower))

    def test_joinedOnceAtStart(self) -> None:
        """
        Joined at start on eth0 (C{joinAll}), then subscribed: the
        addresses known already, and the tracker's first scan, cause no
        second join (the kernel would refuse it) and no log line; the
        loopback interface gets none.
        """
        self.tracker.start()
        self.membership.joinOn(2)
        self.follow()
        self.tracker.rescan()
        self.assertEqual(
            sorted(self.kernel.calls), [("join", GROUP, 2), ("join", GROUP6, 2)]
        )
        self.assertEqual(self.log.lines, [])

    def test_addressReplaced(self) -> None:
        """
        The address of eth0 replaced by another (PPP's A then B): the
        memberships of the interface stay, nothing is left or joined again.
        """
        self.tracker.start()
        self.follow()
        self.assertEqual(len(self.kernel.calls), 2)
        self.addresses[1] = InterfaceAddress("10.1.0.3", 24, 2, "eth0")
        self.tracker.rescan()
        del self.addresses[1]
        self.tracker.rescan()
        self.addresses.append(InterfaceAddress("10.1.0.4", 24, 2, "eth0"))
        self.tracker.rescan()
        self.assertEqual(len(self.kernel.calls), 2)
        self.assertEqual(self.kernel.members, {(GROUP, 2), (GROUP6, 2)})

    def test_interfaceAppearsAndGoes(self) -> None:
        """
        A new interface that carries multicast (a PPP link) gets the
        groups, once for its several addresses; when its last address goes
        with it (its index is gone), the groups are left there;
        re-created, with a new index, it
        gets them again. An interface without C{IFF_MULTICAST} gets none.
        """
        self.tracker.start()
        self.membership.joinOn(2)
        self.follow()
        self.present.add(7)
        self.addresses += [
            InterfaceAddress("192.0.2.1", 32, 7, "ppp0"),
            InterfaceAddress("2001:db8::1", 64, 7, "ppp0"),
            InterfaceAddress("10.9.0.1", 24, 8, "dummy0"),
        ]
        self.tracker.rescan()
        self.assertEqual(
            self.kernel.members, {(GROUP, 2), (GROUP6, 2), (GROUP, 7), (GROUP6, 7)}
        )
        self.assertEqual(
            self.kernel.calls[2:], [("join", GROUP, 7), ("join", GROUP6, 7)]
        )
        # PPP down: the link and its addresses go.
        self.present.discard(7)
        self.addresses = self.addresses[:2] + self.addresses[4:]
        self.tracker.rescan()
        self.assertEqual(self.kernel.members, {(GROUP, 2), (GROUP6, 2)})
        self.assertEqual(
            self.kernel.calls[4:], [("leave", GROUP, 7), ("leave", GROUP6, 7)]
        )
        # PPP up again: a new index.
        self.present.add(9)
        self.addresses.append(InterfaceAddress("192.0.2.7", 32, 9, "ppp0"))
        self.tracker.rescan()
        self.assertIn((GROUP, 9), self.kernel.members)
        self.assertEqual(self.log.lines, [])
        joins = [c for c in self.kernel.calls if c[0] == "join"]
        self.assertEqual(len(joins), len(set(joins)))

    def test_alreadyJoined(self) -> None:
        """
        A join the kernel refuses as already made (EADDRINUSE: joined
        through the default interface at start) counts as a membership,
        without a warning.
        """
        self.kernel.members.add((GROUP, 2))
        self.assertEqual(self.membership.joinOn(2), 1)
        self.assertIn((GROUP, 2), self.membership.joined)
        self.assertEqual(self.log.lines, [])

    def test_unfollow(self) -> None:
        """
        L{GroupMembership.leaveAll} leaves the groups and unsubscribes: a
        later interface gets nothing.
        """
        self.tracker.start()
        self.follow()
        self.membership.leaveAll()
        self.assertEqual(self.kernel.members, set())
        self.present.add(7)
        self.addresses.append(InterfaceAddress("192.0.2.1", 32, 7, "ppp0"))
        self.tracker.rescan()
        self.assertEqual(self.kernel.members, set())


class ModeTests(SynchronousTestCase):
    """
    The multicast client and the manycast server follow the interfaces
    through their daemon's socket owner; the broadcast server too, for its
    log lines.
    """

    def test_subscribed(self) -> None:
        """
        Each mode with groups has a follower among the socket owner's
        interface observers, removed when it stops.
        """
        sim = Simulation(1)
        sim.addReferenceServer("10.0.0.1")
        host = sim.addHost("10.0.1.1")
        daemon = host.runDaemon(
            f"multicastclient {GROUP}\nmanycastserver {GROUP}\nbroadcast {GROUP}\n"
            "disable auth\n"
        )
        followers = [
            daemon.instances["broadcastclient"].membership.follower,
            daemon.instances["manycastserver"].membership.follower,
            daemon.instances["broadcast"].follower,
        ]
        for follower in followers:
            self.assertIsInstance(follower, InterfaceFollower)
            self.assertIn(follower, daemon.sockets._interfaceObservers)
        for name in ("broadcastclient", "manycastserver", "broadcast"):
            daemon.instances[name].stop()
        for follower in followers:
            self.assertNotIn(follower, daemon.sockets._interfaceObservers)
