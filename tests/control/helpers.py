# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A UDP server on loopback for the client tests: a thread that hands each
datagram to a function and sends back what it returns.
"""

from __future__ import annotations

import select
import socket
import threading
from typing import Any, Callable

from ntpservice.net.udp import ReceivedDatagram

Responder = Callable[[bytes, tuple[str, int]], list[bytes]]


class LoopbackServer:
    """
    Serves C{responder} on C{127.0.0.1}, on a port of its own, until
    closed. A context manager.

    @ivar port: the bound port.
    @ivar received: every datagram received.
    """

    def __init__(self, responder: Responder) -> None:
        self._responder = responder
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            readable, _w, _x = select.select([self._socket], [], [], 0.05)
            if not readable:
                continue
            data, address = self._socket.recvfrom(65535)
            self.received.append(data)
            for reply in self._responder(data, address):
                self._socket.sendto(reply, address)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Collector:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendReply(self, datagram: Any, data: Any) -> None:
        self.sent.append(data() if callable(data) else data)

    def now(self) -> int:  # pragma: no cover
        return 0


def daemonResponder(daemon: Any) -> Responder:
    """
    A responder that is the daemon's own control handler.
    """

    def respond(data: bytes, address: tuple[str, int]) -> list[bytes]:
        collector = _Collector()
        daemon.control.datagramReceived(
            None, ReceivedDatagram(data, address, rxTime=daemon.clock.now()), collector
        )
        return collector.sent

    return respond
