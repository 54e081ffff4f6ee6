"""``GET /api/v1/audit``: the admin actions, newest first."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sidecar._time import rfc3339
from sidecar.audit import AuditEntry
from sidecar.http import STORAGE, Param, Route, json_response

from ._params import parse_int, parse_time_ns


def audit_routes() -> list[Route]:
    """The audit route."""
    return [
        Route("GET", "/api/v1/audit", list_audit, "Admin actions, newest first (hash-chained)", "audit", "listAudit",
              scope="admin",
              params=(Param("action", "e.g. breaker.force"), Param("target", "e.g. anthropic"),
                      Param("since", "RFC 3339"), Param("until", "RFC 3339 (exclusive)"),
                      Param("before_id", "Page: records older than this id", schema={"type": "integer"}),
                      Param("limit", "1-1000, default 100", schema={"type": "integer"}))),
    ]  # fmt: skip


async def list_audit(request: web.Request) -> web.Response:
    """Audit records with filters; ``next_before_id`` pages on."""
    query = request.query
    since, until = parse_time_ns("since", query.get("since")), parse_time_ns("until", query.get("until"))
    limit = parse_int("limit", query.get("limit"), default=100, minimum=1, maximum=1000)
    before_id = query.get("before_id")
    entries = await request.app[STORAGE].list_audit(
        since=None if since is None else since / 1e9,
        until=None if until is None else until / 1e9,
        action=query.get("action") or None,
        target=query.get("target") or None,
        before_id=None if not before_id else parse_int("before_id", before_id, default=0, minimum=1, maximum=2**62),
        limit=limit,
    )
    next_id = entries[-1].id if len(entries) == limit else None
    return json_response({"records": [_view(entry) for entry in entries], "next_before_id": next_id})


def _view(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "at": rfc3339(entry.at), "actor": entry.actor, "ip": entry.ip,
            "user_agent": entry.user_agent, "action": entry.action, "target": entry.target, "details": entry.details,
            "before": entry.before, "after": entry.after, "hash": entry.hash, "prev_hash": entry.prev_hash}  # fmt: skip
