# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Network Time Security (RFC 8915): the shell side of NTS, client and server.

  - L{protocol}: the NTS-KE records (RFC 8915 section 4) and the NTS
    extension fields of NTPv4 (section 5), encoded and decoded; no crypto.
  - L{aead}: the AEAD algorithms (AES-SIV-CMAC from C{cryptography}).
  - L{cookies}: the server's master keys (rotated, persisted atomically)
    and its self-contained encrypted cookies.
  - L{ke}: NTS-KE over TLS 1.3 (Twisted's TLS, pyOpenSSL), server and
    client, with the keys exported as the RFC says.
  - L{server}: the NTP server's handling of NTS-protected requests.
  - L{client}: an NTS client session, the authenticator of an association
    (L{ntpservice.core.authenticator.NTSAuthenticator}).
  - L{settings}: the C{nts} directive of NTPsec's dialect, checked before
    anything is bound.

The pure core knows NTS only as an authenticator that carries an object
of this package; it never imports C{cryptography} (tests.core.test_purity).
"""
