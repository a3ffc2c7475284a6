# -*- test-case-name: tests.core.test_status -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
ntpd's status words: the 16-bit peer and system status words that
C{peerstats} lines, C{ntpq} (mode 6 READSTAT/READVAR replies) and
C{protostats} show, and the event codes they carry.

Peer status word (ntpd's C{CTL_PEER_STATUS}, RFC 1305 Appendix B,
RFC 9327 section 2.3)::

     15  14  13  12  11  10 9 8   7 6 5 4   3 2 1 0
    +---+---+---+---+---+------+---------+---------+
    |cfg|aen|aut|rch|bct| sel  | ev count| ev code |
    +---+---+---+---+---+------+---------+---------+

  - C{cfg} (0x80 of the high byte): the association was configured (from
    a C{server}/C{peer} line, not spawned by C{pool});
  - C{aen} (0x40): authentication is enabled (it has a key);
  - C{aut} (0x20): the last packet was authentic;
  - C{rch} (0x10): the server is reachable (reach register not zero);
  - C{bct} (0x08): a broadcast association;
  - C{sel} (3 bits): the selection code, L{SELECT_REJECT} to
    L{SELECT_PPS} (the C{ntpq peers} tally character);
  - event count (4 bits, saturating at 15) and the code of the last peer
    event (L{PEVNT_MOBIL} ...).

ntpd's C{peerstats} example C{9614}: configured, reachable, system peer;
one event, the last one "reachable".

System status word (C{CTL_SYS_STATUS})::

     15 14  13 ... 8   7 6 5 4   3 2 1 0
    +-----+---------+---------+---------+
    | leap| source  | ev count| ev code |
    +-----+---------+---------+---------+

This module is pure: the daemon keeps the event counters in one
L{ntpservice.core.snapshot.StatusEvents}, and
L{ntpservice.core.snapshot} builds from these functions the status words
that mode 6, the statistics files and the metrics all read.

@see: RFC 9327 (NTP control messages) section 2 and Figures 3-6.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ntpservice.core.association import TEST_AUTH
from ntpservice.core.authenticator import isAuthenticating

# Peer status bits (the high byte).
PEER_CONFIG = 0x80
"""Configured (persistent) association."""
PEER_AUTHENABLE = 0x40
"""Authentication enabled: the association has a key."""
PEER_AUTHENTIC = 0x20
"""The last packet was authentic."""
PEER_REACH = 0x10
"""The server is reachable."""
PEER_BROADCAST = 0x08
"""A broadcast or multicast association."""

# Selection codes (3 bits), with ntpq's tally characters.
SELECT_REJECT = 0
"""C{" "}: rejected (unfit: unreachable, too far, noselect, ...)."""
SELECT_FALSETICK = 1
"""C{"x"}: a falseticker."""
SELECT_EXCESS = 2
"""C{"."}: discarded beyond C{maxclock} (ntpd's CTL_PST_SEL_CORRECT)."""
SELECT_OUTLIER = 3
"""C{"-"}: discarded by the cluster algorithm (CTL_PST_SEL_SELCAND)."""
SELECT_CANDIDATE = 4
"""C{"+"}: a survivor, combined (CTL_PST_SEL_SYNCCAND)."""
SELECT_BACKUP = 5
"""C{"#"}: a backup (CTL_PST_SEL_EXCESS; ntpservice does not use it)."""
SELECT_SYSPEER = 6
"""C{"*"}: the system peer."""
SELECT_PPS = 7
"""C{"o"}: the PPS peer."""

SELECT_CODES = {
    "unfit": SELECT_REJECT,
    "falseticker": SELECT_FALSETICK,
    "excess": SELECT_EXCESS,
    "outlier": SELECT_OUTLIER,
    "candidate": SELECT_CANDIDATE,
    "sync": SELECT_SYSPEER,
}
"""
The selection code of each L{ntpservice.core.selection} status (the same
tally characters as L{ntpservice.core.selection.TALLY_CODES}).
"""

