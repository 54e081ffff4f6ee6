"""The audit trail in SQLite: appends, filtered newest-first pages, bounded deletes.

``details`` is stored as JSON text; NUL characters are stored as U+FFFD, as
PostgreSQL has to: both backends return the same values.

Every function takes a plain ``sqlite3.Connection`` and runs on that
connection's own thread (see :mod:`._sqlite`); the writing ones run inside the
caller's transaction.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from sidecar.audit import AuditEntry

from ._base import audit_row, without_nul

_INSERT = "INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)"
_SELECT = "SELECT id, at, actor, action, target, details FROM audit_log"
# The oldest rows through audit_log_at (whose entries end with the rowid), deleted by rowid.
DELETE_AUDIT = "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY at, id LIMIT ?)"


def list_sql(
    since: float | None, until: float | None, action: str | None, target: str | None, before_id: int | None
) -> tuple[str, list[Any]]:
    """The statement (and its parameters, ``LIMIT`` last to append) listing entries newest first."""
    conditions: list[str] = []
    params: list[Any] = []
    for condition, value in (
        ("at >= ?", since),
        ("at < ?", until),
        ("action = ?", without_nul(action)),
        ("target = ?", without_nul(target)),
        ("id < ?", before_id),
    ):
        if value is not None:
            conditions.append(condition)
            params.append(value)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"{_SELECT}{where} ORDER BY id DESC LIMIT ?", params


def append_audit(db: sqlite3.Connection, entry: AuditEntry) -> int:
    """Insert ``entry`` inside the caller's transaction; its new id."""
    cursor = db.execute(_INSERT, audit_row(entry))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def list_audit(
    db: sqlite3.Connection,
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
    rows = db.execute(sql, [*params, limit]).fetchall()
    return [
        AuditEntry(at, actor, entry_action, entry_target, orjson.loads(details), id=entry_id)
        for entry_id, at, actor, entry_action, entry_target, details in rows
    ]


def delete_audit(db: sqlite3.Connection, before: float, limit: int) -> int:
    """Delete up to ``limit`` entries with ``at < before`` inside the caller's transaction; how many went."""
    if limit <= 0:
        return 0
    return db.execute(DELETE_AUDIT, (before, limit)).rowcount
