# -*- test-case-name: tests.attacks.test_spoof -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The attack tests' forger, L{tests.attacks.spoof}, checked against the
kernel: a forged datagram arrives from the address it claims, and two
fragments are reassembled into one datagram.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.attacks import spoof
from tests.interop import peers


class ChecksumTests(SynchronousTestCase):
    """
    The Internet checksum and the headers built from it.
    """

    def test_rfc1071Example(self) -> None:
        """
        RFC 1071's example words sum to 0xddf2; the checksum is its
        complement.
        """
        data = bytes.fromhex("0001f203f4f5f6f7")
        self.assertEqual(spoof.checksum(data), ~0xDDF2 & 0xFFFF)

    def test_ipHeaderVerifies(self) -> None:
        """
        An IPv4 header with its checksum sums to zero.
        """
        packet = spoof.udpPacket("192.0.2.1", 123, "192.0.2.2", 123, b"x" * 48)
        self.assertEqual(spoof.checksum(packet[:20]), 0)
        self.assertEqual(len(packet), 20 + 8 + 48)

    def test_compensate(self) -> None:
        """
        A forged payload adjusted by L{spoof.compensate} has the genuine
        payload's sum, so the genuine UDP checksum covers it.
        """
        genuine = bytes(range(48))
        forged = bytearray(genuine)
        forged[40:48] = b"\xff" * 8
        spoof.compensate(genuine, forged, 38)
        self.assertEqual(spoof.checksum(genuine), spoof.checksum(bytes(forged)))
        self.assertEqual(forged[40:48], b"\xff" * 8)


@pytest.mark.netns
class KernelTests(SynchronousTestCase):
    """
    Forged packets sent from one namespace arrive in another as the kernel
    would deliver genuine ones.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        self.network = peers.Network(hosts=2)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.attacker, self.target = self.network.hosts

    def receive(self, count: int) -> subprocess.Popen[str]:
        receiver = self.target.popen(
            spoof.moduleCommand("tests.attacks.receive", "--port", "4242",
                                "--count", str(count), "--timeout", "10"),
            stdout=subprocess.PIPE, text=True,
        )
        self.addCleanup(receiver.kill)
        assert receiver.stdout is not None
        self.assertEqual(json.loads(receiver.stdout.readline()), {"ready": True})
        return receiver

    def test_forgedSource(self) -> None:
        """
        A datagram forged from an address that is nobody's arrives with that
        source address and port.
        """
        receiver = self.receive(1)
        self.attacker.run(
            spoof.moduleCommand("tests.attacks.spoof", "--src", "198.51.100.7",
                                "--sport", "5555", "--dst", self.target.address,
                                "--dport", "4242", "--payload", "6869"),
            timeout=30,
        )
        out, _ = receiver.communicate(timeout=15)
        line = json.loads(out.splitlines()[0])
        self.assertEqual(line, {"source": "198.51.100.7", "port": 5555, "payload": "6869"})

    def test_fragmentsReassembled(self) -> None:
        """
        Two fragments of one datagram are delivered as the whole datagram.
        """
        receiver = self.receive(1)
        payload = bytes(range(48))
        packets = spoof.fragments(self.attacker.address, 123, self.target.address, 4242,
                                  payload, 24, ident=0x1234)
        self.attacker.run(
            spoof.moduleCommand("tests.attacks.spoof", "--raw", *(p.hex() for p in packets)),
            timeout=30,
        )
        out, _ = receiver.communicate(timeout=15)
        line = json.loads(out.splitlines()[0])
        self.assertEqual(bytes.fromhex(line["payload"]), payload)
