# -*- test-case-name: tests.modes.test_broadcast -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The network interfaces multicast and broadcast modes work on: which ones
can carry multicast (up, C{IFF_MULTICAST}, not loopback), by name and
index, read from the kernel without blocking (C{if_nameindex} and the
flags in C{/sys/class/net}).

Modes that join groups or send to them do it per interface, through one
function each, so that the interface tracker (issue 13) can call it again
for an interface that appears.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_MULTICAST = 0x1000


@dataclass(frozen=True, slots=True)
class Interface:
    """
    One network interface.

    @ivar name: its name (C{eth0}).
    @ivar index: its index (C{if_nametoindex}).
    @ivar flags: its C{IFF_*} flags.
    """

    name: str
    index: int
    flags: int

    @property
    def carriesMulticast(self) -> bool:
        """Up, multicast-capable and not the loopback interface."""
        return (
            self.flags & (IFF_UP | IFF_MULTICAST) == (IFF_UP | IFF_MULTICAST)
            and not self.flags & IFF_LOOPBACK
        )


def interfaceFlags(name: str, sysfs: str = "/sys/class/net") -> int:
    """
    The C{IFF_*} flags of interface C{name}, 0 when they cannot be read.
    """
    try:
        with open(f"{sysfs}/{name}/flags") as f:
            return int(f.read().strip(), 16)
    except (OSError, ValueError):
        return 0


def listInterfaces(sysfs: str = "/sys/class/net") -> list[Interface]:
    """
    Every interface of this network namespace, in index order.
    """
    try:
        pairs = socket.if_nameindex()
    except OSError:
        return []
    return sorted(
        (Interface(name, index, interfaceFlags(name, sysfs)) for index, name in pairs),
        key=lambda i: i.index,
    )


def multicastInterfaces(sysfs: str = "/sys/class/net") -> list[Interface]:
    """
    The interfaces that carry multicast and broadcast: up, multicast
    capable, not loopback.
    """
    return [i for i in listInterfaces(sysfs) if i.carriesMulticast]