# Peer event codes (the low nibble; ntpd's PEVNT_* without PEER_EVENT).
PEVNT_MOBIL = 1
"""Association mobilized."""
PEVNT_DEMOBIL = 2
"""Association demobilized."""
PEVNT_UNREACH = 3
"""Server unreachable."""
PEVNT_REACH = 4
"""Server reachable."""
PEVNT_RESTART = 5
"""Association restart."""
PEVNT_REPLY = 6
"""No reply (only used with authentication)."""
PEVNT_RATE = 7
"""Rate exceeded (a RATE kiss)."""
PEVNT_DENY = 8
"""Access denied (a DENY or RSTR kiss)."""
PEVNT_ARMED = 9
"""Leap second armed from the server's leap indicator."""
PEVNT_NEWPEER = 10
"""Became the system peer."""
PEVNT_CLOCK = 11
"""Reference clock event."""
PEVNT_AUTH = 12
"""Authentication failure."""
PEVNT_POPCORN = 13
"""Popcorn spike suppressed."""

PEER_EVENT_NAMES = {
    PEVNT_MOBIL: "mobilize",
    PEVNT_DEMOBIL: "demobilize",
    PEVNT_UNREACH: "unreachable",
    PEVNT_REACH: "reachable",
    PEVNT_RESTART: "restart",
    PEVNT_REPLY: "no_reply",
    PEVNT_RATE: "rate_exceeded",
    PEVNT_DENY: "access_denied",
    PEVNT_ARMED: "leap_armed",
    PEVNT_NEWPEER: "sys_peer",
    PEVNT_CLOCK: "clock_event",
    PEVNT_AUTH: "bad_auth",
    PEVNT_POPCORN: "popcorn",
}
"""ntpq's names of the peer events."""

# System event codes.
EVNT_UNSPEC = 0
EVNT_NSET = 1
"""Frequency not set (no drift file)."""
EVNT_FSET = 2
"""Frequency set from the drift file."""
EVNT_SPIK = 3
"""Spike detected."""
EVNT_FREQ = 4
"""Frequency training mode."""
EVNT_SYNC = 5
"""Clock synchronized."""
EVNT_SYSRESTART = 6
"""Daemon restarted."""
EVNT_SYSFAULT = 7
"""Panic stop."""
EVNT_NOPEER = 8
"""No system peer."""
EVNT_ARMED = 9
"""Leap second armed."""
EVNT_DISARMED = 10
"""Leap second disarmed."""
EVNT_LEAP = 11
"""Leap second event."""
EVNT_CLOCKRESET = 12
"""Clock stepped."""
EVNT_KERN = 13
"""Kernel event."""
EVNT_TAI = 14
"""TAI offset changed."""
EVNT_LEAPVAL = 15
"""Stale leap second values."""

SYSTEM_EVENT_NAMES = {
    EVNT_UNSPEC: "unspecified",
    EVNT_NSET: "freq_not_set",
    EVNT_FSET: "freq_set",
    EVNT_SPIK: "spike_detect",
    EVNT_FREQ: "freq_mode",
    EVNT_SYNC: "clock_sync",
    EVNT_SYSRESTART: "restart",
    EVNT_SYSFAULT: "panic_stop",
    EVNT_NOPEER: "no_sys_peer",
    EVNT_ARMED: "leap_armed",
    EVNT_DISARMED: "leap_disarmed",
    EVNT_LEAP: "leap_event",
    EVNT_CLOCKRESET: "clock_step",
    EVNT_KERN: "kern",
    EVNT_TAI: "TAI",
    EVNT_LEAPVAL: "stale_leapsecond_values",
}
"""ntpq's names of the system events."""

