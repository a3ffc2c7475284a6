# -*- test-case-name: tests.nts.test_client -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
An NTS client session (RFC 8915 sections 4 and 5): the keys and cookies of
one server, got by NTS-KE, and the protection of the association's
requests and the verification of its replies
(L{ntpservice.core.authenticator.NTSSession}).

  - Each request carries a fresh unique identifier, one cookie (never used
    twice), a placeholder for every further cookie needed to fill the jar
    back to eight, and the authenticator field.
  - A reply counts only if it echoes the identifier of our last request
    and its authenticator verifies with the server-to-client key; its
    encrypted cookies go into the jar. A replayed reply (its identifier
    already answered) or a forged one is refused.
  - NTS-KE runs again on an NTS NAK, when the jar is empty, and when
    L{UNANSWERED_LIMIT} requests in a row got no valid reply; failed
    exchanges are retried with exponential backoff.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from ntpservice._log import Logger
from ntpservice.core.packet import HEADER_LEN
from ntpservice.nts import protocol as P
from ntpservice.nts.aead import open_, seal

__all__ = ["MAX_COOKIES", "NTSClientSession"]

MAX_COOKIES = 8
"""Cookies kept (RFC 8915 section 5.7: the client keeps eight)."""

UNANSWERED_LIMIT = 8
"""Requests in a row without a valid reply after which NTS-KE runs again."""

MIN_BACKOFF = 4.0
"""Seconds before the first retry of a failed NTS-KE."""

MAX_BACKOFF = 1024.0
"""The longest wait between NTS-KE attempts, s."""

UID_LENGTH = 32
NONCE_LENGTH = 16


