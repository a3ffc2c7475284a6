# -*- test-case-name: tests.core.test_association -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
How an association authenticates its packets: an authenticator object, not
a key number, so that a new scheme (NTS cookies, issue 14) is a new kind of
authenticator rather than a new field everywhere.

The core only describes the scheme; the shell (L{ntpservice.auth.keyring})
signs and verifies with the keys it holds, dispatching on the kind. An NTS
authenticator carries the shell's session object (L{NTSSession}, made by
L{ntpservice.nts.client}), which holds the keys and cookies: the crypto is
injected, and the core never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Union

__all__ = [
    "Authenticator",
    "NoAuthentication",
    "NTSAuthenticator",
    "NTSSession",
    "SymmetricKey",
    "isAuthenticating",
    "NO_AUTHENTICATION",
    "authenticatorFor",
]


@dataclass(frozen=True, slots=True)
class NoAuthentication:
    """
    Packets are neither signed nor required to be signed.
    """

    kind = "none"
    keyID: None = None


@dataclass(frozen=True, slots=True)
class SymmetricKey:
    """
    Packets are signed with, and replies must verify with, symmetric key
    C{keyID} of the keys file (which must be trusted).
    """

    keyID: int
    kind = "symmetric"


class NTSSession(Protocol):
    """
    What an NTS authenticator's session does (RFC 8915 section 5): the
    shell's implementation holds the keys and cookies of one server.
    """

    def sign(self, data: bytes) -> bytes | None:
        """
        Protect an encoded request: add the unique identifier, a cookie,
        placeholders and the authenticator field.

        @return: the request to send, or C{None} when there is no cookie
            (nothing is sent; a new key exchange is under way).
        """

    def verify(self, data: bytes, packet: Any) -> bool:
        """
        Whether a reply (C{data}, decoded as C{packet}) answers our last
        request and is authentic; its fresh cookies are kept.
        """


@dataclass(frozen=True, slots=True, eq=False)
class NTSAuthenticator:
    """
    Packets carry NTS extension fields (RFC 8915): requests are protected,
    and only replies that C{session} verifies count.

    @ivar session: the L{NTSSession} of the server.
    """

    session: NTSSession
    kind = "nts"
    keyID: None = None


Authenticator = Union[NoAuthentication, SymmetricKey, NTSAuthenticator]
"""Every kind of authenticator."""


def isAuthenticating(authenticator: Authenticator) -> bool:
    """
    Whether an authenticator authenticates packets (for the peer status
    word's C{aen} bit and mode 6's C{authenable}).
    """
    return authenticator.kind != "none"

NO_AUTHENTICATION = NoAuthentication()


def authenticatorFor(keyID: int | None) -> Authenticator:
    """
    The authenticator of a configuration line's C{key} option.

    @param keyID: the key number, or C{None} for none.
    """
    return NO_AUTHENTICATION if keyID is None else SymmetricKey(keyID)
