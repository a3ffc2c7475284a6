# -*- test-case-name: tests.attacks.test_mode6_control -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Mode 6 control without the right key or address, and a captured signed
C{:config} replayed.

ntpd's mode 6 and 7 have been the way in for remote attackers time and
again: CVE-2015-7703 (C{:config} setting the drift file and statistics
paths), CVE-2015-5146 (a crafted C{:config} crashing ntpd), CVE-2016-9310
(C{mrulist} answers to anyone: reconnaissance and traffic amplification),
CVE-2014-9295 (stack overflows in mode 6/7 handling), and ntpd accepts a
captured, correctly signed C{:config} again whenever it is replayed: the
MAC covers neither a time nor a nonce (Malhotra et al., "Attacking the
Network Time Protocol", NDSS 2016, section on replay of control messages;
NTPsec and ntpd 4.2.8 likewise).

Against the real daemon in namespaces: C{:config}, WRITEVAR (ntpq's
C{writevar}/C{setvar}) and C{mrulist} from an address not allowed, without
a key, with a wrong key, with a trusted key that is not the
C{controlkey}: refused, nothing changed (checked with READSTAT and
READVAR over loopback). Then REPLAY: an administrator's C{ntpservice-q
:config} is captured on the wire (the datagrams the real client library
sends), executed, undone, and replayed by an attacker forging the
administrator's address and port: at once (answered again from the
cache, not executed again) and after the nonce expired (refused, counted
as C{control.replayed}, logged once for several replays).

The module is also the client that runs inside a host's namespace
(C{python -m tests.attacks.test_mode6_control --configure ...}).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import time
from typing import Any, Sequence

import pytest

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.core import control as K
from tests.attacks import spoof
from tests.interop import peers

pytestmark = [pytest.mark.interop, pytest.mark.netns]

SHA1_KEY = "0123456789abcdef0123456789abcdef01234567"
WRONG_SHA1_KEY = "fedcba9876543210fedcba9876543210fedcba98"
REFUSAL = "Refused a runtime configuration request"


# --------------------------------------------------------------------------
# The client (runs in a host's namespace)


