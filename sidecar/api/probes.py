"""``/api/v1/probes``: every dependency probe's state, and running one now."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from sidecar.errors import NotFound
from sidecar.http import Reply, Route, json_response

from ._keys import PROBES


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
    last_run: dict[str, Any] | None


class ProbesReply(BaseModel):
    """Every configured probe."""

    probes: list[ProbeOut]


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
