# -*- test-case-name: tests.core.test_access -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.restrict}, the C{restrict} list with ntpd's
matching rules, and L{ntpservice.core.access}, the per-packet decisions
with ntpd's semantics. Tables are built from configuration text through
L{ntpservice.coreconfig.restrictTable}, as the daemon builds them.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ntpservice import config
from ntpservice.core import access
from ntpservice.core.access import (
    ANSWER,
    ANSWER_FUZZED,
    AUTH_ERROR,
    AUTH_OK,
    CRYPTO_NAK,
    KOD_RATE,
    Decision,
    buildKissOfDeath,
    controlDecision,
    fuzzReferenceTime,
    mayMobilize,
    replyDecision,
    serverDecision,
)
from ntpservice.core.mru import MRUList
from ntpservice.core.restrict import RestrictRule, RestrictTable, Restriction
from ntpservice.core.packet import (
    LEAP_NONE,
    LEAP_NOTINSYNC,
    MAC,
    MODE_ACTIVE,
    MODE_BROADCAST,
    MODE_CLIENT,
    MODE_PASSIVE,
    MODE_RESERVED,
    MODE_SERVER,
    NTPPacket,
)
from ntpservice.core.timestamps import NTPTimestamp
from ntpservice.coreconfig import restrictTable

ETC = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "etc",
)

T0 = 1_000_000.0
"""An arbitrary monotonic time, seconds."""

XMT = NTPTimestamp(0xE9A1B2C3_12345678)
"""The client's transmit timestamp in the test requests."""

DIGEST_MAC = MAC(keyID=1, digest=bytes(16))
"""A MAC with a 128-bit digest (whether it verifies is the caller's word)."""


def tableFrom(text: str) -> RestrictTable:
    """
    A table built from configuration text.
    """
    return restrictTable(config.parseString(text, "t.conf").restrictions)


def request(**kwargs: Any) -> NTPPacket:
    """
    A client request (NTPv4, mode 3) with C{kwargs} changed.
    """
    fields: dict[str, Any] = dict(
        version=4, mode=MODE_CLIENT, poll=6, precision=-20, xmt=XMT
    )
    fields.update(kwargs)
    return NTPPacket(**fields)


def decide(
    table: RestrictTable,
    address: str,
    packet: NTPPacket | None = None,
    port: int = 40000,
    now: float = T0,
    mru: MRUList | None = None,
    **kwargs: Any,
) -> Decision:
    """
    Look C{address} up and decide about C{packet} from it.
    """
    if packet is None:
        packet = request()
    return serverDecision(
        table.lookup(address, port), packet, now, address, port, mru, **kwargs
    )


def flags(table: RestrictTable, address: str, port: int | None = None) -> set[str]:
    """The flags that apply to a packet from C{address}."""
    return set(table.lookup(address, port).flags)


class DefaultEntryTests(SynchronousTestCase):
    """
    The default entries, ntpd's semantics: present, flagless unless
    configured, one per family.
    """

    def test_emptyTable(self) -> None:
        """
        Without configuration everything is allowed: both families' default
        entries have no flags (ntpd; NTPsec's would have noquery limited).
        """
        table = RestrictTable()
        for address in ("192.0.2.1", "2001:db8::1"):
            restriction = table.lookup(address)
            self.assertEqual(restriction.flags, frozenset())
            self.assertIsNone(restriction.source)
            self.assertEqual(decide(table, address), ANSWER)
            self.assertEqual(controlDecision(restriction), ANSWER)
        self.assertEqual(
            [r.match for r in table.entries], ["default (IPv4)", "default (IPv6)"]
        )

    def test_defaultBothFamilies(self) -> None:
        """
        C{restrict default} without C{-4}/C{-6} applies to both families.
        """
        table = tableFrom("restrict default noquery\n")
        self.assertEqual(flags(table, "192.0.2.1"), {"noquery"})
        self.assertEqual(flags(table, "2001:db8::1"), {"noquery"})

    def test_perFamily(self) -> None:
        """
        C{restrict -4 default} and C{restrict -6 default} apply to one
        family each.
        """
        table = tableFrom("restrict -4 default noquery\nrestrict -6 default nomodify\n")
        self.assertEqual(flags(table, "192.0.2.1"), {"noquery"})
        self.assertEqual(flags(table, "2001:db8::1"), {"nomodify"})

    def test_defaultsMerge(self) -> None:
        """
        Later default lines add flags to the default entry; they do not
        replace it (ntpd's C{hack_restrict} ORs flags in).
        """
        table = tableFrom("restrict default noquery\nrestrict -6 default limited\n")
        self.assertEqual(flags(table, "192.0.2.1"), {"noquery"})
        self.assertEqual(flags(table, "2001:db8::1"), {"noquery", "limited"})
        self.assertEqual(
            table.lookup("2001:db8::1").source, config.SourceLocation("t.conf", 2)
        )

    def test_builtInConfiguration(self) -> None:
        """
        ntpservice's built-in configuration: everybody gets time, rate
        limited, without queries or peering; local users may query.
        """
        table = restrictTable(
            config.defaultConfiguration().restrictions
        )
        self.assertEqual(
            flags(table, "203.0.113.9"),
            {"kod", "limited", "nomodify", "nopeer", "noquery"},
        )
        self.assertEqual(flags(table, "2001:db8::9"), flags(table, "203.0.113.9"))
        self.assertEqual(flags(table, "127.0.0.1"), set())
        self.assertEqual(flags(table, "::1"), set())
        self.assertEqual(flags(table, "127.0.0.2"), flags(table, "203.0.113.9"))
        self.assertTrue(table.hasLimited)


