"""``POST /api/v1/logs`` (ingest) and ``GET /api/v1/logs`` (search)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from sidecar.config import Config
from sidecar.errors import BadRequest, ValidationFailed
from sidecar.http import JSON, STORAGE, Param, Reply, Route, json_response, read_body
from sidecar.ingest import NDJSON_TYPES
from sidecar.logs import LEVELS, SEVERITY, LogQuery, StoredLog, decode_cursor, encode_cursor

from ._keys import INGEST
from ._params import format_ns, parse_int, parse_time_ns

MAX_LIMIT = 1000


class Rejection(BaseModel):
    """A record that was not accepted, by its position in the batch."""

    index: int
    reason: str


class IngestReply(BaseModel):
    """How many records were accepted (durably) and which were rejected."""

    accepted: int
    rejected: list[Rejection]


class LogOut(BaseModel):
    """A stored (redacted) log record."""

    id: int
    timestamp: str
    observed_timestamp: str
    level: str
    severity: int
    service: str | None
    message: str | None
    request_id: str | None
    trace_id: str | None
    span_id: str | None
    user: str | None
    action: str | None
    duration_ms: float | None
    error: dict[str, Any] | None
    attributes: dict[str, Any]


class LogSearchReply(BaseModel):
    """One page of records, newest first, and the cursor of the next page."""

    records: list[LogOut]
    next_cursor: str | None


def logs_routes(config: Config) -> list[Route]:
    """The log routes, with the body limit configured under ``ingest``."""
    text = {"type": "string"}
    return [
        Route(
            "POST",
            "/api/v1/logs",
            ingest_logs,
            "Ingest structured JSON log records",
            "logs",
            "ingestLogs",
            scope="ingest",
            accepts=(JSON, *sorted(NDJSON_TYPES)),
            max_body=config.ingest.max_body_size,
            request_schema={"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]},
            replies={
                200: Reply("Accepted records are durable", IngestReply),
                422: Reply("No record was acceptable", None),
                503: Reply("Storage down and spool full; see Retry-After", None),
            },
        ),
        Route(
            "GET",
            "/api/v1/logs",
            search_logs,
            "Search stored log records, newest first",
            "logs",
            "searchLogs",
            scope="read",
            params=(
                Param("since", "Earliest time, RFC 3339", schema={**text, "format": "date-time"}),
                Param("until", "Latest time (exclusive), RFC 3339", schema={**text, "format": "date-time"}),
                Param("level", "Minimum level", schema={"enum": list(LEVELS)}),
                Param("service", "Service name"),
                Param("request_id", "Request id"),
                Param("trace_id", "Trace id (32 hex digits)"),
                Param("user", "User pseudonym, or the raw id (pseudonymised before lookup)"),
                Param("action", "Action"),
                Param("q", "Full-text terms over the message; all must match"),
                Param("limit", "Records per page", schema={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
                Param("cursor", "Opaque cursor from the previous page's next_cursor"),
            ),
            replies={200: Reply("Matching records", LogSearchReply)},
        ),
    ]


async def ingest_logs(request: web.Request) -> web.Response:
    """Accept a JSON object, a JSON array or NDJSON; answer once the accepted records are durable."""
    body = await read_body(request)
    result = await request.app[INGEST].ingest(body, request.content_type)
    rejected = [{"index": index, "reason": reason} for index, reason in result.rejected]
    if result.accepted == 0 and rejected:
        raise ValidationFailed("no record in the batch was acceptable", details={"accepted": 0, "rejected": rejected})
    return json_response({"accepted": result.accepted, "rejected": rejected})


async def search_logs(request: web.Request) -> web.Response:
    """Search with filters and keyset pagination."""
    query = _query(request)
    page = await request.app[STORAGE].search_logs(query)
    return json_response(
        {
            "records": [log_out(stored) for stored in page.records],
            "next_cursor": encode_cursor(page.next_after) if page.next_after else None,
        }
    )


def _query(request: web.Request) -> LogQuery:
    params = request.query
    level = params.get("level")
    if level is not None and level not in SEVERITY:
        raise BadRequest(f"level: expected one of {', '.join(LEVELS)}")
    user = params.get("user") or None
    if user is not None:
        user = request.app[INGEST].pseudonymize_user(user)
        if user is None:
            raise BadRequest("user: user ids are not kept (redaction.pseudonymize is off)")
    cursor = params.get("cursor")
    return LogQuery(
        since_ns=parse_time_ns("since", params.get("since")),
        until_ns=parse_time_ns("until", params.get("until")),
        min_severity=SEVERITY[level] if level else None,  # type: ignore[index]
        service=params.get("service") or None,
        request_id=params.get("request_id") or None,
        trace_id=(params.get("trace_id") or "").lower() or None,
        user=user,
        action=params.get("action") or None,
        text=params.get("q") or None,
        limit=parse_int("limit", params.get("limit"), default=100, minimum=1, maximum=MAX_LIMIT),
        after=decode_cursor(cursor) if cursor else None,
    )


def log_out(stored: StoredLog) -> dict[str, Any]:
    record = stored.record
    return {
        "id": stored.id,
        "timestamp": format_ns(record["ts"]),
        "observed_timestamp": format_ns(record["observed"]),
        **{key: value for key, value in record.items() if key not in ("ts", "observed")},
    }
