#!/usr/bin/env python3
# -*- test-case-name: tests.interop.test_benchmark_smoke -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Server throughput: how many NTP client requests per second our daemon
answers, side by side with chronyd and NTPsec's ntpd under the same load.

Method
======
One run measures, one after another and under identical conditions:

  - C{echo}: a trivial reflector (batched C{recvmmsg}/C{sendmmsg}, no NTP
    processing) that shows the ceiling of the load generator itself: a
    server measured close to it is limited by the generator, not by itself;
  - C{ours}: C{twistd -n --pidfile= ntp -c CONF --no-clock-adjust --port N
    --fast-path on} (C{--threads N}: C{--fast-path-threads N}), the
    compiled fast path; skipped when the C extension is not built;
  - C{ours-python}: the same with C{--fast-path off}, every request
    answered in Python;
  - C{chronyd}: C{chronyd -x -u root -d} with C{local stratum 2}, no
    rate limiting, no command port, no drift file;
  - C{ntpsec}: NTPsec's C{ntpd -n} in orphan mode with a permissive
    C{restrict default} (no C{limited}).

As root, everything (servers and generators) runs inside one fresh network
namespace on its loopback, every server on port 123 (ntpd cannot use another
port).  Without root, the run falls back to this machine's loopback with free
ports, and NTPsec is skipped.

The load generator is closed-loop: each generator process keeps a window of
C{--window} outstanding 48-byte mode-3 requests, each with a random
transmit timestamp, and sends a new request for each valid reply (mode 4,
origin timestamp equal to one of its outstanding transmit timestamps).
Requests unanswered after C{--loss-timeout} seconds count as lost and are
replaced.  After C{--warmup} seconds, it counts for C{--duration} seconds:

  - replies/s: valid replies received in the measurement interval, divided
    by its length, summed over generator processes;
  - loss %: requests sent in the interval that never got a valid reply;
  - unsync %: valid replies that say "unsynchronised" (leap 3, or stratum 0
    or 16);
  - server CPU %: the server's CPU time (all threads) over the wall time of
    the load; near 100 % means the server, not the generator, is the limit;
  - CPU us/reply: the server's CPU time (all threads) over the load divided
    by the valid replies the generators received during it (warm-up
    included).

With C{--rate R} the generators are open loop instead: together they offer
R requests per second whatever comes back, so that servers are compared
at the same load (the CPU per reply at 20000 requests/s is the figure to
compare; a server's wake-ups cost more per reply at low rates).

With C{--callgrind N} each of ours, ours-python and chronyd also runs
under valgrind's callgrind, instrumented only while N requests are offered
at 1000/s: the instructions the whole server process executed per reply.
Unlike the rates and CPU times, which other load on a shared machine moves
by tens of percent, these counts are reproducible.

On a VM the figures drift by tens of percent from one run to the next:
C{--rounds N} measures every server N times in turn and reports the median
(and the spread).

CPython has no C{recvmmsg}/C{sendmmsg}; the generator calls them through
ctypes, a batch of replies per system call, so that it is not the bottleneck
(check the C{echo} row).  On a machine with N >= 2 CPUs, servers are
pinned to CPUs 0..N-2 and generators to CPU N-1 (C{--no-pin} to let the
scheduler decide): on the 2-vCPU CI machines the server and the generator
then each own one CPU instead of competing.  More generator processes
(C{--clients}) share the generator CPU.

Every process is stopped at the end, also on Ctrl-C or SIGTERM; the
namespace is deleted with anything left inside.  Nothing touches the clock:
the servers run without CAP_SYS_TIME (see C{tests/interop/peers.py}).

This is not a test (tests assert behaviour, not timing); run it by hand::

    python benchmarks/server_throughput.py [--duration 5] [--rounds 3]
        [--only chronyd,ours] [--clients 1] [--window 64] [--json]
        [--rate 20000] [--threads 2] [--callgrind 4000]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import json
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any, Iterator, Sequence

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPOSITORY_ROOT not in sys.path:
    sys.path.insert(0, REPOSITORY_ROOT)

SERVERS = ("echo", "ours", "ours-python", "chronyd", "ntpsec")
"""Every server this benchmark knows, in the order it measures them."""

MODE3_HEADER = bytes([0x23]) + bytes(39)
"""LI 0, VN 4, mode 3, everything else zero up to the transmit timestamp."""

REQUEST_LENGTH = 48
RX_SLOT = 256
"""Receive buffer per message, bytes (replies are 48; room for extensions)."""
RX_BATCH = 256
"""Messages per recvmmsg call, at most."""

MSG_DONTWAIT = 0x40
MSG_WAITFORONE = 0x10000

MAX_WINDOW = 4096


# --------------------------------------------------------------------------
# recvmmsg / sendmmsg through ctypes


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


_libc = ctypes.CDLL(None, use_errno=True)
_recvmmsg = _libc.recvmmsg
_recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                      ctypes.c_void_p]
_recvmmsg.restype = ctypes.c_int
_sendmmsg = _libc.sendmmsg
_sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_sendmmsg.restype = ctypes.c_int

