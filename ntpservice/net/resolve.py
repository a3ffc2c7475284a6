# -*- test-case-name: tests.control.test_mode6,tests.test_daemon -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Name resolution that never blocks the reactor.

L{HostResolver} asks the reactor's pluggable name resolver (getaddrinfo in
Twisted's thread pool by default) for every address of a name, removes
duplicates, keeps the order, and retries with back-off while resolution
fails. Address literals are answered at once. Re-resolution as TTLs expire
arrives with the asynchronous DNS milestone.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable

from zope.interface import implementer

from twisted.internet.interfaces import IResolutionReceiver

from ntpservice._log import Logger

FIRST_RETRY = 60.0
"""Seconds before the first retry of a failed resolution."""
MAX_RETRY = 3600.0
"""Seconds: the retry interval doubles up to this."""


@implementer(IResolutionReceiver)
class _Receiver:
    def __init__(self, done: Callable[[list[str]], None]) -> None:
        self._done = done
        self._addresses: list[str] = []

    def resolutionBegan(self, resolution: Any) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        host = address.host
        if host not in self._addresses:
            self._addresses.append(host)

    def resolutionComplete(self) -> None:
        self._done(self._addresses)


class HostResolver:
    """
    Resolve names for the mode plugins.
    """

    _log = Logger()

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._pending: list[Any] = []
        self._stopped = False

    def resolve(
        self,
        name: str,
        ipVersion: int | None,
        callback: Callable[[list[str]], None],
        retry: float = FIRST_RETRY,
    ) -> None:
        """
        Call C{callback} with every address of C{name} (at least one),
        retrying later while there is none.

        @param ipVersion: 4 or 6 to want only that family (C{-4}/C{-6}),
            else C{None}.
        """
        try:
            literal = ipaddress.ip_address(name.split("%")[0])
        except ValueError:
            pass
        else:
            callback([str(literal)])
            return
        from twisted.internet.address import IPv4Address, IPv6Address

        types = None
        if ipVersion == 4:
            types = [IPv4Address]
        elif ipVersion == 6:
            types = [IPv6Address]

        def done(addresses: list[str]) -> None:
            if self._stopped:
                return
            if addresses:
                callback(addresses)
                return
            self._log.warn(
                "Cannot resolve {name}; trying again in {delay:.0f} s",
                name=name,
                delay=retry,
            )
            call = self._reactor.callLater(
                retry,
                self.resolve,
                name,
                ipVersion,
                callback,
                min(retry * 2, MAX_RETRY),
            )
            self._pending.append(call)

        self._reactor.nameResolver.resolveHostName(
            _Receiver(done), name, 0, types, "UDP"
        )

    def cancel(self) -> None:
        """
        Stop every pending retry and ignore answers still to come.
        """
        self._stopped = True
        for call in self._pending:
            if call.active():
                call.cancel()
        self._pending = []
