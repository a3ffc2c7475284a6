# -*- test-case-name: tests.auth.test_keys -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Symmetric keys: the keys file of ntpd and NTPsec, read into a L{KeyRing}.

File format
===========

The file named by the C{keys} directive of ntp.conf holds one key per line::

    # KEYID TYPE KEY [ADDRESSES]
    1  MD5        crocus
    2  SHA1       933f62be1d604e68a81b557f18cfa200483f5b70
    3  AES128CMAC 7ea62ae64d190114d46d5a082f948ec1
    4  SHA256     mykey10  192.0.2.1,2001:db8::/32

C{#} starts a comment that runs to the end of the line (so a key cannot
contain C{#}); blank lines are ignored; fields are separated by spaces or
tabs.  This module accepts exactly what follows and refuses anything else,
the whole file at once, with an error whose C{str()} is C{FILE:LINE:
message}:

  - C{KEYID}: a decimal number from 1 to 65535 (ntpd's C{NTP_MAXKEY}).
    Key 0 is fixed by the standard and cannot be set.

  - C{TYPE}, case-insensitive: C{MD5} (also C{M}, classic ntpd's one-letter
    type), C{SHA1} (also C{SHA-1}), C{SHA224}, C{SHA256}, C{SHA384},
    C{SHA512} (also C{SHA-256}, C{SHA2-256}, ...), C{SHA3-224},
    C{SHA3-256}, C{SHA3-384}, C{SHA3-512}, and the AES CMACs:
    C{AES128CMAC} (classic ntpd's name; also C{AES}, C{AES128},
    C{AES-128} as NTPsec and chrony write it, and C{AES-128-CMAC}),
    C{AES192CMAC} and C{AES256CMAC} (same aliases).  These are the types
    that NTPsec (any OpenSSL digest or C{-CBC} cipher) and classic ntpd
    accept and that chrony shares with them, less the exotic ones.
    C{SHA} (SHA-0) is refused: OpenSSL dropped it.

  - C{KEY}: up to 20 characters is an ASCII key, used as written: printable
    ASCII without C{#}.  Longer is a hexadecimal key (the rule of ntpd and
    NTPsec): an even number of hex digits, at most 64 (32 bytes); ntpd
    silently truncates longer keys and ignores a trailing odd digit, we
    refuse them.  A key of 20 hex digits or fewer is therefore ASCII.

  - An AES CMAC key is as long as the cipher's key (16, 24 or 32 bytes).
    As classic ntpd does (and NTPsec means to), a shorter key is padded
    with zero bytes and a longer one truncated; both are reported in
    L{KeyRing.warnings}.  The padded or truncated key is what the
    L{SymmetricKey} holds, so L{formatKeysFile} writes it in full.

  - C{ADDRESSES} (classic ntpd only; NTPsec ignores the field): a
    comma-separated list of IP addresses or networks (C{ADDRESS/BITS})
    from which the key is trusted.  See L{KeyRing.isTrusted}.

The file is read only if it is a regular file of at most 1 MiB
(L{MAX_KEYS_BYTES <ntpservice.config.files.MAX_KEYS_BYTES>}); C{/dev/zero},
a FIFO or a larger file is refused without being read, and so is a line
longer than 4096 characters.

Things ntpd accepts without complaint but which are suspicious are
accepted and recorded in L{KeyRing.warnings}: a key identifier defined
twice (the last definition wins, as in ntpd), a key that starts with
chrony's C{ASCII:} or C{HEX:} prefix (ntpd and NTPsec take it literally),
AES keys padded or truncated.

Digests longer than 20 bytes are truncated to 20 bytes on the wire, as
NTPsec and chrony do for NTPv4 (RFC 7822 allows only 16- and 20-byte
digests after extension fields).

Keeping secrets
===============

Key material never reaches a log: C{repr()} and C{str()} of a
L{SymmetricKey} show its identifier and type only, error and warning
messages never quote a key (nor any field that might be one), and
L{checkPermissions} warns about a keys file that group or others can
read.

This module reads files (L{parseKeysFile}); nothing else in
L{ntpservice.auth} does.  It never touches the network or the clock.

@see: ntp.keys(5) of NTPsec and of ntpd 4.2.8, chrony.conf(5) C{keyfile},
    RFC 5905 section 7.3, RFC 7822, RFC 8573
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union, overload

from ntpservice.config import ConfigError, SourceLocation
from ntpservice.config.files import MAX_KEYS_BYTES, lineTooLong, readBoundedStat

__all__ = [
    "MAX_KEY_ID",
    "MAX_ASCII_KEY_LENGTH",
    "MAX_KEY_BYTES",
    "MAX_WIRE_DIGEST_LENGTH",
    "KeyType",
    "KEY_TYPES",
    "lookupKeyType",
    "Network",
    "KeysError",
    "SymmetricKey",
    "KeyRing",
    "parseKeysText",
    "parseKeysFile",
    "checkPermissions",
    "formatKeysFile",
]

MAX_KEY_ID = 65535
"""The largest key identifier of a symmetric key (ntpd's C{NTP_MAXKEY})."""

MAX_ASCII_KEY_LENGTH = 20
"""A key of up to this many characters is ASCII; a longer one is hex."""

MAX_KEY_BYTES = 32
"""The longest key in bytes (64 hex digits), as in ntpd and NTPsec."""

MAX_WIRE_DIGEST_LENGTH = 20
"""Digests longer than this many bytes are truncated on the wire."""

_T = TypeVar("_T")

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
"""An IP network, as in a key's address list."""


@dataclass(frozen=True, slots=True)
class KeyType:
    """
    A MAC algorithm of the keys file.

    @ivar name: the canonical name, as L{SymmetricKey.keyType} holds it.
    @ivar hashName: the C{hashlib} name of the digest, for a digest type
        (MAC = H(key || packet)); C{None} for a CMAC.
    @ivar cmacKeyLength: the cipher's key length in bytes, for an AES
        CMAC (MAC = AES-CMAC(key, packet)); C{None} for a digest.
    @ivar macLength: length in bytes of the digest on the wire: the
        algorithm's output, truncated to L{MAX_WIRE_DIGEST_LENGTH}.
    @ivar ntpsecName: the name written in an NTPsec (and, where it has the
        type, classic ntpd) keys file.
    @ivar chronyName: the name in a chrony keys file, or C{None} when
        chrony does not have the type.
    @ivar aliases: every accepted spelling, upper case.
    """

    name: str
    hashName: str | None
    cmacKeyLength: int | None
    macLength: int
    ntpsecName: str
    chronyName: str | None
    aliases: tuple[str, ...]

    @property
    def isCMAC(self) -> bool:
        """Whether this is an AES CMAC rather than a digest."""
        return self.cmacKeyLength is not None


def _digest(
    name: str, hashName: str, length: int, chrony: str | None, *aliases: str
) -> KeyType:
    return KeyType(
        name,
        hashName,
        None,
        min(length, MAX_WIRE_DIGEST_LENGTH),
        name,
        chrony,
        (name, *aliases),
    )


def _cmac(bits: int, chrony: str | None) -> KeyType:
    return KeyType(
        f"AES{bits}CMAC",
        None,
        bits // 8,
        16,
        # Classic ntpd knows AES-128 only, as AES128CMAC, which NTPsec
        # accepts too; NTPsec spells the others AES-192 and AES-256.
        "AES128CMAC" if bits == 128 else f"AES-{bits}",
        chrony,
        (
            f"AES{bits}CMAC",
            f"AES-{bits}-CMAC",
            f"AES{bits}",
            f"AES-{bits}",
            *(("AES",) if bits == 128 else ()),
        ),
    )


KEY_TYPES: Mapping[str, KeyType] = {
    keyType.name: keyType
    for keyType in (
        _digest("MD5", "md5", 16, "MD5", "M"),
        _digest("SHA1", "sha1", 20, "SHA1", "SHA-1"),
        _digest("SHA224", "sha224", 28, None, "SHA-224", "SHA2-224"),
        _digest("SHA256", "sha256", 32, "SHA256", "SHA-256", "SHA2-256"),
        _digest("SHA384", "sha384", 48, "SHA384", "SHA-384", "SHA2-384"),
        _digest("SHA512", "sha512", 64, "SHA512", "SHA-512", "SHA2-512"),
        _digest("SHA3-224", "sha3_224", 28, "SHA3-224", "SHA3_224"),
        _digest("SHA3-256", "sha3_256", 32, "SHA3-256", "SHA3_256"),
        _digest("SHA3-384", "sha3_384", 48, "SHA3-384", "SHA3_384"),
        _digest("SHA3-512", "sha3_512", 64, "SHA3-512", "SHA3_512"),
        _cmac(128, "AES128"),
        _cmac(192, None),
        _cmac(256, "AES256"),
    )
}
"""The supported key types by canonical name, in a sensible display order."""

_ALIASES: dict[str, KeyType] = {
    alias: keyType for keyType in KEY_TYPES.values() for alias in keyType.aliases
}


def lookupKeyType(name: str) -> KeyType | None:
    """
    Find a key type by any of its names, ignoring case.

    @param name: a type as written in a keys file (C{"md5"}, C{"AES"},
        C{"aes-128"}, C{"SHA-1"}, ...).
    @return: the type, or C{None} if it is not supported.
    """
    return _ALIASES.get(name.upper())


class KeysError(ConfigError):
    """
    A keys file was refused, as a whole.

    C{str()} is C{FILE:LINE: what is wrong} (C{FILE: what is wrong} when the
    file could not be read).  The message never quotes key material.
    """


@dataclass(frozen=True, slots=True)
class SymmetricKey:
    """
    One symmetric key.

    C{repr()} and C{str()} show the identifier, type and source only: the
    secret never reaches a log.  Equality ignores L{source}.

    @ivar keyID: the key identifier, 1 to L{MAX_KEY_ID}.
    @ivar keyType: the canonical type name, a key of L{KEY_TYPES} (the
        constructor accepts any alias, ignoring case, and stores the
        canonical name).
    @ivar secret: the key material: 1 to L{MAX_KEY_BYTES} bytes for a
        digest, exactly the cipher's key length for an AES CMAC.
    @ivar source: where the key was read, or C{None}.
    @ivar restrictedTo: the networks the key is trusted from (classic
        ntpd's address list); empty for "anywhere".
    """

    keyID: int
    keyType: str
    secret: bytes = field(repr=False)
    source: SourceLocation | None = field(default=None, compare=False)
    restrictedTo: tuple[Network, ...] = ()
    _macState: Any = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )
    """Private: the pre-keyed MAC object that L{ntpservice.auth.mac} caches."""

    def __post_init__(self) -> None:
        """
        Check the fields and normalize L{keyType}.

        @raise ValueError: if a value is out of range or the type unknown.
        @raise TypeError: if a value has the wrong type.
        """
        if type(self.keyID) is not int:
            raise TypeError(f"key identifier must be an int: {self.keyID!r}")
        if not 1 <= self.keyID <= MAX_KEY_ID:
            raise ValueError(
                f"key identifier {self.keyID} out of range 1..{MAX_KEY_ID}"
            )
        if not isinstance(self.keyType, str):
            raise TypeError(f"key type must be a str: {self.keyType!r}")
        keyType = lookupKeyType(self.keyType)
        if keyType is None:
            raise ValueError(f"unknown key type {self.keyType!r}")
        object.__setattr__(self, "keyType", keyType.name)
        if not isinstance(self.secret, bytes):
            # Not the value: it is a secret.
            raise TypeError("key secret must be bytes")
        if keyType.cmacKeyLength is not None:
            if len(self.secret) != keyType.cmacKeyLength:
                raise ValueError(
                    f"a {keyType.name} key must be {keyType.cmacKeyLength} "
                    f"bytes, not {len(self.secret)}"
                )
        elif not 1 <= len(self.secret) <= MAX_KEY_BYTES:
            raise ValueError(
                f"a key must be 1 to {MAX_KEY_BYTES} bytes, not {len(self.secret)}"
            )
        if self.source is not None and not isinstance(self.source, SourceLocation):
            raise TypeError(f"source must be a SourceLocation: {self.source!r}")
        if type(self.restrictedTo) is not tuple or not all(
            isinstance(n, (ipaddress.IPv4Network, ipaddress.IPv6Network))
            for n in self.restrictedTo
        ):
            raise TypeError("restrictedTo must be a tuple of IP networks")

    def __repr__(self) -> str:
        where = "" if self.source is None else f", source={str(self.source)!r}"
        return f"SymmetricKey(keyID={self.keyID}, keyType={self.keyType!r}{where})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        # Copies and pickles are rebuilt from the fields, without the
        # cached MAC object (which cannot be copied that way).
        return (
            SymmetricKey,
            (self.keyID, self.keyType, self.secret, self.source, self.restrictedTo),
        )

    @property
    def type(self) -> KeyType:
        """The L{KeyType} of L{keyType}."""
        return KEY_TYPES[self.keyType]

    @property
    def macLength(self) -> int:
        """Length in bytes of this key's digest on the wire (16 or 20)."""
        return KEY_TYPES[self.keyType].macLength

    def trustedFrom(self, address: Any) -> bool:
        """
        Whether the key's address list allows C{address}.

        @param address: an IP address (a C{str} or an C{ipaddress} object),
            or C{None} when unknown.
        @return: C{True} if the key has no address list; otherwise whether
            C{address} is in one of its networks (C{False} for C{None} or
            for something that is not an IP address: fail closed).
        """
        if not self.restrictedTo:
            return True
        if address is None:
            return False
        if isinstance(address, str):
            try:
                address = ipaddress.ip_address(address.partition("%")[0])
            except ValueError:
                return False
        mapped = getattr(address, "ipv4_mapped", None)
        candidates = (address,) if mapped is None else (address, mapped)
        return any(
            candidate in network
            for network in self.restrictedTo
            for candidate in candidates
            if candidate.version == network.version
        )


class KeyRing(Mapping[int, SymmetricKey]):
    """
    An immutable set of symmetric keys by identifier, with the identifiers
    that are trusted (C{trustedkey}).

    A key that is in the ring but not trusted can still be looked up; it
    must not authenticate anything.  A trusted identifier without a key is
    allowed (ntpd allows it) and authenticates nothing either.

    @ivar trusted: the trusted key identifiers.
    @ivar path: the keys file the ring was read from, or C{None}.
    @ivar warnings: C{FILE:LINE: message} strings about suspicious but
        accepted lines (never quoting key material).
    """

    __slots__ = ("_keys", "_trusted", "_path", "_warnings")

    _keys: dict[int, SymmetricKey]
    _trusted: frozenset[int]
    _path: str | None
    _warnings: tuple[str, ...]

    def __init__(
        self,
        keys: Iterable[SymmetricKey] = (),
        trusted: Iterable[int] = (),
        path: str | None = None,
        warnings: Iterable[str] = (),
    ) -> None:
        """
        @param keys: the keys; identifiers must be unique.
        @param trusted: the trusted key identifiers.
        @param path: the file the keys come from.
        @param warnings: warnings about that file.
        @raise ValueError: if two keys have the same identifier, or a
            trusted identifier is out of range.
        @raise TypeError: if a key is not a L{SymmetricKey}.
        """
        byID: dict[int, SymmetricKey] = {}
        for key in keys:
            if not isinstance(key, SymmetricKey):
                raise TypeError(f"not a SymmetricKey: {type(key).__name__}")
            if key.keyID in byID:
                raise ValueError(f"key {key.keyID} given twice")
            byID[key.keyID] = key
        self._keys = byID
        self._trusted = _checkedIDs(trusted)
        self._path = path
        self._warnings = tuple(warnings)

    @property
    def trusted(self) -> frozenset[int]:
        """The trusted key identifiers (C{trustedkey})."""
        return self._trusted

    @property
    def path(self) -> str | None:
        """The keys file the ring was read from, or C{None}."""
        return self._path

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warnings about the keys file, as C{FILE:LINE: message} strings."""
        return self._warnings

    def __getitem__(self, keyID: int) -> SymmetricKey:
        return self._keys[keyID]

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._keys))

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, keyID: object) -> bool:
        return keyID in self._keys

    @overload
    def get(self, keyID: int) -> SymmetricKey | None: ...

    @overload
    def get(self, keyID: int, default: SymmetricKey | _T) -> SymmetricKey | _T: ...

    def get(self, keyID: int, default: Any = None) -> Any:
        """
        @param keyID: a key identifier.
        @param default: what to return when there is no such key.
        @return: the key, trusted or not, or C{default}.
        """
        return self._keys.get(keyID, default)

    def isTrusted(self, keyID: int, address: Any = None) -> bool:
        """
        Whether a key may authenticate packets.

        @param keyID: a key identifier.
        @param address: the peer's IP address (C{str} or C{ipaddress}
            object), checked against the key's address list if it has one;
            a key with an address list is not trusted when C{address} is
            C{None}.
        @return: whether the key exists, is in L{trusted}, and is trusted
            from C{address}.
        """
        key = self._keys.get(keyID)
        return (
            key is not None
            and keyID in self._trusted
            and (not key.restrictedTo or key.trustedFrom(address))
        )

    def trustedKey(self, keyID: int, address: Any = None) -> SymmetricKey | None:
        """
        @param keyID: a key identifier.
        @param address: see L{isTrusted}.
        @return: the key if L{isTrusted}, else C{None}.
        """
        return self._keys.get(keyID) if self.isTrusted(keyID, address) else None

    def withTrusted(self, keyIDs: Iterable[int]) -> KeyRing:
        """
        @param keyIDs: the identifiers to trust (C{trustedkey}, plus
            C{requestkey} and C{controlkey} if the caller wants them
            trusted); they replace L{trusted}.
        @return: a ring with the same keys, path and warnings.
        @raise ValueError: if an identifier is out of range.
        """
        ring = KeyRing.__new__(KeyRing)
        ring._keys = self._keys
        ring._trusted = _checkedIDs(keyIDs)
        ring._path = self._path
        ring._warnings = self._warnings
        return ring

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyRing):
            return NotImplemented
        return self._keys == other._keys and self._trusted == other._trusted

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"<KeyRing path={self._path!r} keys={sorted(self._keys)} "
            f"trusted={sorted(self._trusted)}>"
        )


def _checkedIDs(keyIDs: Iterable[int]) -> frozenset[int]:
    ids = frozenset(keyIDs)
    for keyID in ids:
        if type(keyID) is not int or not 1 <= keyID <= MAX_KEY_ID:
            raise ValueError(f"trusted key identifier out of range: {keyID!r}")
    return ids


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

_FIELD_SEPARATOR = re.compile(r"[ \t\r]+")
_PRINTABLE = re.compile(r"[\x21-\x7e]+\Z")
_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_CHRONY_PREFIXES = ("ASCII:", "HEX:")


def _supportedTypes() -> str:
    return ", ".join(KEY_TYPES)


def _hashAvailable(hashName: str) -> bool:
    try:
        hashlib.new(hashName)
    except ValueError:
        return False
    return True


def parseKeysText(text: str | bytes, filename: str = "<string>") -> KeyRing:
    """
    Parse the contents of a keys file.

    @param text: the file's contents (C{bytes} are decoded as UTF-8; only
        comments may hold anything but printable ASCII).
    @param filename: the name used in locations, errors and warnings.
    @return: the keys, none of them trusted yet (see L{KeyRing.withTrusted}).
    @raise KeysError: on the first malformed line, refusing the whole text.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    keys: dict[int, SymmetricKey] = {}
    warnings: list[str] = []
    for number, line in enumerate(text.split("\n"), 1):
        tooLong = lineTooLong(line)
        if tooLong is not None:
            raise KeysError(SourceLocation(filename, number), tooLong)
        fields = [f for f in _FIELD_SEPARATOR.split(line.split("#", 1)[0]) if f]
        if not fields:
            continue
        source = SourceLocation(filename, number)
        key = _parseKeyLine(fields, source, warnings)
        previous = keys.pop(key.keyID, None)
        if previous is not None:
            warnings.append(
                f"{source}: key {key.keyID} is defined again (first at "
                f"{previous.source}); the last definition wins, as in ntpd"
            )
        keys[key.keyID] = key
    return KeyRing(keys.values(), path=filename, warnings=warnings)


