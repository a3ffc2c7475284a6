# -*- test-case-name: tests.interop.test_peers_harness -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Harness for tests (and benchmarks) that run real NTP peers: chronyd, NTPsec's
ntpd, ntpdig and ntpq, tshark, and our own daemon under C{twistd}.

Everything here is blocking, stdlib-only code meant to be driven from a test
method or a script: it starts real processes, so it polls with bounded
timeouts instead of using a reactor.  The module can also be run as a script
(C{python peers.py probe HOST PORT TIMEOUT SYNC}) so that an NTP probe can be
executed inside a network namespace with C{ip netns exec}.

Safety rules enforced here:

  - every daemon is started under C{setpriv --bounding-set=-sys_time
    --inh-caps=-sys_time}, so it cannot acquire CAP_SYS_TIME and cannot change
    the clock of the machine, and L{DaemonProcess.assertNoSysTime} verifies it
    from C{/proc/PID/status};
  - chronyd always runs with C{-x} (no clock control); NTPsec's ntpd, which
    calls C{ntp_adjtime()} at start-up whatever its configuration says, is
    only ever started without the capability and only inside a network
    namespace;
  - traffic goes to loopback or to namespaces created by L{NetNamespace} and
    L{Network}; those are always deleted on exit together with any process
    left inside them;
  - every wait is bounded.

Availability: L{requireBinary} and L{requireRoot} raise L{unittest.SkipTest}
with a reason when a peer program or root is missing, except when the
environment variable C{CI} is C{true}: then they raise
L{PeerUnavailableError}, so that a CI run cannot pass by skipping.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest
from dataclasses import dataclass, field
from typing import IO, Any, Iterator, Mapping, Sequence

# --------------------------------------------------------------------------
# Constants

PEERS_PREFIX = "/opt/ntpservice-peers"
"""
Where CI extracts the peer packages that cannot be installed with apt (chrony
conflicts with ntpsec); overridden by C{$NTPSERVICE_PEERS_PREFIX}.
"""

REPOSITORY_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
"""The checkout this file belongs to (it holds C{twisted/plugins})."""

NAMESPACE_PREFIX = "ntps-"
"""Prefix of every network namespace this harness creates."""

NTP_EPOCH_OFFSET = 2208988800
"""Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (POSIX epoch)."""

CAP_SYS_TIME = 25
"""Capability number of CAP_SYS_TIME (linux/capability.h)."""

SETPRIV_NO_SYS_TIME = ("--bounding-set=-sys_time", "--inh-caps=-sys_time")
"""C{setpriv} arguments that remove CAP_SYS_TIME for good."""

DEFAULT_NTPSEC_RESTRICT = ("unrestrict default limited noquery",)
"""
Access lines that make NTPsec serve and answer ntpq without limits.  NTPsec
starts from built-in C{default} entries with C{limited noquery}, and a
C{restrict default ...} line only I{adds} flags to them, so C{restrict
default} alone still rate-limits (silently, without C{kod}) after a burst of
about ten packets; C{unrestrict} removes the flags.
"""

DEFAULT_STOP_TIMEOUT = 5.0
"""Seconds a daemon gets to exit after SIGTERM before SIGKILL."""

_SEVERITIES = {
    0x100000: "comment",
    0x200000: "chat",
    0x400000: "note",
    0x600000: "warning",
    0x800000: "error",
}
_WARNING_SEVERITY = 0x600000
_GROUPS = {
    0x01000000: "checksum",
    0x02000000: "sequence",
    0x03000000: "response code",
    0x04000000: "request code",
    0x05000000: "undecoded",
    0x06000000: "reassemble",
    0x07000000: "malformed",
    0x08000000: "debug",
    0x09000000: "protocol",
    0x0A000000: "security",
    0x0B000000: "comments",
    0x0C000000: "decryption",
    0x0D000000: "assumption",
    0x0E000000: "deprecated",
}


# --------------------------------------------------------------------------
# Errors and availability


class PeerError(Exception):
    """
    A peer program misbehaved: it exited early, timed out, or printed
    something the harness cannot parse.

    @ivar output: what the program printed, for the test report.
    """

    def __init__(self, message: str, output: str = "") -> None:
        if output:
            message = f"{message}\n--- output ---\n{_tail(output)}"
        super().__init__(message)
        self.output = output


class NtpdigError(PeerError):
    """ntpdig got no usable reply; L{PeerError.output} says why."""


class PeerUnavailableError(RuntimeError):
    """
    A peer program, root or namespaces are missing while C{CI=true}: under
    CI that is a failure, never a skip.
    """


def isCI(environ: Mapping[str, str] | None = None) -> bool:
    """
    @param environ: the environment to look at, C{os.environ} by default.
    @return: whether C{CI} is set to C{true} (case-insensitive).
    """
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() == "true"


def unavailable(reason: str, environ: Mapping[str, str] | None = None) -> None:
    """
    Give up on a test because something it needs is missing.

    @param reason: what is missing, shown in the test report.
    @param environ: the environment, C{os.environ} by default.
    @raise PeerUnavailableError: when C{CI=true}.
    @raise unittest.SkipTest: otherwise.
    """
    if isCI(environ):
        raise PeerUnavailableError(f"{reason} (CI=true: a missing peer is a failure)")
    raise unittest.SkipTest(reason)


_ENV_NAMES = {
    "chronyd": "NTPSERVICE_CHRONYD",
    "chronyc": "NTPSERVICE_CHRONYC",
    "ntpd": "NTPSERVICE_NTPD",
    "ntpq": "NTPSERVICE_NTPQ",
    "ntpdig": "NTPSERVICE_NTPDIG",
    "tshark": "NTPSERVICE_TSHARK",
}


