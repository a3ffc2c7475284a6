# -*- test-case-name: tests.control.test_ntpq -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
C{ntpservice-q}: query an NTP daemon over mode 6, for hosts without
NTPsec's C{ntpq}. It prints what C{ntpq} prints for the same commands:

    ntpservice-q -p                      # ntpq -p
    ntpservice-q -c rv                   # system variables
    ntpservice-q -c "rv 3"               # association 3's variables
    ntpservice-q -c as                   # the association list
    ntpservice-q -c mrulist              # recent clients
    ntpservice-q -k KEYS -a 1 -c ":config server ntp.example.org iburst"

It is built on L{ntpservice.control.client.ControlClient}, the client the
tests use, and talks to any mode 6 server (ours, ntpd, NTPsec). Unlike
ntpq it takes a port (C{-P}); like ntpq it assumes a terminal 80
characters wide when its output is not a terminal.

See C{docs/ntpservice-q.1.md}.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import socket
import sys
import time
from typing import Any, Callable, Sequence, TextIO

from ntpservice.core import control as K
from ntpservice.core import status as S
from ntpservice.net.sockets import isMulticast
from ntpservice.core.timestamps import NTPTimestamp

PEERS_NAME_WIDTH = 15
REFID_WIDTH = 15
MRU_HEADER = " lstint avgint rstr r m v  count    score   drop rport remote address"

FLASH_NAMES = (
    "pkt_dup",
    "pkt_bogus",
    "pkt_unsync",
    "pkt_denied",
    "pkt_auth",
    "pkt_stratum",
    "pkt_header",
    "pkt_autokey",
    "pkt_crypto",
    "peer_stratum",
    "peer_dist",
    "peer_loop",
    "peer_unreach",
    "pkt_negdelay",
)
"""
ntpq's names of the flash bits, lowest first; the last, 0x2000, is ours:
a sample whose delay was negative (issue 17), which ntpd clamps.
"""

_PEER_FLAG_NAMES = (
    (S.PEER_CONFIG, "conf"),
    (S.PEER_AUTHENABLE, "authenb"),
    (S.PEER_AUTHENTIC, "auth"),
    (S.PEER_REACH, "reach"),
    (S.PEER_BROADCAST, "bcast"),
)

_PEER_CODE_NAMES = S.PEER_EVENT_NAMES
"""The peer event names of ntpq's status line (libntp's C{statustoa})."""


# ---------------------------------------------------------------------------
# Values as ntpq sees them


def castValue(text: str) -> Any:
    """
    A value the way ntpq reads it: an integer (any base prefix), else a
    float, else the string.
    """
    if not text:
        return text
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def timestampSeconds(text: str, now: float) -> float | None:
    """
    The POSIX time of a C{0x...} timestamp, in the era nearest to C{now};
    C{None} if C{text} is not a timestamp.
    """
    try:
        stamp = K.parseTimestamp(text)
    except ValueError:
        return None
    return stamp.toUnixNanoseconds(int(now * 1e9)) / 1e9


