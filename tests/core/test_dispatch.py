# -*- test-case-name: tests.core.test_dispatch -*-
# Copyright (c) ntpservice developers. See LICENSE for details.
"""
Tests for L{ntpservice.core.dispatch}: RFC 5905's peer dispatch table
(Figure 20), cell by cell.
"""

from __future__ import annotations

import pytest

from ntpservice.core.dispatch import Dispatch, dispatch

FIGURE_20 = """
0 NEWPS DSCRD FXMIT MANY  NEWBC
1 PROC  PROC  DSCRD DSCRD DSCRD
2 PROC  ERR   DSCRD DSCRD DSCRD
3 DSCRD DSCRD DSCRD PROC  DSCRD
4 DSCRD DSCRD DSCRD DSCRD DSCRD
5 DSCRD DSCRD DSCRD DSCRD DSCRD
6 DSCRD DSCRD DSCRD DSCRD PROC
"""
"""The table as RFC 5905 prints it: association mode, then packet modes 1-5."""

CELLS = [
    (int(row.split()[0]), packetMode, Dispatch[name])
    for row in FIGURE_20.strip().splitlines()
    for packetMode, name in enumerate(row.split()[1:], start=1)
]


@pytest.mark.parametrize("associationMode, packetMode, expected", CELLS)
def test_figure20(associationMode: int, packetMode: int, expected: Dispatch) -> None:
    """
    Every cell of the table is RFC 5905's.
    """
    assert dispatch(associationMode, packetMode) is expected


@pytest.mark.parametrize("associationMode, packetMode", [(0, 0), (3, 6), (3, 7), (7, 4), (-1, 3)])
def test_outsideTheTable(associationMode: int, packetMode: int) -> None:
    """
    Packet modes other than 1-5 and unknown association modes are
    discarded.
    """
    assert dispatch(associationMode, packetMode) is Dispatch.DSCRD
