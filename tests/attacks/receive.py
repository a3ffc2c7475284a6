# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A UDP receiver for the attack tests, run inside a namespace: it prints one
JSON line per datagram received (source, port, payload in hex) until
C{--count} datagrams or C{--timeout} seconds.

    ip netns exec NS python -m tests.attacks.receive --port 4242 --count 1
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from typing import Any, Iterator, Sequence


def receiving(sock: socket.socket, timeout: float) -> Iterator[tuple[bytes, Any]]:
    """
    What C{sock} receives (C{recvfrom}'s data and address) until C{timeout}
    seconds have passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        sock.settimeout(left)
        try:
            yield sock.recvfrom(65535)
        except socket.timeout:
            return


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.attacks.receive")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", args.port))
    print(json.dumps({"ready": True}), flush=True)
    received = 0
    for data, (host, port) in receiving(sock, args.timeout):
        received += 1
        print(json.dumps({"source": host, "port": port, "payload": data.hex()}), flush=True)
        if received >= args.count:
            break
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
