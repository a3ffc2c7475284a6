# -*- test-case-name: tests.attacks.test_amplification -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Amplification: what one forged request can make the daemon send to its
victim, for every NTP packet mode and every mode 6 opcode.

ntpd's C{monlist} (mode 7 MON_GETLIST_1) answered an 8-octet request with
up to 100 datagrams of 440 octets and made NTP the largest DDoS amplifier
of 2014: CVE-2013-5211; Czyz et al., "Taming the 800 Pound Gorilla: The
Rise and Decline of NTP DDoS Attacks", IMC 2014; Rossow, "Amplification
Hell: Revisiting Network Protocols for DDoS Abuse", NDSS 2014 (whose
bandwidth amplification factor, UDP payload out over UDP payload in, is
the ratio measured here). Mode 6 answers (C{ntpq rv}, C{ntpq -p}) reach
50 times their request as well.

Against the real daemon in a namespace, from an attacker host on the same
link: one unauthenticated request of every mode 0-7 (mode 7 C{monlist}
among them) and of every mode 6 opcode 0-31, from (a) a source that only
the default C{restrict ... noquery} line matches, and (b) a network
allowed to query. The table of octets in and out is printed. Mode 7 is
never answered, no mode but 6 answers with more than it was sent, and
mode 6 is bounded by the byte budget of unproven addresses
(L{ntpservice.control.mode6.server}): floods, from one address or from
fresh forged ones, get fewer octets than they send. NTPsec's C{ntpq -p}
and C{ntpq -c rv} from the allowed network still work at human rates.

The module is also the probe that runs inside the attacker's namespace
(C{python -m tests.attacks.test_amplification --probe ...}).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import struct
import sys
import time
from typing import Any, Sequence

import pytest

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core import control as K
from tests.attacks import spoof
from tests.interop import peers

pytestmark = [pytest.mark.interop, pytest.mark.netns]

QUIET = 0.6
"""Seconds without a datagram after which a probe's answer is complete."""


# --------------------------------------------------------------------------
# The probe (runs in the attacker's namespace)


def ntpPacket(mode: int, version: int = 4) -> bytes:
    """A 48-octet NTP packet of C{mode} with a transmit timestamp."""
    header = struct.pack("!BBbb", (version << 3) | mode, 0, 6, -20)
    return header + bytes(36) + struct.pack("!Q", 0xE8F1_2345_6789_ABCD)


MONLIST_SHORT = bytes.fromhex("1700032a00000000")
"""ntpd's MON_GETLIST_1 request as scanners send it (8 octets)."""

MONLIST_FULL = bytes.fromhex("1700032a") + bytes(188)
"""The same, as ntpdc sends it (a whole 192-octet request)."""


def probeRequests() -> list[tuple[str, bytes | str]]:
    """
    Every probe: a label and its datagram (C{"mru-nonce"}: READ_MRU after
    a REQ_NONCE handshake, built by the probe).
    """
    requests: list[tuple[str, bytes | str]] = []
    for mode in (0, 1, 2, 3, 4, 5, 7):
        requests.append((f"mode {mode}", ntpPacket(mode)))
    requests.append(("mode 0 v1", ntpPacket(0, 1)))
    requests.append(("mode 7 monlist (8)", MONLIST_SHORT))
    requests.append(("mode 7 monlist (192)", MONLIST_FULL))
    data = {
        K.OP_READVAR: b"",
        K.OP_WRITEVAR: b"leap=0",
        K.OP_WRITECLOCK: b"timecode=0",
        K.OP_CONFIGURE: b"server 192.0.2.99",
        K.OP_SAVECONFIG: b"ntp.conf",
        K.OP_READ_MRU: b"frags=32",
    }
    for opcode in range(32):
        message = K.ControlMessage(opcode, 100 + opcode, data=data.get(opcode, b""))
        requests.append((f"mode 6 op {opcode}", message.encode()))
    requests.append(("mode 6 op 2 assoc 1", K.ControlMessage(K.OP_READVAR, 200, associd=1).encode()))
    requests.append(("mode 6 op 10 nonce", "mru-nonce"))
    return requests


