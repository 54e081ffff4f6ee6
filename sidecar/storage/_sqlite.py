"""SQLite backend: the embedded default (WAL mode, one file under the data directory)."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from sidecar.audit import AuditEntry
from sidecar.errors import StorageError
from sidecar.logs import LogPage, LogQuery, LogRecord
from sidecar.probes._model import Resolution, Rollup, StoredResult
from sidecar.traces import SpanRecord

from . import _log_blocks, _sqlite_audit, _sqlite_logs, _sqlite_probes, _sqlite_spans
from ._base import AppliedMigration, Migration, Storage, check_not_newer, load_migrations

T = TypeVar("T")
Work = Callable[..., T]

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS sidecar_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at REAL NOT NULL
)
"""
# Migrations whose data step SQL cannot express (it runs right after the migration's SQL).
_DATA_STEPS: dict[int, Callable[[sqlite3.Connection], None]] = {3: _sqlite_logs.adopt_row_table}
_READERS = 2


class _Connection:
    """One SQLite connection and the one thread that uses it.

    A whole unit of work (a batch insert with its checkpoint, a search that
    reads and filters blocks) runs on that thread in one hop, off the event loop.
    """

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._db: sqlite3.Connection | None = None

    async def open(self, path: Path, busy_timeout: float, setup: Callable[[sqlite3.Connection], None]) -> None:
        def connect() -> sqlite3.Connection:
            db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            try:
                setup(db)
            except BaseException:
                db.close()
                raise
            return db

        self._db = await self._run(connect)

    async def call(self, work: Work[T], *args: Any) -> T:
        """``work(connection, *args)`` on the connection's thread."""
        db = self._db
        if db is None:
            raise StorageError("storage is not open")
        return await self._run(functools.partial(work, db, *args))

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await self._run(db.close)
        self._executor.shutdown(wait=False)


def _in_transaction(db: sqlite3.Connection, work: Work[T], *args: Any) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work(db, *args)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return result


