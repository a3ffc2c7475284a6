# -*- test-case-name: tests.core.test_mru -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The MRU list: ntpd's monitoring list of recent clients, and the per-client
rate limiter that lives in it (C{restrict ... limited}, C{discard}).

Theory of operation
===================

Every NTP packet that passes the early access checks is recorded here
(L{MRUList.observe}), keyed by its source I{address}: all traffic from one
IP address shares one entry, whatever its source port, exactly as in ntpd
("otherwise cron'ed ntpdate or similar evades RES_LIMITED"); the entry
remembers the port of the last packet. Entries are kept in recency order in
an C{OrderedDict}: a hit moves the entry to the most recent end, a new
entry is inserted there, and the oldest entry is at the other end, so
lookup, refresh, insertion and eviction are all O(1).

Size limits (the C{mru} directive)
----------------------------------

When a packet comes from an address that is not in the list, a slot is
found in this order (ntpd's C{ntp_monitor()}, with NTPsec's C{minage}):

 1. fewer than C{mindepth} entries (default 600): a new entry;
 2. the oldest entry was last heard more than C{maxage} seconds ago
    (default 64, ntpd's default; NTPsec's is 3600): it is recycled;
 3. fewer than C{maxdepth} entries: a new entry;
 4. the list is full. With C{mru minage} configured (NTPsec), the oldest
    entry is recycled if it is at least C{minage} seconds old, otherwise the
    packet is not recorded. Without it (ntpd), the oldest entry is recycled
    with probability C{age / (discard monitor)} (default 3000 s: an entry
    300 s old is replaced with probability 10%), drawn from the injected
    C{random}; without an injected C{random} the NTPsec rule with C{minage}
    64 s is used, so that the core stays deterministic.

A packet that gets no slot is not recorded and, as in ntpd and NTPsec, is
not rate limited: under a flood from many (spoofed) addresses the list
stays at its bound and its old entries, legitimate clients included, keep
their state; the flood is answered like any first packet, one reply per
request, never more bytes than it sent.

The hard bound on the number of entries is C{max(maxdepth, mindepth)}
(ntpd always fills up to C{mindepth}). C{maxmem} (KiB) is converted to a
C{maxdepth} with L{ENTRY_BYTES}, the measured cost of one entry in CPython
3.11 (the entry object, its two float timestamps, its port, and the
C{OrderedDict} slot and node, for IPv6 keys; a little rounded up). The
default C{maxmem} 1024 KiB gives 1638 entries, fewer than ntpd's roughly
10900 entries of 96 bytes: use C{mru maxdepth N} to ask for a number of
entries instead. Whichever of C{maxdepth} and C{maxmem} comes last wins, as
in ntpd. C{initalloc}, C{initmem}, C{incalloc} and C{incmem} tune ntpd's
free-list allocator; Python's allocator needs no such tuning, and they are
accepted and ignored.

Rate limiting (the C{discard} directive)
----------------------------------------

ntpd's leaky bucket, to the second (ntpd counts in whole seconds, and so do
we): each entry has an input counter C{leak} in seconds. For every packet
after the first, the interval since the previous packet, rounded to the
nearest second, is subtracted from the counter (not below zero); then

 - if the interval plus a 1 s grace is at least C{discard minimum} (the
   guard time, seconds, default 2) and the counter plus the increment
   C{2**(discard average)} (the minimum average headway, log2 seconds,
   default 3: 8 s) stays below the ceiling of 8 increments (64 s), the
   packet is within limits and the counter grows by the increment less a
   2 s grace;
 - otherwise the packet is over the limit. If the counter was below the
   ceiling, it is set to the ceiling plus one increment and a KoD may be
   sent (with the leak on, only if the packet kept the guard time and broke
   the average: a packet that broke the guard time gets none, see below);
   otherwise it is left alone and no KoD is sent.

