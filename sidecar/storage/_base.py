"""The storage interface every backend implements, and its migrations."""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sidecar.errors import StorageError
from sidecar.logs import LogPage, LogQuery, LogRecord
from sidecar.traces import SpanRecord

_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# The columns of the ``logs`` table holding a LogRecord, in LogRecord order (``id`` is not one of them).
LOG_COLUMNS = (
    "ts",
    "observed",
    "severity",
    "level",
    "service",
    "message",
    "request_id",
    "trace_id",
    "span_id",
    "user",
    "action",
    "duration_ms",
    "error",
    "attributes",
)
# LogQuery fields matched by equality on the column of the same name.
EQUALITY_FILTERS = ("service", "request_id", "trace_id", "user", "action")
# The state key of the span spool's checkpoint, written with each span batch.
SPAN_CHECKPOINT = ("ingest", "span_spool_checkpoint")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# A severity range this narrow (OpenTelemetry's is 1..24) is deleted value by value.
_MAX_SEVERITY_VALUES = 32


@dataclass(frozen=True, slots=True)
class Migration:
    """One versioned schema change, as shipped in ``storage/sql/<backend>/NNNN_name.sql``."""

    version: int
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    """A migration recorded in the ``sidecar_migrations`` table."""

    version: int
    name: str
    applied_at: float


def load_migrations(backend: str) -> list[Migration]:
    """The migrations shipped for ``backend``, in version order."""
    folder = resources.files("sidecar.storage") / "sql" / backend
    migrations = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            migrations.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    migrations.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions for {backend}: {versions}")
    return migrations


def check_not_newer(applied: list[AppliedMigration], known: list[Migration]) -> None:
    """Refuse a database migrated by a newer sidecar than this one."""
    newest_known = max((migration.version for migration in known), default=0)
    newest_applied = max((migration.version for migration in applied), default=0)
    if newest_applied > newest_known:
        raise StorageError(
            f"the database schema is at version {newest_applied}, newer than this sidecar "
            f"knows ({newest_known}); upgrade the sidecar"
        )


def record_from_row(row: Sequence[Any], loads: Callable[[Any], Any]) -> LogRecord:
    """The LogRecord held by ``row`` (values in LOG_COLUMNS order; ``loads`` decodes the JSON columns)."""
    (ts, observed, severity, level, service, message, request_id, trace_id, span_id, user, action, duration,
     error, attributes) = row  # fmt: skip
    return {
        "ts": ts,
        "observed": observed,
        "severity": severity,
        "level": level,
        "service": service,
        "message": message,
        "request_id": request_id,
        "trace_id": trace_id,
        "span_id": span_id,
        "user": user,
        "action": action,
        "duration_ms": duration,
        "error": None if error is None else loads(error),
        "attributes": loads(attributes),
    }


def span_key(span: SpanRecord) -> tuple[str, str, int]:
    """The trace id, span id and start of ``span``, checked alike for every backend.

    Raises :class:`StorageError` (failing the batch) when they cannot be stored:
    ids that are not strings, a start that is not a 64-bit integer.
    """
    trace_id, span_id, start = span.get("trace_id"), span.get("span_id"), span.get("start")
    if not isinstance(trace_id, str) or not isinstance(span_id, str):
        raise StorageError("a span cannot be stored: trace_id and span_id must be strings")
    if type(start) is not int or not _INT64_MIN <= start <= _INT64_MAX:
        raise StorageError(f"span {span_id!r} cannot be stored: start must be a 64-bit integer")
    return trace_id, span_id, start


def searchable(text: str) -> bool:
    """Whether ``text`` holds anything full-text search can match (a letter or a digit)."""
    return any(character.isalnum() for character in text)


_NUL = "\x00"


def without_nul(value: Any) -> Any:
    """``value`` with every NUL character replaced by U+FFFD: PostgreSQL text and JSONB cannot hold NUL."""
    if isinstance(value, str):
        return value.replace(_NUL, "\ufffd")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(item) for item in value]
    return value


def severity_values(min_severity: int, max_severity: int) -> list[int] | None:
    """Every severity of a narrow range, or None for a wide one.

    Deleting ``severity IN (5, 6, 7, 8) AND ts < ?`` seeks the (severity, ts)
    index once per value and stops at the cutoff; ``BETWEEN 5 AND 8`` would
    also walk every newer entry of 5, 6 and 7 on each batch.
    """
    if max_severity - min_severity >= _MAX_SEVERITY_VALUES:
        return None
    return list(range(min_severity, max_severity + 1))