def findBinary(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """
    Locate a program.

    The search order is: the variable C{$NTPSERVICE_<NAME>} (for example
    C{$NTPSERVICE_CHRONYD}), then C{<prefix>/usr/sbin}, C{<prefix>/usr/bin}
    under L{PEERS_PREFIX} (or C{$NTPSERVICE_PEERS_PREFIX}), then C{$PATH}
    followed by C{/usr/sbin} and C{/sbin}.

    @param name: the program, such as C{"chronyd"}, C{"ntpdig"}, C{"ip"}.
    @param environ: the environment, C{os.environ} by default.
    @return: an absolute path to an executable file, or L{None}.
    """
    env = os.environ if environ is None else environ
    variable = _ENV_NAMES.get(name, "NTPSERVICE_" + re.sub(r"\W", "_", name).upper())
    override = env.get(variable)
    if override:
        return override if _isExecutable(override) else None
    prefix = env.get("NTPSERVICE_PEERS_PREFIX", PEERS_PREFIX)
    for directory in ("usr/sbin", "usr/bin", "sbin", "bin"):
        candidate = os.path.join(prefix, directory, name)
        if _isExecutable(candidate):
            return candidate
    path = os.pathsep.join([env.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
    return shutil.which(name, path=path)


def requireBinary(name: str, environ: Mapping[str, str] | None = None) -> str:
    """
    Locate a program the test cannot do without.

    @param name: see L{findBinary}.
    @param environ: the environment, C{os.environ} by default.
    @return: the program's absolute path.
    @raise unittest.SkipTest: when it is missing (outside CI).
    @raise PeerUnavailableError: when it is missing and C{CI=true}.
    """
    env = os.environ if environ is None else environ
    found = findBinary(name, env)
    if found is None:
        variable = _ENV_NAMES.get(name, "NTPSERVICE_" + name.upper())
        where = env.get(variable)
        if where:
            unavailable(f"{name}: ${variable}={where} is not an executable file", env)
        unavailable(
            f"{name} not found (set ${variable}, or install it under "
            f"{env.get('NTPSERVICE_PEERS_PREFIX', PEERS_PREFIX)} or on $PATH)",
            env,
        )
    assert found is not None
    return found


_rootProbe: str | None = None
"""Why namespaces do not work here ("" when they do); None until probed."""


def requireRoot(environ: Mapping[str, str] | None = None) -> None:
    """
    Make sure this process may build network namespaces: it is root, C{ip}
    exists and C{ip netns add} works (checked once per process).

    @param environ: the environment, C{os.environ} by default.
    @raise unittest.SkipTest: when it may not (outside CI).
    @raise PeerUnavailableError: when it may not and C{CI=true}.
    """
    global _rootProbe
    if _rootProbe is None:
        _rootProbe = _probeNamespaces()
    if _rootProbe:
        unavailable(_rootProbe, environ)


def _probeNamespaces() -> str:
    if os.geteuid() != 0:
        return f"network namespaces need root (running as uid {os.geteuid()})"
    ip = findBinary("ip")
    if ip is None:
        return "iproute2 (ip) not found"
    name = NAMESPACE_PREFIX + "probe-" + secrets.token_hex(3)
    result = subprocess.run(
        [ip, "netns", "add", name], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        return f"'ip netns add' failed: {result.stderr.strip() or result.returncode}"
    subprocess.run([ip, "netns", "del", name], capture_output=True, timeout=30)
    return ""


def freePort(host: str = "127.0.0.1") -> int:
    """
    @param host: the address to bind to.
    @return: a UDP port that was free on C{host} a moment ago.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port


# --------------------------------------------------------------------------
# Network namespaces


class NetNamespace:
    """
    A network namespace created for a test, with its loopback up.

    Use it as a context manager: C{__exit__} kills every process still inside
    (C{ip netns pids}, SIGTERM then SIGKILL) and deletes the namespace.

    @ivar name: the namespace name, C{ntps-<random>} unless given.
    """

    def __init__(self, name: str | None = None) -> None:
        """
        @param name: the namespace name; a random C{ntps-} name by default.
        """
        self.name = name or NAMESPACE_PREFIX + secrets.token_hex(4)
        self._ip = "ip"
        self._created = False

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self.name}>"

    def create(self) -> None:
        """
        Create the namespace and bring C{lo} up.

        @raise unittest.SkipTest: when not root or namespaces do not work.
        @raise PeerUnavailableError: the same, under C{CI=true}.
        """
        requireRoot()
        self._ip = requireBinary("ip")
        self._host([self._ip, "netns", "add", self.name])
        self._created = True
        try:
            self._host([self._ip, "-n", self.name, "link", "set", "lo", "up"])
        except BaseException:
            self.close()
            raise

    def close(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """
        Kill whatever still runs inside and delete the namespace.  Safe to
        call twice.

        @param timeout: seconds to wait after SIGTERM before SIGKILL.
        """
        if not self._created:
            return
        try:
            _killAll(self.pids, timeout)
        finally:
            subprocess.run(
                [self._ip, "netns", "del", self.name],
                capture_output=True,
                timeout=30,
            )
            self._created = False

    def __enter__(self) -> NetNamespace:
        self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def command(self, argv: Sequence[str]) -> list[str]:
        """
        @param argv: a command line.
        @return: the command line that runs C{argv} inside this namespace.
        """
        return [self._ip, "netns", "exec", self.name, *argv]

    def run(
        self,
        argv: Sequence[str],
        timeout: float = 60.0,
        check: bool = True,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """
        Run a command inside the namespace and wait for it.

        @param argv: the command line.
        @param timeout: seconds before the command is killed
            (L{subprocess.TimeoutExpired}).
        @param check: raise L{PeerError} on a non-zero exit status.
        @param input: text fed to its standard input.
        @return: the finished process with C{stdout} and C{stderr} as text.
        """
        return runCommand(argv, netns=self, timeout=timeout, check=check, input=input)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """
        Start a command inside the namespace without waiting.  The caller owns
        the process; L{close} kills it at the latest.

        @param argv: the command line.
        @param kwargs: passed to L{subprocess.Popen}.
        """
        return subprocess.Popen(self.command(argv), **kwargs)

    def pids(self) -> list[int]:
        """
        @return: the processes running inside this namespace.
        """
        result = subprocess.run(
            [self._ip, "netns", "pids", self.name],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return [int(word) for word in result.stdout.split() if word.isdigit()]

    def _host(self, argv: list[str]) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise PeerError(
                f"{' '.join(argv)} failed ({result.returncode})",
                result.stdout + result.stderr,
            )


class Host(NetNamespace):
    """
    One machine of a L{Network}: a namespace whose C{eth0} is plugged into
    the network's bridge.

    @ivar address: its IPv4 address on the network's /24, without prefix.
    @ivar address6: its IPv6 ULA address on the network's /64 (no DAD, usable
        at once).
    @ivar interface: the name of its network interface.
    @ivar index: its position in L{Network.hosts}, from 0.
    """

    def __init__(self, address: str, address6: str, index: int,
                 interface: str = "eth0") -> None:
        super().__init__()
        self.address = address
        self.address6 = address6
        self.index = index
        self.interface = interface

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.address}>"


class Network:
    """
    Several L{Host}s on one Ethernet segment, for multi-host tests
    (broadcast, multicast, several servers).

    A "switch" namespace holds a bridge (C{br0}, multicast snooping off); each
    host is a namespace with C{eth0}, one end of a veth pair whose other end
    is a port of the bridge.  Host I{i} gets C{10.250.N.(i+1)/24} and
    C{fd25:250:N::(i+1)/64}, N random, plus a route for C{224.0.0.0/4} on
    C{eth0}.  Nothing is created in the host's own network namespace, so the
    addresses exist only inside the namespaces.

    Use it as a context manager; leaving it deletes every namespace.

    @ivar switch: the namespace holding the bridge.
    @ivar hosts: the hosts, in creation order.
    @ivar subnet: the IPv4 network, such as C{"10.250.17.0/24"}.
    @ivar subnet6: the IPv6 network, such as C{"fd25:250:11::/64"}.
    """

    BRIDGE = "br0"

    def __init__(self, hosts: int = 0, third: int | None = None) -> None:
        """
        @param hosts: how many hosts L{__enter__} creates (more with
            L{addHost}).
        @param third: the third octet N of C{10.250.N.0/24}; random if
            L{None}.
        """
        self._initialHosts = hosts
        self._third = secrets.randbelow(256) if third is None else third
        self.subnet = f"10.250.{self._third}.0/24"
        self.subnet6 = f"fd25:250:{self._third:x}::/64"
        self.switch = NetNamespace(NAMESPACE_PREFIX + secrets.token_hex(4) + "-sw")
        self.hosts: list[Host] = []

    def __enter__(self) -> Network:
        self.switch.create()
        try:
            ip = self.switch._ip
            self.switch._host([ip, "-n", self.switch.name, "link", "add", self.BRIDGE,
                               "type", "bridge", "mcast_snooping", "0"])
            self.switch._host([ip, "-n", self.switch.name, "link", "set",
                               self.BRIDGE, "up"])
            for _ in range(self._initialHosts):
                self.addHost()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def addHost(self) -> Host:
        """
        Create one more host on the network.

        @return: the new host, its interface up with both addresses.
        """
        index = len(self.hosts)
        if index >= 253:
            raise ValueError("a /24 network holds at most 253 hosts")
        host = Host(
            address=f"10.250.{self._third}.{index + 1}",
            address6=f"fd25:250:{self._third:x}::{index + 1:x}",
            index=index,
        )
        host.create()
        self.hosts.append(host)
        ip = host._ip
        port = f"vh{index}"
        self.switch._host([ip, "-n", self.switch.name, "link", "add", port, "type",
                           "veth", "peer", "name", host.interface, "netns", host.name])
        self.switch._host([ip, "-n", self.switch.name, "link", "set", port, "master",
                           self.BRIDGE, "up"])
        n = host.name
        host._host([ip, "-n", n, "addr", "add", f"{host.address}/24",
                    "brd", "+", "dev", host.interface])
        host._host([ip, "-n", n, "addr", "add", f"{host.address6}/64", "nodad",
                    "dev", host.interface])
        host._host([ip, "-n", n, "link", "set", host.interface, "up"])
        host._host([ip, "-n", n, "route", "add", "224.0.0.0/4", "dev", host.interface])
        return host

    def close(self) -> None:
        """Delete every host and the switch (idempotent)."""
        errors: list[BaseException] = []
        for namespace in [*reversed(self.hosts), self.switch]:
            try:
                namespace.close()
            except Exception as e:
                errors.append(e)
        if errors:
            raise errors[0]


# --------------------------------------------------------------------------
# Processes


def runCommand(
    argv: Sequence[str],
    netns: NetNamespace | None = None,
    timeout: float = 60.0,
    check: bool = True,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """
    Run a short-lived command, optionally inside a namespace, bounded.

    @param argv: the command line.
    @param netns: the namespace, or L{None} for this one.
    @param timeout: seconds before it is killed.
    @param check: raise L{PeerError} if it exits with a non-zero status.
    @param input: text for its standard input.
    @param env: its environment, this process's by default.
    @return: the finished process, C{stdout}/C{stderr} as text.
    @raise PeerError: when C{check} and it failed, or when it timed out.
    """
    command = netns.command(argv) if netns is not None else list(argv)
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=None if env is None else dict(env),
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as e:
        out = _text(e.stdout) + _text(e.stderr)
        raise PeerError(f"{' '.join(command)} did not finish in {timeout} s", out)
    if check and result.returncode != 0:
        raise PeerError(
            f"{' '.join(command)} exited with status {result.returncode}",
            result.stdout + result.stderr,
        )
    return result


def withoutSysTime(argv: Sequence[str]) -> list[str]:
    """
    @param argv: a command line.
    @return: the command line wrapped in C{setpriv} so that the program and
        its children can never hold CAP_SYS_TIME.
    """
    return [requireBinary("setpriv"), *SETPRIV_NO_SYS_TIME, *argv]


def capabilitySets(pid: int) -> dict[str, int]:
    """
    @param pid: a process id.
    @return: its capability masks from C{/proc/PID/status}, keyed C{"CapEff"},
        C{"CapBnd"}, C{"CapPrm"}, C{"CapInh"}, C{"CapAmb"}.
    """
    masks: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key.startswith("Cap"):
                masks[key] = int(value.strip(), 16)
    return masks


class DaemonProcess:
    """
    A long-running program started by a test; standard output and error go
    to C{<workdir>/<name>.out}.  A context manager: leaving it stops the
    program (SIGTERM to its process group, SIGKILL after a bounded wait).

    @ivar name: a short label, used in file names and messages.
    @ivar argv: the program's own command line (before setpriv/netns).
    @ivar workdir: the directory holding its files.
    @ivar outputPath: where its standard output and error go.
    @ivar netns: the namespace it runs in, or L{None}.
    @ivar process: the L{subprocess.Popen}, once started.
    """

    process: subprocess.Popen[bytes] | None

    def __init__(
        self,
        argv: Sequence[str],
        workdir: str,
        name: str,
        netns: NetNamespace | None = None,
        dropSysTime: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """
        @param argv: the command line.
        @param workdir: an existing directory for its output file.
        @param name: a short label (a file name component).
        @param netns: run inside this namespace.
        @param dropSysTime: wrap it in C{setpriv} (L{withoutSysTime}); leave
            this on for anything that might touch the clock.
        @param env: its environment, this process's by default.
        """
        self.name = name
        self.argv = list(argv)
        self.workdir = workdir
        self.outputPath = os.path.join(workdir, f"{name}.out")
        self.netns = netns
        self.dropSysTime = dropSysTime
        self.env = None if env is None else dict(env)
        self.process = None
        self._outputFile: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self.name} pid={self.pid}>"

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return None if self.process is None else self.process.pid

    def start(self) -> DaemonProcess:
        """
        Start the program.

        @return: C{self}.
        """
        if self.process is not None:
            raise RuntimeError(f"{self.name} already started")
        argv = withoutSysTime(self.argv) if self.dropSysTime else list(self.argv)
        if self.netns is not None:
            argv = self.netns.command(argv)
        self._outputFile = open(self.outputPath, "wb")
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._outputFile,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self.env,
                start_new_session=True,
            )
        except BaseException:
            self._outputFile.close()
            self._outputFile = None
            raise
        return self

    def running(self) -> bool:
        """@return: whether it was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """@return: everything it printed so far."""
        return _readText(self.outputPath)

    def waitForOutput(
        self,
        pattern: str | re.Pattern[str],
        timeout: float = 10.0,
        path: str | None = None,
    ) -> re.Match[str]:
        """
        Wait until a line matching C{pattern} shows up in its output (or in
        the log file C{path}).

        @param pattern: a regular expression, searched with L{re.search}
            against the whole text (use C{re.M} for line anchors).
        @param timeout: seconds to wait at most.
        @param path: a log file to watch instead of the captured output.
        @return: the match.
        @raise PeerError: when it exits first or the timeout expires.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        source = path or self.outputPath
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(_readText(source))
            if match:
                return match
            if not self.running():
                raise PeerError(
                    f"{self.name} exited ({self._status()}) before printing "
                    f"{regex.pattern!r}",
                    self._diagnostics(path),
                )
            if time.monotonic() >= deadline:
                raise PeerError(
                    f"{self.name} did not print {regex.pattern!r} in {timeout} s",
                    self._diagnostics(path),
                )
            time.sleep(0.02)

    def waitForNtp(
        self,
        host: str,
        port: int,
        timeout: float = 10.0,
        synchronised: bool = False,
    ) -> NtpReply:
        """
        Wait until it answers an NTP client request (from its namespace).

        @param host: the address to query.
        @param port: the UDP port to query.
        @param timeout: seconds to wait at most.
        @param synchronised: wait for a synchronised reply (leap != 3 and
            stratum 1..15), not just any reply.
        @return: the first acceptable reply.
        @raise PeerError: when it exits first or the timeout expires.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                return waitForNtp(host, port, min(0.5, max(remaining, 0.05)),
                                  netns=self.netns, synchronised=synchronised)
            except PeerError:
                if not self.running():
                    raise PeerError(
                        f"{self.name} exited ({self._status()}) before answering "
                        f"on {host} port {port}",
                        self._diagnostics(),
                    )
                if time.monotonic() >= deadline:
                    kind = "synchronised NTP" if synchronised else "NTP"
                    raise PeerError(
                        f"{self.name} did not answer {kind} on {host} port {port} "
                        f"in {timeout} s",
                        self._diagnostics(),
                    )

    def assertNoSysTime(self) -> None:
        """
        Check in C{/proc} that the running program has CAP_SYS_TIME neither
        in its effective nor in its bounding set.

        @raise PeerError: when it has it (the test must not go on).
        """
        assert self.pid is not None
        masks = capabilitySets(self.pid)
        bit = 1 << CAP_SYS_TIME
        if masks.get("CapEff", 0) & bit or masks.get("CapBnd", 0) & bit:
            self.stop()
            raise PeerError(f"{self.name} (pid {self.pid}) holds CAP_SYS_TIME: stopped")

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> int | None:
        """
        Stop it: SIGTERM to its process group, then SIGKILL after C{timeout}
        seconds.  Idempotent.

        @param timeout: seconds to wait after SIGTERM.
        @return: its exit status (negative: killed by that signal), or
            L{None} if it was never started.
        """
        if self.process is None:
            return None
        try:
            _stopGroup(self.process, timeout)
        finally:
            if self._outputFile is not None:
                self._outputFile.close()
                self._outputFile = None
        return self.process.returncode

    def __enter__(self) -> DaemonProcess:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _status(self) -> str:
        code = None if self.process is None else self.process.poll()
        return "not started" if self.process is None else f"status {code}"

    def _diagnostics(self, extra: str | None = None) -> str:
        text = self.output()
        if extra and extra != self.outputPath:
            text += f"\n--- {extra} ---\n" + _readText(extra)
        return text


def startDaemon(
    argv: Sequence[str],
    workdir: str,
    name: str,
    netns: NetNamespace | None = None,
    dropSysTime: bool = True,
    env: Mapping[str, str] | None = None,
) -> DaemonProcess:
    """
    Start a program as a L{DaemonProcess}; see there for the parameters.

    @return: the started process (use it as a context manager to stop it).
    """
    return DaemonProcess(argv, workdir, name, netns, dropSysTime, env).start()


# --------------------------------------------------------------------------
# A minimal NTP client for readiness checks


@dataclass(frozen=True)
class NtpReply:
    """
    A server reply as seen by L{queryNtp}.  Timestamps are POSIX seconds
    (floats); C{t1}/C{t4} are our transmit/receive times.

    @ivar leap: leap indicator, 0..3 (3: unsynchronised).
    @ivar version: NTP version number.
    @ivar mode: association mode (4: server).
    @ivar stratum: 0 (kiss-o'-death / unspecified) .. 16 (unsynchronised).
    @ivar pollLog2: poll exponent, log2 seconds.
    @ivar precisionLog2: precision exponent, log2 seconds.
    @ivar rootDelay: root delay, seconds.
    @ivar rootDispersion: root dispersion, seconds.
    @ivar refid: the four reference-id bytes.
    @ivar t1: origin timestamp, POSIX seconds (our transmit time).
    @ivar t2: receive timestamp, POSIX seconds.
    @ivar t3: transmit timestamp, POSIX seconds.
    @ivar t4: destination timestamp, POSIX seconds (our receive time).
    @see: RFC 5905 section 7.3 and section 8.
    """

    leap: int
    version: int
    mode: int
    stratum: int
    pollLog2: int
    precisionLog2: int
    rootDelay: float
    rootDispersion: float
    refid: bytes
    t1: float
    t2: float
    t3: float
    t4: float

    @property
    def offset(self) -> float:
        """Clock offset theta of the server relative to us, seconds."""
        return ((self.t2 - self.t1) + (self.t3 - self.t4)) / 2

    @property
    def delay(self) -> float:
        """Round-trip delay delta, seconds."""
        return (self.t4 - self.t1) - (self.t3 - self.t2)

    @property
    def synchronised(self) -> bool:
        """Whether the server claims to be synchronised."""
        return self.leap != 3 and 1 <= self.stratum <= 15


def _ntpToPosix(raw: int) -> float:
    return raw / 2**32 - NTP_EPOCH_OFFSET


def queryNtp(host: str, port: int = 123, timeout: float = 1.0) -> NtpReply | None:
    """
    Send one NTPv4 client request from this process's namespace and wait
    for the matching server reply.

    @param host: server address (IPv4 or IPv6 literal, or a name).
    @param port: server UDP port.
    @param timeout: seconds to wait for the reply.
    @return: the reply, or L{None} if none with our origin timestamp came.
    """
    info = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
    with socket.socket(info[0], socket.SOCK_DGRAM) as s:
        s.connect(info[4])
        # A random transmit timestamp, as chrony sends: only its echo counts.
        xmt = secrets.token_bytes(8)
        request = bytes([0x23]) + bytes(39) + xmt
        t1 = time.time()
        try:
            s.send(request)
        except OSError:
            return None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            s.settimeout(remaining)
            try:
                data = s.recv(2048)
            except (socket.timeout, ConnectionRefusedError, OSError):
                return None
            t4 = time.time()
            if len(data) < 48 or data[24:32] != xmt:
                continue
            return _parseReply(data, t1, t4)


def _parseReply(data: bytes, t1: float, t4: float) -> NtpReply:
    (flags, stratum, poll, precision, rootDelay, rootDisp, refid, _ref, _org,
     rec, xmt) = struct.unpack("!BBbbII4sQQQQ", data[:48])
    return NtpReply(
        leap=flags >> 6,
        version=(flags >> 3) & 7,
        mode=flags & 7,
        stratum=stratum,
        pollLog2=poll,
        precisionLog2=precision,
        rootDelay=rootDelay / 2**16,
        rootDispersion=rootDisp / 2**16,
        refid=refid,
        t1=t1,
        t2=_ntpToPosix(rec),
        t3=_ntpToPosix(xmt),
        t4=t4,
    )


def waitForNtp(
    host: str,
    port: int = 123,
    timeout: float = 10.0,
    netns: NetNamespace | None = None,
    synchronised: bool = False,
) -> NtpReply:
    """
    Poll an NTP server until it answers, every 0.1 s at most.

    @param host: server address.
    @param port: server UDP port.
    @param timeout: seconds to wait at most.
    @param netns: query from inside this namespace (through a short-lived
        C{python peers.py probe} in it).
    @param synchronised: only accept a synchronised reply.
    @return: the accepted reply.
    @raise PeerError: on timeout.
    """
    if netns is not None:
        result = runCommand(
            [sys.executable, os.path.abspath(__file__), "probe", host, str(port),
             repr(timeout), "1" if synchronised else "0"],
            netns=netns,
            timeout=timeout + 30,
            check=False,
        )
        if result.returncode == 0:
            return NtpReply(**_replyFromJson(json.loads(result.stdout)))
        raise PeerError(
            f"no {'synchronised ' if synchronised else ''}NTP reply from {host} "
            f"port {port} in {netns.name} within {timeout} s",
            result.stdout + result.stderr,
        )
    deadline = time.monotonic() + timeout
    last: NtpReply | None = None
    while True:
        remaining = deadline - time.monotonic()
        started = time.monotonic()
        reply = queryNtp(host, port, min(0.25, max(remaining, 0.01)))
        if reply is not None:
            last = reply
            if reply.synchronised or not synchronised:
                return reply
        if time.monotonic() >= deadline:
            detail = ""
            if last is not None:
                detail = f" (last reply: leap {last.leap}, stratum {last.stratum})"
            raise PeerError(
                f"no {'synchronised ' if synchronised else ''}NTP reply from "
                f"{host} port {port} within {timeout} s{detail}"
            )
        time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))


def _replyFromJson(obj: dict[str, Any]) -> dict[str, Any]:
    obj = dict(obj)
    obj["refid"] = bytes.fromhex(obj["refid"])
    return obj


# --------------------------------------------------------------------------
# chronyd


def parseChronydQueryOutput(text: str) -> float:
    """
    Extract the offset from the output of C{chronyd -Q}.

    chronyd prints C{System clock wrong by X seconds (ignored)} where X is
    the server's time minus ours: with a server 1 s ahead it prints
    C{1.000041}.  That is the RFC 5905 offset theta, same sign as ntpdig's.

    @param text: what chronyd printed.
    @return: the offset in seconds (positive: the server is ahead of us).
    @raise PeerError: when the line is missing.
    """
    match = re.search(
        r"System clock wrong by ([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?) seconds", text
    )
    if match is None:
        reason = "no offset"
        for known in ("Timeout reached", "No suitable source",
                      "Could not", "Fatal error"):
            if known in text:
                reason = known
                break
        raise PeerError(f"chronyd -Q printed {reason}", text)
    return float(match.group(1))


def runChronydQuery(
    host: str,
    port: int = 123,
    samples: int = 4,
    timeout: float = 10.0,
    netns: NetNamespace | None = None,
    options: str = "",
    pollLog2: int | None = None,
) -> float:
    """
    Measure a server's offset with chrony as the client
    (C{chronyd -Q -x -u root -f /dev/null -t T 'server H port N iburst
    maxsamples S'}), without touching the clock.

    @param host: the server.
    @param port: its UDP port.
    @param samples: how many samples chronyd takes (C{maxsamples}).
    @param timeout: C{-t}: seconds before chronyd gives up, whole seconds,
        at least 1.
    @param netns: run chronyd in this namespace.
    @param options: more C{server} options (C{"key 1"}, C{"xleave"}, ...).
    @param pollLog2: if given, C{minpoll} and C{maxpoll} (log2 seconds,
        down to -6): with -4, four samples take about 0.25 s instead of the
        4 s of the default iburst spacing.
    @return: the offset in seconds, positive when the server is ahead.
    @raise PeerError: when chronyd got no usable reply in time.
    """
    chronyd = requireBinary("chronyd")
    if pollLog2 is not None:
        options = f"minpoll {pollLog2} maxpoll {pollLog2} {options}"
    directive = f"server {host} port {port} iburst maxsamples {samples} {options}"
    directive = directive.strip()
    seconds = max(1, int(round(timeout)))
    argv = withoutSysTime([chronyd, "-Q", "-x", "-u", "root", "-f", "/dev/null",
                           "-t", str(seconds), directive])
    result = runCommand(argv, netns=netns, timeout=seconds + 30, check=False)
    return parseChronydQueryOutput(result.stdout + result.stderr)


class ChronydServer(DaemonProcess):
    """
    chronyd serving time from its local reference (C{local stratum N}),
    never controlling the clock (C{-x}).

    @ivar host: the address to query it on from its namespace.
    @ivar port: its NTP port.
    @ivar configPath: its configuration file.
    @ivar socketPath: its chronyc Unix socket (the directory is 0700).
    """

    host: str
    port: int
    configPath: str
    socketPath: str

    def chronyc(self, *args: str, timeout: float = 30.0) -> str:
        """
        Run C{chronyc -h SOCKET -n ARGS} against this server.

        @param args: the command and its arguments, such as C{"tracking"}.
        @return: what chronyc printed.
        @raise PeerError: if it failed.
        """
        chronyc = requireBinary("chronyc")
        result = runCommand([chronyc, "-h", self.socketPath, "-n", *args],
                            netns=self.netns, timeout=timeout)
        return result.stdout


def chronydServerConfig(
    workdir: str,
    port: int = 123,
    bindAddresses: Sequence[str] = (),
    stratum: int = 2,
    allow: str = "all",
    extraConfig: Sequence[str] = (),
) -> str:
    """
    @return: the text of a chronyd configuration for a stand-alone server:
        C{local stratum} (without it chronyd answers unsynchronised), no rate
        limit, no drift file, no UDP command port, pid file and command
        socket under C{workdir}.  See L{startChronydServer}.
    """
    lines = [f"port {port}"]
    lines += [f"bindaddress {address}" for address in bindAddresses]
    lines += [
        f"allow {allow}".strip(),
        f"local stratum {stratum}",
        "cmdport 0",
        f"bindcmdaddress {os.path.join(workdir, 'chronyd-sock', 'chronyd.sock')}",
        f"pidfile {os.path.join(workdir, 'chronyd.pid')}",
    ]
    lines += list(extraConfig)
    return "\n".join(lines) + "\n"


def startChronydServer(
    workdir: str,
    port: int = 123,
    netns: NetNamespace | None = None,
    bindAddresses: Sequence[str] | None = None,
    stratum: int = 2,
    allow: str = "all",
    extraConfig: Sequence[str] = (),
    timeout: float = 10.0,
    name: str = "chronyd",
) -> ChronydServer:
    """
    Start chronyd as a server (C{chronyd -x -u root -d -f CONF}) and wait
    until it gives synchronised replies.

    @param workdir: an existing directory for its files.
    @param port: its NTP port.
    @param netns: run it inside this namespace.
    @param bindAddresses: addresses to bind; by default C{127.0.0.1} and
        C{::1} outside a namespace (so that nothing listens on the machine's
        real interfaces) and every address inside one.
    @param stratum: its stratum (C{local stratum}).
    @param allow: the C{allow} argument (who may query it).
    @param extraConfig: more configuration lines (C{peer ...}, keys, ...).
    @param timeout: seconds to wait for it to answer.
    @param name: label for its files.
    @return: the running server; stop it (or use it as a context manager).
    @raise PeerError: if it did not come up.
    """
    chronyd = requireBinary("chronyd")
    if bindAddresses is None:
        bindAddresses = ("127.0.0.1", "::1") if netns is None else ()
    os.makedirs(os.path.join(workdir, "chronyd-sock"), mode=0o700, exist_ok=True)
    os.chmod(os.path.join(workdir, "chronyd-sock"), 0o700)
    configPath = os.path.join(workdir, f"{name}.conf")
    with open(configPath, "w") as f:
        f.write(chronydServerConfig(workdir, port, bindAddresses, stratum, allow,
                                    extraConfig))
    server = ChronydServer([chronyd, "-x", "-u", "root", "-d", "-f", configPath],
                           workdir, name, netns)
    server.host = bindAddresses[0] if bindAddresses else "127.0.0.1"
    server.port = port
    server.configPath = configPath
    server.socketPath = os.path.join(workdir, "chronyd-sock", "chronyd.sock")
    server.start()
    try:
        server.waitForNtp(server.host, port, timeout, synchronised=True)
        server.assertNoSysTime()
    except BaseException:
        server.stop()
        raise
    return server


# --------------------------------------------------------------------------
# NTPsec


class NtpsecServer(DaemonProcess):
    """
    NTPsec's ntpd as a server in orphan mode, inside a namespace.

    @ivar host: the address to query it on from its namespace.
    @ivar port: always 123 (ntpd has no port option).
    @ivar configPath: its configuration file.
    @ivar logPath: its log file (C{-l}).
    """

    host: str
    port: int
    configPath: str
    logPath: str

    def ntpq(self, *args: str, timeout: float = 30.0) -> str:
        """
        Run C{ntpq -n ARGS HOST} against this server from its namespace.

        @param args: ntpq options and commands, such as C{"-p"} or
            C{"-c", "rv"}.
        @return: what ntpq printed.
        """
        ntpq = requireBinary("ntpq")
        return runCommand([ntpq, "-n", *args, self.host], netns=self.netns,
                          timeout=timeout).stdout


def ntpsecServerConfig(
    workdir: str,
    orphanStratum: int = 5,
    restrict: Sequence[str] = DEFAULT_NTPSEC_RESTRICT,
    extraConfig: Sequence[str] = (),
) -> str:
    """
    @return: the text of an NTPsec configuration for a stand-alone server:
        orphan mode with C{orphanwait 0} (NTPsec has no undisciplined local
        clock to serve from otherwise), permissive C{restrict} lines (no
        C{limited}, no C{noquery}), drift file and statistics under
        C{workdir}.  See L{startNtpsecServer}.
    """
    lines = [
        f"driftfile {os.path.join(workdir, 'ntp.drift')}",
        f"statsdir {workdir.rstrip('/')}/",
        *restrict,
        f"tos orphan {orphanStratum} orphanwait 0",
        *extraConfig,
    ]
    return "\n".join(lines) + "\n"


def startNtpsecServer(
    workdir: str,
    netns: NetNamespace,
    orphanStratum: int = 5,
    restrict: Sequence[str] = DEFAULT_NTPSEC_RESTRICT,
    extraConfig: Sequence[str] = (),
    host: str = "127.0.0.1",
    timeout: float = 15.0,
    name: str = "ntpsec",
) -> NtpsecServer:
    """
    Start NTPsec's ntpd as a server on port 123 inside a namespace
    (C{ntpd -n -c CONF -l LOG -p PID}, without CAP_SYS_TIME: ntpd calls
    C{ntp_adjtime()} at start-up and gets EPERM), and wait for a
    synchronised reply.  For about a second after start it answers
    stratum 0; the wait covers that.

    @param workdir: an existing directory for its files.
    @param netns: the namespace (required: ntpd binds port 123 on every
        interface it sees).
    @param orphanStratum: the stratum it serves (C{tos orphan}).
    @param restrict: the access lines.
    @param extraConfig: more configuration lines (C{server ...}, keys ...).
    @param host: the address to query it on inside C{netns}.
    @param timeout: seconds to wait for it.
    @param name: label for its files.
    @return: the running server.
    @raise PeerError: if it did not come up.
    """
    if netns is None:
        raise ValueError("NTPsec's ntpd binds port 123 everywhere: give it a namespace")
    ntpd = requireBinary("ntpd")
    configPath = os.path.join(workdir, f"{name}.conf")
    with open(configPath, "w") as f:
        f.write(ntpsecServerConfig(workdir, orphanStratum, restrict, extraConfig))
    logPath = os.path.join(workdir, f"{name}.log")
    server = NtpsecServer(
        [ntpd, "-n", "-c", configPath, "-l", logPath, "-p",
         os.path.join(workdir, f"{name}.pid")],
        workdir, name, netns,
    )
    server.host = host
    server.port = 123
    server.configPath = configPath
    server.logPath = logPath
    server.start()
    try:
        server.waitForNtp(host, 123, timeout, synchronised=True)
        server.assertNoSysTime()
    except PeerError as e:
        server.stop()
        raise PeerError(str(e), _readText(logPath)) from None
    except BaseException:
        server.stop()
        raise
    return server


# --------------------------------------------------------------------------
# Our daemon


TWISTD_BOOTSTRAP = (
    "import sys; sys.argv[0] = 'twistd'; "
    "from twisted.scripts.twistd import run; run()"
)
"""C{python -c} code that runs twistd with the arguments that follow."""


def ntpserviceCommand(configPath: str, port: int = 123,
                      extraArgs: Sequence[str] = ()) -> list[str]:
    """
    @return: the command line of our daemon, C{twistd -n --pidfile= ntp -c
        CONFIG --no-clock-adjust --port PORT}, with twistd run by this
        interpreter (C{python -m twisted} is C{twist}, not C{twistd}).
    """
    return [sys.executable, "-c", TWISTD_BOOTSTRAP, "-n", "--pidfile=", "ntp", "-c",
            configPath, "--no-clock-adjust", "--port", str(port), *extraArgs]


def startNtpservice(
    workdir: str,
    config: str | None = None,
    port: int = 123,
    netns: NetNamespace | None = None,
    extraArgs: Sequence[str] = (),
    host: str = "127.0.0.1",
    timeout: float = 20.0,
    synchronised: bool = False,
    name: str = "ntpservice",
) -> DaemonProcess:
    """
    Start our daemon under twistd with the no-adjust clock driver and
    without CAP_SYS_TIME, from this checkout, and wait until it answers.

    @param workdir: an existing directory for its files.
    @param config: the text of its ntp.conf; by default only a drift file
        under C{workdir}.
    @param port: its NTP port.
    @param netns: run it inside this namespace.
    @param extraArgs: more options after C{--port}.
    @param host: the address to query it on.
    @param timeout: seconds to wait for it.
    @param synchronised: wait for a synchronised reply.
    @param name: label for its files.
    @return: the running daemon.
    @raise PeerError: if it did not come up.
    """
    if config is None:
        config = f"driftfile {os.path.join(workdir, 'ntp.drift')}\n"
    configPath = os.path.join(workdir, f"{name}.conf")
    with open(configPath, "w") as f:
        f.write(config)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (REPOSITORY_ROOT, env.get("PYTHONPATH", "")) if p
    )
    daemon = DaemonProcess(ntpserviceCommand(configPath, port, extraArgs), workdir,
                           name, netns, env=env)
    daemon.start()
    try:
        daemon.waitForNtp(host, port, timeout, synchronised=synchronised)
        daemon.assertNoSysTime()
    except BaseException:
        daemon.stop()
        raise
    return daemon


