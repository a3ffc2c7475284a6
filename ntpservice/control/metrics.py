# -*- test-case-name: tests.test_metrics -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
A Prometheus metrics endpoint: C{GET /metrics} in the text exposition
format 0.0.4, served with C{twisted.web}.

Off by default; C{twistd ntp --metrics-port PORT} turns it on, bound to
C{--metrics-address} (C{127.0.0.1} unless told otherwise: the endpoint has
no authentication). Every metric is named C{ntpservice_...}:

  - the system: C{synchronized}, C{stratum}, C{leap_indicator},
    C{offset_seconds}, C{jitter_seconds} (clock jitter),
    C{system_jitter_seconds}, C{frequency_ppm}, C{wander_ppm},
    C{poll_interval_seconds}, C{root_delay_seconds},
    C{root_dispersion_seconds}, C{discipline_state{state}},
    C{associations}, C{clock_steps_total}, C{system_peer_changes_total};
  - each association, labelled C{associd} and C{address}: C{reach} (the
    8-bit register), C{reachable}, C{offset_seconds}, C{delay_seconds},
    C{dispersion_seconds}, C{jitter_seconds}, C{stratum},
    C{poll_interval_seconds}, C{selection{status}}, C{packets_sent_total},
    C{packets_received_total} (all prefixed C{ntpservice_association_});
  - the packet counters (L{ntpservice.core.counters}):
    C{packets_received_total}, C{packets_sent_total},
    C{packets_processed_total}, C{packets_dropped_total{reason}},
    C{auth_failures_total{reason}}, C{kod_sent_total},
    C{kod_received_total{code}}, C{send_errors_total{reason}},
    C{clock_errors_total}, and C{other_events_total{name}} for any counter
    not in those families. A C{reason} is the daemon's counter name
    (C{malformed}, C{access.ratelimited}, C{peer.bogus}, ...).

Values are read when the endpoint is scraped; nothing is computed between
scrapes except the few counters the collector observes (steps, KoD
received, system peer changes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from zope.interface import implementer

from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import Site

import ntpservice
from ntpservice.core.snapshot import peerSnapshot, systemSnapshot
from ntpservice.interfaces import IDaemonObserver

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
"""The Content-Type of the text exposition format."""

PREFIX = "ntpservice_"

DEFAULT_ADDRESS = "127.0.0.1"
"""Where the endpoint listens unless C{--metrics-address} says otherwise."""

_DROPPED_EXACT = frozenset({"malformed", "nohandler", "badversion", "notunicast", "interfacedrop"})


@dataclass(frozen=True, slots=True)
class Sample:
    """
    One sample of a metric family.

    @ivar labels: C{(name, value)} pairs, in output order.
    @ivar value: the value.
    @ivar suffix: appended to the family name (none for gauges and
        counters, whose names are complete).
    """

    labels: tuple[tuple[str, str], ...]
    value: float | int
    suffix: str = ""


@dataclass(slots=True)
class MetricFamily:
    """
    A metric family: a name, its C{TYPE}, its C{HELP} and its samples.

    @ivar name: the full name (C{ntpservice_...}); counters end in
        C{_total}.
    @ivar type: C{gauge} or C{counter}.
    @ivar help: one line of text.
    """

    name: str
    type: str
    help: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float | int, **labels: str | int) -> None:
        """Add a sample with these labels (in keyword order)."""
        self.samples.append(
            Sample(tuple((k, str(v)) for k, v in labels.items()), value)
        )


