# -*- test-case-name: tests.interop.test_symmetric -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Issue 11 with real peers in namespaces: chronyd 4.3 as our symmetric peer
(C{peer} both ways, with an MD5 and an AES-CMAC key), chronyd mobilizing a
symmetric passive association on our side, and a wrong key.

Hosts: two upstream chronyd servers (C{local stratum 1}), one for each
peer, a chronyd peer and ours, on one bridge. Everything polls every 8 s
(C{minpoll 3 maxpoll 3}), and no daemon adjusts a clock (chronyd C{-x},
ours C{--no-clock-adjust}, none with CAP_SYS_TIME).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time

import pytest
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.auth.keys import formatKeysFile, parseKeysText
from tests.interop import peers
from tests.interop.test_client import SELECTED

pytestmark = [pytest.mark.interop, pytest.mark.netns]

KEYS_TEXT = (
    "1 MD5 OurMd5Secret\n"
    "3 AES128CMAC 000102030405060708090a0b0c0d0e0f\n"
)
WRONG_KEYS_TEXT = (
    "1 MD5 NotTheSecret\n"
    "3 AES128CMAC 0f0e0d0c0b0a09080706050403020100\n"
)
TRUSTED = (1, 3)
POLL = "minpoll 3 maxpoll 3"
WAIT = 120.0
"""Seconds any one expected state may take to appear (bounded waits)."""


def writeKeys(workdir: str, text: str, dialect: str, name: str) -> str:
    ring = parseKeysText(text, name).withTrusted(TRUSTED)
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(formatKeysFile(ring, dialect))
    os.chmod(path, 0o600)
    return path


def waitFor(predicate, timeout: float = WAIT, interval: float = 2.0):  # type: ignore[no-untyped-def]
    """
    Call C{predicate} until it returns something true, at most C{timeout}
    seconds.

    @return: that value, or the last false one.
    """
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


