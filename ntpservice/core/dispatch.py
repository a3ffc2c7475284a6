# -*- test-case-name: tests.core.test_dispatch -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The peer dispatch table of RFC 5905 (Figure 20): what to do with a packet,
given its mode and the mode of the association it matches.

Rules of this module (after h11's C{_state.py}): everything that decides
where a packet goes lives in the table below; the multiplexer and the engine
only look it up. Rows are association modes (0: no association), columns
packet modes.

@see: RFC 5905 section 9.2.
"""

from __future__ import annotations

from enum import Enum

NO_ASSOCIATION = 0
"""The association mode of "no association matched"."""

ASSOC_ACTIVE = 1
ASSOC_PASSIVE = 2
ASSOC_CLIENT = 3
ASSOC_SERVER = 4
ASSOC_BROADCAST = 5
ASSOC_BCLIENT = 6


class Dispatch(Enum):
    """
    The outcomes of the dispatch table.
    """

    NEWPS = "newps"
    """Symmetric active packet, no association: mobilize a passive one."""
    DSCRD = "dscrd"
    """Discard (non-fatal protocol violation, late or replayed packet)."""
    FXMIT = "fxmit"
    """Client packet, no association: answer statelessly."""
    MANY = "many"
    """Server packet, no association: a manycast reply."""
    NEWBC = "newbc"
    """Broadcast packet, no association: mobilize a broadcast client."""
    PROC = "proc"
    """Process the packet in the matching association."""
    ERR = "err"
    """Fatal violation: discard and demobilize the (passive) association."""


_D = Dispatch
TABLE: dict[int, tuple[Dispatch, Dispatch, Dispatch, Dispatch, Dispatch]] = {
    #                 packet mode 1 2        3        4        5
    NO_ASSOCIATION: (_D.NEWPS, _D.DSCRD, _D.FXMIT, _D.MANY, _D.NEWBC),
    ASSOC_ACTIVE: (_D.PROC, _D.PROC, _D.DSCRD, _D.DSCRD, _D.DSCRD),
    ASSOC_PASSIVE: (_D.PROC, _D.ERR, _D.DSCRD, _D.DSCRD, _D.DSCRD),
    ASSOC_CLIENT: (_D.DSCRD, _D.DSCRD, _D.DSCRD, _D.PROC, _D.DSCRD),
    ASSOC_SERVER: (_D.DSCRD, _D.DSCRD, _D.DSCRD, _D.DSCRD, _D.DSCRD),
    ASSOC_BROADCAST: (_D.DSCRD, _D.DSCRD, _D.DSCRD, _D.DSCRD, _D.DSCRD),
    ASSOC_BCLIENT: (_D.DSCRD, _D.DSCRD, _D.DSCRD, _D.DSCRD, _D.PROC),
}


def dispatch(associationMode: int, packetMode: int) -> Dispatch:
    """
    Look up the table.

    @param associationMode: 0 (no association) to 6.
    @param packetMode: 1 to 5; other packet modes are always discarded
        here (mode 0 of NTPv1 is the server's business, 6 and 7 are not NTP
        time packets).
    """
    if not 1 <= packetMode <= 5:
        return Dispatch.DSCRD
    row = TABLE.get(associationMode)
    if row is None:
        return Dispatch.DSCRD
    return row[packetMode - 1]