# --------------------------------------------------------------------------
# ntpdig


def _ntpHexToPosix(text: str) -> float:
    seconds, fraction = text.split(".")
    return int(seconds, 16) - NTP_EPOCH_OFFSET + int(fraction, 16) / 2**32


def parseNtpdigOutput(text: str) -> dict[str, Any]:
    """
    Parse what C{ntpdig -d -j} printed for one query.

    @param text: its standard output.
    @return: the JSON object ntpdig prints (C{time}, C{offset} in seconds,
        positive when the server is ahead; C{precision}, which is ntpdig's
        synchronisation distance estimate in seconds; C{host}, C{ip},
        C{stratum}, C{leap} as a word such as C{"no-leap"}, C{adjusted}),
        plus, from the debug lines, C{t1}..C{t4} (POSIX seconds) and
        C{delay} (round trip, seconds).
    @raise PeerError: when there is no JSON line.
    """
    result: dict[str, Any] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            result = json.loads(line)
    if result is None:
        raise NtpdigError("ntpdig printed no result", text)
    stamps = dict(re.findall(r"\b(t[1-4]): ([0-9a-f]{8}\.[0-9a-f]{8})\b", text))
    if len(stamps) == 4:
        for key, value in stamps.items():
            result[key] = _ntpHexToPosix(value)
        result["delay"] = (result["t4"] - result["t1"]) - (result["t3"] - result["t2"])
    return result