def _parseKeyLine(
    fields: list[str], source: SourceLocation, warnings: list[str]
) -> SymmetricKey:
    """
    Parse the fields of one line.

    Messages name fields by position and never quote one that could be a
    key: a line with a missing or misplaced field may have the secret
    anywhere.
    """
    for index, value in enumerate(fields, 1):
        if not _PRINTABLE.match(value):
            raise KeysError(
                source, f"field {index} holds a character that is not printable ASCII"
            )
    token = fields[0]
    if not token.isdigit():
        raise KeysError(
            source,
            f"the first field must be a key identifier, a decimal number "
            f"from 1 to {MAX_KEY_ID}",
        )
    keyID = int(token)
    if keyID == 0:
        raise KeysError(source, "key 0 is fixed by the NTP standard and cannot be set")
    if keyID > MAX_KEY_ID:
        raise KeysError(
            source,
            f"key identifier {keyID} out of range 1..{MAX_KEY_ID} "
            f"(larger ones are reserved)",
        )
    if len(fields) < 3:
        raise KeysError(
            source,
            f"key {keyID}: expected KEYID TYPE KEY, found {len(fields)} "
            f"field{'s' if len(fields) > 1 else ''} (chrony's 'ID KEY' form "
            f"without a type is not accepted)",
        )
    if len(fields) > 4:
        raise KeysError(
            source,
            f"key {keyID}: expected KEYID TYPE KEY [ADDRESSES], found "
            f"{len(fields)} fields",
        )
    keyType = lookupKeyType(fields[1])
    if keyType is None:
        if fields[1].upper() == "SHA":
            raise KeysError(
                source, f"key {keyID}: type SHA (SHA-0) is not supported; use SHA1"
            )
        raise KeysError(
            source,
            f"key {keyID}: unknown key type in field 2; supported "
            f"(case-insensitive): {_supportedTypes()}",
        )
    if keyType.hashName is not None and not _hashAvailable(keyType.hashName):
        raise KeysError(
            source,
            f"key {keyID}: {keyType.name} is not available in this Python's "
            f"OpenSSL (FIPS mode?)",
        )
    secret = _parseSecret(keyID, fields[2], source, warnings)
    if keyType.cmacKeyLength is not None and len(secret) != keyType.cmacKeyLength:
        wanted = keyType.cmacKeyLength
        given = len(secret)
        if given < wanted:
            change = "padded with zero bytes"
            secret = secret + bytes(wanted - given)
        else:
            change = "truncated"
            secret = secret[:wanted]
        warnings.append(
            f"{source}: key {keyID}: {keyType.name} key of {given} bytes "
            f"{change} to {wanted} bytes, as ntpd does (chrony needs exactly "
            f"{wanted} bytes)"
        )
    networks: tuple[Network, ...] = ()
    if len(fields) == 4:
        networks = _parseNetworks(keyID, fields[3], source)
    return SymmetricKey(keyID, keyType.name, secret, source, networks)


