"""Recording an admin action in the audit log: who (token name), from where (network, user agent), before/after."""

from __future__ import annotations

import time
from typing import Any

import structlog
from aiohttp import web

from sidecar.audit import AuditEntry, anonymize_ip
from sidecar.errors import StorageError
from sidecar.http import STORAGE, client_ip, principal_of

from ._keys import INGEST

log = structlog.get_logger("sidecar.audit")


async def audit(
    request: web.Request,
    action: str,
    target: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one record; free text in it is redacted like log records, and the client's IP kept as its network."""
    redactor = request.app[INGEST].redactor
    counts: dict[str, int] = {}

    def clean(value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else redactor.redact_value(value, counts)  # type: ignore[return-value]

    entry = AuditEntry(
        time.time(),
        principal_of(request).name,
        action,
        target,
        clean(details) or {},
        ip=anonymize_ip(client_ip(request)),
        user_agent=request.headers.get("User-Agent"),
        before=clean(before),
        after=clean(after),
    )
    try:
        await request.app[STORAGE].append_audit(entry)
    except StorageError as exc:
        log.error("admin action not audited", action=action, target=target, error=str(exc))
