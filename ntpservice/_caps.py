# -*- test-case-name: tests.test_safety -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Linux capabilities, through ctypes and libc (C{prctl}, C{capget},
C{capset}) and C{/proc}: enough to give a capability up for good and to
check that it is gone.

The test suite uses it to drop C{CAP_SYS_TIME} before any test runs (see
C{tests/conftest.py}), so that nothing a test does or spawns can change the
host's clock. The privilege-drop issue will extend this module for the
daemon itself (C{PR_SET_KEEPCAPS}, C{setresuid}, keeping
C{CAP_NET_BIND_SERVICE} and C{CAP_SYS_TIME}).

Capabilities are per thread: these functions change the calling thread
only, and threads inherit them from the thread that creates them. Drop
before any thread starts.
"""

from __future__ import annotations

import ctypes
import os

__all__ = [
    "CAP_SYS_TIME",
    "CAP_SETPCAP",
    "dropCapability",
    "hasCapability",
    "parseCapabilities",
    "setNoNewPrivileges",
    "noNewPrivileges",
]

CAP_SETPCAP = 8
CAP_SYS_TIME = 25

PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_STATUS_FIELDS = {
    "effective": "CapEff",
    "permitted": "CapPrm",
    "inheritable": "CapInh",
    "bounding": "CapBnd",
    "ambient": "CapAmb",
}


class _CapHeader(ctypes.Structure):
    """C{struct __user_cap_header_struct}."""

    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    """C{struct __user_cap_data_struct}: one 32-bit word of each set."""

    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_libc: ctypes.CDLL | None = None


def _getLibc() -> ctypes.CDLL:
    """
    @return: libc, loaded once, with C{errno} saved by ctypes.
    """
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> int:
    """
    Turn a libc C{-1} into an L{OSError}.

    @param result: what the libc call returned.
    @param what: the call, for the message.
    @return: C{result}.
    @raise OSError: with C{errno} if C{result} is C{-1}.
    """
    if result == -1:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def _prctl(option: int, argument: int = 0) -> int:
    """
    Call C{prctl(option, argument, 0, 0, 0)}.

    @raise OSError: on failure.
    """
    libc = _getLibc()
    zero = ctypes.c_ulong(0)
    return _check(
        libc.prctl(
            ctypes.c_int(option), ctypes.c_ulong(argument), zero, zero, zero
        ),
        f"prctl({option})",
    )


def dropCapability(capNumber: int) -> None:
    """
    Give a capability up for the calling thread and what it starts.

    First from the bounding set (C{PR_CAPBSET_DROP}), so no program it
    executes can get it back, not even a set-user-ID-root one; that needs
    C{CAP_SETPCAP}, and without it (an unprivileged user) the bounding set
    is left as it is: check with C{hasCapability(cap, 'bounding')} and use
    L{setNoNewPrivileges} for the same guarantee. Then from the effective,
    permitted and inheritable sets (C{capset}, which anyone may do to lower
    their own sets); the ambient set loses it with them.

    @param capNumber: the capability, e.g. L{CAP_SYS_TIME}.
    @raise OSError: if a call fails for any other reason than lacking
        C{CAP_SETPCAP} for the bounding set.
    """
    libc = _getLibc()
    try:
        _prctl(PR_CAPBSET_DROP, capNumber)
    except PermissionError:
        pass
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc.capget(ctypes.byref(header), data), "capget")
    index, bit = divmod(capNumber, 32)
    mask = ~(1 << bit) & 0xFFFFFFFF
    data[index].effective &= mask
    data[index].permitted &= mask
    data[index].inheritable &= mask
    _check(libc.capset(ctypes.byref(header), data), "capset")


def setNoNewPrivileges() -> None:
    """
    Set C{PR_SET_NO_NEW_PRIVS} for the calling thread, for good: no program
    it or its children execute gains privileges (set-user-ID bits and file
    capabilities are ignored).

    @raise OSError: if the kernel refuses.
    """
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def parseCapabilities(statusText: str) -> dict[str, int]:
    """
    Read the capability sets from the text of a C{/proc/PID/status} file.

    @param statusText: the file's content.
    @return: a mapping from C{'effective'}, C{'permitted'},
        C{'inheritable'}, C{'bounding'} and C{'ambient'} (those present) to
        the set as an C{int} bit mask.
    """
    byField = {field: name for name, field in _STATUS_FIELDS.items()}
    sets: dict[str, int] = {}
    for line in statusText.splitlines():
        field, _, value = line.partition(":")
        if field in byField:
            sets[byField[field]] = int(value.strip(), 16)
    return sets


def _statusPath(task: int | None) -> str:
    """
    @param task: a thread id of this process, or C{None} for the process.
    @return: the path of its status file.
    """
    if task is None:
        return "/proc/self/status"
    return f"/proc/self/task/{task}/status"


def hasCapability(
    capNumber: int, which: str = "effective", task: int | None = None
) -> bool:
    """
    Whether this process (or one of its threads) holds a capability in a set,
    read from C{/proc}.

    @param capNumber: the capability, e.g. L{CAP_SYS_TIME}.
    @param which: C{'effective'}, C{'bounding'}, C{'permitted'},
        C{'inheritable'} or C{'ambient'}.
    @param task: a thread id from C{/proc/self/task}; C{None} for the main
        thread (C{/proc/self/status}).
    @return: C{True} if bit C{capNumber} of that set is set.
    @raise ValueError: for an unknown set name.
    """
    if which not in _STATUS_FIELDS:
        raise ValueError(f"unknown capability set {which!r}")
    with open(_statusPath(task)) as f:
        sets = parseCapabilities(f.read())
    return bool(sets[which] >> capNumber & 1)


def noNewPrivileges(task: int | None = None) -> bool:
    """
    Whether C{PR_SET_NO_NEW_PRIVS} is set, read from C{/proc}.

    @param task: a thread id, or C{None} for the main thread.
    @return: C{True} if the C{NoNewPrivs} field is C{1}.
    """
    with open(_statusPath(task)) as f:
        for line in f:
            field, _, value = line.partition(":")
            if field == "NoNewPrivs":
                return value.strip() == "1"
    return False
