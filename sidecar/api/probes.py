"""``/api/v1/probes``: every dependency probe's state, and running one now."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from sidecar.errors import BadRequest, NotFound
from sidecar.http import Param, Reply, Route, json_response, principal_of

from ._keys import PROBES
from ._params import format_ns, parse_int, parse_time_ns

HOUR = 3600.0
RESOLUTIONS = ("raw", "minute", "hour", "day")


class ProbeOut(BaseModel):
    """One probe: its health, why, and its last run."""

    name: str
    kind: str
    component: str | None
    critical: bool
    status: str
    since: str | None  # RFC 3339
    reason: str
    last_error: str | None
    consecutive_failures: int
    consecutive_successes: int
    uptime: dict[str, float | None]  # window (24h, 7d, 30d, 90d) -> share of successful runs
    last_run: dict[str, Any] | None


class ProbesReply(BaseModel):
    """Every configured probe."""

    probes: list[ProbeOut]


class HistoryPoint(BaseModel):
    """One minute, hour or UTC day of a probe: runs, successes, uptime and response-time quantiles (seconds)."""

    start: str
    successes: int
    total: int
    uptime: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class RawResult(BaseModel):
    """One probe run."""

    at: str
    ok: bool
    duration: float
    status_code: int | None
    error: str | None
    offline: bool  # a failure while the sidecar itself was cut off


class HistoryReply(BaseModel):
    """A probe's history over ``[since, until)``: ``points`` for roll-ups, ``results`` for ``raw``."""

    probe: str
    resolution: str
    since: str
    until: str
    points: list[HistoryPoint] | None = None
    results: list[RawResult] | None = None


class ComponentOut(BaseModel):
    """A status-page component and the worst status among its probes."""

    name: str
    status: str


class HealthReply(BaseModel):
    """The backend's health. ``dependencies`` only for a token with the ``read`` scope."""

    status: str  # healthy | degraded | down
    checked_at: str
    components: list[ComponentOut]
    dependencies: list[dict[str, Any]] | None = None


def probes_routes() -> list[Route]:
    """The probe routes."""
    return [
        Route(
            "GET",
            "/api/v1/probes",
            list_probes,
            "Every dependency probe with its health and last run",
            "probes",
            "listProbes",
            scope="read",
            replies={200: Reply("The probes", ProbesReply)},
        ),
        Route(
            "POST",
            "/api/v1/probes/{name}/run",
            run_probe,
            "Run one probe now and return its state after the run",
            "probes",
            "runProbe",
            scope="admin",
            replies={200: Reply("The probe after the run", ProbeOut), 404: Reply("No such probe", None)},
        ),
        Route(
            "GET",
            "/api/v1/probes/{name}/history",
            probe_history,
            "A probe's results or its roll-ups per minute, hour or day, with uptime and response times",
            "probes",
            "probeHistory",
            scope="read",
            params=(
                Param(
                    "since",
                    "Earliest time, RFC 3339 (default: 24 hours before until)",
                    schema={"type": "string", "format": "date-time"},
                ),
                Param(
                    "until",
                    "Latest time (exclusive), RFC 3339 (default: now)",
                    schema={"type": "string", "format": "date-time"},
                ),
                Param(
                    "resolution",
                    "raw, minute, hour or day (default: minute up to 6 h, hour up to 14 d, else day)",
                    schema={"type": "string", "enum": list(RESOLUTIONS)},
                ),
                Param("limit", "Most raw results returned (1-10000, default 1000)", schema={"type": "integer"}),
            ),
            replies={
                200: Reply("The history", HistoryReply),
                400: Reply("A bad parameter", None),
                404: Reply("No such probe", None),
            },
        ),
        Route(
            "GET",
            "/api/health",
            health,
            "Overall health and per-component status; every dependency's details with a read token",
            "probes",
            "health",
            replies={
                200: Reply("Healthy or degraded", HealthReply),
                503: Reply("A critical dependency is down", HealthReply),
            },
        ),
    ]


async def list_probes(request: web.Request) -> web.Response:
    """States of every probe, by name."""
    service = request.app[PROBES]
    return json_response({"probes": [service.view(name) for name in sorted(service.health)]})


async def run_probe(request: web.Request) -> web.Response:
    """Run a probe at once (after its scheduled run, if one is in flight)."""
    service, name = request.app[PROBES], request.match_info["name"]
    try:
        await service.run_now(name)
    except KeyError:
        raise NotFound(f"no probe named {name[:64]!r} is running") from None
    return json_response(service.view(name))


async def probe_history(request: web.Request) -> web.Response:
    """Raw results or roll-ups of one probe over a time range."""
    service, name = request.app[PROBES], request.match_info["name"]
    params = request.query
    until_ns = parse_time_ns("until", params.get("until"))
    since_ns = parse_time_ns("since", params.get("since"))
    until = service.now() if until_ns is None else until_ns / 1e9
    since = until - 24 * HOUR if since_ns is None else since_ns / 1e9
    if since >= until:
        raise BadRequest("since: must be before until")
    resolution = params.get("resolution") or _default_resolution(until - since)
    if resolution not in RESOLUTIONS:
        raise BadRequest(f"resolution: expected one of {', '.join(RESOLUTIONS)}")
    limit = parse_int("limit", params.get("limit"), default=1000, minimum=1, maximum=10_000)
    reply: dict[str, Any] = {
        "probe": name,
        "resolution": resolution,
        "since": format_ns(int(since * 1e9)),
        "until": format_ns(int(until * 1e9)),
    }
    try:
        if resolution == "raw":
            reply["results"] = await service.results(name, since=since, until=until, limit=limit)
        else:
            reply["points"] = await service.rollups(name, resolution, since=since, until=until)  # type: ignore[arg-type]
    except KeyError:
        raise NotFound(f"no probe named {name[:64]!r}") from None
    except ValueError as exc:
        raise BadRequest(f"resolution: {exc}") from None
    return json_response(reply)


async def health(request: web.Request) -> web.Response:
    """200 when healthy or degraded, 503 when a critical dependency is down; details only for ``read``."""
    report = request.app[PROBES].report(full=principal_of(request).allows("read"))
    status = 503 if report["status"] == "down" else 200
    return json_response(report, status=status, headers={"Cache-Control": "no-store"})


def _default_resolution(span: float) -> str:
    if span <= 6 * HOUR:
        return "minute"
    if span <= 14 * 24 * HOUR:
        return "hour"
    return "day"
