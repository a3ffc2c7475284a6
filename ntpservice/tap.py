# -*- test-case-name: tests.test_tap -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
The command line of C{twistd ntp}: ntpd's flags where they make sense.

    twistd [-n] ntp [-c FILE] [-g] [-q [--quit-timeout SECONDS]]
                    [-I IFACE]... [--no-clock-adjust] [--loglevel LEVEL]
                    [--port PORT] [--metrics-port PORT [--metrics-address ADDR]]
                    [-u USER[:GROUP]] [-U SECONDS] [-L]

The configuration is read and validated here, in L{Options.postOptions},
before twistd builds the service: a bad file is refused with
C{FILE:LINE: message} and exit status 2 before any socket is bound or any
clock touched. A wrong option is refused the same way: one line saying
what is wrong, one pointing to C{--help}, exit status 2 (twistd itself
would print the whole usage text and exit with 1).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from typing import Any

from twisted.python import usage

from ntpservice import _log

DEFAULT_CONFIG_PATH = "/etc/ntp.conf"

NOT_YET: dict[str, str] = {}
"""ntpd options recognised but refused (none left)."""


def _updateInterval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise usage.UsageError(f"-U must be a number of seconds, not {value!r}")
    if not 0 <= seconds < float("inf"):
        raise usage.UsageError(f"-U must be 0 or a positive number of seconds, not {value}")
    return seconds


def _fastPathMode(value: str) -> str:
    if value not in ("on", "off"):
        raise ValueError(f"--fast-path must be on or off, not {value!r}")
    return value


def _fastPathThreads(value: str) -> int:
    threads = int(value)
    if not 1 <= threads <= 64:
        raise ValueError(f"--fast-path-threads must be 1 to 64, not {value}")
    return threads


def _port(value: str, option: str = "--port") -> int:
    try:
        port = int(value)
    except ValueError:
        raise usage.UsageError(f"{option} must be a number, not {value!r}")
    if not 0 <= port <= 65535:
        raise usage.UsageError(f"{option} must be between 0 and 65535, not {port}")
    return port


def _metricsPort(value: str) -> int:
    return _port(value, "--metrics-port")


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise usage.UsageError(f"--quit-timeout must be a number, not {value!r}")
    if not 0 < seconds < float("inf"):
        raise usage.UsageError(
            f"--quit-timeout must be a positive number of seconds, not {value}"
        )
    return seconds


