# -*- test-case-name: tests.interop.test_nts -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A blocking NTS-KE client (pyOpenSSL on a plain socket) for tests and
benchmarks that talk to a server without a reactor.
"""

from __future__ import annotations

import socket
from typing import Any

from OpenSSL import SSL

from ntpservice.nts import protocol as P
from ntpservice.nts.ke import exportKeys, parseResponse


def keExchange(port: int, ca: str, host: str = "127.0.0.1") -> Any:
    """
    One NTS-KE exchange with the server at C{host}:C{port}, its certificate
    verified against C{ca}.

    @return: the L{ntpservice.nts.ke.KEResult}.
    """
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_3_VERSION)
    context.load_verify_locations(ca)
    context.set_verify(SSL.VERIFY_PEER, lambda *args: bool(args[-1]))
    context.set_alpn_protos([P.ALPN_NTSKE])
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection = SSL.Connection(context, sock)
    connection.set_connect_state()
    connection.do_handshake()
    connection.sendall(P.encodeRecords([
        P.uint16Record(P.RECORD_NEXT_PROTOCOL, [0], critical=True),
        P.uint16Record(P.RECORD_AEAD, [15], critical=True),
        P.Record(P.RECORD_END, critical=True),
    ]))
    buffer = b""
    records: list[P.Record] = []
    while True:
        try:
            data = connection.recv(65536)
        except SSL.ZeroReturnError:
            data = b""
        if not data:
            break
        buffer += data
        records, complete, _ = P.splitRecords(buffer)
        if complete:
            break
    result = parseResponse(records, (15,))
    result.c2s, result.s2c = exportKeys(connection, result.aeadID)
    connection.close()
    return result
