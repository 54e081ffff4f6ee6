"""Turning every failure into the standard error body."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sidecar.errors import SidecarError

_HTTP_CODES = {
    400: ("bad_request", "the request is malformed"),
    401: ("unauthorized", "a valid bearer token is required"),
    403: ("forbidden", "the token lacks the scope this route needs"),
    404: ("not_found", "no route matches this path"),
    405: ("method_not_allowed", "this route does not take that method"),
    413: ("payload_too_large", "the body exceeds this route's limit"),
    415: ("unsupported_media_type", "this route does not take that content type"),
    429: ("rate_limited", "too many requests"),
    503: ("unavailable", "the sidecar cannot take the request now"),
}


def error_body(code: str, message: str, request_id: str, details: Any = None) -> bytes:
    """The standard error document."""
    return orjson.dumps({"error": {"code": code, "message": message, "details": details, "request_id": request_id}})


def error_response(exc: BaseException, request_id: str) -> web.Response:
    """The response for ``exc``: its status and code, never a stack trace."""
    if isinstance(exc, SidecarError):
        status, code, message, details, headers = exc.status, exc.code, exc.message, exc.details, exc.headers
    elif isinstance(exc, web.HTTPException):
        status = exc.status
        code, message = _HTTP_CODES.get(status, (f"http_{status}", exc.reason))
        details = None
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
    else:
        status, code, details, headers = 500, "internal_error", None, {}
        message = "internal error; the sidecar's log has the details under this request id"
    return web.Response(
        status=status,
        body=error_body(code, message, request_id, details),
        content_type="application/json",
        headers=headers,
    )