_U32_PER_MMSG = ctypes.sizeof(_Mmsghdr) // 4
_MSG_LEN_U32 = _Mmsghdr.msg_len.offset // 4
_NAMELEN_U32 = _Msghdr.msg_namelen.offset // 4
_SOCKADDR_SPACE = 128


class MessageVector:
    """
    C{count} messages of C{slot} bytes each in one C{bytearray}, with the
    C{struct mmsghdr} array pointing into it, for C{recvmmsg}/C{sendmmsg}.

    @ivar buffer: the message bytes; message I{i} is at C{i * slot}.
    @ivar address: the address of the C{mmsghdr} array, for the calls.
    @ivar headers: the C{mmsghdr} array as unsigned 32-bit words
        (C{msg_len} of message I{i} is C{headers[i * 16 + 14]}).
    @ivar iovLengths: C{iov_len} of each message, as 64-bit words.
    """

    def __init__(self, count: int, slot: int, withNames: bool = False) -> None:
        self.count = count
        self.slot = slot
        self.buffer = bytearray(count * slot)
        self._cbuffer = (ctypes.c_char * len(self.buffer)).from_buffer(self.buffer)
        base = ctypes.addressof(self._cbuffer)
        self._iov = (_Iovec * count)()
        self._mmsg = (_Mmsghdr * count)()
        self._names = None
        if withNames:
            self._names = (ctypes.c_char * (_SOCKADDR_SPACE * count))()
        for i in range(count):
            self._iov[i].iov_base = base + i * slot
            self._iov[i].iov_len = slot
            header = self._mmsg[i].msg_hdr
            header.msg_iov = ctypes.addressof(self._iov[i])
            header.msg_iovlen = 1
            if self._names is not None:
                header.msg_name = ctypes.addressof(self._names) + i * _SOCKADDR_SPACE
                header.msg_namelen = _SOCKADDR_SPACE
        self.address = ctypes.addressof(self._mmsg)
        self.headers = memoryview(self._mmsg).cast("B").cast("I")
        self.iovLengths = memoryview(self._iov).cast("B").cast("Q")


def _pinSelf(cpus: Sequence[int]) -> None:
    if cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, set(cpus))


# --------------------------------------------------------------------------
# Load generator (runs in its own process)


