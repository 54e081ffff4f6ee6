"""``GET /api/v1/stats``: rate, error ratio and latency quantiles per service and route."""

from __future__ import annotations

import dataclasses

from aiohttp import web
from pydantic import BaseModel

from sidecar.errors import BadRequest
from sidecar.http import Param, Reply, Route, json_response
from sidecar.stats import WINDOWS

from ._keys import STATS
from ._params import parse_int

MAX_LIMIT = 1000
KINDS = ("request", "dependency")


class SeriesOut(BaseModel):
    """One series over one window; durations in seconds, quantiles null when the window is empty."""

    kind: str
    service: str
    route: str
    method: str
    window: str
    count: int
    rate: float
    error_ratio: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class StatsReply(BaseModel):
    """Matching series, by kind, service, route and method."""

    series: list[SeriesOut]
    truncated: bool


def stats_routes() -> list[Route]:
    """The statistics routes."""
    windows = [window.name for window in WINDOWS]
    return [
        Route(
            "GET",
            "/api/v1/stats",
            get_stats,
            "Rate, error ratio and p50/p95/p99 latency per service and route (or dependency)",
            "stats",
            "getStats",
            scope="read",
            params=(
                Param("service", "Service name (for dependencies: the dependency's name)"),
                Param("route", "Route (HTTP route, span name, or a log record's action)"),
                Param(
                    "kind",
                    "request (server spans, timed logs) or dependency (client spans)",
                    schema={"enum": list(KINDS)},
                ),
                Param("window", "Sliding window", schema={"enum": windows}),
                Param("limit", "Series to return", schema={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
            ),
            replies={200: Reply("Matching series", StatsReply)},
        ),
    ]


async def get_stats(request: web.Request) -> web.Response:
    """Figures of the matching series over one window (``5m`` unless asked)."""
    params = request.query
    window = params.get("window") or "5m"
    if window not in {w.name for w in WINDOWS}:
        raise BadRequest(f"window: expected one of {', '.join(w.name for w in WINDOWS)}")
    kind = params.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind: expected one of {', '.join(KINDS)}")
    limit = parse_int("limit", params.get("limit"), default=100, minimum=1, maximum=MAX_LIMIT)
    series = request.app[STATS].query(
        service=params.get("service") or None, route=params.get("route") or None, window=window, kind=kind
    )
    return json_response(
        {"series": [dataclasses.asdict(one) for one in series[:limit]], "truncated": len(series) > limit}
    )
