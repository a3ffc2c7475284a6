# -*- test-case-name: tests.test_driftfile -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.driftfile}: atomic writes, and torn or garbage files
reported, never trusted.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.config import files
from ntpservice.driftfile import DriftFileError, readDriftFile, writeDriftFile


class DriftFileTests(SynchronousTestCase):
    """
    The drift file round-trips, refuses what it cannot trust, and is
    replaced atomically.
    """

    def setUp(self) -> None:
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.path = os.path.join(self.directory, "ntp.drift")

    def write(self, data: bytes) -> None:
        with open(self.path, "wb") as f:
            f.write(data)

    def test_roundTrip(self) -> None:
        """
        A written frequency reads back, in ntpd's one-line format.
        """
        writeDriftFile(self.path, -12.3456)
        with open(self.path) as f:
            self.assertEqual(f.read(), "-12.346\n")
        self.assertEqual(readDriftFile(self.path), -12.346)

    def test_missing(self) -> None:
        """
        No file: no frequency, no error.
        """
        self.assertIsNone(readDriftFile(self.path))

    def test_ntpdFile(self) -> None:
        """
        ntpd's own drift files read.
        """
        self.write(b"3.142\n")
        self.assertEqual(readDriftFile(self.path), 3.142)

    def test_garbage(self) -> None:
        """
        Torn, binary, non-numeric, out-of-range and multi-value files are
        refused with the file's name.
        """
        for data in (b"", b"12.3", b"\x00\x01\x02\n", b"abc\n", b"600.0\n",
                     b"nan\n", b"1.0 2.0\n", b"-1e400\n"):
            self.write(data)
            e = self.assertRaises(DriftFileError, readDriftFile, self.path)
            self.assertIn(self.path, str(e))

    def test_crashMidWriteKeepsOld(self) -> None:
        """
        If writing the new content fails, the old file is intact and no
        temporary file is left behind.
        """
        writeDriftFile(self.path, 1.5)

        def failingReplace(src: str, dst: str) -> None:
            raise OSError(28, "No space left on device")

        self.patch(files.os, "replace", failingReplace)
        self.assertRaises(OSError, writeDriftFile, self.path, 9.9)
        self.assertEqual(readDriftFile(self.path), 1.5)
        self.assertEqual(os.listdir(self.directory), ["ntp.drift"])

    def test_unwritableDirectory(self) -> None:
        """
        A directory that does not exist is an OSError, not a crash.
        """
        self.assertRaises(OSError, writeDriftFile, os.path.join(self.path, "x"), 1.0)


class DaemonDriftTests(SynchronousTestCase):
    """
    The daemon reads the drift file at start and writes it at stop.
    """

    def test_startAndStop(self) -> None:
        """
        The frequency from the file seeds the discipline; a garbage file is
        ignored; after synchronizing, stop writes the frequency.
        """
        from ntpservice.sim.hosts import Simulation

        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "ntp.drift")
        with open(path, "w") as f:
            f.write("7.250\n")
        sim = Simulation(3)
        sim.addReferenceServer("10.0.0.1")
        host = sim.addHost("10.0.1.1", freqPPM=-7.25)
        daemon = host.runDaemon(f"server 10.0.0.1 iburst\ndriftfile {path}\n")
        self.assertEqual(daemon.engine.discipline.freqPPM, 7.25)
        sim.run(600)
        daemon.stop()
        self.assertIsNotNone(readDriftFile(path))
        with open(path, "w") as f:
            f.write("garbage\n")
        other = Simulation(4).addHost("10.0.1.2").runDaemon(
            f"server 10.0.0.1\ndriftfile {path}\n"
        )
        self.assertEqual(other.engine.discipline.state, "NSET")
