# -*- test-case-name: tests.nts.test_settings -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Throw-away certificates for the NTS tests, made with C{cryptography}: a
CA, and server certificates it signs with DNS and IP subject alternative
names.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Issued:
    """
    Files written by L{makeCA} and L{makeServer}.
    """

    cert: str
    key: str


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


Key = ec.EllipticCurvePrivateKey


def _write(directory: str, stem: str, cert: x509.Certificate, key: Key) -> Issued:
    certPath = os.path.join(directory, f"{stem}.crt")
    keyPath = os.path.join(directory, f"{stem}.key")
    with open(certPath, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(keyPath, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    os.chmod(keyPath, 0o600)
    return Issued(certPath, keyPath)


def makeCA(
    directory: str, name: str = "ntpservice test CA"
) -> tuple[Issued, x509.Certificate, Key]:
    """
    A self-signed CA.

    @return: its files, certificate and key.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(directory, "ca", cert, key), cert, key


def makeServer(
    directory: str,
    ca: tuple[Issued, x509.Certificate, Key],
    dnsNames: tuple[str, ...] = ("nts.test",),
    addresses: tuple[str, ...] = ("127.0.0.1",),
    stem: str = "server",
    expired: bool = False,
) -> Issued:
    """
    A server certificate signed by C{ca}, for C{dnsNames} and C{addresses}.

    @param expired: make one that expired yesterday.
    """
    _, caCert, caKey = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        start, end = now - datetime.timedelta(days=10), now - datetime.timedelta(days=1)
    else:
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dnsNames]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dnsNames[0] if dnsNames else addresses[0]))
        .issuer_name(caCert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(caKey.public_key()), critical=False
        )
        .sign(caKey, hashes.SHA256())
    )
    return _write(directory, stem, cert, key)
