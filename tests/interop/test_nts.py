# -*- test-case-name: tests.interop.test_nts -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Network Time Security (RFC 8915) judged by real peers, with a throw-away CA
made by the test (L{tests.nts.certs}): chronyd and NTPsec's ntpd as NTS
clients of our server (NTS-KE and NTP), tshark decoding our NTS
extension fields, and our NTS-KE listener following the C{interface}
rules in namespaces.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.nts import protocol as P
from tests.interop import peers
from tests.nts.certs import makeCA, makeServer

pytestmark = pytest.mark.interop

LOCAL = "server 127.127.1.0\nfudge 127.127.1.0 stratum 1\n"


def socketDirectory(workdir: str) -> str:
    """
    A short directory (mode 0700) for chronyc's Unix socket, whose path must
    fit in 108 bytes, linked from C{workdir/csock}; removed with the test's
    files by L{removeSocketDirectory}.
    """
    link = os.path.join(workdir, "csock")
    if not os.path.islink(link):
        os.symlink(tempfile.mkdtemp(prefix="nts-"), link)
    return os.path.realpath(link)


def removeSocketDirectory(workdir: str) -> None:
    """
    Remove the directory of L{socketDirectory}.
    """
    link = os.path.join(workdir, "csock")
    if os.path.islink(link):
        shutil.rmtree(os.path.realpath(link), ignore_errors=True)


def chronyc(workdir: str, *args: str, netns: peers.NetNamespace | None = None) -> str:
    """
    Run chronyc against the client chronyd of L{startChronydClient}.
    """
    return peers.runCommand(
        [peers.requireBinary("chronyc"), "-h",
         os.path.join(socketDirectory(workdir), "chronyd.sock"), "-n", *args],
        netns=netns, timeout=30, check=False,
    ).stdout


