# -*- test-case-name: tests.interop.test_interfaces -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Seed 000's DSL box, in network namespaces: our daemon runs C{-u} as an
unprivileged user the test creates, C{-g -U 10}, as a client of a chronyd
upstream through address A; A is replaced by B as PPP does (C{ip addr del}
then C{ip addr add}); the daemon notices at once (rtnetlink), binds port
123 on B after the privilege drop (ntpd's bug #765), keeps synchronizing
through B, serves ntpdig on B, and C{ntpq} shows B as the association's
local address.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import time

import pytest

from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers

pytestmark = [pytest.mark.interop, pytest.mark.netns]

SELECTED = re.compile(r"Selected (?P<address>\S+) \(association (?P<associd>\d+)\) as system peer")
CAP_NET_BIND_SERVICE = 10


def createUser() -> str:
    """A system user of the test's own, removed by L{removeUser}."""
    name = "ntpst" + secrets.token_hex(3)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True, capture_output=True, timeout=30,
    )
    return name


def removeUser(name: str) -> None:
    subprocess.run(["userdel", name], capture_output=True, timeout=30)


def status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(
            (key, value.strip())
            for key, _, value in (line.partition(":") for line in f.read().splitlines())
        )


class DSLBoxTests(SynchronousTestCase):
    """
    The address of the daemon's only interface changes under it.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        for binary in ("chronyd", "ntpdig", "ntpq", "useradd"):
            peers.requireBinary(binary)
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        # The user must reach its state directory (trial's directories are
        # private).
        path = self.workdir
        while path.startswith(os.getcwd() + os.sep):
            os.chmod(path, 0o755)
            path = os.path.dirname(path)
        self.user = createUser()
        self.addCleanup(removeUser, self.user)
        self.state = os.path.join(self.workdir, "state")
        os.makedirs(self.state)
        import pwd

        entry = pwd.getpwnam(self.user)
        os.chown(self.state, entry.pw_uid, entry.pw_gid)
        self.uid = entry.pw_uid
        self.network = peers.Network(hosts=2)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.serverHost, self.box = self.network.hosts
        self.a = self.box.address
        self.b = self.network.subnet.rsplit(".", 1)[0] + ".102"

    def ntpq(self, command: str) -> str:
        result = self.box.run(["ntpq", "-n", "-c", command, "127.0.0.1"], timeout=30, check=False)
        return result.stdout + result.stderr

    def variables(self, associd: str) -> dict[str, str]:
        text = self.ntpq(f"rv {associd} srcadr,dstadr,reach,received").replace("\n", " ")
        return dict(re.findall(r"(\w+)=([^,\s]+)", text))

    def dslBox(self, wildcard: bool) -> None:
        keys = os.path.join(self.workdir, "ntp.keys")
        with open(keys, "w") as f:
            f.write("1 SHA1 0123456789abcdef0123456789abcdef01234567\n")
        os.chmod(keys, 0o600)  # root only
        config = (
            f"keys {keys}\ntrustedkey 1\n"
            + ("" if wildcard else "interface ignore wildcard\n")
            + f"server {self.serverHost.address} iburst minpoll 3 maxpoll 3\n"
            + f"driftfile {self.state}/ntp.drift\n"
            + "restrict 127.0.0.1\n"
        )
        with peers.startChronydServer(self.workdir, port=123, netns=self.serverHost, stratum=2):
            peers.waitForNtp(self.serverHost.address, 123, 15.0, netns=self.serverHost,
                             synchronised=True)
            with peers.startNtpservice(
                self.workdir, config, netns=self.box, host=self.a, name="box",
                extraArgs=("-u", self.user, "-g", "-U", "10"),
            ) as ours:
                selected = ours.waitForOutput(SELECTED, timeout=60)
                associd = selected.group("associd")
                ours.waitForOutput("Running as user", timeout=10)
                self.assertNotIn("is not writable by", ours.output())
                proc = status(ours.pid)  # type: ignore[arg-type]
                self.assertEqual(proc["Uid"].split()[0], str(self.uid))
                self.assertEqual(proc["NoNewPrivs"], "1")
                self.assertEqual(int(proc["CapEff"], 16), 1 << CAP_NET_BIND_SERVICE)
                before = self.variables(associd)
                self.assertEqual(before.get("dstadr"), self.a, before)

                # PPP: the old address goes, a new one comes.
                self.box.run(["ip", "addr", "del", f"{self.a}/24", "dev", "eth0"])
                self.box.run(["ip", "addr", "add", f"{self.b}/24", "dev", "eth0"])
                changed = time.monotonic()
                ours.waitForOutput(
                    re.compile(rf"Listen normally on \d+ eth0 {re.escape(self.b)}:123"),
                    timeout=10 + 5,
                )
                ours.waitForOutput(
                    re.compile(rf"Deleting interface #\d+ eth0, {re.escape(self.a)}#123"),
                    timeout=5,
                )
                noticed = time.monotonic() - changed

                # Synchronizing again through B: new replies, to B.
                deadline = time.monotonic() + 10 + 3 * 8 + 30
                while True:
                    after = self.variables(associd)
                    if (
                        after.get("dstadr") == self.b
                        and int(after.get("received", "0")) > int(before.get("received", "0")) + 1
                    ):
                        break
                    if time.monotonic() > deadline:
                        self.fail(f"no reply through {self.b}: {after}\n{ours.output()}")
                    time.sleep(1)
                resynced = time.monotonic() - changed
                [reply] = peers.runNtpdig(self.b, 1, netns=self.serverHost)
                self.assertEqual(reply["stratum"], 3, reply)
                self.assertIn(associd, self.ntpq("as"))
                # SIGHUP after the drop: the root-only keys file cannot be
                # read again; the keys in use are kept, and it keeps serving.
                os.kill(ours.pid, signal.SIGHUP)  # type: ignore[arg-type]
                ours.waitForOutput("Keys not reloaded", timeout=10)
                self.assertTrue(ours.running())
                [reply] = peers.runNtpdig(self.b, 1, netns=self.serverHost)
                self.assertEqual(reply["stratum"], 3, reply)
        print(f"\naddress change noticed after {noticed * 1e3:.0f} ms, replies through "
              f"the new address after {resynced:.1f} s (poll 8 s)")
        self.assertLess(noticed, 10 + 5)

    def test_perAddressSockets(self) -> None:
        """
        With one socket per address (C{interface ignore wildcard}, ntpd's
        model), port 123 is bound on B after the privilege drop, which
        kept only CAP_NET_BIND_SERVICE (this test holds no CAP_SYS_TIME to
        keep), and the socket of A is closed, with ntpd's log lines; the
        association's local address becomes B and it keeps receiving
        replies; ntpdig on B is served at stratum 3; after SIGHUP the
        root-only keys file cannot be read again, the keys in use are kept
        ("Keys not reloaded") and the daemon keeps serving.
        """
        self.dslBox(wildcard=False)

    def test_wildcardSockets(self) -> None:
        """
        The same with the default wildcard sockets: nothing to rebind, the
        change is logged, the association carries on through B.
        """
        self.dslBox(wildcard=True)
