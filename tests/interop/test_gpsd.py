# -*- test-case-name: tests.interop.test_gpsd -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Issue 15's acceptance: gpsd, from Debian's packages, reads NMEA sentences
with the current time that the test writes to a pty, and writes its SHM
segment (unit 0); our daemon (C{refclock shm unit 0 refid GPS prefer})
selects the GPS source, NTPsec's C{ntpq -p} shows it as ntpd does (type
C{l}, refid C{.GPS.}), and a client (ntpdig) of our daemon sees stratum 1.

gpsd refuses to export time from a pty (its test harness's devices), so it
is given C{/dev/tty} as its device, with the pty as its controlling
terminal: the same bytes, a device gpsd takes for a serial port. The SHM
segments are the host's (network namespaces do not separate System V IPC);
the test runs only when no segment of gpsd's units exists already, and
removes those gpsd created.

gpsd's chrony SOCK socket, separately: Debian's gpsd (3.22) sends to
C{/run/chrony.DEVICE.sock} only the time of PPS edges (timehint.c's
C{report_hook}, called from ppsthread.c; the in-band NMEA time goes to SHM
only; gpsd 3.25 added C{/run/chrony.clk.DEVICE.sock} for it). A pty has no
DCD line and this kernel has no PPS device, so C{fakedcd.c}, loaded into
gpsd with C{LD_PRELOAD}, answers gpsd's C{TIOCMIWAIT}/C{TIOCMGET} with a
1 Hz pulse on DCD at the start of each second of the system clock; gpsd's
own PPS code pairs each edge with the last NMEA second and sends the
sample to our SOCK driver's socket (C{/run/chrony.tty.sock}). The
sentences are written 0.2 s after the second starts (as receivers do), so
that each edge comes after the previous second's sentences and before its
own.
"""

from __future__ import annotations

import datetime
import fcntl
import functools
import os
import pty
import shutil
import subprocess
import termios
import threading
import time
import tty

import pytest
from twisted.trial.unittest import SynchronousTestCase

from ntpservice.refclocks.shm import SHM_KEY, Segment
from tests.interop import peers
from tests.interop.test_ntpq import peerRows

# gpsd's SHM segments (System V IPC) are shared by every network namespace:
# these tests run one at a time, in one pytest-xdist worker.
pytestmark = [pytest.mark.interop, pytest.mark.netns, pytest.mark.xdist_group("gpsd-shm")]

GPSD_UNITS = range(8)
"""The SHM units gpsd attaches at start (it writes unit 0 for our device)."""
GPSD_EXPORT_KEY = 0x47505344
"""gpsd's own export segment ("GPSD")."""
CHRONY_SOCKET = "/run/chrony.tty.sock"
"""Where gpsd 3.22, as root, sends its PPS samples for the device
C{/dev/tty}."""
FAKE_DCD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakedcd.c")


def _sentence(body: str) -> bytes:
    checksum = functools.reduce(lambda a, c: a ^ ord(c), body, 0)
    return f"${body}*{checksum:02X}\r\n".encode("ascii")


def nmeaCycle(when: float) -> bytes:
    """RMC, GGA and ZDA for the whole second C{when} (a 3D fix)."""
    t = datetime.datetime.fromtimestamp(int(when), datetime.timezone.utc)
    hms = t.strftime("%H%M%S.00")
    return b"".join(
        _sentence(body)
        for body in (
            f"GPRMC,{hms},A,4807.038,N,01131.000,E,0.0,0.0,{t.strftime('%d%m%y')},,,A",
            f"GPGGA,{hms},4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,",
            f"GPZDA,{hms},{t.day:02d},{t.month:02d},{t.year},00,00",
        )
    )


def _segmentExists(key: int) -> bool:
    output = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout
    return f"0x{key:08x}" in output


def _removeSegment(key: int) -> None:
    output = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout
    for line in output.splitlines():
        fields = line.split()
        if fields and fields[0] == f"0x{key:08x}":
            subprocess.run(["ipcrm", "-m", fields[1]], check=False)


class FakeGPS:
    """
    A GPS receiver on a pty, read by gpsd: a thread writes one NMEA cycle
    at the start of every second until stopped.
    """

    def __init__(self, workdir: str, latency: float = 0.0,
                 preload: str | None = None) -> None:
        """
        @param latency: seconds after the start of each second at which its
            sentences are written.
        @param preload: a shared object gpsd is started with
            (C{LD_PRELOAD}), or C{None}.
        """
        self.workdir = workdir
        self.latency = latency
        self.preload = preload
        self.master, slave = pty.openpty()
        tty.setraw(slave)
        self.slaveName = os.ttyname(slave)
        os.close(slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self.log = os.path.join(workdir, "gpsd.log")
        self.gpsd: subprocess.Popen[bytes] | None = None

    def _feed(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            if self._stop.wait((self.latency - now) % 1.0 or 1.0):
                return
            try:
                os.write(self.master, nmeaCycle(time.time() - self.latency))
            except OSError:
                return

    def start(self) -> None:
        slaveName = self.slaveName

        def controllingTerminal() -> None:
            os.setsid()
            fd = os.open(slaveName, os.O_RDWR)
            fcntl.ioctl(fd, termios.TIOCSCTTY, 0)

        self._thread.start()
        env = dict(os.environ)
        if self.preload is not None:
            env["LD_PRELOAD"] = self.preload
        with open(self.log, "wb") as log:
            self.gpsd = subprocess.Popen(
                [peers.requireBinary("gpsd"), "-N", "-n", "-b", "-D", "2",
                 "-F", os.path.join(self.workdir, "gpsd.sock"),
                 "-S", str(peers.freePort()), "/dev/tty"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=controllingTerminal, env=env,
            )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.gpsd is not None and self.gpsd.poll() is None:
            self.gpsd.terminate()
            try:
                self.gpsd.wait(10)
            except subprocess.TimeoutExpired:
                self.gpsd.kill()
                self.gpsd.wait(10)
        os.close(self.master)

    def output(self) -> str:
        with open(self.log, errors="replace") as f:
            return f.read()


class GpsdShmTests(SynchronousTestCase):
    """
    gpsd's SHM segment feeds our daemon's SHM driver.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        peers.requireBinary("gpsd")
        peers.requireBinary("ntpdig")
        self.ntpq = peers.requireBinary("ntpq")
        keys = [SHM_KEY + unit for unit in GPSD_UNITS] + [GPSD_EXPORT_KEY]
        if any(_segmentExists(key) for key in keys):
            peers.unavailable("gpsd's SHM segments exist already on this host")
        for key in keys:
            self.addCleanup(_removeSegment, key)
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.netns = peers.NetNamespace()
        self.netns.create()
        self.addCleanup(self.netns.close)

    def test_gpsSelected(self) -> None:
        """
        Our daemon selects SHM(0) fed by gpsd: ntpq -p shows it as the
        system peer, type l, refid .GPS., stratum 0; ntpdig gets stratum 1
        replies from our daemon.
        """
        gps = FakeGPS(self.workdir)
        gps.start()
        self.addCleanup(gps.stop)
        ours = peers.startNtpservice(
            self.workdir,
            "refclock shm unit 0 refid GPS prefer\n"
            f"driftfile {self.workdir}/ntp.drift\n",
            port=123,
            netns=self.netns,
        )
        self.addCleanup(ours.stop)
        try:
            ours.waitForOutput(r"Selected 127\.127\.28\.0 \(association \d+\)", timeout=60)
        except peers.PeerError:
            self.fail(f"not selected; gpsd said:\n{gps.output()}\nours:\n{ours.output()}")
        rows = peerRows(
            peers.runCommand([self.ntpq, "-n", "-p", "127.0.0.1"], netns=self.netns).stdout
        )
        self.assertIn("SHM(0)", rows, rows)
        shm = rows["SHM(0)"]
        self.assertEqual(
            (shm["tally"], shm["t"], shm["st"], shm["refid"]), ("*", "l", "0", ".GPS."), shm
        )
        [reply] = peers.runNtpdig("127.0.0.1", 1, netns=self.netns)
        self.assertEqual(reply["stratum"], 1, reply)
        self.assertEqual(reply["leap"], "no-leap", reply)
        # The segment is the one gpsd wrote (root's, as gpsd expects).
        segment = Segment(0, create=False)
        self.addCleanup(segment.detach)
        assert segment.time is not None
        self.assertEqual(segment.time.mode, 1)
        self.assertGreater(segment.time.count, 0)


class GpsdSockTests(SynchronousTestCase):
    """
    gpsd's chrony SOCK samples feed our daemon's SOCK driver.
    """

    def setUp(self) -> None:
        peers.requireRoot()
        peers.requireBinary("gpsd")
        peers.requireBinary("ntpdig")
        self.ntpq = peers.requireBinary("ntpq")
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            peers.unavailable("no C compiler for fakedcd.c")
        keys = [SHM_KEY + unit for unit in GPSD_UNITS] + [GPSD_EXPORT_KEY]
        if any(_segmentExists(key) for key in keys):
            peers.unavailable("gpsd's SHM segments exist already on this host")
        if os.path.exists(CHRONY_SOCKET):
            peers.unavailable(f"{CHRONY_SOCKET} exists already on this host")
        for key in keys:
            self.addCleanup(_removeSegment, key)
        self.addCleanup(lambda: os.path.exists(CHRONY_SOCKET) and os.unlink(CHRONY_SOCKET))
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.preload = os.path.join(self.workdir, "fakedcd.so")
        subprocess.run(
            [compiler, "-shared", "-fPIC", "-O2", "-o", self.preload, FAKE_DCD, "-ldl"],
            check=True, capture_output=True,
        )
        self.netns = peers.NetNamespace()
        self.netns.create()
        self.addCleanup(self.netns.close)

    def test_gpsSelected(self) -> None:
        """
        Our daemon (C{refclock sock path /run/chrony.tty.sock refid GPS
        prefer}, started before gpsd, which looks for the socket when it
        opens the device) selects the SOCK source fed by gpsd's PPS
        samples: ntpq -p shows it as the system peer, type l, refid .GPS.,
        stratum 0, its offset within 10 ms (the pulse is the system
        clock's own second); ntpdig gets stratum 1 replies from our daemon.
        """
        ours = peers.startNtpservice(
            self.workdir,
            f"refclock sock path {CHRONY_SOCKET} refid GPS prefer\n"
            f"driftfile {self.workdir}/ntp.drift\n",
            port=123,
            netns=self.netns,
        )
        self.addCleanup(ours.stop)
        self.assertTrue(os.path.exists(CHRONY_SOCKET))
        gps = FakeGPS(self.workdir, latency=0.2, preload=self.preload)
        gps.start()
        self.addCleanup(gps.stop)
        try:
            ours.waitForOutput(r"Selected 127\.127\.47\.0 \(association \d+\)", timeout=90)
        except peers.PeerError:
            self.fail(f"not selected; gpsd said:\n{gps.output()}\nours:\n{ours.output()}")
        rows = peerRows(
            peers.runCommand([self.ntpq, "-n", "-p", "127.0.0.1"], netns=self.netns).stdout
        )
        [(remote, sock)] = [(r, row) for r, row in rows.items() if row["t"] == "l"]
        self.assertEqual(
            (sock["tally"], sock["st"], sock["refid"]), ("*", "0", ".GPS."), (remote, sock)
        )
        self.assertLess(abs(float(sock["offset"])), 10.0, sock)
        [reply] = peers.runNtpdig("127.0.0.1", 1, netns=self.netns)
        self.assertEqual(reply["stratum"], 1, reply)
        self.assertEqual(reply["leap"], "no-leap", reply)