class _Recorder:
    """A connected socket that keeps every datagram sent."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return self._sock.send(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _client(target: str, keyfile: str | None, keyid: int | None) -> Any:
    from ntpservice.auth.keys import parseKeysFile
    from ntpservice.control.client import ControlClient

    client = ControlClient(target, 123, timeout=1.5, fragmentTimeout=1.5)
    if keyfile is not None and keyid is not None:
        client.key = parseKeysFile(keyfile).get(keyid)
    return client


def _outcome(call: Any) -> dict[str, Any]:
    from ntpservice.control.client import ControlClientError, ServerError, TimeoutError_

    try:
        return {"answer": call()}
    except ServerError as e:
        return {"error": K.ERROR_NAMES.get(e.code, str(e.code))}
    except TimeoutError_:
        return {"error": "timeout"}
    except ControlClientError as e:
        return {"error": str(e)}


def configure(target: str, keyfile: str | None, keyid: int | None, text: str) -> dict[str, Any]:
    """
    C{:config TEXT} with the real client (nonce, MAC); the datagrams it
    sent and the port it sent them from.
    """
    client = _client(target, keyfile, keyid)
    recorder = _Recorder(client._socket)
    client._socket = recorder
    port = recorder.getsockname()[1]
    if client.key is None:
        # Unsigned: the request as it would be, without a MAC.
        result = _outcome(lambda: client.request(K.OP_CONFIGURE, 0, text.encode()).text)
    else:
        result = _outcome(lambda: client.configure(text))
    client.close()
    result["port"] = port
    result["sent"] = [d.hex() for d in recorder.sent]
    return result


def writevar(target: str, keyfile: str | None, keyid: int | None, text: str) -> dict[str, Any]:
    """WRITEVAR (ntpq's writevar/setvar) of system variables."""
    client = _client(target, keyfile, keyid)
    with client:
        return _outcome(lambda: client.request(
            K.OP_WRITEVAR, 0, text.encode(), authenticate=client.key is not None).text)


def mrulist(target: str) -> dict[str, Any]:
    """ntpq's mrulist (nonce handshake, READ_MRU)."""
    client = _client(target, None, None)
    with client:
        return _outcome(lambda: [e.address for e in client.mruList().entries])


def state(target: str = "127.0.0.1") -> dict[str, Any]:
    """The associations' addresses and the system variables, over loopback."""
    client = _client(target, None, None)
    with client:
        _status, associations = client.readStatus()
        addresses = sorted(
            dict(client.readVariables(associd, ["srcadr"]).variables).get("srcadr", "")
            for associd, _word in associations
        )
        variables = dict(client.readVariables(0, ["leap", "stratum", "refid", "tai",
                                                  "ctl_replayed", "ctl_retransmitted",
                                                  "ctl_nononce", "ctl_unauthorized"]).variables)
    return {"addresses": addresses, "variables": variables}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.attacks.test_mode6_control")
    parser.add_argument("--target", default="127.0.0.1")
    parser.add_argument("--keyfile")
    parser.add_argument("--keyid", type=int)
    parser.add_argument("--configure", metavar="TEXT")
    parser.add_argument("--writevar", metavar="TEXT")
    parser.add_argument("--mrulist", action="store_true")
    args = parser.parse_args(argv)
    if args.configure is not None:
        result = configure(args.target, args.keyfile, args.keyid, args.configure)
    elif args.writevar is not None:
        result = writevar(args.target, args.keyfile, args.keyid, args.writevar)
    elif args.mrulist:
        result = mrulist(args.target)
    else:
        result = state(args.target)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


# --------------------------------------------------------------------------
# The tests


class ControlAttackTests(SynchronousTestCase):
    """
    The daemon on one host; an administrator's host allowed to query and
    configure; an outsider's host matching only the default line.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        self.network = peers.Network(hosts=3)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.admin, self.outsider, self.server = self.network.hosts
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.keys = os.path.join(self.workdir, "ntp.keys")
        with open(self.keys, "w") as f:
            f.write(f"1 SHA1 {SHA1_KEY}\n2 MD5 tulip\n")
        self.wrongKeys = os.path.join(self.workdir, "wrong.keys")
        with open(self.wrongKeys, "w") as f:
            f.write(f"1 SHA1 {WRONG_SHA1_KEY}\n")
        for path in (self.keys, self.wrongKeys):
            os.chmod(path, 0o600)
        config = (
            "server 127.127.1.0\n"
            "fudge 127.127.1.0 stratum 3\n"
            "server 192.0.2.1\n"
            f"keys {self.keys}\n"
            "trustedkey 1 2\n"
            "controlkey 1\n"
            "enable monitor\n"
            "restrict default kod limited nomodify nopeer noquery\n"
            f"restrict {self.admin.address}\n"
            "restrict 127.0.0.1\n"
            f"driftfile {self.workdir}/ntp.drift\n"
        )
        # Synchronized (to LOCAL) before the tests read the variables that
        # must not change: leap and stratum change once, at synchronization.
        self.daemon = peers.startNtpservice(self.workdir, config, port=123, netns=self.server,
                                            host=self.server.address, synchronised=True)
        self.addCleanup(self.daemon.stop)

    def client(self, host: peers.Host, *args: str) -> dict[str, Any]:
        result = host.run(spoof.moduleCommand("tests.attacks.test_mode6_control",
                                              "--target", self.server.address, *args),
                          timeout=60)
        return json.loads(result.stdout.splitlines()[-1])

    def state(self) -> dict[str, Any]:
        result = self.server.run(spoof.moduleCommand("tests.attacks.test_mode6_control"),
                                 timeout=60)
        return json.loads(result.stdout.splitlines()[-1])

    def test_refused(self) -> None:
        """
        :config and WRITEVAR from an address not allowed (nothing comes
        back), without a key, with a wrong key, with a trusted key that is
        not the controlkey (PERMISSION; WRITEVAR, which nothing here
        implements, BADOP) change nothing; mrulist from the outsider gets
        nothing, from the administrator's host the list (the daemon's own
        start-up probe in it).
        """
        before = self.state()
        self.assertNotIn("192.0.2.50", before["addresses"])
        text = "server 192.0.2.50"
        attempts = [
            (self.outsider, ("--keyfile", self.keys, "--keyid", "1"), "timeout"),
            (self.admin, (), "PERMISSION"),
            (self.admin, ("--keyfile", self.wrongKeys, "--keyid", "1"), "PERMISSION"),
            (self.admin, ("--keyfile", self.keys, "--keyid", "2"), "PERMISSION"),
        ]
        for host, keyArgs, expected in attempts:
            result = self.client(host, *keyArgs, "--configure", text)
            self.assertEqual(result.get("error"), expected, (host, keyArgs, result))
            writeExpected = "timeout" if host is self.outsider else "BADOP"
            result = self.client(host, *keyArgs, "--writevar", "leap=3, stratum=1")
            self.assertEqual(result.get("error"), writeExpected, (host, keyArgs, result))
        self.assertEqual(self.client(self.outsider, "--mrulist"), {"error": "timeout"})
        self.assertIn(self.server.address, self.client(self.admin, "--mrulist")["answer"])

        after = self.state()
        self.assertEqual(after["addresses"], before["addresses"])
        for name in ("leap", "stratum", "refid"):
            self.assertEqual(after["variables"][name], before["variables"][name])
        self.assertEqual(int(after["variables"]["ctl_unauthorized"]), 3)

        # NTPsec's ntpq sends :config without a nonce: refused from a
        # remote address, even with the controlkey.
        ntpq = peers.requireBinary("ntpq")
        result = self.admin.run([ntpq, "-n", "-k", self.keys, "-a", "1", "-c",
                                 f":config {text}", self.server.address], check=False)
        self.assertIn("PERMISSION", result.stdout + result.stderr)
        self.assertNotIn("192.0.2.50", self.state()["addresses"])
        self.assertEqual(int(self.state()["variables"]["ctl_nononce"]), 1)

    def test_replay(self) -> None:
        """
        A :config captured on the wire is executed once: replayed at once
        from the administrator's address and port it gets the first answer
        again without being executed; replayed after its nonce expired it
        is refused, counted, and logged once for three replays.
        """
        legitimate = self.client(self.admin, "--keyfile", self.keys, "--keyid", "1",
                                 "--configure", "server 192.0.2.60")
        self.assertEqual(legitimate.get("answer"), "Config Succeeded", legitimate)
        captured = bytes.fromhex(legitimate["sent"][-1])
        self.assertEqual(K.ControlMessage.decode(captured).opcode, K.OP_CONFIGURE)
        self.assertRegex(K.ControlMessage.decode(captured).data, rb"\A# nonce=[0-9a-f]{24}\n")
        self.assertIn("192.0.2.60", self.state()["addresses"])
        undo = self.client(self.admin, "--keyfile", self.keys, "--keyid", "1",
                           "--configure", "unpeer 192.0.2.60")
        self.assertEqual(undo.get("answer"), "Config Succeeded", undo)
        self.assertNotIn("192.0.2.60", self.state()["addresses"])

        def replay(count: int) -> None:
            self.outsider.run(
                spoof.moduleCommand("tests.attacks.spoof", "--src", self.admin.address,
                                    "--sport", str(legitimate["port"]),
                                    "--dst", self.server.address, "--dport", "123",
                                    "--payload", captured.hex(), "--count", str(count),
                                    "--interval", "0.2"),
                timeout=60,
            )
            time.sleep(1)

        replay(1)
        now = self.state()
        self.assertNotIn("192.0.2.60", now["addresses"])
        self.assertEqual(int(now["variables"]["ctl_retransmitted"]), 1)
        self.assertEqual(int(now["variables"]["ctl_replayed"]), 0)

        time.sleep(K.NONCE_TIMEOUT + 1)
        replay(3)
        now = self.state()
        self.assertNotIn("192.0.2.60", now["addresses"])
        self.assertEqual(int(now["variables"]["ctl_replayed"]), 3)
        output = self.daemon.output()
        self.assertEqual(len(re.findall(REFUSAL, output)), 1, output)
        self.assertEqual(
            len(re.findall(r"Runtime configuration from \S+: server 192\.0\.2\.60", output)), 1,
            output,
        )


if __name__ == "__main__":
    sys.exit(main())