def startChronydClient(
    workdir: str, serverLine: str, ca: str, netns: peers.NetNamespace | None = None,
    name: str = "chronyd-client",
) -> peers.DaemonProcess:
    """
    chronyd as an NTS client (C{-x}, no clock control, no NTP port), its
    cookies saved in C{workdir/cdump} (C{ntsdumpdir}).
    """
    chronyd = peers.requireBinary("chronyd")
    sock = socketDirectory(workdir)
    os.chmod(sock, 0o700)
    os.makedirs(os.path.join(workdir, "cdump"), exist_ok=True)
    conf = os.path.join(workdir, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(
            f"{serverLine}\n"
            f"ntstrustedcerts {ca}\n"
            f"ntsdumpdir {workdir}/cdump\n"
            "port 0\ncmdport 0\n"
            f"bindcmdaddress {sock}/chronyd.sock\n"
            f"pidfile {workdir}/{name}.pid\n"
        )
    return peers.startDaemon([chronyd, "-x", "-u", "root", "-d", "-f", conf], workdir, name,
                             netns)


def authdata(workdir: str, netns: peers.NetNamespace | None = None) -> dict[str, str]:
    """
    The first row of C{chronyc authdata}, by column.
    """
    output = chronyc(workdir, "authdata", netns=netns)
    lines = output.splitlines()
    header = next((line for line in lines if line.startswith("Name/IP")), None)
    if header is None:
        return {}
    rows = [line for line in lines[lines.index(header) + 2 :] if line.strip()]
    if not rows:
        return {}
    return dict(zip(header.split()[1:], rows[0].split()))


def ntpdata(workdir: str, netns: peers.NetNamespace | None = None) -> dict[str, str]:
    """
    C{chronyc ntpdata}, by field.
    """
    fields = {}
    for line in chronyc(workdir, "ntpdata", netns=netns).splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return fields


def waitFor(predicate, timeout: float = 60.0, interval: float = 0.5):  # type: ignore[no-untyped-def]
    """
    Call C{predicate} until it returns something true, for at most
    C{timeout} seconds; return its last result.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def ntsServerConfig(workdir: str, cert: str, key: str, kePort: int | None = None) -> str:
    """
    Our configuration as an NTS server synchronized to its LOCAL clock.
    """
    lines = [
        LOCAL.rstrip("\n"),
        f"driftfile {workdir}/ntp.drift",
        f"nts enable cert {cert} key {key}",
        f"nts cookie {workdir}/nts-keys",
    ]
    if kePort is not None:
        lines.append(f"nts port {kePort}")
    return "\n".join(lines) + "\n"


def ntsCounters(output: str) -> dict[str, int]:
    """
    The counters of C{ntpq -c ntsinfo}, by label.
    """
    counters = {}
    for line in output.splitlines():
        label, _, value = line.rpartition(":")
        if value.strip().isdigit():
            counters[label.strip()] = int(value)
    return counters


class ChronydClientOfOursTests(SynchronousTestCase):
    """
    chronyd 4.3 as an NTS client of our server, on loopback.
    """

    def setUp(self) -> None:
        peers.requireBinary("chronyd")
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.addCleanup(removeSocketDirectory, self.workdir)
        ca = makeCA(self.workdir)
        self.ca = ca[0].cert
        self.server = makeServer(self.workdir, ca, ("nts.test",), ("127.0.0.1",))
        self.port = peers.freePort()
        self.kePort = peers.freePort()
        self.config = ntsServerConfig(self.workdir, self.server.cert, self.server.key,
                                      self.kePort)

    def startOurs(self) -> peers.DaemonProcess:
        return peers.startNtpservice(self.workdir, self.config, port=self.port,
                                     synchronised=True)

    def waitAuthenticated(self) -> tuple[dict[str, str], dict[str, str]]:
        def ready():  # type: ignore[no-untyped-def]
            data = ntpdata(self.workdir)
            if data.get("Authenticated") == "Yes" and int(data.get("Total good RX", "0")) >= 2:
                return data
            return None

        data = waitFor(ready)
        return authdata(self.workdir), data or ntpdata(self.workdir)

    def test_authenticatedWithCookies(self) -> None:
        """
        chronyd gets eight cookies by NTS-KE, then authenticated replies that
        keep its cookie jar full, and selects our server.
        """
        serverLine = (f"server 127.0.0.1 port {self.port} nts ntsport {self.kePort} "
                      "iburst minpoll 0 maxpoll 0")
        with self.startOurs() as ours, startChronydClient(self.workdir, serverLine, self.ca):
            auth, data = self.waitAuthenticated()
            output = ours.output()
        self.assertEqual(auth.get("Mode"), "NTS", auth)
        self.assertEqual(auth.get("Cook"), "8", auth)
        self.assertEqual(auth.get("NAK"), "0", auth)
        self.assertEqual(data.get("Authenticated"), "Yes", data)
        self.assertIn("NTS-KE server listening", output)

    def test_cookiesSurviveRestart(self) -> None:
        """
        After our server restarts, chronyd's cookies (sealed with a master
        key saved in the key file) still open: its replies stay
        authenticated without a new NTS-KE and without any NAK.
        """
        serverLine = (f"server 127.0.0.1 port {self.port} nts ntsport {self.kePort} "
                      "iburst minpoll 0 maxpoll 0")
        with startChronydClient(self.workdir, serverLine, self.ca):
            with self.startOurs():
                before, _ = self.waitAuthenticated()
            self.assertEqual(before.get("Cook"), "8", before)
            keyFile = os.path.join(self.workdir, "nts-keys")
            self.assertEqual(os.stat(keyFile).st_mode & 0o777, 0o600)
            received = int(ntpdata(self.workdir).get("Total good RX", "0"))
            with self.startOurs():
                def more():  # type: ignore[no-untyped-def]
                    data = ntpdata(self.workdir)
                    return int(data.get("Total good RX", "0")) >= received + 4 and data
                data = waitFor(more)
                after = authdata(self.workdir)
        self.assertTrue(data, "no authenticated replies after the restart")
        self.assertEqual(data.get("Authenticated"), "Yes", data)
        self.assertEqual(after.get("NAK"), "0", after)
        # No new NTS-KE: the last exchange is as old as the first run.
        self.assertGreaterEqual(int(after["Last"]), int(before["Last"]), (before, after))


    def test_tsharkDecodesKE(self) -> None:
        """
        tshark, given the TLS secrets our server logs when C{SSLKEYLOGFILE}
        is set, decrypts chronyd's NTS-KE with our server without a warning:
        TLS 1.3, ALPN C{ntske/1}; the decrypted request and response are
        well-formed NTS-KE messages (NTPv4, AES-SIV-CMAC-256, eight
        cookies, End of Message).
        """
        tshark = peers.requireBinary("tshark")
        keylog = os.path.join(self.workdir, "keylog")
        os.environ["SSLKEYLOGFILE"] = keylog
        try:
            ours = self.startOurs()
        finally:
            del os.environ["SSLKEYLOGFILE"]
        pcap = os.path.join(self.workdir, "ke.pcapng")
        errors = os.path.join(self.workdir, "ke.tshark.err")
        with open(errors, "wb") as err:
            capture = subprocess.Popen(
                [tshark, "-n", "-q", "-i", "lo", "-f", f"tcp port {self.kePort}", "-w", pcap,
                 "-a", "duration:120"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True,
            )
        try:
            self.assertTrue(waitFor(lambda: "Capturing on" in peers._readText(errors)
                                    and os.path.exists(pcap), timeout=20))
            serverLine = (f"server 127.0.0.1 port {self.port} nts ntsport {self.kePort} "
                          "iburst minpoll 0 maxpoll 0")
            with ours, startChronydClient(self.workdir, serverLine, self.ca):
                self.waitAuthenticated()
            time.sleep(0.6)
        finally:
            capture.terminate()
            capture.wait(20)
        result = peers.runCommand(
            [tshark, "-n", "-r", pcap, "-o", f"tls.keylog_file:{keylog}",
             "-d", f"tcp.port=={self.kePort},tls", "-T", "fields", "-E", "separator=|",
             "-e", "tcp.srcport", "-e", "tls.handshake.extensions_alpn_str",
             "-e", "tls.handshake.extensions.supported_version",
             "-e", "data.data", "-e", "_ws.expert.severity"],
            timeout=120,
        )
        rows = [line.split("|") for line in result.stdout.splitlines()]
        # Expert items: chats and notes (a FIN, ...) are fine; no warning
        # (0x600000) or error (0x800000).
        problems = [r for r in rows
                    if any(int(v) >= 0x600000 for v in r[4].split(",") if v)]
        self.assertEqual(problems, [], result.stdout)
        self.assertIn("ntske/1", result.stdout)
        self.assertIn("0x0304", result.stdout)
        fromServer = b"".join(bytes.fromhex(d.replace(",", "")) for r in rows
                              if r[0] == str(self.kePort) for d in [r[3]] if d)
        fromClient = b"".join(bytes.fromhex(d.replace(",", "")) for r in rows
                              if r[0] != str(self.kePort) for d in [r[3]] if d)
        request, complete, _ = P.splitRecords(fromClient)
        self.assertTrue(complete, fromClient)
        self.assertEqual(request[0].recordType, P.RECORD_NEXT_PROTOCOL)
        response, complete, _ = P.splitRecords(fromServer)
        self.assertTrue(complete, fromServer)
        kinds = [r.recordType for r in response]
        self.assertEqual(kinds[:2], [P.RECORD_NEXT_PROTOCOL, P.RECORD_AEAD])
        self.assertEqual(response[1].uint16s(), [15])
        self.assertEqual(kinds.count(P.RECORD_COOKIE), 8)
        self.assertEqual(kinds[-1], P.RECORD_END)

    def test_forgedAndUnknownCookies(self) -> None:
        """
        Our server answers a genuine NTS request with an authenticated
        reply; drops a request whose authenticator was tampered with (no
        answer at all); answers a request whose cookie it cannot open with
        an unauthenticated NTS NAK echoing the identifier. The client
        refuses the same genuine reply a second time (a replay).
        """
        import socket

        from twisted.internet import defer

        from ntpservice.core.packet import MODE_CLIENT, NTPPacket
        from ntpservice.nts.client import NTSClientSession
        from tests.nts.kehelper import keExchange

        with self.startOurs():
            result = keExchange(self.kePort, self.ca)
            session = NTSClientSession("127.0.0.1", None, lambda *a: defer.succeed(result))
            session.start(lambda s: None)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(sock.close)
            sock.settimeout(2.0)
            sock.connect(("127.0.0.1", self.port))

            def ask(data: bytes) -> bytes | None:
                sock.send(data)
                try:
                    return sock.recv(2048)
                except socket.timeout:
                    return None

            header = NTPPacket(mode=MODE_CLIENT, xmt=NTPPacket().xmt).encode()
            genuine = session.sign(header)
            assert genuine is not None
            reply = ask(genuine)
            assert reply is not None
            self.assertLessEqual(len(reply), len(genuine))
            self.assertTrue(session.verify(reply, NTPPacket.decode(reply)))
            self.assertFalse(session.verify(reply, NTPPacket.decode(reply)))

            tampered = session.sign(header)
            assert tampered is not None
            tampered = tampered[:-1] + bytes([tampered[-1] ^ 1])
            self.assertIsNone(ask(tampered))

            unknown = session.sign(header)
            assert unknown is not None
            packet = NTPPacket.decode(unknown)
            cookie = packet.extensions[1]
            offset = 48 + packet.extensions[0].length + 8
            unknown = unknown[:offset] + bytes([unknown[offset] ^ 1]) + unknown[offset + 1 :]
            nak = ask(unknown)
            assert nak is not None
            nakPacket = NTPPacket.decode(nak)
            self.assertEqual(nakPacket.kissCode, "NTSN")
            self.assertEqual(nakPacket.extensions[0].value, packet.extensions[0].value)
            self.assertEqual(len(nakPacket.extensions), 1)
            self.assertEqual(cookie.fieldType, P.EF_COOKIE)

    def test_rotation(self) -> None:
        """
        With master keys rotated every 2 s and 100 kept, chronyd's cookies
        made under older keys keep working: its replies stay authenticated
        across many rotations without a NAK or a new NTS-KE.
        """
        self.config += "nts rotate 2\nnts keep 100\n"
        serverLine = (f"server 127.0.0.1 port {self.port} nts ntsport {self.kePort} "
                      "iburst minpoll 0 maxpoll 0")
        with self.startOurs(), startChronydClient(self.workdir, serverLine, self.ca):
            before, _ = self.waitAuthenticated()
            received = int(ntpdata(self.workdir).get("Total good RX", "0"))

            def rotated():  # type: ignore[no-untyped-def]
                with open(os.path.join(self.workdir, "nts-keys")) as f:
                    return len(f.read().splitlines()) >= 6
            self.assertTrue(waitFor(rotated, timeout=60))
            data = waitFor(lambda: int(ntpdata(self.workdir).get("Total good RX", "0"))
                           >= received + 4 and ntpdata(self.workdir))
            after = authdata(self.workdir)
        self.assertTrue(data)
        self.assertEqual(data.get("Authenticated"), "Yes", data)
        self.assertEqual(after.get("NAK"), "0", after)
        self.assertGreaterEqual(int(after["Last"]), int(before["Last"]), (before, after))

    def test_agedOutCookiesNAK(self) -> None:
        """
        With one master key kept, rotated every 20 s, chronyd's cookies of
        the old key age out at a rotation: our server answers them with an
        NTS NAK, which chronyd accepts (it counts it) and answers with a new
        NTS-KE, after which its replies are authenticated again.
        """
        self.config += "nts rotate 20\nnts keep 1\n"
        serverLine = (f"server 127.0.0.1 port {self.port} nts ntsport {self.kePort} "
                      "iburst minpoll -2 maxpoll -2")
        with self.startOurs() as ours, startChronydClient(self.workdir, serverLine,
                                                          self.ca):
            self.waitAuthenticated()
            after = waitFor(lambda: (lambda a: a if int(a.get("NAK", "0")) >= 1 else None)(
                authdata(self.workdir)), timeout=60)
            received = int(ntpdata(self.workdir).get("Total good RX", "0"))

            def authenticatedAgain():  # type: ignore[no-untyped-def]
                data = ntpdata(self.workdir)
                if (data.get("Authenticated") == "Yes"
                        and int(data.get("Total good RX", "0")) >= received + 3):
                    return data
                return None

            data = waitFor(authenticatedAgain, timeout=30)
            log = ours.output()
        self.assertTrue(after, log)
        self.assertTrue(data, log)
        self.assertIn("NTS master key rotated", log)


class NtpsecClientOfOursTests(SynchronousTestCase):
    """
    NTPsec's ntpd as an NTS client of our server, each in its own
    namespace (both use port 123; NTS-KE on 4460).
    """

    def test_authOk(self) -> None:
        """
        NTPsec verifies our certificate (its IP SAN), gets cookies by NTS-KE
        and reports the association with our server as C{auth ok} in
        C{ntpq -c as}; tshark decodes our NTS extension fields without
        warnings, and every reply is no larger than its request.
        """
        peers.requireRoot()
        ntpd = peers.requireBinary("ntpd")
        ntpq = peers.requireBinary("ntpq")
        peers.requireBinary("tshark")
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        with peers.Network(hosts=2) as network:
            serverHost, clientHost = network.hosts
            ca = makeCA(workdir)
            server = makeServer(workdir, ca, ("nts.test",), (serverHost.address,))
            config = ntsServerConfig(workdir, server.cert, server.key)
            with peers.startNtpservice(
                workdir, config, port=123, netns=serverHost, host=serverHost.address,
                synchronised=True,
            ) as ours, peers.capture(workdir, 123, interface="eth0", netns=serverHost) as cap:
                clientConf = os.path.join(workdir, "ntpsec-client.conf")
                with open(clientConf, "w") as f:
                    f.write(
                        f"server {serverHost.address} nts ca {ca[0].cert} iburst "
                        "minpoll 3 maxpoll 3\n"
                        f"driftfile {workdir}/ntpsec.drift\n"
                        "unrestrict default limited noquery\n"
                    )
                argv = [ntpd, "-n", "-c", clientConf, "-l",
                        os.path.join(workdir, "ntpsec.log"), "-p",
                        os.path.join(workdir, "ntpsec.pid")]
                with peers.startDaemon(argv, workdir, "ntpsec-client", clientHost):
                    def authOk():  # type: ignore[no-untyped-def]
                        result = peers.runCommand(
                            [ntpq, "-n", "-c", "as", "127.0.0.1"], netns=clientHost,
                            timeout=20, check=False,
                        )
                        lines = [line for line in result.stdout.splitlines()
                                 if re.match(r"\s*\d+\s+\d+", line)]
                        if lines and "ok" in lines[0].split():
                            return result.stdout
                        return None

                    output = waitFor(authOk, timeout=90)
                    ntsinfo = peers.runCommand(
                        [ntpq, "-n", "-c", "ntsinfo", "127.0.0.1"], netns=clientHost,
                        timeout=20, check=False,
                    ).stdout
                    oursInfo = peers.runCommand(
                        [ntpq, "-n", "-c", "ntsinfo", "127.0.0.1"], netns=serverHost,
                        timeout=20, check=False,
                    ).stdout
                log = ours.output()
        self.assertTrue(output, f"NTPsec never showed auth ok\n{ntsinfo}\n"
                                f"{peers._readText(os.path.join(workdir, 'ntpsec.log'))}\n{log}")
        counters = ntsCounters(oursInfo)
        self.assertGreaterEqual(counters.get("NTS server recvs good", 0), 1, oursInfo)
        self.assertGreaterEqual(counters.get("NTS KE serves good", 0), 1, oursInfo)
        self.assertGreaterEqual(counters.get("NTS make cookies", 0), 9, oursInfo)
        packets = peers.tsharkDecode(cap.path, 123)
        requests = [p for p in packets if p.destination == serverHost.address]
        replies = [p for p in packets if p.source == serverHost.address]
        self.assertTrue(requests and replies, packets)
        for packet in packets:
            self.assertEqual(packet.problems, [], packet)
        # Every request carries NTS fields; every reply is no larger than
        # the request it answers (RFC 8915 section 5.7's amplification rule).
        sizes = {p.payload[40:48]: len(p.payload) for p in requests}
        for reply in replies:
            self.assertGreater(len(reply.payload), 48, reply)
            self.assertLessEqual(len(reply.payload), sizes[reply.payload[24:32]], reply)
        for reply in replies:
            # The echoed identifier, then the authenticator, last.
            self.assertEqual(reply.payload[48:52], b"\x01\x04\x00\x24", reply)


SELECTED = re.compile(
    r"Selected (?P<address>\S+) \(association \d+\) as system peer"
    r"(?: \(association \d+ left: [^)]*\))?; "
    r"stratum (?P<stratum>\d+), refid \S+, offset (?P<offset>[-+.\d]+) s"
)
MAX_OFFSET = 100e-6


class OurClientTests(SynchronousTestCase):
    """
    Our daemon as an NTS client (C{server ADDRESS nts ca FILE}) of chronyd's
    and NTPsec's NTS servers, each in its own namespace.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.network = peers.Network(hosts=2)
        self.network.__enter__()
        self.addCleanup(self.network.close)
        self.serverHost, self.clientHost = self.network.hosts
        self.ca = makeCA(self.workdir)
        self.cert = makeServer(self.workdir, self.ca, ("nts.test",), (self.serverHost.address,))

    def chronydServer(self) -> peers.DaemonProcess:
        """
        chronyd as an NTS server; it keeps its server keys in memory only
        (no C{ntsdumpdir}): a restarted one cannot open older cookies.
        """
        peers.requireBinary("chronyd")
        return peers.startChronydServer(
            self.workdir, port=123, netns=self.serverHost, stratum=2,
            extraConfig=(f"ntsserverkey {self.cert.key}", f"ntsservercert {self.cert.cert}"),
        )

    def ntpsecServer(self) -> peers.DaemonProcess:
        peers.requireBinary("ntpd")
        return peers.startNtpsecServer(
            self.workdir, self.serverHost, orphanStratum=5, host=self.serverHost.address,
            extraConfig=(f"nts enable cert {self.cert.cert} key {self.cert.key}",
                         f"nts cookie {self.workdir}/ntpsec-nts-keys"),
        )

    def ours(self, options: str = "", ca: str | None = None,
             siteCA: bool = False) -> peers.DaemonProcess:
        """
        Our daemon as an NTS client of the server host, its CA given on the
        server line, or with C{siteCA} on an C{nts ca} line.
        """
        ca = ca or self.ca[0].cert
        if siteCA:
            lines = f"nts ca {ca}\nserver {self.serverHost.address} nts"
        else:
            lines = f"server {self.serverHost.address} nts ca {ca}"
        config = (
            f"{lines} iburst minpoll 3 maxpoll 3 {options}\n"
            f"driftfile {self.workdir}/ntp.drift\n"
        )
        return peers.startNtpservice(self.workdir, config, port=123, netns=self.clientHost,
                                     name="client")

    def assertSynchronizedWithNTS(self, server: peers.DaemonProcess,
                                  siteCA: bool = False) -> None:
        ntpq = peers.requireBinary("ntpq")
        with server, self.ours(siteCA=siteCA) as ours:
            match = ours.waitForOutput(SELECTED, timeout=60)

            def authOk():  # type: ignore[no-untyped-def]
                output = peers.runCommand([ntpq, "-n", "-c", "as", "127.0.0.1"],
                                          netns=self.clientHost, timeout=20, check=False).stdout
                rows = [line.split() for line in output.splitlines()
                        if re.match(r"\s*\d+\s+\d+", line)]
                return output if rows and "ok" in rows[0] and "sys.peer" in rows[0] else None

            association = waitFor(authOk, timeout=60)
            ntsinfo = peers.runCommand([ntpq, "-n", "-c", "ntsinfo", "127.0.0.1"],
                                       netns=self.clientHost, timeout=20, check=False).stdout
            assid = re.search(r"^\s*\d+\s+(\d+)", association or "", re.M)
            pstats = peers.runCommand(
                [ntpq, "-n", "-c", f"pstats {assid.group(1) if assid else 0}", "127.0.0.1"],
                netns=self.clientHost, timeout=20, check=False,
            ).stdout
            output = ours.output()
        self.assertEqual(match.group("address"), self.serverHost.address, output)
        self.assertLess(abs(float(match.group("offset"))), MAX_OFFSET, match.group(0))
        self.assertTrue(association, output)
        self.assertIn("NTS-KE with", output)
        cookies = re.search(r"count of nts cookies:\s+(\d+)", pstats)
        self.assertTrue(cookies, pstats)
        assert cookies is not None
        self.assertGreaterEqual(int(cookies.group(1)), 6, pstats)
        counters = ntsCounters(ntsinfo)
        self.assertEqual(counters.get("NTS KE client probes good"), 1, ntsinfo)
        self.assertGreaterEqual(counters.get("NTS client recvs good", 0), 1, ntsinfo)
        self.assertGreaterEqual(counters.get("NTS client sends", 0),
                                counters.get("NTS client recvs good", 0), ntsinfo)

    def test_chronydServer(self) -> None:
        """
        Against chronyd's NTS server we get cookies by NTS-KE, select the
        server with authenticated replies (C{auth ok} in C{ntpq -c as}),
        and measure it within 100 us (same clock).
        """
        self.assertSynchronizedWithNTS(self.chronydServer())

    def test_ntpsecServer(self) -> None:
        """
        Against NTPsec's NTS server likewise, the CA given by C{nts ca}
        (NTPsec's site default for every C{server ... nts} line).
        """
        self.assertSynchronizedWithNTS(self.ntpsecServer(), siteCA=True)

    def test_ourServer(self) -> None:
        """
        Our client and our server together, as with the real peers.
        """
        config = ntsServerConfig(self.workdir, self.cert.cert, self.cert.key)
        server = peers.startNtpservice(
            self.workdir, config, port=123, netns=self.serverHost,
            host=self.serverHost.address, synchronised=True, name="server",
        )
        self.assertSynchronizedWithNTS(server)

    def test_nakFromRestartedServer(self) -> None:
        """
        chronyd restarted without saved keys cannot open our cookies and
        answers with an NTS NAK: our client runs NTS-KE again at once and
        its replies are authenticated again.
        """
        ntpq = peers.requireBinary("ntpq")
        with self.ours() as ours:
            with self.chronydServer():
                ours.waitForOutput(SELECTED, timeout=60)
            with self.chronydServer():
                ours.waitForOutput(re.compile(r"NTS-KE with \S+ again: the server sent an NTS NAK"),
                                   timeout=60)

                def rekeyed():  # type: ignore[no-untyped-def]
                    info = ntsCounters(peers.runCommand(
                        [ntpq, "-n", "-c", "ntsinfo", "127.0.0.1"], netns=self.clientHost,
                        timeout=20, check=False).stdout)
                    return info if info.get("NTS KE client probes good") == 2 and info.get(
                        "NTS client recvs good", 0) >= 2 else None

                info = waitFor(rekeyed, timeout=60)
            output = ours.output()
        self.assertTrue(info, output)
        self.assertEqual(output.count("8 cookies"), 2, output)

    def test_wrongCA(self) -> None:
        """
        With a CA that did not sign the server's certificate, NTS-KE is
        refused with a clear log line, no association is mobilized and
        nothing is synchronized.
        """
        otherDirectory = os.path.join(self.workdir, "other")
        os.makedirs(otherDirectory)
        other = makeCA(otherDirectory, "another CA")
        with self.chronydServer(), self.ours(ca=other[0].cert) as ours:
            ours.waitForOutput(re.compile(r"NTS-KE with \S+ port 4460 failed: .*certificate"),
                               timeout=30)
            time.sleep(3)
            output = ours.output()
        self.assertNotIn("Mobilized association", output)
        self.assertIsNone(SELECTED.search(output), output)

    def test_wrongName(self) -> None:
        """
        A certificate valid for another name (the server's address is not
        among its SANs) is refused with a line naming the address.
        """
        self.cert = makeServer(self.workdir, self.ca, ("nts.test",), ("192.0.2.1",),
                               stem="other")
        with self.chronydServer(), self.ours() as ours:
            ours.waitForOutput(
                re.compile(r"NTS-KE with \S+ port 4460 failed: TLS certificate not valid for "
                           + re.escape(self.serverHost.address)),
                timeout=30,
            )
            output = ours.output()
        self.assertNotIn("Mobilized association", output)
        self.assertIsNone(SELECTED.search(output), output)