class Storage(abc.ABC):
    """The one storage interface; SQLite and PostgreSQL implement it.

    ``open`` connects and applies pending migrations; every method raises
    :class:`~sidecar.errors.StorageError` when the backend cannot be reached.
    """

    backend: str
    # A picklable function from spool lines (orjson-encoded LogRecords) to what
    # insert_prepared_logs stores, for backends with a costly step before the write
    # that may run in another process; None for the others.
    prepare_logs: Callable[[list[bytes]], Any] | None = None

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date (idempotent)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections; safe to call twice."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise :class:`StorageError` unless the backend answers a trivial query."""

    @abc.abstractmethod
    async def applied_migrations(self) -> list[AppliedMigration]:
        """The migrations recorded as applied, in version order."""

    @abc.abstractmethod
    async def get_state(self, namespace: str, key: str) -> dict[str, Any] | None:
        """The JSON document stored under ``(namespace, key)``, or None."""

    @abc.abstractmethod
    async def put_state(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        """Insert or replace the document under ``(namespace, key)``."""

    @abc.abstractmethod
    async def delete_state(self, namespace: str, key: str) -> bool:
        """Delete the document; whether one existed."""

    @abc.abstractmethod
    async def put_states(
        self, namespace: str, values: Mapping[str, dict[str, Any]], *, delete: Sequence[str] = ()
    ) -> None:
        """Upsert ``values`` and delete the keys in ``delete``, all in one transaction."""

    @abc.abstractmethod
    async def list_state(self, namespace: str) -> dict[str, dict[str, Any]]:
        """Every document of ``namespace`` by key."""

    @abc.abstractmethod
    async def insert_logs(
        self,
        records: Sequence[LogRecord],
        *,
        checkpoint: dict[str, Any] | None = None,
        encoded: Sequence[bytes] | None = None,
    ) -> None:
        """Store ``records`` in one transaction, all or none.

        ``checkpoint``, when given, is upserted as state ``('ingest', 'spool_checkpoint')``
        in the same transaction, so the spool knows exactly which records are durable.
        ``encoded``, when given, holds each record's orjson encoding, for a backend
        that stores JSON to use rather than encode the records again.
        """

    async def insert_prepared_logs(self, prepared: Any, *, checkpoint: dict[str, Any] | None = None) -> None:
        """Store what :attr:`prepare_logs` made, like :meth:`insert_logs` (only for backends that set it)."""
        raise NotImplementedError(f"{self.backend} prepares no logs")

    @abc.abstractmethod
    async def search_logs(self, query: LogQuery) -> LogPage:
        """One page of the records matching every filter of ``query``, newest first.

        Order is ``(ts DESC, id DESC)``; ``query.after`` continues strictly past that
        position, and ``next_after`` is set only when another page exists. ``query.text``
        requires every whitespace-separated term in the message (case-insensitive); no
        input is a syntax error, and one with no searchable term matches nothing.
        """

    @abc.abstractmethod
    async def delete_logs(self, *, min_severity: int, max_severity: int, before_ns: int, limit: int) -> int:
        """Delete at most ``limit`` records with ``min_severity <= severity <= max_severity`` and ``ts < before_ns``.

        Returns how many went; retention calls it until that is less than ``limit``,
        so every transaction stays small. Deleted records leave the full-text index too.
        """

    @abc.abstractmethod
    async def count_logs(self) -> int:
        """How many log records are stored (exact; costs an index scan)."""

    @abc.abstractmethod
    async def insert_spans(
        self,
        spans: Sequence[SpanRecord],
        *,
        checkpoint: dict[str, Any] | None = None,
        encoded: Sequence[bytes] | None = None,
    ) -> None:
        """Store ``spans`` in one transaction, all or none (``encoded`` as for :meth:`insert_logs`).

        ``checkpoint``, when given, is upserted as state ``('ingest', 'span_spool_checkpoint')``
        in the same transaction. A span that cannot be stored (say a ``start`` that is not
        a 64-bit integer) fails the whole batch with :class:`StorageError`; NUL characters
        do not, they are stored as U+FFFD on every backend.
        """

    @abc.abstractmethod
    async def get_trace(self, trace_id: str, *, limit: int = 10_000) -> list[SpanRecord]:
        """The first ``limit`` stored spans of the trace (``trace_id``: 32 lowercase hex).

        Ordered by ``(start, span_id)``, then insertion order; an unknown trace is ``[]``.
        """

    @abc.abstractmethod
    async def delete_spans(self, *, before_ns: int, limit: int) -> int:
        """Delete at most ``limit`` spans whose ``start`` is before ``before_ns``.

        Returns how many went; retention calls it until that is less than ``limit``,
        so every transaction stays small. Deleted spans leave :meth:`get_trace`.
        """

    @abc.abstractmethod
    async def count_spans(self) -> int:
        """How many spans are stored (exact)."""

    async def schema_version(self) -> int:
        """The newest applied migration version (0 for an empty database)."""
        applied = await self.applied_migrations()
        return applied[-1].version if applied else 0