class Options(usage.Options):
    """
    Options of C{twistd ntp}.
    """

    synopsis = "[options]"
    longdesc = (
        "An NTPv4 daemon (RFC 5905). Without -c it reads /etc/ntp.conf if it "
        "exists, else a built-in default configuration."
    )

    optFlags = [
        ["panicgate", "g", "Allow the first clock adjustment to exceed the panic threshold."],
        [
            "quit",
            "q",
            "Set the clock once and exit (status 0); give up with status 1 "
            "if it is not set in time (see --quit-timeout).",
        ],
        [
            "novirtualips",
            "L",
            "Do not listen on virtual interfaces (IPv4 aliases such as eth0:1).",
        ],
        [
            "no-clock-adjust",
            None,
            "Never adjust the system clock (the no-adjust clock driver), as "
            "'disable ntp' does.",
        ],
        [
            "ipv4",
            "4",
            "IPv4 only: listen on IPv4 sockets and resolve host names to IPv4 "
            "addresses (ntpd's -4).",
        ],
        [
            "ipv6",
            "6",
            "IPv6 only: listen on IPv6 sockets and resolve host names to IPv6 "
            "addresses (ntpd's -6).",
        ],
    ]

    optParameters = [
        ["configfile", "c", None, "The ntp.conf to read.", str],
        [
            "user",
            "u",
            None,
            "Run as USER[:GROUP] once the sockets are bound and the keys read, "
            "keeping CAP_NET_BIND_SERVICE and CAP_SYS_TIME if held.",
        ],
        [
            "updateinterval",
            "U",
            300.0,
            "Seconds between scans of the local addresses (0: only on the "
            "kernel's announcements).",
            _updateInterval,
        ],
        [
            "quit-timeout",
            None,
            None,
            "With -q: give up (exit status 1) if the clock is not set within "
            "this many seconds. Default: 128 with iburst, else 4 polls at "
            "minpoll (256 s at minpoll 6).",
            _seconds,
        ],
        [
            "loglevel",
            None,
            "info",
            "Least severe messages logged: debug, info, warn, error, critical.",
        ],
        ["port", None, 123, "The UDP port to serve NTP on (ntpd: always 123).", _port],
        [
            "fast-path",
            None,
            None,
            "on or off: answer the common client request in the compiled "
            "fast path (native threads), or every request in Python. "
            "Default: on when the C extension is installed, unless "
            "NTPSERVICE_FASTPATH=off.",
            _fastPathMode,
        ],
        [
            "fast-path-threads",
            None,
            None,
            "Fast-path threads, each with its own SO_REUSEPORT socket and "
            "MRU shard (default 1, or NTPSERVICE_FASTPATH_THREADS).",
            _fastPathThreads,
        ],
        [
            "metrics-port",
            None,
            None,
            "Serve Prometheus metrics over HTTP on this TCP port (off by default).",
            _metricsPort,
        ],
        [
            "metrics-address",
            None,
            "127.0.0.1",
            "The address the metrics endpoint listens on.",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["interfaces"] = []
        self["configuration"] = None
        self["ipVersion"] = None

    def opt_interface(self, iface: str) -> None:
        """
        Listen only on this interface name or address (repeatable).
        """
        self["interfaces"].append(iface)

    opt_I = opt_interface

    def parseOptions(self, options: Any = None) -> None:
        """
        Parse the options. Under twistd (as its C{ntp} command), a wrong
        one ends the process with one line saying what is wrong, one
        pointing to C{--help}, and exit status 2 (ntpd's habit; twistd
        would print its whole usage text and exit with 1). On its own,
        this raises L{usage.UsageError} as any L{usage.Options} does.
        """
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            if getattr(self, "parent", None) is None:
                raise
            sys.stderr.write(
                f"ntpservice: {e}\n"
                "Usage: twistd [options] ntp [ntp options]; "
                "'twistd ntp --help' lists the options.\n"
            )
            raise SystemExit(2)

    def postOptions(self) -> None:
        """
        Check the options, then read and validate the configuration.
        """
        self["identity"] = None
        if self["user"]:
            from ntpservice.privileges import PrivilegeError, parseUser

            try:
                self["identity"] = parseUser(str(self["user"]))
            except PrivilegeError as e:
                raise usage.UsageError(str(e))
        level = _log.LEVEL_NAMES.get(str(self["loglevel"]).lower())
        if level is None:
            raise usage.UsageError(
                f"--loglevel must be one of {', '.join(sorted(_log.LEVEL_NAMES))}, "
                f"not {self['loglevel']!r}"
            )
        self["loglevel"] = level
        if self["ipv4"] and self["ipv6"]:
            raise usage.UsageError("-4 and -6 exclude each other")
        self["ipVersion"] = 4 if self["ipv4"] else 6 if self["ipv6"] else None
        if self["quit-timeout"] is not None and not self["quit"]:
            raise usage.UsageError("--quit-timeout only applies with -q")
        address = str(self["metrics-address"])
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise usage.UsageError(
                f"--metrics-address must be an IP address, not {address!r}"
            )
        self["configuration"] = loadConfiguration(self["configfile"])

    def getSynopsis(self) -> str:
        return "Usage: twistd [options] ntp [ntp options]"


def loadConfiguration(path: str | None) -> Any:
    """
    Read the configuration: C{path}, else C{/etc/ntp.conf} if it exists,
    else the built-in default.

    A configuration error is printed as one line, C{FILE:LINE: message}, on
    standard error, and the process exits with status 2.
    """
    from ntpservice import config
    from ntpservice.auth.keyring import loadKeyRing
    from ntpservice.nts.settings import checkNTS
    from ntpservice.plugins import PluginError, loadModePlugins, registryFor
    from ntpservice.leapseconds import LeapFileError, loadLeapFile
    from ntpservice.refclocks import RefClockConfigError, refClockLines

    try:
        registry = registryFor(loadModePlugins())
        if path is None and not os.path.exists(DEFAULT_CONFIG_PATH):
            configuration = config.parseString(
                config.DEFAULT_CONFIGURATION_TEXT,
                config.DEFAULT_CONFIGURATION_FILENAME,
                registry=registry,
            )
        else:
            configuration = config.parseFile(
                path or DEFAULT_CONFIG_PATH, registry=registry
            )
        refClockLines(configuration)
        if configuration.leapfile is not None:
            loadLeapFile(configuration.leapfile.path, configuration.leapfile.checkHash)
        loadKeyRing(configuration)
        checkNTS(configuration)
        return configuration
    except (config.ConfigError, RefClockConfigError, LeapFileError, PluginError) as e:
        sys.stderr.write(f"{e}\n")
        raise SystemExit(2)
    except OSError as e:
        sys.stderr.write(f"{path or DEFAULT_CONFIG_PATH}: {e.strerror}\n")
        raise SystemExit(2)


def makeService(options: Options) -> Any:
    """
    Build the daemon's service from parsed options.
    """
    from ntpservice.service import makeNTPService

    _log.setLevel(options["loglevel"])
    return makeNTPService(
        options["configuration"],
        port=options["port"],
        interfaces=tuple(options["interfaces"]),
        clockAdjust=not options["no-clock-adjust"],
        panicGate=bool(options["panicgate"]),
        quit=bool(options["quit"]),
        metricsPort=options["metrics-port"],
        metricsAddress=options["metrics-address"],
        quitTimeout=options["quit-timeout"],
        fastPath=options["fast-path"],
        fastPathThreads=options["fast-path-threads"],
        ipVersion=options.get("ipVersion"),
        updateInterval=options["updateinterval"],
        noVirtual=bool(options["novirtualips"]),
        identity=options.get("identity"),
    )