def formatValue(value: float | int) -> str:
    """
    A sample value as the text format writes it (Go's C{ParseFloat}
    syntax: C{NaN}, C{+Inf}, C{-Inf}).
    """
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def escapeLabelValue(value: str) -> str:
    """Escape a label value: backslash, double quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escapeHelp(text: str) -> str:
    """Escape C{HELP} text: backslash and newline."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def formatFamilies(families: Iterable[MetricFamily]) -> str:
    """
    The text exposition format (version 0.0.4) of some metric families:
    C{# HELP} and C{# TYPE} lines, then the samples, family by family.
    """
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {escapeHelp(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for sample in family.samples:
            name = family.name + sample.suffix
            if sample.labels:
                labels = ",".join(
                    f'{key}="{escapeLabelValue(value)}"' for key, value in sample.labels
                )
                name = f"{name}{{{labels}}}"
            lines.append(f"{name} {formatValue(sample.value)}")
    return "\n".join(lines) + "\n"


@implementer(IDaemonObserver)
class MetricsCollector:
    """
    Reads a daemon's state into metric families; also a daemon observer
    (see L{NTPDaemon.addObserver<ntpservice.daemon.NTPDaemon.addObserver>})
    for the few events it counts itself. What it shows of the system and
    of each association's status comes from the daemon's one snapshot
    (L{ntpservice.core.snapshot}), as mode 6 and C{peerstats} show it.

    @ivar daemon: the L{NTPDaemon<ntpservice.daemon.NTPDaemon>}.
    @ivar steps: clock steps since start.
    @ivar peerChanges: system peer changes since start.
    @ivar kissesReceived: kiss-o'-death packets received, by kiss code.
    """

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        self.steps = 0
        self.peerChanges = 0
        self.kissesReceived: dict[str, int] = {}

    # -- observer events -------------------------------------------------

    def clockStepped(self, offset: float) -> None:
        self.steps += 1

    def systemPeerChanged(self, associd: int | None, address: str | None) -> None:
        self.peerChanges += 1

    def peerPacket(
        self, association: Any, packet: Any, result: Any, t1: Any, t4: Any, datagram: Any
    ) -> None:
        code = result.kissCode
        if code is not None:
            self.kissesReceived[code] = self.kissesReceived.get(code, 0) + 1

    # -- collection --------------------------------------------------------

    def collect(self) -> list[MetricFamily]:
        """
        Every metric family, read now.
        """
        families: list[MetricFamily] = []
        families.extend(self._system())
        families.extend(self._associations())
        families.extend(self._counters())
        return families

    def render(self) -> str:
        """The text exposition of L{collect}."""
        return formatFamilies(self.collect())

    def _system(self) -> list[MetricFamily]:
        daemon = self.daemon
        engine = daemon.engine
        nowNs = int(daemon.clock.now())
        snapshot = systemSnapshot(engine, daemon.events, nowNs)
        m = snapshot.measurements
        assert m is not None

        def gauge(name: str, help: str, value: float | int) -> MetricFamily:
            family = MetricFamily(PREFIX + name, "gauge", help)
            family.add(value)
            return family

        def counter(name: str, help: str, value: int) -> MetricFamily:
            family = MetricFamily(PREFIX + name, "counter", help)
            family.add(value)
            return family

        info = MetricFamily(PREFIX + "build_info", "gauge", "The ntpservice version.")
        info.add(1, version=ntpservice.__version__)
        state = MetricFamily(
            PREFIX + "discipline_state",
            "gauge",
            "The clock discipline state (NSET, FSET, FREQ, SYNC, SPIK): 1 for the current one.",
        )
        state.add(1, state=m.state)
        return [
            info,
            gauge(
                "synchronized",
                "1 when the clock is synchronized to a source (a system peer, the LOCAL clock's association included), else 0.",
                1 if snapshot.synchronized else 0,
            ),
            gauge("stratum", "The system stratum (16: unsynchronized).", min(m.stratum, 16)),
            gauge(
                "leap_indicator",
                "The leap indicator served (0 none, 1 insert, 2 delete, 3 unsynchronized).",
                snapshot.leap,
            ),
            gauge(
                "offset_seconds",
                "The last clock offset the discipline accepted, seconds.",
                float(m.offset),
            ),
            gauge(
                "jitter_seconds",
                "The RMS clock jitter, seconds (ntpq clk_jitter).",
                float(m.clockJitter),
            ),
            gauge(
                "system_jitter_seconds",
                "The system jitter of the last selection, seconds (ntpq sys_jitter).",
                float(m.systemJitter),
            ),
            gauge(
                "frequency_ppm",
                "The frequency correction, parts per million (ntpq frequency).",
                float(m.frequencyPPM),
            ),
            gauge(
                "wander_ppm",
                "The RMS frequency wander, parts per million (ntpq clk_wander).",
                float(m.wander),
            ),
            gauge(
                "poll_interval_seconds",
                "The system poll interval, seconds.",
                2.0**m.pollLog2,
            ),
            gauge(
                "root_delay_seconds",
                "The root delay served, seconds.",
                float(m.rootDelay),
            ),
            gauge(
                "root_dispersion_seconds",
                "The root dispersion served now, seconds.",
                float(m.rootDispersion),
            ),
            state,
            gauge(
                "associations",
                "Associations (servers polled).",
                len(engine.associations),
            ),
            counter("clock_steps_total", "Clock steps since start.", self.steps),
            counter(
                "system_peer_changes_total",
                "Changes of the system peer since start (including to none).",
                self.peerChanges,
            ),
        ]

    def _associations(self) -> list[MetricFamily]:
        engine = self.daemon.engine
        now = int(self.daemon.clock.now()) / 1e9
        specs: Sequence[tuple[str, str, str]] = (
            ("reach", "gauge", "The 8-bit reach register (377 octal: the last 8 polls answered)."),
            ("reachable", "gauge", "1 when any of the last 8 polls was answered."),
            ("offset_seconds", "gauge", "The peer offset (clock filter), seconds."),
            ("delay_seconds", "gauge", "The peer round-trip delay (clock filter), seconds."),
            ("dispersion_seconds", "gauge", "The peer dispersion now, seconds."),
            ("jitter_seconds", "gauge", "The peer jitter, seconds."),
            ("stratum", "gauge", "The server's stratum (16: unsynchronized or unknown)."),
            ("poll_interval_seconds", "gauge", "The association's poll interval, seconds."),
            (
                "selection",
                "gauge",
                "The association's status in the last selection: 1 for the current one "
                "(sync, candidate, outlier, excess, falseticker, unfit, none).",
            ),
            ("packets_sent_total", "counter", "Requests sent to the server."),
            ("packets_received_total", "counter", "Packets received from the server."),
        )
        families = {
            name: MetricFamily(PREFIX + "association_" + name, kind, help)
            for name, kind, help in specs
        }
        for association in sorted(engine.associations, key=lambda a: a.associd):
            labels = {"associd": str(association.associd), "address": association.address}
            snapshot = peerSnapshot(engine, association, self.daemon.events, now)
            m = snapshot.measurements
            assert m is not None
            status = snapshot.selection or "none"
            values: dict[str, float | int] = {
                "reach": snapshot.reach,
                "reachable": 1 if snapshot.reachable else 0,
                "offset_seconds": float(m.offset),
                "delay_seconds": float(m.delay),
                "dispersion_seconds": float(m.dispersion),
                "jitter_seconds": float(m.jitter),
                "stratum": min(m.stratum, 16),
                "poll_interval_seconds": 2.0**m.hpoll,
                "selection": 1,
                "packets_sent_total": m.sent,
                "packets_received_total": m.received,
            }
            for name, value in values.items():
                if name == "selection":
                    families[name].add(value, **labels, status=status)
                else:
                    families[name].add(value, **labels)
        return list(families.values())

    def _counters(self) -> list[MetricFamily]:
        counts = self.daemon.counters.snapshot()

        def family(name: str, kind: str, help: str) -> MetricFamily:
            return MetricFamily(PREFIX + name, kind, help)

        received = family("packets_received_total", "counter", "Datagrams received.")
        sent = family("packets_sent_total", "counter", "Datagrams sent (replies and requests).")
        processed = family(
            "packets_processed_total",
            "counter",
            "Packets from servers that passed an association's checks.",
        )
        dropped = family(
            "packets_dropped_total",
            "counter",
            "Packets not served or not used, by reason (the daemon's counter name); "
            "access.ratelimited ones may have been answered with a kiss-o'-death.",
        )
        auth = family(
            "auth_failures_total",
            "counter",
            "Client requests whose MAC did not verify, by status (answered with a "
            "crypto-NAK unless access control dropped them).",
        )
        kodSent = family("kod_sent_total", "counter", "Kiss-o'-death packets sent.")
        kodReceived = family(
            "kod_received_total", "counter", "Kiss-o'-death packets received from servers, by code."
        )
        sendErrors = family(
            "send_errors_total", "counter", "Requests that could not be sent, by reason."
        )
        clockErrors = family(
            "clock_errors_total", "counter", "Corrections the clock driver refused."
        )
        other = family("other_events_total", "counter", "Other daemon counters, by name.")
        received.add(counts.get("received", 0))
        sent.add(counts.get("sent", 0))
        processed.add(counts.get("processed", 0))
        kodSent.add(counts.get("access.kodsent", 0))
        clockErrors.add(counts.get("clock.error", 0))
        for code, n in sorted(self.kissesReceived.items()):
            kodReceived.add(n, code=code)
        for name in sorted(counts):
            value = counts[name]
            if name in ("received", "sent", "processed", "access.kodsent", "clock.error"):
                continue
            if name in _DROPPED_EXACT or name.startswith(("access.", "peer.")):
                dropped.add(value, reason=name)
            elif name.startswith("auth."):
                auth.add(value, reason=name[len("auth.") :])
            elif name.startswith("send."):
                sendErrors.add(value, reason=name[len("send.") :])
            else:
                other.add(value, name=name)
        return [
            received,
            sent,
            processed,
            dropped,
            auth,
            kodSent,
            kodReceived,
            sendErrors,
            clockErrors,
            other,
        ]


class MetricsResource(Resource):
    """
    C{/metrics}: the text exposition of a L{MetricsCollector}.
    """

    isLeaf = True

    def __init__(self, collector: MetricsCollector) -> None:
        super().__init__()
        self.collector = collector

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE)
        request.setHeader(b"Cache-Control", b"no-store")
        return self.collector.render().encode("utf-8")


class _Root(Resource):
    """C{/}: a pointer to C{/metrics}."""

    def getChild(self, path: bytes, request: Any) -> IResource:
        if path == b"":
            return self
        return notFound()

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"ntpservice: metrics are at /metrics\n"


class MetricsSite(Site):
    """
    The metrics web site: C{/metrics}, and C{/} pointing to it. Requests
    are not logged (a scrape every few seconds would fill the log).
    """

    noisy = False

    def __init__(self, collector: MetricsCollector) -> None:
        root = _Root()
        root.putChild(b"metrics", MetricsResource(collector))
        super().__init__(root)

    def log(self, request: Any) -> None:
        pass


def listenMetrics(
    reactor: Any, port: int, collector: MetricsCollector, address: str = DEFAULT_ADDRESS
) -> Any:
    """
    Serve the metrics of C{collector} over HTTP.

    @param port: the TCP port (0: any free port).
    @param address: the local address to bind.
    @return: the listening port (C{stopListening} ends it).
    @raise twisted.internet.error.CannotListenError: if it cannot be bound.
    """
    return reactor.listenTCP(port, MetricsSite(collector), interface=address)
