A foundation: twistd ntp serves RFC 5905 replies with kernel timestamps, parses ntpd's ntp.conf strictly, and has clock drivers and a packet codec.
