"""SQLite backend: the embedded default (WAL mode, one file under the data directory)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from sidecar.errors import StorageError
from sidecar.logs import LogPage, LogQuery, LogRecord

from . import _sqlite_logs
from ._base import AppliedMigration, Storage, check_not_newer, load_migrations

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS sidecar_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at REAL NOT NULL
)
"""


class SqliteStorage(Storage):
    """Storage in one SQLite file, reached through dedicated threads (aiosqlite).

    One connection writes, one transaction at a time; a second one reads, so
    searches see only committed data and never queue behind a batch insert.
    """

    backend = "sqlite"

    def __init__(self, path: Path, *, busy_timeout: float = 5.0, cache_mib: int = 16) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._cache_mib = cache_mib
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @property
    def db(self) -> aiosqlite.Connection:
        """The writing connection (for backend-specific repositories; write inside ``transaction()``)."""
        if self._db is None:
            raise StorageError("storage is not open")
        return self._db

    @property
    def reader(self) -> aiosqlite.Connection:
        """The read-only connection."""
        if self._reader is None:
            raise StorageError("storage is not open")
        return self._reader

    async def open(self) -> None:
        """Open the file (creating its folder), set WAL mode and migrate."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = await aiosqlite.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
            await self._set_wal()
            # FULL: a committed transaction survives power loss, not only a process crash.
            await self._db.execute("PRAGMA synchronous=FULL")
            await self._db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
            await self._db.execute("PRAGMA foreign_keys=ON")
            # Index pages of a large log table stay cached between batches, and a longer
            # WAL copies a page that many batches dirtied back once (measured +20% ingest).
            # 16 MiB ingested as fast as 64 MiB through HTTP and kept peak RSS under 300 MB.
            await self._db.execute(f"PRAGMA cache_size={-1024 * self._cache_mib}")
            await self._db.execute("PRAGMA wal_autocheckpoint=10000")
            await self._db.execute("PRAGMA temp_store=MEMORY")  # where log batches are staged
            await self._migrate()
            self._reader = await aiosqlite.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
            await self._reader.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
            await self._reader.execute("PRAGMA query_only=ON")
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc

    async def _set_wal(self) -> None:
        # Switching the journal mode takes a lock that SQLite's busy handler does
        # not wait for; retry while another process opens the same file.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                await self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.01)

    async def _migrate(self) -> None:
        db = self.db
        known = load_migrations(self.backend)
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.execute(_MIGRATIONS_TABLE)
            applied = await self._applied(db)
            check_not_newer(applied, known)
            done = {migration.version for migration in applied}
            for migration in known:
                if migration.version in done:
                    continue
                for statement in _statements(migration.sql):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO sidecar_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        """Close the connections (checkpointing the WAL)."""
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.close()
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer inside ``BEGIN IMMEDIATE``, committed on exit, rolled back on error.

        Failures of SQLite surface as :class:`StorageError`.
        """
        async with self._write_lock:
            db = self.db
            try:
                await db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    await db.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error, ValueError):
                        if db.in_transaction:
                            await db.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, ValueError) as exc:
                raise StorageError(f"SQLite write failed: {exc}") from exc

    async def ping(self) -> None:
        """Run ``SELECT 1``."""
        try:
            async with self.db.execute("SELECT 1") as cursor:
                await cursor.fetchone()
        except (sqlite3.Error, ValueError) as exc:
            raise StorageError(f"SQLite is not answering: {exc}") from exc

    async def applied_migrations(self) -> list[AppliedMigration]:
        """The recorded migrations."""
        return await self._applied(self.db)

    @staticmethod
    async def _applied(db: aiosqlite.Connection) -> list[AppliedMigration]:
        async with db.execute("SELECT version, name, applied_at FROM sidecar_migrations ORDER BY version") as cur:
            return [AppliedMigration(*row) for row in await cur.fetchall()]

    async def get_state(self, namespace: str, key: str) -> dict[str, Any] | None:
        """Read one document."""
        async with self.reader.execute(
            "SELECT value FROM sidecar_state WHERE namespace = ? AND key = ?", (namespace, key)
        ) as cursor:
            row = await cursor.fetchone()
        return orjson.loads(row[0]) if row else None

    async def put_state(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        """Upsert one document."""
        async with self._write_lock:
            await self.db.execute(
                "INSERT INTO sidecar_state (namespace, key, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (namespace, key, orjson.dumps(value).decode(), time.time()),
            )

    async def delete_state(self, namespace: str, key: str) -> bool:
        """Delete one document."""
        async with self._write_lock:
            cursor = await self.db.execute(
                "DELETE FROM sidecar_state WHERE namespace = ? AND key = ?", (namespace, key)
            )
        return cursor.rowcount > 0

    async def list_state(self, namespace: str) -> dict[str, dict[str, Any]]:
        """Every document of a namespace."""
        async with self.reader.execute(
            "SELECT key, value FROM sidecar_state WHERE namespace = ? ORDER BY key", (namespace,)
        ) as cursor:
            return {key: orjson.loads(value) for key, value in await cursor.fetchall()}

    async def insert_logs(self, records: Sequence[LogRecord], *, checkpoint: dict[str, Any] | None = None) -> None:
        """Insert every record (and the checkpoint) in one transaction."""
        async with self.transaction() as db:
            await _sqlite_logs.insert_logs(db, records, checkpoint)

    async def search_logs(self, query: LogQuery) -> LogPage:
        """One page of matching records, newest first."""
        try:
            return await _sqlite_logs.search_logs(self.reader, query)
        except (sqlite3.Error, ValueError) as exc:
            raise StorageError(f"SQLite search failed: {exc}") from exc

    async def delete_logs(self, *, min_severity: int, max_severity: int, before_ns: int, limit: int) -> int:
        """Delete one bounded batch of old records."""
        async with self.transaction() as db:
            return await _sqlite_logs.delete_logs(db, min_severity, max_severity, before_ns, limit)

    async def count_logs(self) -> int:
        """Count the stored records."""
        try:
            return await _sqlite_logs.count_logs(self.reader)
        except (sqlite3.Error, ValueError) as exc:
            raise StorageError(f"SQLite count failed: {exc}") from exc


def _statements(sql: str) -> list[str]:
    # Statements end where SQLite says they are complete, so a trigger body's
    # semicolons (inside BEGIN ... END) do not split it.
    statements: list[str] = []
    current = ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    statements.append(current.strip())
    return [statement for statement in statements if statement and not _only_comments(statement)]


def _only_comments(part: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in part.splitlines())