ASSOCIATION_EVENT_NAMES = {
    **{code: name for code, name in PEER_EVENT_NAMES.items() if code < PEVNT_AUTH},
    PEVNT_CLOCK: "clock_alarm",
}
"""
The peer event names of NTPsec ntpq's C{associations} column: those of
L{PEER_EVENT_NAMES} (libntp's, which ntpq's status lines use), but
C{clock_alarm} for L{PEVNT_CLOCK}, and none for L{PEVNT_AUTH} and
L{PEVNT_POPCORN}.
"""

# System clock source codes (6 bits).
SOURCE_UNSPEC = 0
SOURCE_PPS = 1
SOURCE_LF_RADIO = 2
SOURCE_HF_RADIO = 3
SOURCE_UHF_RADIO = 4
SOURCE_LOCAL = 5
"""The LOCAL clock (ntpd's CTL_SST_TS_LOCAL)."""
SOURCE_NTP = 6
"""An NTP server (CTL_SST_TS_NTP)."""
SOURCE_OTHER = 7
SOURCE_WRISTWATCH = 8
SOURCE_TELEPHONE = 9

SOURCE_NAMES = {
    SOURCE_UNSPEC: "sync_unspec",
    SOURCE_PPS: "sync_pps",
    SOURCE_LF_RADIO: "sync_lf_radio",
    SOURCE_HF_RADIO: "sync_hf_radio",
    SOURCE_UHF_RADIO: "sync_uhf_radio",
    SOURCE_LOCAL: "sync_local",
    SOURCE_NTP: "sync_ntp",
    SOURCE_OTHER: "sync_other",
    SOURCE_WRISTWATCH: "sync_wristwatch",
    SOURCE_TELEPHONE: "sync_telephone",
}
"""ntpq's names of the clock sources."""

LEAP_NAMES = ("leap_none", "leap_add_sec", "leap_del_sec", "leap_alarm")
"""ntpq's names of the leap indicators."""

SELECTION_NAMES = (
    "reject",
    "falsetick",
    "excess",
    "outlier",
    "candidate",
    "backup",
    "sys.peer",
    "pps.peer",
)
"""ntpq's C{condition} of each selection code."""

TALLY = " x.-+#*o"
"""The ntpq C{peers} tally character of each selection code."""

MAX_EVENTS = 15
"""The event counters saturate here (ntpd's CTL_PEER_MAXEVENTS)."""

BROADCAST_HMODES = frozenset({5})
"""Host modes that set L{PEER_BROADCAST} (broadcast server)."""


def peerStatusWord(
    *,
    configured: bool,
    authEnabled: bool = False,
    authentic: bool = False,
    reachable: bool = False,
    broadcast: bool = False,
    select: int = SELECT_REJECT,
    eventCount: int = 0,
    lastEvent: int = 0,
) -> int:
    """
    Assemble a peer status word.

    @param select: the selection code, L{SELECT_REJECT} to L{SELECT_PPS}.
    @param eventCount: events since mobilization (saturated at
        L{MAX_EVENTS}).
    @param lastEvent: the code of the last event (C{PEVNT_*}), 0 if none.
    @return: the 16-bit word (C{peerstats} prints it as C{%x}).
    @raise ValueError: if C{select} or C{lastEvent} is out of range.
    """
    if not 0 <= select <= 7:
        raise ValueError(f"selection code must be 0 to 7, not {select}")
    if not 0 <= lastEvent <= 15:
        raise ValueError(f"event code must be 0 to 15, not {lastEvent}")
    status = select
    if configured:
        status |= PEER_CONFIG
    if authEnabled:
        status |= PEER_AUTHENABLE
    if authentic:
        status |= PEER_AUTHENTIC
    if reachable:
        status |= PEER_REACH
    if broadcast:
        status |= PEER_BROADCAST
    count = max(0, min(eventCount, MAX_EVENTS))
    return (status << 8) | (count << 4) | lastEvent