def _parseSecret(
    keyID: int, token: str, source: SourceLocation, warnings: list[str]
) -> bytes:
    if token.startswith(_CHRONY_PREFIXES):
        warnings.append(
            f"{source}: key {keyID} starts with chrony's ASCII: or HEX: prefix, "
            f"which ntpd and NTPsec take as part of the key"
        )
    if len(token) <= MAX_ASCII_KEY_LENGTH:
        return token.encode("ascii")
    if not _HEX.match(token):
        hint = ""
        if token.startswith(_CHRONY_PREFIXES):
            hint = (
                " (remove chrony's ASCII: or HEX: prefix; an ASCII key has "
                "at most 20 characters)"
            )
        raise KeysError(
            source,
            f"key {keyID}: a key longer than {MAX_ASCII_KEY_LENGTH} characters "
            f"must be hexadecimal{hint}",
        )
    if len(token) % 2:
        raise KeysError(source, f"key {keyID}: odd number of hex digits ({len(token)})")
    if len(token) > 2 * MAX_KEY_BYTES:
        raise KeysError(
            source,
            f"key {keyID}: {len(token)} hex digits; the limit is "
            f"{2 * MAX_KEY_BYTES} ({MAX_KEY_BYTES} bytes)",
        )
    return bytes.fromhex(token)