So a client may burst 8 packets at 2 s spacing (RFC 5905 C{burst}/C{iburst})
and then keep an average of one packet per 8 s. KoDs are themselves rate
limited by the same counter: after a KoD, the next one can only come once
the client has been (mostly) quiet for about one increment, and a client
sending faster than one packet per half second breaks the guard time with
every packet and never drains its counter, so it gets at most one KoD for
the whole flood (none with the leak on): the server cannot be used to
reflect KoDs at a victim whose address is spoofed.

Why no KoD for a broken guard time (with the leak on; C{discard leak 0}
keeps ntpd's rule, which kisses it): one request spoofed with a client's
address, sent just before the client's poll, makes the poll break the
guard time. Were it kissed (ntpd), the client would get a kiss with a
genuine origin timestamp, which ntpd and NTPsec honour: NTPsec 1.2.2,
kissed on its first request, was seen to stop polling for minutes. A
spoofed flood breaks the guard time with every packet, the victim's
included. To get a victim's poll kissed, an attacker must fill the counter
with some 8 spoofed requests at least half a second apart and stop at
least half a second before the poll, and even then the leak answers that
poll with time one time in four.

The first packet from an address is always within limits.

The leak (C{discard leak}): spoofed rate limiting
-------------------------------------------------

Anyone can send requests with another host's source address. Were every
packet over the limit refused, an off-path attacker sending a few spoofed
requests with a victim's address (one just before each of the victim's
polls suffices: the guard time makes the victim's own poll a violation)
would have the victim's genuine polls refused, or answered with a RATE
kiss that an ntpd-style client honours: "priming the pump" (Malhotra et
al., "Attacking the Network Time Protocol", NDSS 2016; CVE-2015-7704/7705).
No field of a plain NTP request tells the victim's packets from the
attacker's. So, as chrony does (C{ratelimit leak}), a packet over the limit
is let through anyway with probability M{2**-leak} (C{discard leak}, default
2: one in four), whatever the attacker sends: the victim keeps at least
that fraction of its polls answered with time, and a genuinely abusive
client still gets at most that fraction of its excess answered (never more
bytes than it sent). A leaked packet gets time, not a kiss (the leak is
decided first, as in chrony), and does not count as C{dropped}. With the
leak on, a packet that broke only the guard time earns no kiss (above).
C{discard leak 0} turns the leak off and keeps ntpd's rules whole (ntpd's
and NTPsec's behaviour).

The draws come from a 64-bit xorshift generator (13, 7, 17) private to the
list, seeded by the caller (L{MRUList}'s C{leakSeed}; the daemon takes it
from the system's random source), one draw per packet over the limit; the
compiled fast path runs the same generator per shard, so that with the
same seed both paths decide alike. Without a seed nothing leaks and
ntpd's rules apply, so that the core stays deterministic.

C{now} is a time in seconds supplied by the caller; it should be monotonic
(a step of the system clock would otherwise look like a burst or a long
silence). Intervals that come out negative are taken as zero.

@see: ntpd's C{ntpd/ntp_monitor.c} and the "Rate Management" page
    (C{html/rate.html}); C{discard} and C{mru} in ntp.conf(5); NTPsec's
    C{docs/includes/misc-options.adoc} for C{minage}.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

__all__ = [
    "DEFAULT_LEAK",
    "DEFAULT_MAXAGE",
    "DEFAULT_MAXDEPTH",
    "DEFAULT_MAXMEM_KIB",
    "DEFAULT_MINAGE",
    "DEFAULT_MINDEPTH",
    "ENTRY_BYTES",
    "DiscardLimits",
    "MRUEntry",
    "MRUList",
    "MRUSettings",
    "isLeaked",
    "isRateLimited",
    "mayKiss",
    "nextLeakState",
]

ENTRY_BYTES = 640
"""
The memory one MRU entry costs, in bytes, used to turn C{mru maxmem} into a
number of entries. Measured with C{tracemalloc} on CPython 3.11 for 200,000
entries: 584 bytes with IPv4 keys, 607 with IPv6 keys (entry object with
its slots, two float timestamps, the port, the C{OrderedDict} slot and
node); rounded up for the dict's growth slack. The address string itself is
the caller's (the datagram's source) and shared.
"""

DEFAULT_MAXMEM_KIB = 1024
"""ntpd's default C{mru maxmem}: 1024 KiB."""

DEFAULT_MAXDEPTH = (DEFAULT_MAXMEM_KIB * 1024) // ENTRY_BYTES
"""The default C{maxdepth}, entries: C{maxmem} 1024 KiB (1638 entries)."""

DEFAULT_MINDEPTH = 600
"""ntpd's and NTPsec's default C{mru mindepth}, entries."""

DEFAULT_MAXAGE = 64
"""ntpd's default C{mru maxage}, seconds (NTPsec's is 3600)."""

DEFAULT_MINAGE = 64
"""
NTPsec's default C{mru minage}, seconds: when the list is full, an oldest
entry at least this old is recycled. Used when C{minage} is configured, or
when no random source was injected (see L{MRUList}).
"""

DEFAULT_LEAK = 2
"""
The default C{discard leak}, log2: one packet over the limit in
M{2**2} = 4 is answered anyway (chrony's C{ratelimit leak} default).
"""

MAX_LEAK = 4
"""The largest C{discard leak} (chrony's bound): one packet in 16."""

_MASK64 = (1 << 64) - 1

_LEAK_SEED_ZERO = 0x9E3779B97F4A7C15
"""The state used for a seed of 0 (xorshift would stay at 0)."""


def nextLeakState(state: int) -> int:
    """
    One step of the 64-bit xorshift generator (shifts 13, 7, 17) that
    draws the leak; the compiled fast path's C{leak_next} is the same.

    @param state: the current state, a non-zero 64-bit integer.
    @return: the next state (also the draw).
    """
    state ^= (state << 13) & _MASK64
    state ^= state >> 7
    state ^= (state << 17) & _MASK64
    return state


_NTP_SHIFT = 8
"""ntpd's NTP_SHIFT: the rate ceiling is this many average headways."""


class DiscardLimits(Protocol):
    """
    The C{discard} values (L{ntpservice.config.DiscardSettings} provides
    them).
    """

    @property
    def average(self) -> int:
        """The minimum average headway, log2 seconds (ntpd default 3)."""

    @property
    def minimum(self) -> int:
        """The guard time: minimum packet spacing, seconds (default 2)."""

    @property
    def monitor(self) -> int:
        """
        ntpd's C{mon_age}, seconds (default 3000): a full list recycles its
        oldest entry with probability age / monitor.
        """

    @property
    def leak(self) -> int:
        """
        log2 of the inverse of the fraction of packets over the limit that
        are answered anyway (default 2: one in four); 0: none.
        """


@dataclass(frozen=True, slots=True)
class _DefaultDiscard:
    average: int = 3
    minimum: int = 2
    monitor: int = 3000
    leak: int = DEFAULT_LEAK


@dataclass(frozen=True, slots=True)
class MRUSettings:
    """
    The C{mru} limits in effect.

    @ivar maxdepth: the largest number of entries (after C{maxmem} was
        converted with L{ENTRY_BYTES}); the list never holds more than
        C{max(maxdepth, mindepth)} entries.
    @ivar mindepth: below this many entries, entries are never recycled.
    @ivar maxage: seconds; above C{mindepth} entries, an oldest entry
        older than this is recycled before the list grows.
    @ivar minage: seconds, or C{None} (not configured): NTPsec's rule for a
        full list (see the module docstring).
    """

    maxdepth: int = DEFAULT_MAXDEPTH
    mindepth: int = DEFAULT_MINDEPTH
    maxage: int = DEFAULT_MAXAGE
    minage: int | None = None

    @property
    def capacity(self) -> int:
        """The hard bound on the number of entries."""
        return max(self.maxdepth, self.mindepth)


class MRUEntry:
    """
    What is known about one client address: ntpd's C{mon_entry}.

    Mutable, updated in place by L{MRUList.observe}; recycled entries are
    reused for a new address.

    @ivar address: the source address, as the datagram gave it.
    @ivar port: the source port of the last packet.
    @ivar first: when the first packet was recorded, seconds (the caller's
        timescale).
    @ivar last: when the last packet was recorded, seconds.
    @ivar count: packets recorded.
    @ivar mode: the mode of the last packet.
    @ivar version: the version of the last packet.
    @ivar flags: the restriction flags that applied to the last packet.
    @ivar leak: the rate limiter's input counter, whole seconds (ntpd's
        C{leak}, shown by C{ntpq mrulist} as the score).
    @ivar overLimit: whether the last packet violated the C{discard}
        limits.
    @ivar kissAllowed: whether a KoD may answer the last packet (it was over
        the limit and the KoD rate limit allows one).
    @ivar leaked: whether the last packet, over the limit, is to be answered
        anyway (the C{discard leak} draw; see the module docstring).
    @ivar lastKiss: when a KoD was last sent to this address (seconds), or
        C{None}; set by the access decision.
    @ivar dropped: packets refused for exceeding the rate limit (NTPsec's
        C{dropped}), KoDs included.
    """

    __slots__ = (
        "address",
        "port",
        "first",
        "last",
        "count",
        "mode",
        "version",
        "flags",
        "leak",
        "overLimit",
        "kissAllowed",
        "leaked",
        "lastKiss",
        "dropped",
    )

    def __init__(
        self,
        address: str,
        port: int,
        mode: int,
        version: int,
        now: float,
        flags: frozenset[str] = frozenset(),
    ) -> None:
        self._reset(address, port, mode, version, now, flags)

    def _reset(
        self,
        address: str,
        port: int,
        mode: int,
        version: int,
        now: float,
        flags: frozenset[str],
    ) -> None:
        self.address = address
        self.port = port
        self.first = now
        self.last = now
        self.count = 1
        self.mode = mode
        self.version = version
        self.flags = flags
        self.leak = 0
        self.overLimit = False
        self.kissAllowed = False
        self.leaked = False
        self.lastKiss: float | None = None
        self.dropped = 0

    @property
    def averageInterval(self) -> float:
        """
        The average interval between packets, seconds: ntpq's C{avgint},
        C{(last - first) / count}.
        """
        return (self.last - self.first) / self.count

    def __repr__(self) -> str:
        return (
            f"<MRUEntry {self.address} port {self.port} count {self.count} "
            f"first {self.first} last {self.last} leak {self.leak}>"
        )


def isRateLimited(entry: MRUEntry | None) -> bool:
    """
    Whether the packet just recorded in C{entry} violated the C{discard}
    limits.

    The limiter's state changes exactly once per packet (in
    L{MRUList.observe}, like ntpd's C{ntp_monitor()}), so this reads the
    verdict of the last observation rather than recomputing it.

    @param entry: what L{MRUList.observe} returned; C{None} (the packet
        was not recorded) is never limited.
    """
    return entry is not None and entry.overLimit


def isLeaked(entry: MRUEntry | None) -> bool:
    """
    Whether the packet just recorded in C{entry} was over the limit yet is
    to be answered (the C{discard leak} draw).

    @param entry: what L{MRUList.observe} returned, or C{None}.
    """
    return entry is not None and entry.overLimit and entry.leaked


def mayKiss(entry: MRUEntry | None) -> bool:
    """
    Whether a RATE KoD may answer the packet just recorded in C{entry}: it
    was over the limit and the KoD rate limit allows one.

    @param entry: what L{MRUList.observe} returned, or C{None}.
    """
    return entry is not None and entry.kissAllowed


class MRUList:
    """
    The most-recently-used list of client addresses, with the rate limiter.

    @ivar settings: the L{MRUSettings}.
    @ivar discard: the C{discard} limits (L{DiscardLimits}).
    @ivar peakEntries: the largest number of entries seen.
    @ivar newEntries: entries created from fresh memory (NTPsec's
        C{mru_new}).
    @ivar recycledOld: entries recycled because older than C{maxage}
        (C{mru_recycleold}).
    @ivar recycledFull: entries recycled because the list was full
        (C{mru_recyclefull}).
    @ivar notRecorded: packets that got no slot (C{mru_none}).
    @ivar existing: packets from an address already listed
        (C{mru_exists}).
    """

    def __init__(
        self,
        settings: MRUSettings | None = None,
        discard: DiscardLimits | None = None,
        random: Callable[[], float] | None = None,
        leakSeed: int | None = None,
    ) -> None:
        """
        @param settings: the C{mru} limits; ntpd's defaults if C{None}.
        @param discard: the C{discard} limits
            (L{ntpservice.config.Configuration.discard}); ntpd's defaults
            if C{None}.
        @param random: returns a float uniformly distributed in [0, 1),
            such as the C{random} method of a C{random.Random}; used for
            ntpd's probabilistic recycling of a full list. Without it (or
            with C{settings.minage} set) NTPsec's deterministic C{minage}
            rule is used.
        @param leakSeed: seeds the generator of the C{discard leak} draws
            (a 64-bit integer, from a good random source: who can predict
            the draws can time spoofed packets around them); C{None}:
            nothing leaks (ntpd's behaviour).
        """
        self.settings = settings if settings is not None else MRUSettings()
        self.discard: DiscardLimits = (
            discard if discard is not None else _DefaultDiscard()
        )
        self._random = random
        self._entries: OrderedDict[str, MRUEntry] = OrderedDict()
        self._capacity = self.settings.capacity
        self._mindepth = self.settings.mindepth
        self._maxdepth = self.settings.maxdepth
        self._maxage = self.settings.maxage
        minage = self.settings.minage
        if minage is None and random is None:
            minage = DEFAULT_MINAGE
        self._minage = minage
        self._monitor = self.discard.monitor
        self._head = 1 << self.discard.average
        self._limit = _NTP_SHIFT * self._head
        self._minimum = self.discard.minimum
        leak = min(getattr(self.discard, "leak", DEFAULT_LEAK), MAX_LEAK)
        self._leakMask = (1 << leak) - 1 if leakSeed is not None and leak > 0 else 0
        seed = (leakSeed or 0) & _MASK64
        self._leakState = seed if seed else _LEAK_SEED_ZERO
        self.peakEntries = 0
        self.newEntries = 0
        self.recycledOld = 0
        self.recycledFull = 0
        self.notRecorded = 0
        self.existing = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, address: object) -> bool:
        return address in self._entries

    def __iter__(self) -> Iterator[MRUEntry]:
        """
        The entries, most recent first (the order of C{ntpq mrulist}).
        """
        return reversed(self._entries.values())

    @property
    def capacity(self) -> int:
        """The hard bound on the number of entries."""
        return self._capacity

    def get(self, address: str) -> MRUEntry | None:
        """
        The entry of C{address}, or C{None}; does not change the order.
        """
        return self._entries.get(address)

    def oldest(self) -> MRUEntry | None:
        """The least recently heard entry, or C{None} when empty."""
        entries = self._entries
        if not entries:
            return None
        return entries[next(iter(entries))]

    def remove(self, address: str) -> None:
        """
        Forget C{address} (ntpd's C{mon_clearinterface} does this for the
        entries of a vanished local address).
        """
        self._entries.pop(address, None)

    def clear(self) -> None:
        """Forget everything (ntpd's C{mon_stop})."""
        self._entries.clear()

    def observe(
        self,
        address: str,
        port: int,
        mode: int,
        version: int,
        now: float,
        flags: frozenset[str] = frozenset(),
    ) -> MRUEntry | None:
        """
        Record one packet and run the rate limiter for it.

        @param address: the source address (the key: all ports of one
            address share an entry).
        @param port: the source port.
        @param mode: the packet mode.
        @param version: the packet version.
        @param now: the arrival time, seconds (monotonic).
        @param flags: the restriction flags that apply (stored for
            C{ntpq mrulist}; they do not change the verdict).
        @return: the updated entry, whose C{overLimit}, C{kissAllowed} and
            C{leaked} are the rate limiter's verdict for this packet (see
            L{isRateLimited}, L{mayKiss} and L{isLeaked}); C{None} if the list is full
            and the packet was not recorded (then it is not limited).
        """
        entries = self._entries
        entry = entries.get(address)
        if entry is not None:
            self.existing += 1
            entries.move_to_end(address)
            delta = now - entry.last
            interval = int(delta + 0.5) if delta > 0.0 else 0
            entry.last = now
            entry.port = port
            entry.count += 1
            entry.mode = mode
            entry.version = version
            entry.flags = flags
            leak = entry.leak - interval
            if leak < 0:
                leak = 0
            head = self._head
            limit = self._limit
            guarded = interval + 1 >= self._minimum
            if guarded and leak + head < limit:
                entry.leak = leak + head - 2
                entry.overLimit = False
                entry.kissAllowed = False
                entry.leaked = False
                return entry
            if leak < limit:
                entry.leak = limit + head
                # With the leak on, only a packet that kept the guard time
                # and broke the average earns a kiss (module docstring).
                entry.kissAllowed = not self._leakMask or guarded
            else:
                entry.leak = leak
                entry.kissAllowed = False
            entry.overLimit = True
            mask = self._leakMask
            if mask:
                state = nextLeakState(self._leakState)
                self._leakState = state
                entry.leaked = (state >> 32) & mask == 0
            else:
                entry.leaked = False
            return entry
        return self._insert(address, port, mode, version, now, flags)

    def _insert(
        self,
        address: str,
        port: int,
        mode: int,
        version: int,
        now: float,
        flags: frozenset[str],
    ) -> MRUEntry | None:
        """
        Find a slot for an address that is not listed (see the module
        docstring for the order of the rules).
        """
        entries = self._entries
        count = len(entries)
        if count >= self._mindepth:
            if not count:
                # mru mindepth 0 maxdepth 0: nothing is ever recorded.
                if self._maxdepth > 0:
                    return self._new(address, port, mode, version, now, flags)
                self.notRecorded += 1
                return None
            oldestAddress = next(iter(entries))
            oldest = entries[oldestAddress]
            age = now - oldest.last
            oldestAge = int(age + 0.5) if age > 0.0 else 0
            if oldestAge > self._maxage:
                self.recycledOld += 1
            elif count < self._maxdepth:
                return self._new(address, port, mode, version, now, flags)
            elif self._minage is not None:
                if oldestAge < self._minage:
                    self.notRecorded += 1
                    return None
                self.recycledFull += 1
            else:
                random = self._random
                assert random is not None
                monitor = self._monitor
                if monitor > 0 and random() > oldestAge / monitor:
                    self.notRecorded += 1
                    return None
                self.recycledFull += 1
            del entries[oldestAddress]
            oldest._reset(address, port, mode, version, now, flags)
            entries[address] = oldest
            return oldest
        return self._new(address, port, mode, version, now, flags)

    def _new(
        self,
        address: str,
        port: int,
        mode: int,
        version: int,
        now: float,
        flags: frozenset[str],
    ) -> MRUEntry:
        entries = self._entries
        entry = MRUEntry(address, port, mode, version, now, flags)
        entries[address] = entry
        self.newEntries += 1
        if len(entries) > self.peakEntries:
            self.peakEntries = len(entries)
        return entry