def generate(
    host: str,
    port: int,
    window: int,
    warmup: float,
    duration: float,
    lossTimeout: float,
    startAt: float | None = None,
    rate: float | None = None,
) -> dict[str, Any]:
    """
    Run one generator (see the module docstring): closed loop, or open
    loop at a fixed offered rate.

    @param host: server address.
    @param port: server UDP port.
    @param window: outstanding requests to keep.
    @param warmup: seconds before counting starts.
    @param duration: seconds of counting.
    @param lossTimeout: seconds after which a request counts as lost.
    @param startAt: C{time.monotonic()} value (the clock is system-wide) at
        which to start, so that several generators start together.
    @param rate: requests per second to offer, whatever comes back (open
        loop; at most C{window} requests per burst), or C{None} for the
        closed loop.
    @return: counters: C{sent}, C{valid}, C{answered}, C{lost}, C{unsync},
        C{invalid}, C{late}, C{errors}, C{rttSum} (seconds), C{interval}
        (seconds), C{allValid} (valid replies during warm-up and
        measurement, for the CPU per reply).
    """
    window = max(1, min(window, MAX_WINDOW))
    info = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
    sock = socket.socket(info[0], socket.SOCK_DGRAM)
    sock.connect(info[4])
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 2000))
    fd = sock.fileno()
    rx = MessageVector(RX_BATCH, RX_SLOT)
    tx = MessageVector(window, REQUEST_LENGTH)
    for j in range(window):
        tx.buffer[j * REQUEST_LENGTH:j * REQUEST_LENGTH + 40] = MODE3_HEADER
    rbuf, tbuf, lens = rx.buffer, tx.buffer, rx.headers
    getrandbits = random.Random(os.urandom(16)).getrandbits
    monotonic = time.monotonic
    outstanding: dict[bytes, float] = {}
    sent = valid = answered = lost = unsync = invalid = late = errors = 0
    allValid = issued = 0
    rttSum = 0.0

    if startAt is not None:
        delay = startAt - monotonic()
        if delay > 0:
            time.sleep(delay)
    begin = monotonic()
    t0 = begin + warmup
    t1 = t0 + duration

    def fill(now: float, k: int) -> int:
        keys = []
        for j in range(k):
            xmt = getrandbits(64).to_bytes(8, "big")
            offset = j * REQUEST_LENGTH + 40
            tbuf[offset:offset + 8] = xmt
            outstanding[xmt] = now
            keys.append(xmt)
        done = _sendmmsg(fd, tx.address, k, 0)
        if done < k:
            for xmt in keys[max(done, 0):]:
                del outstanding[xmt]
        return max(done, 0)

    now = monotonic()
    if rate is None:
        fill(now, window)
    nextExpiry = now + 0.01
    while True:
        n = _recvmmsg(fd, rx.address, RX_BATCH, MSG_DONTWAIT, None)
        now = monotonic()
        if n > 0:
            counting = t0 <= now < t1
            for i in range(n):
                offset = i * RX_SLOT
                first = rbuf[offset]
                if lens[i * _U32_PER_MMSG + _MSG_LEN_U32] < 48 or first & 7 != 4:
                    invalid += 1
                    continue
                sentAt = outstanding.pop(bytes(rbuf[offset + 24:offset + 32]), None)
                if sentAt is None:
                    late += 1
                    continue
                if t0 <= sentAt < t1:
                    answered += 1
                allValid += 1
                if counting:
                    valid += 1
                    rttSum += now - sentAt
                    if first >> 6 == 3 or rbuf[offset + 1] in (0, 16):
                        unsync += 1
        elif n < 0:
            code = ctypes.get_errno()
            if code not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                errors += 1
                if code != errno.ECONNREFUSED:
                    raise OSError(code, os.strerror(code))
        if now >= nextExpiry:
            nextExpiry = now + 0.01
            for xmt, sentAt in list(outstanding.items()):
                if now - sentAt > lossTimeout:
                    del outstanding[xmt]
                    if t0 <= sentAt < t1:
                        lost += 1
        if now < t1 and rate is not None:
            due = min(int(rate * (now - begin)) - issued, window)
            if due > 0:
                done = fill(now, due)
                issued += due
                if t0 <= now:
                    sent += done
        elif now < t1:
            missing = window - len(outstanding)
            if missing > 0:
                done = fill(now, missing)
                if t0 <= now:
                    sent += done
        elif not outstanding or now >= t1 + lossTimeout:
            break
    lost += sum(1 for sentAt in outstanding.values() if t0 <= sentAt < t1)
    sock.close()
    return {
        "sent": sent,
        "valid": valid,
        "answered": answered,
        "lost": lost,
        "unsync": unsync,
        "invalid": invalid,
        "late": late,
        "errors": errors,
        "rttSum": rttSum,
        "interval": duration,
        "allValid": allValid,
    }