def prettyDate(text: str, now: float) -> str:
    """
    A timestamp as ntpq's cooked output shows it: its hex form and its UTC
    date, C{eeac95f8.78cd4644 2026-11-21T22:13:12.471Z}.
    """
    try:
        stamp = K.parseTimestamp(text)
    except ValueError:
        return text
    seconds = stamp.seconds
    milliseconds = stamp.fraction // 4294967
    if milliseconds >= 1000:
        milliseconds -= 1000
        seconds += 1
    posix = NTPTimestamp(((seconds & 0xFFFFFFFF) << 32)).toUnixNanoseconds(int(now * 1e9))
    date = datetime.datetime.fromtimestamp(posix // 10**9, datetime.timezone.utc)
    return (
        f"{stamp.seconds:08x}.{stamp.fraction:08x} "
        f"{date:%Y-%m-%dT%H:%M:%S}.{milliseconds:03d}Z"
    )


def prettyInterval(seconds: Any) -> str:
    """
    ntpq's C{when} and C{poll} columns: seconds up to 2048, then minutes,
    hours, days; C{-} for nothing.
    """
    if not isinstance(seconds, int) or seconds <= 0:
        return "-"
    if seconds <= 2048:
        return str(seconds)
    value = (seconds + 29) / 60
    if value <= 300:
        return "%dm" % value
    value = (value + 29) / 60
    if value <= 96:
        return "%dh" % value
    return "%dd" % ((value + 11) / 24)


def fixed8(value: Any, decimals: int) -> str:
    """
    A number in 8 characters with as many of C{decimals} as fit (ntpq's
    C{f8dot3}/C{f8dot4}).
    """
    if isinstance(value, str):
        return "%8s" % value
    if not isinstance(value, (int, float)):
        return "       X"
    if value != value:
        return "     nan"
    if decimals == 4:
        positive = ((1000.0, "%8.4f"), (10000.0, "%8.3f"), (100000.0, "%8.2f"), (1000000.0, "%8.1f"))
        negative = ((-100.0, "%8.4f"), (-1000.0, "%8.3f"), (-10000.0, "%8.2f"), (-100000.0, "%8.1f"))
    else:
        positive = ((10000.0, "%8.3f"), (100000.0, "%8.2f"), (1000000.0, "%8.1f"))
        negative = ((-1000.0, "%8.3f"), (-10000.0, "%8.2f"), (-100000.0, "%8.1f"))
    fmt = "%8d"
    if value >= 0:
        for bound, candidate in positive:
            if value < bound:
                fmt = candidate
                break
    else:
        for bound, candidate in negative:
            if value > bound:
                fmt = candidate
                break
    return fmt % value


def describeSystemStatus(word: int) -> str:
    """The system status as ntpq prints it after C{status=}."""
    return K.decodeSystemStatus(word).describe()


def describePeerStatus(word: int) -> str:
    """A peer status as ntpq prints it after C{status=}."""
    status = K.decodePeerStatus(word)
    flags = ", ".join(name for bit, name in _PEER_FLAG_NAMES if status.bits & bit)
    text = f"{flags}, sel_{status.condition}, {K.eventsText(status.eventCount)}"
    if status.lastEvent:
        text += ", " + _PEER_CODE_NAMES.get(status.lastEvent, f"_{status.lastEvent}")
    return text


# ---------------------------------------------------------------------------
# Reports


def peerType(variables: dict[str, str]) -> str:
    """
    ntpq's C{t} column, from an association's variables: C{l} a reference
    clock (its C{srchost} is C{NAME(unit)}), C{p} a pool (refid C{POOL}),
    C{a} manycast, C{u} unicast; C{b} and C{m} broadcast and multicast
    clients (by the address their packets come to), C{B}, C{M} broadcast
    and multicast servers, C{s}, C{S} symmetric.
    """
    hmode = castValue(variables.get("hmode", "0"))
    srcadr = variables.get("srcadr", "")
    if hmode == 6:
        # A multicast client's packets come to a group (classic ntpq's m).
        dstadr = variables.get("dstadr", "")
        return "m" if isMulticast(dstadr) else "b"
    if hmode == 5:
        return "M" if srcadr.startswith("224.") else "B"
    if hmode == 3:
        if "(" in variables.get("srchost", ""):
            return "l"
        if variables.get("refid") == "POOL":
            return "p"
        if srcadr.startswith("224."):
            return "a"
        return "u"
    if hmode == 1:
        return "s"
    if hmode == 2:
        return "S"
    return "?"


def peerLine(
    status: int,
    variables: Sequence[tuple[str, str]],
    now: float,
    numeric: bool = True,
    resolve: Callable[[str], str] | None = None,
) -> str:
    """
    One line of C{ntpq -p}.

    @param status: the association's peer status word.
    @param variables: its variables, as received (in order).
    @param now: POSIX seconds, for the C{when} column.
    @param numeric: show addresses, not names (C{-n}).
    @param resolve: turns an address into a name (when not C{numeric}).
    """
    values = dict(variables)
    tally = K.TALLY[K.decodePeerStatus(status).selection]
    srcadr = values.get("srcadr")
    srchost = values.get("srchost")
    if srcadr and srcadr not in ("0.0.0.0", "::") and not srcadr.startswith("127.127"):
        name = srcadr if numeric or resolve is None else resolve(srcadr)
    else:
        name = srchost if srchost is not None else (srcadr or "")
    line = "%c%-*.*s " % (tally, PEERS_NAME_WIDTH, PEERS_NAME_WIDTH, name[:PEERS_NAME_WIDTH])
    refid = values.get("refid", "")
    if "." not in refid and ":" not in refid:
        refid = "." + refid + "."
    if len(refid) > REFID_WIDTH:
        refid = "-" + refid[-REFID_WIDTH + 1 :]
    line += refid + " " * (REFID_WIDTH - len(refid))
    lastSync: Any = None
    for key in ("reftime", "rec"):
        if key in values:
            seconds = timestampSeconds(values[key], now)
            if seconds is not None:
                lastSync = int(now - seconds)
    if lastSync is None:
        lastSync = now
    hpoll = castValue(values.get("hpoll", "0"))
    ppoll = castValue(values.get("ppoll", "0"))
    hpoll = hpoll if isinstance(hpoll, int) and hpoll >= 0 else 0
    ppoll = ppoll if isinstance(ppoll, int) and ppoll >= 0 else 0
    poll = 1 << min(ppoll, hpoll)
    delayText = values.get("delay", ".")
    decimals = 4 if len(delayText) > 6 and delayText[-7] == "." else 3
    if "jitter" in values:
        spread = castValue(values["jitter"])
    else:
        spread = castValue(values.get("dispersion", values.get("rootdisp", ".")))
    stratum = castValue(values.get("stratum", "20"))
    reach = castValue(values.get("reach", "0"))
    line += " %2d %c %4.4s %4.4s  %3o %s %s %s" % (
        stratum if isinstance(stratum, int) else 20,
        peerType(values),
        prettyInterval(lastSync),
        prettyInterval(poll),
        reach if isinstance(reach, int) else 0,
        fixed8(castValue(delayText), decimals),
        fixed8(castValue(values.get("offset", ".")), decimals),
        fixed8(spread, decimals),
    )
    return line


def peersHeader() -> str:
    """The two header lines of C{ntpq -p} (80 columns)."""
    header = (
        "     remote    ".ljust(PEERS_NAME_WIDTH)
        + "       refid      ".ljust(REFID_WIDTH)
        + "st t when poll reach   delay   offset   jitter"
    )
    return header + "\n" + "=" * 79


def associationsReport(associations: Sequence[tuple[int, int]], showAll: bool = False) -> str:
    """
    C{ntpq -c associations}: one row per association that is configured
    or reachable (all with C{showAll}).
    """
    lines = [
        "",
        "ind assid status  conf reach auth condition  last_event cnt",
        "=" * 59,
    ]
    for index, (associd, word) in enumerate(associations, start=1):
        status = K.decodePeerStatus(word)
        if not showAll and not status.bits & (S.PEER_CONFIG | S.PEER_REACH):
            continue
        lines.append(
            "%3d %5u  %04x   %3.3s  %4s  %4.4s %9.9s %11s %2u"
            % (
                index,
                associd,
                word,
                status.conf,
                status.reach,
                status.auth,
                status.condition,
                status.lastEventName,
                status.eventCount,
            )
        )
    return "\n".join(lines)


def cookVariables(variables: Sequence[tuple[str, str]], now: float, width: int = 78) -> str:
    """
    Variables as ntpq's C{readvar} prints them ("cooked"): timestamps as
    dates, the leap indicator in binary, C{reach} in octal, flash bits by
    name, numbers as Python shows them, lines wrapped at C{width}.
    """
    specials = ("filtdelay", "filtoffset", "filtdisp", "filterror")
    longest = max(len(s) for s in specials)
    text = ""
    for name, raw in variables:
        value = castValue(raw)
        if name in specials:
            item = "%*s =" % (longest, name)
        else:
            item = f"{name}="
        if name in ("reftime", "clock", "org", "rec", "xmt"):
            item += prettyDate(raw, now)
        elif name in ("srcadr", "peeradr", "dstadr", "refid"):
            item += str(value)
        elif name == "leap" and isinstance(value, int) and 0 <= value <= 3:
            item += ("00", "01", "10", "11")[value]
        elif name == "reach" and isinstance(value, int):
            item += "%03o" % value
        elif name in specials:
            item += "\t".join(raw.split())
        elif name == "flash" and isinstance(value, int):
            item += "%02x " % value
            if value == 0:
                item += "ok "
            else:
                item += "".join(
                    flag + " " for bit, flag in enumerate(FLASH_NAMES) if value & (1 << bit)
                )
            item = item[:-1]
        else:
            item += repr(value)
        item += ", "
        lineLength = len(text) - (text.rfind("\n") + 1)
        if text and lineLength + len(item) > width:
            text = text[:-1] + "\n"
        text += item
    return (text[:-2] + "\n").replace("'", '"')


def mruLine(entry: Any, now: float, numeric: bool = True,
            resolve: Callable[[str], str] | None = None) -> str:
    """One line of C{ntpq -c mrulist}."""
    pivot = int(now * 1e9)
    last = entry.last.toUnixNanoseconds(pivot) / 1e9
    first = entry.first.toUnixNanoseconds(pivot) / 1e9
    text = "%7d" % int(now - last + 0.5)
    average = 0.0 if entry.count <= 1 else (last - first) / (entry.count - 1)
    if average > 5.0 or entry.count == 1:
        text += " %6d" % int(average + 0.5)
    elif average >= 1.0:
        text += " %6.2f" % average
    else:
        text += " %6.3f" % average
    if entry.restrictions & K.RESTRICTION_BITS["kod"]:
        code = "K"
    elif entry.restrictions & K.RESTRICTION_BITS["limited"]:
        code = "L"
    else:
        code = "."
    if entry.score:
        if entry.score > 100000.0:
            score = "%8.1f" % entry.score
        elif entry.score > 10000.0:
            score = "%8.2f" % entry.score
        else:
            score = "%8.3f" % entry.score
    else:
        score = "-"
    name = entry.address if numeric or resolve is None else resolve(entry.address)
    text += " %4x %c %d %d %6d %8s %6s %5s %s" % (
        entry.restrictions & 0xFFFF,
        code,
        entry.mode,
        entry.version,
        entry.count,
        score,
        "%4d" % entry.dropped,
        entry.port,
        name,
    )
    return text


def reverseName(address: str) -> str:
    """The name of an address (ntpq without C{-n}), or the address."""
    try:
        return socket.getnameinfo((address, 0), socket.NI_NAMEREQD)[0].lower()
    except (OSError, UnicodeError):
        return address


# ---------------------------------------------------------------------------
# The command interpreter


class Session:
    """
    Runs ntpq commands against one host and prints what ntpq prints.
    """

    def __init__(self, client: Any, out: TextIO, err: TextIO, numeric: bool,
                 width: int, keyID: int | None = None, keys: Any = None) -> None:
        self.client = client
        self.out = out
        self.err = err
        self.numeric = numeric
        self.width = width
        self.keyID = keyID
        self.keys = keys

    def say(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def warn(self, text: str) -> None:
        self.err.write(text.rstrip("\n") + "\n")

    def run(self, line: str) -> bool:
        """
        Run one command line.

        @return: whether it succeeded.
        """
        from ntpservice.control.client import ControlClientError

        line = line.strip()
        if not line:
            return True
        if line.startswith(":config"):
            command, argument = ":config", line[len(":config") :].strip()
        else:
            command, _, argument = line.partition(" ")
            argument = argument.strip()
        handler = self._handler(command)
        if handler is None:
            self.warn(f"***Command `{command}' unknown")
            return False
        try:
            handler(argument)
        except ControlClientError as e:
            self.warn(str(e))
            return False
        return True

    def _handler(self, command: str) -> Callable[[str], None] | None:
        commands: dict[str, Callable[[str], None]] = {
            "peers": self.peers,
            "associations": self.associations,
            "readvar": self.readvar,
            "rv": self.readvar,
            "clockvar": self.clockvar,
            "cv": self.clockvar,
            "mrulist": self.mrulist,
            ":config": self.config,
            "keyid": self.keyid,
        }
        if command in commands:
            return commands[command]
        matches = [name for name in commands if name.startswith(command) and name[0] != ":"]
        if len(matches) == 1:
            return commands[matches[0]]
        return None

    def peers(self, argument: str) -> None:
        """C{peers} (C{-p})."""
        _system, associations = self.client.readStatus()
        if not associations:
            self.say("No association IDs returned\n")
            return
        self.say(peersHeader() + "\n")
        resolve = None if self.numeric else reverseName
        for associd, _status in associations:
            response = self.client.readVariables(associd)
            variables = response.variables
            if not variables:
                self.warn(f"***No information returned for association {associd}")
                continue
            self.say(peerLine(response.status, variables, time.time(), self.numeric, resolve) + "\n")

    def associations(self, argument: str) -> None:
        """C{associations} (C{as})."""
        _system, associations = self.client.readStatus()
        if not associations:
            self.say("No association IDs returned\n")
            return
        self.say(associationsReport(associations) + "\n")

    def _associd(self, word: str) -> int:
        from ntpservice.control.client import ControlClientError

        if word.startswith("&"):
            _system, associations = self.client.readStatus()
            index = int(word[1:])
            if not 1 <= index <= len(associations):
                raise ControlClientError(f"No such association as {index}.")
            return associations[index - 1][0]
        try:
            return int(word)
        except ValueError:
            raise ControlClientError("Invalid associd literal.") from None

    def readvar(self, argument: str) -> None:
        """C{readvar [assocID] [name[,name...]]} (C{rv})."""
        words = argument.replace(",", " ").split()
        associd = self._associd(words[0]) if words else 0
        names = words[1:]
        response = self.client.readVariables(associd, names)
        variables = response.variables
        if not variables:
            if associd == 0:
                self.say("No system variables returned\n")
            else:
                self.say(f"No information returned for association {associd}\n")
            return
        if not names:
            describe = describeSystemStatus if associd == 0 else describePeerStatus
            self.say(f"associd={associd} status={response.status:04x} {describe(response.status)},\n")
        self.say(cookVariables(variables, time.time(), self.width - 2))

    def clockvar(self, argument: str) -> None:
        """
        C{clockvar [assocID]} (C{cv}). Without an association ID (or with
        0), the server's own choice, as ntpd's: the system peer if it is a
        reference clock, else its first reference clock.
        """
        from ntpservice.control.client import ControlClientError, ServerError

        words = argument.split()
        associd = self._associd(words[0]) if words else 0
        try:
            response = self.client.readClock(associd, words[1:])
        except ServerError as e:
            if associd == 0 and e.code == K.ERR_BADASSOC:
                raise ControlClientError(
                    "***The server has no reference clock "
                    "(clockvar shows a reference clock's variables)"
                ) from None
            raise
        variables = response.variables
        if not words[1:]:
            code = response.status & 0xF
            name = (
                K.CLOCK_STATUS_NAMES[code] if code < len(K.CLOCK_STATUS_NAMES) else f"clk_{code}"
            )
            self.say(
                f"associd={associd} status={response.status:04x} "
                f"{K.eventsText((response.status >> 4) & 0xF)}, {name},\n"
            )
        self.say(cookVariables(variables, time.time(), self.width - 2))

    def mrulist(self, argument: str) -> None:
        """C{mrulist [name=value...]}."""
        parameters = []
        frags = 32
        for word in argument.split():
            name, _, value = word.partition("=")
            if name == "frags":
                frags = int(value)
            elif name == "kod":
                parameters.append(("resany", "0x400"))
            elif name == "limited":
                parameters.append(("resany", "0x20"))
            else:
                parameters.append((name, value))
        started = time.monotonic()
        self.say("Ctrl-C will stop MRU retrieval and display partial results.\n")
        result = self.client.mruList(frags, parameters)
        now = result.now
        nowSeconds = (
            now.toUnixNanoseconds(int(time.time() * 1e9)) / 1e9 if now is not None else time.time()
        )
        self.say(MRU_HEADER + "\n" + "=" * len(MRU_HEADER) + "\n")
        resolve = None if self.numeric else reverseName
        for entry in result.entries:
            self.say(mruLine(entry, nowSeconds, self.numeric, resolve) + "\n")
        elapsed = time.monotonic() - started
        self.say(f"# Collected {len(result.entries)} slots in {elapsed:.3f} seconds\n")

    def keyid(self, argument: str) -> None:
        """C{keyid N}: the key for authenticated requests."""
        if argument:
            self.keyID = int(argument)
            self.client.key = None
        if self.keyID is None:
            self.say("no keyid defined\n")
        else:
            self.say(f"keyid is {self.keyID}\n")

    def config(self, argument: str) -> None:
        """C{:config LINE}: runtime configuration, authenticated."""
        from ntpservice.control.client import ControlClientError

        if self.client.key is None:
            if self.keyID is None or self.keys is None:
                raise ControlClientError("***Invalid key identifier")
            key = self.keys.get(self.keyID)
            if key is None:
                raise ControlClientError("***Key not found")
            self.client.key = key
        self.say(self.client.configure(argument) + "\n")


# ---------------------------------------------------------------------------
# main


def parseArguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ntpservice-q",
        description="Query an NTP daemon with mode 6 (ntpq) requests.",
    )
    parser.add_argument("-4", "--ipv4", dest="family", action="store_const",
                        const=socket.AF_INET, default=socket.AF_UNSPEC,
                        help="resolve host names to IPv4 addresses only")
    parser.add_argument("-6", "--ipv6", dest="family", action="store_const",
                        const=socket.AF_INET6, help="resolve host names to IPv6 only")
    parser.add_argument("-c", "--command", action="append", default=[],
                        help="run a command (repeatable): peers, associations, "
                        "readvar [assocID] [names], clockvar, mrulist, :config ...")
    parser.add_argument("-p", "--peers", action="store_true",
                        help="print the peers (the command 'peers')")
    parser.add_argument("-n", "--numeric", action="store_true",
                        help="show addresses, do not look up host names")
    parser.add_argument("-P", "--port", type=int, default=123,
                        help="the server's UDP port (default 123)")
    parser.add_argument("-k", "--keyfile", help="the keys file (for :config)")
    parser.add_argument("-a", "--authentication", type=int, dest="keyid",
                        help="the key identifier for authenticated requests")
    parser.add_argument("-t", "--timeout", type=float, default=5.0,
                        help="seconds to wait for an answer (default 5)")
    parser.add_argument("-W", "--width", type=int, default=None,
                        help="the output width (default: the terminal's, or 80)")
    parser.add_argument("-V", "--version", action="store_true",
                        help="print the version and exit")
    parser.add_argument("hosts", nargs="*", metavar="host",
                        help="the server (default localhost)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """
    The C{ntpservice-q} command.

    @return: the exit status: 0 when every command succeeded, 1 otherwise,
        2 for bad arguments.
    """
    from ntpservice.auth.keys import parseKeysFile
    from ntpservice.config import ConfigError
    from ntpservice.control.client import ControlClient, ControlClientError

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    arguments = parseArguments(sys.argv[1:] if argv is None else argv)
    if arguments.version:
        import ntpservice

        out.write(f"ntpservice-q {ntpservice.__version__}\n")
        return 0
    keys = None
    if arguments.keyfile is not None:
        try:
            keys = parseKeysFile(arguments.keyfile)
        except ConfigError as e:
            err.write(f"ntpservice-q: {e}\n")
            return 2
    commands = list(arguments.command)
    if arguments.peers:
        commands.append("peers")
    if not commands:
        err.write("ntpservice-q: no command given (use -p or -c COMMAND)\n")
        return 2
    width = arguments.width
    if width is None:
        width = shutil.get_terminal_size((80, 24)).columns if out.isatty() else 80
    status = 0
    for host in arguments.hosts or ["localhost"]:
        try:
            client = ControlClient(host, arguments.port, timeout=arguments.timeout,
                                   family=arguments.family)
        except ControlClientError as e:
            err.write(f"ntpservice-q: {e}\n")
            status = 1
            continue
        with client:
            session = Session(client, out, err, arguments.numeric, width,
                              arguments.keyid, keys)
            if len(arguments.hosts) > 1:
                out.write(f"server={host} ")
            for command in commands:
                if not session.run(command):
                    status = 1
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

