# -*- test-case-name: tests.control.test_client -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.control.client}: the blocking mode 6 client, against
our daemon's handler and against scripted servers, over loopback.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.control.client import (
    ControlClient,
    ControlClientError,
    ServerError,
    TimeoutError_,
)
from ntpservice.auth.mac import signControl
from ntpservice.core import control as K
from ntpservice.core import status as S
from tests.control.helpers import LoopbackServer, daemonResponder
from tests.control.test_mode6 import BASE, KEY, OTHER_KEY, T0, localID, makeDaemon


class ClientAgainstDaemonTests(SynchronousTestCase):
    """
    The client talks to our daemon's control handler.
    """

    def setUp(self) -> None:
        self.daemon = makeDaemon(BASE + "enable monitor\n")
        self.server = LoopbackServer(daemonResponder(self.daemon))
        self.addCleanup(self.server.close)
        self.client = ControlClient("127.0.0.1", self.server.port, timeout=2.0)
        self.addCleanup(self.client.close)

    def test_readStatus(self) -> None:
        """
        readStatus gives the system status and every association, sorted.
        """
        status, associations = self.client.readStatus()
        self.assertEqual(K.decodeSystemStatus(status).source, S.SOURCE_LOCAL)
        self.assertEqual(len(associations), 4)
        self.assertEqual(associations, sorted(associations))

    def test_readVariables(self) -> None:
        """
        readVariables gives the system's and an association's variables.
        """
        self.assertEqual(dict(self.client.readVariables().variables)["stratum"], "4")
        local = localID(self.daemon)
        response = self.client.readVariables(local, ["srcadr", "refid"])
        self.assertEqual(response.variables, [("srcadr", "127.127.1.0"), ("refid", "LOCL")])

    def test_errorResponse(self) -> None:
        """
        An error response raises L{ServerError} with its code, in ntpq's
        words.
        """
        error = self.assertRaises(ServerError, self.client.readVariables, 999)
        self.assertEqual(error.code, K.ERR_BADASSOC)
        self.assertEqual(str(error), "***Server error code BADASSOC")

    def test_configure(self) -> None:
        """
        configure signs the request with the key and checks the signed
        answer.
        """
        self.client.key = KEY
        self.assertEqual(self.client.configure("server 192.0.2.77"), "Config Succeeded")
        self.assertIsNotNone(self.daemon.engine.find("192.0.2.77", 123))
        # It asked for a nonce first and sent it as the first line.
        nonceRequest, configure = (K.ControlMessage.decode(d) for d in self.server.received[-2:])
        self.assertEqual(nonceRequest.opcode, K.OP_REQ_NONCE)
        self.assertRegex(configure.data, rb"\A# nonce=[0-9a-f]{24}\nserver 192\.0\.2\.77\Z")
        self.client.key = OTHER_KEY
        error = self.assertRaises(ServerError, self.client.configure, "server 192.0.2.78")
        self.assertEqual(error.code, K.ERR_PERMISSION)

    def test_configureWithoutKey(self) -> None:
        """
        Without a key, configure fails before sending anything.
        """
        self.assertRaises(ControlClientError, self.client.configure, "server 192.0.2.77")
        self.assertEqual(self.server.received, [])

    def test_mruList(self) -> None:
        """
        mruList retrieves a list longer than one response, newest first.
        """
        base = T0 / 1e9
        for i in range(50):
            self.daemon.mru.observe(f"198.51.100.{i + 1}", 1000 + i, 3, 4, base - 100 + i)
        result = self.client.mruList(frags=2)
        self.assertEqual(len(result.entries), 50)
        self.assertGreater(result.requests, 2)
        self.assertEqual(result.entries[0].address, "198.51.100.50")
        self.assertEqual(result.entries[0].port, 1049)
        self.assertEqual(result.entries[-1].address, "198.51.100.1")
        self.assertIsNotNone(result.now)


