"""The audit trail in PostgreSQL: chained appends, filtered newest-first pages, prefix deletes, the chain walk.

``details``, ``before_state`` and ``after_state`` are stored as JSONB. PostgreSQL
text and JSONB cannot hold NUL: every NUL character is stored as U+FFFD.

Several replicas may append at once: appends and deletes run in a transaction that
first takes the transaction advisory lock :data:`AUDIT_LOCK`, so each one reads the
newest hash only once the previous writer has committed, and ids follow the chain.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from sidecar.audit import GENESIS_HASH, AuditEntry

from ._base import AUDIT_COLUMNS, audit_row, without_nul

# Any fixed number works: it only has to be the same for every replica (and differ from the migration lock).
AUDIT_LOCK = 0x5EDECA_A0D17
_COLUMNS = ", ".join(AUDIT_COLUMNS)
# The JSON values arrive as the JSON text audit_row made, parsed by the server.
_VALUES = ", ".join(
    f"${n}::text::jsonb" if column in {"details", "before_state", "after_state"} else f"${n}"
    for n, column in enumerate(AUDIT_COLUMNS, 1)
)
_INSERT = f"INSERT INTO audit_log ({_COLUMNS}) VALUES ({_VALUES}) RETURNING id"  # noqa: S608 (no input)
_SELECT = f"SELECT id, {_COLUMNS} FROM audit_log"  # noqa: S608 (no input)
_LAST_HASH = "SELECT coalesce((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), (SELECT hash FROM audit_anchor))"
# Retention reads the oldest rows through the primary key and deletes a prefix of them.
OLDEST_AUDIT = "SELECT id, at, hash FROM audit_log ORDER BY id LIMIT $1"
DELETE_AUDIT = "DELETE FROM audit_log WHERE id <= $1"
_ANCHOR = (
    "INSERT INTO audit_anchor (hash, last_deleted_id, at) VALUES ($1, $2, $3)"
    " ON CONFLICT (only_row) DO UPDATE SET hash = excluded.hash, last_deleted_id = excluded.last_deleted_id,"
    " at = excluded.at"
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


def _entry(row: asyncpg.Record) -> AuditEntry:
    return AuditEntry(
        row["at"],
        row["actor"],
        row["action"],
        row["target"],
        row["details"],
        id=row["id"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        before=row["before_state"],
        after=row["after_state"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


async def append_audit(connection: asyncpg.Connection, entry: AuditEntry) -> int:
    """Insert ``entry`` chained to the newest hash, inside the caller's transaction; its new id."""
    await connection.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
    prev_hash = await connection.fetchval(_LAST_HASH) or GENESIS_HASH
    return await connection.fetchval(_INSERT, *audit_row(entry, prev_hash))


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
    return [_entry(row) for row in await connection.fetch(sql, *params, limit)]


async def delete_audit(connection: asyncpg.Connection, before: float, limit: int) -> int:
    """Delete the oldest entries by id while ``at < before`` (at most ``limit``), moving the anchor.

    Runs inside the caller's transaction; how many went.
    """
    if limit <= 0:
        return 0
    await connection.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK)
    last: tuple[int, str] | None = None
    for row in await connection.fetch(OLDEST_AUDIT, limit):
        if row["at"] >= before:
            break
        last = row["id"], row["hash"]
    if last is None:
        return 0
    status = await connection.execute(DELETE_AUDIT, last[0])
    await connection.execute(_ANCHOR, last[1], last[0], time.time())
    return int(status.split()[-1])


async def audit_anchor(connection: asyncpg.Connection) -> tuple[str, int] | None:
    """The anchor's hash and last deleted id, if retention ever deleted."""
    row = await connection.fetchrow("SELECT hash, last_deleted_id FROM audit_anchor")
    return None if row is None else (row["hash"], row["last_deleted_id"])


async def audit_chain(connection: asyncpg.Connection, after_id: int, limit: int) -> list[AuditEntry]:
    """The first ``limit`` entries with ``id > after_id``, oldest first."""
    return [
        _entry(row) for row in await connection.fetch(f"{_SELECT} WHERE id > $1 ORDER BY id LIMIT $2", after_id, limit)
    ]
