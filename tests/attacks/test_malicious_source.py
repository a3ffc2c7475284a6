# -*- test-case-name: tests.attacks.test_malicious_source -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
One malicious source among honest ones (Malhotra, Cohen, Brakke and
Goldberg, "Attacking the Network Time Protocol", NDSS 2016, sections III
and VI: small-step/big-step, and a time shift by a single on-path source
when the others disagree with it; CVE-2015-5300: ntpd run with C{-g}
accepted one step beyond the panic threshold, 1000 s, at any time, so an
attacker who controlled the replies at the right moment moved the clock
arbitrarily far).

Our client polls three honest servers (chronyd) and one malicious server
of the test's own (L{tests.attacks.fakeserver}) whose time first drifts
slowly, in small steps under the 128 ms step threshold, then jumps by ten
minutes, then beyond the panic threshold. Our defences are the selection
algorithms (intersection and clustering, RFC 5905 section 11.2): one
source against three that agree is a falseticker or an outlier, never the
system peer, and the combined offset stays with the honest majority.
With C{--no-clock-adjust} the client reports the offset it would correct:
it stays within a bound throughout.

The negative-delay variant: the malicious server shrinks the delay of its
replies below zero, which would make its root distance the smallest and
its samples the best in RFC 5905's clock filter; our client rejects such
samples (L{ntpservice.core.peer.onWireSample}), counted under
C{peer.negativedelay}.
"""

from __future__ import annotations

import time

import pytest

from tests.attacks.clientcase import POLL, WAIT, ClientAttackCase, waitFor

pytestmark = [pytest.mark.interop, pytest.mark.netns]

OFFSET_BOUND = 0.010
"""
Seconds: the largest system offset allowed while the malicious source
moves (the honest servers' clocks are this machine's own; what remains is
the measurement noise of a busy machine, milliseconds at worst).
"""


class MaliciousSourceTests(ClientAttackCase):
    """
    Our client with three chronyd servers and one malicious server.
    """

    HOSTS = 5

    def setUp(self) -> None:
        super().setUp()
        for i, host in enumerate(self.servers):
            self.chronyd(host, f"chronyd{i}")
        self.malicious = self.attacker
        self.fake = self.fakeServer(self.malicious)
        lines = "".join(f"server {host.address} iburst {POLL}\n"
                        for host in [*self.servers, self.malicious])
        self.daemon = self.ours(lines)
        self.honest = {host.address for host in self.servers}
        self.assertIn(waitFor(self.selected, WAIT), self.honest,
                      self.ntpq("-p") + self.daemon.output())

    def watch(self, seconds: float, samples: list[tuple[float, str | None, str]]) -> None:
        """
        For C{seconds}, once a second: the system offset, the system peer
        and the malicious association's selection status, into
        C{samples}.
        """
        deadline = time.monotonic() + seconds
        address = self.malicious.address
        while time.monotonic() < deadline:
            metrics = self.metrics()
            peer = self.selected()
            status = "?"
            for name in metrics:
                if (name.startswith("ntpservice_association_selection{")
                        and f'address="{address}"' in name):
                    status = name.split('status="')[1].split('"')[0]
            samples.append((metrics["ntpservice_offset_seconds"], peer, status))
            time.sleep(1)

    def test_smallStepBigStep(self) -> None:
        """
        The malicious server drifts by 7 ms a second for 16 s (112 ms in
        all, in steps under the step threshold), then jumps 600 s ahead,
        then 2000 s (beyond the panic threshold). Throughout, the system
        peer is one of the honest servers and the system offset stays
        within L{OFFSET_BOUND}, nothing is stepped; at the end the
        malicious server is a falseticker, or unfit (the jump in its
        samples made its jitter, so its root distance, too large).
        """
        samples: list[tuple[float, str | None, str]] = []
        self.fake.command(drift=0.007)
        self.watch(16, samples)
        self.fake.command(drift=0.0, offset=600.0)
        self.watch(12, samples)
        self.fake.command(offset=2000.0)
        self.watch(12, samples)
        report = "\n".join(f"{o:+.6f} {p} {s}" for o, p, s in samples)
        self.assertTrue(all(peer in self.honest for _, peer, _ in samples), report)
        self.assertLess(max(abs(o) for o, _, _ in samples), OFFSET_BOUND, report)
        self.assertIn(samples[-1][2], ("falseticker", "unfit"), report)
        self.assertEqual(self.metrics()["ntpservice_clock_steps_total"], 0)

    def test_negativeDelay(self) -> None:
        """
        The malicious server's replies claim a delay 100 ms below zero
        (and its time 50 ms ahead): they are rejected and counted under
        C{peer.negativedelay}; the system peer stays honest and the
        system offset within L{OFFSET_BOUND}.
        """
        self.fake.command(negativeDelay=0.1, offset=0.05)
        before = self.dropped("peer.negativedelay")
        self.assertTrue(waitFor(lambda: self.dropped("peer.negativedelay") - before >= 2, 30),
                        self.metrics())
        samples: list[tuple[float, str | None, str]] = []
        self.watch(3, samples)
        self.assertTrue(all(peer in self.honest for _, peer, _ in samples))
        self.assertLess(max(abs(o) for o, _, _ in samples), OFFSET_BOUND)
