Symmetric-key authentication: ntpd's keys file (MD5, SHA1, SHA2, SHA3, AES-CMAC), trustedkey, signed replies and requests, crypto-NAKs, SIGHUP reload; interoperates with chrony and NTPsec.
