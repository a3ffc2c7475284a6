# -*- test-case-name: tests.control.test_mode6 -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The mode 6 server: what NTPsec's and ntpd's C{ntpq} talk to.

L{ControlHandler} is the L{IDatagramHandler} the multiplexer hands mode 6
datagrams to. It answers, with ntpd's variable names and formats:

  - READSTAT: the association list with peer status words, or one
    association's variables;
  - READVAR: system variables (association 0, with those of C{setvar}
    lines, and the counters of C{ntpq sysstats}, C{authinfo}, C{iostats},
    C{monstats} and the kernel's of C{kerninfo}) or peer variables;
  - READCLOCK: a reference clock's variables (for association 0 too: ntpd's
    "system clock" is the system peer if it is a reference clock, else the
    first reference clock);
  - CONFIGURE (C{ntpq :config}): C{server}, C{pool} and C{unpeer} at run
    time, for requests authenticated with the C{controlkey}, fresh (a
    nonce) and executed once;
  - REQ_NONCE and READ_MRU (C{ntpq mrulist}), the nonce proving that the
    client receives what is sent to its address;
  - anything else with ntpd's error codes.

One module per concern:

  - L{server}: the request handler (access, authentication, rate limits,
    nonces, opcode dispatch, fragmentation), with its safe defaults;
  - L{variables}: the system, peer and clock variables and status words;
  - L{runtime}: runtime configuration (C{:config});
  - L{events}: the events the status words count, from the daemon's
    observer calls, and the pools' association IDs.

The names below are those the package has always offered.
"""

from ntpservice.control.mode6.runtime import RUNTIME_DIRECTIVES
from ntpservice.control.mode6.server import (
    BUDGET_BURST,
    BUDGET_RATE,
    GLOBAL_BUDGET_BURST,
    GLOBAL_BUDGET_RATE,
    GLOBAL_BURST,
    GLOBAL_RATE,
    MAX_MRU_FRAGMENTS,
    MAX_SOURCES,
    MAX_UNAUTHENTICATED_FRAGMENTS,
    REQUEST_BURST,
    REQUEST_RATE,
    SECRET_LIFETIME,
    WRITE_CACHE_SIZE,
    ControlHandler,
    RateLimiter,
    isLoopback,
)
from ntpservice.control.mode6.variables import (
    AUTH_NAMES,
    AUTH_VARIABLES,
    CLOCK_VARIABLES,
    IO_NAMES,
    IO_VARIABLES,
    KERNEL_NAMES,
    PEER_DEFAULT_VARIABLES,
    PEER_VARIABLES,
    SYSSTATS_COUNTERS,
    SYSSTATS_NAMES,
    SYSTEM_DEFAULT_VARIABLES,
)

__all__ = [
    "AUTH_NAMES",
    "AUTH_VARIABLES",
    "BUDGET_BURST",
    "BUDGET_RATE",
    "CLOCK_VARIABLES",
    "ControlHandler",
    "GLOBAL_BUDGET_BURST",
    "GLOBAL_BUDGET_RATE",
    "GLOBAL_BURST",
    "GLOBAL_RATE",
    "IO_NAMES",
    "IO_VARIABLES",
    "KERNEL_NAMES",
    "MAX_MRU_FRAGMENTS",
    "MAX_SOURCES",
    "MAX_UNAUTHENTICATED_FRAGMENTS",
    "PEER_DEFAULT_VARIABLES",
    "PEER_VARIABLES",
    "REQUEST_BURST",
    "REQUEST_RATE",
    "RUNTIME_DIRECTIVES",
    "RateLimiter",
    "SECRET_LIFETIME",
    "SYSSTATS_COUNTERS",
    "SYSSTATS_NAMES",
    "SYSTEM_DEFAULT_VARIABLES",
    "WRITE_CACHE_SIZE",
    "isLoopback",
]