class ChronydPeerCase(SynchronousTestCase):
    """
    Four hosts: chronyd's upstream, ours, a chronyd peer and ours; helpers
    to start them and read what they say.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        self.chronyc = peers.requireBinary("chronyc")
        self.chronyd = peers.requireBinary("chronyd")
        self.ntpq = peers.requireBinary("ntpq")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.network = peers.Network(hosts=4)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.chronyUp, self.oursUp, self.chronyHost, self.oursHost = self.network.hosts

    # -- the daemons ------------------------------------------------------

    def upstream(self, host: peers.Host, name: str) -> peers.DaemonProcess:
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir)
        server = peers.startChronydServer(workdir, port=123, netns=host, stratum=1,
                                          name=name)
        self.addCleanup(server.stop)
        return server

    def chronyPeer(self, keysText: str, line: str, upstream: bool = True
                   ) -> peers.ChronydServer:
        """
        chronyd with C{line} (its C{peer} line) and, when C{upstream}, its
        upstream server; no local reference.
        """
        workdir = os.path.join(self.workdir, "chrony")
        os.makedirs(workdir)
        # A short path: a Unix socket's path has at most 107 bytes.
        sockdir = tempfile.mkdtemp(prefix="ntps-chronyc-")
        self.addCleanup(shutil.rmtree, sockdir, True)
        os.chmod(sockdir, 0o700)
        keys = writeKeys(workdir, keysText, "chrony", "chrony.keys")
        lines = [
            "port 123",
            "allow all",
            "cmdport 0",
            f"bindcmdaddress {os.path.join(sockdir, 'chronyd.sock')}",
            f"pidfile {os.path.join(workdir, 'chronyd.pid')}",
            f"keyfile {keys}",
            # chronyd's default (mix) requires an authenticated source (us)
            # to be selectable before it selects any: while we are
            # unsynchronized it would not select its own upstream either.
            "authselectmode ignore",
            line,
        ]
        if upstream:
            lines.append(f"server {self.chronyUp.address} iburst {POLL}")
        configPath = os.path.join(workdir, "chronyd.conf")
        with open(configPath, "w") as f:
            f.write("\n".join(lines) + "\n")
        chrony = peers.ChronydServer(
            [self.chronyd, "-x", "-u", "root", "-d", "-f", configPath],
            workdir, "chronyd-peer", self.chronyHost,
        )
        chrony.host = self.chronyHost.address
        chrony.port = 123
        chrony.configPath = configPath
        chrony.socketPath = os.path.join(sockdir, "chronyd.sock")
        chrony.start()
        self.addCleanup(chrony.stop)
        time.sleep(0.5)
        chrony.assertNoSysTime()
        return chrony

    def ours(self, keysText: str, lines: str) -> peers.DaemonProcess:
        keys = writeKeys(self.workdir, keysText, "ntpsec", "ntp.keys")
        config = (
            f"keys {keys}\ntrustedkey {' '.join(map(str, TRUSTED))}\n"
            f"driftfile {self.workdir}/ntp.drift\n" + lines
        )
        daemon = peers.startNtpservice(self.workdir, config, port=123,
                                       netns=self.oursHost, name="ours")
        self.addCleanup(daemon.stop)
        daemon.assertNoSysTime()
        return daemon

    # -- what they say ------------------------------------------------------

    def chronySources(self, chrony: peers.ChronydServer) -> str:
        return chrony.chronyc("sources")

    def chronyRow(self, chrony: peers.ChronydServer) -> str:
        for line in self.chronySources(chrony).splitlines():
            if self.oursHost.address in line:
                return line
        return ""

    def ntpqPeers(self) -> str:
        return str(peers.runCommand([self.ntpq, "-n", "-p", "127.0.0.1"],
                                    netns=self.oursHost).stdout)

    def ourRow(self) -> str:
        for line in self.ntpqPeers().splitlines():
            if self.chronyHost.address in line:
                return line
        return ""

    @staticmethod
    def reach(row: str) -> int:
        """The reach column of an ntpq -p row (octal)."""
        fields = row[1:].split()
        return int(fields[6], 8) if len(fields) > 6 else 0



class SymmetricWithChronydTests(ChronydPeerCase):
    """
    chronyd and ours as symmetric peers, each with its own upstream.
    """

    def peering(self, keyID: int) -> None:
        """
        chronyd and ours as symmetric peers with key C{keyID}: both reach
        each other (chronyc shows ours as a C{=} peer, ntpq shows chronyd
        with type C{s}); with our upstream gone we select chronyd and
        serve its stratum plus one to ntpdig; with chronyd's gone, chronyd
        selects us.
        """
        self.upstream(self.chronyUp, "chronyUp")
        oursUp = self.upstream(self.oursUp, "oursUp")
        chrony = self.chronyPeer(
            KEYS_TEXT, f"peer {self.oursHost.address} key {keyID} {POLL}"
        )
        ours = self.ours(
            KEYS_TEXT,
            f"server {self.oursUp.address} iburst {POLL}\n"
            f"peer {self.chronyHost.address} key {keyID} {POLL}\n",
        )
        row = waitFor(lambda: (lambda r: r if self.reach(r) else "")(self.ourRow()))
        self.assertTrue(row, self.ntpqPeers() + ours.output())
        self.assertEqual(row[1:].split()[3], "s", row)
        chronyRow = waitFor(lambda: (lambda r: r if r.startswith("=") and
                                     not r.split()[4] == "0" else "")(self.chronyRow(chrony)))
        self.assertTrue(chronyRow.startswith("="), self.chronySources(chrony))
        self.assertNotEqual(chronyRow.split()[4], "0", chronyRow)
        # Our upstream goes away: we follow chronyd.
        oursUp.stop()
        pattern = re.compile(
            SELECTED.pattern.replace(r"(?P<address>\S+)",
                                     re.escape(self.chronyHost.address)))
        match = ours.waitForOutput(pattern, timeout=WAIT)
        self.assertEqual(int(match.group("stratum")), 3)
        reply = waitFor(lambda: self.ntpdig(3), timeout=30)
        self.assertEqual(reply and reply["stratum"], 3, reply)

    def ntpdig(self, stratum: int):  # type: ignore[no-untyped-def]
        try:
            [reply] = peers.runNtpdig("127.0.0.1", 1, netns=self.oursHost)
        except peers.NtpdigError:
            return None
        return reply if reply["stratum"] == stratum else None

    def test_md5(self) -> None:
        """
        With an MD5 key: see L{peering}.
        """
        self.peering(1)

    def test_aesCmac(self) -> None:
        """
        With an AES-128-CMAC key: see L{peering}.
        """
        self.peering(3)

    def test_chronySelectsUs(self) -> None:
        """
        chronyd with no upstream of its own and an MD5 key selects us as
        its system peer (C{=*}); tshark finds every packet of the exchange
        well formed, and each of ours answering chronyd's latest.
        """
        self.upstream(self.oursUp, "oursUp")
        chrony = self.chronyPeer(
            KEYS_TEXT, f"peer {self.oursHost.address} key 1 {POLL}", upstream=False
        )
        self.ours(
            KEYS_TEXT,
            f"server {self.oursUp.address} iburst {POLL}\n"
            f"peer {self.chronyHost.address} key 1 {POLL}\n",
        )
        row = waitFor(lambda: (lambda r: r if r.startswith("=*") else "")(
            self.chronyRow(chrony)))
        self.assertTrue(row.startswith("=*"), self.chronySources(chrony))
        # tshark judges three polls of the exchange: every packet is a
        # well-formed symmetric active packet with a MAC, and each of ours
        # answers chronyd's latest (its origin is chronyd's transmit
        # timestamp).
        with peers.capture(self.workdir, 123, interface="eth0", netns=self.oursHost,
                           duration=40) as running:
            time.sleep(26)
        packets = [
            p for p in peers.tsharkDecode(running.path)
            if {p.source, p.destination}
            == {self.oursHost.address, self.chronyHost.address}
        ]
        self.assertGreaterEqual(len(packets), 4, packets)
        last: dict[str, str] = {}
        answered = 0
        for packet in packets:
            self.assertEqual(packet.problems, [], packet)
            self.assertEqual(packet.mode, 1, packet)
            self.assertEqual(len(packet.payload), 48 + 4 + 16, packet)
            if packet.source == self.oursHost.address and "xmt" in last:
                self.assertEqual(packet.fields["ntp.org"], last["xmt"], packet)
                answered += 1
            if packet.source == self.chronyHost.address:
                last["xmt"] = packet.fields["ntp.xmt"]
        self.assertGreater(answered, 0)

    def test_wrongKey(self) -> None:
        """
        With key 1 of another secret on chronyd's side, neither side ever
        hears the other: ours never selects chronyd once our upstream is
        gone, and chronyd's reach of us stays 0.
        """
        self.upstream(self.chronyUp, "chronyUp")
        oursUp = self.upstream(self.oursUp, "oursUp")
        chrony = self.chronyPeer(
            WRONG_KEYS_TEXT, f"peer {self.oursHost.address} key 1 {POLL}"
        )
        ours = self.ours(
            KEYS_TEXT,
            f"server {self.oursUp.address} iburst {POLL}\n"
            f"peer {self.chronyHost.address} key 1 {POLL}\n",
        )
        ours.waitForOutput(SELECTED, timeout=WAIT)
        oursUp.stop()
        time.sleep(60)
        self.assertEqual(self.reach(self.ourRow()), 0, self.ntpqPeers())
        self.assertNotIn(f"Selected {self.chronyHost.address}", ours.output())
        row = self.chronyRow(chrony)
        self.assertEqual(row.split()[4], "0", self.chronySources(chrony))


class PassiveForChronydTests(ChronydPeerCase):
    """
    chronyd with C{peer OURS key N} and no C{peer} line on our side.
    """

    def passive(self, line: str) -> peers.DaemonProcess:
        self.upstream(self.chronyUp, "chronyUp")
        self.chronyPeer(KEYS_TEXT, line)
        return self.ours(KEYS_TEXT, "")

    def associations(self) -> str:
        return str(peers.runCommand([self.ntpq, "-n", "-c", "as", "127.0.0.1"],
                                    netns=self.oursHost).stdout)

    def test_trustedKey(self) -> None:
        """
        With a trusted key, ours mobilizes a passive association (ntpq:
        C{hmode=2}, type C{S}; C{as}: not configured, auth ok) and selects
        chronyd.
        """
        ours = self.passive(f"peer {self.oursHost.address} key 1 {POLL}")
        match = ours.waitForOutput(SELECTED, timeout=WAIT)
        self.assertEqual(match.group("address"), self.chronyHost.address)
        rows = [line for line in self.associations().splitlines()
                if re.match(r"\s*\d+\s+\d+\s+[0-9a-f]{4}", line)]
        self.assertEqual(len(rows), 1, self.associations())
        fields = rows[0].split()
        self.assertEqual((fields[3], fields[5]), ("no", "ok"), rows[0])
        rv = str(peers.runCommand(
            [self.ntpq, "-n", "-c", f"rv {fields[1]} hmode,srcadr", "127.0.0.1"],
            netns=self.oursHost).stdout)
        self.assertIn("hmode=2", rv)
        self.assertIn(self.chronyHost.address, rv)
        # NTPsec's ntpq types a passive association S (an active one s).
        self.assertEqual(self.ourRow()[1:].split()[3], "S")

    def test_noKey(self) -> None:
        """
        Without a key, nothing is mobilized on our side.
        """
        ours = self.passive(f"peer {self.oursHost.address} {POLL}")
        ours.waitForOutput(re.compile(r"."), timeout=10)
        time.sleep(40)
        self.assertNotIn(self.chronyHost.address, self.ntpqPeers())
        self.assertNotIn("Mobilized symmetric passive", ours.output())
