"""Times as the API writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(seconds: float | None) -> str | None:
    """Unix seconds as an RFC 3339 UTC time with milliseconds (``None`` stays ``None``)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
