#!/usr/bin/env python3
# -*- test-case-name: tests.interop.test_time_to_sync_smoke -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Time to first synchronization: how many seconds our daemon, chronyd and
NTPsec's ntpd each take, started as clients of the same server at the same
moment, from process start to their first synchronization.

Method
======
One run builds a small network with L{tests.interop.peers.Network}: one
bridge, one server host and one client host per client under test, each host
a network namespace of its own.  The server runs on port 123 of its host for
the whole run:

  - C{--server chronyd} (default): C{chronyd -x -u root -d} with C{local
    stratum 2} (L{peers.startChronydServer});
  - C{--server ntpsec}: NTPsec's C{ntpd -n} in orphan mode at stratum 5
    (L{peers.startNtpsecServer}).

Each round then starts the three clients within a few milliseconds of each
other (the start order rotates from round to round), each in a fresh
directory (no drift file: a cold start) and configured with exactly
C{server <server address> iburst} plus settings that keep it harmless and
local:

  - C{ours}: C{twistd -n --pidfile= ntp -c CONF --no-clock-adjust --port 123}
    (L{peers.ntpserviceCommand}), C{driftfile} in its directory;
  - C{chronyd}: C{chronyd -x -u root -d -f CONF} with C{driftfile},
    C{pidfile} and the command socket in its directory, C{cmdport 0};
  - C{ntpsec}: C{ntpd -n -c CONF -l LOG -p PID} with C{driftfile},
    C{statsdir} in its directory, C{logconfig =all} (for the record only) and
    C{unrestrict default limited noquery} (so that it answers the mode 6
    queries below).

The time to first synchronization of a client is measured from the moment
this script starts its process (just before C{fork}) to:

  - C{ours}: the log line C{Selected ADDRESS (association N) as system peer;
    ...}, seen by polling its output every 20 ms;
  - C{chronyd}: the line C{Selected source ADDRESS} that C{chronyd -d}
    prints, seen the same way;
  - C{ntpsec}: NTPsec 1.2.2 logs no C{clock_sync} or C{sys_peer} event (not
    even with C{logconfig =all}; the only event at that moment is
    C{freq_mode}, and only without a drift file).  Its system variables are
    what is reliable: this script sends a mode 6 READVAR request for
    C{leap,stratum,refid,reftime,peer} to 127.0.0.1:123 inside the client
    namespace every 0.2 s (the same request as C{ntpq -c rv}, but from a
    socket this process opened in that namespace: running C{ntpq}, a Python
    program, five times a second would cost a good part of a CPU during the
    race).  The client is synchronized when C{leap} is not 3, C{stratum} is
    1..15 and C{peer} (the system peer association) is not 0.  The time is
    then taken from C{reftime}, the time of its first clock update, which is
    exact where the polling is only 0.2 s fine; it is checked against the
    polling window and replaced by the polling time if inconsistent.

Each client also gets a start-up time: until C{ours} logs C{ntpservice
started}, C{chronyd} logs C{chronyd version ... starting}, C{ntpsec} first
answers a mode 6 request (to within the 0.2 s between requests).  It shows how much of the total is process
start-up rather than protocol.

A client that has not synchronized C{--timeout} seconds after its start, or
that exits, counts as a failure in that round.  C{--rounds N} repeats the
race; the table gives, per client, the median, minimum and maximum seconds
over the rounds where it synchronized, how many rounds that was, and our
median divided by that client's median (above 1: we are slower).

All hosts share this machine's clock, so every client starts with a true
offset of zero: the figure is process start-up plus the protocol's
start-up latency (delay before the first request, C{iburst} spacing, how
many samples the filter and selection want), not a measure of how fast a
wrong clock is corrected.  The 2-vCPU CI machines run the three start-ups at
once; the rotation of the start order spreads that contention.

Nothing touches the clock: every daemon runs under C{setpriv} without
CAP_SYS_TIME (checked in C{/proc} once it synchronized), chronyd with C{-x},
ours with C{--no-clock-adjust}.  Every process is stopped and every
namespace deleted at the end, also on Ctrl-C or SIGTERM.

Needs root (network namespaces).  This is not a test; run it by hand::

    python benchmarks/time_to_sync.py [--rounds 3] [--timeout 60]
        [--server chronyd|ntpsec] [--json] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import unittest
