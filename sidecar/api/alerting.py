"""Alerts, rules, silences, maintenance windows and notifications."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sidecar._time import rfc3339
from sidecar.config import LabelMatcher, Name
from sidecar.errors import NotFound, ValidationFailed
from sidecar.http import JSON, Param, Reply, Route, json_response, principal_of, read_json

from ._audit import audit
from ._keys import ALERTING, STATUSPAGE
from ._params import parse_int

MAX_SILENCE = 30 * 86400.0  # seconds a silence may last


class SilenceIn(BaseModel):
    """A new silence: alerts matching every matcher are not notified between ``starts_at`` and ``ends_at``."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[LabelMatcher] = Field(min_length=1)
    starts_at: datetime | None = None  # default: now
    ends_at: datetime
    comment: Annotated[str, Field(min_length=1, max_length=500)]


class WindowIn(BaseModel):
    """A maintenance window: the alerts of ``components`` are muted (and the status page shows it)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    components: list[Name] = Field(min_length=1)
    starts_at: datetime
    ends_at: datetime
    comment: Annotated[str, Field(max_length=500)] = ""


def alerting_routes() -> list[Route]:
    """The alerting routes."""
    silence_id = Param("id", "Silence id", location="path", required=True)
    return [
        Route("GET", "/api/v1/alerts", list_alerts, "Current alerts (pending, firing, recently resolved)", "alerting",
              "listAlerts", scope="read",
              params=(Param("status", "pending, firing or resolved", schema={"type": "string",
                      "enum": ["pending", "firing", "resolved"]}),)),
        Route("GET", "/api/v1/alerts/rules", list_rules, "The loaded alert rules", "alerting", "listRules",
              scope="read"),
        Route("GET", "/api/v1/silences", list_silences, "Silences (active, future, ended in the last day)",
              "alerting", "listSilences", scope="admin"),
        Route("POST", "/api/v1/silences", create_silence, "Silence matching alerts for a while; audited", "alerting",
              "createSilence", scope="admin", accepts=(JSON,), request_schema=SilenceIn,
              replies={201: Reply("The silence", None), 422: Reply("A bad silence", None)}),
        Route("DELETE", "/api/v1/silences/{id}", delete_silence, "End a silence now; audited", "alerting",
              "deleteSilence", scope="admin", params=(silence_id,),
              replies={200: Reply("The ended silence", None), 404: Reply("No such silence", None)}),
        Route("GET", "/api/v1/maintenance", list_windows, "Maintenance windows (config and API)", "alerting",
              "listMaintenance", scope="read"),
        Route("POST", "/api/v1/maintenance", create_window, "Plan a maintenance window; audited", "alerting",
              "createMaintenance", scope="admin", accepts=(JSON,), request_schema=WindowIn,
              replies={201: Reply("The window", None), 422: Reply("A bad window", None)}),
        Route("DELETE", "/api/v1/maintenance/{name}", delete_window, "Remove a window created through the API; audited",
              "alerting", "deleteMaintenance", scope="admin",
              params=(Param("name", "Window name", location="path", required=True),),
              replies={200: Reply("The removed window", None), 404: Reply("No such window", None)}),
        Route("GET", "/api/v1/notifications", list_notifications,
              "What was sent, to whom, when, with what result (dead letters included)", "alerting",
              "listNotifications", scope="read",
              params=(Param("receiver", "Only this receiver"),
                      Param("result", "delivered, retrying or dead_letter"),
                      Param("limit", "At most this many (1-1000, default 100)", schema={"type": "integer"}))),
    ]  # fmt: skip


async def list_alerts(request: web.Request) -> web.Response:
    """Current alerts, most severe and newest first."""
    service = request.app[ALERTING]
    wanted = request.query.get("status")
    alerts = [alert for alert in service.alerts() if wanted is None or alert.status == wanted]
    alerts.sort(key=lambda alert: (alert.severity, -alert.active_at))
    return json_response({"alerts": [service.view(alert) for alert in alerts]})


async def list_rules(request: web.Request) -> web.Response:
    """Every loaded rule."""
    rules = request.app[ALERTING].rules
    return json_response({"rules": [
        {"name": rule.name, "expr": str(rule.expr), "for": rule.for_, "keep_firing_for": rule.keep_firing_for,
         "labels": dict(rule.labels), "annotations": dict(rule.annotations), "source": rule.source}
        for rule in rules
    ]})  # fmt: skip


def _silence_view(silence: Any, now: float) -> dict[str, Any]:
    state = "active" if silence.active(now) else "pending" if silence.starts_at > now else "expired"
    return {"id": silence.id, "matchers": [str(m) for m in silence.matchers], "starts_at": rfc3339(silence.starts_at),
            "ends_at": rfc3339(silence.ends_at), "created_by": silence.created_by, "comment": silence.comment,
            "state": state}  # fmt: skip


async def list_silences(request: web.Request) -> web.Response:
    """Every silence still listed."""
    now = time.time()
    silences = sorted(request.app[ALERTING].silences.values(), key=lambda silence: silence.starts_at, reverse=True)
    return json_response({"silences": [_silence_view(silence, now) for silence in silences]})


async def create_silence(request: web.Request) -> web.Response:
    """Add a silence (created by the token's name)."""
    body = _model(SilenceIn, await read_json(request))
    now = time.time()
    starts = body.starts_at.timestamp() if body.starts_at is not None else now
    ends = body.ends_at.timestamp()
    if ends <= max(starts, now):
        raise ValidationFailed("ends_at: must be after starts_at and in the future")
    if ends - starts > MAX_SILENCE:
        raise ValidationFailed("ends_at: a silence lasts at most 30 days")
    silence = await request.app[ALERTING].add_silence(
        body.matchers, starts, ends, principal_of(request).name, body.comment
    )
    view = _silence_view(silence, now)
    await audit(request, "silence.create", silence.id, after=view)
    return json_response(view, status=201)


async def delete_silence(request: web.Request) -> web.Response:
    """End a silence now."""
    service, silence_id = request.app[ALERTING], request.match_info["id"]
    before = service.silences.get(silence_id)
    if before is None:
        raise NotFound(f"no silence {silence_id[:64]!r}")
    silence = await service.expire_silence(silence_id)
    now = time.time()
    view = _silence_view(silence, now)
    await audit(request, "silence.expire", silence_id, before=_silence_view(before, now), after=view)
    return json_response(view)


def _window_view(window: Any, source: Literal["config", "api"]) -> dict[str, Any]:
    return {"name": window.name, "components": list(window.components), "starts_at": rfc3339(window.starts_at),
            "ends_at": rfc3339(window.ends_at), "comment": window.comment, "source": source}  # fmt: skip


async def list_windows(request: web.Request) -> web.Response:
    """Maintenance windows, soonest first."""
    service = request.app[ALERTING]
    api = set(service.windows)
    windows = sorted(service.all_windows(), key=lambda window: window.starts_at)
    return json_response({"maintenance": [_window_view(w, "api" if w.name in api else "config") for w in windows]})


async def create_window(request: web.Request) -> web.Response:
    """Plan a window (a name already used through the API is replaced)."""
    body = _model(WindowIn, await read_json(request))
    starts, ends = body.starts_at.timestamp(), body.ends_at.timestamp()
    if ends <= starts or ends <= time.time():
        raise ValidationFailed("ends_at: must be after starts_at and in the future")
    service = request.app[ALERTING]
    before = service.windows.get(body.name)
    window = await service.add_window(body.name, body.components, starts, ends, body.comment)
    request.app[STATUSPAGE].changed()
    view = _window_view(window, "api")
    await audit(request, "maintenance.create", body.name, before=before and _window_view(before, "api"), after=view)
    return json_response(view, status=201)


async def delete_window(request: web.Request) -> web.Response:
    """Remove a window created through the API."""
    service, name = request.app[ALERTING], request.match_info["name"]
    try:
        window = await service.delete_window(name)
    except KeyError:
        raise NotFound(f"no maintenance window {name[:64]!r} created through the API") from None
    request.app[STATUSPAGE].changed()
    view = _window_view(window, "api")
    await audit(request, "maintenance.delete", name, before=view)
    return json_response(view)


async def list_notifications(request: web.Request) -> web.Response:
    """The delivery history, newest first."""
    delivery = request.app[ALERTING].delivery
    limit = parse_int("limit", request.query.get("limit"), default=100, minimum=1, maximum=1000)
    records = delivery.history(limit, receiver=request.query.get("receiver"), result=request.query.get("result"))
    return json_response({"notifications": [_record_view(record) for record in records]})


def _record_view(record: Any) -> dict[str, Any]:
    return {
        "id": record.id, "receiver": record.receiver, "target": record.target, "group_key": record.group_key,
        "status": record.status, "alerts": list(record.alert_names), "attempts": record.attempts,
        "result": record.result, "detail": record.detail, "first_attempt_at": rfc3339(record.first_attempt_at),
        "last_attempt_at": rfc3339(record.last_attempt_at),
    }  # fmt: skip


def _model(model: type[Any], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or "body"
        raise ValidationFailed(f"{where}: {error['msg']}") from None
