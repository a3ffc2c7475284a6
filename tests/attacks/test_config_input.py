# -*- test-case-name: tests.attacks.test_config_input -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Configuration input as an attack (issue 17): a configuration, an
C{includefile} or a C{keys} file that names C{/dev/zero}, a FIFO or a huge
file, or that holds a 16 MiB word.

The weakness is CWE-400/CWE-770 (reading an input without a bound) and
CWE-117's cousin, an error message that echoes the input whole: ntpd's
C{includefile} read such files until memory ran out, and our own parser
quoted a 16 MiB token whole in its error message. Whoever can write a file
that an administrator's configuration names (a shared C{/etc/ntp.d/},
a keys file on a network share) must not be able to make the daemon hang
at start-up or on SIGHUP, or eat its memory, or flood its log.

Each case runs the real C{twistd ntp} (from this checkout, without
CAP_SYS_TIME, with C{--no-clock-adjust}, on loopback) and asserts the
defence: the process exits with status 2 and one short line naming the
file and the reason, its peak memory (C{ru_maxrss} of that very process,
from C{wait4}) stays far below what reading the file would take; on
SIGHUP, the keys and leap seconds file in use are kept, one short line is
logged, and time is still served.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from twisted.trial.unittest import SynchronousTestCase

from tests.interop import peers
from tests.test_twistd_process import environment

EXIT_WAIT = 60.0
"""Seconds to wait for a refused start at most (it takes about one)."""

MAX_RSS_KIB = 100 * 1024
"""Peak resident memory allowed to a refused start: the interpreter with
Twisted and cryptography takes about 45 MiB; reading the inputs (100 MiB and
more) would take more than 100 MiB."""

MAX_MESSAGE = 300
"""The longest error output accepted, in characters."""

LAUNCHER = """\
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"""
"""Runs its arguments and writes their peak RSS (KiB) to a file: a child
forked from this (large) test process would count this process's pages
too; a child forked from this small launcher counts only its own."""


