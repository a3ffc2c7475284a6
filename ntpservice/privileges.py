# -*- test-case-name: tests.test_privileges -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
C{-u USER[:GROUP]}: run as an unprivileged user after binding the sockets
and reading the keys, keeping only the capabilities the daemon needs.

The order is the one that works (measured; see the platform notes):
C{PR_SET_KEEPCAPS}; the bounding set reduced to the kept capabilities
(while C{CAP_SETPCAP} is still held); C{setgroups}, C{setresgid},
C{setresuid}; C{capset} with the kept capabilities effective and
permitted, nothing inheritable; C{PR_SET_NO_NEW_PRIVS}.

Kept: C{CAP_NET_BIND_SERVICE} (binding port 123 on an address that
appears later: ntpd's bug #765) and C{CAP_SYS_TIME} (disciplining the
clock), each only if the process held it (never gaining one). Capabilities
belong to a thread: the drop must happen before any thread starts
(L{dropPrivileges} refuses otherwise).
"""

from __future__ import annotations

import ctypes
import grp
import os
import pwd
import threading
from dataclasses import dataclass

from ntpservice import _caps

CAP_NET_BIND_SERVICE = 10
CAP_SYS_TIME = _caps.CAP_SYS_TIME
KEPT = (CAP_NET_BIND_SERVICE, CAP_SYS_TIME)
"""The capabilities kept, when held."""

PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4


class PrivilegeError(Exception):
    """
    The privileges cannot be dropped as asked; the message says why.
    """


@dataclass(frozen=True, slots=True)
class Identity:
    """
    Who the daemon becomes.

    @ivar user: the user name (or the number as written).
    @ivar uid: its user ID.
    @ivar gid: the group ID (the group given, else the user's own).
    @ivar groups: the supplementary groups (the user's, as C{initgroups}).
    @ivar home: its home directory.
    """

    user: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def parseUser(text: str) -> Identity:
    """
    Look up C{USER[:GROUP]} (names or numbers), as ntpd's C{-u}.

    @raise PrivilegeError: for an unknown user or group.
    """
    user, _, group = text.partition(":")
    if not user:
        raise PrivilegeError(f"-u {text}: no user name")
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, OverflowError):
        if not user.isdigit():
            raise PrivilegeError(f"-u {text}: unknown user {user!r}") from None
        uid, gid, home = int(user), int(user), "/"
    else:
        uid, gid, home = entry.pw_uid, entry.pw_gid, entry.pw_dir
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise PrivilegeError(f"-u {text}: unknown group {group!r}") from None
    try:
        name = pwd.getpwuid(uid).pw_name
        groups = tuple(g for g in os.getgrouplist(name, gid) if g != gid)
    except KeyError:
        groups = ()
    return Identity(user, uid, gid, groups, home)


def _heldCapabilities() -> set[int]:
    return {cap for cap in KEPT if _caps.hasCapability(cap, "permitted")}


def dropPrivileges(identity: Identity) -> list[int]:
    """
    Become C{identity}, keeping the capabilities of L{KEPT} that are
    held, and set C{no_new_privs}.

    @return: the capabilities kept.
    @raise PrivilegeError: when another thread runs (it would keep the
        old privileges), or a system call fails.
    """
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:
        raise PrivilegeError(
            "-u: cannot drop privileges once threads run "
            f"({', '.join(others)}): they would keep them"
        )
    kept = sorted(_heldCapabilities())
    libc = _caps._getLibc()
    try:
        _caps._prctl(PR_SET_KEEPCAPS, 1)
        if _caps.hasCapability(_caps.CAP_SETPCAP, "effective"):
            last = _lastCapability()
            for cap in range(last + 1):
                if cap not in kept and _caps.hasCapability(cap, "bounding"):
                    _caps._prctl(_caps.PR_CAPBSET_DROP, cap)
        os.setgroups(list(identity.groups))
        os.setresgid(identity.gid, identity.gid, identity.gid)
        os.setresuid(identity.uid, identity.uid, identity.uid)
        header = _caps._CapHeader(_caps._LINUX_CAPABILITY_VERSION_3, 0)
        data = (_caps._CapData * 2)()
        for cap in kept:
            index, bit = divmod(cap, 32)
            data[index].effective |= 1 << bit
            data[index].permitted |= 1 << bit
        _caps._check(libc.capset(ctypes.byref(header), data), "capset")
        _caps._prctl(PR_SET_KEEPCAPS, 0)
        try:
            libc.prctl(
                ctypes.c_int(PR_CAP_AMBIENT),
                ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL),
                ctypes.c_ulong(0),
                ctypes.c_ulong(0),
                ctypes.c_ulong(0),
            )
        except Exception:
            pass
        _caps.setNoNewPrivileges()
    except OSError as e:
        raise PrivilegeError(f"-u {identity.user}: {e}") from None
    if os.getuid() != identity.uid and identity.uid != 0:
        raise PrivilegeError(f"-u {identity.user}: still running as uid {os.getuid()}")
    return kept


def _lastCapability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 40


CAPABILITY_NAMES = {CAP_NET_BIND_SERVICE: "CAP_NET_BIND_SERVICE", CAP_SYS_TIME: "CAP_SYS_TIME"}