class RuleTests(SynchronousTestCase):
    """
    The table is built from L{RestrictRule}s, the core's own type: no
    configuration object is needed.
    """

    def test_fromRules(self) -> None:
        """
        L{RestrictTable.fromRules} applies C{restrict}, C{unrestrict} and
        C{delrestrict} rules in order; the C{source} of the rule that last
        changed an entry is handed on, opaque, as its L{Restriction.source};
        a rule naming a host is kept in C{unresolved}.
        """
        where = ("somewhere", 7)
        later = ("somewhere", 8)
        table = RestrictTable.fromRules(
            [
                RestrictRule("restrict", "default", flags=frozenset({"noquery"})),
                RestrictRule(
                    "restrict",
                    "192.0.2.0",
                    prefixLength=24,
                    flags=frozenset({"nomodify", "notrap"}),
                    source=where,
                ),
                RestrictRule("unrestrict", "192.0.2.0", prefixLength=24,
                             flags=frozenset({"notrap"}), source=later),
                RestrictRule("restrict", "10.0.0.1", flags=frozenset({"ignore"})),
                RestrictRule("delrestrict", "10.0.0.1"),
                RestrictRule("restrict", "ntp.example.com", flags=frozenset({"kod"})),
            ]
        )
        self.assertEqual(flags(table, "192.0.2.9"), {"nomodify"})
        self.assertEqual(table.lookup("192.0.2.9").source, later)
        self.assertEqual(flags(table, "10.0.0.1"), {"noquery"})
        self.assertEqual(flags(table, "2001:db8::1"), {"noquery"})
        self.assertEqual(
            table.unresolved,
            [RestrictRule("restrict", "ntp.example.com", flags=frozenset({"kod"}))],
        )

    def test_sameAsConfiguration(self) -> None:
        """
        L{ntpservice.coreconfig.restrictTable} turns each configuration
        line into a rule with the same fields and the line's location:
        the table answers as one built from those rules.
        """
        text = (
            "restrict -4 default kod limited notrap\n"
            "restrict 192.0.2.0 mask 255.255.255.0 ippeerlimit 2 nopeer\n"
            "restrict 2001:db8::/32 noquery ntpport\n"
            "restrict source nomodify\n"
        )
        table = tableFrom(text)
        rules = RestrictTable.fromRules(
            [
                RestrictRule("restrict", "default", ipVersion=4,
                             flags=frozenset({"kod", "limited", "notrap"}),
                             source=config.SourceLocation("t.conf", 1)),
                RestrictRule("restrict", "192.0.2.0", mask="255.255.255.0",
                             ippeerlimit=2, flags=frozenset({"nopeer"}),
                             source=config.SourceLocation("t.conf", 2)),
                RestrictRule("restrict", "2001:db8::", prefixLength=32,
                             flags=frozenset({"noquery", "ntpport"}),
                             source=config.SourceLocation("t.conf", 3)),
                RestrictRule("restrict", "source", flags=frozenset({"nomodify"}),
                             source=config.SourceLocation("t.conf", 4)),
            ]
        )
        self.assertEqual(table.entries, rules.entries)
        self.assertEqual(table.sourceFlags, rules.sourceFlags)
        self.assertEqual(table.lookup("192.0.2.1").ippeerlimit, 2)
        self.assertEqual(
            table.lookup("192.0.2.1").source, config.SourceLocation("t.conf", 2)
        )


class MatchTests(SynchronousTestCase):
    """
    Entries match by address and mask; the most specific match wins.
    """

    def test_hostEntry(self) -> None:
        """
        An address without mask is a host entry: only that address.
        """
        table = tableFrom("restrict 192.0.2.1 noquery\n")
        self.assertEqual(flags(table, "192.0.2.1"), {"noquery"})
        self.assertEqual(flags(table, "192.0.2.2"), set())

    def test_mask(self) -> None:
        """
        C{mask} makes a network entry; the address is masked first.
        """
        table = tableFrom("restrict 10.1.2.3 mask 255.255.0.0 noquery\n")
        self.assertEqual(flags(table, "10.1.99.99"), {"noquery"})
        self.assertEqual(flags(table, "10.2.0.0"), set())
        self.assertEqual(table.lookup("10.1.0.0").match, "10.1.0.0/16")

    def test_prefix(self) -> None:
        """
        NTPsec's C{ADDRESS/PREFIX} is the same as a mask, in both families.
        """
        table = tableFrom(
            "restrict 10.1.0.0/16 noquery\nrestrict 2001:db8::/32 nomodify\n"
        )
        self.assertEqual(flags(table, "10.1.99.99"), {"noquery"})
        self.assertEqual(flags(table, "2001:db8:1::5"), {"nomodify"})
        self.assertEqual(flags(table, "2001:db9::5"), set())

    def test_nonContiguousMask(self) -> None:
        """
        ntpd accepts any mask; a packet matches when its masked address
        equals the entry's.
        """
        table = tableFrom("restrict 10.0.0.7 mask 255.0.0.255 noquery\n")
        self.assertEqual(flags(table, "10.200.100.7"), {"noquery"})
        self.assertEqual(flags(table, "10.200.100.8"), set())
        self.assertEqual(table.lookup("10.1.1.7").match, "10.0.0.7 mask 255.0.0.255")

    def test_mostSpecificWins(self) -> None:
        """
        The longest matching prefix gives all the flags; less specific
        entries' flags are not inherited. Written order does not matter.
        """
        text = (
            "restrict 10.1.2.0 mask 255.255.255.0 nomodify\n"
            "restrict default ignore\n"
            "restrict 10.0.0.0 mask 255.0.0.0 noquery\n"
            "restrict 10.1.0.0 mask 255.255.0.0 notrap\n"
            "restrict 10.1.2.3 kod\n"
        )
        table = tableFrom(text)
        self.assertEqual(flags(table, "10.1.2.3"), {"kod"})
        self.assertEqual(flags(table, "10.1.2.4"), {"nomodify"})
        self.assertEqual(flags(table, "10.1.3.4"), {"notrap"})
        self.assertEqual(flags(table, "10.2.3.4"), {"noquery"})
        self.assertEqual(flags(table, "11.0.0.1"), {"ignore"})
        self.assertEqual(
            [r.match for r in table.entries],
            [
                "10.1.2.3",
                "10.1.2.0/24",
                "10.1.0.0/16",
                "10.0.0.0/8",
                "default (IPv4)",
                "default (IPv6)",
            ],
        )

    def test_sameEntryMerges(self) -> None:
        """
        A second line with the same address and mask adds its flags to the
        entry (ntpd and NTPsec: "the flags are merged"); the entry reports
        the later line.
        """
        table = tableFrom(
            "restrict 10.0.0.0 mask 255.0.0.0 nopeer\n"
            "restrict 10.0.0.0/8 notrap ippeerlimit 2\n"
        )
        restriction = table.lookup("10.9.9.9")
        self.assertEqual(set(restriction.flags), {"nopeer", "notrap"})
        self.assertEqual(restriction.source, config.SourceLocation("t.conf", 2))
        self.assertEqual(restriction.ippeerlimit, 2)

    def test_ipv6(self) -> None:
        """
        IPv6 entries live in their own list; IPv4 entries never match IPv6
        packets.
        """
        table = tableFrom("restrict 2001:db8::1 noquery\nrestrict ::/0 nomodify\n")
        self.assertEqual(flags(table, "2001:db8::1"), {"noquery"})
        self.assertEqual(flags(table, "2001:db8::2"), {"nomodify"})
        self.assertEqual(flags(table, "192.0.2.1"), set())

    def test_scopedIPv6(self) -> None:
        """
        A link-local source with a scope (C{%eth0}) matches by address.
        """
        table = tableFrom("restrict fe80::/10 noquery\n")
        self.assertEqual(flags(table, "fe80::1%eth0"), {"noquery"})

    def test_ipv4Mapped(self) -> None:
        """
        An IPv4-mapped IPv6 source (a dual-stack socket) is matched as the
        IPv4 address, so that IPv4 restrictions cannot be bypassed.
        """
        table = tableFrom("restrict -4 default ignore\n")
        self.assertEqual(flags(table, "::ffff:192.0.2.1"), {"ignore"})
        self.assertEqual(flags(table, "2001:db8::1"), set())

    def test_multicastSource(self) -> None:
        """
        Packets from multicast source addresses are always ignored (ntpd's
        C{restrictions()}).
        """
        table = RestrictTable()
        self.assertEqual(flags(table, "224.0.1.1"), {"ignore"})
        self.assertEqual(flags(table, "ff05::101"), {"ignore"})
        self.assertEqual(decide(table, "224.0.1.1"), Decision.drop(access.IGNORED))

    def test_notAnAddress(self) -> None:
        """
        A source that is not an IP address is ignored.
        """
        table = RestrictTable()
        for junk in ("", "example.com", "1.2.3", "01.2.3.4", "1::2::3", "::g"):
            self.assertTrue(table.lookup(junk).ignore, junk)

    def test_cacheBounded(self) -> None:
        """
        Lookups are cached, in a bounded cache: after many addresses the
        answers are still right.
        """
        table = restrictTable(
            config.parseString("restrict 10.0.0.0/8 noquery\n", "t.conf").restrictions,
            cacheSize=4,
        )
        for i in range(100):
            self.assertEqual(flags(table, f"10.0.0.{i}"), {"noquery"})
            self.assertEqual(flags(table, f"11.0.0.{i}"), set())
        self.assertLessEqual(len(table._cache), 4)


