# -*- test-case-name: tests.nts.test_settings -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The C{nts} directive, in NTPsec's dialect, and the checks of the NTS
server's files before anything is bound.

C{nts} takes any of these, on one line or several (a later value replaces
an earlier one, with a warning)::

    nts enable | disable
    nts cert FILE            # the server certificate (chain), PEM
    nts key FILE             # its private key, PEM
    nts ca FILE              # CA certificates the client trusts (default: the system's)
    nts cookie FILE          # the master key file (default /var/lib/ntpservice/nts-keys)
    nts mintls TLS1.3        # NTS requires TLS 1.3; lower versions are refused
    nts maxtls TLS1.3
    nts tlsciphersuites LIST # OpenSSL TLS 1.3 cipher suites
    nts tlsecdhcurves LIST   # accepted, ignored (OpenSSL's defaults)
    nts aead NAME            # AES_SIV_CMAC_256 (default), _384 or _512
    nts port N               # ours: the NTS-KE port (default 4460)
    nts rotate SECONDS       # ours: master key rotation (default 86400)
    nts keep N               # ours: master keys kept (default 7)
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any

from ntpservice.config.files import readBounded
from ntpservice.config.lexer import ConfigError, ConfigLine, SourceLocation
from ntpservice.nts.aead import AEAD_BY_NAME, DEFAULT_AEAD
from ntpservice.nts.cookies import DEFAULT_KEEP, DEFAULT_ROTATION, KeyFileError, readKeyFile
from ntpservice.nts.protocol import DEFAULT_KE_PORT

__all__ = [
    "DEFAULT_COOKIE_FILE",
    "NTSDirective",
    "NTSSettings",
    "checkNTS",
    "ntsSettings",
    "parseNTS",
]

DEFAULT_COOKIE_FILE = "/var/lib/ntpservice/nts-keys"

_FLAGS = ("enable", "disable")
_VALUES = (
    "cert", "key", "ca", "cookie", "mintls", "maxtls", "tlsciphersuites",
    "tlsecdhcurves", "aead", "port", "rotate", "keep",
)
_TLS_VERSIONS = ("TLS1", "TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3")


@dataclass(frozen=True, slots=True)
class NTSDirective:
    """
    One C{nts} line.

    @ivar values: its options, in order, as C{(name, value)} (C{enable}
        and C{disable} with C{None}).
    """

    source: SourceLocation
    values: tuple[tuple[str, str | None], ...]
    directive: str = "nts"


def parseNTS(line: ConfigLine, source: SourceLocation) -> NTSDirective:
    """
    Parse an C{nts} line.

    @raise ConfigError: for an unknown option, a missing or bad value.
    """
    arguments = line.arguments
    if not arguments:
        raise ConfigError(source, "nts requires an option (enable, cert FILE, key FILE, ...)")
    values: list[tuple[str, str | None]] = []
    index = 0
    while index < len(arguments):
        option = arguments[index].lower()
        index += 1
        if option in _FLAGS:
            values.append((option, None))
            continue
        if option not in _VALUES:
            raise ConfigError(source, f"unknown nts option {arguments[index - 1]!r}")
        if index >= len(arguments):
            raise ConfigError(source, f"nts {option} requires a value")
        value = arguments[index]
        index += 1
        if option in ("mintls", "maxtls"):
            if value.upper() not in _TLS_VERSIONS:
                raise ConfigError(source, f"nts {option}: unknown TLS version {value!r}")
            if option == "mintls" and value.upper() != "TLS1.3":
                raise ConfigError(
                    source, f"nts mintls {value}: NTS requires TLS 1.3 (RFC 8915 section 3)"
                )
            if option == "maxtls" and value.upper() != "TLS1.3":
                raise ConfigError(
                    source, f"nts maxtls {value}: NTS requires TLS 1.3 (RFC 8915 section 3)"
                )
        elif option == "aead" and value.upper() not in AEAD_BY_NAME:
            raise ConfigError(
                source,
                f"nts aead: unknown algorithm {value!r} (one of {', '.join(AEAD_BY_NAME)})",
            )
        elif option in ("port", "keep", "rotate"):
            try:
                number = int(value)
            except ValueError:
                raise ConfigError(source, f"nts {option} must be an integer, not {value!r}")
            low, high = {"port": (1, 65535), "keep": (1, 1000), "rotate": (1, 2**31)}[option]
            if not low <= number <= high:
                raise ConfigError(source, f"nts {option} must be from {low} to {high}")
        values.append((option, value))
    return NTSDirective(source, tuple(values))