from typing import Any, Iterator, Sequence

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPOSITORY_ROOT not in sys.path:
    sys.path.insert(0, REPOSITORY_ROOT)

from tests.interop import peers  # noqa: E402

CLIENTS = ("ours", "chronyd", "ntpsec")
"""The clients under test, in table order."""

SERVERS = ("chronyd", "ntpsec")
"""The servers C{--server} can choose."""

CHRONYD_SERVER_STRATUM = 2
"""Stratum of the chronyd server (C{local stratum})."""

NTPSEC_ORPHAN_STRATUM = 5
"""Stratum of the NTPsec server (C{tos orphan}), as in the client interop tests."""

NTP_PORT = 123

POLL_INTERVAL_SECONDS = 0.02
"""How often the logs are read while waiting for synchronization."""

MODE6_INTERVAL_SECONDS = 0.2
"""How often the NTPsec client's system variables are queried."""

REFTIME_SLACK_SECONDS = 0.1
"""How far C{reftime} may lie outside the polling window and still be used."""

OURS_SELECTED = re.compile(
    r"Selected (?P<address>\S+) \(association \d+\) as system peer; "
    r"stratum (?P<stratum>\d+), refid \S+, offset (?P<offset>[-+.\d]+) s"
)
"""Our daemon's log line when it first selects a system peer."""

OURS_STARTED = re.compile(r"ntpservice started")
"""Our daemon's log line once its service is running."""

CHRONYD_SELECTED = re.compile(r"Selected source (?P<address>\S+)")
"""chronyd 4.3's line (with C{-d}, on standard error) when it selects a source."""

CHRONYD_STARTED = re.compile(r"chronyd version \S+ starting")
"""chronyd's first line."""

CLONE_NEWNET = 0x40000000
"""setns(2) namespace type of a network namespace (linux/sched.h)."""

NETNS_DIRECTORIES = ("/run/netns", "/var/run/netns")
"""Where C{ip netns add} binds its namespaces."""

MODE6_VERSION = 2
"""Version number in our mode 6 requests, as ntpq sends."""

CTL_OP_READVAR = 2
"""Mode 6 opcode: read variables."""

MODE6_VARIABLES = b"leap,stratum,refid,reftime,peer"
"""System variables asked of the NTPsec client."""

NTP_EPOCH_OFFSET = peers.NTP_EPOCH_OFFSET


class ClientFailed(Exception):
    """A client exited or misbehaved before synchronizing; the message says how."""


# --------------------------------------------------------------------------
# Sockets inside a namespace, and mode 6


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int, nstype: int) -> None:
    setns = getattr(os, "setns", None)  # Python >= 3.12
    if setns is not None:
        setns(fd, nstype)
        return
    if _libc.setns(fd, nstype) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


def namespaceSocket(
    netns: peers.NetNamespace,
    family: int = socket.AF_INET,
    kind: int = socket.SOCK_DGRAM,
) -> socket.socket:
    """
    Open a socket that lives in another network namespace: this thread
    enters the namespace (setns), creates the socket and comes back.  The
    socket keeps its namespace, so this process can talk to daemons inside
    it without running a program there.  SIGINT and SIGTERM are held back
    meanwhile, so that an interruption cannot leave the thread in the
    wrong namespace.

    @param netns: a namespace created by C{ip netns add}.
    @param family: the address family.
    @param kind: the socket type.
    @return: the socket, non-blocking.
    @raise OSError: when the namespace is missing or setns fails.
    """
    path = next((os.path.join(d, netns.name) for d in NETNS_DIRECTORIES
                 if os.path.exists(os.path.join(d, netns.name))), None)
    if path is None:
        raise OSError(f"network namespace {netns.name} not found")
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(path, os.O_RDONLY)
        try:
            held = signal.pthread_sigmask(signal.SIG_BLOCK,
                                          {signal.SIGINT, signal.SIGTERM})
            try:
                _setns(target, CLONE_NEWNET)
                try:
                    sock = socket.socket(family, kind)
                finally:
                    _setns(home, CLONE_NEWNET)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
        finally:
            os.close(target)
    finally:
        os.close(home)
    sock.setblocking(False)
    return sock


