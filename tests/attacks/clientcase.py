# -*- test-case-name: tests.attacks.test_kiss -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
What the attack tests on a client share: a L{peers.Network} with our
daemon as a client on one host, servers (L{tests.attacks.fakeserver},
chronyd) on others and an attacker host that forges datagrams with
L{tests.attacks.spoof}; our daemon's counters (its metrics endpoint, inside
its namespace) and its associations (ntpq).
"""

from __future__ import annotations

import json
import os
import queue
import re
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Callable

from twisted.trial.unittest import SynchronousTestCase

from tests.attacks import spoof
from tests.interop import peers

METRICS_PORT = 9123
"""Our daemon's metrics port inside its own namespace (nothing else is there)."""

POLL = "minpoll 3 maxpoll 3"
"""Every association polls every 8 s."""

WAIT = 60.0
"""Seconds any one expected state may take to appear."""


def waitFor(predicate: Callable[[], Any], timeout: float = WAIT,
            interval: float = 0.5) -> Any:
    """
    Call C{predicate} until it returns something true, at most C{timeout}
    seconds; return its last value.
    """
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def ntpTimestamp(raw: bytes) -> int:
    """A timestamp field as an integer."""
    return int(struct.unpack("!Q", raw)[0])


def kissPacket(code: str, origin: bytes) -> bytes:
    """
    A Kiss-o'-Death reply (mode 4, stratum 0, leap 3) with kiss code
    C{code} and origin timestamp C{origin} (8 octets).
    """
    return struct.pack("!BBbbII4s", (3 << 6) | (4 << 3) | 4, 0, 3, -20, 0, 0,
                       code.encode("ascii")) + b"\0" * 8 + origin + b"\0" * 16


