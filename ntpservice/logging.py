# -*- test-case-name: tests.test_logging -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The daemon's logs: the C{logfile} directive, C{logconfig} message classes
and the readable line of each significant event.

Everything goes through C{twisted.logger}: twistd's own observer writes to
standard output (C{-n}), to C{twistd.log}, to C{-l FILE} or to syslog
(C{--syslog}, with C{--prefix}); C{logfile PATH} adds a file observer on
the global log publisher, opened when the daemon starts and reopened on
SIGHUP (log rotation).

Significant events and their lines:

  - a source selected: C{Selected ADDRESS (association N) as system
    peer; ...} (L{ntpservice.daemon}; class C{peer events});
  - no system peer: C{No system peer: ...} (C{sys events});
  - synchronization gained and lost: C{Clock synchronized to ...} and
    C{Clock no longer synchronized: ...} (L{SyncLogger}; C{sync status});
  - a step: C{Stepping the clock by ...} (always logged);
  - an association mobilized or demobilized: C{Mobilized association
    ...}, C{Pool NAME: mobilized association ...}, C{Demobilized
    association ...} (C{peer events});
  - interface changes: the daemon listens on wildcard sockets and has no
    interface tracker yet, so there are none to report.
"""

from __future__ import annotations

import io
from typing import IO, Any, Iterable

from zope.interface import implementer

from twisted.logger import ILogObserver, globalLogPublisher, textFileLogObserver

from ntpservice import _log
from ntpservice.core.status import isSynchronized
from ntpservice.interfaces import IDaemonObserver

LOG_CLASSES = ("clock", "peer", "sync", "sys")
"""ntpd's message classes."""

LOG_TYPES = ("info", "events", "status", "statistics")
"""ntpd's message types."""

NTPD_DEFAULT_MASK = frozenset(("sync", t) for t in LOG_TYPES)
"""What ntpd logs of the classified messages before C{logconfig} changes it."""

FORMAT_CLASSES: dict[str, tuple[str, str]] = {
    "Selected {address} (association {associd}) as system peer{why}; "
    "stratum {stratum}, refid {refid}, offset {offset:+.6f} s": ("peer", "events"),
    "No system peer{why}: {state}": ("sys", "events"),
    "{address} (association {associd}) is {event}": ("peer", "events"),
    "Not synchronizing to {address} (association {associd}) yet: {why}": (
        "sys",
        "events",
    ),
    "Demobilized association {associd} ({address}): {reason}": ("peer", "events"),
    "Mobilized association {associd} with {name} ({address})": ("peer", "events"),
    "Pool {name}: mobilized association {associd} with {address}": ("peer", "events"),
}
"""
The class of the event lines that other modules log without C{ntpClass}
(the format strings of L{ntpservice.daemon} and the mode plugins).
"""


class LogconfigError(ValueError):
    """A C{logconfig} keyword ntpservice does not know."""


def _keywordMask(keyword: str) -> frozenset[tuple[str, str]]:
    """
    The C{(class, type)} pairs of one keyword without its prefix:
    C{syncstatus}, C{allevents}, C{peerall}, C{allall}...
    """
    for cls in ("all",) + LOG_CLASSES:
        if keyword.startswith(cls):
            kind = keyword[len(cls) :]
            break
    else:
        raise LogconfigError(f"unknown logconfig keyword {keyword!r}")
    if kind != "all" and kind not in LOG_TYPES:
        raise LogconfigError(f"unknown logconfig keyword {keyword!r}")
    classes = LOG_CLASSES if cls == "all" else (cls,)
    kinds = LOG_TYPES if kind == "all" else (kind,)
    return frozenset((c, k) for c in classes for k in kinds)


def logMask(items: Iterable[str]) -> frozenset[tuple[str, str]] | None:
    """
    The message classes that C{logconfig} keywords leave on, with ntpd's
    semantics: start from L{NTPD_DEFAULT_MASK} (C{sync} messages), then
    for each keyword C{=} (or no prefix) sets, C{+} adds, C{-} removes.

    @param items: every C{logconfig} keyword in order
        (C{Configuration.logconfig}).
    @return: the C{(class, type)} pairs to log, or C{None} when there is
        no keyword (ntpservice then logs every class).
    @raise LogconfigError: on an unknown keyword.
    """
    items = list(items)
    if not items:
        return None
    mask = set(NTPD_DEFAULT_MASK)
    for item in items:
        prefix = item[:1]
        if prefix in ("+", "-", "="):
            keyword = item[1:]
        else:
            prefix, keyword = "=", item
        selected = _keywordMask(keyword)
        if prefix == "+":
            mask |= selected
        elif prefix == "-":
            mask -= selected
        else:
            mask = set(selected)
    return frozenset(mask)