def runNtpdig(
    host: str,
    count: int = 1,
    timeout: float = 2.0,
    netns: NetNamespace | None = None,
    extraArgs: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """
    Query a server on port 123 with NTPsec's ntpdig (the only port ntpdig
    talks to, hence C{netns}), once per sample, never setting the clock
    (no C{-s}/C{-S}).

    @param host: the server.
    @param count: how many queries, one ntpdig run each.
    @param timeout: ntpdig's C{-t}, seconds per query.
    @param netns: run ntpdig in this namespace.
    @param extraArgs: more options (C{-a KEY -k FILE}, ...).
    @return: one L{parseNtpdigOutput} dictionary per query.
    @raise NtpdigError: when a query got no acceptable reply (ntpdig drops
        stratum 0, unsynchronised and bogus replies; the reason is in
        the error's C{output}).
    """
    ntpdig = requireBinary("ntpdig")
    for forbidden in ("-s", "-S", "--step", "--slew"):
        if forbidden in extraArgs:
            raise ValueError(f"ntpdig {forbidden} would set the clock")
    results = []
    for _ in range(count):
        argv = withoutSysTime([ntpdig, "-d", "-j", "-t", f"{timeout:g}",
                               *extraArgs, host])
        result = runCommand(argv, netns=netns, timeout=timeout + 30, check=False)
        if result.returncode != 0:
            raise NtpdigError(f"ntpdig {host} exited with status {result.returncode}",
                              result.stdout + result.stderr)
        results.append(parseNtpdigOutput(result.stdout))
    return results


# --------------------------------------------------------------------------
# tshark


class Capture:
    """
    A running packet capture (see L{capture}).

    @ivar path: the pcapng file; complete once the context is left.
    @ivar process: the tshark process.
    @ivar stderrPath: where tshark's messages go.
    """

    def __init__(self, path: str, process: subprocess.Popen[bytes], stderrPath: str):
        self.path = path
        self.process = process
        self.stderrPath = stderrPath

    def stop(self, timeout: float = 10.0) -> None:
        """
        Stop capturing and let tshark and its dumpcap finish the file
        (SIGTERM to both; SIGKILL after C{timeout} seconds).  Idempotent.
        """
        _stopGroup(self.process, timeout)


@contextlib.contextmanager
def capture(
    workdir: str,
    port: int,
    interface: str = "lo",
    netns: NetNamespace | None = None,
    count: int | None = None,
    duration: float = 120.0,
    timeout: float = 15.0,
    name: str = "capture",
    settle: float = 0.6,
) -> Iterator[Capture]:
    """
    Capture UDP traffic to or from C{port} with tshark into
    C{<workdir>/<name>.pcapng}.  Yields only once the capture really runs
    (tshark said C{Capturing on} and the file has its header, which dumpcap
    writes after opening the interface and setting the filter); leaving the
    context stops tshark and waits until the file is complete.

    @param workdir: an existing directory.
    @param port: the UDP port to capture (filter C{udp port N}).
    @param interface: the interface to capture on.
    @param netns: capture inside this namespace.
    @param count: stop after this many packets (C{-c}).
    @param duration: stop after this many seconds anyway (C{-a duration}).
    @param timeout: seconds to wait for the capture to start.
    @param name: the file name stem.
    @param settle: seconds to keep capturing after the context body ends
        (less if tshark already stopped after C{count} packets).  libpcap
        hands packets to dumpcap in blocks retired every 250 ms, and a
        SIGTERM before that loses the last block: without this delay a
        short exchange is simply missing from the file.
    @raise PeerError: when tshark did not start capturing in time.
    """
    tshark = requireBinary("tshark")
    path = os.path.join(workdir, f"{name}.pcapng")
    stderrPath = os.path.join(workdir, f"{name}.tshark.err")
    argv = [tshark, "-n", "-q", "-i", interface, "-f", f"udp port {port}", "-w", path,
            "-a", f"duration:{max(1, int(duration))}"]
    if count is not None:
        argv += ["-c", str(count)]
    if netns is not None:
        argv = netns.command(argv)
    with open(stderrPath, "wb") as err:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=err,
                                   start_new_session=True)
    running = Capture(path, process, stderrPath)
    try:
        deadline = time.monotonic() + timeout
        while True:
            messages = _readText(stderrPath)
            if ("Capturing on" in messages and os.path.exists(path)
                    and os.path.getsize(path) > 0):
                break
            if process.poll() is not None:
                raise PeerError(f"tshark exited with status {process.returncode}",
                                messages)
            if time.monotonic() >= deadline:
                raise PeerError(f"tshark did not start capturing in {timeout} s",
                                messages)
            time.sleep(0.02)
        yield running
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(settle)
    finally:
        running.stop()