def echo(host: str, port: int) -> None:
    """
    Reflect every request as a minimal mode-4 reply (origin = the request's
    transmit timestamp), batched, until killed.  No NTP processing at all:
    this measures the generator's ceiling.

    @param host: address to bind.
    @param port: UDP port to bind.
    """
    info = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
    sock = socket.socket(info[0], socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.bind(info[4])
    fd = sock.fileno()
    vector = MessageVector(RX_BATCH, RX_SLOT, withNames=True)
    buf, words, iovLengths = vector.buffer, vector.headers, vector.iovLengths
    while True:
        n = _recvmmsg(fd, vector.address, RX_BATCH, MSG_WAITFORONE, None)
        if n <= 0:
            continue
        for i in range(n):
            offset = i * RX_SLOT
            buf[offset] = 0x24
            buf[offset + 1] = 1
            buf[offset + 24:offset + 32] = buf[offset + 40:offset + 48]
            iovLengths[i * 2 + 1] = 48
        _sendmmsg(fd, vector.address, n, MSG_DONTWAIT)
        for i in range(n):
            iovLengths[i * 2 + 1] = RX_SLOT
            words[i * _U32_PER_MMSG + _NAMELEN_U32] = _SOCKADDR_SPACE


# --------------------------------------------------------------------------
# Orchestration


class Run:
    """
    Where and how the servers of one benchmark run: a namespace (as root) or
    this machine's loopback, a working directory, CPU sets.
    """

    def __init__(self, options: argparse.Namespace, stack: contextlib.ExitStack):
        from tests.interop import peers

        self.peers = peers
        self.options = options
        self.stack = stack
        self.workdir = tempfile.mkdtemp(prefix="ntps-bench-")
        self.netns: Any = None
        self.namespaceReason = ""
        if os.geteuid() == 0:
            try:
                self.netns = stack.enter_context(peers.NetNamespace())
            except Exception as e:  # SkipTest or PeerError: fall back.
                self.namespaceReason = f"no network namespace: {e}"
        else:
            self.namespaceReason = "not root: no network namespace"
        cpus = sorted(os.sched_getaffinity(0))
        if options.pin and len(cpus) >= 2:
            self.serverCpus, self.generatorCpus = cpus[:-1], cpus[-1:]
        else:
            self.serverCpus, self.generatorCpus = [], []

    def where(self) -> str:
        if self.netns is not None:
            return f"loopback of network namespace {self.netns.name}"
        return f"loopback of this machine ({self.namespaceReason})"

    def port(self) -> int:
        return 123 if self.netns is not None else self.peers.freePort()

    def pin(self, pid: int) -> None:
        """Pin every thread of a server to the server CPUs."""
        if not self.serverCpus:
            return
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(tid), set(self.serverCpus))

    @contextlib.contextmanager
    def server(self, name: str) -> Iterator[tuple[str, int, str, int]]:
        """
        Start one server, yield C{(host, port, label, pid)}, stop it.

        @raise Skipped: when it cannot run here.
        """
        peers = self.peers
        port = self.port()
        host = "127.0.0.1"
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir, exist_ok=True)
        if name == "echo":
            process = peers.DaemonProcess(
                [sys.executable, os.path.abspath(__file__), "--echo", host, str(port)],
                workdir, "echo", self.netns)
            process.start()
            try:
                process.waitForNtp(host, port, 10.0)
            except BaseException:
                process.stop()
                raise
            label = "echo (generator ceiling)"
        elif name in ("ours", "ours-python"):
            # Synchronized to its LOCAL clock at stratum 2, as chronyd's
            # "local stratum 2" is, and bound to the generator's address
            # only (never the host's real interfaces).
            config = ("server 127.127.1.0\nfudge 127.127.1.0 stratum 1\n"
                      f"driftfile {workdir}/ntp.drift\n")
            if self.options.ours_config:
                with open(self.options.ours_config) as f:
                    config = f.read()
            fast = "off" if name == "ours-python" else "on"
            extra = ["-I", host, "--fast-path", fast]
            if fast == "on" and self.options.threads > 1:
                extra += ["--fast-path-threads", str(self.options.threads)]
            process = peers.startNtpservice(workdir, config, port=port,
                                            netns=self.netns, extraArgs=tuple(extra))
            if fast == "on" and "Server fast path on" not in process.output():
                process.stop()
                raise Skipped("the fast path is not built (see the daemon's log)")
            label = ("ours (Python path)" if fast == "off"
                     else f"ours (fast path x{self.options.threads})")
        elif name == "chronyd":
            _require(peers, "chronyd")
            process = peers.startChronydServer(workdir, port=port, netns=self.netns)
            label = "chronyd " + _version([peers.requireBinary("chronyd"), "-v"])
        elif name == "ntpsec":
            _require(peers, "ntpd")
            if self.netns is None:
                raise Skipped(f"needs port 123 in a namespace; {self.namespaceReason}")
            process = peers.startNtpsecServer(workdir, self.netns)
            label = "ntpsec " + _version([peers.requireBinary("ntpd"), "--version"])
        else:
            raise ValueError(name)
        with process:
            self.pin(process.pid)
            yield host, port, label, process.pid

    def measure(self, host: str, port: int) -> dict[str, Any]:
        """Run the generators against a server; return their summed counters."""
        options = self.options
        argv = [sys.executable, os.path.abspath(__file__), "--generator", host,
                str(port), "--window", str(options.window), "--warmup",
                repr(options.warmup), "--duration", repr(options.duration),
                "--loss-timeout", repr(options.loss_timeout),
                *(["--rate", repr(options.rate / options.clients)] if options.rate else []),
                "--start-at",
                repr(time.monotonic() + 0.5), "--cpus",
                ",".join(map(str, self.generatorCpus))]
        if self.netns is not None:
            argv = self.netns.command(argv)
        processes: list[subprocess.Popen[str]] = []
        bound = options.warmup + options.duration + options.loss_timeout + 60
        try:
            for _ in range(options.clients):
                processes.append(subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                    start_new_session=True))
            outputs = [p.communicate(timeout=bound) for p in processes]
        finally:
            for p in processes:
                if p.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                    p.wait(10)
        total: dict[str, Any] = {}
        for p, (out, err) in zip(processes, outputs):
            if p.returncode != 0:
                raise RuntimeError(f"generator failed ({p.returncode}): {err.strip()}")
            for key, value in json.loads(out).items():
                if key != "interval":
                    total[key] = total.get(key, 0) + value
        total["interval"] = options.duration
        return total