def applyLogconfig(items: Iterable[str]) -> frozenset[tuple[str, str]] | None:
    """
    Make the daemon's loggers honour C{logconfig} keywords (see
    L{logMask}).

    @return: the mask set.
    """
    mask = logMask(items)
    _log.setLogMask(mask, FORMAT_CLASSES)
    return mask


class LogFile:
    """
    The C{logfile} directive: every log event also goes to a file.

    @ivar path: the file.
    """

    _log = _log.Logger()

    def __init__(self, path: str, publisher: Any = None) -> None:
        """
        @param path: the file, appended to.
        @param publisher: where to observe (the global log publisher by
            default).
        """
        self.path = path
        self._publisher = publisher if publisher is not None else globalLogPublisher
        self._file: IO[str] | None = None
        self._formatter: Any = None
        self._observer: ILogObserver | None = None

    def start(self) -> bool:
        """
        Open the file and observe.

        @return: whether the file could be opened (a failure is logged).
        """
        if not self._open():
            return False
        self._observer = _FileObserver(self)
        self._publisher.addObserver(self._observer)
        self._log.info("Logging to {path}", path=self.path)
        return True

    def reopen(self) -> None:
        """
        Close the file and open it again (after log rotation).
        """
        if self._observer is None:
            return
        self._close()
        self._open()

    def stop(self) -> None:
        """
        Stop observing and close the file.
        """
        if self._observer is not None:
            self._publisher.removeObserver(self._observer)
            self._observer = None
        self._close()

    def _open(self) -> bool:
        try:
            self._file = io.open(self.path, "a", encoding="utf-8", errors="replace")
        except OSError as e:
            self._log.error(
                "Cannot open the log file {path}: {error}",
                path=self.path,
                error=e.strerror,
            )
            return False
        self._formatter = textFileLogObserver(self._file)
        return True

    def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass

    def emit(self, event: dict[str, Any]) -> None:
        """Write one event (called by the observer)."""
        if self._file is None or self._formatter is None:
            return
        self._formatter(event)


@implementer(ILogObserver)
class _FileObserver:
    """The observer L{LogFile} registers; it survives L{LogFile.reopen}."""

    def __init__(self, logFile: LogFile) -> None:
        self._logFile = logFile

    def __call__(self, event: dict[str, Any]) -> None:
        self._logFile.emit(event)


@implementer(IDaemonObserver)
class SyncLogger:
    """
    A daemon observer (see L{NTPDaemon.addObserver
    <ntpservice.daemon.NTPDaemon.addObserver>}) that logs one line when the
    clock becomes synchronized and one when it stops being synchronized
    (see L{ntpservice.core.status.isSynchronized}).

    @ivar synchronized: the state last reported.
    """

    _log = _log.Logger()

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        self.synchronized = isSynchronized(daemon.engine)

    def clockUpdated(self, now: float) -> None:
        self._check("")

    def systemPeerChanged(self, associd: int | None, address: str | None) -> None:
        self._check("")

    def clockStepped(self, offset: float) -> None:
        self._check(f"the clock was stepped by {offset:+.6f} s")

    def _check(self, reason: str) -> None:
        engine = self.daemon.engine
        now = isSynchronized(engine)
        if now == self.synchronized:
            return
        self.synchronized = now
        system = engine.system
        if now:
            peer = engine.associations.byID[engine.systemPeer]
            source = peer.address
            if peer.settings.refclock is not None and peer.settings.name:
                # A reference clock by its name too: LOCAL(0) (127.127.1.0).
                source = f"{peer.settings.name} ({peer.address})"
            self._log.info(
                "Clock synchronized to {source}: stratum {stratum}, "
                "offset {offset:+.6f} s",
                source=source,
                stratum=min(system.stratum, 16),
                offset=engine.discipline.offset,
                ntpClass="sync",
                ntpType="status",
            )
            return
        if not reason:
            reason = (
                "no system peer"
                if engine.systemPeer is None
                else "the system variables are unsynchronized"
            )
        self._log.info(
            "Clock no longer synchronized: {reason}",
            reason=reason,
            ntpClass="sync",
            ntpType="status",
        )
