"""Fixtures of the statistics tests: a clock the test moves, and span builders."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.stats import Stats, StatsConfig
from sidecar.traces import SpanRecord

# A multiple of every bucket width (10 s, 60 s, 300 s): the first bucket of every window starts here.
T0 = 3_000_000.0


class FakeClock:
    """Seconds that move only when the test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stats(clock: FakeClock) -> Stats:
    return Stats(StatsConfig(), clock=clock)


def span(kind: str = "server", **fields: Any) -> SpanRecord:
    """A span with every field at a plain default, overridden by ``fields``."""
    record: dict[str, Any] = {
        "trace_id": "0" * 31 + "1",
        "span_id": "0" * 15 + "1",
        "parent_span_id": None,
        "name": "GET /cart",
        "kind": kind,
        "start": 1_700_000_000_000_000_000,
        "end": 1_700_000_000_250_000_000,
        "duration_ms": 250.0,
        "status": "unset",
        "status_message": None,
        "service": "shop",
        "scope": None,
        "attributes": {},
        "resource": {},
        "events": [],
    }
    record.update(fields)
    return record  # type: ignore[return-value]
