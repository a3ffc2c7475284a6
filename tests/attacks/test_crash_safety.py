# -*- test-case-name: tests.attacks.test_crash_safety -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Crash safety of the files the daemon writes (issue 17, item 4): a process
killed with SIGKILL at any point while writing never leaves a file that is
read back wrong.

A power cut or an OOM kill in the middle of a write is the classic way a
daemon loses its state (an empty or torn drift file after a crash, read as
a frequency of 0 or refused; a lost NTS key file, which invalidates every
cookie the clients hold). The daemon writes these files:

  - the drift file (L{ntpservice.driftfile.writeDriftFile}), replaced whole;
  - the NTS master key file (L{ntpservice.nts.cookies.MasterKeys.save}),
    replaced whole;
  - the statistics files (L{ntpservice.stats.FileGeneration}), appended a
    line at a time, with a symbolic link to the current generation
    replaced at each change of generation.

It writes no configuration (C{saveconfigdir} is refused: saveconfig is not
implemented) and no pid file of its own (twistd's C{--pidfile}).

Each test forks a child (from this process, so the child starts in a
fraction of a millisecond) that writes the file in a loop with our writer,
alternating two known contents, kills it with SIGKILL after a random delay
of up to three writes' time (measured first, so the kills spread over a
few writes however fast or loaded the machine; many land in the middle of
a write: the temporary files left behind show it), and reads the file back
with our reader: it is always the old or the new content, never torn nor
empty, and it exists once a first write completed.
"""

from __future__ import annotations

import os
import random
import select
import signal
import time
from typing import Callable

from twisted.trial.unittest import SynchronousTestCase

from ntpservice.driftfile import readDriftFile, writeDriftFile
from ntpservice.nts.cookies import MasterKey, MasterKeys, readKeyFile
from ntpservice.stats import FileGeneration

KILLS = 200
"""SIGKILLs per file type."""

NS_PER_DAY = 86400 * 10**9


def writeDuration(write: Callable[[int], None]) -> float:
    """
    The median time C{write} takes here (a few writes, alternately of each
    content), in seconds: the kills are spread over a few writes' time,
    however fast or loaded the machine is.
    """
    durations = []
    for n in range(6):
        start = time.monotonic()
        write(n)
        durations.append(time.monotonic() - start)
    return sorted(durations)[len(durations) // 2]


def killWhileWriting(
    write: Callable[[int], None],
    check: Callable[[], None],
    kills: int = KILLS,
    seed: int = 0,
    writes: int | None = None,
) -> int:
    """
    C{kills} times: fork a child that calls C{write(n)} for n = 0, 1, ...
    (C{writes} times, then waits; forever by default), SIGKILL it after a
    random delay of up to three writes' time once it has started, then
    call C{check}.

    @return: how many writes the children completed in all.
    """
    rng = random.Random(seed)
    longest = min(0.1, max(0.002, 3 * writeDuration(write)))
    completed = 0
    for _ in range(kills):
        delay = rng.uniform(0, longest)
        readFrom, writeTo = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child)
            try:
                os.close(readFrom)
                os.write(writeTo, b"r")
                n = 0
                while writes is None or n < writes:
                    write(n)
                    os.write(writeTo, b"w")
                    n += 1
                while True:
                    time.sleep(1)
            finally:
                os._exit(0)
        os.close(writeTo)
        try:
            ready, _, _ = select.select([readFrom], [], [], 30)
            assert ready and os.read(readFrom, 1) == b"r", "the writer did not start"
            time.sleep(delay)
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            assert os.WIFSIGNALED(status), f"the writer exited by itself: {status}"
            while True:
                progress = os.read(readFrom, 4096)
                if not progress:
                    break
                completed += progress.count(b"w")
        finally:
            os.close(readFrom)
        check()
    return completed


class CrashSafetyTests(SynchronousTestCase):
    """
    Every file the daemon writes reads back as the old or the new content
    after a SIGKILL at a random point of its writing.
    """

    def setUp(self) -> None:
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)

    def leftovers(self, name: str) -> list[str]:
        """The files in the directory other than C{name}."""
        return sorted(n for n in os.listdir(self.directory) if n != name)

    def test_driftFile(self) -> None:
        """
        The drift file always reads back as one of the two frequencies
        written, never as a torn or empty file; at most one temporary file
        is ever left behind by the kills.
        """
        path = os.path.join(self.directory, "ntp.drift")
        values = (12.5, -3.25)

        def write(n: int) -> None:
            writeDriftFile(path, values[n % 2])

        def check() -> None:
            self.assertIn(readDriftFile(path), values)
            self.assertLessEqual(len(self.leftovers("ntp.drift")), 1)

        self.assertGreater(killWhileWriting(write, check), 0)

    def test_driftFileFirstWrite(self) -> None:
        """
        A writer killed during the very first write leaves no drift file
        or a whole one: never an empty or torn file.
        """
        path = os.path.join(self.directory, "ntp.drift")
        outcomes = {"missing": 0, "whole": 0}

        def write(n: int) -> None:
            writeDriftFile(path, 7.125)

        def check() -> None:
            value = readDriftFile(path)
            if value is None:
                outcomes["missing"] += 1
            else:
                self.assertEqual(value, 7.125)
                outcomes["whole"] += 1
                os.unlink(path)

        writeDuration(write)
        os.unlink(path)
        killWhileWriting(write, check, kills=50, seed=1, writes=1)
        self.assertEqual(sum(outcomes.values()), 50)

    def test_ntsMasterKeys(self) -> None:
        """
        The NTS master key file always reads back as one of the two key
        sets written (the cookies issued before a crash keep working after
        it), never torn, empty or malformed.
        """
        path = os.path.join(self.directory, "nts-keys")
        sets = (
            [MasterKey(i, bytes([i]) * 32, 1000.0 + i) for i in range(1, 8)],
            [MasterKey(i, bytes([i]) * 32, 1000.0 + i) for i in range(2, 9)],
        )
        rings = [MasterKeys(keys, path) for keys in sets]

        def write(n: int) -> None:
            rings[n % 2].save()

        def check() -> None:
            self.assertIn(readKeyFile(path), sets)
            self.assertLessEqual(len(self.leftovers("nts-keys")), 1)

        self.assertGreater(killWhileWriting(write, check), 0)

    def test_statisticsFiles(self) -> None:
        """
        A statistics file holds whole lines only, each one of those
        written, and its link always names an existing generation: the
        writer is killed while it appends lines and changes generation
        (two days alternately, so the link is replaced at every line).
        """
        base = os.path.join(self.directory, "loopstats")
        day = 20000 * NS_PER_DAY
        lines = (
            "60000 0.000 0.000001234 -12.345 0.000000567 0.001 6",
            "60001 86399.999 -0.000009876 3.250 0.000001111 0.002 10",
        )
        generations: dict[int, FileGeneration] = {}
        targets = {os.path.basename(base + FileGeneration(base, "day").suffixFor(
            day + n * NS_PER_DAY)) for n in (0, 1)}

        def write(n: int) -> None:
            # One writer per process, as the daemon has.
            generation = generations.get(os.getpid())
            if generation is None:
                generation = generations[os.getpid()] = FileGeneration(base, "day")
            self.assertTrue(generation.write(day + (n % 2) * NS_PER_DAY, lines[n % 2]))

        def check() -> None:
            self.assertIn(os.readlink(base), targets)
            for name in os.listdir(self.directory):
                if not name.startswith("loopstats."):
                    continue
                with open(os.path.join(self.directory, name)) as f:
                    text = f.read()
                self.assertTrue(text == "" or text.endswith("\n"), f"{name} ends in a torn line")
                for line in text.splitlines():
                    self.assertIn(line, lines)
            links = [n for n in os.listdir(self.directory) if n.endswith(".link")]
            self.assertLessEqual(len(links), 1)

        self.assertGreater(killWhileWriting(write, check), 0)