@dataclass(frozen=True)
class ExpertInfo:
    """
    One Wireshark expert-info item.

    @ivar severity: C{"comment"}, C{"chat"}, C{"note"}, C{"warning"} or
        C{"error"}.
    @ivar group: the expert group, such as C{"malformed"} or C{"protocol"}
        (the code as tshark prints it when unknown).
    @ivar message: the text.
    """

    severity: str
    group: str
    message: str

    @property
    def isProblem(self) -> bool:
        """Whether it is a warning or an error."""
        return self.severity in ("warning", "error")


@dataclass
class DecodedPacket:
    """
    One UDP packet as tshark decoded it.

    @ivar number: frame number in the capture, from 1.
    @ivar time: capture time, POSIX seconds.
    @ivar source: source address.
    @ivar sourcePort: source UDP port.
    @ivar destination: destination address.
    @ivar destinationPort: destination UDP port.
    @ivar payload: the UDP payload.
    @ivar fields: every C{ntp.*} field tshark shows, flattened (subtrees
        merged in), values as tshark displays them (strings; a list when a
        field occurs several times, as extension fields do).
    @ivar malformed: whether tshark flagged the packet as malformed.
    @ivar expert: every expert-info item, in any layer.
    """

    number: int
    time: float
    source: str
    sourcePort: int
    destination: str
    destinationPort: int
    payload: bytes
    fields: dict[str, Any] = field(default_factory=dict)
    malformed: bool = False
    expert: list[ExpertInfo] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Malformed-packet and warning/error expert messages, if any."""
        found = ["Malformed Packet"] if self.malformed else []
        found += [f"{e.severity}: {e.message}" for e in self.expert if e.isProblem]
        return found

    @property
    def mode(self) -> int | None:
        """The NTP association mode, or L{None} if tshark did not show it."""
        value = self.fields.get("ntp.flags.mode")
        return int(value) if isinstance(value, str) and value.isdigit() else None


def tsharkDecode(
    pcapPath: str, port: int = 123, timeout: float = 120.0
) -> list[DecodedPacket]:
    """
    Decode every UDP packet to or from C{port} in a capture as NTP
    (C{tshark -r FILE -d udp.port==PORT,ntp -Y udp.port==PORT -T json
    --no-duplicate-keys}).

    @param pcapPath: a pcap or pcapng file.
    @param port: the NTP port to decode.
    @param timeout: seconds tshark may take.
    @return: the packets, in capture order.
    @raise PeerError: when tshark fails.
    """
    tshark = requireBinary("tshark")
    result = runCommand(
        [tshark, "-n", "-r", pcapPath, "-d", f"udp.port=={port},ntp",
         "-Y", f"udp.port=={port}", "-T", "json", "--no-duplicate-keys"],
        timeout=timeout,
    )
    return parseTsharkJson(result.stdout)


def parseTsharkJson(text: str) -> list[DecodedPacket]:
    """
    Turn C{tshark -T json --no-duplicate-keys} output into
    L{DecodedPacket}s.

    @param text: tshark's standard output.
    @return: one L{DecodedPacket} per frame.
    """
    text = text.strip()
    if not text:
        return []
    packets = []
    for frame in json.loads(text):
        layers = frame["_source"]["layers"]
        frameLayer = layers.get("frame", {})
        ipLayer = layers.get("ip") or layers.get("ipv6") or {}
        udp = layers.get("udp", {})
        src = ipLayer.get("ip.src") or ipLayer.get("ipv6.src") or ""
        dst = ipLayer.get("ip.dst") or ipLayer.get("ipv6.dst") or ""
        payload = udp.get("udp.payload", "")
        if isinstance(payload, list):
            payload = payload[0]
        fields: dict[str, Any] = {}
        ntp = layers.get("ntp", {})
        if isinstance(ntp, list):
            ntp = ntp[0]
        _flatten(ntp, fields)
        expert: list[ExpertInfo] = []
        _collectExpert(layers, expert)
        packets.append(DecodedPacket(
            number=int(_first(frameLayer.get("frame.number", "0"))),
            time=float(_first(frameLayer.get("frame.time_epoch", "0"))),
            source=_first(src),
            sourcePort=int(_first(udp.get("udp.srcport", "0"))),
            destination=_first(dst),
            destinationPort=int(_first(udp.get("udp.dstport", "0"))),
            payload=bytes.fromhex(payload.replace(":", "")),
            fields=fields,
            malformed="_ws.malformed" in layers or _hasKey(layers, "_ws.malformed"),
            expert=expert,
        ))
    return packets


def _first(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value)


def _flatten(tree: Any, into: dict[str, Any]) -> None:
    if not isinstance(tree, dict):
        return
    for key, value in tree.items():
        if key.startswith("_ws."):
            continue
        if isinstance(value, dict):
            _flatten(value, into)
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict)
                                                     for v in value):
            for item in value:
                _flatten(item, into)
            continue
        if key in into:
            previous = into[key]
            into[key] = (previous if isinstance(previous, list) else [previous]) + (
                value if isinstance(value, list) else [value])
        else:
            into[key] = value


def _hasKey(tree: Any, wanted: str) -> bool:
    if isinstance(tree, dict):
        return any(k == wanted or _hasKey(v, wanted) for k, v in tree.items())
    if isinstance(tree, list):
        return any(_hasKey(v, wanted) for v in tree)
    return False


def _collectExpert(tree: Any, into: list[ExpertInfo]) -> None:
    if isinstance(tree, list):
        for item in tree:
            _collectExpert(item, into)
        return
    if not isinstance(tree, dict):
        return
    for key, value in tree.items():
        if key == "_ws.expert":
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    into.append(_expertInfo(item))
                    # Nested items (rare) are in the subtree too.
                    for k, v in item.items():
                        if k != "_ws.expert" and isinstance(v, (dict, list)):
                            _collectExpert(v, into)
        else:
            _collectExpert(value, into)


def _expertInfo(item: dict[str, Any]) -> ExpertInfo:
    raw = _first(item.get("_ws.expert.severity", "0"))
    try:
        code = int(raw, 0)
    except ValueError:
        code = 0
    severity = _SEVERITIES.get(code, raw)
    if code > _WARNING_SEVERITY and severity == raw:
        severity = "error"
    rawGroup = _first(item.get("_ws.expert.group", ""))
    try:
        group = _GROUPS.get(int(rawGroup, 0), rawGroup)
    except ValueError:
        group = rawGroup
    return ExpertInfo(
        severity=severity,
        group=group,
        message=_first(item.get("_ws.expert.message", "")),
    )


# --------------------------------------------------------------------------
# Helpers


def _isExecutable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _readText(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _signalGroup(process: subprocess.Popen[Any], signum: int) -> None:
    """Signal the process group led by C{process} (we start every child in
    its own session), or the process alone if the group is gone."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)


