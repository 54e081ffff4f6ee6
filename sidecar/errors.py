"""The sidecar's error hierarchy.

Every error a user can cause is a :class:`SidecarError` subclass with a fixed
HTTP status and a stable machine-readable ``code``; the HTTP layer turns it
into the standard error body ``{"error": {"code", "message", "details",
"request_id"}}``. Messages never carry request bodies, tokens or PII.
"""

from __future__ import annotations

import math
from typing import Any


class SidecarError(Exception):
    """Base of every error raised on purpose by the sidecar."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class ConfigError(SidecarError):
    """The configuration is invalid; ``problems`` lists each one with its path."""

    code = "invalid_config"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems), details=problems)
        self.problems = problems


class BadRequest(SidecarError):
    """Malformed request: bad JSON, bad query parameter."""

    status = 400
    code = "bad_request"


class Unauthorized(SidecarError):
    """No token, or a token the sidecar does not know."""

    status = 401
    code = "unauthorized"


class Forbidden(SidecarError):
    """A known token that lacks the scope the route needs."""

    status = 403
    code = "forbidden"


class NotFound(SidecarError):
    """No such route or resource."""

    status = 404
    code = "not_found"


class MethodNotAllowed(SidecarError):
    """The route exists but not for this method."""

    status = 405
    code = "method_not_allowed"


class Conflict(SidecarError):
    """The request conflicts with the current state of a resource."""

    status = 409
    code = "conflict"


class PayloadTooLarge(SidecarError):
    """The body (after decompression) exceeds the route's limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(SidecarError):
    """The ``Content-Type`` (or ``Content-Encoding``) is not one the route accepts."""

    status = 415
    code = "unsupported_media_type"


class ValidationFailed(SidecarError):
    """Well-formed input whose content is invalid."""

    status = 422
    code = "validation_failed"


class RetryableError(SidecarError):
    """An error the client should retry after ``retry_after`` seconds."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        headers = {"Retry-After": str(max(1, math.ceil(retry_after))), **(headers or {})}
        super().__init__(message, details=details, headers=headers)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    """Too many requests for this token or client address."""

    status = 429
    code = "rate_limited"


class Unavailable(RetryableError):
    """The sidecar cannot take the request now (storage down, queues full)."""

    status = 503
    code = "unavailable"


class StorageError(SidecarError):
    """The storage backend failed or could not be reached."""

    status = 503
    code = "storage_unavailable"