def collect(sock: socket.socket, quiet: float = QUIET) -> list[bytes]:
    """Every datagram until none came for C{quiet} seconds (at most 10 s)."""
    out = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        readable, _w, _x = select.select([sock], [], [], quiet)
        if not readable:
            break
        out.append(sock.recv(65535))
    return out


def mruWithNonce(source: str, target: str) -> dict[str, Any]:
    """REQ_NONCE, then READ_MRU with that nonce, from one socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.connect((target, 123))
    try:
        request = K.ControlMessage(K.OP_REQ_NONCE, 300).encode()
        sock.send(request)
        answers = collect(sock)
        sent, received = len(request), sum(len(a) for a in answers)
        nonce = ""
        for answer in answers:
            text = K.ControlMessage.decode(answer).data.decode("ascii", "replace").strip()
            if text.startswith("nonce="):
                nonce = text
        if nonce:
            request = K.ControlMessage(K.OP_READ_MRU, 301,
                                       data=f"{nonce}, frags=32".encode()).encode()
            sock.send(request)
            answers = collect(sock)
            sent += len(request)
            received += sum(len(a) for a in answers)
        return {"in": sent, "out": received, "answered": bool(nonce)}
    finally:
        sock.close()


def probe(source: str, target: str) -> list[dict[str, Any]]:
    """
    Send every probe once from C{source}, each from a socket of its own,
    and count the octets (UDP payload) that come back to each.
    """
    results = []
    sockets = []
    for label, datagram in probeRequests():
        if isinstance(datagram, str):
            continue
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((source, 0))
        sock.connect((target, 123))
        sock.send(datagram)
        sockets.append((label, datagram, sock))
    time.sleep(QUIET)
    for label, datagram, sock in sockets:
        answers = collect(sock, 0.05)
        sock.close()
        results.append({"label": label, "in": len(datagram),
                        "out": sum(len(a) for a in answers), "datagrams": len(answers)})
    mru = mruWithNonce(source, target)
    results.append({"label": "mode 6 op 12+10 nonce, mru", "in": mru["in"],
                    "out": mru["out"], "datagrams": int(mru["answered"])})
    return results


def flood(source: str, target: str, rounds: int) -> dict[str, int]:
    """
    C{rounds} times every mode 6 opcode from one socket, as fast as it
    goes; the octets sent and received.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.connect((target, 123))
    sent = received = 0
    datagrams = [d for label, d in probeRequests()
                 if label.startswith("mode 6") and isinstance(d, bytes)]
    try:
        for _ in range(rounds):
            for datagram in datagrams:
                sock.send(datagram)
                sent += len(datagram)
            while select.select([sock], [], [], 0)[0]:
                received += len(sock.recv(65535))
        for answer in collect(sock):
            received += len(answer)
    finally:
        sock.close()
    return {"in": sent, "out": received}


def counters(target: str = "127.0.0.1") -> dict[str, int]:
    """The daemon's ctl_* variables, read over loopback."""
    from ntpservice.control.client import ControlClient
    from ntpservice.control.mode6.variables import CONTROL_VARIABLES

    with ControlClient(target, 123) as client:
        values = dict(client.readVariables(0, CONTROL_VARIABLES).variables)
    return {name: int(values[name]) for name in CONTROL_VARIABLES}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.attacks.test_amplification")
    parser.add_argument("--probe", nargs=2, metavar=("SOURCE", "TARGET"))
    parser.add_argument("--flood", nargs=3, metavar=("SOURCE", "TARGET", "ROUNDS"))
    parser.add_argument("--counters", action="store_true")
    args = parser.parse_args(argv)
    if args.probe:
        result: Any = probe(*args.probe)
    elif args.flood:
        result = flood(args.flood[0], args.flood[1], int(args.flood[2]))
    else:
        result = counters()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


