"""PostgreSQL backend through an asyncpg pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import asyncpg

from sidecar.audit import AuditEntry
from sidecar.errors import StorageError
from sidecar.logs import LogPage, LogQuery, LogRecord
from sidecar.probes._model import Resolution, Rollup, StoredResult
from sidecar.traces import SpanRecord

from . import _postgres_audit, _postgres_logs, _postgres_probes, _postgres_spans
from ._base import AppliedMigration, Storage, check_not_newer, load_migrations

# Any fixed number works: it only has to be the same for every replica.
_MIGRATION_LOCK = 0x5EDECA
# What a lost, refused or timed-out PostgreSQL call raises.
_FAILURES = (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)


class PostgresStorage(Storage):
    """Storage in a PostgreSQL schema; safe to share between several sidecar replicas."""

    backend = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
    ) -> None:
        self._dsn = dsn
        self.schema = schema
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The open pool (for backend-specific repositories)."""
        if self._pool is None:
            raise StorageError("storage is not open")
        return self._pool

    async def open(self) -> None:
        """Create the pool (and the schema), then migrate under an advisory lock."""
        try:
            await self._create_schema()
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._connect_timeout,
                command_timeout=self._command_timeout,
                server_settings={"search_path": self.schema, "application_name": "sidecar"},
                init=_init_connection,
            )
            await self._migrate()
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            await self.close()
            # The DSN may hold a password: name the error, never the DSN.
            raise StorageError(f"cannot open PostgreSQL storage: {type(exc).__name__}: {exc}") from exc

    async def _create_schema(self) -> None:
        if self.schema == "public":
            return
        connection = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        try:
            await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        except asyncpg.UniqueViolationError:
            pass  # created concurrently by another replica
        finally:
            await connection.close()

    async def _migrate(self) -> None:
        known = load_migrations(self.backend)
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS sidecar_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = await self._applied(connection)
            check_not_newer(applied, known)
            done = {migration.version for migration in applied}
            for migration in known:
                if migration.version not in done:
                    await connection.execute(migration.sql)
                    await connection.execute(
                        "INSERT INTO sidecar_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )

    async def close(self) -> None:
        """Close the pool, waiting for connections in use to be released."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=self._command_timeout)
            except TimeoutError:
                pool.terminate()

    async def ping(self) -> None:
        """Run ``SELECT 1`` within the connect timeout."""
        try:
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), timeout=self._connect_timeout)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"PostgreSQL is not answering: {type(exc).__name__}") from exc

    async def applied_migrations(self) -> list[AppliedMigration]:
        """The recorded migrations."""
        async with self.pool.acquire() as connection:
            return await self._applied(connection)

    @staticmethod
    async def _applied(connection: asyncpg.Connection) -> list[AppliedMigration]:
        rows = await connection.fetch(
            "SELECT version, name, extract(epoch FROM applied_at)::float8 AS at"
            " FROM sidecar_migrations ORDER BY version"
        )
        return [AppliedMigration(row["version"], row["name"], row["at"]) for row in rows]

    async def get_state(self, namespace: str, key: str) -> dict[str, Any] | None:
        """Read one document."""
        return await self.pool.fetchval(
            "SELECT value FROM sidecar_state WHERE namespace = $1 AND key = $2", namespace, key
        )

    async def put_state(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        """Upsert one document."""
        await self.pool.execute(
            "INSERT INTO sidecar_state (namespace, key, value, updated_at) VALUES ($1, $2, $3, now())"
            " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = now()",
            namespace,
            key,
            value,
        )

    async def put_states(
        self, namespace: str, values: Mapping[str, dict[str, Any]], *, delete: Sequence[str] = ()
    ) -> None:
        """Upsert and delete documents in one transaction."""
        async with self._connection("state write", transaction=True) as connection:
            await connection.executemany(
                "INSERT INTO sidecar_state (namespace, key, value, updated_at) VALUES ($1, $2, $3, now())"
                " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = now()",
                [(namespace, key, value) for key, value in values.items()],
            )
            if delete:
                await connection.execute(
                    "DELETE FROM sidecar_state WHERE namespace = $1 AND key = ANY($2::text[])", namespace, list(delete)
                )

    async def delete_state(self, namespace: str, key: str) -> bool:
        """Delete one document."""
        status = await self.pool.execute("DELETE FROM sidecar_state WHERE namespace = $1 AND key = $2", namespace, key)
        return status != "DELETE 0"

    async def list_state(self, namespace: str) -> dict[str, dict[str, Any]]:
        """Every document of a namespace."""
        rows = await self.pool.fetch(
            "SELECT key, value FROM sidecar_state WHERE namespace = $1 ORDER BY key", namespace
        )
        return {row["key"]: row["value"] for row in rows}

    @contextlib.asynccontextmanager
    async def _connection(self, action: str, *, transaction: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection (in a transaction if asked); failures surface as :class:`StorageError`."""
        try:
            async with self.pool.acquire() as connection:
                if transaction:
                    async with connection.transaction():
                        yield connection
                else:
                    yield connection
        except _FAILURES as exc:
            raise StorageError(f"PostgreSQL {action} failed: {type(exc).__name__}: {exc}") from exc

    async def insert_logs(
        self,
        records: Sequence[LogRecord],
        *,
        checkpoint: dict[str, Any] | None = None,
        encoded: Sequence[bytes] | None = None,
    ) -> None:
        """COPY every record (and upsert the checkpoint) in one transaction."""
        async with self._connection("log insert", transaction=True) as connection:
            await _postgres_logs.insert_logs(connection, records, checkpoint)

    async def search_logs(self, query: LogQuery) -> LogPage:
        """One page of matching records, newest first."""
        async with self._connection("log search") as connection:
            return await _postgres_logs.search_logs(connection, query)

    async def delete_logs(self, *, min_severity: int, max_severity: int, before_ns: int, limit: int) -> int:
        """Delete one bounded batch of old records."""
        async with self._connection("log delete") as connection:
            return await _postgres_logs.delete_logs(connection, min_severity, max_severity, before_ns, limit)

    async def count_logs(self) -> int:
        """Count the stored records."""
        async with self._connection("log count") as connection:
            return await _postgres_logs.count_logs(connection)

    async def insert_spans(
        self,
        spans: Sequence[SpanRecord],
        *,
        checkpoint: dict[str, Any] | None = None,
        encoded: Sequence[bytes] | None = None,
    ) -> None:
        """COPY every span (and upsert the checkpoint) in one transaction."""
        async with self._connection("span insert", transaction=True) as connection:
            await _postgres_spans.insert_spans(connection, spans, checkpoint)

    async def get_trace(self, trace_id: str, *, limit: int = 10_000) -> list[SpanRecord]:
        """The spans of one trace."""
        async with self._connection("trace read") as connection:
            return await _postgres_spans.get_trace(connection, trace_id, limit)

    async def delete_spans(self, *, before_ns: int, limit: int) -> int:
        """Delete one bounded batch of old spans."""
        async with self._connection("span delete") as connection:
            return await _postgres_spans.delete_spans(connection, before_ns, limit)

    async def count_spans(self) -> int:
        """Count the stored spans."""
        async with self._connection("span count") as connection:
            return await _postgres_spans.count_spans(connection)

    async def insert_probe_results(self, results: Sequence[StoredResult]) -> None:
        """COPY every result in one transaction."""
        async with self._connection("probe result insert", transaction=True) as connection:
            await _postgres_probes.insert_probe_results(connection, results)

    async def probe_results(self, probe: str, *, since: float, until: float, limit: int) -> list[StoredResult]:
        """The results of one probe in a time range, oldest first."""
        async with self._connection("probe result read") as connection:
            return await _postgres_probes.probe_results(connection, probe, since, until, limit)

    async def delete_probe_results(self, *, before: float, limit: int) -> int:
        """Delete one bounded batch of old results."""
        async with self._connection("probe result delete") as connection:
            return await _postgres_probes.delete_probe_results(connection, before, limit)

    async def put_probe_rollups(self, rollups: Sequence[Rollup]) -> None:
        """Upsert every rollup in one transaction."""
        async with self._connection("probe rollup write", transaction=True) as connection:
            await _postgres_probes.put_probe_rollups(connection, rollups)

    async def probe_rollups(
        self, resolution: Resolution, *, since: int, until: int, probe: str | None = None, sketches: bool = True
    ) -> list[Rollup]:
        """The rollups of one resolution in a range, by (probe, start)."""
        async with self._connection("probe rollup read") as connection:
            return await _postgres_probes.probe_rollups(connection, resolution, since, until, probe, sketches)

    async def delete_probe_rollups(self, resolution: Resolution, *, before: int, limit: int) -> int:
        """Delete one bounded batch of old rollups."""
        async with self._connection("probe rollup delete") as connection:
            return await _postgres_probes.delete_probe_rollups(connection, resolution, before, limit)

    async def append_audit(self, entry: AuditEntry) -> int:
        """Insert one entry; its id."""
        async with self._connection("audit append", transaction=True) as connection:
            return await _postgres_audit.append_audit(connection, entry)

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
        async with self._connection("audit read") as connection:
            return await _postgres_audit.list_audit(connection, since, until, action, target, before_id, limit)

    async def delete_audit(self, *, before: float, limit: int) -> int:
        """Delete one bounded batch of old entries and move the anchor, in one transaction."""
        async with self._connection("audit delete", transaction=True) as connection:
            return await _postgres_audit.delete_audit(connection, before, limit)

    async def _audit_anchor(self) -> tuple[str, int] | None:
        async with self._connection("audit read") as connection:
            return await _postgres_audit.audit_anchor(connection)

    async def _audit_chain(self, after_id: int, limit: int) -> list[AuditEntry]:
        async with self._connection("audit read") as connection:
            return await _postgres_audit.audit_chain(connection, after_id, limit)


async def _init_connection(connection: asyncpg.Connection) -> None:
    # Binary, because COPY (bulk log inserts) has no text path for JSONB.
    await connection.set_type_codec(
        "jsonb",
        encoder=_postgres_logs.encode_jsonb,
        decoder=_postgres_logs.decode_jsonb,
        schema="pg_catalog",
        format="binary",
    )
