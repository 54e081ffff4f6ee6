"""Pure functions turning spans and log records into observations (or None when they carry no timing)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sidecar.logs import SEVERITY, LogRecord
from sidecar.traces import SpanRecord

from ._model import Observation

# Label values come from clients: cap their length so one odd span name cannot bloat every scrape.
MAX_LABEL_LENGTH = 200
UNKNOWN = "unknown"
LOG_METHOD = "log"  # method of log-derived series: keeps them apart from span series of the same route

# RFC 9110 methods plus PATCH and QUERY; anything else is "_OTHER", as the semconv asks,
# because a client can send any token as a method.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"})

# Current semantic-convention name first, the deprecated one after it.
_ROUTE = ("http.route",)
_METHOD = ("http.request.method", "http.method")
_STATUS = ("http.response.status_code", "http.status_code")
# Most specific first: a named peer service, then the host it answers on, then the database product.
_DEPENDENCY = (
    "service.peer.name",
    "peer.service",
    "server.address",
    "net.peer.name",
    "db.system.name",
    "db.system",
)


def observation_from_span(span: SpanRecord) -> Observation | None:
    """A ``request`` observation from a server span, a ``dependency`` one from a client span, else None."""
    kind = span["kind"]
    if kind not in ("server", "client"):
        return None
    duration = _seconds(span["duration_ms"])
    if duration is None:
        return None
    attributes = span["attributes"]
    status_code = http_status(attributes)
    error = span["status"] == "error" or (status_code is not None and status_code >= 500)
    status_class = _status_class(status_code, error)
    if kind == "client":
        dependency = _label(_first(attributes, _DEPENDENCY)) or UNKNOWN
        return Observation("dependency", dependency, "", "", duration, error, status_class)
    service = _label(span["service"]) or UNKNOWN
    route = _label(_first(attributes, _ROUTE)) or _label(span["name"]) or UNKNOWN
    return Observation("request", service, route, http_method(attributes), duration, error, status_class)


def observation_from_log(record: LogRecord) -> Observation | None:
    """A ``request`` observation (route = action, method = ``"log"``) from a record with a duration and an action."""
    action = _label(record.get("action"))
    duration_ms = record.get("duration_ms")
    if not action or duration_ms is None:
        return None
    duration = _seconds(duration_ms)
    if duration is None:
        return None
    error = record["severity"] >= SEVERITY["error"]
    service = _label(record.get("service")) or UNKNOWN
    return Observation("request", service, action, LOG_METHOD, duration, error, "error" if error else "ok")


def http_status(attributes: Mapping[str, Any]) -> int | None:
    """The HTTP response status of a span, from the current or the deprecated attribute."""
    value = _first(attributes, _STATUS)
    if isinstance(value, bool):
        return None
    try:
        code = int(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None
    return code if code is not None and 100 <= code <= 599 else None


def http_method(attributes: Mapping[str, Any]) -> str:
    """The HTTP method, upper case, ``"_OTHER"`` when not a known one, ``""`` when absent."""
    value = _first(attributes, _METHOD)
    if not isinstance(value, str) or not value:
        return ""
    method = value.upper()
    return method if method in _METHODS else "_OTHER"


def _status_class(status_code: int | None, error: bool) -> str:
    if status_code is not None:
        return f"{status_code // 100}xx"
    return "error" if error else "ok"


def _first(attributes: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = attributes.get(name)
        if value is not None and value != "":
            return value
    return None


def _label(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_LABEL_LENGTH]


def _seconds(duration_ms: Any) -> float | None:
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, int | float):
        return None
    if not math.isfinite(duration_ms):
        return None
    # Clock skew between a span's start and end hosts can make a duration negative: count it as zero.
    return max(float(duration_ms), 0.0) / 1000.0