def keFrom(host: peers.NetNamespace, address: str, ca: str, port: int = P.DEFAULT_KE_PORT) -> str:
    """
    Run one NTS-KE exchange from inside C{host} with the server at
    C{address} (L{tests.nts.kehelper.keExchange}), or just connect.

    @return: C{"cookies N"}, C{"refused"}, or the error.
    """
    import sys

    code = (
        f"import sys; sys.path.insert(0, {peers.REPOSITORY_ROOT!r})\n"
        "from tests.nts.kehelper import keExchange\n"
        f"try:\n    result = keExchange({port}, {ca!r}, {address!r})\n"
        "except ConnectionRefusedError:\n    print('refused')\n"
        "except Exception as e:\n    print(repr(e))\n"
        "else:\n    print('cookies', len(result.cookies))\n"
    )
    result = host.run([sys.executable, "-c", code], timeout=60, check=False)
    return (result.stdout.strip() or result.stderr.strip())


@pytest.mark.netns
class InterfaceRulesTests(SynchronousTestCase):
    """
    The NTS-KE listener follows the C{interface} rules of the NTP sockets.
    """

    def test_listensOnlyWhereNTPDoes(self) -> None:
        """
        With C{interface ignore wildcard} and C{interface listen A}, running
        C{-u} as an unprivileged user: an NTS-KE client gets eight cookies
        through A, a connection to B (an address of the same host that no
        rule serves) is refused on port 4460, and C, named by an
        C{interface listen} line but added to the interface only at run
        time, gets its NTS-KE listener (and serves NTS-KE) once the
        daemon's tracker has bound its NTP socket.
        """
        peers.requireRoot()
        peers.requireBinary("useradd")
        from tests.interop import test_interfaces

        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        path = workdir
        while path.startswith(os.getcwd() + os.sep):
            os.chmod(path, 0o755)
            path = os.path.dirname(path)
        user = test_interfaces.createUser()
        self.addCleanup(test_interfaces.removeUser, user)
        import pwd

        entry = pwd.getpwnam(user)
        with peers.Network(hosts=2) as network:
            serverHost, clientHost = network.hosts
            prefix = serverHost.address.rsplit(".", 1)[0]
            a, b, c = serverHost.address, f"{prefix}.201", f"{prefix}.202"
            serverHost.run(["ip", "addr", "add", f"{b}/24", "dev", serverHost.interface])
            ca = makeCA(workdir)
            server = makeServer(workdir, ca, ("nts.test",), (a, b, c))
            state = os.path.join(workdir, "state")
            os.makedirs(state)
            for name in (state, server.cert, server.key):
                os.chown(name, entry.pw_uid, entry.pw_gid)
            config = ntsServerConfig(state, server.cert, server.key) + (
                "interface ignore wildcard\ninterface ignore all\n"
                f"interface listen {a}\ninterface listen {c}\n"
            )
            with peers.startNtpservice(
                workdir, config, port=123, netns=serverHost, host=a, synchronised=True,
                extraArgs=("-u", user),
            ) as ours:
                ours.waitForOutput("NTS-KE server listening", timeout=20)
                self.assertEqual(keFrom(clientHost, a, ca[0].cert), "cookies 8", ours.output())
                self.assertEqual(keFrom(clientHost, b, ca[0].cert), "refused", ours.output())
                serverHost.run(["ip", "addr", "add", f"{c}/24", "dev", serverHost.interface])
                ours.waitForOutput(f"NTS-KE: listening on {c}", timeout=30)
                self.assertEqual(keFrom(clientHost, c, ca[0].cert), "cookies 8", ours.output())
                self.assertEqual(keFrom(clientHost, b, ca[0].cert), "refused", ours.output())
                self.assertIn("Running as user", ours.output())


    def test_wildcardFilter(self) -> None:
        """
        With the default wildcard sockets, C{interface ignore B}: NTS-KE
        through A gives eight cookies; a connection to B is aborted
        unanswered, as NTP datagrams to B are dropped.
        """
        peers.requireRoot()
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        with peers.Network(hosts=2) as network:
            serverHost, clientHost = network.hosts
            a, b = serverHost.address, serverHost.address.rsplit(".", 1)[0] + ".201"
            serverHost.run(["ip", "addr", "add", f"{b}/24", "dev", serverHost.interface])
            ca = makeCA(workdir)
            server = makeServer(workdir, ca, ("nts.test",), (a, b))
            config = ntsServerConfig(workdir, server.cert, server.key) + f"interface ignore {b}\n"
            with peers.startNtpservice(
                workdir, config, port=123, netns=serverHost, host=a, synchronised=True,
            ) as ours:
                ours.waitForOutput("NTS-KE server listening", timeout=20)
                self.assertEqual(keFrom(clientHost, a, ca[0].cert), "cookies 8", ours.output())
                answer = keFrom(clientHost, b, ca[0].cert)
                self.assertFalse(answer.startswith("cookies"), answer)
                self.assertNotEqual(answer, "refused")


class BenchmarkSmokeTests(SynchronousTestCase):
    """
    C{benchmarks/nts.py} runs: a short run measures both servers.
    """

    def test_runs(self) -> None:
        """
        A half-second run reports NTS-KE handshakes and authenticated
        replies for our daemon and chronyd, none forged.
        """
        import json
        import subprocess
        import sys

        peers.requireBinary("chronyd")
        script = os.path.join(peers.REPOSITORY_ROOT, "benchmarks", "nts.py")
        result = subprocess.run(
            [sys.executable, script, "--duration", "0.5", "--warmup", "0.2", "--json"],
            capture_output=True, text=True, timeout=240,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        rows = {row["server"]: row for row in json.loads(result.stdout)}
        self.assertEqual(set(rows), {"ours", "chronyd"})
        for row in rows.values():
            self.assertGreater(row["handshakes/s"], 0, row)
            self.assertGreater(row["replies/s"], 0, row)
            self.assertEqual(row["bad"], 0, row)
