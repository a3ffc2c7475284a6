# -*- test-case-name: tests.net.test_fastpath -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The compiled server fast path: the glue between the C extension
C{_ntpservice_fastpath} (C{src/fastpath/fastpath.c}) and the daemon.

Theory of operation
===================

A public server answers tens of thousands of clients a second, nearly all
with the same request: 48 bytes, mode 3, no MAC. The extension answers
that request in native threads that never take the GIL, on the sockets
Twisted bound (Twisted stops reading them): C{poll}, C{recvmmsg} with the
kernel receive timestamps and packet info, the C{restrict} decision, the
MRU list with its leaky bucket, its leak and RATE kisses, the reply built
from the system variables (root dispersion grown to the receive time), and the
transmit timestamp read last before one C{sendmsg} per reply.

Only the common request is answered there: 48 bytes, mode 3, version 1 to
4, sent to a unicast address, from a source port other than 0 and other
than the address and port of an association, and not under C{flake}.
Every other datagram (MACs, NTS, other modes, mode 6, broadcasts) is
queued for the Python path, which processes it exactly as before
(L{FastPath} reads the queue when the extension's eventfd says so).

What the replies depend on is pushed from Python: the C{restrict} table
(on every change, L{RestrictTable.addListener}), the system variables
(when they change: the daemon's observer events, and a check every
L{SYSTEM_CHECK_INTERVAL} seconds), the addresses and ports of the
associations (on every association event), the C{discard} settings.

The MRU list has one home, in the extension: the daemon's C{mru} is a
L{SharedMRUList}, the L{ntpservice.core.mru.MRUList} interface over it, used
by the Python path (L{ntpservice.core.access.serverDecision}) and by mode 6
(C{ntpq mrulist}, the C{mru_*} variables). With several threads the list
is sharded by source address: thread M{i} owns shard M{i}, and a classic
BPF program on the C{SO_REUSEPORT} group steers each datagram to the
thread of its source address (IPv4: the address, IPv6: its last 32 bits,
modulo the number of threads), so one client meets one leaky bucket;
C{mrulist} merges the shards by last arrival.

The counters fold into the daemon's L{PacketCounters} (under the same
names as the Python path's, plus C{fastpath.*}) whenever they are read.

If the extension is not installed (no compiler when ntpservice was
installed), every packet takes the Python path and the start-up log says
so once. C{NTPSERVICE_FASTPATH=off} (or C{--fast-path off}) forces every
packet down the Python path even when it is installed, with the pure MRU
list: the test suite runs the behaviour tests both ways.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import Any, Callable, Iterator

from zope.interface import implementer

from ntpservice._log import Logger
from ntpservice.core.mru import DEFAULT_LEAK, MRUEntry, MRUSettings
from ntpservice.interfaces import IDaemonObserver
from ntpservice.net.udp import (
    IP_PKTINFO,
    IPV6_RECVPKTINFO,
    SO_BINDTODEVICE,
    SO_TIMESTAMPNS,
    UNICAST,
    ReceivedDatagram,
    setSocketOptions,
)

ENVIRONMENT = "NTPSERVICE_FASTPATH"
"""
The environment variable that switches the fast path: C{off} (or C{0},
C{no}) forces every packet down the Python path; C{on} or unset: use the
fast path when the extension is installed.
"""

THREADS_ENVIRONMENT = "NTPSERVICE_FASTPATH_THREADS"
"""The number of fast-path threads when C{--fast-path-threads} is not given."""

SYSTEM_CHECK_INTERVAL = 0.25
"""Seconds between checks that the system variables pushed are current."""

SO_REUSEPORT = getattr(socket, "SO_REUSEPORT", 15)
SO_ATTACH_REUSEPORT_CBPF = 51

_log = Logger()


def forcedOff(environ: dict[str, str] | None = None) -> bool:
    """
    Whether the environment forces every packet down the Python path.
    """
    value = (environ if environ is not None else os.environ).get(ENVIRONMENT, "")
    return value.strip().lower() in ("off", "0", "no", "false", "python")


def loadExtension() -> tuple[Any, str | None]:
    """
    Import the compiled extension.

    @return: C{(module, None)}, or C{(None, why)} when it cannot be used.
    """
    try:
        import _ntpservice_fastpath as module  # type: ignore[import-not-found]
    except ImportError as e:
        return None, f"the C extension is not installed ({e})"
    if getattr(module, "ABI", None) != 2:
        return None, "the installed C extension is from another version"
    return module, None


def defaultThreads(environ: dict[str, str] | None = None) -> int:
    """
    The number of fast-path threads: L{THREADS_ENVIRONMENT}, else 1.
    """
    value = (environ if environ is not None else os.environ).get(THREADS_ENVIRONMENT, "")
    try:
        return max(1, min(64, int(value)))
    except ValueError:
        return 1


def reuseportProgram(threads: int, family: int) -> bytes:
    """
    The classic BPF program that steers a datagram to socket (thread)
    C{source address mod threads} of a C{SO_REUSEPORT} group: for IPv4 the
    whole source address, for IPv6 its last 32 bits (the extension's
    C{shard_of} computes the same). The program runs with the packet data
    at the UDP payload; the network header is reached through
    C{SKF_NET_OFF}.

    @return: the C{struct sock_fprog} filter array, packed.
    """
    skfNetOff = -0x100000
    offset = 12 if family == socket.AF_INET else 8 + 12
    BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
    BPF_ALU_MOD_K = 0x04 | 0x90 | 0x00  # BPF_ALU | BPF_MOD | BPF_K
    BPF_RET_A = 0x06 | 0x10  # BPF_RET | BPF_A
    instructions = [
        (BPF_LD_W_ABS, 0, 0, (skfNetOff + offset) & 0xFFFFFFFF),
        (BPF_ALU_MOD_K, 0, 0, threads),
        (BPF_RET_A, 0, 0, 0),
    ]
    return b"".join(struct.pack("HBBI", *i) for i in instructions)


def _attachProgram(sock: socket.socket, threads: int, family: int) -> None:
    import ctypes

    program = reuseportProgram(threads, family)
    buffer = ctypes.create_string_buffer(program)
    fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


class SharedMRUList:
    """
    The L{ntpservice.core.mru.MRUList} interface over the extension's MRU
    list: the one home of the MRU list that both paths and mode 6 use.

    L{observe} returns an L{MRUEntry} copy; what the access decision
    writes into it (C{dropped}, C{lastKiss}) is written through.
    """

    def __init__(self, engine: Any, settings: MRUSettings, discard: Any) -> None:
        self._engine = engine
        self.settings = settings
        self.discard = discard
        self._flagBits: dict[frozenset[str], int] = {}
        self._names = engine.flagNames

    # -- flags --------------------------------------------------------

    def flagBits(self, flags: frozenset[str]) -> int:
        """The extension's bit mask for a set of restriction flags."""
        bits = self._flagBits.get(flags)
        if bits is None:
            bits = 0
            for i, name in enumerate(self._names):
                if name in flags:
                    bits |= 1 << i
            if len(self._flagBits) < 1024:
                self._flagBits[flags] = bits
        return bits

    def _flags(self, bits: int) -> frozenset[str]:
        return frozenset(name for i, name in enumerate(self._names) if bits >> i & 1)

    def _entry(self, row: tuple[Any, ...] | None) -> MRUEntry | None:
        if row is None:
            return None
        (address, port, first, last, count, mode, version, flags, leak, over, kiss,
         lastKiss, dropped, leaked) = row
        entry = _SharedEntry(address, port, mode, version, first, self._flags(flags))
        entry.last = last
        entry.count = count
        entry.leak = leak
        entry.overLimit = bool(over)
        entry.kissAllowed = bool(kiss)
        entry.leaked = bool(leaked)
        entry.lastKiss = lastKiss
        entry.dropped = dropped
        entry._owner = self
        return entry

    # -- MRUList --------------------------------------------------------

    def observe(
        self,
        address: str,
        port: int,
        mode: int,
        version: int,
        now: float,
        flags: frozenset[str] = frozenset(),
    ) -> MRUEntry | None:
        """L{MRUList.observe}, in the shard of C{address}."""
        return self._entry(
            self._engine.fp.mruObserve(
                address, port, mode, version, float(now), self.flagBits(flags)
            )
        )

    def get(self, address: str) -> MRUEntry | None:
        """L{MRUList.get}."""
        return self._entry(self._engine.fp.mruGet(address))

    def _merged(self) -> list[MRUEntry]:
        rows = [row for shard in self._engine.fp.mruEntries() for row in shard]
        # Oldest first; one shard is already in recency order, and the
        # sort is stable.
        if self._engine.threads > 1:
            rows.sort(key=lambda row: row[3])
        return [entry for entry in map(self._entry, rows) if entry is not None]

    def __iter__(self) -> Iterator[MRUEntry]:
        """The entries, most recent first (shards merged by last arrival)."""
        return reversed(self._merged())

    def __len__(self) -> int:
        return int(self._engine.fp.mruStats()[0])

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and self._engine.fp.mruGet(address) is not None

    def oldest(self) -> MRUEntry | None:
        """L{MRUList.oldest}: the least recently heard entry of every shard."""
        entries = self._merged()
        return entries[0] if entries else None

    def remove(self, address: str) -> None:
        """L{MRUList.remove}."""
        self._engine.fp.mruRemove(address)

    def clear(self) -> None:
        """L{MRUList.clear}."""
        self._engine.fp.mruClear()

    @property
    def capacity(self) -> int:
        """The hard bound on the number of entries."""
        return self.settings.capacity

    def _stat(self, index: int) -> int:
        return int(self._engine.fp.mruStats()[index])

    peakEntries = property(lambda self: self._stat(1))
    newEntries = property(lambda self: self._stat(2))
    recycledOld = property(lambda self: self._stat(3))
    recycledFull = property(lambda self: self._stat(4))
    notRecorded = property(lambda self: self._stat(5))
    existing = property(lambda self: self._stat(6))


class _SharedEntry(MRUEntry):
    """
    An L{MRUEntry} copied out of the shared list; C{dropped} and
    C{lastKiss} written by the access decision go back to the list.
    """

    __slots__ = ("_owner",)

    def __setattr__(self, name: str, value: Any) -> None:
        MRUEntry.__setattr__(self, name, value)
        if name in ("dropped", "lastKiss"):
            owner = getattr(self, "_owner", None)
            if owner is not None:
                owner._engine.fp.mruUpdate(self.address, self.dropped, self.lastKiss)


@implementer(IDaemonObserver)
class FastPath:
    """
    The compiled fast path of one daemon: the extension's object, what is
    pushed into it, and its threads' sockets.

    @ivar fp: the extension's C{FastPath}.
    @ivar threads: how many threads (and MRU shards).
    @ivar running: whether the threads serve.
    """

    def __init__(self, module: Any, threads: int = 1, reactor: Any = None) -> None:
        self._module = module
        self.threads = threads
        self.flagNames: tuple[str, ...] = tuple(module.FLAG_NAMES)
        self.fp: Any = None
        self._reactor = reactor
        self._daemon: Any = None
        self._ports: list[Any] = []
        self._extraSockets: list[socket.socket] = []
        self._system: Any = None
        self._systemCheck: Any = None
        self.running = False
        self.mru: SharedMRUList | None = None

    @classmethod
    def create(
        cls,
        threads: int | None = None,
        reactor: Any = None,
        mode: str | None = None,
    ) -> FastPath | None:
        """
        The fast path, or C{None} when every packet takes the Python path;
        logs one line saying which.

        @param threads: fast-path threads (L{defaultThreads} if C{None}).
        @param mode: C{"off"} forces the Python path; C{None}: the
            environment (L{ENVIRONMENT}) decides.
        """
        if mode == "off" or (mode is None and forcedOff()):
            _log.info("Server fast path off: every request is answered in Python")
            return None
        module, why = loadExtension()
        if module is None:
            _log.warn(
                "Server fast path not available: {why}; every request is "
                "answered in Python",
                why=why,
            )
            return None
        return cls(module, threads if threads is not None else defaultThreads(), reactor)

    # -- the MRU list ----------------------------------------------------

    def _build(self, settings: MRUSettings | None, discard: Any) -> None:
        if self.fp is not None:
            return
        kwargs: dict[str, Any] = {"threads": self.threads, "mru": settings is not None}
        if settings is not None:
            kwargs.update(
                mindepth=settings.mindepth,
                maxdepth=settings.maxdepth,
                maxage=settings.maxage,
                minage=-1 if settings.minage is None else settings.minage,
                random=True,
            )
        if discard is not None:
            kwargs.update(
                average=discard.average,
                minimum=discard.minimum,
                monitor=discard.monitor,
                leak=getattr(discard, "leak", DEFAULT_LEAK),
            )
        self.fp = self._module.FastPath(**kwargs)

    def makeMRU(self, settings: MRUSettings, discard: Any) -> SharedMRUList:
        """
        The daemon's MRU list: this fast path's (see L{SharedMRUList}).
        """
        self._build(settings, discard)
        self.mru = SharedMRUList(self, settings, discard)
        return self.mru

    # -- pushing ------------------------------------------------------------

    def pushRestrict(self) -> None:
        """Push the C{restrict} table (after every change)."""
        table = self._daemon.restrictions
        names = self.flagNames
        rules = []
        for family, network, mask, ntpport, flags in table.compiledRules():
            bits = 0
            for i, name in enumerate(names):
                if name in flags:
                    bits |= 1 << i
            rules.append(
                (family, network.to_bytes(16, "big"), mask.to_bytes(16, "big"), ntpport, bits)
            )
        self.fp.setRestrict(rules)

    def pushSystem(self) -> None:
        """Push the system variables if they changed."""
        system = self._daemon.system()
        if system is self._system:
            return
        from ntpservice.core.timestamps import encodeShort

        self._system = system
        self.fp.setSystem(
            system.leap,
            system.packetStratum(),
            system.precision,
            encodeShort(system.rootDelay),
            system.rootDispersion,
            system.lastUpdateNs,
            system.refid,
            system.reftime.value,
        )

    def pushAssociations(self) -> None:
        """Push the addresses and ports of the associations."""
        keys = list(self._daemon.engine.associations.byAddress)
        self.fp.setAssociations([(address, port) for address, port in keys])

    # -- IDaemonObserver ------------------------------------------------

    def clockUpdated(self, now: float) -> None:
        self.pushSystem()

    def systemPeerChanged(self, associd: int | None, address: str | None) -> None:
        self.pushSystem()

    def clockStepped(self, offset: float) -> None:
        self.pushSystem()

    def associationEvent(self, associd: int, address: str, event: str) -> None:
        self.pushAssociations()
        self.pushSystem()

    # -- life cycle ---------------------------------------------------------

    def eligible(self, daemon: Any, ports: list[Any], accept: Any) -> str | None:
        """
        Why the fast path cannot serve these ports, or C{None} if it can.
        """
        from ntpservice.modes.server import ServerMode

        if accept is not None:
            return "interface listen/drop rules filter datagrams in Python"
        if not getattr(daemon.clock, "kernelTimescale", False):
            return "the clock driver does not read CLOCK_REALTIME"
        modes = daemon.modes
        if not isinstance(modes.get(3, UNICAST), ServerMode):
            return "the server mode does not answer unicast client requests"
        if modes._claimants.get((3, UNICAST)):
            return "a plugin claims client requests"
        if not any(getattr(port, "socket", None) is not None for port in ports):
            return "no bound socket"
        return None

    def start(self, daemon: Any, ports: list[Any], accept: Any = None) -> bool:
        """
        Serve the common request on C{ports} (bound L{TimestampingPort}s)
        in the extension's threads; the ports stop reading, and datagrams
        for the Python path reach their protocols through the queue.

        @return: whether the threads run (when they cannot, one log line
            says why and everything stays in Python).
        """
        self._daemon = daemon
        self._build(None, None)
        why = self.eligible(daemon, ports, accept)
        if why is not None:
            _log.info("Server fast path not used: {why}", why=why)
            return False
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor as globalReactor

            reactor = self._reactor = globalReactor
        self.pushRestrict()
        self.pushSystem()
        self.pushAssociations()
        daemon.restrictions.addListener(self.pushRestrict)
        daemon.addObserver(self)
        daemon.counters.addSource(self.fp.takeCounters)
        sockets = []
        self._ports = [port for port in ports if getattr(port, "socket", None) is not None]
        try:
            for group, port in enumerate(self._ports):
                family = port.addressFamily
                wildcard = port.interface in ("", "0.0.0.0", "::")
                sockets.append((port.fileno(), group, wildcard, int(family), 0))
                for thread in range(1, self.threads):
                    extra = self._extraSocket(port)
                    sockets.append((extra.fileno(), group, wildcard, int(family), thread))
                if self.threads > 1:
                    _attachProgram(port.socket, self.threads, family)
        except OSError as e:
            _log.warn("Server fast path not used: {error}", error=e)
            self._closeExtra()
            return False
        for port in self._ports:
            port.stopReading()
        self.fp.start(sockets)
        reactor.addReader(self)
        from twisted.internet.task import LoopingCall

        self._systemCheck = LoopingCall(self.pushSystem)
        self._systemCheck.clock = reactor
        self._systemCheck.start(SYSTEM_CHECK_INTERVAL, now=False)
        self.running = True
        _log.info(
            "Server fast path on: {threads} native thread{s} answer client "
            "requests on {n} socket{ns}",
            threads=self.threads,
            s="" if self.threads == 1 else "s",
            n=len(self._ports),
            ns="" if len(self._ports) == 1 else "s",
        )
        return True

    def _extraSocket(self, port: Any) -> socket.socket:
        """
        Another socket bound to C{port}'s address in its C{SO_REUSEPORT}
        group, with the same options.
        """
        family = port.addressFamily
        sock = socket.socket(family, socket.SOCK_DGRAM)
        self._extraSockets.append(sock)
        sock.setsockopt(socket.SOL_SOCKET, SO_REUSEPORT, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        setSocketOptions(sock, family)
        if getattr(port, "device", None):
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, port.device.encode() + b"\0")
        host = port.socket.getsockname()
        sock.bind(host)
        sock.setblocking(False)
        return sock

    def _closeExtra(self) -> None:
        for sock in self._extraSockets:
            sock.close()
        self._extraSockets = []

    def stop(self) -> None:
        """Stop the threads; the ports read again (if still open)."""
        if not self.running:
            return
        self.running = False
        self.fp.stop()
        self._reactor.removeReader(self)
        self.doRead()
        if self._systemCheck is not None and self._systemCheck.running:
            self._systemCheck.stop()
        daemon = self._daemon
        daemon.restrictions.removeListener(self.pushRestrict)
        daemon.removeObserver(self)
        daemon.counters.removeSource(self.fp.takeCounters)
        self._closeExtra()
        for port in self._ports:
            if getattr(port, "connected", False):
                port.startReading()

    # -- IReadDescriptor: datagrams for the Python path -----------------------

    def fileno(self) -> int:
        return int(self.fp.puntFileno())

    def logPrefix(self) -> str:
        return "fastpath"

    def connectionLost(self, reason: Any) -> None:
        pass

    def doRead(self) -> None:
        """Hand the queued datagrams to their sockets' protocols."""
        ports = self._ports
        for punted in self.fp.drainPunted():
            group, data, source, destination, local, ifindex, rxTime, fragmentSize = punted
            protocol = ports[group].protocol
            try:
                protocol.datagramReceivedWithInfo(
                    ReceivedDatagram(
                        data, source, destination, local, ifindex, rxTime, fragmentSize
                    )
                )
            except BaseException:
                _log.failure("Unhandled error delivering a datagram")


def reusePortNeeded(threads: int) -> bool:
    """Whether the bound sockets need C{SO_REUSEPORT} (several threads)."""
    return threads > 1


__all__ = [
    "ENVIRONMENT",
    "THREADS_ENVIRONMENT",
    "FastPath",
    "SharedMRUList",
    "defaultThreads",
    "forcedOff",
    "loadExtension",
    "reuseportProgram",
    "reusePortNeeded",
]
