# -*- test-case-name: tests.attacks.test_kiss -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A scriptable NTP server for the client attack tests: an honest server, or
a malicious one whose time drifts, jumps, whose replies carry a negative
delay, or that answers with a Kiss-o'-Death; run inside a namespace::

    ip netns exec NS python -m tests.attacks.fakeserver --port 123

It prints one JSON line when it is ready (C{{"ready": true}}) and one per
request it received (C{source}, C{port}, C{request} and C{reply} in hex,
C{reply} empty when it did not answer), so that a test learns the
client's port and the origin nonce of each request (what an on-path
attacker sees). It reads JSON commands on standard input, one per line,
that change its behaviour at once (the keys of L{DEFAULTS})::

    {"offset": 0.5}          serve our clock plus 0.5 s
    {"drift": 0.01}          from now on, add 10 ms per second
    {"kiss": "RATE"}         answer every request with this kiss
    {"kissOnce": "DENY"}     answer the next request with this kiss
    {"negativeDelay": 0.02}  replies whose delay is 20 ms below the truth
    {"silent": true}         answer nothing (still print the requests)

With C{--group ADDRESS} it also answers requests sent to that multicast
group, unauthenticated, as a rogue manycast server would.

Its clock is the host's (nothing here sets a clock): offsets are only in
what it writes into its replies.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import struct
import sys
import time
from typing import Any, Sequence

NTP_EPOCH_OFFSET = 2_208_988_800
"""Seconds from the NTP epoch (1900) to the Unix epoch (1970)."""

HEADER = struct.Struct("!BBbbII4sQQQQ")

DEFAULTS: dict[str, Any] = {
    "offset": 0.0,
    "drift": 0.0,
    "kiss": None,
    "kissOnce": None,
    "negativeDelay": 0.0,
    "silent": False,
    "stratum": 1,
    "refid": "XFAK",
}


def toNtp(unixSeconds: float) -> int:
    """A 64-bit NTP timestamp of a Unix time (seconds)."""
    value = unixSeconds + NTP_EPOCH_OFFSET
    seconds = int(value)
    fraction = int((value - seconds) * 2**32) & 0xFFFFFFFF
    return ((seconds & 0xFFFFFFFF) << 32) | fraction


def reply(request: bytes, received: float, state: dict[str, Any],
          now: float | None = None) -> bytes:
    """
    The reply to C{request} (which arrived at C{received}, Unix seconds of
    the host's clock) under C{state}.
    """
    version = (request[0] >> 3) & 7 or 4
    origin = request[40:48]
    kiss = state["kissOnce"] or state["kiss"]
    if kiss:
        # As ntpd's fast_xmit(): every timestamp is the request's.
        return HEADER.pack((3 << 6) | (version << 3) | 4, 0, 0, -20, 0, 0,
                           kiss.encode("ascii")[:4].ljust(4, b"\0"), 0,
                           *[struct.unpack("!Q", origin)[0]] * 3)
    now = time.time() if now is None else now
    shift = state["offset"]
    if state["drift"]:
        shift += state["drift"] * (now - state["driftSince"])
    # A negative delay: T2 earlier and T3 later by half of it each, so
    # the offset stays what it was and only the delay shrinks.
    half = state["negativeDelay"] / 2
    rec = received + shift - half
    xmt = now + shift + half
    return HEADER.pack(
        (0 << 6) | (version << 3) | 4, state["stratum"], request[2], -20, 0, 0x00000010,
        state["refid"].encode("ascii")[:4].ljust(4, b"\0"), toNtp(now + shift - 1),
        struct.unpack("!Q", origin)[0], toNtp(rec), toNtp(xmt),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.attacks.fakeserver")
    parser.add_argument("--port", type=int, default=123)
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--state", default="{}", help="initial state, JSON")
    parser.add_argument("--group", action="append", default=[],
                        help="also answer requests sent to this IPv4 multicast group "
                             "(a manycast server)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="exit after this many seconds")
    args = parser.parse_args(argv)
    state = dict(DEFAULTS)
    state.update(json.loads(args.state))
    state["driftSince"] = time.time()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.address, args.port))
    for group in args.group:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                        socket.inet_aton(group) + socket.inet_aton("0.0.0.0"))
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, "ntp")
    stdinOpen = True
    os.set_blocking(sys.stdin.fileno(), False)
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    print(json.dumps({"ready": True}), flush=True)
    deadline = time.monotonic() + args.timeout
    pending = ""
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1.0):
            if key.data == "stdin":
                chunk = sys.stdin.read()
                if not chunk:
                    if stdinOpen:
                        selector.unregister(sys.stdin)
                        stdinOpen = False
                    continue
                pending += chunk
                while "\n" in pending:
                    line, pending = pending.split("\n", 1)
                    if line.strip():
                        command = json.loads(line)
                        if "drift" in command:
                            # The drift so far becomes part of the offset.
                            now = time.time()
                            state["offset"] += state["drift"] * (now - state["driftSince"])
                            state["driftSince"] = now
                        state.update(command)
                        print(json.dumps({"state": {k: state[k] for k in DEFAULTS}}),
                              flush=True)
                continue
            data, (host, port) = sock.recvfrom(2048)
            received = time.time()
            if len(data) < HEADER.size or data[0] & 7 != 3:
                continue
            out = b""
            if not state["silent"]:
                out = reply(data, received, state)
                state["kissOnce"] = None
                sock.sendto(out, (host, port))
            print(json.dumps({"source": host, "port": port, "request": data.hex(),
                              "reply": out.hex(), "time": received}), flush=True)
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