def mode6ReadvarRequest(sequence: int, variables: bytes = MODE6_VARIABLES) -> bytes:
    """
    @param sequence: the request's sequence number, 0..65535.
    @param variables: comma-separated variable names.
    @return: a mode 6 READVAR request for the system variables
        (association 0), padded to a multiple of 4 bytes.
    @see: RFC 1305 appendix B (the control message format ntpq uses).
    """
    header = struct.pack("!BBHHHHH", (MODE6_VERSION << 3) | 6, CTL_OP_READVAR,
                         sequence & 0xFFFF, 0, 0, 0, len(variables))
    return header + variables + bytes(-len(variables) % 4)


def parseMode6Reply(data: bytes) -> tuple[int, dict[str, str]] | None:
    """
    Decode a mode 6 READVAR response.

    @param data: the datagram.
    @return: C{(sequence, variables)} with the values as the daemon wrote
        them (C{"0"}, C{"10.250.1.1"}, C{"0xeeac9309.73bd6938"}), or
        L{None} if it is not a complete, successful READVAR response.
    """
    if len(data) < 12:
        return None
    (flags, op, sequence, _status, _associd, offset,
     count) = struct.unpack("!BBHHHHH", data[:12])
    if flags & 7 != 6 or op & 0x1F != CTL_OP_READVAR:
        return None
    if not op & 0x80 or op & 0x40 or op & 0x20 or offset != 0:
        return None  # Not a response, an error, or one fragment of several.
    text = data[12:12 + count].decode("ascii", "replace")
    variables: dict[str, str] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            variables[name.strip()] = value.strip().strip('"')
    return sequence, variables


def parseLeap(text: str) -> int:
    """
    @param text: a C{leap} value: the daemon sends it in decimal (C{"0"},
        C{"3"}), ntpq shows it as two bits (C{"00"}, C{"11"}).
    @return: the leap indicator, 0..3.
    @raise ValueError: when it is neither.
    """
    return int(text, 2) if len(text) == 2 else int(text)


def ntpHexToPosix(text: str) -> float:
    """
    @param text: an NTP timestamp as mode 6 prints it, C{0xSSSSSSSS.FFFFFFFF}.
    @return: POSIX seconds.
    """
    seconds, _, fraction = text.lower().removeprefix("0x").partition(".")
    return int(seconds, 16) - NTP_EPOCH_OFFSET + int(fraction or "0", 16) / 2**32


# --------------------------------------------------------------------------
# Clients


class Client:
    """
    One client under test in one round: its process and how to tell that it
    synchronized.

    @ivar name: C{"ours"}, C{"chronyd"} or C{"ntpsec"}.
    @ivar host: its namespace.
    @ivar workdir: its own directory (configuration, logs, drift file).
    @ivar serverAddress: the server's IPv4 address.
    @ivar process: its L{peers.DaemonProcess}.
    @ivar startedMonotonic: C{time.monotonic()} just before its start, seconds.
    @ivar startedWall: C{time.time()} at the same moment, POSIX seconds.
    @ivar upSeconds: seconds from start until it was up, once seen.
    @ivar detail: what it reported at synchronization.
    """

    name = ""

    def __init__(self, host: peers.Host, workdir: str, serverAddress: str) -> None:
        self.host = host
        self.workdir = workdir
        self.serverAddress = serverAddress
        os.makedirs(workdir, exist_ok=True)
        self.process = self.makeProcess()
        self.startedMonotonic = 0.0
        self.startedWall = 0.0
        self.upSeconds: float | None = None
        self.detail = ""

    def makeProcess(self) -> peers.DaemonProcess:
        """
        Write the configuration and build the (not yet started) process.
        """
        raise NotImplementedError()

    def start(self) -> None:
        """Start the process and note when."""
        self.startedWall = time.time()
        self.startedMonotonic = time.monotonic()
        self.process.start()

    def poll(self) -> float | None:
        """
        Check whether it has synchronized.

        @return: seconds from its start to its first synchronization, or
            L{None} if not yet.
        @raise ClientFailed: when it exited or synchronized to something
            other than the server.
        """
        raise NotImplementedError()

    def stop(self) -> None:
        """Stop the process (idempotent)."""
        self.process.stop()

    def checkRunning(self) -> None:
        """
        @raise ClientFailed: when the process has exited.
        """
        if not self.process.running():
            popen = self.process.process
            code = None if popen is None else popen.poll()
            raise ClientFailed(f"exited with status {code} before synchronizing"
                               f"{self.logHint()}")

    def logHint(self) -> str:
        """@return: the last lines of its output, for an error message."""
        tail = " | ".join(self.process.output().strip().splitlines()[-3:])
        return f": {tail}" if tail else ""


