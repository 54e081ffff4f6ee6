"""Who did what, when: the audit trail's record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One operator action, as appended to the audit trail and read back from it."""

    at: float  # wall-clock Unix seconds
    actor: str  # the token name that acted (never the token itself)
    action: str  # e.g. "breaker.force"
    target: str  # e.g. "anthropic"
    details: dict[str, Any]  # JSON-serialisable (reason, mode, expiry...)
    id: int | None = None  # assigned by storage; None before insertion