def _groupAlive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stopGroup(process: subprocess.Popen[Any], timeout: float) -> None:
    """
    Stop C{process} and every process of its group (we start each child as
    a session leader): SIGTERM to the group, wait up to C{timeout} seconds
    for all of them to exit, then SIGKILL what is left.
    """
    deadline = time.monotonic() + timeout
    if process.poll() is None or _groupAlive(process.pid):
        _signalGroup(process, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(max(0.0, deadline - time.monotonic()))
    while _groupAlive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if process.poll() is None or _groupAlive(process.pid):
        _signalGroup(process, signal.SIGKILL)
    process.wait(timeout)


def _killAll(listPids: Any, timeout: float) -> None:
    """SIGTERM every pid C{listPids()} returns, then SIGKILL the survivors."""
    pids = listPids()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = listPids()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while listPids() and time.monotonic() < deadline:
        time.sleep(0.05)


def _probeMain(argv: list[str]) -> int:
    """C{peers.py probe HOST PORT TIMEOUT SYNC}: print the reply as JSON."""
    host, port, timeout, sync = argv[0], int(argv[1]), float(argv[2]), argv[3] == "1"
    try:
        reply = waitForNtp(host, port, timeout, synchronised=sync)
    except PeerError as e:
        print(str(e), file=sys.stderr)
        return 1
    fields = {name: getattr(reply, name) for name in NtpReply.__dataclass_fields__}
    fields["refid"] = reply.refid.hex()
    print(json.dumps(fields))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "probe":
        sys.exit(_probeMain(sys.argv[2:]))
    print(f"usage: {sys.argv[0]} probe HOST PORT TIMEOUT SYNC(0|1)", file=sys.stderr)
    sys.exit(2)