class LogWatchingClient(Client):
    """
    A client whose output says when it synchronized.

    @cvar selectedPattern: the line printed at synchronization, with an
        C{address} group.
    @cvar upPattern: a line printed once it runs.
    """

    selectedPattern: re.Pattern[str]
    upPattern: re.Pattern[str]

    def poll(self) -> float | None:
        text = self.process.output()
        now = time.monotonic()
        if self.upSeconds is None and self.upPattern.search(text):
            self.upSeconds = now - self.startedMonotonic
        match = self.selectedPattern.search(text)
        if match is None:
            self.checkRunning()
            return None
        if match.group("address") != self.serverAddress:
            raise ClientFailed(f"selected {match.group('address')}, not the server "
                               f"{self.serverAddress}")
        if self.upSeconds is None:
            self.upSeconds = now - self.startedMonotonic
        self.detail = match.group(0)
        return now - self.startedMonotonic


class OursClient(LogWatchingClient):
    """Our daemon under twistd, as in C{tests/interop/test_client.py}."""

    name = "ours"
    selectedPattern = OURS_SELECTED
    upPattern = OURS_STARTED

    def makeProcess(self) -> peers.DaemonProcess:
        configPath = os.path.join(self.workdir, "ntp.conf")
        with open(configPath, "w") as f:
            f.write(f"server {self.serverAddress} iburst\n"
                    f"driftfile {os.path.join(self.workdir, 'ntp.drift')}\n")
        # peers.startNtpservice would block until the daemon answers; the
        # race needs the three clients started together, so build the same
        # command line (with --no-clock-adjust) and environment here.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (peers.REPOSITORY_ROOT, env.get("PYTHONPATH", "")) if p)
        return peers.DaemonProcess(peers.ntpserviceCommand(configPath, NTP_PORT),
                                   self.workdir, "ours", self.host, env=env)


class ChronydClient(LogWatchingClient):
    """chronyd 4.3 as a client, never controlling the clock (C{-x})."""

    name = "chronyd"
    selectedPattern = CHRONYD_SELECTED
    upPattern = CHRONYD_STARTED

    def makeProcess(self) -> peers.DaemonProcess:
        socketDirectory = os.path.join(self.workdir, "chronyd-sock")
        os.makedirs(socketDirectory, mode=0o700, exist_ok=True)
        os.chmod(socketDirectory, 0o700)
        configPath = os.path.join(self.workdir, "chronyd.conf")
        with open(configPath, "w") as f:
            f.write(f"server {self.serverAddress} iburst\n"
                    f"driftfile {os.path.join(self.workdir, 'chronyd.drift')}\n"
                    f"pidfile {os.path.join(self.workdir, 'chronyd.pid')}\n"
                    "cmdport 0\n"
                    f"bindcmdaddress {os.path.join(socketDirectory, 'chronyd.sock')}\n")
        chronyd = peers.requireBinary("chronyd")
        return peers.DaemonProcess([chronyd, "-x", "-u", "root", "-d", "-f", configPath],
                                   self.workdir, "chronyd", self.host)