# --------------------------------------------------------------------------
# The tests


def table(title: str, rows: list[dict[str, Any]]) -> str:
    """The probes' figures as a table."""
    lines = [title, f"{'request':<28} {'in':>6} {'out':>6} {'dgrams':>6} {'out/in':>7}"]
    for row in rows:
        ratio = row["out"] / row["in"]
        lines.append(f"{row['label']:<28} {row['in']:>6} {row['out']:>6} "
                     f"{row['datagrams']:>6} {ratio:>7.2f}")
    total_in = sum(r["in"] for r in rows)
    total_out = sum(r["out"] for r in rows)
    lines.append(f"{'all':<28} {total_in:>6} {total_out:>6} {'':>6} "
                 f"{total_out / total_in:>7.2f}")
    return "\n".join(lines)


class AmplificationTests(SynchronousTestCase):
    """
    The real daemon on one host, the attacker on another of the same link.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        self.network = peers.Network(hosts=2)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.attacker, self.server = self.network.hosts
        prefix = self.network.subnet.rsplit(".", 1)[0]
        # (b) the allowed network is the lower half of the /24, the
        # attacker's own address among it; (a) an address of the upper
        # half matches only the default line.
        self.allowedNet = f"{prefix}.0/25"
        self.allowed = self.attacker.address
        self.outsider = f"{prefix}.201"
        self.attacker.run(["ip", "addr", "add", f"{self.outsider}/24", "dev", "eth0"])
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        config = (
            "server 127.127.1.0\n"
            "fudge 127.127.1.0 stratum 3\n"
            "server 192.0.2.1\nserver 192.0.2.2\nserver 192.0.2.3\n"
            "restrict default kod limited nomodify nopeer noquery\n"
            f"restrict {prefix}.0 mask 255.255.255.128 nomodify\n"
            "restrict 127.0.0.1\n"
            "enable monitor\n"
            f"driftfile {workdir}/ntp.drift\n"
        )
        self.daemon = peers.startNtpservice(workdir, config, port=123, netns=self.server,
                                            host=self.server.address)
        self.addCleanup(self.daemon.stop)

    def runProbe(self, *args: str) -> Any:
        result = self.attacker.run(
            spoof.moduleCommand("tests.attacks.test_amplification", *args), timeout=120
        )
        return json.loads(result.stdout.splitlines()[-1])

    def counters(self) -> dict[str, int]:
        result = self.server.run(
            spoof.moduleCommand("tests.attacks.test_amplification", "--counters"), timeout=60
        )
        return json.loads(result.stdout.splitlines()[-1])

    def test_everyModeAndOpcode(self) -> None:
        """
        One request of each mode and mode 6 opcode: mode 7 (monlist
        included) is never answered; no mode but 6 answers with more than
        it got (symmetric modes 1 and 2 included); from the default-only
        source mode 6 gets nothing; from the allowed network every mode 6
        answer fits the budget of one address.
        """
        from ntpservice.control.mode6 import BUDGET_BURST

        outsider = self.runProbe("--probe", self.outsider, self.server.address)
        allowed = self.runProbe("--probe", self.allowed, self.server.address)
        print()
        print(table(f"(a) from {self.outsider}, matching only restrict default noquery", outsider))
        print(table(f"(b) from {self.allowed}, in the allowed {self.allowedNet}", allowed))
        for rows in (outsider, allowed):
            byLabel = {row["label"]: row for row in rows}
            for label in ("mode 7", "mode 7 monlist (8)", "mode 7 monlist (192)"):
                self.assertEqual(byLabel[label]["out"], 0, label)
            for row in rows:
                if not row["label"].startswith("mode 6"):
                    self.assertLessEqual(row["out"], row["in"], row)
        self.assertEqual(sum(row["out"] for row in outsider if row["label"].startswith("mode 6")), 0)
        mode6 = [row for row in allowed if row["label"].startswith("mode 6")]
        self.assertGreater(sum(row["out"] for row in mode6), 0)
        self.assertLessEqual(sum(row["out"] for row in mode6), BUDGET_BURST)
        # Write opcodes change nothing, unauthenticated.
        byLabel = {row["label"]: row for row in allowed}
        for opcode in (K.OP_WRITEVAR, K.OP_WRITECLOCK, K.OP_CONFIGURE, K.OP_SAVECONFIG,
                       K.OP_SETTRAP, K.OP_UNSETTRAP):
            self.assertLessEqual(byLabel[f"mode 6 op {opcode}"]["out"],
                                 byLabel[f"mode 6 op {opcode}"]["in"])

    def test_floodFromOneAddress(self) -> None:
        """
        A flood of every mode 6 opcode from one allowed address gets fewer
        octets than it sends, and the daemon counts the answers it did not
        send.
        """
        result = self.runProbe("--flood", self.allowed, self.server.address, "60")
        ratio = result["out"] / result["in"]
        print(f"\nflood from one address: {result['in']} octets in, {result['out']} out, "
              f"out/in {ratio:.3f}")
        self.assertLessEqual(result["out"], result["in"])
        counts = self.counters()
        self.assertGreater(counts["ctl_overbudget"] + counts["ctl_ratelimited"], 0)

    def test_floodFromFreshAddresses(self) -> None:
        """
        A flood of READVAR requests forged from every address of the
        allowed network in turn (each a fresh budget) draws fewer octets
        than it sends: the global budget bounds them all.
        """
        from ntpservice.control.mode6 import GLOBAL_BUDGET_BURST, GLOBAL_BUDGET_RATE

        request = K.ControlMessage(K.OP_READVAR, 1).encode()
        flood = self.attacker.run(
            spoof.moduleCommand("tests.attacks.spoof", "--flood", "4000", "--rate", "800",
                                "--src-net", self.allowedNet, "--dst", self.server.address,
                                "--dport", "123", "--sport", "40000",
                                "--payload", request.hex()),
            timeout=120,
        )
        result = json.loads(flood.stdout.splitlines()[-1])
        time.sleep(1)
        counts = self.counters()
        octetsIn = result["sent"] * len(request)
        sent = counts["ctl_sentoctets"]
        print(f"\nflood from fresh addresses: {result['sent']} requests in "
              f"{result['seconds']:.1f} s, {octetsIn} octets in "
              f"({counts['ctl_receivedoctets']} reached the daemon), {sent} out, "
              f"out/in {sent / octetsIn:.3f}, {counts['ctl_overbudget']} over budget")
        self.assertLessEqual(sent, GLOBAL_BUDGET_BURST + GLOBAL_BUDGET_RATE * (
            result["seconds"] + 5))
        self.assertLessEqual(sent, octetsIn)
        self.assertGreater(counts["ctl_overbudget"], 0)

    def test_ntpqKeepsWorking(self) -> None:
        """
        NTPsec's ntpq, unchanged, from the allowed network: C{-p} and
        C{-c rv}, one command every two seconds for 20 seconds, are all
        answered within the budget of an unproven address.
        """
        ntpq = peers.requireBinary("ntpq")
        before = self.counters()
        commands = [("-p",), ("-c", "rv")] * 6
        for index, args in enumerate(commands):
            if index:
                time.sleep(2)
            result = self.attacker.run([ntpq, "-n", *args, self.server.address], check=False,
                                       timeout=60)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertNotIn("***", result.stdout + result.stderr)
            if args == ("-p",):
                self.assertIn("192.0.2.3", result.stdout)
            else:
                self.assertIn("version=", result.stdout)
        after = self.counters()
        print(f"\nntpq -p and rv, {len(commands)} commands: "
              f"{after['ctl_receivedoctets'] - before['ctl_receivedoctets']} octets in, "
              f"{after['ctl_sentoctets'] - before['ctl_sentoctets']} out")
        self.assertEqual(after["ctl_overbudget"], before["ctl_overbudget"])


if __name__ == "__main__":
    sys.exit(main())
