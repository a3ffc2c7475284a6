# -*- test-case-name: tests.core.test_server -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Stateless server replies (RFC 5905 FXMIT): a client request in, a server
reply out, built from the request and the system variables.

The transmit timestamp is left for last: L{buildServerReply} returns a reply
whose encoding the shell stamps with L{stampTransmit} as the very last thing
before the datagram is handed to the kernel, so the time between reading
the clock and sending is as short as it can be.

@see: RFC 5905 section 9.2 (FXMIT) and Appendix A.5.3 (fast_xmit),
    Figure 31.
"""

from __future__ import annotations

from ntpservice.core.packet import (
    HEADER_LEN,
    MODE_CLIENT,
    MODE_RESERVED,
    MODE_SERVER,
    NTPPacket,
    packHeader,
)
from ntpservice.core.system import SystemVariables
from ntpservice.core.timestamps import NTPTimestamp, encodeShort

MIN_VERSION = 1
MAX_VERSION = 4

_XMT_OFFSET = HEADER_LEN - 8
"""Byte offset of the transmit timestamp in the header."""


def isClientRequest(packet: NTPPacket) -> bool:
    """
    Whether C{packet} asks for a server reply: mode 3 with a version from 1
    to 4, or an NTPv1 packet with the unspecified mode 0 (NTPv1 had no mode
    field; ntpd answers those as client requests).

    @see: RFC 5905 section 9.2: acceptable version numbers are 1-4.
    """
    if not MIN_VERSION <= packet.version <= MAX_VERSION:
        return False
    if packet.mode == MODE_CLIENT:
        return True
    return packet.mode == MODE_RESERVED and packet.version == 1


def buildServerReply(
    request: NTPPacket, system: SystemVariables, rec: NTPTimestamp, nowNs: int
) -> NTPPacket:
    """
    The header of the reply to C{request}, as RFC 5905 Figure 31 builds it,
    with a zero transmit timestamp for L{stampTransmit} to fill.

    @param request: a packet for which L{isClientRequest} is true.
    @param system: the system variables to report.
    @param rec: the time the request arrived (kernel receive timestamp).
    @param nowNs: the local time (ns since the Unix epoch), for the growth of
        the root dispersion since the last update.
    @return: the reply, without MAC or extension fields.
    """
    return NTPPacket(
        leap=system.leap,
        version=request.version,
        mode=MODE_SERVER,
        stratum=system.packetStratum(),
        poll=request.poll,
        precision=system.precision,
        rootDelay=encodeShort(system.rootDelay),
        rootDispersion=encodeShort(system.rootDispersionAt(nowNs)),
        refid=system.refid,
        reftime=system.reftime,
        org=request.xmt,
        rec=rec,
    )


def encodeServerReply(
    request: NTPPacket, system: SystemVariables, rec: NTPTimestamp, nowNs: int
) -> bytes:
    """
    L{buildServerReply}, encoded, without the intermediate L{NTPPacket}
    (the server's per-request path).
    """
    return packHeader(
        system.leap,
        request.version,
        MODE_SERVER,
        system.packetStratum(),
        request.poll,
        system.precision,
        encodeShort(system.rootDelay),
        encodeShort(system.rootDispersionAt(nowNs)),
        system.refid,
        system.reftime.value,
        request.xmt.value,
        rec.value,
        0,
    )


def stampTransmit(encoded: bytes, xmt: NTPTimestamp) -> bytes:
    """
    Write the transmit timestamp into an encoded packet.

    @param encoded: an encoded NTP packet (header first).
    @param xmt: the transmit timestamp.
    @return: the same packet with bytes 40-47 replaced.
    """
    return encoded[:_XMT_OFFSET] + xmt.toBytes() + encoded[HEADER_LEN:]
