# Copyright (c) ntpservice developers. See LICENSE for details.
"""
An on-path attacker's eyes for the attack tests, run inside a namespace:
a raw IPv4 socket sees a copy of every UDP datagram that arrives; print
one JSON line per datagram from C{--src} (and C{--sport}) whose payload's
NTP mode is C{--mode}, until C{--count} of them or C{--timeout} seconds.

    ip netns exec NS python -m tests.attacks.sniff --src 10.250.7.2 --mode 1
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from typing import Sequence

from tests.attacks.receive import receiving


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.attacks.sniff")
    parser.add_argument("--src", required=True)
    parser.add_argument("--sport", type=int, default=123)
    parser.add_argument("--mode", type=int, default=4)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    print(json.dumps({"ready": True}), flush=True)
    seen = 0
    for packet, _ in receiving(sock, args.timeout):
        headerLength = (packet[0] & 0x0F) * 4
        source = socket.inet_ntoa(packet[12:16])
        udp = packet[headerLength:]
        if source != args.src or len(udp) < 9:
            continue
        sport, dport = int.from_bytes(udp[0:2], "big"), int.from_bytes(udp[2:4], "big")
        payload = udp[8:]
        if sport != args.sport or payload[0] & 7 != args.mode:
            continue
        seen += 1
        print(json.dumps({"source": source, "port": sport, "dport": dport,
                          "payload": payload.hex(), "time": time.time()}), flush=True)
        if seen >= args.count:
            break
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
