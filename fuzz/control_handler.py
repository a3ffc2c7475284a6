# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Fuzz target: the mode 6 server (L{ntpservice.control.mode6.server.
ControlHandler}) of a real L{NTPDaemon} on a memory reactor and a fake
clock (no socket, no real clock), with a LOCAL clock, unreachable servers,
a pool, and the keys of C{fuzz/capture_seeds.py} (C{controlkey 2}): every
opcode, C{:config}, C{setvar}, C{mrulist} with nonces.

The first byte of an input holds flags: bit 0 signs the datagram with the
control key (so that C{:config} and C{setvar} are executed), bit 1 sends
it from a remote address (refused unless restrict lines allow), bit 2
lets a second pass first; the rest is the datagram. The daemon is built
again every 1000 inputs (a C{:config} changes it).

The property: the handler raises nothing; every datagram it sends is a
mode 6 response of at most 12 + 468 + 24 bytes that decodes, with the
request's sequence number.

Run: C{python -m fuzz.control_handler [libFuzzer options] [corpus
directories]}.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import atheris

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with atheris.instrument_imports(include=["ntpservice"]):
    # Everything the daemon runs is imported (and so instrumented) here,
    # before tests.control.test_mode6 builds the daemon from it.
    import ntpservice.daemon  # noqa: F401
    import ntpservice.plugins  # noqa: F401
    from ntpservice.auth.keys import parseKeysText
    from ntpservice.auth.mac import signControl
    from ntpservice.control.mode6.server import RateLimiter
    from ntpservice.core import control as K
    from ntpservice.net.udp import ReceivedDatagram

from fuzz._harness import main
from fuzz.capture_seeds import KEYS_TEXT
from tests.control.test_mode6 import Sender, makeDaemon as _startedDaemon

CONFIG = """
server 127.127.1.0
fudge 127.127.1.0 stratum 3
server 192.0.2.1 iburst
server 192.0.2.2 key 1
pool pool.example.org iburst
restrict default kod limited nomodify notrap nopeer
restrict 127.0.0.1
controlkey 2
trustedkey 1 2 3
"""
RING = parseKeysText(KEYS_TEXT).withTrusted([1, 2, 3])
CONTROL_KEY = RING[2]
MAX_DATAGRAM = K.HEADER_LEN + K.MAX_DATA_LEN + 24
REBUILD = 1000


class _State:
    daemon: Any = None
    count = 0


def makeDaemon() -> Any:
    """A started daemon, its LOCAL clock selected."""
    daemon = _startedDaemon(CONFIG, RING, fastPath=None)
    daemon.control._limiter = RateLimiter(burst=1e12, rate=1e12, globalBurst=1e12,
                                          globalRate=1e12)
    return daemon


def testOneInput(data: bytes) -> None:
    """
    Deliver one datagram (see the module's docstring).
    """
    if not data:
        return
    if _State.daemon is None or _State.count >= REBUILD:
        if _State.daemon is not None:
            _State.daemon.stop()
        _State.daemon = makeDaemon()
        _State.count = 0
    _State.count += 1
    daemon = _State.daemon
    flags, datagram = data[0], bytes(data[1:])
    if flags & 1:
        datagram = signControl(datagram, CONTROL_KEY)
    source = ("198.51.100.7", 40000) if flags & 2 else ("127.0.0.1", 40000)
    if flags & 4:
        daemon.clock.time += 1_000_000_000
        daemon.reactor.advance(1.0)
    sender = Sender()
    daemon.control.datagramReceived(
        None, ReceivedDatagram(datagram, source, rxTime=daemon.clock.now()), sender
    )
    if not sender.sent:
        return
    request = K.ControlMessage.decode(datagram)
    for reply in sender.sent:
        if len(reply) > MAX_DATAGRAM:
            raise AssertionError(f"a reply of {len(reply)} bytes")
        message = K.ControlMessage.decode(reply)
        if not message.response or message.sequence != request.sequence:
            raise AssertionError(f"not a response to the request: {message!r}")


if __name__ == "__main__":
    main("control_handler", testOneInput)
