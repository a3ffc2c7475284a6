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
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.attacks.receive")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", args.port))
    print(json.dumps({"ready": True}), flush=True)
    deadline = time.monotonic() + args.timeout
    received = 0
    while received < args.count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data, (host, port) = sock.recvfrom(65535)
        except socket.timeout:
            break
        received += 1
        print(json.dumps({"source": host, "port": port, "payload": data.hex()}), flush=True)
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
