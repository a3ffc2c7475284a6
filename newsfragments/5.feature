Access control: restrict with ntpd's semantics (also for servers' replies), discard rate limiting with rate-limited RATE kisses, and a bounded MRU list.