class FakeServer:
    """
    A running L{tests.attacks.fakeserver}: its requests as they come, and
    commands to change its behaviour.

    @ivar host: the host it runs on.
    @ivar requests: every request it printed so far (dicts).
    """

    def __init__(self, host: peers.Host, state: dict[str, Any] | None = None,
                 groups: tuple[str, ...] = ()) -> None:
        self.host = host
        self.requests: list[dict[str, Any]] = []
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.process = host.popen(
            spoof.moduleCommand("tests.attacks.fakeserver", "--port", "123",
                                "--state", json.dumps(state or {}),
                                *(arg for g in groups for arg in ("--group", g))),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        first = json.loads(self.process.stdout.readline() or "{}")
        if first != {"ready": True}:
            self.stop()
            raise peers.PeerError(f"the fake server on {host} did not start: {first}")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if "request" in obj:
                self.requests.append(obj)
                self._lines.put(obj)

    def command(self, **state: Any) -> None:
        """Change its behaviour (see L{tests.attacks.fakeserver})."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(state) + "\n")
        self.process.stdin.flush()

    def nextRequest(self, timeout: float = WAIT) -> dict[str, Any]:
        """
        The next request it receives (after those already taken).

        @raise AssertionError: if none came within C{timeout} seconds.
        """
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no request reached {self.host} in {timeout} s") from None

    def drain(self) -> None:
        """Forget the requests not taken yet."""
        while not self._lines.empty():
            self._lines.get_nowait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


class ClientAttackCase(SynchronousTestCase):
    """
    A network of C{HOSTS} hosts: our client on C{hosts[0]}, the attacker
    on C{hosts[-1]}, servers between.
    """

    HOSTS = 3

    def setUp(self) -> None:
        peers.requireRoot()
        self.ntpqBinary = peers.requireBinary("ntpq")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.network = peers.Network(hosts=self.HOSTS)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.client = self.network.hosts[0]
        self.attacker = self.network.hosts[-1]
        self.servers = self.network.hosts[1:-1]

    # -- the daemons ------------------------------------------------------

    def fakeServer(self, host: peers.Host, groups: tuple[str, ...] = (),
                   **state: Any) -> FakeServer:
        server = FakeServer(host, state, groups)
        self.addCleanup(server.stop)
        return server

    def chronyd(self, host: peers.Host, name: str) -> peers.ChronydServer:
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir)
        server = peers.startChronydServer(workdir, port=123, netns=host, stratum=1,
                                          name=name)
        self.addCleanup(server.stop)
        return server

    def ours(self, lines: str, extraArgs: tuple[str, ...] = ()) -> peers.DaemonProcess:
        """
        Our daemon on the client host, with C{lines} after a drift file,
        its metrics on L{METRICS_PORT} inside its namespace.
        """
        config = f"driftfile {self.workdir}/ntp.drift\n" + lines
        daemon = peers.startNtpservice(
            self.workdir, config, port=123, netns=self.client, name="ours",
            extraArgs=("--metrics-port", str(METRICS_PORT), *extraArgs),
        )
        self.addCleanup(daemon.stop)
        return daemon

    # -- what our daemon says ---------------------------------------------

    def metrics(self) -> dict[str, float]:
        """Every sample of our metrics endpoint, by name with labels."""
        code = ("import urllib.request, sys; sys.stdout.write(urllib.request.urlopen("
                f"'http://127.0.0.1:{METRICS_PORT}/metrics', timeout=10).read().decode())")
        text = peers.runCommand([sys.executable, "-c", code], netns=self.client,
                                timeout=30).stdout
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def dropped(self, reason: str) -> int:
        """Our counter of packets dropped for C{reason} (C{peer.bogus}, ...)."""
        return int(self.metrics().get(
            f'ntpservice_packets_dropped_total{{reason="{reason}"}}', 0))

    def counter(self, name: str) -> int:
        """One of our other counters (C{symmetric.declined}, ...)."""
        return int(self.metrics().get(
            f'ntpservice_other_events_total{{name="{name}"}}', 0))

    def ntpq(self, *args: str) -> str:
        return str(peers.runCommand([self.ntpqBinary, "-n", *args, "127.0.0.1"],
                                    netns=self.client, timeout=30).stdout)

    def peerRows(self) -> dict[str, str]:
        """ntpq -p's rows by remote address (the tally code first)."""
        rows = {}
        for line in self.ntpq("-p").splitlines():
            fields = line[1:].split()
            if fields and re.match(r"^\d+\.\d+\.\d+\.\d+$", fields[0]):
                rows[fields[0]] = line
        return rows

    def selected(self) -> str | None:
        """The address ntpq shows as the system peer (C{*}), or C{None}."""
        for address, row in self.peerRows().items():
            if row.startswith("*"):
                return address
        return None

    # -- the attacker -----------------------------------------------------

    def forge(self, src: str, sport: int, dport: int, payload: bytes,
              count: int = 1, dst: str | None = None) -> None:
        """
        The attacker sends C{payload} to our client (or to C{dst}) from
        C{src}:C{sport}.
        """
        self.attacker.run(
            spoof.moduleCommand("tests.attacks.spoof", "--src", src, "--sport",
                                str(sport), "--dst", dst or self.client.address, "--dport",
                                str(dport), "--payload", payload.hex(), "--count",
                                str(count)),
            timeout=30,
        )

    def forgeRaw(self, packets: list[bytes]) -> None:
        """The attacker sends these whole IPv4 packets."""
        self.attacker.run(
            spoof.moduleCommand("tests.attacks.spoof", "--raw", *(p.hex() for p in packets)),
            timeout=30,
        )

    def sniff(self, src: str, mode: int, count: int = 1, sport: int = 123,
              timeout: float = 30.0) -> list[dict[str, Any]]:
        """
        What an on-path attacker sees: the next C{count} datagrams from
        C{src}:C{sport} of NTP mode C{mode} that reach our client's host.
        """
        out = self.client.run(
            spoof.moduleCommand("tests.attacks.sniff", "--src", src, "--sport",
                                str(sport), "--mode", str(mode), "--count", str(count),
                                "--timeout", str(timeout)),
            timeout=timeout + 30,
        ).stdout
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [line for line in lines if "payload" in line]