class NtpportTests(SynchronousTestCase):
    """
    C{ntpport} entries match only packets from port 123.
    """

    def test_onlyPort123(self) -> None:
        """
        An C{ntpport} entry applies to port 123 only; other ports fall
        through to the next entry.
        """
        table = tableFrom("restrict 192.0.2.1 ntpport ignore\n")
        self.assertEqual(flags(table, "192.0.2.1", 123), {"ignore", "ntpport"})
        self.assertEqual(flags(table, "192.0.2.1", 40000), set())
        self.assertEqual(flags(table, "192.0.2.1"), set())
        self.assertEqual(
            decide(table, "192.0.2.1", port=123), Decision.drop(access.IGNORED)
        )
        self.assertEqual(decide(table, "192.0.2.1", port=1234), ANSWER)

    def test_moreSpecific(self) -> None:
        """
        With the same address and mask, the C{ntpport} entry wins for port
        123 and the plain one for other ports; a more specific address
        still beats both.
        """
        table = tableFrom(
            "restrict 10.0.0.0/8 noquery\n"
            "restrict 10.0.0.0/8 ntpport nomodify\n"
            "restrict 10.1.1.1 notrap\n"
        )
        self.assertEqual(flags(table, "10.2.2.2", 123), {"ntpport", "nomodify"})
        self.assertEqual(flags(table, "10.2.2.2", 5000), {"noquery"})
        self.assertEqual(flags(table, "10.1.1.1", 123), {"notrap"})

    def test_defaultNtpport(self) -> None:
        """
        C{restrict default ntpport} is an extra default entry for port 123.
        """
        table = tableFrom("restrict default ntpport nopeer\n")
        self.assertEqual(flags(table, "192.0.2.1", 123), {"ntpport", "nopeer"})
        self.assertEqual(flags(table, "192.0.2.1", 124), set())


class RemovalTests(SynchronousTestCase):
    """
    C{unrestrict} (NTPsec) and C{delrestrict} (ntpd) change the list.
    """

    def test_unrestrictFlags(self) -> None:
        """
        C{unrestrict} with flags clears those flags from the entry with
        that address and mask.
        """
        table = tableFrom(
            "restrict 10.0.0.0/8 noquery nomodify\nunrestrict 10.0.0.0/8 noquery\n"
        )
        self.assertEqual(flags(table, "10.1.1.1"), {"nomodify"})

    def test_unrestrictRemoves(self) -> None:
        """
        C{unrestrict} without flags removes the entry.
        """
        table = tableFrom(
            "restrict default noquery\n"
            "restrict 10.0.0.0/8 nomodify\n"
            "unrestrict 10.0.0.0/8\n"
        )
        self.assertEqual(flags(table, "10.1.1.1"), {"noquery"})

    def test_unrestrictDefault(self) -> None:
        """
        The default entries are never removed; C{unrestrict default FLAGS}
        clears flags from them.
        """
        table = tableFrom(
            "restrict default noquery limited\nunrestrict default\n"
            "unrestrict -6 default limited\n"
        )
        self.assertEqual(flags(table, "192.0.2.1"), {"noquery", "limited"})
        self.assertEqual(flags(table, "2001:db8::1"), {"noquery"})

    def test_delrestrict(self) -> None:
        """
        C{delrestrict ADDRESS [mask MASK]} removes that configured entry.
        """
        table = tableFrom(
            "restrict default noquery\n"
            "restrict 10.0.0.0 mask 255.0.0.0 nomodify\n"
            "restrict 192.0.2.1 notrap\n"
            "delrestrict 10.0.0.0 mask 255.0.0.0\n"
            "delrestrict 192.0.2.1\n"
            "delrestrict 198.51.100.1\n"
        )
        self.assertEqual(flags(table, "10.1.1.1"), {"noquery"})
        self.assertEqual(flags(table, "192.0.2.1"), {"noquery"})


