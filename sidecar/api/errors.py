"""``/api/v1/errors``: grouped errors, and their workflow."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from sidecar.errors import BadRequest
from sidecar.errortracking import SORT_KEYS, STATUSES
from sidecar.http import JSON, Param, Reply, Route, json_response, read_json

from ._audit import audit
from ._keys import ERRORS
from ._params import parse_int, parse_time_ns

MAX_LIMIT = 1000


class ErrorGroupOut(BaseModel):
    """One group of errors sharing a fingerprint."""

    id: str
    title: str
    error_type: str | None
    category: str
    culprit: str | None
    severity: str
    status: str
    regressed: bool
    first_seen: str
    last_seen: str
    count: int
    users: int
    users_estimated: bool
    services: list[str]
    trend: list[dict[str, Any]]
    sample: dict[str, Any]
    status_changed_at: str | None


class ErrorGroupsReply(BaseModel):
    """Matching groups."""

    groups: list[ErrorGroupOut]


class StatusChange(BaseModel):
    """The new status of a group."""

    status: str


def errors_routes() -> list[Route]:
    """The error-tracking routes."""
    return [
        Route(
            "GET",
            "/api/v1/errors",
            list_errors,
            "Error groups, most recently seen (or most frequent) first",
            "errors",
            "listErrors",
            scope="read",
            params=(
                Param("status", "Only groups with this status", schema={"enum": list(STATUSES)}),
                Param("service", "Only groups seen in this service"),
                Param("since", "Only groups seen at or after this time, RFC 3339", schema={"type": "string"}),
                Param("sort", "Order", schema={"enum": list(SORT_KEYS)}),
                Param("limit", "Groups to return", schema={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
            ),
            replies={200: Reply("Matching groups", ErrorGroupsReply)},
        ),
        Route(
            "GET",
            "/api/v1/errors/{id}",
            get_error,
            "One error group",
            "errors",
            "getError",
            scope="read",
            replies={200: Reply("The group", ErrorGroupOut), 404: Reply("No such group", None)},
        ),
        Route(
            "PATCH",
            "/api/v1/errors/{id}",
            patch_error,
            "Resolve, ignore or reopen an error group",
            "errors",
            "patchError",
            scope="admin",
            accepts=(JSON,),
            max_body=4096,
            request_schema=StatusChange.model_json_schema(),
            replies={200: Reply("The group after the change", ErrorGroupOut), 404: Reply("No such group", None)},
        ),
    ]


async def list_errors(request: web.Request) -> web.Response:
    """Filter and sort the groups."""
    params = request.query
    groups = request.app[ERRORS].tracker.list_groups(
        status=params.get("status") or None,
        service=params.get("service") or None,
        since_ns=parse_time_ns("since", params.get("since")),
        sort=params.get("sort") or "last_seen",
        limit=parse_int("limit", params.get("limit"), default=100, minimum=1, maximum=MAX_LIMIT),
    )
    now_ns = time.time_ns()
    return json_response({"groups": [group.to_json(now_ns) for group in groups]})


async def get_error(request: web.Request) -> web.Response:
    """One group by id."""
    return json_response(request.app[ERRORS].tracker.get(request.match_info["id"]).to_json(time.time_ns()))


async def patch_error(request: web.Request) -> web.Response:
    """Change a group's status; saved at the next flush."""
    body = await read_json(request)
    if not isinstance(body, dict) or set(body) != {"status"} or not isinstance(body["status"], str):
        raise BadRequest('the body must be {"status": "unresolved" | "resolved" | "ignored"}')
    service, group_id = request.app[ERRORS], request.match_info["id"]
    before = service.tracker.get(group_id).status
    group = service.tracker.set_status(group_id, body["status"])
    await audit(request, "error_group.status", group_id, before={"status": before}, after={"status": group.status})
    return json_response(group.to_json(time.time_ns()))