class SqliteStorage(Storage):
    """Storage in one SQLite file, each connection on a thread of its own.

    One connection writes, one transaction at a time; two more read, so
    searches see only committed data and never queue behind a batch insert.
    """

    backend = "sqlite"
    # Building blocks is most of a write's work, and needs no connection: it may run in another process.
    prepare_logs = staticmethod(_log_blocks.prepare_logs)

    def __init__(self, path: Path, *, busy_timeout: float = 5.0, cache_mib: int = 16) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._cache_mib = cache_mib
        self._writer: _Connection | None = None
        self._readers: asyncio.Queue[_Connection] | None = None
        self._all: list[_Connection] = []

    async def open(self) -> None:
        """Open the file (creating its folder), set WAL mode and migrate."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            writer = self._track(_Connection("sqlite-writer"))
            await writer.open(self.path, self._busy_timeout, self._setup_writer)
            await writer.call(_migrate)
            readers: asyncio.Queue[_Connection] = asyncio.Queue()
            for number in range(_READERS):
                reader = self._track(_Connection(f"sqlite-reader-{number}"))
                await reader.open(self.path, self._busy_timeout, self._setup_reader)
                readers.put_nowait(reader)
            self._writer, self._readers = writer, readers
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc
        except BaseException:
            await self.close()
            raise

    def _track(self, connection: _Connection) -> _Connection:
        self._all.append(connection)
        return connection

    def _setup_writer(self, db: sqlite3.Connection) -> None:
        _set_wal(db, self._busy_timeout)
        # FULL: a committed transaction survives power loss, not only a process crash.
        db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        db.execute("PRAGMA foreign_keys=ON")
        # Index pages stay cached between batches, and a longer WAL copies a page that
        # many batches dirtied back once. 16 MiB kept peak RSS under 300 MB at full ingest.
        db.execute(f"PRAGMA cache_size={-1024 * self._cache_mib}")
        db.execute("PRAGMA wal_autocheckpoint=10000")
        db.execute("PRAGMA temp_store=MEMORY")

    def _setup_reader(self, db: sqlite3.Connection) -> None:
        db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        db.execute("PRAGMA query_only=ON")

    async def close(self) -> None:
        """Close the connections (the last one checkpoints the WAL)."""
        self._writer, self._readers = None, None
        connections, self._all = self._all, []
        for connection in reversed(connections):
            await connection.close()

    async def write(self, work: Work[T], *args: Any) -> T:
        """``work(connection, *args)`` inside ``BEGIN IMMEDIATE`` ... ``COMMIT`` on the writer's thread.

        Rolled back if it raises; SQLite's failures surface as :class:`StorageError`.
        """
        if self._writer is None:
            raise StorageError("storage is not open")
        try:
            return await self._writer.call(_in_transaction, work, *args)
        except (sqlite3.Error, ValueError, TypeError, KeyError) as exc:  # a record unfit for a block too
            raise StorageError(f"SQLite write failed: {exc}") from exc

    async def read(self, work: Work[T], *args: Any) -> T:
        """``work(connection, *args)`` on a read-only connection's thread."""
        readers = self._readers
        if readers is None:
            raise StorageError("storage is not open")
        reader = await readers.get()
        try:
            return await reader.call(work, *args)
        except (sqlite3.Error, ValueError) as exc:
            raise StorageError(f"SQLite read failed: {exc}") from exc
        finally:
            readers.put_nowait(reader)

    async def ping(self) -> None:
        """Run ``SELECT 1`` on the writing connection."""
        if self._writer is None:
            raise StorageError("storage is not open")
        try:
            await self._writer.call(_select_one)
        except (sqlite3.Error, ValueError) as exc:
            raise StorageError(f"SQLite is not answering: {exc}") from exc

    async def applied_migrations(self) -> list[AppliedMigration]:
        """The recorded migrations."""
        return await self.read(_applied)

    async def get_state(self, namespace: str, key: str) -> dict[str, Any] | None:
        """Read one document."""
        row = await self.read(
            _fetchone, "SELECT value FROM sidecar_state WHERE namespace = ? AND key = ?", namespace, key
        )
        return orjson.loads(row[0]) if row else None

    async def put_state(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        """Upsert one document."""
        await self.write(_put_state, namespace, key, orjson.dumps(value).decode())

    async def delete_state(self, namespace: str, key: str) -> bool:
        """Delete one document."""
        return await self.write(_delete_state, namespace, key)

    async def put_states(
        self, namespace: str, values: Mapping[str, dict[str, Any]], *, delete: Sequence[str] = ()
    ) -> None:
        """Upsert and delete documents in one transaction."""
        encoded = [(namespace, key, orjson.dumps(value).decode(), time.time()) for key, value in values.items()]
        await self.write(_put_states, encoded, [(namespace, key) for key in delete])

    async def list_state(self, namespace: str) -> dict[str, dict[str, Any]]:
        """Every document of a namespace."""
        rows = await self.read(
            _fetchall, "SELECT key, value FROM sidecar_state WHERE namespace = ? ORDER BY key", namespace
        )
        return {key: orjson.loads(value) for key, value in rows}

    async def insert_logs(
        self,
        records: Sequence[LogRecord],
        *,
        checkpoint: dict[str, Any] | None = None,
        encoded: Sequence[bytes] | None = None,
    ) -> None:
        """Insert every record (and the checkpoint) in one transaction."""
        await self.write(_sqlite_logs.insert_logs, records, checkpoint, encoded)

    async def insert_prepared_logs(self, prepared: Any, *, checkpoint: dict[str, Any] | None = None) -> None:
        """Insert blocks built by :attr:`prepare_logs` (and the checkpoint) in one transaction."""
        await self.write(_sqlite_logs.insert_blocks, prepared.blocks, checkpoint)

    async def search_logs(self, query: LogQuery) -> LogPage:
        """One page of matching records, newest first."""
        return await self.read(_sqlite_logs.search_logs, query)

    async def delete_logs(self, *, min_severity: int, max_severity: int, before_ns: int, limit: int) -> int:
        """Delete one bounded batch of old records."""
        return await self.write(_sqlite_logs.delete_logs, min_severity, max_severity, before_ns, limit)

    async def count_logs(self) -> int:
        """Count the stored records."""
        return await self.read(_sqlite_logs.count_logs)

    async def insert_spans(
        self,
        spans: Sequence[SpanRecord],
        *,
        checkpoint: dict[str, Any] | None = None,
        encoded: Sequence[bytes] | None = None,
    ) -> None:
        """Insert every span as blocks (and the checkpoint) in one transaction."""
        await self.write(_sqlite_spans.insert_spans, spans, checkpoint, encoded)

    async def get_trace(self, trace_id: str, *, limit: int = 10_000) -> list[SpanRecord]:
        """The spans of one trace, decoded from the blocks holding it."""
        return await self.read(_sqlite_spans.get_trace, trace_id, limit)

    async def delete_spans(self, *, before_ns: int, limit: int) -> int:
        """Delete one bounded batch of old spans."""
        return await self.write(_sqlite_spans.delete_spans, before_ns, limit)

    async def count_spans(self) -> int:
        """Count the stored spans."""
        return await self.read(_sqlite_spans.count_spans)

    async def insert_probe_results(self, results: Sequence[StoredResult]) -> None:
        """Insert every result in one transaction."""
        await self.write(_sqlite_probes.insert_probe_results, results)

    async def probe_results(self, probe: str, *, since: float, until: float, limit: int) -> list[StoredResult]:
        """The results of one probe in a time range, oldest first."""
        return await self.read(_sqlite_probes.probe_results, probe, since, until, limit)

    async def delete_probe_results(self, *, before: float, limit: int) -> int:
        """Delete one bounded batch of old results."""
        return await self.write(_sqlite_probes.delete_probe_results, before, limit)

    async def put_probe_rollups(self, rollups: Sequence[Rollup]) -> None:
        """Upsert every rollup in one transaction."""
        await self.write(_sqlite_probes.put_probe_rollups, rollups)

    async def probe_rollups(
        self, resolution: Resolution, *, since: int, until: int, probe: str | None = None, sketches: bool = True
    ) -> list[Rollup]:
        """The rollups of one resolution in a range, by (probe, start)."""
        return await self.read(_sqlite_probes.probe_rollups, resolution, since, until, probe, sketches)

    async def delete_probe_rollups(self, resolution: Resolution, *, before: int, limit: int) -> int:
        """Delete one bounded batch of old rollups."""
        return await self.write(_sqlite_probes.delete_probe_rollups, resolution, before, limit)

    async def append_audit(self, entry: AuditEntry) -> int:
        """Insert one entry; its id."""
        return await self.write(_sqlite_audit.append_audit, entry)

    async def list_audit(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        action: str | None = None,
        target: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """One page of matching entries, newest first."""
        return await self.read(_sqlite_audit.list_audit, since, until, action, target, before_id, limit)

    async def delete_audit(self, *, before: float, limit: int) -> int:
        """Delete one bounded batch of old entries and move the anchor, in one transaction."""
        return await self.write(_sqlite_audit.delete_audit, before, limit)

    async def _audit_anchor(self) -> tuple[str, int] | None:
        return await self.read(_sqlite_audit.audit_anchor)

    async def _audit_chain(self, after_id: int, limit: int) -> list[AuditEntry]:
        return await self.read(_sqlite_audit.audit_chain, after_id, limit)


def _set_wal(db: sqlite3.Connection, busy_timeout: float) -> None:
    # Switching the journal mode takes a lock that SQLite's busy handler does
    # not wait for; retry while another process opens the same file.
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _migrate(db: sqlite3.Connection) -> None:
    known = load_migrations("sqlite")
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(_MIGRATIONS_TABLE)
        applied = _applied(db)
        check_not_newer(applied, known)
        done = {migration.version for migration in applied}
        for migration in known:
            if migration.version not in done:
                _apply(db, migration)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _apply(db: sqlite3.Connection, migration: Migration) -> None:
    for statement in _statements(migration.sql):
        db.execute(statement)
    data_step = _DATA_STEPS.get(migration.version)
    if data_step is not None:
        data_step(db)
    db.execute(
        "INSERT INTO sidecar_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.name, time.time()),
    )


def _applied(db: sqlite3.Connection) -> list[AppliedMigration]:
    rows = db.execute("SELECT version, name, applied_at FROM sidecar_migrations ORDER BY version").fetchall()
    return [AppliedMigration(*row) for row in rows]


def _select_one(db: sqlite3.Connection) -> None:
    db.execute("SELECT 1").fetchone()


def _fetchone(db: sqlite3.Connection, sql: str, *params: Any) -> Any:
    return db.execute(sql, params).fetchone()


def _fetchall(db: sqlite3.Connection, sql: str, *params: Any) -> list[Any]:
    return db.execute(sql, params).fetchall()


def _put_state(db: sqlite3.Connection, namespace: str, key: str, value: str) -> None:
    db.execute(_sqlite_logs.PUT_STATE, (namespace, key, value, time.time()))


def _put_states(db: sqlite3.Connection, rows: list[tuple[str, str, str, float]], gone: list[tuple[str, str]]) -> None:
    db.executemany(_sqlite_logs.PUT_STATE, rows)
    db.executemany("DELETE FROM sidecar_state WHERE namespace = ? AND key = ?", gone)


def _delete_state(db: sqlite3.Connection, namespace: str, key: str) -> bool:
    return db.execute("DELETE FROM sidecar_state WHERE namespace = ? AND key = ?", (namespace, key)).rowcount > 0


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