class HostAndSourceTests(SynchronousTestCase):
    """
    Host names wait for the resolver; C{restrict source} is a template for
    association addresses.
    """

    def test_unresolved(self) -> None:
        """
        A line naming a host cannot be matched: it is kept for the
        resolver, in order, and changes nothing yet.
        """
        table = tableFrom(
            "restrict ntp.example.com noquery\nrestrict 10.0.0.1 notrap\n"
            "delrestrict ntp.example.com\n"
        )
        self.assertEqual(
            [(d.directive, d.address) for d in table.unresolved],
            [("restrict", "ntp.example.com"), ("delrestrict", "ntp.example.com")],
        )
        self.assertEqual(flags(table, "10.0.0.1"), {"notrap"})

    def test_applyResolved(self) -> None:
        """
        Once resolved, a host line makes a host entry for each address.
        """
        table = tableFrom("restrict ntp.example.com mask 255.0.0.0 noquery\n")
        [line] = table.unresolved
        table.applyResolved(line, ["192.0.2.7", "2001:db8::7"])
        self.assertEqual(flags(table, "192.0.2.7"), {"noquery"})
        self.assertEqual(flags(table, "192.0.2.8"), set())
        self.assertEqual(flags(table, "2001:db8::7"), {"noquery"})

    def test_sourceTemplate(self) -> None:
        """
        C{restrict source} sets the template (the last line replaces it);
        L{RestrictTable.addSource} makes a host entry from it for an
        association, L{RestrictTable.removeSource} removes it.
        """
        table = tableFrom(
            "restrict default nopeer noquery\n"
            "restrict source notrap nomodify\n"
            "restrict source nomodify\n"
        )
        template = table.sourceFlags
        assert template is not None
        self.assertEqual(set(template.flags), {"nomodify"})
        self.assertTrue(table.addSource("192.0.2.10"))
        self.assertEqual(flags(table, "192.0.2.10"), {"nomodify"})
        self.assertEqual(table.lookup("192.0.2.10").match, "source 192.0.2.10")
        table.removeSource("192.0.2.10")
        self.assertEqual(flags(table, "192.0.2.10"), {"nopeer", "noquery"})

    def test_sourceHandsOffSpecific(self) -> None:
        """
        A configured host entry for the association's address is more
        specific than the template: it is kept, and removing the source
        entry does not touch it.
        """
        table = tableFrom("restrict source nomodify\nrestrict 192.0.2.10 noquery\n")
        self.assertFalse(table.addSource("192.0.2.10"))
        table.removeSource("192.0.2.10")
        self.assertEqual(flags(table, "192.0.2.10"), {"noquery"})

    def test_noTemplate(self) -> None:
        """
        Without C{restrict source}, or for a multicast address, nothing is
        added.
        """
        self.assertIsNone(RestrictTable().sourceFlags)
        self.assertFalse(RestrictTable().addSource("192.0.2.10"))
        table = tableFrom("restrict source nomodify\n")
        self.assertFalse(table.addSource("224.0.1.1"))

    def test_delrestrictSource(self) -> None:
        """
        C{delrestrict source ADDRESS} removes only an entry that the
        template made.
        """
        table = tableFrom("restrict source nomodify\n")
        table.addSource("192.0.2.10")
        [line] = config.parseString(
            "delrestrict source 192.0.2.10\n", "t.conf"
        ).restrictions
        table.applyResolved(line, ["192.0.2.10"])
        self.assertEqual(flags(table, "192.0.2.10"), set())

    def test_unrestrictSource(self) -> None:
        """
        C{unrestrict source FLAGS} clears flags from the template;
        without flags it removes the template.
        """
        table = tableFrom("restrict source nomodify notrap\nunrestrict source notrap\n")
        assert table.sourceFlags is not None
        self.assertEqual(set(table.sourceFlags.flags), {"nomodify"})
        table = tableFrom("restrict source nomodify\nunrestrict source\n")
        self.assertIsNone(table.sourceFlags)


class InterfaceTests(SynchronousTestCase):
    """
    ntpd's interface entries: C{ignore ntpport} for each local address.
    """

    def test_addRemove(self) -> None:
        """
        Packets from a local address and port 123 are ignored (the daemon's
        own); other ports are not. Configuration cannot remove the entry;
        L{RestrictTable.removeInterface} does.
        """
        table = tableFrom("unrestrict 192.0.2.5 ntpport\n")
        table.addInterface("192.0.2.5")
        self.assertTrue(table.lookup("192.0.2.5", 123).ignore)
        self.assertTrue(table.lookup("192.0.2.5", 123).interface)
        self.assertEqual(table.lookup("192.0.2.5", 123).match, "interface 192.0.2.5")
        self.assertFalse(table.lookup("192.0.2.5", 5000).ignore)
        table.removeInterface("192.0.2.5")
        self.assertFalse(table.lookup("192.0.2.5", 123).ignore)

    def test_notAnAddress(self) -> None:
        """
        An interface address must be an IP address.
        """
        self.assertRaises(ValueError, RestrictTable().addInterface, "eth0")