def _parseNetworks(
    keyID: int, token: str, source: SourceLocation
) -> tuple[Network, ...]:
    networks = []
    for index, item in enumerate(token.split(","), 1):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise KeysError(
                source,
                f"key {keyID}: item {index} of the address list (field 4) is "
                f"not an IP address or ADDRESS/BITS network",
            ) from None
    return tuple(networks)


def parseKeysFile(path: str) -> KeyRing:
    """
    Read a keys file.

    @param path: the file (the C{keys} directive's argument).
    @return: the keys, none of them trusted yet (see L{KeyRing.withTrusted});
        L{KeyRing.warnings} includes the L{checkPermissions} warning.
    @raise KeysError: when the file cannot be read (C{str()} is then
        C{FILE: cannot read keys file: ...}; also for a file that is not a
        regular file or is larger than
        L{MAX_KEYS_BYTES <ntpservice.config.files.MAX_KEYS_BYTES>}) or on
        the first malformed line, refusing the whole file.
    """
    try:
        data, status = readBoundedStat(path, MAX_KEYS_BYTES)
        mode = status.st_mode
    except OSError as e:
        raise KeysError(
            SourceLocation(path, 0), f"cannot read keys file: {e.strerror or e}"
        ) from e
    ring = parseKeysText(data, path)
    permissions = _permissionWarning(path, mode)
    if permissions is None:
        return ring
    return KeyRing(ring.values(), path=path, warnings=(permissions, *ring.warnings))


