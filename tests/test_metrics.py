# -*- test-case-name: tests.test_metrics -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.control.metrics}: the Prometheus endpoint.

The exposition is checked with a strict parser of the text format 0.0.4
written here (L{parseExposition}), rather than with C{prometheus_client}:
the parser rejects what Prometheus would reject (bad names, bad escapes,
a C{TYPE} after samples, interleaved families, duplicate series, negative
counters), and the test suite keeps no dependency beyond pytest and
hypothesis.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from ntpservice import config
from ntpservice.control.metrics import (
    CONTENT_TYPE,
    MetricFamily,
    MetricsCollector,
    MetricsResource,
    MetricsSite,
    formatFamilies,
    formatValue,
)
from ntpservice.core.counters import PacketCounters
from ntpservice.service import makeNTPService
from ntpservice.tap import Options
from tests.interop import peers

# -- a strict parser of the text format -------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_VALUE = r"(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|NaN|[+-]Inf)"
_SAMPLE = re.compile(rf"({_NAME})(?:\{{(.*)\}})? ({_VALUE})(?: (-?\d+))?\Z")
_LABEL = re.compile(rf'({_LABEL_NAME})="((?:[^"\\\n]|\\[\\"n])*)"(,|\Z)')
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ExpositionError(ValueError):
    """The text is not valid Prometheus text format."""


@dataclass
class Family:
    """A parsed metric family."""

    name: str
    type: str = "untyped"
    help: str | None = None
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def value(self, **labels: str) -> float:
        """The value of the one sample with exactly these labels."""
        found = [v for _, l, v in self.samples if l == labels]
        if len(found) != 1:
            raise KeyError(f"{self.name}{labels}: {len(found)} samples")
        return found[0]