class ClientAgainstScriptTests(SynchronousTestCase):
    """
    The client against servers that misbehave in the ways ntpq copes with.
    """

    def serve(self, responder) -> ControlClient:  # type: ignore[no-untyped-def]
        server = LoopbackServer(responder)
        self.addCleanup(server.close)
        client = ControlClient("127.0.0.1", server.port, timeout=0.3, fragmentTimeout=0.3)
        self.addCleanup(client.close)
        self.server = server
        return client

    def test_fragmentsOutOfOrder(self) -> None:
        """
        Fragments sent in reverse order, with a duplicate and a stray
        datagram of another sequence, reassemble.
        """
        data = b"x=" + b"y" * 1500

        def respond(datagram: bytes, address: object) -> list[bytes]:
            request = K.ControlMessage.decode(datagram)
            fragments = [f.encode() for f in K.fragmentResponse(request, data, 0x0615)]
            stray = K.ControlMessage(request.opcode, request.sequence + 1, response=True).encode()
            return [stray, *reversed(fragments), fragments[0]]

        response = self.serve(respond).readVariables()
        self.assertEqual((response.data, response.status, response.fragments), (data, 0x0615, 4))

    def test_retryOnce(self) -> None:
        """
        A request that gets no answer is sent once more.
        """
        def respond(datagram: bytes, address: object) -> list[bytes]:
            if len(self.server.received) == 1:
                return []
            request = K.ControlMessage.decode(datagram)
            return [f.encode() for f in K.fragmentResponse(request, b"a=1", 0)]

        client = self.serve(respond)
        self.assertEqual(client.readVariables().variables, [("a", "1")])
        self.assertEqual(len(self.server.received), 2)

    def test_timeout(self) -> None:
        """
        No answer to either attempt: L{TimeoutError_}; half an answer: the
        same, saying it was incomplete.
        """
        client = self.serve(lambda datagram, address: [])
        error = self.assertRaises(TimeoutError_, client.readVariables)
        self.assertEqual(str(error), "***Request timed out")

        def half(datagram: bytes, address: object) -> list[bytes]:
            request = K.ControlMessage.decode(datagram)
            return [K.fragmentResponse(request, b"a" * 1000, 0)[0].encode()]

        client = self.serve(half)
        error = self.assertRaises(TimeoutError_, client.readVariables)
        self.assertEqual(str(error), "***Response from server was incomplete")

    def test_unsignedConfigureAnswer(self) -> None:
        """
        An answer to :config that is not signed with our key is refused.
        """
        def respond(datagram: bytes, address: object) -> list[bytes]:
            request = K.ControlMessage.decode(datagram)
            if request.opcode == K.OP_REQ_NONCE:
                data = b"nonce=0123456789abcdef01234567\r\n"
            else:
                data = b"Config Succeeded"
            return [f.encode() for f in K.fragmentResponse(request, data, 0)]

        client = self.serve(respond)
        client.key = KEY
        error = self.assertRaises(ControlClientError, client.configure, "server 192.0.2.1")
        self.assertIn("untrusted", str(error))

    def test_configureRetriedAsSent(self) -> None:
        """
        A :config that gets no answer is sent again as the same datagram
        (same sequence number, same nonce), so that a server that executed
        it answers again rather than executing it twice.
        """
        def respond(datagram: bytes, address: object) -> list[bytes]:
            request = K.ControlMessage.decode(datagram)
            if request.opcode == K.OP_REQ_NONCE:
                data = b"nonce=0123456789abcdef01234567\r\n"
                return [f.encode() for f in K.fragmentResponse(request, data, 0)]
            if len(self.server.received) == 2:
                return []
            return [signControl(f.encode(), KEY)
                    for f in K.fragmentResponse(request, b"Config Succeeded", 0)]

        client = self.serve(respond)
        client.key = KEY
        self.assertEqual(client.configure("server 192.0.2.1"), "Config Succeeded")
        self.assertEqual(len(self.server.received), 3)
        self.assertEqual(self.server.received[1], self.server.received[2])

    def test_configureWithoutNonces(self) -> None:
        """
        A server that has no REQ_NONCE (BADOP) gets the text alone.
        """
        def respond(datagram: bytes, address: object) -> list[bytes]:
            request = K.ControlMessage.decode(datagram)
            if request.opcode == K.OP_REQ_NONCE:
                return [K.errorResponse(request, K.ERR_BADOP).encode()]
            self.assertEqual(request.data, b"server 192.0.2.1")
            return [signControl(f.encode(), KEY)
                    for f in K.fragmentResponse(request, b"Config Succeeded", 0)]

        client = self.serve(respond)
        client.key = KEY
        self.assertEqual(client.configure("server 192.0.2.1"), "Config Succeeded")

    def test_badStatusList(self) -> None:
        """
        A READSTAT answer that is not whole pairs is refused.
        """
        def respond(datagram: bytes, address: object) -> list[bytes]:
            request = K.ControlMessage.decode(datagram)
            return [f.encode() for f in K.fragmentResponse(request, b"\0\1\0", 0)]

        self.assertRaises(ControlClientError, self.serve(respond).readStatus)
