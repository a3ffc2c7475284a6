# -*- test-case-name: tests.test_fuzz -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Run fuzz targets for a bounded time and sum up what they did.

    python -m fuzz.run --minutes 10 all
    python -m fuzz.run --seconds 30 packet config

Each target runs in a subprocess of its own (C{python -m fuzz.TARGET}),
from its seed corpus (C{fuzz/corpus/TARGET}, only read) into a scratch
corpus (removed afterwards, or kept with C{--keep DIR}: then pass it back
with C{python -m fuzz.TARGET DIR fuzz/corpus/TARGET} to go on). A crash
(an exception the target does not allow, a hang, more than 1 GiB) makes
the run fail; libFuzzer's reproducer is written to C{--artifacts DIR}
(the current directory by default), and C{python -m fuzz.TARGET FILE}
runs it again. The figures of each target: executions, C{cov:} (code
edges reached) and C{ft:} (features) as libFuzzer counts them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from fuzz import TARGETS
from fuzz._harness import HERE, seedDirectory

ROOT = os.path.dirname(HERE)

_STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)", re.M)
_DONE = re.compile(r"^Done (\d+) runs in (\d+) second", re.M)


@dataclass
class Result:
    """
    What one target's run did.

    @ivar target: its name.
    @ivar returncode: the subprocess's exit status (0: no crash).
    @ivar executions: inputs run.
    @ivar cov: code edges reached (libFuzzer's C{cov:}).
    @ivar ft: features reached (libFuzzer's C{ft:}).
    @ivar seconds: how long it ran, as libFuzzer says.
    @ivar output: the tail of its output.
    @ivar artifacts: the reproducers it wrote.
    """

    target: str
    returncode: int
    executions: int
    cov: int
    ft: int
    seconds: int
    output: str
    artifacts: list[str]

    @property
    def crashed(self) -> bool:
        """Whether it found a crash (or failed to run)."""
        return self.returncode != 0 or bool(self.artifacts)

    def summary(self) -> str:
        """One line for the report."""
        state = "CRASH" if self.crashed else "ok"
        return (
            f"{self.target:16} {state:5} {self.executions:>9} executions "
            f"in {self.seconds:>4} s  cov: {self.cov:>5}  ft: {self.ft:>6}"
        )


def runTarget(
    target: str,
    seconds: float,
    artifacts: str,
    keep: str | None = None,
    extra: tuple[str, ...] = (),
    timeout: float | None = None,
) -> Result:
    """
    Fuzz C{target} for C{seconds} (libFuzzer's C{-max_total_time}).

    @param artifacts: the directory for reproducers.
    @param keep: a directory to keep the corpus found in, or C{None}.
    @param extra: more libFuzzer options.
    @param timeout: seconds after which the subprocess is killed (a hang
        that libFuzzer did not catch); by default C{seconds} plus 120.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: one of {', '.join(TARGETS)}")
    os.makedirs(artifacts, exist_ok=True)
    prefix = os.path.join(artifacts, f"{target}-")
    before = set(os.listdir(artifacts))
    scratch = keep or tempfile.mkdtemp(prefix=f"ntpservice-fuzz-{target}-")
    os.makedirs(scratch, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        f"fuzz.{target}",
        f"-max_total_time={max(1, int(seconds))}",
        f"-artifact_prefix={prefix}",
        "-print_final_stats=1",
        *extra,
        scratch,
        seedDirectory(target),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH", "")) if p)
    # libFuzzer ends the process with exit(): Python's atexit handlers do
    # not run, so what a target puts in TMPDIR is removed here.
    temporary = tempfile.mkdtemp(prefix=f"ntpservice-fuzz-tmp-{target}-")
    env["TMPDIR"] = temporary
    try:
        completed = subprocess.run(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout if timeout is not None else seconds + 120,
        )
        output, returncode = completed.stdout + completed.stderr, completed.returncode
    except subprocess.TimeoutExpired as e:
        output = (e.stdout or "") + (e.stderr or "")
        output = output if isinstance(output, str) else output.decode("utf-8", "replace")
        returncode = -9
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        if keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    statuses = _STATUS.findall(output)
    done = _DONE.search(output)
    executions, cov, ft = (int(v) for v in statuses[-1]) if statuses else (0, 0, 0)
    if done:
        executions = int(done.group(1))
    found = sorted(
        os.path.join(artifacts, name)
        for name in set(os.listdir(artifacts)) - before
        if name.startswith(f"{target}-")
    )
    tail = "\n".join(
        line for line in output.splitlines() if not line.startswith("INFO: Instrumenting")
    )[-6000:]
    return Result(
        target,
        returncode,
        executions,
        cov,
        ft,
        int(done.group(2)) if done else int(seconds),
        tail,
        found,
    )


def main(argv: list[str] | None = None) -> int:
    """
    The command line (see the module's docstring).

    @return: the exit status: 0 when no target crashed.
    """
    parser = argparse.ArgumentParser(
        prog="python -m fuzz.run", description="Run fuzz targets for a bounded time."
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="minutes per target")
    length.add_argument("--seconds", type=float, help="seconds per target (default 10)")
    parser.add_argument("--artifacts", default=".", help="where reproducers go")
    parser.add_argument("--keep", help="keep each target's corpus in KEEP/TARGET")
    parser.add_argument("targets", nargs="+", help=f"'all' or some of: {' '.join(TARGETS)}")
    options = parser.parse_args(argv)
    seconds = (options.minutes * 60 if options.minutes is not None
               else options.seconds if options.seconds is not None else 10.0)
    targets = list(TARGETS) if options.targets == ["all"] else options.targets
    results = []
    for target in targets:
        keep = os.path.join(options.keep, target) if options.keep else None
        result = runTarget(target, seconds, os.path.abspath(options.artifacts), keep)
        print(result.summary(), flush=True)
        if result.crashed:
            print(result.output, file=sys.stderr)
            for path in result.artifacts:
                print(f"reproducer: {path}  (python -m fuzz.{target} {path})", file=sys.stderr)
        results.append(result)
    return 1 if any(r.crashed for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
