# -*- test-case-name: tests.test_twistd_process -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The daemon as a process, as a user meets it: C{twistd -n ntp} started from
this checkout on loopback ports (C{--port}, C{-I 127.0.0.1}), without
CAP_SYS_TIME and with C{--no-clock-adjust}; its exit status, and what it
prints.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers

STARTED = re.compile(r"ntpservice started: ")


def environment() -> dict[str, str]:
    """
    This process's environment, with this checkout first on the path.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (peers.REPOSITORY_ROOT, env.get("PYTHONPATH", "")) if p
    )
    return env


class TwistdProcessTests(SynchronousTestCase):
    """
    Exit statuses and start-up output of a real C{twistd ntp}.
    """

    def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)

    def writeConfig(self, text: str) -> str:
        path = os.path.join(self.workdir, "ntp.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, text: str, *extra: str) -> tuple[peers.DaemonProcess, int]:
        """
        Start the daemon on a free loopback port and wait until it answers
        (its reactor runs: its signal handlers are in place).
        """
        port = peers.freePort()
        argv = peers.ntpserviceCommand(
            self.writeConfig(text), port, ("-I", "127.0.0.1", *extra)
        )
        daemon = peers.DaemonProcess(
            argv, self.workdir, "ntpservice", env=environment()
        )
        daemon.start()
        self.addCleanup(daemon.stop)
        daemon.waitForNtp("127.0.0.1", port, 20.0)
        daemon.assertNoSysTime()
        return daemon, port

    def test_stopSignalsExitZero(self) -> None:
        """
        SIGTERM and SIGINT stop the daemon cleanly (the drift file is
        written, the shutdown logged) and the process exits with status 0,
        not by the signal.
        """
        for signum, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
            drift = os.path.join(self.workdir, f"{name}.drift")
            daemon, port = self.start(
                f"driftfile {drift}\nserver 127.127.1.0\nfudge 127.127.1.0 stratum 10\n"
            )
            assert daemon.process is not None
            daemon.process.send_signal(signum)
            status = daemon.process.wait(timeout=20)
            output = daemon.output()
            self.assertEqual(status, 0, output)
            self.assertIn(f"Received {name}: shutting down", output)
            self.assertIn("Server Shut Down.", output)
            daemon.stop()

    def test_ipv6RefusedServesIPv4(self) -> None:
        """
        Where the kernel (or a sandbox) refuses C{socket(AF_INET6, ...)}
        with EINVAL, the daemon does not exit: it says once that IPv6 is
        not available and serves on IPv4 (here on the loopback interface,
        C{-I lo}: both families' wildcard sockets bound to it).
        """
        site = os.path.join(self.workdir, "site")
        os.makedirs(site)
        with open(os.path.join(site, "sitecustomize.py"), "w") as f:
            f.write(
                "import errno, socket\n"
                "class _NoIPv6(socket.socket):\n"
                "    def __init__(self, family=-1, *args, **kwargs):\n"
                "        if family == socket.AF_INET6:\n"
                "            raise OSError(errno.EINVAL, 'Invalid argument')\n"
                "        super().__init__(family, *args, **kwargs)\n"
                "socket.socket = _NoIPv6\n"
            )
        env = environment()
        env["PYTHONPATH"] = os.pathsep.join((site, env["PYTHONPATH"]))
        port = peers.freePort()
        argv = peers.ntpserviceCommand(
            self.writeConfig(f"driftfile {self.workdir}/v6.drift\n"),
            port,
            ("-I", "lo"),
        )
        daemon = peers.DaemonProcess(argv, self.workdir, "ntpservice", env=env)
        daemon.start()
        self.addCleanup(daemon.stop)
        daemon.waitForNtp("127.0.0.1", port, 20.0)
        output = daemon.output()
        self.assertEqual(
            output.count("IPv6 is not available here (Invalid argument); serving IPv4 only"),
            1,
            output,
        )
        self.assertIn(f"Listening on 0.0.0.0 port {port} (interface lo)", output)

    def test_quitGivesUp(self) -> None:
        """
        C{-q} with a server where nothing answers gives up after
        C{--quit-timeout} seconds with one error line and exit status 1.
        """
        argv = peers.withoutSysTime(
            peers.ntpserviceCommand(
                self.writeConfig(
                    f"server 127.0.0.1 port {peers.freePort()} iburst\n"
                    f"driftfile {self.workdir}/q.drift\n"
                ),
                peers.freePort(),
                ("-q", "--quit-timeout", "3", "-I", "127.0.0.1"),
            )
        )
        started = time.monotonic()
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, env=environment()
        )
        elapsed = time.monotonic() - started
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 1, output)
        self.assertIn(
            "-q: the clock was not set within 3 s (no server answered); "
            "giving up, exit status 1",
            output,
        )
        self.assertGreaterEqual(elapsed, 3)
        self.assertLess(elapsed, 30)

    def test_refusedOptionExitsTwo(self) -> None:
        """
        An option that is refused (C{-u} with a user this host lacks) ends
        C{twistd ntp} with a two-line message on standard error (what is
        wrong, where the help is), no usage text, and exit status 2.
        """
        argv = peers.withoutSysTime(
            peers.ntpserviceCommand(
                self.writeConfig(""), peers.freePort(), ("-u", "no-such-user-x")
            )
        )
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, env=environment()
        )
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 2, result.stderr)
        self.assertTrue(
            lines[0].startswith("ntpservice: -u no-such-user-x: unknown user"), lines
        )
        self.assertIn("twistd ntp --help", lines[1])
        self.assertNotIn("--configfile", result.stdout + result.stderr)

    def test_warningsOnOutput(self) -> None:
        """
        The configuration's warnings are on the daemon's output at start,
        as C{FILE:LINE: message} lines.
        """
        daemon, port = self.start(
            "server 127.0.0.1 port 9\nserver 127.0.0.1 port 9\n"
            "restrict default kod nomodify\ncrypto\n"
            f"driftfile {self.workdir}/a.drift\ndriftfile {self.workdir}/b.drift\n"
            "tos minclock 5 maxclock 2 minsane 7\ntos cohort 1\ntrap 192.0.2.5\n"
        )
        daemon.waitForOutput(STARTED, 10)
        output = daemon.output()
        path = os.path.join(self.workdir, "ntp.conf")
        for line, words in (
            (2, "duplicate server 127.0.0.1 ignored"),
            (3, "kod does nothing without limited"),
            (4, "autokey is not supported; 'crypto' is ignored"),
            (6, "driftfile replaces the one at"),
            (7, "tos: minsane (7) < minclock (5) <= maxclock (2) does not hold"),
            (8, "tos cohort not implemented yet; ignored"),
            (9, "trap has no effect"),
        ):
            self.assertIn(f"{path}:{line}: {words}", output)