def systemStatusWord(leap: int, source: int, eventCount: int = 0, lastEvent: int = 0) -> int:
    """
    Assemble a system status word.

    @param leap: the leap indicator (0-3).
    @param source: the clock source code (L{SOURCE_NTP}, ...; 0-63).
    @param eventCount: system events since start (saturated at 15).
    @param lastEvent: the code of the last system event (C{EVNT_*}).
    @return: the 16-bit word.
    @raise ValueError: if a field is out of range.
    """
    if not 0 <= leap <= 3:
        raise ValueError(f"leap indicator must be 0 to 3, not {leap}")
    if not 0 <= source <= 63:
        raise ValueError(f"clock source must be 0 to 63, not {source}")
    if not 0 <= lastEvent <= 15:
        raise ValueError(f"event code must be 0 to 15, not {lastEvent}")
    count = max(0, min(eventCount, MAX_EVENTS))
    return (leap << 14) | (source << 8) | (count << 4) | lastEvent


@dataclass(slots=True)
class EventCounter:
    """
    The event count and last event of one association (or of the system).

    @ivar count: events so far, saturated at L{MAX_EVENTS}.
    @ivar last: the code of the last event, 0 if none.
    """

    count: int = 0
    last: int = 0

    def record(self, code: int) -> None:
        """Note an event."""
        self.count = min(self.count + 1, MAX_EVENTS)
        self.last = code


def associationStatusWord(
    association: Any, selectionStatus: str | None, events: EventCounter | None = None
) -> int:
    """
    The peer status word of an association.

    The configured bit is set for associations of configuration lines
    (persistent and preemptable ones: C{server}, C{server ... preempt});
    ephemeral associations (spawned by C{pool}) are not configured, as in
    ntpd. An association with a key is authentic while
    it is reachable and its last packet did not fail authentication: the
    daemon only accepts authenticated packets on it.

    @param association: an L{ntpservice.core.association.Association}.
    @param selectionStatus: its status in the last selection
        (L{selectionStatus}), or C{None} if it was not a candidate.
    @param events: its events, or C{None} for none.
    """
    settings = association.settings
    reachable = association.reach != 0
    events = events or EventCounter()
    return peerStatusWord(
        configured=settings.lifecycle != "ephemeral",
        authEnabled=isAuthenticating(settings.authenticator),
        authentic=isAuthentic(association),
        reachable=reachable,
        broadcast=settings.hmode in BROADCAST_HMODES,
        select=SELECT_CODES.get(selectionStatus or "", SELECT_REJECT),
        eventCount=events.count,
        lastEvent=events.last,
    )


def isAuthentic(association: Any) -> bool:
    """
    Whether an association counts as authentic: it has a key, is
    reachable, and its last packet did not fail authentication (the daemon
    only accepts authenticated packets on a keyed association).
    """
    return (
        isAuthenticating(association.settings.authenticator)
        and association.reach != 0
        and not association.flash & TEST_AUTH
    )


def selectionStatus(engine: Any, associd: int) -> str | None:
    """
    An association's status for its status word: C{"sync"} for the
    engine's system peer; otherwise its status in the last selection, with
    a stale C{"sync"} (the system peer changed since, after a step for
    instance) shown as C{"candidate"}.

    @param engine: an L{ntpservice.core.engine.Engine}.
    @return: a L{ntpservice.core.selection} status, or C{None}.
    """
    if engine.systemPeer == associd:
        return "sync"
    selection = engine.selection
    if selection is None:
        return None
    status: str | None = selection.status.get(associd)
    return "candidate" if status == "sync" else status


def isSynchronized(engine: Any) -> bool:
    """
    Whether the daemon is synchronized: its system variables say so (leap
    indicator below 3, stratum below 16) and a source is in use, a system
    peer (the LOCAL clock's association too), or it is an orphan parent
    (issue 11). After losing its system peer the daemon keeps serving its
    last system variables (they age), but is no longer synchronized in
    this sense.

    @param engine: an L{ntpservice.core.engine.Engine} (its C{system},
        C{systemPeer} and C{isOrphan} are read).
    """
    if not engine.system.synchronized:
        return False
    return engine.systemPeer is not None or bool(getattr(engine, "isOrphan", False))
