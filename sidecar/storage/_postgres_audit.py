"""The audit trail in PostgreSQL: appends, filtered newest-first pages, bounded deletes.

``details`` is stored as JSONB. PostgreSQL text and JSONB cannot hold NUL: every
NUL character is stored as U+FFFD.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from sidecar.audit import AuditEntry

from ._base import audit_row, without_nul

# details arrives as the JSON text audit_row made, parsed by the server.
_INSERT = (
    "INSERT INTO audit_log (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5::text::jsonb) RETURNING id"
)
_SELECT = "SELECT id, at, actor, action, target, details FROM audit_log"
# The ids of the oldest rows are listed once from audit_log_at (an init plan) and deleted through the primary key.
DELETE_AUDIT = (
    "DELETE FROM audit_log WHERE id = ANY(ARRAY(SELECT id FROM audit_log WHERE at < $1 ORDER BY at, id LIMIT $2))"
)


def list_sql(
    since: float | None, until: float | None, action: str | None, target: str | None, before_id: int | None
) -> tuple[str, list[Any]]:
    """The statement (and its parameters, the ``LIMIT`` one last to append) listing entries newest first."""
    conditions: list[str] = []
    params: list[Any] = []
    for column, operator, value in (
        ("at", ">=", since),
        ("at", "<", until),
        ("action", "=", without_nul(action)),
        ("target", "=", without_nul(target)),
        ("id", "<", before_id),
    ):
        if value is not None:
            params.append(value)
            conditions.append(f"{column} {operator} ${len(params)}")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"{_SELECT}{where} ORDER BY id DESC LIMIT ${len(params) + 1}", params


async def append_audit(connection: asyncpg.Connection, entry: AuditEntry) -> int:
    """Insert ``entry``; its new id."""
    return await connection.fetchval(_INSERT, *audit_row(entry))


async def list_audit(
    connection: asyncpg.Connection,
    since: float | None,
    until: float | None,
    action: str | None,
    target: str | None,
    before_id: int | None,
    limit: int,
) -> list[AuditEntry]:
    """The first ``limit`` entries matching every filter given, newest first."""
    if limit <= 0:
        return []
    sql, params = list_sql(since, until, action, target, before_id)
    rows = await connection.fetch(sql, *params, limit)
    return [
        AuditEntry(row["at"], row["actor"], row["action"], row["target"], row["details"], id=row["id"]) for row in rows
    ]


async def delete_audit(connection: asyncpg.Connection, before: float, limit: int) -> int:
    """Delete up to ``limit`` entries with ``at < before``; how many went."""
    if limit <= 0:
        return 0
    status = await connection.execute(DELETE_AUDIT, before, limit)
    return int(status.split()[-1])
