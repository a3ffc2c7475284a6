# -*- test-case-name: tests.test_privileges -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.privileges}: C{-u USER[:GROUP]}.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

from twisted.trial.unittest import SynchronousTestCase

from ntpservice import privileges
from ntpservice.privileges import PrivilegeError, parseUser
from tests.interop.peers import REPOSITORY_ROOT


class ParseUserTests(SynchronousTestCase):
    """
    L{parseUser} looks up C{USER[:GROUP]} as ntpd's C{-u} does.
    """

    def test_names(self) -> None:
        """
        A user name gives its uid and its own group; C{:GROUP} replaces the
        group.
        """
        identity = parseUser("nobody")
        self.assertEqual(identity.uid, 65534)
        self.assertEqual(parseUser("nobody:root").gid, 0)

    def test_numbers(self) -> None:
        """
        Numbers are taken as they are, even without a passwd entry.
        """
        identity = parseUser("4242:4343")
        self.assertEqual((identity.uid, identity.gid), (4242, 4343))

    def test_unknown(self) -> None:
        """
        An unknown user or group is refused, naming it.
        """
        self.assertIn("unknown user", str(self.assertRaises(PrivilegeError, parseUser, "no-such-user-x")))
        self.assertIn("unknown group", str(self.assertRaises(PrivilegeError, parseUser, "nobody:no-such-group-x")))


class DropTests(SynchronousTestCase):
    """
    L{privileges.dropPrivileges}, in a child process run as root.
    """

    def test_threadsRefused(self) -> None:
        """
        With another thread running (it would keep the old privileges),
        nothing is changed and the refusal says why.
        """
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait, name="busy")
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(stop.set)
        error = self.assertRaises(PrivilegeError, privileges.dropPrivileges, parseUser("nobody"))
        self.assertIn("busy", str(error))

    def test_drop(self) -> None:
        """
        As root: the process becomes the user and group, keeps
        CAP_NET_BIND_SERVICE (binds port 123 afterwards, in a namespace of
        its own) and not
        CAP_SYS_TIME, which the test process does not hold (never gaining
        one), has no other capability even in its bounding set, and
        no_new_privs is set.
        """
        if os.geteuid() != 0:
            self.skipTest("dropping privileges needs root")
        code = textwrap.dedent(
            """
            import socket
            from ntpservice import privileges
            kept = privileges.dropPrivileges(privileges.parseUser("nobody:nogroup"))
            import os
            status = dict(
                line.split(":", 1) for line in open("/proc/self/status").read().splitlines()
            )
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", 123))
            print(kept, os.getresuid(), os.getresgid(), status["CapEff"].strip(),
                  status["CapBnd"].strip(), status["NoNewPrivs"].strip())
            """
        )
        env = dict(os.environ, PYTHONPATH=REPOSITORY_ROOT)
        result = subprocess.run(
            # A network namespace of its own: port 123 is surely free there.
            ["unshare", "--net", sys.executable, "-c", code],
            capture_output=True, text=True, timeout=60, env=env,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        words = result.stdout.split()
        self.assertEqual(words[-1], "1")
        capEff, capBnd = int(words[-3], 16), int(words[-2], 16)
        self.assertEqual(capEff, 1 << privileges.CAP_NET_BIND_SERVICE)
        self.assertEqual(capBnd, 1 << privileges.CAP_NET_BIND_SERVICE)
        self.assertIn("(65534, 65534, 65534)", result.stdout)
        self.assertIn("[10]", result.stdout)
