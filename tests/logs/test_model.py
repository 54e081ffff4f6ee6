"""The log data model: levels, severities and cursors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.errors import BadRequest
from sidecar.logs import LEVELS, SEVERITY, decode_cursor, encode_cursor, level_of


def test_severity_ranges_map_back_to_their_level() -> None:
    for level in LEVELS:
        for offset in range(4):
            assert level_of(SEVERITY[level] + offset) == level
    assert level_of(1) == "debug"  # TRACE
    assert level_of(24) == "fatal"


@given(st.integers(min_value=0, max_value=2**63 - 1), st.integers(min_value=0, max_value=2**63 - 1))
def test_cursors_round_trip(ts: int, row_id: int) -> None:
    cursor = encode_cursor((ts, row_id))
    assert cursor.isascii() and "=" not in cursor
    assert decode_cursor(cursor) == (ts, row_id)


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGpzb24", "WzEsMiwzXQ", "WyJhIiwxXQ", "e30"])
def test_foreign_cursors_are_a_bad_request(cursor: str) -> None:
    with pytest.raises(BadRequest, match="cursor"):
        decode_cursor(cursor)