class ConfigInputTests(SynchronousTestCase):
    """
    A real C{twistd ntp} given hostile configuration input.
    """

    def setUp(self) -> None:
        self.workdir = os.path.realpath(self.mktemp())
        os.makedirs(self.workdir)

    def path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def write(self, name: str, text: str) -> str:
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def sparse(self, name: str, size: int) -> str:
        with open(self.path(name), "wb") as f:
            f.truncate(size)
        return self.path(name)

    def refused(self, configPath: str) -> tuple[str, int]:
        """
        Run the daemon on C{configPath}; it must exit with status 2.

        @return: what it printed, and its peak resident memory in KiB.
        """
        rssPath = self.path("rss")
        argv = [
            sys.executable,
            "-c",
            LAUNCHER,
            rssPath,
            *peers.withoutSysTime(
                peers.ntpserviceCommand(
                    configPath, peers.freePort(), ("-I", "127.0.0.1")
                )
            ),
        ]
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=environment(),
            start_new_session=True,
        )
        self.addCleanup(_kill, process)
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        output = b""
        deadline = time.monotonic() + EXIT_WAIT
        while True:
            chunk = process.stdout.read(65536) or b""
            output += chunk[: 1 << 20]
            status = process.poll()
            if status is not None:
                output += process.stdout.read(1 << 20) or b""
                break
            if time.monotonic() > deadline:
                self.fail(f"still running after {EXIT_WAIT} s: {output[:2000]!r}")
            time.sleep(0.05)
        text = output.decode("utf-8", "replace")
        self.assertEqual(process.returncode, 2, text[:2000])
        self.assertLess(len(text), MAX_MESSAGE, text[:2000])
        with open(rssPath) as f:
            rss = int(f.read())
        self.assertLess(rss, MAX_RSS_KIB, text)
        print(f"\n{os.path.basename(configPath)}: refused, peak RSS {rss / 1024:.0f} MiB")
        return text, rss

    def test_configDevZero(self) -> None:
        """
        C{-c /dev/zero}: refused at once, not read.
        """
        text, _ = self.refused("/dev/zero")
        self.assertEqual(
            text,
            "/dev/zero: cannot read configuration file: "
            "not a regular file (a character device)\n",
        )

    def test_configFifo(self) -> None:
        """
        C{-c FIFO} (nobody writing): refused at once, the open does not block.
        """
        fifo = self.path("ntp.conf")
        os.mkfifo(fifo)
        text, _ = self.refused(fifo)
        self.assertEqual(
            text, f"{fifo}: cannot read configuration file: not a regular file (a FIFO)\n"
        )

    def test_configHuge(self) -> None:
        """
        C{-c} a 100 MiB sparse file: refused from its size.
        """
        big = self.sparse("ntp.conf", 100 << 20)
        text, _ = self.refused(big)
        self.assertEqual(
            text,
            f"{big}: cannot read configuration file: too large (more than 1048576 bytes)\n",
        )

    def test_hugeToken(self) -> None:
        """
        A 16 MiB word (a configuration file of one word): refused as too
        large, and the word never echoed; the same word in a file of less
        than 1 MiB (a line of 1,000,000 characters) is refused as a line
        too long, without echoing it.
        """
        huge = self.path("huge.conf")
        with open(huge, "wb") as f:
            for _ in range(16):
                f.write(b"x" * (1 << 20))
        text, _ = self.refused(huge)
        self.assertEqual(
            text,
            f"{huge}: cannot read configuration file: too large (more than 1048576 bytes)\n",
        )
        long = self.write("long.conf", "x" * 1_000_000 + "\n")
        text, _ = self.refused(long)
        self.assertEqual(
            text, f"{long}:1: line too long (1000000 characters; the limit is 4096)\n"
        )

    def test_includefile(self) -> None:
        """
        C{includefile} naming C{/dev/zero}, a FIFO, a 100 MiB file: each an
        error at its line.
        """
        os.mkfifo(self.path("fifo"))
        self.sparse("big", 100 << 20)
        for target, reason in [
            ("/dev/zero", "not a regular file (a character device)"),
            ("fifo", "not a regular file (a FIFO)"),
            ("big", "too large (more than 1048576 bytes)"),
        ]:
            conf = self.write("ntp.conf", f"driftfile {self.workdir}/d\nincludefile {target}\n")
            text, _ = self.refused(conf)
            self.assertEqual(
                text, f"{conf}:2: cannot read includefile {target!r}: {reason}\n"
            )

    def test_keys(self) -> None:
        """
        C{keys} naming C{/dev/zero}, a FIFO, a 100 MiB file: each an error
        at the keys line.
        """
        os.mkfifo(self.path("fifo"))
        big = self.sparse("big", 100 << 20)
        for target, reason in [
            ("/dev/zero", "not a regular file (a character device)"),
            (self.path("fifo"), "not a regular file (a FIFO)"),
            (big, "too large (more than 1048576 bytes)"),
        ]:
            conf = self.write("ntp.conf", f"driftfile {self.workdir}/d\nkeys {target}\n")
            text, _ = self.refused(conf)
            self.assertEqual(
                text, f"{conf}:2: {target}: cannot read keys file: {reason}\n"
            )

    def test_hangup(self) -> None:
        """
        SIGHUP after the keys file became a FIFO, then a 100 MiB file, and
        the leap seconds file a FIFO: the daemon logs one short line each,
        keeps the keys and leap table in use, and keeps serving time.
        """
        from tests.test_leapseconds import leapFileText, utc

        keys = self.write("ntp.keys", "1 MD5 first\n")
        os.chmod(keys, 0o600)
        leap = self.write(
            "leap",
            leapFileText(utc(2100, 1, 1), [(utc(1972, 1, 1), 10), (utc(2017, 1, 1), 37)]),
        )
        conf = self.write(
            "ntp.conf",
            f"driftfile {self.workdir}/d\nkeys {keys}\ntrustedkey 1\nleapfile {leap}\n"
            "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n",
        )
        port = peers.freePort()
        daemon = peers.DaemonProcess(
            peers.ntpserviceCommand(conf, port, ("-I", "127.0.0.1")),
            self.workdir,
            "ntpservice",
            env=environment(),
        )
        daemon.start()
        self.addCleanup(daemon.stop)
        daemon.waitForNtp("127.0.0.1", port, 30.0)
        daemon.assertNoSysTime()
        assert daemon.pid is not None

        os.unlink(keys)
        os.mkfifo(keys)
        os.unlink(leap)
        os.mkfifo(leap)
        os.kill(daemon.pid, signal.SIGHUP)
        daemon.waitForOutput(
            f"Keys not reloaded: {conf}:2: {keys}: cannot read keys file: "
            r"not a regular file \(a FIFO\)",
            timeout=30,
        )
        daemon.waitForOutput(
            f"Leap seconds file not reloaded: {leap}: not a regular file \\(a FIFO\\)",
            timeout=30,
        )
        os.unlink(keys)
        with open(keys, "wb") as f:
            f.truncate(100 << 20)
        os.kill(daemon.pid, signal.SIGHUP)
        daemon.waitForOutput(
            f"Keys not reloaded: {conf}:2: {keys}: cannot read keys file: "
            r"too large \(more than 1048576 bytes\)",
            timeout=30,
        )
        self.assertTrue(daemon.running())
        daemon.waitForNtp("127.0.0.1", port, 30.0)
        longest = max(len(line) for line in daemon.output().splitlines())
        self.assertLess(longest, 400, daemon.output()[-2000:])


def _kill(process: subprocess.Popen[bytes]) -> None:
    """
    Stop C{process}'s group if it still runs, and reap it.
    """
    if process.returncode is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(process.pid, 0)
        except ChildProcessError:
            pass
    if process.stdout is not None:
        process.stdout.close()
