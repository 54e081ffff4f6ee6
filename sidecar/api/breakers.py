"""Breakers and failover: outcomes in, the active provider of each group out (poll, long poll, SSE), overrides."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from sidecar.breakers import Outcome
from sidecar.config import parse_duration
from sidecar.errors import BadRequest, NotFound, Unavailable, ValidationFailed
from sidecar.http import JSON, Param, Reply, Route, json_response, principal_of, read_json

from ._audit import audit
from ._keys import BREAKERS

MAX_OUTCOMES = 10_000  # per request
MAX_WAIT = 60.0  # seconds a long poll may last
HEARTBEAT = 15.0  # seconds between SSE comments that keep idle connections open
RETRY_AFTER = 5  # seconds, when a fail_closed group has no provider


class OutcomeIn(BaseModel):
    """One call to a provider."""

    model_config = ConfigDict(extra="forbid")

    provider: Annotated[str, Field(min_length=1, max_length=64)]
    ok: StrictBool
    latency_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    error_type: Annotated[str, Field(max_length=128)] | None = None
    at: datetime | None = None  # RFC 3339; default: when it arrives


class OutcomesIn(BaseModel):
    """A batch of outcomes."""

    outcomes: list[dict[str, Any]]


class Rejected(BaseModel):
    """An outcome that was not fed, and why."""

    index: int
    error: str


class OutcomesReply(BaseModel):
    """How many outcomes were fed; the others with their reason."""

    accepted: int
    rejected: list[Rejected]


class ProviderOut(BaseModel):
    """One provider's breaker."""

    name: str
    group: str
    state: str  # closed | half_open | open
    failures: int
    opened_at: str | None
    next_attempt_at: str | None
    override: dict[str, Any] | None


class FailoverOut(BaseModel):
    """A group's active provider (null only under ``fail_closed`` with every breaker open)."""

    group: str
    active: str | None
    reason: str
    changed_at: str | None
    providers: list[ProviderOut]


class BreakersReply(BaseModel):
    """Every provider's breaker."""

    providers: list[ProviderOut]


