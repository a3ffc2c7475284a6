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
"""

from __future__ import annotations

import datetime
import fcntl
import functools
import os
import pty
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

pytestmark = [pytest.mark.interop, pytest.mark.netns]

GPSD_UNITS = range(8)
"""The SHM units gpsd attaches at start (it writes unit 0 for our device)."""
GPSD_EXPORT_KEY = 0x47505344
"""gpsd's own export segment ("GPSD")."""


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

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
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
            if self._stop.wait(1.0 - now % 1.0):
                return
            try:
                os.write(self.master, nmeaCycle(time.time()))
            except OSError:
                return

    def start(self) -> None:
        slaveName = self.slaveName

        def controllingTerminal() -> None:
            os.setsid()
            fd = os.open(slaveName, os.O_RDWR)
            fcntl.ioctl(fd, termios.TIOCSCTTY, 0)

        self._thread.start()
        with open(self.log, "wb") as log:
            self.gpsd = subprocess.Popen(
                [peers.requireBinary("gpsd"), "-N", "-n", "-b", "-D", "2",
                 "-F", os.path.join(self.workdir, "gpsd.sock"),
                 "-S", str(peers.freePort()), "/dev/tty"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=controllingTerminal,
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