class Skipped(Exception):
    """A server cannot run here; the message says why."""


def _require(peers: Any, name: str) -> None:
    if peers.findBinary(name) is None:
        raise Skipped(f"{name} not found")


def _cpuSeconds(pid: int) -> float:
    """
    @return: user + system CPU seconds used so far by process C{pid}, all
        its threads (C{/proc/PID/stat}), 0 if it is gone.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields 14 and 15 (utime, stime), counted after the ")" of comm.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    for word in out.replace("ntpsec-", " ").split():
        if word[:1].isdigit():
            return word
    return ""


def summarise(counters: dict[str, Any]) -> dict[str, Any]:
    """
    @param counters: generator counters summed over processes (and rounds).
    @return: C{repliesPerSecond}, C{lossPercent}, C{unsyncPercent},
        C{meanRttMicroseconds}, C{counters}.
    """
    valid = counters["valid"]
    sent = counters["sent"]
    lost = max(0, sent - counters["answered"]) if sent else 0
    return {
        "repliesPerSecond": valid / counters["interval"],
        "lossPercent": 100.0 * lost / sent if sent else 0.0,
        "unsyncPercent": 100.0 * counters["unsync"] / valid if valid else 0.0,
        "meanRttMicroseconds": 1e6 * counters["rttSum"] / valid if valid else None,
        "counters": counters,
    }


def combineRounds(name: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """
    Merge the measurements of one server over several rounds: the median
    rate, loss and unsync from the summed counters, the median CPU use.

    @param name: the server.
    @param rounds: one L{measureOnce} result per round.
    @return: the entry for the report.
    """
    ok = [r for r in rounds if r["status"] == "ok"]
    if not ok:
        return rounds[0]
    total: dict[str, Any] = {}
    for r in ok:
        for key, value in r["counters"].items():
            total[key] = total.get(key, 0) + value
    entry: dict[str, Any] = {"server": name, "label": ok[0]["label"], "status": "ok"}
    entry.update(summarise(total))
    rates = [r["repliesPerSecond"] for r in ok]
    entry["repliesPerSecond"] = statistics.median(rates)
    entry["roundRepliesPerSecond"] = rates
    entry["serverCpuPercent"] = statistics.median(r["serverCpuPercent"] for r in ok)
    perReply = [r["cpuPerReplyMicroseconds"] for r in ok
                if r.get("cpuPerReplyMicroseconds") is not None]
    entry["cpuPerReplyMicroseconds"] = statistics.median(perReply) if perReply else None
    entry["roundCpuPerReplyMicroseconds"] = perReply
    return entry


def formatTable(results: list[dict[str, Any]]) -> str:
    """
    @param results: one dictionary per server (see L{benchmark}).
    @return: the human-readable table.
    """
    spread = any(len(r.get("roundRepliesPerSecond", ())) > 1 for r in results)
    header = (f"{'server':<28} {'replies/s':>12} {'loss %':>8} {'unsync %':>9} "
              f"{'server CPU %':>12} {'vs chronyd':>10} {'CPU us/reply':>12} "
              f"{'vs chronyd':>10}")
    lines = [header + ("  min-max replies/s" if spread else "")]
    for r in results:
        if r["status"] != "ok":
            lines.append(f"{r['label']:<28} {r['status']}: {r['reason']}")
            continue
        ratio = "-" if r.get("ratioToChronyd") is None else f"{r['ratioToChronyd']:.2f}"
        perReply = r.get("cpuPerReplyMicroseconds")
        cpuRatio = r.get("cpuRatioToChronyd")
        line = (f"{r['label']:<28} {r['repliesPerSecond']:>12,.0f} "
                f"{r['lossPercent']:>8.2f} {r['unsyncPercent']:>9.2f} "
                f"{r['serverCpuPercent']:>12.0f} {ratio:>10} "
                f"{'-' if perReply is None else format(perReply, '.2f'):>12} "
                f"{'-' if cpuRatio is None else format(cpuRatio, '.2f'):>10}")
        if spread:
            rates = r["roundRepliesPerSecond"]
            line += f"  {min(rates):,.0f}-{max(rates):,.0f}"
        lines.append(line)
    return "\n".join(lines)


def measureOnce(run: Run, name: str) -> dict[str, Any]:
    """
    Start one server, load it, stop it.

    @return: C{status} (C{"ok"}, C{"skipped"}, C{"failed"}) with C{reason},
        or the L{summarise} figures plus C{serverCpuPercent}: the server's
        CPU time over the wall time of the load (warm-up included), %.
    """
    entry: dict[str, Any] = {"server": name, "label": name}
    try:
        with run.server(name) as (host, port, label, pid):
            entry["label"] = label
            cpuBefore, wallBefore = _cpuSeconds(pid), time.monotonic()
            counters = run.measure(host, port)
            cpu = _cpuSeconds(pid) - cpuBefore
            entry.update(summarise(counters))
            entry["serverCpuPercent"] = 100.0 * cpu / (time.monotonic() - wallBefore)
            replies = counters.get("allValid", 0)
            entry["cpuSeconds"] = cpu
            entry["cpuPerReplyMicroseconds"] = 1e6 * cpu / replies if replies else None
            entry["status"] = "ok"
    except Skipped as e:
        entry.update(status="skipped", reason=str(e))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        if type(e).__name__ == "SkipTest":
            entry.update(status="skipped", reason=str(e))
        else:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            entry.update(status="failed", reason=f"{type(e).__name__}: {first}")
    return entry


def callgrindOnce(run: Run, name: str, requests: int) -> dict[str, Any]:
    """
    Count the instructions one server executes per reply (valgrind's
    callgrind, which machine load does not move): the server runs under
    C{valgrind --tool=callgrind --instr-atstart=no}; instrumentation is turned
    on (C{callgrind_control -i on}), C{requests} requests are offered at
    1000/s, instrumentation is turned off and the counts dumped.

    @return: C{status}, C{label}, C{instructions}, C{replies},
        C{instructionsPerReply}.
    """
    peers = run.peers
    entry: dict[str, Any] = {"server": name, "label": name}
    valgrind = shutil.which("valgrind")
    control = shutil.which("callgrind_control")
    if valgrind is None or control is None:
        entry.update(status="skipped", reason="valgrind not found")
        return entry
    if name not in ("ours", "ours-python", "chronyd"):
        entry.update(status="skipped", reason="callgrind mode measures ours and chronyd")
        return entry
    workdir = os.path.join(run.workdir, f"callgrind-{name}")
    os.makedirs(workdir, exist_ok=True)
    out = os.path.join(workdir, "callgrind.out")
    prefix = [valgrind, "--tool=callgrind", "--instr-atstart=no",
              f"--callgrind-out-file={out}"]
    port = run.port()
    host = "127.0.0.1"
    env = dict(os.environ)
    if name.startswith("ours"):
        config = os.path.join(workdir, "ntp.conf")
        with open(config, "w") as f:
            f.write("server 127.127.1.0\nfudge 127.127.1.0 stratum 1\n")
        fast = "off" if name == "ours-python" else "on"
        argv = peers.ntpserviceCommand(config, port, ("-I", host, "--fast-path", fast))
        env["PYTHONPATH"] = REPOSITORY_ROOT
        label = "ours (Python path)" if fast == "off" else "ours (fast path x1)"
    else:
        _require(peers, "chronyd")
        config = os.path.join(workdir, "chronyd.conf")
        os.makedirs(os.path.join(workdir, "chronyd-sock"), mode=0o700, exist_ok=True)
        with open(config, "w") as f:
            f.write(peers.chronydServerConfig(
                workdir, port, ("127.0.0.1",) if run.netns is None else (), 2, "all", ()))
        argv = [peers.requireBinary("chronyd"), "-x", "-u", "root", "-d", "-f", config]
        label = "chronyd " + _version([peers.requireBinary("chronyd"), "-v"])
    entry["label"] = label
    process = peers.DaemonProcess(prefix + argv, workdir, name, run.netns, env=env)
    try:
        with process:
            process.waitForNtp(host, port, 300.0, synchronised=True)
            subprocess.run([control, "-i", "on", str(process.pid)], capture_output=True,
                           timeout=120, check=True)
            options = run.options
            saved = (options.rate, options.warmup, options.duration, options.loss_timeout)
            # Slowed down 20-50 times, a server may answer late: wait for it.
            options.rate, options.warmup, options.loss_timeout = 1000.0, 0.0, 30.0
            options.duration = requests / 1000.0
            try:
                counters = run.measure(host, port)
            finally:
                (options.rate, options.warmup, options.duration,
                 options.loss_timeout) = saved
            subprocess.run([control, "-i", "off", str(process.pid)], capture_output=True,
                           timeout=120, check=True)
            subprocess.run([control, "-d", str(process.pid)], capture_output=True,
                           timeout=120, check=True)
    except BaseException as e:
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        entry.update(status="failed", reason=f"{type(e).__name__}: {e}"[:200])
        return entry
    total = 0
    for path in os.listdir(workdir):
        if path.startswith("callgrind.out"):
            with open(os.path.join(workdir, path)) as f:
                for line in f:
                    if line.startswith(("summary:", "totals:")):
                        total = max(total, int(line.split()[1]))
    replies = counters.get("allValid", 0)
    entry.update(status="ok", instructions=total, replies=replies,
                 instructionsPerReply=total / replies if replies else None)
    return entry


def benchmark(options: argparse.Namespace) -> dict[str, Any]:
    """
    Measure every selected server, C{--rounds} times in turn; return the
    report.
    """
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in options.only}
    with contextlib.ExitStack() as stack:
        run = Run(options, stack)
        if not options.keep:
            stack.callback(shutil.rmtree, run.workdir, True)
        for number in range(options.rounds):
            for name in options.only:
                if rounds[name] and rounds[name][0]["status"] != "ok":
                    continue  # Skipped or failed once: it will not get better.
                entry = measureOnce(run, name)
                rounds[name].append(entry)
                if not options.json:
                    rate = (f" {entry['repliesPerSecond']:,.0f} replies/s"
                            if entry["status"] == "ok" else "")
                    print(f"# round {number + 1}: {entry['label']}: "
                          f"{entry['status']}{rate}", file=sys.stderr, flush=True)
        results = [combineRounds(name, rounds[name]) for name in options.only]
        instructions = []
        if options.callgrind:
            for name in options.only:
                entry = callgrindOnce(run, name, options.callgrind)
                instructions.append(entry)
                if not options.json:
                    print(f"# callgrind: {entry['label']}: {entry['status']} "
                          f"{entry.get('instructionsPerReply') or entry.get('reason')}",
                          file=sys.stderr, flush=True)
        chronyd = next((r for r in results if r["server"] == "chronyd"
                        and r["status"] == "ok" and r["repliesPerSecond"] > 0), None)
        for r in results:
            if r["status"] == "ok" and chronyd is not None:
                ratio = r["repliesPerSecond"] / chronyd["repliesPerSecond"]
                r["ratioToChronyd"] = ratio
                mine, theirs = (r.get("cpuPerReplyMicroseconds"),
                                chronyd.get("cpuPerReplyMicroseconds"))
                if mine is not None and theirs:
                    r["cpuRatioToChronyd"] = mine / theirs
        report = {
            "where": run.where(),
            "clients": options.clients,
            "window": options.window,
            "offeredRate": options.rate,
            "fastPathThreads": options.threads,
            "rounds": options.rounds,
            "warmupSeconds": options.warmup,
            "durationSeconds": options.duration,
            "lossTimeoutSeconds": options.loss_timeout,
            "cpus": os.cpu_count(),
            "serverCpus": run.serverCpus,
            "generatorCpus": run.generatorCpus,
            "results": results,
            "instructions": instructions,
        }
        if options.keep:
            report["workdir"] = run.workdir
    return report


def parseArguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Replies per second of our NTP server, chronyd and NTPsec "
                    "under the same closed-loop load.")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds measured per server (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of load before measuring (default 1)")
    parser.add_argument("--window", type=int, default=64,
                        help="outstanding requests per generator process (default 64)")
    parser.add_argument("--rate", type=float, default=None,
                        help="offer this many requests per second in all (open "
                             "loop, e.g. 20000 for the CPU per reply at a fixed "
                             "load); default: closed loop, as fast as answered")
    parser.add_argument("--callgrind", type=int, default=0, metavar="REQUESTS",
                        help="also count instructions per reply under valgrind's "
                             "callgrind over this many requests (ours and chronyd; "
                             "noise-free, unlike the rates)")
    parser.add_argument("--threads", type=int, default=1,
                        help="our fast-path threads (--fast-path-threads, default 1)")
    parser.add_argument("--clients", type=int, default=1,
                        help="generator processes (default 1; they share one CPU)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every server this many times in turn and "
                             "report the median (default 1; use 3+ on a noisy VM)")
    parser.add_argument("--loss-timeout", type=float, default=0.2,
                        help="seconds after which a request counts as lost (0.2)")
    parser.add_argument("--only", default=",".join(SERVERS),
                        help="comma-separated servers among "
                             f"{', '.join(SERVERS)} (default: all)")
    parser.add_argument("--ours-config", metavar="FILE",
                        help="ntp.conf for our server (default: only a drift file "
                             "in a temporary directory, i.e. an unsynchronised "
                             "server answering everyone)")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin servers and generators to separate CPUs")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (logs, configurations)")
    # Internal modes: this file is also the generator and the echo server.
    parser.add_argument("--generator", nargs=2, metavar=("HOST", "PORT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--echo", nargs=2, metavar=("HOST", "PORT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cpus", default="", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    only = [name.strip() for name in options.only.split(",") if name.strip()]
    unknown = [name for name in only if name not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(SERVERS)}")
    options.only = [name for name in SERVERS if name in only]
    if options.duration <= 0 or options.warmup < 0 or options.loss_timeout <= 0:
        parser.error("--duration and --loss-timeout must be > 0, --warmup >= 0")
    if not 1 <= options.window <= MAX_WINDOW:
        parser.error(f"--window must be in 1..{MAX_WINDOW}")
    if options.clients < 1 or options.rounds < 1:
        parser.error("--clients and --rounds must be >= 1")
    return options


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    options = parseArguments(sys.argv[1:] if argv is None else argv)
    cpus = [int(c) for c in options.cpus.split(",") if c.strip()]
    if options.echo:
        _pinSelf(cpus)
        echo(options.echo[0], int(options.echo[1]))
        return 0
    if options.generator:
        _pinSelf(cpus)
        result = generate(options.generator[0], int(options.generator[1]),
                          options.window, options.warmup, options.duration,
                          options.loss_timeout, options.start_at, options.rate)
        print(json.dumps(result))
        return 0
    # Also SIGINT: a background job inherits it ignored, and Ctrl-C or
    # kill -INT must still stop everything.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        report = benchmark(options)
    except KeyboardInterrupt:
        print("interrupted; every process was stopped", file=sys.stderr)
        return 130
    if options.json:
        print(json.dumps(report, indent=2))
    else:
        load = ("closed loop" if not report["offeredRate"] else
                f"open loop at {report['offeredRate']:,.0f} requests/s offered")
        print(f"NTP server throughput: {load}, {report['clients']} generator "
              f"process(es) x {report['window']} outstanding 48-byte requests, "
              f"{report['warmupSeconds']:g} s warm-up + "
              f"{report['durationSeconds']:g} s per server, "
              f"{report['rounds']} round(s) (median)")
        print(f"on the {report['where']}; {report['cpus']} CPUs, servers on "
              f"{report['serverCpus'] or 'any'}, generators on "
              f"{report['generatorCpus'] or 'any'}")
        print(formatTable(report["results"]))
        if report["instructions"]:
            print("instructions per reply (callgrind, whole server process):")
            for entry in report["instructions"]:
                if entry["status"] == "ok" and entry["instructionsPerReply"]:
                    print(f"  {entry['label']:<28} {entry['instructionsPerReply']:>12,.0f}"
                          f"  ({entry['replies']} replies)")
                else:
                    print(f"  {entry['label']:<28} {entry['status']}: "
                          f"{entry.get('reason', '')}")
    ok = [r for r in report["results"] if r["status"] == "ok"]
    return 0 if ok or not report["results"] else 1


if __name__ == "__main__":
    sys.exit(main())