class ForceIn(BaseModel):
    """Hold a breaker open or closed, or give it back to its automatic state."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["open", "closed", "auto"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    expires_at: datetime | None = None  # RFC 3339; default: until lifted


def breakers_routes() -> list[Route]:
    """The breaker and failover routes."""
    group = Param("group", "Failover group", location="path", required=True)
    return [
        Route(
            "POST", "/api/v1/breakers/outcomes", post_outcomes,
            "Report outcomes of calls to providers (fed to their breakers)", "breakers", "reportOutcomes",
            scope="ingest", accepts=(JSON,), request_schema=OutcomesIn,
            replies={200: Reply("Fed and rejected outcomes", OutcomesReply), 400: Reply("Not a batch", None)},
        ),
        Route(
            "GET", "/api/v1/breakers", list_breakers, "Every provider's breaker", "breakers", "listBreakers",
            scope="read", replies={200: Reply("The breakers", BreakersReply)},
        ),
        Route(
            "POST", "/api/v1/breakers/{provider}/force", force_breaker,
            "Hold a breaker open or closed (optionally until a time), or back to auto; audited", "breakers",
            "forceBreaker", scope="admin", accepts=(JSON,), request_schema=ForceIn,
            replies={200: Reply("The breaker", ProviderOut), 404: Reply("No such provider", None),
                     422: Reply("A bad override", None)},
        ),
        Route(
            "GET", "/api/v1/failover/{group}", get_failover,
            "The provider to use now; long poll with wait and etag (or If-None-Match)", "breakers", "getFailover",
            scope="read",
            params=(group, Param("wait", "Wait up to this long for a change (e.g. 30s, at most 60s)"),
                    Param("etag", "The ETag last seen (or send If-None-Match)")),
            replies={200: Reply("The group", FailoverOut), 304: Reply("No change within the wait", None),
                     404: Reply("No such group", None), 503: Reply("Every provider is open (fail_closed)", None)},
        ),
        Route(
            "GET", "/api/v1/failover/{group}/events", failover_events,
            "The group now and after every change, as Server-Sent Events", "breakers", "failoverEvents",
            scope="read", params=(group,),
            replies={200: Reply("An event stream of group objects", FailoverOut, content_type="text/event-stream")},
        ),
    ]  # fmt: skip


async def post_outcomes(request: web.Request) -> web.Response:
    """Validate each outcome on its own; feed the valid ones."""
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("outcomes"), list):
        raise BadRequest('the body must be {"outcomes": [...]}')
    items = body["outcomes"]
    if len(items) > MAX_OUTCOMES:
        raise BadRequest(f"at most {MAX_OUTCOMES} outcomes per request, got {len(items)}")
    service, now = request.app[BREAKERS], time.time()
    outcomes: list[Outcome] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            parsed = OutcomeIn.model_validate(item)
        except ValidationError as exc:
            rejected.append({"index": index, "error": _first_error(exc)})
            continue
        if not service.knows(parsed.provider):
            rejected.append({"index": index, "error": "provider: not a configured provider"})
            continue
        at = parsed.at.timestamp() if parsed.at is not None else now
        outcomes.append(Outcome(parsed.provider, parsed.ok, at, parsed.latency_ms, parsed.error_type))
    await service.record(outcomes)
    return json_response({"accepted": len(outcomes), "rejected": rejected})


async def list_breakers(request: web.Request) -> web.Response:
    """Every provider, group by group."""
    service = request.app[BREAKERS]
    return json_response({"providers": [service.provider_view(name) for name in service.breakers]})


async def force_breaker(request: web.Request) -> web.Response:
    """Apply an override and answer the breaker as it is now."""
    service, provider = request.app[BREAKERS], request.match_info["provider"]
    if not service.knows(provider):
        raise NotFound(f"no provider named {provider[:64]!r}")
    try:
        force = ForceIn.model_validate(await read_json(request))
    except ValidationError as exc:
        raise ValidationFailed(_first_error(exc)) from None
    expires_at = None if force.expires_at is None else force.expires_at.timestamp()
    if expires_at is not None and expires_at <= time.time():
        raise ValidationFailed("expires_at: must be in the future")
    mode = None if force.mode == "auto" else force.mode
    before = service.provider_view(provider)
    await service.force(provider, mode, reason=force.reason, actor=principal_of(request).name, expires_at=expires_at)
    after = service.provider_view(provider)
    await audit(request, "breaker.force", provider, before=before, after=after,
                details={"mode": force.mode, "reason": force.reason, "expires_at": after["override"] and
                         after["override"]["expires_at"]})  # fmt: skip
    return json_response(after)


async def get_failover(request: web.Request) -> web.StreamResponse:
    """The group's answer; with ``wait``, once it differs from the ETag the caller has (or 304 at the end)."""
    service, group = request.app[BREAKERS], request.match_info["group"]
    if group not in service.groups:
        raise NotFound(f"no failover group named {group[:64]!r}")
    seen = request.query.get("etag") or request.headers.get("If-None-Match")
    wait = _wait_seconds(request.query.get("wait"))
    if seen is not None and wait > 0:
        await service.wait(group, seen, wait)
    tag = service.etag(group)
    if seen == tag:
        return web.Response(status=304, headers={"ETag": tag})
    view = service.view(group)
    if view["active"] is None:
        raise Unavailable(f"every provider of {group} is open", retry_after=RETRY_AFTER, details=view)
    return json_response(view, headers={"ETag": tag, "Cache-Control": "no-cache"})


async def failover_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``event: failover`` with the group object, ``id`` its ETag; comments keep it open."""
    service, group = request.app[BREAKERS], request.match_info["group"]
    if group not in service.groups:
        raise NotFound(f"no failover group named {group[:64]!r}")
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    changes = service.changes(group)
    try:
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT):
                    view = await anext(changes)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            event = b"event: failover\nid: " + service.etag(group).encode() + b"\ndata: " + orjson.dumps(view)
            await response.write(event + b"\n\n")
    except ConnectionResetError:  # the client went away
        pass
    finally:
        with contextlib.suppress(Exception):
            await changes.aclose()
    return response


def _wait_seconds(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        seconds = float(value) if value.replace(".", "", 1).isdigit() else parse_duration(value)
    except ValueError:
        raise BadRequest('wait: expected a duration like "30s"') from None
    if not 0 <= seconds <= MAX_WAIT:
        raise BadRequest(f"wait: at most {MAX_WAIT:g}s")
    return seconds


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"
