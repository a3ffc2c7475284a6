# -*- test-case-name: tests.interop.test_auth -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Symmetric-key authentication judged by real peers: chronyd as client of
our server and as server of our client, NTPsec's ntpd as client of ours
(C{ntpq -c as} shows C{auth ok}), and tshark measuring the MACs on the wire.
"""

from __future__ import annotations

import os
import re

import pytest

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.auth.keys import formatKeysFile, parseKeysText
from tests.interop import peers

pytestmark = pytest.mark.interop

KEYS_TEXT = (
    "1 MD5 OurMd5Secret\n"
    "2 SHA1 0123456789abcdef0123456789abcdef01234567\n"
    "3 AES128CMAC 000102030405060708090a0b0c0d0e0f\n"
    "4 SHA256 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
)
WRONG_KEYS_TEXT = (
    "1 MD5 NotTheSecret\n"
    "2 SHA1 fedcba9876543210fedcba9876543210fedcba98\n"
    "3 AES128CMAC 0f0e0d0c0b0a09080706050403020100\n"
    "4 SHA256 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"
)
KEY_IDS = (1, 2, 3)
TRUSTED = (1, 2, 3, 4)
LOCAL = "server 127.127.1.0\nfudge 127.127.1.0 stratum 1\n"


def writeKeys(workdir: str, text: str, dialect: str, name: str) -> str:
    ring = parseKeysText(text, name).withTrusted(TRUSTED)
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(formatKeysFile(ring, dialect))
    os.chmod(path, 0o600)
    return path


def chronydQuery(workdir: str, port: int, keyfile: str, keyID: int,
                 netns: peers.NetNamespace | None = None) -> float:
    """
    chronyd -Q with a key: the offset, or PeerError when no reply
    authenticated.
    """
    chronyd = peers.requireBinary("chronyd")
    argv = peers.withoutSysTime([
        chronyd, "-Q", "-x", "-u", "root", "-f", "/dev/null", "-t", "4",
        f"keyfile {keyfile}",
        f"server 127.0.0.1 port {port} iburst key {keyID} maxsamples 2",
    ])
    result = peers.runCommand(argv, netns=netns, timeout=40, check=False)
    return peers.parseChronydQueryOutput(result.stdout + result.stderr)


class ChronydClientOfOursTests(SynchronousTestCase):
    """
    chronyd, with its own keys file, as a client of our server.
    """

    def setUp(self) -> None:
        peers.requireBinary("chronyd")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        ours = writeKeys(self.workdir, KEYS_TEXT, "ntpsec", "ntp.keys")
        self.good = writeKeys(self.workdir, KEYS_TEXT, "chrony", "chrony.keys")
        self.wrong = writeKeys(self.workdir, WRONG_KEYS_TEXT, "chrony", "wrong.keys")
        self.port = peers.freePort()
        config = f"{LOCAL}keys {ours}\ntrustedkey 1 2 3 4\ndriftfile {self.workdir}/d\n"
        self.daemon = peers.startNtpservice(
            self.workdir, config, port=self.port, synchronised=True,
            extraArgs=("-I", "127.0.0.1"),
        )
        self.addCleanup(self.daemon.stop)

    def test_keysAccepted(self) -> None:
        """
        With MD5, SHA1 and AES128 keys chronyd gets authenticated replies
        (an offset within 1 ms).
        """
        for keyID in KEY_IDS:
            offset = chronydQuery(self.workdir, self.port, self.good, keyID)
            self.assertLess(abs(offset), 1e-3, keyID)

    def test_sha256(self) -> None:
        """
        With a SHA256 key chronyd sends NTPv3 requests carrying the whole
        32-byte digest; we answer in kind and chronyd accepts; a wrong
        secret fails.
        """
        offset = chronydQuery(self.workdir, self.port, self.good, 4)
        self.assertLess(abs(offset), 1e-3)
        self.assertRaises(
            peers.PeerError, chronydQuery, self.workdir, self.port, self.wrong, 4
        )

    def test_wrongKeyFails(self) -> None:
        """
        With the same key IDs but other secrets, chronyd gets nothing it
        accepts (we answer with a crypto-NAK).
        """
        for keyID in KEY_IDS:
            self.assertRaises(
                peers.PeerError, chronydQuery, self.workdir, self.port, self.wrong, keyID
            )


class OursClientOfChronydTests(SynchronousTestCase):
    """
    Our daemon, with a key, as a client of a chronyd server that has the
    same keys.
    """

    SELECTED = re.compile(r"Selected 127\.0\.0\.1 \(association \d+\) as system peer")

    def setUp(self) -> None:
        peers.requireBinary("chronyd")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        chronyKeys = writeKeys(self.workdir, KEYS_TEXT, "chrony", "chrony.keys")
        self.serverPort = peers.freePort()
        self.server = peers.startChronydServer(
            self.workdir, port=self.serverPort, stratum=2,
            extraConfig=(f"keyfile {chronyKeys}",),
        )
        self.addCleanup(self.server.stop)

    def clientWith(self, keysText: str, keyID: int, name: str) -> peers.DaemonProcess:
        keys = writeKeys(self.workdir, keysText, "ntpsec", f"{name}.keys")
        config = (
            f"keys {keys}\ntrustedkey 1 2 3\n"
            f"server 127.0.0.1 port {self.serverPort} iburst key {keyID}\n"
            f"driftfile {self.workdir}/{name}.drift\n"
        )
        daemon = peers.startNtpservice(
            self.workdir, config, port=peers.freePort(), name=name,
            extraArgs=("-I", "127.0.0.1"),
        )
        self.addCleanup(daemon.stop)
        return daemon

    def test_keysAccepted(self) -> None:
        """
        With each key type our client selects the chronyd server.
        """
        for keyID in KEY_IDS:
            daemon = self.clientWith(KEYS_TEXT, keyID, f"good{keyID}")
            daemon.waitForOutput(self.SELECTED, timeout=20)
            daemon.stop()

    def test_wrongKeyFails(self) -> None:
        """
        With a wrong secret chronyd does not answer, and our client never
        synchronizes.
        """
        daemon = self.clientWith(WRONG_KEYS_TEXT, 1, "wrong")
        self.assertRaises(peers.PeerError, daemon.waitForOutput, self.SELECTED, 12)


class NtpsecClientOfOursTests(SynchronousTestCase):
    """
    NTPsec's ntpd with a key as a client of our server: C{ntpq -c as} shows
    C{auth ok}; tshark sees 20- and 24-byte MAC trailers of the right key.
    """

    def test_authOk(self) -> None:
        """
        ntpq on the NTPsec client reports the association with our server
        as authenticated, and every packet carries its MAC.
        """
        peers.requireRoot()
        ntpd = peers.requireBinary("ntpd")
        ntpq = peers.requireBinary("ntpq")
        peers.requireBinary("tshark")
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        keys = writeKeys(workdir, KEYS_TEXT, "ntpsec", "ntp.keys")
        with peers.Network(hosts=2) as network:
            serverHost, clientHost = network.hosts
            config = f"{LOCAL}keys {keys}\ntrustedkey 1 2 3\ndriftfile {workdir}/d\n"
            with peers.startNtpservice(
                workdir, config, port=123, netns=serverHost, synchronised=True
            ), peers.capture(
                workdir, 123, interface="eth0", netns=serverHost
            ) as cap:
                clientConf = os.path.join(workdir, "ntpsec-client.conf")
                with open(clientConf, "w") as f:
                    f.write(
                        f"keys {keys}\ntrustedkey 1 2 3\n"
                        f"server {serverHost.address} iburst minpoll 3 maxpoll 3 key 2\n"
                        f"driftfile {workdir}/ntpsec.drift\n"
                        "unrestrict default limited noquery\n"
                    )
                argv = [ntpd, "-n", "-c", clientConf, "-l",
                        os.path.join(workdir, "ntpsec.log"), "-p",
                        os.path.join(workdir, "ntpsec.pid")]
                with peers.startDaemon(argv, workdir, "ntpsec-client", clientHost):
                    output = ""
                    for _ in range(40):
                        result = peers.runCommand(
                            [ntpq, "-n", "-c", "as", "127.0.0.1"], netns=clientHost,
                            timeout=20, check=False,
                        )
                        output = result.stdout
                        if re.search(r"\bok\b", output) and "yes" in output:
                            break
                        peers.runCommand(["sleep", "0.5"], timeout=5)
        lines = [line for line in output.splitlines() if re.match(r"\s*\d+\s+\d+", line)]
        self.assertTrue(lines, output)
        self.assertIn("ok", lines[0].split(), output)
        packets = peers.tsharkDecode(cap.path, 123)
        self.assertTrue(packets)
        for packet in packets:
            self.assertEqual(packet.problems, [], packet)
            self.assertEqual(len(packet.payload), 48 + 4 + 20, packet)
            self.assertEqual(int.from_bytes(packet.payload[48:52], "big"), 2)
