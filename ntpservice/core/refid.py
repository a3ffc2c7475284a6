# -*- test-case-name: tests.core.test_refid -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Reference identifiers: building the 4-byte refid and showing it.

The refid of a packet means different things by stratum: at stratum 0 it
is a kiss code, at stratum 1 the ASCII name of the reference clock
(C{GPS}, C{PPS}), above that the identity of the server's own source: its
IPv4 address, or the first four bytes of the MD5 digest of its IPv6
address (which lets a server detect a timing loop).

@see: RFC 5905 section 7.3
"""

from __future__ import annotations

import hashlib
import ipaddress

__all__ = [
    "refidFromIPv4",
    "refidFromIPv6",
    "refidFromAddress",
    "refidFromASCII",
    "formatRefid",
]


def refidFromIPv4(address: str) -> bytes:
    """
    The refid of an IPv4 source: its four address bytes.

    @param address: a dotted-quad IPv4 address.
    @return: 4 bytes.
    @raise ValueError: if C{address} is not an IPv4 address.
    """
    return ipaddress.IPv4Address(address).packed


def refidFromIPv6(address: str) -> bytes:
    """
    The refid of an IPv6 source: the first four bytes of the MD5 digest of
    its 16-byte address, as ntpd computes it.  A scope (C{%eth0}) is not
    part of the address and is ignored.

    @param address: an IPv6 address.
    @return: 4 bytes.
    @raise ValueError: if C{address} is not an IPv6 address.
    """
    packed = ipaddress.IPv6Address(address).packed
    return hashlib.md5(packed, usedforsecurity=False).digest()[:4]


def refidFromAddress(address: str) -> bytes:
    """
    The refid of a source, IPv4 or IPv6.

    An IPv4-mapped IPv6 address (C{::ffff:192.0.2.1}, as a dual-stack socket
    reports an IPv4 peer) is treated as the IPv4 address it maps, so that
    the refid is the same as an IPv4 socket would give.

    @param address: an IPv4 or IPv6 address.
    @return: 4 bytes.
    @raise ValueError: if C{address} is not an IP address.
    """
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        mapped = parsed.ipv4_mapped
        if mapped is None:
            return hashlib.md5(parsed.packed, usedforsecurity=False).digest()[:4]
        parsed = mapped
    return parsed.packed


def refidFromASCII(text: str) -> bytes:
    """
    The refid of a reference clock or a kiss code: 1 to 4 ASCII characters,
    left-justified and NUL-padded.

    @param text: the identifier, such as C{"GPS"} or C{"RATE"}.
    @return: 4 bytes.
    @raise ValueError: if C{text} is empty, longer than 4 characters, or not
        printable ASCII.
    """
    if not 1 <= len(text) <= 4 or not text.isascii() or not text.isprintable():
        raise ValueError(f"refid must be 1 to 4 printable ASCII characters: {text!r}")
    return text.encode("ascii").ljust(4, b"\0")


def formatRefid(
    refid: bytes, stratum: int, *, dotted: bool = False, unsynchronizedAsText: bool = True
) -> str:
    """
    Show a refid: the one refid formatter, for mode 6 (what C{ntpq} shows),
    the statistics files and the logs.

    Like ntpd's C{REFID_ISTEXT}, the refid is text at stratum 0 (kiss
    codes), 1 (reference clocks) and 16 or more (an unsynchronized source
    whose refid is a state such as C{INIT} or C{STEP}); at stratum 2 to 15
    it is an address, shown as a dotted quad (for an IPv6 source, the
    dotted quad of the hash). Text is what ntpd's mode 6 sends
    (C{ctl_putrefid}): the bytes up to the first NUL, any that is not
    graphic ASCII (a space, a control character) shown as C{"."}, so that
    the text never splits a line or a C{name=value} item.

    @param refid: the 4-byte refid.
    @param stratum: the stratum that goes with it (of the packet, or of
        the peer).
    @param dotted: put text between dots (C{.GPS.}), as ntpq's peer list
        and C{rawstats} (NTPsec's C{refid_str}) show it.
    @param unsynchronizedAsText: whether stratum 16 and above is text;
        C{rawstats} (NTPsec's C{refid_str}) shows every stratum above 1 as
        an address.
    @return: the refid as text.
    @raise ValueError: if C{refid} is not 4 bytes long.
    """
    if len(refid) != 4:
        raise ValueError(f"refid must be 4 bytes: {refid!r}")
    if 1 < stratum < 16 or (stratum >= 16 and not unsynchronizedAsText):
        return ".".join(str(byte) for byte in refid)
    text = "".join(
        chr(byte) if 0x21 <= byte < 0x7F else "." for byte in refid.split(b"\0", 1)[0]
    )
    return f".{text}." if dotted else text
