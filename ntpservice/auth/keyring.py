# -*- test-case-name: tests.auth.test_keyring -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The daemon's key ring, from its configuration: the C{keys} file, trusted as
C{trustedkey} (plus C{requestkey} and C{controlkey}, which NTPsec requires
to be trusted keys) say, and the checks that the configuration's key
references make sense.
"""

from __future__ import annotations

from typing import Any

from ntpservice.auth.keys import KeyRing, KeysError, parseKeysFile, parseKeysText
from ntpservice.auth.mac import NO_MAC, AuthResult, AuthStatus, signPacket, verifyPacket
from ntpservice.config import ConfigError
from ntpservice.core import access
from ntpservice.core.authenticator import Authenticator, NTSAuthenticator, SymmetricKey
from ntpservice.core.restrict import RestrictTable


KEYS_TEXT_NAME = "<keys>"
"""The name of keys text given to L{loadKeyRing} without a C{keys} line."""


def loadKeyRing(configuration: Any, keysText: str | bytes | None = None) -> KeyRing:
    """
    Read and check the configuration's keys.

    @param keysText: the contents of the keys file, read instead of the
        file the C{keys} line names (a simulated host has no files of its
        own); named after that line's path, or L{KEYS_TEXT_NAME} without
        one. C{None}: read the file.
    @return: the ring (empty without a C{keys} line or C{keysText}).
    @raise ConfigError: C{FILE:LINE: message} for a bad keys file, or for an
        association, C{requestkey} or C{controlkey} naming a key that is not
        in it.
    """
    trusted = set(configuration.trustedKeys)
    for line in (configuration.requestKey, configuration.controlKey):
        if line is not None:
            trusted.add(int(line.value))
    keysPath = configuration.keys.path if configuration.keys is not None else None
    if keysText is not None:
        keysPath = keysPath if keysPath is not None else KEYS_TEXT_NAME
        ring = parseKeysText(keysText, keysPath).withTrusted(trusted)
    elif configuration.keys is None:
        ring = KeyRing()
    else:
        path = configuration.keys.path
        try:
            ring = parseKeysFile(path).withTrusted(trusted)
        except KeysError as e:
            if e.source.line:
                raise
            # The file as a whole (missing, unreadable): point at the keys
            # line that names it.
            raise ConfigError(configuration.keys.source, f"{path}: {e.message}")
    for directive in configuration.associations:
        checkAssociationKey(directive, ring, keysPath)
    for line in (configuration.requestKey, configuration.controlKey):
        if line is not None and keysPath is not None and int(line.value) not in ring:
            raise ConfigError(
                line.source,
                f"{line.directive} {int(line.value)} is not in the keys file "
                f"{keysPath}",
            )
    return ring


def checkAssociationKey(directive: Any, ring: KeyRing, keysPath: str | None) -> None:
    """
    Check the C{key} of an association line (C{server}, C{pool}, ...):
    from the configuration file, or from C{ntpq :config} at run time.

    @param ring: the keys in use.
    @param keysPath: the keys file's path, C{None} without a C{keys} line.
    @raise ConfigError: C{FILE:LINE: message} when the key is not in the
        keys file (or there is none) or is not trusted.
    """
    keyID = getattr(directive, "key", None)
    if keyID is None:
        return
    if keysPath is None:
        raise ConfigError(
            directive.source,
            f"key {keyID} needs a keys file: add a 'keys FILE' line",
        )
    if keyID not in ring:
        raise ConfigError(
            directive.source,
            f"key {keyID} is not in the keys file {keysPath}",
        )
    if not ring.isTrusted(keyID):
        raise ConfigError(
            directive.source,
            f"key {keyID} is not trusted: add it to a trustedkey line",
        )


def accessStatus(result: AuthResult) -> str:
    """
    The authentication outcome as L{ntpservice.core.access} takes it.
    """
    status = result.status
    if status is AuthStatus.NONE:
        return access.AUTH_NONE
    if status is AuthStatus.OK:
        return access.AUTH_OK
    if status is AuthStatus.CRYPTO_NAK:
        return access.AUTH_CRYPTO_NAK
    return access.AUTH_ERROR


def admit(
    datagram: Any,
    packet: Any,
    keyring: KeyRing | None,
    restrictions: RestrictTable | None,
    mru: Any,
) -> tuple[AuthResult, access.Decision]:
    """
    What to do with an arriving time packet on the server path (a request
    to answer): check its MAC (when it has one and there are keys), then
    the C{restrict} entry of its source, in ntpd's order, the MRU list and
    its rate limit included. Replies on our associations go through
    L{admitReply} instead.

    @param datagram: the L{ntpservice.net.udp.ReceivedDatagram}.
    @param packet: its decoded L{ntpservice.core.packet.NTPPacket}.
    @return: the authentication result and the access decision (answer or
        carry on, drop, kiss, or crypto-NAK); without restrictions, a
        failed MAC still means a crypto-NAK.
    """
    auth = _verify(datagram, packet, keyring)
    if restrictions is None:
        return auth, access.CRYPTO_NAK if auth.failed else access.ANSWER
    host, port = datagram.source
    decision = access.serverDecision(
        restrictions.lookup(host, port),
        packet,
        datagram.rxTime / 1e9,
        host,
        port,
        mru,
        authentication=accessStatus(auth),
    )
    return auth, decision


def admitReply(
    datagram: Any,
    packet: Any,
    keyring: KeyRing | None,
    restrictions: RestrictTable | None,
) -> tuple[AuthResult, access.Decision]:
    """
    What to do with a reply on one of our associations: check its MAC
    (when it has one and there are keys), then the C{restrict} entry of its
    source as ntpd applies it to replies (C{ignore}, C{noserve},
    C{notrust} without a MAC, C{version}: L{access.replyDecision}).

    Unlike L{admit}, there is no MRU list: a reply is not a request, so it
    is neither recorded nor rate limited, whatever C{limited} says (a
    spoofed request with the server's address cannot get its genuine
    replies dropped).

    @param datagram: the L{ntpservice.net.udp.ReceivedDatagram}.
    @param packet: its decoded L{ntpservice.core.packet.NTPPacket}.
    @return: the authentication result and the access decision: answer
        (carry on), or a drop; without restrictions, a failed MAC means a
        crypto-NAK, as with L{admit}.
    """
    auth = _verify(datagram, packet, keyring)
    if restrictions is None:
        return auth, access.CRYPTO_NAK if auth.failed else access.ANSWER
    host, port = datagram.source
    return auth, access.replyDecision(restrictions.lookup(host, port), packet, port)


def _verify(datagram: Any, packet: Any, keyring: KeyRing | None) -> AuthResult:
    """
    @return: the result of checking C{packet}'s MAC, L{NO_MAC} without one
        or without keys.
    """
    if packet.mac is not None and keyring is not None:
        return verifyPacket(datagram.data, packet, keyring, datagram.source[0])
    return NO_MAC


def signFor(authenticator: Authenticator, data: bytes, keyring: KeyRing) -> bytes | None:
    """
    Sign an association's outgoing packet as its authenticator says.

    @param authenticator: the association's
        L{ntpservice.core.authenticator.Authenticator}.
    @param data: the encoded packet.
    @param keyring: the keys in force.
    @return: the packet to send (with its MAC, when the authenticator has a
        key; with its NTS fields for NTS), or C{None} when the key is no
        longer a trusted key of the keys file, or NTS has no cookie left
        (nothing must be sent).
    """
    if isinstance(authenticator, NTSAuthenticator):
        return authenticator.session.sign(data)
    if isinstance(authenticator, SymmetricKey):
        key = keyring.trustedKey(authenticator.keyID)
        if key is None:
            return None
        return signPacket(data, key)
    return data


def authenticates(
    authenticator: Authenticator, auth: Any, data: bytes = b"", packet: Any = None
) -> bool:
    """
    Whether an arriving packet's authentication satisfies the association
    it matched (seed 004 checks 5 and 11: an authenticated association
    accepts only packets that verify with its key).

    @param auth: the L{ntpservice.auth.mac.Authentication} of the packet.
    @param data: the datagram (NTS verifies it whole).
    @param packet: its decoding.
    """
    if isinstance(authenticator, NTSAuthenticator):
        return packet is not None and authenticator.session.verify(data, packet)
    if isinstance(authenticator, SymmetricKey):
        return bool(auth.isAuthenticWith(authenticator.keyID))
    return True