def _unescape(text: str, escapes: dict[str, str]) -> str:
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in escapes:
                raise ExpositionError(f"bad escape in {text!r}")
            out.append(escapes[text[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _familyOf(name: str, families: dict[str, Family]) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and base in families and families[base].type in (
            "histogram",
            "summary",
        ):
            return base
    return name


def parseExposition(text: str) -> dict[str, Family]:
    """
    Parse the Prometheus text exposition format 0.0.4, strictly.

    @raise ExpositionError: on anything Prometheus would refuse.
    """
    if not text.endswith("\n"):
        raise ExpositionError("the exposition must end with a newline")
    families: dict[str, Family] = {}
    finished: set[str] = set()
    current: str | None = None
    series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for number, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {number}: {line!r}"
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not re.fullmatch(_NAME, name):
                    raise ExpositionError(f"bad metric name: {where}")
                family = families.setdefault(name, Family(name))
                if name in finished or family.samples:
                    raise ExpositionError(f"{parts[1]} after the samples: {where}")
                if parts[1] == "HELP":
                    if family.help is not None:
                        raise ExpositionError(f"second HELP: {where}")
                    family.help = _unescape(parts[3] if len(parts) > 3 else "", {"\\": "\\", "n": "\n"})
                else:
                    if len(parts) != 4 or parts[3] not in _TYPES:
                        raise ExpositionError(f"bad TYPE: {where}")
                    if name in {f for f in families if families[f].type != "untyped"}:
                        raise ExpositionError(f"second TYPE: {where}")
                    family.type = parts[3]
                if current is not None and current != name:
                    finished.add(current)
                current = name
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ExpositionError(f"bad sample: {where}")
        name, labelText, valueText = match.group(1), match.group(2), match.group(3)
        labels: dict[str, str] = {}
        if labelText:
            position = 0
            while position < len(labelText):
                label = _LABEL.match(labelText, position)
                if label is None:
                    raise ExpositionError(f"bad labels: {where}")
                key = label.group(1)
                if key.startswith("__") or key in labels:
                    raise ExpositionError(f"bad or repeated label {key!r}: {where}")
                labels[key] = _unescape(label.group(2), {"\\": "\\", '"': '"', "n": "\n"})
                position = label.end()
        familyName = _familyOf(name, families)
        if familyName in finished:
            raise ExpositionError(f"family {familyName} is not contiguous: {where}")
        if current is not None and current != familyName:
            finished.add(current)
        current = familyName
        family = families.setdefault(familyName, Family(familyName))
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise ExpositionError(f"duplicate series: {where}")
        series.add(key)
        value = float(valueText)
        if family.type == "counter":
            if math.isnan(value) or value < 0:
                raise ExpositionError(f"bad counter value: {where}")
            if not name.endswith("_total"):
                raise ExpositionError(f"counter not named _total: {where}")
        family.samples.append((name, labels, value))
    return families


class ParserTests(SynchronousTestCase):
    """
    The test parser refuses invalid expositions (so that passing it means
    something).
    """

    def test_refuses(self) -> None:
        """
        Bad names, escapes, values, ordering and duplicates are refused.
        """
        for text in [
            "a 1",
            "1a 1\n",
            'a{b="c} 1\n',
            'a{b="\\x"} 1\n',
            'a{__b="c"} 1\n',
            "a one\n",
            "a 1\nb 1\na 2\n",
            "a 1\na 1\n",
            "a 1\n# TYPE a gauge\n",
            "# TYPE a_total counter\na_total -1\n",
            "# TYPE a gauge\n# TYPE a gauge\n",
            "# TYPE a widget\n",
        ]:
            self.assertRaises(ExpositionError, parseExposition, text)

    def test_accepts(self) -> None:
        """
        A valid exposition parses into families with labels unescaped.
        """
        families = parseExposition(
            '# HELP a_total A \\\\ counter.\n# TYPE a_total counter\n'
            'a_total{x="1",y="q\\"\\n"} 3\na_total{x="2"} 1e-05\n'
            "# TYPE g gauge\ng NaN\ng{z=\"\"} -Inf\n"
        )
        self.assertEqual(families["a_total"].help, "A \\ counter.")
        self.assertEqual(families["a_total"].value(x="1", y='q"\n'), 3.0)
        self.assertTrue(math.isnan(families["g"].value()))


# -- formatting ---------------------------------------------------------------


class FormatTests(SynchronousTestCase):
    """
    Tests for the text format writer.
    """

    def test_values(self) -> None:
        """
        Values use Go's float syntax.
        """
        self.assertEqual(formatValue(3), "3")
        self.assertEqual(formatValue(True), "1")
        self.assertEqual(formatValue(1e-05), "1e-05")
        self.assertEqual(formatValue(float("nan")), "NaN")
        self.assertEqual(formatValue(float("inf")), "+Inf")
        self.assertEqual(formatValue(float("-inf")), "-Inf")

    def test_escaping(self) -> None:
        """
        Label values and help text are escaped.
        """
        family = MetricFamily("ntpservice_x", "gauge", "Help\nwith \\ newline.")
        family.add(1, address='fe80::1%eth0"\\\n')
        text = formatFamilies([family])
        self.assertEqual(
            text,
            "# HELP ntpservice_x Help\\nwith \\\\ newline.\n"
            "# TYPE ntpservice_x gauge\n"
            'ntpservice_x{address="fe80::1%eth0\\"\\\\\\n"} 1\n',
        )
        parsed = parseExposition(text)["ntpservice_x"]
        self.assertEqual(parsed.value(address='fe80::1%eth0"\\\n'), 1.0)
        self.assertEqual(parsed.help, "Help\nwith \\ newline.")


# -- the collector -------------------------------------------------------------


def simulatedDaemon(hours: float = 1.0) -> Any:
    """
    Our daemon synchronized, in the simulator, to three reference servers.
    """
    from ntpservice.sim.hosts import Simulation

    simulation = Simulation(7)
    for i, address in enumerate(("10.0.0.1", "10.0.0.2", "10.0.0.3")):
        simulation.addReferenceServer(address, offset=0.0002 * i)
    host = simulation.addHost("10.0.0.10", offset=0.02, freqPPM=-8.0)
    daemon = host.runDaemon(
        "server 10.0.0.1 iburst\nserver 10.0.0.2 iburst\nserver 10.0.0.3 iburst\n"
    )
    collector = MetricsCollector(daemon)
    daemon.addObserver(collector)
    simulation.run(hours * 3600)
    return daemon, collector


class CollectorTests(SynchronousTestCase):
    """
    Tests for L{MetricsCollector}.
    """

    def test_synchronizedDaemon(self) -> None:
        """
        A synchronized daemon's metrics are valid text format, with the
        system's state and one labelled series per association.
        """
        daemon, collector = simulatedDaemon()
        families = parseExposition(collector.render())
        for name, family in families.items():
            self.assertTrue(name.startswith("ntpservice_"), name)
            self.assertIn(family.type, ("gauge", "counter"), name)
            self.assertTrue(family.help, name)
        self.assertEqual(families["ntpservice_synchronized"].value(), 1.0)
        self.assertEqual(families["ntpservice_stratum"].value(), 2.0)
        self.assertEqual(families["ntpservice_leap_indicator"].value(), 0.0)
        self.assertLess(abs(families["ntpservice_offset_seconds"].value()), 0.001)
        self.assertLess(abs(families["ntpservice_frequency_ppm"].value() - 8.0), 1.0)
        self.assertGreater(families["ntpservice_jitter_seconds"].value(), 0.0)
        self.assertEqual(families["ntpservice_discipline_state"].value(state="SYNC"), 1.0)
        self.assertEqual(families["ntpservice_associations"].value(), 3.0)
        engine = daemon.engine
        for association in engine.associations:
            labels = {"associd": str(association.associd), "address": association.address}
            self.assertEqual(families["ntpservice_association_reach"].value(**labels), 255.0)
            self.assertEqual(families["ntpservice_association_reachable"].value(**labels), 1.0)
            self.assertAlmostEqual(
                families["ntpservice_association_offset_seconds"].value(**labels),
                association.offset,
            )
            self.assertGreater(families["ntpservice_association_delay_seconds"].value(**labels), 0)
            self.assertEqual(families["ntpservice_association_stratum"].value(**labels), 1.0)
        peer = engine.associations.byID[engine.systemPeer]
        self.assertEqual(
            families["ntpservice_association_selection"].value(
                associd=str(peer.associd), address=peer.address, status="sync"
            ),
            1.0,
        )
        received = families["ntpservice_packets_received_total"].value()
        self.assertGreater(received, 50)
        self.assertEqual(families["ntpservice_packets_processed_total"].value(), received)
        self.assertEqual(families["ntpservice_clock_steps_total"].value(), 0.0)
        self.assertGreaterEqual(families["ntpservice_system_peer_changes_total"].value(), 1.0)

    def test_counters(self) -> None:
        """
        The daemon's packet counters become counter families: drops by
        reason, authentication failures, KoD sent and received, send and
        clock errors, and anything else under C{other_events_total}.
        """
        daemon, collector = simulatedDaemon(0.01)
        counters: PacketCounters = daemon.counters
        for name, n in [
            ("malformed", 2),
            ("access.ratelimited", 3),
            ("access.kodsent", 3),
            ("peer.bogus", 1),
            ("auth.bad_mac", 4),
            ("send.nokey", 1),
            ("clock.error", 2),
            ("something.new", 5),
        ]:
            counters.count(name, n)
        collector.kissesReceived["RATE"] = 2
        collector.clockStepped(0.5)
        families = parseExposition(collector.render())
        dropped = families["ntpservice_packets_dropped_total"]
        self.assertEqual(dropped.type, "counter")
        self.assertEqual(dropped.value(reason="malformed"), 2.0)
        self.assertEqual(dropped.value(reason="access.ratelimited"), 3.0)
        self.assertEqual(dropped.value(reason="peer.bogus"), 1.0)
        self.assertEqual(families["ntpservice_kod_sent_total"].value(), 3.0)
        self.assertEqual(families["ntpservice_kod_received_total"].value(code="RATE"), 2.0)
        self.assertEqual(families["ntpservice_auth_failures_total"].value(reason="bad_mac"), 4.0)
        self.assertEqual(families["ntpservice_send_errors_total"].value(reason="nokey"), 1.0)
        self.assertEqual(families["ntpservice_clock_errors_total"].value(), 2.0)
        self.assertEqual(families["ntpservice_other_events_total"].value(name="something.new"), 5.0)
        self.assertEqual(families["ntpservice_clock_steps_total"].value(), 1.0)

    def test_kissCounted(self) -> None:
        """
        The collector counts kiss-o'-death packets by code as the daemon
        reports them.
        """
        collector = MetricsCollector(None)
        kiss = type("Result", (), {"kissCode": "DENY"})()
        plain = type("Result", (), {"kissCode": None})()
        collector.peerPacket(None, None, kiss, None, None, None)
        collector.peerPacket(None, None, plain, None, None, None)
        self.assertEqual(collector.kissesReceived, {"DENY": 1})

    def test_resource(self) -> None:
        """
        C{GET /metrics} answers with the text format's content type and the
        collector's exposition; C{/} points there; other paths are 404.
        """
        daemon, collector = simulatedDaemon(0.01)
        resource = MetricsResource(collector)
        request = DummyRequest([b""])
        body = resource.render_GET(request)
        self.assertEqual(request.responseHeaders.getRawHeaders(b"Content-Type"), [CONTENT_TYPE])
        parseExposition(body.decode("utf-8"))
        site = MetricsSite(collector)
        self.assertIsInstance(site.resource.getChildWithDefault(b"metrics", request), MetricsResource)
        self.assertIs(site.resource.getChildWithDefault(b"", request), site.resource)
        missing = DummyRequest([b"other"])
        site.resource.getChildWithDefault(b"other", missing).render(missing)
        self.assertEqual(missing.responseCode, 404)


# -- options and service ----------------------------------------------------------


def parse(text: str) -> config.Configuration:
    return config.parseString(text, "test.conf")


class ServiceMetricsTests(SynchronousTestCase):
    """
    The service binds the metrics endpoint when asked, on loopback by
    default.
    """

    def test_options(self) -> None:
        """
        C{--metrics-port} turns the endpoint on; C{--metrics-address}
        defaults to 127.0.0.1 and must be an address.
        """
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "ntp.conf")
        with open(path, "w") as f:
            f.write("")
        options = Options()
        options.parseOptions(["-c", path])
        self.assertIsNone(options["metrics-port"])
        self.assertEqual(options["metrics-address"], "127.0.0.1")
        options = Options()
        options.parseOptions(["-c", path, "--metrics-port", "9123", "--metrics-address", "::1"])
        self.assertEqual((options["metrics-port"], options["metrics-address"]), (9123, "::1"))
        from twisted.python.usage import UsageError

        self.assertRaises(
            UsageError, Options().parseOptions, ["-c", path, "--metrics-port", "x"]
        )
        self.assertRaises(
            UsageError, Options().parseOptions, ["-c", path, "--metrics-port", "70000"]
        )
        self.assertRaises(
            UsageError,
            Options().parseOptions,
            ["-c", path, "--metrics-port", "1", "--metrics-address", "localhost"],
        )

    def startService(self, **kw: Any) -> Any:
        reactor = MemoryReactorClock()
        service = makeNTPService(
            parse(""), port=0, interfaces=("127.0.0.1",), reactor=reactor,
            clockAdjust=False, **kw
        )
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        return service, reactor

    def test_offByDefault(self) -> None:
        """
        Without a metrics port nothing listens on TCP.
        """
        service, reactor = self.startService()
        self.assertIsNone(service.metrics)
        self.assertEqual(reactor.tcpServers, [])

    def test_loopbackByDefault(self) -> None:
        """
        With a metrics port the site listens there, on 127.0.0.1 unless
        another address is given, and observes the daemon.
        """
        service, reactor = self.startService(metricsPort=9123)
        [(port, factory, backlog, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (9123, "127.0.0.1"))
        self.assertIsInstance(factory, MetricsSite)
        self.assertIn(service.metrics, service.daemon._observers)
        service.stopService()
        self.assertNotIn(service.metrics, service.daemon._observers)
        service, reactor = self.startService(metricsPort=0, metricsAddress="::1")
        self.assertEqual(reactor.tcpServers[0][3], "::1")


class RunningDaemonTests(SynchronousTestCase):
    """
    The real daemon, started under twistd, serves its metrics over HTTP.
    """

    def test_httpGet(self) -> None:
        """
        An HTTP GET of C{/metrics} on the running daemon's loopback port
        returns valid text format with the daemon's metrics.
        """
        peers.requireBinary("setpriv")
        workdir = tempfile.mkdtemp(prefix="metrics-")
        self.addCleanup(shutil.rmtree, workdir, True)
        ntpPort = peers.freePort()
        metricsPort = _freeTCPPort()
        daemon = peers.startNtpservice(
            workdir,
            config=f"driftfile {os.path.join(workdir, 'ntp.drift')}\n"
            "server 127.127.1.0\nfudge 127.127.1.0 stratum 5\n",
            port=ntpPort,
            extraArgs=["--metrics-port", str(metricsPort)],
        )
        self.addCleanup(daemon.stop)
        daemon.waitForOutput(r"Serving Prometheus metrics on http://127\.0\.0\.1:\d+/metrics")
        # The LOCAL clock is selected within seconds of the start (its start
        # burst).
        daemon.waitForOutput(r"Clock synchronized to LOCAL\(0\)", timeout=30)
        url = f"http://127.0.0.1:{metricsPort}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            self.assertEqual(response.status, 200)
            contentType = response.headers["Content-Type"]
            body = response.read().decode("utf-8")
        self.assertEqual(contentType, CONTENT_TYPE.decode("ascii"))
        families = parseExposition(body)
        self.assertEqual(families["ntpservice_synchronized"].value(), 1.0)
        self.assertEqual(families["ntpservice_stratum"].value(), 6.0)
        self.assertGreaterEqual(families["ntpservice_packets_received_total"].value(), 1.0)
        self.assertGreaterEqual(families["ntpservice_packets_sent_total"].value(), 1.0)


def _freeTCPPort() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
