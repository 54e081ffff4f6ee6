"""``GET /api/v1/traces/{trace_id}``: a trace's spans and the log records that belong with it."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from sidecar.errors import BadRequest, NotFound
from sidecar.http import STORAGE, Reply, Route, json_response
from sidecar.logs import LogQuery, StoredLog
from sidecar.storage import Storage
from sidecar.traces import SpanRecord

from ._params import format_ns
from .logs import LogOut, log_out

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
# Bounds on what one trace view reads: spans, log records per lookup, request ids followed.
MAX_SPANS = 10_000
MAX_LOGS = 1_000
MAX_REQUEST_IDS = 20


class SpanOut(BaseModel):
    """A stored (redacted) span."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_time: str
    end_time: str
    duration_ms: float
    status: str
    status_message: str | None
    service: str | None
    scope: str | None
    attributes: dict[str, Any]
    resource: dict[str, Any]
    events: list[dict[str, Any]]


class TraceReply(BaseModel):
    """A trace: its spans by start time, and its log records by time."""

    trace_id: str
    spans: list[SpanOut]
    logs: list[LogOut]


def traces_routes() -> list[Route]:
    """The trace routes."""
    return [
        Route(
            "GET",
            "/api/v1/traces/{trace_id}",
            get_trace,
            "A trace's spans and the log records carrying its trace id or one of its request ids",
            "traces",
            "getTrace",
            scope="read",
            replies={200: Reply("The trace", TraceReply), 404: Reply("Nothing stored for this trace id", None)},
        ),
    ]


async def get_trace(request: web.Request) -> web.Response:
    """Spans in start order, then log records in time order; 404 when neither exists."""
    trace_id = request.match_info["trace_id"].lower()
    if not _TRACE_ID.match(trace_id):
        raise BadRequest("trace_id: expected 32 hexadecimal digits")
    storage = request.app[STORAGE]
    spans = await storage.get_trace(trace_id, limit=MAX_SPANS)
    logs = await related_logs(storage, trace_id)
    if not spans and not logs:
        raise NotFound(f"no span or log record of trace {trace_id} is stored")
    return json_response({"trace_id": trace_id, "spans": [span_out(span) for span in spans], "logs": logs})


async def related_logs(storage: Storage, trace_id: str) -> list[dict[str, Any]]:
    """The log records with this trace id, and those with a request id that one of them carries."""
    found: dict[int, StoredLog] = {}
    for stored in (await storage.search_logs(LogQuery(trace_id=trace_id, limit=MAX_LOGS))).records:
        found[stored.id] = stored
    request_ids = sorted({s.record["request_id"] for s in found.values() if s.record["request_id"]})
    for request_id in request_ids[:MAX_REQUEST_IDS]:
        for stored in (await storage.search_logs(LogQuery(request_id=request_id, limit=MAX_LOGS))).records:
            found[stored.id] = stored
    ordered = sorted(found.values(), key=lambda stored: (stored.record["ts"], stored.id))
    return [log_out(stored) for stored in ordered]


def span_out(span: SpanRecord) -> dict[str, Any]:
    """The API form of a span: times in RFC 3339, events' too."""
    out: dict[str, Any] = {key: value for key, value in span.items() if key not in ("start", "end", "events")}
    out["start_time"] = format_ns(span["start"])
    out["end_time"] = format_ns(span["end"])
    out["events"] = [
        {"name": event["name"], "time": format_ns(event["ts"]), "attributes": event["attributes"]}
        for event in span["events"]
    ]
    return out