class NtpsecClient(Client):
    """
    NTPsec's ntpd as a client, watched through mode 6 READVAR requests from
    a socket in its namespace (see the module docstring).

    @ivar logPath: its log file (C{-l}).
    """

    name = "ntpsec"

    def __init__(self, host: peers.Host, workdir: str, serverAddress: str) -> None:
        self._socket: socket.socket | None = None
        self._sequence = 0
        self._sent: dict[int, float] = {}
        """Monotonic send time of each unanswered request, by sequence."""
        self._nextQuery = 0.0
        self._lastUnsynchronized = 0.0
        self._lastVariables: dict[str, str] | None = None
        super().__init__(host, workdir, serverAddress)

    def makeProcess(self) -> peers.DaemonProcess:
        configPath = os.path.join(self.workdir, "ntp.conf")
        with open(configPath, "w") as f:
            f.write("\n".join([
                f"server {self.serverAddress} iburst",
                f"driftfile {os.path.join(self.workdir, 'ntp.drift')}",
                f"statsdir {self.workdir.rstrip('/')}/",
                "logconfig =all",
                *peers.DEFAULT_NTPSEC_RESTRICT,
            ]) + "\n")
        self.logPath = os.path.join(self.workdir, "ntpd.log")
        ntpd = peers.requireBinary("ntpd")
        return peers.DaemonProcess(
            [ntpd, "-n", "-c", configPath, "-l", self.logPath, "-p",
             os.path.join(self.workdir, "ntpd.pid")],
            self.workdir, "ntpsec", self.host)

    def start(self) -> None:
        self._socket = namespaceSocket(self.host)
        self._socket.connect(("127.0.0.1", NTP_PORT))
        super().start()
        self._lastUnsynchronized = time.monotonic()

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def logHint(self) -> str:
        try:
            with open(self.logPath, errors="replace") as f:
                log = f.read()
        except FileNotFoundError:
            log = ""
        tail = " | ".join(log.strip().splitlines()[-3:])
        hint = f": {tail}" if tail else super().logHint()
        if self._lastVariables is not None:
            shown = ", ".join(f"{k}={v}" for k, v in self._lastVariables.items())
            hint += f" (last mode 6 reply: {shown})"
        return hint

    def poll(self) -> float | None:
        assert self._socket is not None
        while True:
            try:
                data = self._socket.recv(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # ECONNREFUSED: ntpd is not listening yet.
            now = time.monotonic()
            parsed = parseMode6Reply(data)
            if parsed is None or parsed[0] not in self._sent:
                continue
            sequence, variables = parsed
            sentAt = self._sent.pop(sequence)
            self._lastVariables = variables
            if self.upSeconds is None:
                self.upSeconds = now - self.startedMonotonic
            seconds = self._synchronizedSeconds(variables, now)
            if seconds is not None:
                return seconds
            self._lastUnsynchronized = max(self._lastUnsynchronized, sentAt)
        now = time.monotonic()
        if now >= self._nextQuery:
            self.checkRunning()
            self._sequence = (self._sequence + 1) & 0xFFFF
            with contextlib.suppress(OSError):
                self._socket.send(mode6ReadvarRequest(self._sequence))
            self._sent[self._sequence] = now
            self._nextQuery = now + MODE6_INTERVAL_SECONDS
        return None

    def _synchronizedSeconds(self, variables: dict[str, str],
                             detectedAt: float) -> float | None:
        """
        @param variables: the system variables of one reply.
        @param detectedAt: when the reply came, monotonic seconds.
        @return: seconds from start to the first clock update if the reply
            says it is synchronized, else L{None}.
        """
        try:
            leap = parseLeap(variables.get("leap", "3"))
            stratum = int(variables.get("stratum", "16"))
            peer = int(variables.get("peer", "0"))
        except ValueError:
            return None
        if leap == 3 or not 1 <= stratum <= 15 or peer == 0:
            return None
        detected = detectedAt - self.startedMonotonic
        self.detail = (f"leap {leap}, stratum {stratum}, refid "
                       f"{variables.get('refid', '?')}, reftime "
                       f"{variables.get('reftime', '?')}")
        try:
            fromReftime = ntpHexToPosix(variables["reftime"]) - self.startedWall
        except (KeyError, ValueError):
            return detected
        earliest = self._lastUnsynchronized - self.startedMonotonic
        if earliest - REFTIME_SLACK_SECONDS <= fromReftime <= detected + \
                REFTIME_SLACK_SECONDS:
            return min(max(fromReftime, 0.0), detected)
        self.detail += " (reftime outside the polling window: polling time used)"
        return detected


CLIENT_CLASSES: dict[str, type[Client]] = {
    "ours": OursClient,
    "chronyd": ChronydClient,
    "ntpsec": NtpsecClient,
}


# --------------------------------------------------------------------------
# The race


def race(clients: Sequence[Client], timeoutSeconds: float) -> list[dict[str, Any]]:
    """
    Start every client, one right after the other, and wait until each has
    synchronized, failed or run out of time.  Stops none of them.

    @param clients: the clients, in start order.
    @param timeoutSeconds: how long each may take, from its own start.
    @return: one entry per client, in the order given: C{client},
        C{status} (C{"ok"}, C{"timeout"}, C{"failed"}), C{seconds} (to
        first synchronization, L{None} unless ok), C{upSeconds},
        C{startOffsetSeconds} (its start after the first client's),
        C{detail} or C{reason}.
    """
    for client in clients:
        client.start()
    first = clients[0].startedMonotonic
    results: dict[str, dict[str, Any]] = {}
    pending = list(clients)
    while pending:
        for client in list(pending):
            entry: dict[str, Any] | None = None
            try:
                seconds = client.poll()
            except ClientFailed as e:
                entry = {"status": "failed", "seconds": None, "reason": str(e)}
            else:
                if seconds is not None:
                    client.process.assertNoSysTime()
                    entry = {"status": "ok", "seconds": seconds,
                             "detail": client.detail}
                elif time.monotonic() - client.startedMonotonic >= timeoutSeconds:
                    entry = {"status": "timeout", "seconds": None,
                             "reason": f"not synchronized after {timeoutSeconds:g} s"
                                       f"{client.logHint()}"}
            if entry is not None:
                entry["client"] = client.name
                entry["upSeconds"] = client.upSeconds
                entry["startOffsetSeconds"] = client.startedMonotonic - first
                results[client.name] = entry
                pending.remove(client)
        if pending:
            time.sleep(POLL_INTERVAL_SECONDS)
    for client in clients:
        if client.process.running():
            client.process.assertNoSysTime()
    return [results[client.name] for client in clients]


# --------------------------------------------------------------------------
# Reporting


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    for word in (out.stdout + out.stderr).replace("ntpsec-", " ").split():
        if word[:1].isdigit():
            return word
    return ""


def clientLabels() -> dict[str, str]:
    """@return: a label with the version, per client."""
    import ntpservice

    return {
        "ours": f"ours (ntpservice {ntpservice.__version__})",
        "chronyd": f"chronyd {_version([peers.requireBinary('chronyd'), '-v'])}".strip(),
        "ntpsec": f"ntpsec {_version([peers.requireBinary('ntpd'), '--version'])}".strip(),
    }


def summarise(name: str, label: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """
    Combine one client's rounds.

    @param name: the client.
    @param label: its label with version.
    @param rounds: its L{race} entries, one per round.
    @return: C{client}, C{label}, C{synchronized} (rounds that were ok),
        C{rounds}, C{seconds} (per ok round), C{medianSeconds},
        C{minSeconds}, C{maxSeconds}, C{medianUpSeconds} (L{None} when
        nothing synchronized), C{failures} (the reasons), C{perRound}.
    """
    seconds = [r["seconds"] for r in rounds if r["status"] == "ok"]
    ups = [r["upSeconds"] for r in rounds
           if r["status"] == "ok" and r["upSeconds"] is not None]
    return {
        "client": name,
        "label": label,
        "synchronized": len(seconds),
        "rounds": len(rounds),
        "seconds": seconds,
        "medianSeconds": statistics.median(seconds) if seconds else None,
        "minSeconds": min(seconds) if seconds else None,
        "maxSeconds": max(seconds) if seconds else None,
        "medianUpSeconds": statistics.median(ups) if ups else None,
        "failures": [f"round {i + 1}: {r['status']}: {r['reason']}"
                     for i, r in enumerate(rounds) if r["status"] != "ok"],
        "perRound": rounds,
    }


def ratios(results: list[dict[str, Any]]) -> dict[str, float | None]:
    """
    @param results: the L{summarise} entries.
    @return: C{oursToChronyd} and C{oursToNtpsec}: our median time to first
        synchronization divided by theirs (above 1: we are slower), L{None}
        when either never synchronized.
    """
    medians = {r["client"]: r["medianSeconds"] for r in results}
    ours = medians.get("ours")

    def ratio(other: str) -> float | None:
        theirs = medians.get(other)
        if ours is None or not theirs:
            return None
        return float(ours / theirs)

    return {"oursToChronyd": ratio("chronyd"), "oursToNtpsec": ratio("ntpsec")}


def formatTable(results: list[dict[str, Any]]) -> str:
    """
    @param results: the L{summarise} entries.
    @return: the human-readable table: one row per client.
    """
    width = max([28] + [len(r["label"]) for r in results])
    header = (f"{'client':<{width}} {'median s':>9} {'min s':>8} {'max s':>8} "
              f"{'start-up s':>10} {'synced':>7} {'ours/this':>9}")
    lines = [header]
    ours = next((r["medianSeconds"] for r in results if r["client"] == "ours"), None)
    for r in results:
        if r["medianSeconds"] is None:
            reason = r["failures"][0] if r["failures"] else "no result"
            lines.append(f"{r['label']:<{width}} never synchronized "
                         f"(0/{r['rounds']}): {reason}")
            continue
        ratio = "-" if ours is None else f"{ours / r['medianSeconds']:.2f}"
        up = "-" if r["medianUpSeconds"] is None else f"{r['medianUpSeconds']:.2f}"
        synced = f"{r['synchronized']}/{r['rounds']}"
        lines.append(f"{r['label']:<{width}} {r['medianSeconds']:>9.2f} "
                     f"{r['minSeconds']:>8.2f} {r['maxSeconds']:>8.2f} "
                     f"{up:>10} {synced:>7} {ratio:>9}")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# The benchmark


@contextlib.contextmanager
def serverFor(options: argparse.Namespace, host: peers.Host,
              workdir: str) -> Iterator[dict[str, Any]]:
    """
    Run the server for the whole benchmark.

    @return: (yields) C{kind}, C{label}, C{address}, C{stratum}.
    """
    os.makedirs(workdir, exist_ok=True)
    if options.server == "chronyd":
        process: peers.DaemonProcess = peers.startChronydServer(
            workdir, port=NTP_PORT, netns=host, stratum=CHRONYD_SERVER_STRATUM,
            name="server-chronyd")
        label = f"chronyd {_version([peers.requireBinary('chronyd'), '-v'])}"
        stratum = CHRONYD_SERVER_STRATUM
    else:
        process = peers.startNtpsecServer(
            workdir, host, orphanStratum=NTPSEC_ORPHAN_STRATUM, host=host.address,
            name="server-ntpsec")
        label = (f"ntpsec {_version([peers.requireBinary('ntpd'), '--version'])} "
                 "(orphan mode)")
        stratum = NTPSEC_ORPHAN_STRATUM
    with process:
        yield {"kind": options.server, "label": label, "address": host.address,
               "stratum": stratum}


def benchmark(options: argparse.Namespace) -> dict[str, Any]:
    """
    Build the network, start the server, run C{options.rounds} races.

    @return: the report (see C{--json}).
    """
    labels = clientLabels()
    perClient: dict[str, list[dict[str, Any]]] = {name: [] for name in CLIENTS}
    with contextlib.ExitStack() as stack:
        workdir = tempfile.mkdtemp(prefix="ntps-tts-")
        if not options.keep:
            stack.callback(shutil.rmtree, workdir, True)
        network = stack.enter_context(peers.Network(hosts=1 + len(CLIENTS)))
        serverHost, *clientHosts = network.hosts
        server = stack.enter_context(
            serverFor(options, serverHost, os.path.join(workdir, "server")))
        for number in range(options.rounds):
            roundDir = os.path.join(workdir, f"round-{number + 1}")
            shift = number % len(CLIENTS)
            order = [*CLIENTS[shift:], *CLIENTS[:shift]]
            with contextlib.ExitStack() as roundStack:
                clients: list[Client] = []
                for name in order:
                    host = clientHosts[CLIENTS.index(name)]
                    client = CLIENT_CLASSES[name](host, os.path.join(roundDir, name),
                                                  server["address"])
                    roundStack.callback(client.stop)
                    clients.append(client)
                entries = race(clients, options.timeout)
            for entry in entries:
                perClient[entry["client"]].append(entry)
            if not options.json:
                summary = ", ".join(
                    f"{e['client']} {e['seconds']:.2f} s" if e["status"] == "ok"
                    else f"{e['client']} {e['status']}" for e in entries)
                print(f"# round {number + 1} (start order {', '.join(order)}): "
                      f"{summary}", file=sys.stderr, flush=True)
        results = [summarise(name, labels[name], perClient[name]) for name in CLIENTS]
        report: dict[str, Any] = {
            "server": server,
            "clientConfiguration": f"server {server['address']} iburst",
            "rounds": options.rounds,
            "timeoutSeconds": options.timeout,
            "cpus": os.cpu_count(),
            "results": results,
            "ratios": ratios(results),
        }
        if options.keep:
            report["workdir"] = workdir
    return report


def parseArguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Seconds from process start to first synchronization of our "
                    "daemon, chronyd and NTPsec's ntpd, started together as "
                    "clients (server ADDR iburst) of one server, each in a network "
                    "namespace of its own.  Needs root.")
    parser.add_argument("--rounds", type=int, default=3,
                        help="races to run (default 3); the table gives the "
                             "median, minimum and maximum")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds each client gets to synchronize, from its "
                             "start (default 60)")
    parser.add_argument("--server", choices=SERVERS, default="chronyd",
                        help="the server: chronyd at stratum 2 (default) or "
                             f"NTPsec in orphan mode at stratum {NTPSEC_ORPHAN_STRATUM}")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (configurations, logs)")
    options = parser.parse_args(argv)
    if options.rounds < 1:
        parser.error("--rounds must be >= 1")
    if not options.timeout > 0:
        parser.error("--timeout must be > 0")
    return options


