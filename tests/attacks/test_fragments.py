# -*- test-case-name: tests.attacks.test_fragments -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Replies split into IP fragments with a forged fragment (Malhotra, Cohen,
Brakke and Goldberg, "The Security of NTP's Datagram Protocol", FC 2017,
section 4: an off-path attacker makes a server fragment its replies with
forged ICMP "fragmentation needed" messages, and plants a forged second
fragment in the client's reassembly buffer that carries the attacker's
receive and transmit timestamps; the genuine first fragment carries the
origin timestamp, so the reassembled reply passes the origin check).

Our defences: a client drops every reply to its associations that the
kernel reassembled from fragments (C{IP_RECVFRAGSIZE}: a 48-octet reply
never needs them), counted under C{peer.fragmented}; and our own packets
are never fragmented by the kernel (C{IP_PMTUDISC_PROBE} on every socket,
so forged ICMP messages do not lower the size we send), see
L{ntpservice.net.udp}.

The test: an attacker who sees the client's request (the silent server
prints it) sends the client a reply, both fragments forged with the right
origin, from the server's address: it is dropped and counted. The same
forged reply sent whole is accepted (the attack would work without the
defence), and a real server, chronyd, is selected as usual throughout.
"""

from __future__ import annotations

import time

import pytest

from tests.attacks import spoof
from tests.attacks.clientcase import POLL, WAIT, ClientAttackCase, waitFor
from tests.attacks.fakeserver import DEFAULTS, reply

pytestmark = [pytest.mark.interop, pytest.mark.netns]


class FragmentedReplyTests(ClientAttackCase):
    """
    Our client with a silent server (whose replies the attacker forges)
    and chronyd.
    """

    HOSTS = 4

    def forgedReply(self, request: dict[str, object]) -> bytes:
        """
        A reply to C{request} made up by the attacker (its time right: a
        second source that disagreed with chronyd would only muddle what
        the test shows).
        """
        state = dict(DEFAULTS)
        return reply(bytes.fromhex(str(request["request"])), time.time(), state)

    def reach(self, address: str) -> int:
        return int(self.metrics().get(
            f'ntpservice_association_reach{{associd="1",address="{address}"}}', 0))

    def test_fragmentedReplyDropped(self) -> None:
        """
        A forged reply in two IP fragments, with the origin of our
        outstanding request, is dropped and counted under
        C{peer.fragmented}: the association with the silent server stays
        unreached; the same reply sent whole, to the next request, is
        taken (the reach register fills). chronyd stays the system peer.
        """
        silent, honest = self.servers
        fake = self.fakeServer(silent, silent=True)
        self.chronyd(honest, "chronyd")
        daemon = self.ours(f"server {silent.address} iburst {POLL}\n"
                           f"server {honest.address} iburst {POLL}\n")
        self.assertEqual(waitFor(self.selected, WAIT), honest.address,
                         self.ntpq("-p") + daemon.output())
        fake.drain()
        request = fake.nextRequest()
        forged = self.forgedReply(request)
        packets = spoof.fragments(silent.address, 123, self.client.address,
                                  int(request["port"]), forged, 24, ident=0x5A5A)
        self.forgeRaw(packets)
        self.assertEqual(waitFor(lambda: self.dropped("peer.fragmented"), 15), 1,
                         self.metrics())
        self.assertEqual(self.reach(silent.address), 0)
        fake.drain()
        request = fake.nextRequest()
        self.forge(silent.address, 123, int(request["port"]), self.forgedReply(request))
        self.assertTrue(waitFor(lambda: self.reach(silent.address), 15), self.metrics())
        self.assertEqual(self.dropped("peer.fragmented"), 1)
        self.assertEqual(self.selected(), honest.address, self.ntpq("-p"))