@dataclass
class NTSSettings:
    """
    The NTS settings of a configuration (all its C{nts} lines).

    @ivar sources: where each option was last set.
    """

    enabled: bool = False
    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    cookie: str = DEFAULT_COOKIE_FILE
    ciphersuites: str | None = None
    aead: int = DEFAULT_AEAD.aeadID
    port: int = DEFAULT_KE_PORT
    rotate: float = DEFAULT_ROTATION
    keep: int = DEFAULT_KEEP
    sources: dict[str, SourceLocation] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def ntsSettings(configuration: Any) -> NTSSettings:
    """
    Merge the C{nts} lines of a configuration.
    """
    settings = NTSSettings()
    for name, directive in getattr(configuration, "extra", ()):
        if name != "nts" or not isinstance(directive, NTSDirective):
            continue
        for option, value in directive.values:
            if option in ("enable", "disable"):
                settings.enabled = option == "enable"
                settings.sources["enable"] = directive.source
                continue
            if option in settings.sources and option not in ("tlsecdhcurves",):
                settings.warnings.append(
                    f"{directive.source}: nts {option} replaces the one of "
                    f"{settings.sources[option]}"
                )
            settings.sources[option] = directive.source
            assert value is not None
            if option in ("cert", "key", "ca", "cookie"):
                setattr(settings, option, value)
            elif option == "tlsciphersuites":
                settings.ciphersuites = value
            elif option == "aead":
                settings.aead = AEAD_BY_NAME[value.upper()].aeadID
            elif option in ("port", "keep"):
                setattr(settings, option, int(value))
            elif option == "rotate":
                settings.rotate = float(value)
    return settings


def checkNTS(configuration: Any) -> NTSSettings:
    """
    Check the NTS server's files when C{nts enable} is given: the
    certificate and key readable and matching, the certificate not expired
    (nor not yet valid), the master key file readable and well formed if
    it exists, its directory writable; and the C{ca} files of C{server ...
    nts} lines readable.

    @return: the settings.
    @raise ConfigError: C{FILE:LINE: message} for the first problem.
    """
    settings = ntsSettings(configuration)
    for directive in getattr(configuration, "associations", ()):
        ca = getattr(directive, "ntsCA", None)
        if ca is not None:
            _readable(ca, directive.source, "ca")
            _certificates(ca, directive.source, "ca")
    if settings.ca is not None:
        _readable(settings.ca, settings.sources["ca"], "nts ca")
        _certificates(settings.ca, settings.sources["ca"], "nts ca")
    if not settings.enabled:
        return settings
    enable = settings.sources["enable"]
    for option in ("cert", "key"):
        if getattr(settings, option) is None:
            raise ConfigError(enable, f"nts enable needs nts {option} FILE")
    assert settings.cert is not None and settings.key is not None
    certSource, keySource = settings.sources["cert"], settings.sources["key"]
    _readable(settings.cert, certSource, "nts cert")
    _readable(settings.key, keySource, "nts key")
    certificates = _certificates(settings.cert, certSource, "nts cert")
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = certificates[0]
    if leaf.not_valid_after_utc < now:
        raise ConfigError(
            certSource,
            f"nts cert {settings.cert} expired on "
            f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC",
        )
    if leaf.not_valid_before_utc > now:
        raise ConfigError(
            certSource,
            f"nts cert {settings.cert} is not valid before "
            f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC",
        )
    if leaf.not_valid_after_utc - now < datetime.timedelta(days=7):
        settings.warnings.append(
            f"{certSource}: nts cert {settings.cert} expires on "
            f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC"
        )
    from OpenSSL import SSL

    from ntpservice.nts.ke import serverContext

    try:
        serverContext(settings.cert, settings.key, settings.ciphersuites)
    except SSL.Error as e:
        text = str(e)
        if "key values mismatch" in text or "check_private_key" in text or "private key" in text:
            raise ConfigError(
                keySource, f"nts key {settings.key} does not match nts cert {settings.cert}"
            )
        raise ConfigError(keySource, f"nts cert/key cannot be used: {text}")
    cookieSource = settings.sources.get("cookie", enable)
    if os.path.exists(settings.cookie):
        try:
            readKeyFile(settings.cookie)
        except KeyFileError as e:
            raise ConfigError(cookieSource, str(e))
    directory = os.path.dirname(os.path.abspath(settings.cookie))
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(
            cookieSource,
            f"nts cookie {settings.cookie}: cannot write in {directory} "
            f"(the master keys are saved there)",
        )
    return settings


MAX_PEM_BYTES = 4 << 20
"""The largest certificate or private key file read, in bytes (a CA bundle
is a few hundred kilobytes); a FIFO or C{/dev/zero} is refused unread."""


def _readable(path: str, source: SourceLocation, what: str) -> None:
    if os.path.isdir(path) and os.access(path, os.R_OK | os.X_OK):
        return
    try:
        readBounded(path, MAX_PEM_BYTES)
    except OSError as e:
        raise ConfigError(source, f"{what} {path}: {e.strerror}")


def _certificates(path: str, source: SourceLocation, what: str) -> list[Any]:
    """
    The certificates of a PEM file, or of the PEM files of a directory.
    """
    from cryptography import x509

    if os.path.isdir(path):
        files = [os.path.join(path, n) for n in sorted(os.listdir(path))]
        files = [f for f in files if os.path.isfile(f)]
    else:
        files = [path]
    certificates = []
    for name in files:
        try:
            data = readBounded(name, MAX_PEM_BYTES)
            if b"-----BEGIN CERTIFICATE" in data or not os.path.isdir(path):
                certificates += x509.load_pem_x509_certificates(data)
        except (OSError, ValueError) as e:
            raise ConfigError(source, f"{what} {name}: not a PEM certificate ({e})")
    if not certificates:
        raise ConfigError(source, f"{what} {path}: no certificate in it")
    return certificates
