"""The audit trail in SQLite: chained appends, filtered newest-first pages, prefix deletes, the chain walk.

``details``, ``before_state`` and ``after_state`` are stored as JSON text; NUL
characters are stored as U+FFFD, as PostgreSQL has to: both backends return the
same values (and so the same hashes).

Every function takes a plain ``sqlite3.Connection`` and runs on that
connection's own thread (see :mod:`._sqlite`); the writing ones run inside the
caller's transaction, which the single writer connection (``BEGIN IMMEDIATE``)
serialises: an append always sees the newest hash.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import orjson

from sidecar.audit import GENESIS_HASH, AuditEntry

from ._base import AUDIT_COLUMNS, audit_row, without_nul

_COLUMNS = ", ".join(AUDIT_COLUMNS)
_INSERT = f"INSERT INTO audit_log ({_COLUMNS}) VALUES ({', '.join('?' * len(AUDIT_COLUMNS))})"  # noqa: S608 (no input)
_SELECT = f"SELECT id, {_COLUMNS} FROM audit_log"  # noqa: S608 (no input)
_LAST_HASH = "SELECT coalesce((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), (SELECT hash FROM audit_anchor))"
# Retention reads the oldest rows by id (the table b-tree itself) and deletes a prefix of them.
OLDEST_AUDIT = "SELECT id, at, hash FROM audit_log ORDER BY id LIMIT ?"
DELETE_AUDIT = "DELETE FROM audit_log WHERE id <= ?"
_ANCHOR = (
    "INSERT INTO audit_anchor (only_row, hash, last_deleted_id, at) VALUES (1, ?, ?, ?)"
    " ON CONFLICT (only_row) DO UPDATE SET hash = excluded.hash, last_deleted_id = excluded.last_deleted_id,"
    " at = excluded.at"
)


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


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    entry_id, at, actor, action, target, details, ip, user_agent, before, after, prev_hash, entry_hash = row
    return AuditEntry(
        at,
        actor,
        action,
        target,
        orjson.loads(details),
        id=entry_id,
        ip=ip,
        user_agent=user_agent,
        before=None if before is None else orjson.loads(before),
        after=None if after is None else orjson.loads(after),
        prev_hash=prev_hash,
        hash=entry_hash,
    )


def append_audit(db: sqlite3.Connection, entry: AuditEntry) -> int:
    """Insert ``entry``, chained to the newest hash, inside the caller's transaction; its new id."""
    prev_hash = db.execute(_LAST_HASH).fetchone()[0] or GENESIS_HASH
    cursor = db.execute(_INSERT, audit_row(entry, prev_hash))
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
    return [_entry(row) for row in db.execute(sql, [*params, limit])]


def delete_audit(db: sqlite3.Connection, before: float, limit: int) -> int:
    """Delete the oldest entries by id while ``at < before`` (at most ``limit``), moving the anchor; how many went."""
    if limit <= 0:
        return 0
    last: tuple[int, str] | None = None
    for entry_id, at, entry_hash in db.execute(OLDEST_AUDIT, (limit,)).fetchall():
        if at >= before:
            break
        last = entry_id, entry_hash
    if last is None:
        return 0
    deleted = db.execute(DELETE_AUDIT, (last[0],)).rowcount
    db.execute(_ANCHOR, (last[1], last[0], time.time()))
    return deleted


def audit_anchor(db: sqlite3.Connection) -> tuple[str, int] | None:
    """The anchor's hash and last deleted id, if retention ever deleted."""
    row = db.execute("SELECT hash, last_deleted_id FROM audit_anchor").fetchone()
    return None if row is None else (row[0], row[1])


def audit_chain(db: sqlite3.Connection, after_id: int, limit: int) -> list[AuditEntry]:
    """The first ``limit`` entries with ``id > after_id``, oldest first."""
    return [_entry(row) for row in db.execute(f"{_SELECT} WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))]