class FlagDecisionTests(SynchronousTestCase):
    """
    One test per flag: what L{serverDecision}, L{controlDecision} and
    L{mayMobilize} do with real packets.
    """

    def test_noFlags(self) -> None:
        """
        Without flags, client requests are answered and queries processed.
        """
        table = RestrictTable()
        self.assertEqual(decide(table, "192.0.2.1"), ANSWER)
        self.assertEqual(controlDecision(table.lookup("192.0.2.1")), ANSWER)
        self.assertTrue(ANSWER.isAnswer)

    def test_ignore(self) -> None:
        """
        C{ignore} drops every packet, queries included, silently.
        """
        table = tableFrom("restrict default ignore kod limited\n")
        for mode in (MODE_CLIENT, MODE_ACTIVE, MODE_SERVER, MODE_BROADCAST):
            decision = decide(table, "192.0.2.1", request(mode=mode))
            self.assertEqual(decision, Decision.drop(access.IGNORED))
            self.assertTrue(decision.isDrop)
        self.assertEqual(
            controlDecision(table.lookup("192.0.2.1")), Decision.drop(access.IGNORED)
        )

    def test_noserve(self) -> None:
        """
        C{noserve} drops time packets of every mode (replies from one's own
        servers too) but not queries; even with C{kod} nothing is sent
        (ntpd's code sends no DENY KoD, whatever its manual says).
        """
        table = tableFrom("restrict default noserve kod limited\n")
        for mode in (MODE_CLIENT, MODE_SERVER, MODE_ACTIVE):
            self.assertEqual(
                decide(table, "192.0.2.1", request(mode=mode)),
                Decision.drop(access.NOSERVE),
            )
        self.assertEqual(controlDecision(table.lookup("192.0.2.1")), ANSWER)

    def test_noquery(self) -> None:
        """
        C{noquery} drops mode 6 queries; time service is unaffected.
        """
        table = tableFrom("restrict default noquery\n")
        self.assertEqual(decide(table, "192.0.2.1"), ANSWER)
        self.assertEqual(
            controlDecision(table.lookup("192.0.2.1")), Decision.drop(access.NOQUERY)
        )

    def test_nomodify(self) -> None:
        """
        C{nomodify} leaves time service and queries alone; it is for the
        mode 6 server to refuse writes.
        """
        table = tableFrom("restrict default nomodify\n")
        restriction = table.lookup("192.0.2.1")
        self.assertTrue(restriction.nomodify)
        self.assertEqual(decide(table, "192.0.2.1"), ANSWER)
        self.assertEqual(controlDecision(restriction), ANSWER)

    def test_trapFlags(self) -> None:
        """
        C{notrap} and C{lowpriotrap} and C{nomrulist} only mark the
        restriction for the mode 6 server.
        """
        table = tableFrom("restrict default notrap lowpriotrap nomrulist\n")
        restriction = table.lookup("192.0.2.1")
        self.assertEqual(
            (restriction.notrap, restriction.lowpriotrap, restriction.nomrulist),
            (True, True, True),
        )
        self.assertEqual(controlDecision(restriction), ANSWER)
        self.assertEqual(decide(table, "192.0.2.1"), ANSWER)

    def test_nopeer(self) -> None:
        """
        C{nopeer} does not stop time service, but an unauthenticated packet
        may not mobilize an association, even with C{disable auth}; an
        authenticated one may. Pool servers are exempt (NTPsec).
        """
        table = tableFrom("restrict default nopeer\n")
        restriction = table.lookup("192.0.2.1")
        self.assertEqual(decide(table, "192.0.2.1"), ANSWER)
        self.assertFalse(mayMobilize(restriction, authRequired=False))
        self.assertTrue(
            mayMobilize(restriction, authRequired=False, authenticated=True)
        )
        self.assertTrue(mayMobilize(restriction, isPool=True))
        free = RestrictTable().lookup("192.0.2.1")
        self.assertTrue(mayMobilize(free, authRequired=False))

    def test_enableAuth(self) -> None:
        """
        With C{enable auth} (the default) no unauthenticated packet
        mobilizes an ephemeral association, C{nopeer} or not; pool
        servers are exempt.
        """
        restriction = RestrictTable().lookup("192.0.2.1")
        self.assertFalse(mayMobilize(restriction))
        self.assertTrue(mayMobilize(restriction, authenticated=True))
        self.assertTrue(mayMobilize(restriction, True))

    def test_noepeer(self) -> None:
        """
        C{noepeer} refuses ephemeral symmetric peers even when
        authenticated, but not other ephemeral associations.
        """
        restriction = tableFrom("restrict default noepeer\n").lookup("192.0.2.1")
        self.assertFalse(mayMobilize(restriction, symmetric=True, authenticated=True))
        self.assertTrue(mayMobilize(restriction, authenticated=True))

    def test_notrust(self) -> None:
        """
        C{notrust} (ntpd since 4.2: "deny packets that are not
        cryptographically authenticated"): a request without MAC is
        dropped; with a MAC that verifies it is answered; with one that
        fails it gets a crypto-NAK; an unchecked MAC does not count. Pool
        servers need authentication too.
        """
        table = tableFrom("restrict default notrust\n")
        drop = Decision.drop(access.NOTRUST)
        self.assertEqual(decide(table, "192.0.2.1"), drop)
        withMac = request(mac=DIGEST_MAC)
        self.assertEqual(
            decide(table, "192.0.2.1", withMac, authentication=AUTH_OK), ANSWER
        )
        nak = decide(table, "192.0.2.1", withMac, authentication=AUTH_ERROR)
        self.assertEqual(nak, CRYPTO_NAK)
        self.assertTrue(nak.isCryptoNAK)
        self.assertEqual(decide(table, "192.0.2.1", withMac), drop)
        restriction = table.lookup("192.0.2.1")
        self.assertFalse(mayMobilize(restriction, isPool=True))
        self.assertTrue(mayMobilize(restriction, isPool=True, authenticated=True))
        self.assertFalse(mayMobilize(restriction, authRequired=False))

    def test_authWithoutNotrust(self) -> None:
        """
        Without C{notrust}: a failed MAC still gets a crypto-NAK (ntpd's
        C{AM_FXMIT}), a client's crypto-NAK is dropped, an unchecked MAC is
        answered.
        """
        table = RestrictTable()
        withMac = request(mac=DIGEST_MAC)
        self.assertEqual(
            decide(table, "192.0.2.1", withMac, authentication=AUTH_ERROR),
            CRYPTO_NAK,
        )
        self.assertEqual(
            decide(table, "192.0.2.1", request(mac=MAC(keyID=0, digest=b""))),
            Decision.drop(access.BAD_AUTH),
        )
        self.assertEqual(decide(table, "192.0.2.1", withMac), ANSWER)

    def test_version(self) -> None:
        """
        C{version} admits only NTPv4; without it versions 1 to 3 are
        served, and mode 0 only as an NTPv1 request.
        """
        strict = tableFrom("restrict default version\n")
        lax = RestrictTable()
        bad = Decision.drop(access.BAD_VERSION)
        for version in (1, 2, 3):
            self.assertEqual(decide(strict, "192.0.2.1", request(version=version)), bad)
            self.assertEqual(decide(lax, "192.0.2.1", request(version=version)), ANSWER)
        self.assertEqual(decide(strict, "192.0.2.1", request(version=4)), ANSWER)
        v1 = request(version=1, mode=MODE_RESERVED)
        self.assertEqual(decide(lax, "192.0.2.1", v1), ANSWER)
        self.assertEqual(decide(strict, "192.0.2.1", v1), bad)
        v3 = request(version=3, mode=MODE_RESERVED)
        self.assertEqual(decide(lax, "192.0.2.1", v3), bad)

    def test_kodWithoutLimited(self) -> None:
        """
        C{kod} without C{limited} does nothing: a flood is answered.
        """
        table = tableFrom("restrict default kod\n")
        mru = MRUList()
        decisions = {
            decide(table, "192.0.2.1", now=T0 + 0.01 * i, mru=mru) for i in range(100)
        }
        self.assertEqual(decisions, {ANSWER})

    def test_limited(self) -> None:
        """
        C{limited} without C{kod}: packets over the limit are dropped,
        never kissed, and counted in the entry.
        """
        table = tableFrom("restrict default limited\n")
        mru = MRUList()
        decisions = [
            decide(table, "192.0.2.1", now=T0 + 0.01 * i, mru=mru) for i in range(100)
        ]
        self.assertEqual(decisions[0], ANSWER)
        self.assertEqual(set(decisions[1:]), {Decision.drop(access.RATE_LIMITED)})
        entry = mru.get("192.0.2.1")
        assert entry is not None
        self.assertEqual((entry.count, entry.dropped), (100, 99))
        self.assertIsNone(entry.lastKiss)

    def test_limitedKod(self) -> None:
        """
        C{limited kod}: the first packet over the limit gets a RATE KoD,
        later ones within the KoD rate limit are dropped; the entry
        remembers when the KoD went out.
        """
        table = tableFrom("restrict default limited kod\n")
        mru = MRUList()
        decisions = [
            decide(table, "192.0.2.1", now=T0 + 0.01 * i, mru=mru) for i in range(100)
        ]
        self.assertEqual(decisions[:2], [ANSWER, KOD_RATE])
        self.assertEqual(set(decisions[2:]), {Decision.drop(access.RATE_LIMITED)})
        self.assertEqual(decisions[1].kissCode, "RATE")
        self.assertTrue(decisions[1].isKissOfDeath)
        entry = mru.get("192.0.2.1")
        assert entry is not None
        self.assertEqual(entry.lastKiss, T0 + 0.01)

    def test_leakedAnswered(self) -> None:
        """
        C{limited kod} with the C{discard leak} (a seeded list): of a
        flood of 400 packets 10 ms apart, the first is answered, none is
        kissed (each breaks the guard time), and about one in four (60 to
        140) of the rest is
        answered with time (L{access.ANSWER_LEAKED}: the shell counts
        C{ratelimit.leaked}); the others are dropped and counted in the
        entry, the leaked ones are not. A leaked packet is never kissed.
        """
        table = tableFrom("restrict default limited kod\n")
        mru = MRUList(leakSeed=2026)
        decisions = []
        for i in range(400):
            decision = decide(table, "192.0.2.1", now=T0 + 0.01 * i, mru=mru)
            entry = mru.get("192.0.2.1")
            assert entry is not None
            if entry.leaked:
                self.assertEqual(decision, access.ANSWER_LEAKED)
                self.assertTrue(decision.isAnswer)
                self.assertEqual(decision.reason, "ratelimit.leaked")
            decisions.append(decision)
        self.assertEqual(decisions[0], ANSWER)
        self.assertEqual(decisions.count(KOD_RATE), 0)  # the guard time alone
        self.assertEqual(decisions[1:].count(ANSWER), 0)
        answered = decisions[1:].count(access.ANSWER_LEAKED)
        self.assertGreater(answered, 60)
        self.assertLess(answered, 140)
        entry = mru.get("192.0.2.1")
        assert entry is not None
        self.assertEqual(entry.dropped, 399 - answered)

    def test_leakNoGuardKiss(self) -> None:
        """
        C{limited kod} with the leak on (a seeded list): requests that
        break only the guard time (10 ms apart) are never kissed, so that a
        spoofed request just before a client's poll cannot get the poll
        kissed; a client every 0.6 s that fills the counter is kissed as
        in ntpd.
        """
        table = tableFrom("restrict default limited kod\n")
        mru = MRUList(leakSeed=7)
        decisions = [
            decide(table, "192.0.2.1", now=T0 + 0.01 * i, mru=mru) for i in range(100)
        ]
        self.assertNotIn(KOD_RATE, decisions)
        mru = MRUList(leakSeed=7)
        decisions = [
            decide(table, "192.0.2.2", now=T0 + 0.6 * i, mru=mru) for i in range(40)
        ]
        first = next(i for i, d in enumerate(decisions) if d != ANSWER)
        self.assertGreater(first, 8)
        self.assertIn(decisions[first], (KOD_RATE, access.ANSWER_LEAKED))
        self.assertIn(KOD_RATE, decisions)

    def test_kodRateLimit(self) -> None:
        """
        A client sending one packet a second gets one KoD every 9 s, not
        one per packet: KoDs are rate limited per address.
        """
        table = tableFrom("restrict default limited kod\n")
        mru = MRUList()
        times = [T0 + i for i in range(91)]
        decisions = [decide(table, "192.0.2.1", now=t, mru=mru) for t in times]
        kisses = [t - T0 for t, d in zip(times, decisions) if d == KOD_RATE]
        self.assertLessEqual(len(kisses), 91 // 9 + 1)
        self.assertEqual({b - a for a, b in zip(kisses, kisses[1:])}, {9.0})

    def test_kodOnlyForRequests(self) -> None:
        """
        Server and broadcast packets over the limit are dropped, never
        kissed (ntpd: possibly self-induced); symmetric ones are.
        """
        table = tableFrom("restrict default limited kod\n")
        for mode, expected in (
            (MODE_SERVER, Decision.drop(access.RATE_LIMITED)),
            (MODE_BROADCAST, Decision.drop(access.RATE_LIMITED)),
            (MODE_ACTIVE, KOD_RATE),
            (MODE_PASSIVE, KOD_RATE),
        ):
            mru = MRUList()
            packet = request(mode=mode)
            self.assertEqual(decide(table, "192.0.2.1", packet, mru=mru), ANSWER)
            self.assertEqual(
                decide(table, "192.0.2.1", packet, now=T0 + 0.1, mru=mru),
                expected,
                mode,
            )

    def test_portsShareRateLimit(self) -> None:
        """
        Changing the source port does not evade the rate limit.
        """
        table = tableFrom("restrict default limited\n")
        mru = MRUList()
        decisions = [
            decide(table, "192.0.2.1", port=1024 + i, now=T0 + 0.1 * i, mru=mru)
            for i in range(10)
        ]
        self.assertEqual(decisions.count(ANSWER), 1)

    def test_withoutMonitoring(self) -> None:
        """
        Without an MRU list nothing is rate limited.
        """
        table = tableFrom("restrict default limited kod\n")
        self.assertEqual(
            {decide(table, "192.0.2.1", now=T0 + 0.01 * i) for i in range(10)}, {ANSWER}
        )

    def test_flake(self) -> None:
        """
        C{flake} drops a packet when the random source says so (p = 0.1);
        without a random source it drops nothing.
        """
        table = tableFrom("restrict default flake\n")
        self.assertEqual(
            decide(table, "192.0.2.1", random=lambda: 0.05), Decision.drop(access.FLAKE)
        )
        self.assertEqual(decide(table, "192.0.2.1", random=lambda: 0.5), ANSWER)
        self.assertEqual(decide(table, "192.0.2.1"), ANSWER)

    def test_bogusPort(self) -> None:
        """
        Source port 0 is dropped before anything else.
        """
        table = RestrictTable()
        bogus = Decision.drop(access.BOGUS_PORT)
        self.assertEqual(decide(table, "192.0.2.1", port=0), bogus)
        self.assertEqual(controlDecision(table.lookup("192.0.2.1"), 0), bogus)

    def test_otherFlags(self) -> None:
        """
        C{mssntp} and C{interface} only mark the restriction; requests are
        answered; C{serverresponse fuzz} answers them with a fuzzed
        reference time.
        """
        table = tableFrom("restrict default mssntp serverresponse fuzz\n")
        restriction = table.lookup("192.0.2.1")
        self.assertTrue(restriction.mssntp)
        self.assertTrue(restriction.serverResponseFuzz)
        self.assertFalse(restriction.interface)
        self.assertEqual(decide(table, "192.0.2.1"), ANSWER_FUZZED)
        plain = tableFrom("restrict default mssntp\n")
        self.assertEqual(decide(plain, "192.0.2.1"), ANSWER)

    def test_everyFlagHasAnAttribute(self) -> None:
        """
        Every flag the configuration accepts sets exactly one boolean of
        L{Restriction}.
        """
        base = Restriction()
        names = [
            name
            for name in Restriction.__dataclass_fields__
            if isinstance(getattr(base, name), bool)
        ]
        self.assertFalse(any(getattr(base, name) for name in names))
        for flag in config.RESTRICT_FLAGS:
            restriction = Restriction(frozenset({flag}))
            self.assertEqual(sum(getattr(restriction, name) for name in names), 1, flag)

    def test_decisionConstructors(self) -> None:
        """
        L{Decision.drop} and L{Decision.kod} return the shared constants.
        """
        self.assertIs(Decision.drop(access.NOSERVE), Decision.drop(access.NOSERVE))
        self.assertEqual(Decision.drop("other"), Decision("drop", "other"))
        self.assertIs(Decision.kod("RATE"), KOD_RATE)
        self.assertEqual(Decision.kod("DENY").kissCode, "DENY")


class ReplyDecisionTests(SynchronousTestCase):
    """
    L{replyDecision}: what C{restrict} does to a reply on one of our
    associations. Rate limiting is for requests we answer: replies are
    neither recorded in the MRU list nor rate limited.
    """

    def reply(self, **kwargs: Any) -> NTPPacket:
        """
        A server reply (NTPv4, mode 4) with C{kwargs} changed.
        """
        fields: dict[str, Any] = dict(mode=MODE_SERVER, stratum=2)
        fields.update(kwargs)
        return request(**fields)

    def test_limitedDoesNotApply(self) -> None:
        """
        With C{kod limited} and the server's address far over the
        C{discard} limits (a spoofed request a second), its reply still
        goes on; the decision never touches an MRU list.
        """
        table = tableFrom("restrict default kod limited\nrestrict source kod limited\n")
        mru = MRUList()
        for second in range(20):
            spoofed = decide(table, "192.0.2.1", now=T0 + second / 4, mru=mru)
        self.assertIn(spoofed, (KOD_RATE, Decision.drop(access.RATE_LIMITED)))
        entry = mru.get("192.0.2.1")
        assert entry is not None
        count = entry.count
        restriction = table.lookup("192.0.2.1", 123)
        self.assertEqual(replyDecision(restriction, self.reply(), 123), ANSWER)
        self.assertEqual(entry.count, count)

    def test_flagsAsNtpd(self) -> None:
        """
        C{ignore}, C{noserve}, C{version} (for an NTPv3 reply) and
        C{notrust} without a MAC drop a reply, as ntpd drops them; a
        reply from port 0 is bogus; C{notrust} with a MAC goes on (the
        association checks the MAC).
        """
        cases = [
            ("ignore", self.reply(), Decision.drop(access.IGNORED)),
            ("noserve", self.reply(), Decision.drop(access.NOSERVE)),
            ("version", self.reply(version=3), Decision.drop(access.BAD_VERSION)),
            ("notrust", self.reply(), Decision.drop(access.NOTRUST)),
            ("notrust", self.reply(mac=DIGEST_MAC), ANSWER),
            ("nomodify noquery nopeer", self.reply(), ANSWER),
        ]
        for flag, packet, expected in cases:
            table = tableFrom(f"restrict default {flag}\n")
            self.assertEqual(
                replyDecision(table.lookup("192.0.2.1", 123), packet, 123),
                expected,
                flag,
            )
        self.assertEqual(
            replyDecision(RestrictTable().lookup("192.0.2.1"), self.reply(), 0),
            Decision.drop(access.BOGUS_PORT),
        )

    def test_flake(self) -> None:
        """
        C{flake} drops a reply when the random draw is below 0.1.
        """
        restriction = tableFrom("restrict default flake\n").lookup("192.0.2.1")
        self.assertEqual(
            replyDecision(restriction, self.reply(), 123, random=lambda: 0.05),
            Decision.drop(access.FLAKE),
        )
        self.assertEqual(
            replyDecision(restriction, self.reply(), 123, random=lambda: 0.5), ANSWER
        )


class Seed002Tests(SynchronousTestCase):
    """
    Seed 002's restrict lines (a multicast client, ntpd 4.2.4/4.2.6) have
    exactly their ntpd meaning.
    """

    def setUp(self) -> None:
        self.configuration = config.parseFile(
            os.path.join(ETC, "seed-002-multicast-client.conf")
        )
        self.table = restrictTable(self.configuration.restrictions)

    def test_clientFlags(self) -> None:
        """
        192.0.2.1 (and any IPv6 address but ::1) gets the default entries'
        flags: kod notrap nomodify nopeer noquery notrust.
        """
        expected = {"kod", "notrap", "nomodify", "nopeer", "noquery", "notrust"}
        self.assertEqual(flags(self.table, "192.0.2.1"), expected)
        self.assertEqual(flags(self.table, "2001:db8::1"), expected)
        self.assertFalse(self.table.hasLimited)

    def test_unauthenticatedClientNotServed(self) -> None:
        """
        C{notrust}: an unauthenticated request from 192.0.2.1 is dropped.
        (The file's comment, "exchange time with everybody", is ntp 4.1's
        meaning of notrust; ntpd 4.2 refuses unauthenticated packets.)
        """
        mru = MRUList()
        self.assertEqual(
            decide(self.table, "192.0.2.1", mru=mru), Decision.drop(access.NOTRUST)
        )
        self.assertEqual(len(mru), 0)

    def test_authenticatedClientServed(self) -> None:
        """
        A request that carries a MAC which verifies (keys 1-4 are trusted)
        is answered, and, without C{limited}, never rate limited despite
        C{kod}.
        """
        mru = MRUList()
        packet = request(mac=DIGEST_MAC)
        decisions = {
            decide(
                self.table,
                "192.0.2.1",
                packet,
                now=T0 + 0.1 * i,
                mru=mru,
                authentication=AUTH_OK,
            )
            for i in range(20)
        }
        self.assertEqual(decisions, {ANSWER})

    def test_noQueriesNoPeers(self) -> None:
        """
        192.0.2.1 may not query (noquery) nor mobilize an association
        (nopeer, notrust), not even a pool one without authentication.
        """
        restriction = self.table.lookup("192.0.2.1")
        self.assertEqual(controlDecision(restriction), Decision.drop(access.NOQUERY))
        self.assertFalse(mayMobilize(restriction))
        self.assertFalse(mayMobilize(restriction, authRequired=False))
        self.assertFalse(mayMobilize(restriction, isPool=True))
        self.assertTrue(mayMobilize(restriction, authenticated=True))
        self.assertTrue(restriction.nomodify and restriction.notrap)

    def test_localhost(self) -> None:
        """
        ::1 has no flags: served without authentication, may query.
        """
        restriction = self.table.lookup("::1")
        self.assertEqual(restriction.flags, frozenset())
        self.assertEqual(
            restriction.source,
            config.SourceLocation(
                os.path.join(ETC, "seed-002-multicast-client.conf"), 22
            ),
        )
        self.assertEqual(decide(self.table, "::1"), ANSWER)
        self.assertEqual(controlDecision(restriction), ANSWER)
        self.assertEqual(flags(self.table, "127.0.0.1"), flags(self.table, "192.0.2.1"))


class KissOfDeathTests(SynchronousTestCase):
    """
    L{buildKissOfDeath} builds ntpd's KoD.
    """

    def test_rate(self) -> None:
        """
        The KoD answering a client: mode 4, leap 3, stratum 0, refid RATE,
        the request's version, precision, root delay and dispersion and
        reference time, poll at least C{discard average}, and every
        timestamp the request's transmit timestamp.
        """
        req = request(
            version=3,
            poll=2,
            precision=-6,
            rootDelay=5,
            rootDispersion=7,
            reftime=NTPTimestamp(99),
            leap=LEAP_NONE,
        )
        kod = buildKissOfDeath(req, "RATE", 3)
        self.assertEqual(
            (kod.leap, kod.version, kod.mode, kod.stratum, kod.refid, kod.poll),
            (LEAP_NOTINSYNC, 3, MODE_SERVER, 0, b"RATE", 3),
        )
        self.assertEqual(
            (kod.precision, kod.rootDelay, kod.rootDispersion, kod.reftime),
            (-6, 5, 7, NTPTimestamp(99)),
        )
        self.assertEqual((kod.org, kod.rec, kod.xmt), (XMT, XMT, XMT))
        decoded = NTPPacket.decode(kod.encode())
        self.assertTrue(decoded.isKissOfDeath)
        self.assertEqual(decoded.kissCode, "RATE")

    def test_pollKept(self) -> None:
        """
        A poll above C{discard average} is kept; the field stays in range.
        """
        self.assertEqual(buildKissOfDeath(request(poll=10)).poll, 10)
        self.assertEqual(buildKissOfDeath(request(poll=0), averageLog2=255).poll, 127)

    def test_modes(self) -> None:
        """
        An NTPv1 mode 0 request gets mode 4; a symmetric packet gets mode 1
        (ntpd answers symmetric packets with MODE_ACTIVE).
        """
        v1 = request(version=1, mode=MODE_RESERVED)
        self.assertEqual(buildKissOfDeath(v1).mode, MODE_SERVER)
        self.assertEqual(buildKissOfDeath(request(mode=MODE_ACTIVE)).mode, MODE_ACTIVE)
        self.assertEqual(buildKissOfDeath(request(mode=MODE_PASSIVE)).mode, MODE_ACTIVE)


class FuzzTests(SynchronousTestCase):
    """
    L{fuzzReferenceTime} for C{serverresponse fuzz}.
    """

    def test_fuzz(self) -> None:
        """
        The reference time is rounded down to a multiple of 64 s, fraction
        zero.
        """
        self.assertEqual(
            fuzzReferenceTime(NTPTimestamp((1000 << 32) | 12345)),
            NTPTimestamp(960 << 32),
        )
