# -*- test-case-name: tests.core.test_association -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
How an association authenticates its packets: an authenticator object, not
a key number, so that a new scheme (NTS cookies, issue 14) is a new kind of
authenticator rather than a new field everywhere.

The core only describes the scheme; the shell (L{ntpservice.auth.keyring})
signs and verifies with the keys it holds, dispatching on the kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = [
    "Authenticator",
    "NoAuthentication",
    "SymmetricKey",
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


Authenticator = Union[NoAuthentication, SymmetricKey]
"""Every kind of authenticator (NTS joins it with issue 14)."""

NO_AUTHENTICATION = NoAuthentication()


def authenticatorFor(keyID: int | None) -> Authenticator:
    """
    The authenticator of a configuration line's C{key} option.

    @param keyID: the key number, or C{None} for none.
    """
    return NO_AUTHENTICATION if keyID is None else SymmetricKey(keyID)