def checkPrerequisites() -> str:
    """
    Every run needs root, C{setpriv}, chronyd and NTPsec's ntpd (both are
    clients whichever the server).

    @return: why this benchmark cannot run here, or C{""}.
    """
    try:
        peers.requireRoot()
        for name in ("setpriv", "chronyd", "ntpd"):
            peers.requireBinary(name)
    except (unittest.SkipTest, peers.PeerUnavailableError) as e:
        return str(e)
    return ""


class _Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived."""


_interrupted = False


def _terminate(signum: int, frame: Any) -> None:
    # Raise once; a second signal during the clean-up must not cut it short.
    global _interrupted
    if _interrupted:
        return
    _interrupted = True
    raise _Interrupted(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """
    @return: the exit status: 0 when every client synchronized at least
        once, 1 when one never did or the set-up failed, 2 when the benchmark cannot run here
        (not root, a program missing), 130 when interrupted.
    """
    options = parseArguments(sys.argv[1:] if argv is None else argv)
    reason = checkPrerequisites()
    if reason:
        print(f"time_to_sync: cannot run: {reason}.  This benchmark builds network "
              "namespaces and runs chronyd and NTPsec's ntpd: run it as root with "
              "both installed.", file=sys.stderr)
        return 2
    # Also SIGINT: a background job inherits it ignored, and Ctrl-C or
    # kill -INT must still stop everything.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        report = benchmark(options)
    except KeyboardInterrupt:
        print("interrupted; every process was stopped and every namespace deleted",
              file=sys.stderr)
        return 130
    except peers.PeerError as e:
        print(f"time_to_sync: failed: {e}", file=sys.stderr)
        return 1
    if options.json:
        print(json.dumps(report, indent=2))
    else:
        server = report["server"]
        print(f"Time to first synchronization: three clients with "
              f"'{report['clientConfiguration']}', started together, of one "
              f"{server['label']} server at stratum {server['stratum']}; "
              f"{report['rounds']} round(s), {report['cpus']} CPUs, cold starts "
              f"(no drift file)")
        print(formatTable(report["results"]))
        r = report["ratios"]
        parts = [f"ours / {other}: {'-' if value is None else f'{value:.2f}'}"
                 for other, value in (("chronyd", r["oursToChronyd"]),
                                      ("ntpsec", r["oursToNtpsec"]))]
        print("; ".join(parts) + " (median over median; above 1: we are slower)")
        failures = [f"{result['client']}: {failure}" for result in report["results"]
                    for failure in result["failures"]]
        for failure in failures:
            print(failure)
        if failures and "workdir" not in report:
            print("(run with --keep to keep every daemon's configuration and log)")
        if "workdir" in report:
            print(f"files kept in {report['workdir']}")
    synchronized = all(r["synchronized"] > 0 for r in report["results"])
    return 0 if synchronized else 1


if __name__ == "__main__":
    sys.exit(main())