def _permissionWarning(path: str, mode: int) -> str | None:
    loose = stat.S_IMODE(mode) & (stat.S_IRWXG | stat.S_IRWXO)
    if not loose & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH):
        return None
    who = []
    if loose & (stat.S_IRGRP | stat.S_IWGRP):
        who.append("group")
    if loose & (stat.S_IROTH | stat.S_IWOTH):
        who.append("others")
    what = []
    if loose & (stat.S_IRGRP | stat.S_IROTH):
        what.append("readable")
    if loose & (stat.S_IWGRP | stat.S_IWOTH):
        what.append("writable")
    return (
        f"{path}: keys file is {' and '.join(what)} by {' and '.join(who)} "
        f"(mode {stat.S_IMODE(mode):04o}); it holds secrets: chmod 600 it"
    )


def checkPermissions(path: str) -> str | None:
    """
    Check that a keys file is private.

    @param path: the keys file.
    @return: a warning (C{FILE: ...}) if group or others can read or write
        it, or if its mode cannot be read; C{None} if it is private.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        return f"{path}: cannot check the keys file's permissions: {e.strerror or e}"
    return _permissionWarning(path, mode)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

_ASCII_SECRET = re.compile(rb"[\x21-\x22\x24-\x7e]{1,20}\Z")


def formatKeysFile(
    keyring: KeyRing, dialect: str = "ntpsec", onlyTrusted: bool = False
) -> str:
    """
    Write a keys file for another NTP implementation.

    C{"ntpsec"} writes C{KEYID TYPE KEY [ADDRESSES]} lines that NTPsec and
    (for the types it has) classic ntpd read, and that L{parseKeysText}
    reads back to the same keys: a key is written as ASCII when it is up
    to 20 printable characters without C{#}, otherwise in hex (always more
    than 20 digits, so never mistaken for ASCII).

    C{"chrony"} writes chrony's C{ID TYPE HEX:KEY} lines.  chrony has
    neither C{trustedkey} (every key in its file is accepted) nor address
    lists (dropped): pass C{onlyTrusted=True} to leave untrusted keys out.

    @param keyring: the keys.
    @param dialect: C{"ntpsec"} or C{"chrony"}.
    @param onlyTrusted: write only the keys in L{KeyRing.trusted}.
    @return: the file's text, a comment line first, keys by identifier.
    @raise ValueError: for an unknown dialect, a key type chrony does not
        have (SHA224, AES192CMAC), or a short key that is neither
        printable ASCII nor long enough for hex (the ntpsec format cannot
        express it).
    """
    if dialect not in ("ntpsec", "chrony"):
        raise ValueError(f"unknown keys file dialect {dialect!r}")
    lines = [
        f"# {dialect} keys file written by ntpservice; it holds secrets: "
        f"keep it mode 600"
    ]
    for keyID in keyring:
        if onlyTrusted and keyID not in keyring.trusted:
            continue
        key = keyring[keyID]
        keyType = key.type
        if dialect == "chrony":
            if keyType.chronyName is None:
                raise ValueError(f"key {keyID}: chrony has no {keyType.name} keys")
            lines.append(f"{keyID} {keyType.chronyName} HEX:{key.secret.hex().upper()}")
            continue
        if _ASCII_SECRET.match(key.secret):
            text = key.secret.decode("ascii")
        elif len(key.secret) * 2 > MAX_ASCII_KEY_LENGTH:
            text = key.secret.hex()
        else:
            raise ValueError(
                f"key {keyID}: a {len(key.secret)}-byte key that is not "
                f"printable ASCII cannot be written in the ntpsec format"
            )
        line = f"{keyID} {keyType.ntpsecName} {text}"
        if key.restrictedTo:
            line += " " + ",".join(str(network) for network in key.restrictedTo)
        lines.append(line)
    return "\n".join(lines) + "\n"