class NTSClientSession:
    """
    The NTS state of one server.

    @ivar name: the NTS-KE server's name (verified in its certificate).
    @ivar cookies: the cookie jar.
    @ivar server: the NTP server's address (from NTS-KE), or C{None}.
    @ivar port: the NTP port (from NTS-KE).
    @ivar counters: C{sent}, C{good}, C{bad}, C{nak}, C{replay},
        C{keAttempts}, C{keSuccesses}, C{keFailures}, C{nocookie}.
    @ivar lastError: why the last NTS-KE failed, or C{None}.
    """

    _log = Logger()

    def __init__(
        self,
        name: str,
        reactor: Any,
        exchange: Callable[..., Any],
        kePort: int = P.DEFAULT_KE_PORT,
        caFile: str | None = None,
        verify: bool = True,
        aead: tuple[int, ...] = (15,),
        randomBytes: Callable[[int], bytes] = os.urandom,
        count: Callable[[str], None] = lambda name: None,
    ) -> None:
        """
        @param exchange: L{ntpservice.nts.ke.exchange}, or a fake.
        @param count: also told each counted event, as C{nts.client.NAME}
            (the daemon's packet counters).
        """
        self.name = name
        self._reactor = reactor
        self._exchange = exchange
        self.kePort = kePort
        self.caFile = caFile
        self.verifyCertificate = verify
        self.aead = aead
        self._random = randomBytes
        self.cookies: list[bytes] = []
        self.aeadID: int | None = None
        self._c2s = b""
        self._s2c = b""
        self.server: str | None = None
        self.port = 123
        self._pendingUID: bytes | None = None
        self._unanswered = 0
        self._exchanging = False
        self._backoff = MIN_BACKOFF
        self._retry: Any = None
        self._onKeys: Callable[[NTSClientSession], None] | None = None
        self._stopped = False
        self.lastError: str | None = None
        self._count = count
        self.counters = dict.fromkeys(
            ("sent", "good", "bad", "nak", "replay", "keAttempts", "keSuccesses",
             "keFailures", "nocookie"), 0
        )

    def _counted(self, name: str) -> None:
        self.counters[name] += 1
        self._count(f"nts.client.{name}")

    # -- key exchange ----------------------------------------------------

    def start(self, onKeys: Callable[[NTSClientSession], None]) -> None:
        """
        Run NTS-KE; C{onKeys(self)} is called after every successful one
        (the first one mobilizes the association).
        """
        self._onKeys = onKeys
        self.rekey("start")

    def stop(self) -> None:
        """
        Cancel a pending retry; nothing more is started.
        """
        self._stopped = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None

    def rekey(self, why: str) -> None:
        """
        Run NTS-KE now, unless one runs already or a retry is scheduled
        (then that retry is the next attempt).
        """
        if self._stopped or self._exchanging or (
            self._retry is not None and self._retry.active()
        ):
            return
        self._exchanging = True
        self._counted("keAttempts")
        if why != "start":
            self._log.info(
                "NTS-KE with {name} again: {why}", name=self.name, why=why
            )
        d = self._exchange(
            self._reactor, self.name, self.kePort, self.caFile, self.verifyCertificate, self.aead
        )
        d.addCallbacks(self._keyed, self._keyFailed)

    def _keyed(self, result: Any) -> None:
        self._exchanging = False
        self._counted("keSuccesses")
        self.aeadID = result.aeadID
        self._c2s, self._s2c = result.c2s, result.s2c
        self.cookies = list(result.cookies[:MAX_COOKIES])
        self.server, self.port = result.server, result.port
        self._pendingUID = None
        self._unanswered = 0
        self._backoff = MIN_BACKOFF
        self.lastError = None
        self._log.info(
            "NTS-KE with {name}: {count} cookies, AEAD {aead}, NTP server {server} port {port}",
            name=self.name,
            count=len(self.cookies),
            aead=result.aeadID,
            server=result.server,
            port=result.port,
        )
        if self._onKeys is not None and not self._stopped:
            self._onKeys(self)

    def _keyFailed(self, failure: Any) -> None:
        self._exchanging = False
        self._counted("keFailures")
        self.lastError = str(failure.value)
        delay = self._backoff
        self._backoff = min(MAX_BACKOFF, self._backoff * 2)
        self._log.error(
            "NTS-KE with {name} port {port} failed: {reason}; retrying in {delay:g} s",
            name=self.name,
            port=self.kePort,
            reason=self.lastError,
            delay=delay,
        )
        if not self._stopped:
            self._retry = self._reactor.callLater(delay, self._retried)

    def _retried(self) -> None:
        self._retry = None
        self.rekey("retry")

    # -- NTSSession --------------------------------------------------------

    def sign(self, data: bytes) -> bytes | None:
        """
        Protect a request (see L{ntpservice.core.authenticator.NTSSession}).
        """
        if not self.cookies:
            self._counted("nocookie")
            self.rekey("no cookie left")
            return None
        self._unanswered += 1
        if self._unanswered > UNANSWERED_LIMIT:
            self._unanswered = 0
            self.rekey(f"{UNANSWERED_LIMIT} requests without a valid reply")
        cookie = self.cookies.pop(0)
        placeholders = max(0, MAX_COOKIES - len(self.cookies) - 1)
        uid = self._random(UID_LENGTH)
        fields = P.field(P.EF_UNIQUE_IDENTIFIER, uid).encode()
        fields += P.field(P.EF_COOKIE, cookie).encode()
        placeholder = P.field(P.EF_COOKIE_PLACEHOLDER, bytes(len(cookie))).encode()
        fields += placeholder * placeholders
        associated = bytes(data[:HEADER_LEN]) + fields
        nonce = self._random(NONCE_LENGTH)
        ciphertext = seal(self._c2s, nonce, b"", associated)
        self._pendingUID = uid
        self._counted("sent")
        return associated + P.authenticatorField(nonce, ciphertext).encode()

    def verify(self, data: bytes, packet: Any) -> bool:
        """
        Check a reply (see L{ntpservice.core.authenticator.NTSSession}).
        """
        extensions = packet.extensions
        uid = next(
            (e.value for e in extensions if e.fieldType == P.EF_UNIQUE_IDENTIFIER), None
        )
        if uid is None or self._pendingUID is None or uid[:UID_LENGTH] != self._pendingUID:
            self._counted("replay" if uid is not None else "bad")
            return False
        if packet.stratum == 0 and packet.refid == P.KISS_NTSN:
            # An NTS NAK (section 5.7): our cookie no longer opens.
            self._counted("nak")
            self._pendingUID = None
            self.cookies = []
            self.rekey("the server sent an NTS NAK")
            return False
        index = next(
            (i for i, e in enumerate(extensions) if e.fieldType == P.EF_AUTHENTICATOR), None
        )
        if index is None:
            self._counted("bad")
            return False
        try:
            nonce, ciphertext = P.parseAuthenticator(extensions[index])
            plaintext = open_(self._s2c, nonce, ciphertext, P.associatedData(data, packet, index))
            if plaintext is None:
                self._counted("bad")
                return False
            fields = P.decodeFields(plaintext)
        except P.NTSError:
            self._counted("bad")
            return False
        self._pendingUID = None
        self._unanswered = 0
        for extension in fields:
            if extension.fieldType == P.EF_COOKIE and len(self.cookies) < MAX_COOKIES:
                self.cookies.append(extension.value)
        self._counted("good")
        return True
