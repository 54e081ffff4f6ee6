"""Parsing query parameters into typed values (400 with the parameter's name otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime

from sidecar.errors import BadRequest


def parse_time_ns(name: str, value: str | None) -> int | None:
    """An RFC 3339 time (no offset means UTC) as Unix nanoseconds."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: expected an RFC 3339 time like 2024-05-01T12:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1_000_000) * 1000


def parse_int(name: str, value: str | None, *, default: int, minimum: int, maximum: int) -> int:
    """An integer within bounds."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name}: expected an integer") from None
    if not minimum <= number <= maximum:
        raise BadRequest(f"{name}: must be between {minimum} and {maximum}")
    return number


def format_ns(ns: int) -> str:
    """Unix nanoseconds as an RFC 3339 UTC time with microseconds."""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
