"""The storage interface every backend implements, and its migrations."""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson

from sidecar.audit import GENESIS_HASH, USER_AGENT_MAX, AuditEntry, AuditVerification, entry_hash
from sidecar.errors import StorageError
from sidecar.logs import LogPage, LogQuery, LogRecord
from sidecar.probes._model import RESOLUTION_SECONDS, Resolution, Rollup, StoredResult
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
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_UINT64_MAX = 2**64 - 1
# The smallest magnitude JSON (orjson) writes a float in with an exponent.
_EXPONENT_FLOAT = 1e16
_MAX_JSON_DEPTH = 64
# A severity range this narrow (OpenTelemetry's is 1..24) is deleted value by value.
_MAX_SEVERITY_VALUES = 32
# The ``audit_log`` columns holding an entry, in the order of :func:`audit_row` (``id`` is not one of them).
AUDIT_COLUMNS = (
    "at",
    "actor",
    "action",
    "target",
    "details",
    "ip",
    "user_agent",
    "before_state",
    "after_state",
    "prev_hash",
    "hash",
)
# Entries read per page by Storage.verify_audit.
AUDIT_VERIFY_PAGE = 1000


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


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def probe_result_row(result: StoredResult) -> tuple[str, float, bool, float, int | None, str | None, bool]:
    """The ``probe_results`` column values of ``result``, in StoredResult order, checked alike for every backend.

    NUL characters in ``probe`` and ``error`` become U+FFFD. Raises :class:`StorageError`
    (failing the batch) for a value no backend column holds: an ``at`` or ``duration``
    that is not a finite number, an ``ok`` or ``offline`` that is not a bool, a
    ``status_code`` that is not a 32-bit integer, a ``probe`` or ``error`` that is not text.
    """
    probe, at, ok, duration = result.probe, result.at, result.ok, result.duration
    status_code, error, offline = result.status_code, result.error, result.offline
    if not isinstance(probe, str):
        raise StorageError("a probe result cannot be stored: probe must be a string")
    if not _is_finite(at) or not _is_finite(duration):
        raise StorageError(f"a result of probe {probe!r} cannot be stored: at and duration must be finite numbers")
    if not isinstance(ok, bool) or not isinstance(offline, bool):
        raise StorageError(f"a result of probe {probe!r} cannot be stored: ok and offline must be bools")
    if status_code is not None and not _is_int(status_code, _INT32_MIN, _INT32_MAX):
        raise StorageError(f"a result of probe {probe!r} cannot be stored: status_code must be a 32-bit integer")
    if error is not None and not isinstance(error, str):
        raise StorageError(f"a result of probe {probe!r} cannot be stored: error must be a string")
    return without_nul(probe), float(at), ok, float(duration), status_code, without_nul(error), offline


def probe_rollup_row(rollup: Rollup) -> tuple[str, Resolution, int, int, int, bytes]:
    """The ``probe_rollups`` column values of ``rollup``, in Rollup order, checked alike for every backend.

    NUL characters in ``probe`` become U+FFFD. Raises :class:`StorageError` (failing the
    batch) unless ``resolution`` is one of RESOLUTIONS, ``start`` a 64-bit multiple of its
    length, ``0 <= successes <= total`` 64-bit integers and ``sketch`` bytes.
    """
    probe, resolution, start = rollup.probe, rollup.resolution, rollup.start
    successes, total, sketch = rollup.successes, rollup.total, rollup.sketch
    if not isinstance(probe, str):
        raise StorageError("a probe rollup cannot be stored: probe must be a string")
    length = RESOLUTION_SECONDS.get(resolution) if isinstance(resolution, str) else None
    if length is None:
        raise StorageError(f"a rollup of probe {probe!r} cannot be stored: unknown resolution {resolution!r}")
    if not _is_int(start, _INT64_MIN, _INT64_MAX) or start % length:
        raise StorageError(
            f"a rollup of probe {probe!r} cannot be stored: start must be a 64-bit multiple of {length} seconds"
        )
    if not (_is_int(successes, 0, _INT64_MAX) and _is_int(total, 0, _INT64_MAX) and successes <= total):
        raise StorageError(
            f"a rollup of probe {probe!r} cannot be stored: successes and total must be 64-bit with "
            "0 <= successes <= total"
        )
    if not isinstance(sketch, bytes | bytearray | memoryview):
        raise StorageError(f"a rollup of probe {probe!r} cannot be stored: sketch must be bytes")
    return without_nul(probe), resolution, start, successes, total, bytes(sketch)


def stored_audit(entry: AuditEntry) -> AuditEntry:
    """``entry`` as every backend stores and returns it (``id`` and the hashes unset), checked alike.

    NUL characters in the strings and anywhere in the JSON fields (keys included) become
    U+FFFD; ``at`` becomes a float; ``user_agent`` is cut to :data:`USER_AGENT_MAX`
    characters; ``details``, ``before`` and ``after`` are copied by :func:`stored_json`.
    Raises :class:`StorageError` for an ``at`` that is not a finite number, an ``actor``,
    ``action`` or ``target`` that is not text, an ``ip`` or ``user_agent`` that is neither
    text nor None, ``details`` that is not a dict of plain JSON values, or ``before`` /
    ``after`` that is neither such a dict nor None.
    """
    at, actor, action, target, details = entry.at, entry.actor, entry.action, entry.target, entry.details
    if not _is_finite(at):
        raise StorageError("an audit entry cannot be stored: at must be a finite number")
    if not (isinstance(actor, str) and isinstance(action, str) and isinstance(target, str)):
        raise StorageError("an audit entry cannot be stored: actor, action and target must be strings")
    if not (isinstance(entry.ip, str | None) and isinstance(entry.user_agent, str | None)):
        raise StorageError(f"an audit entry of {action!r} cannot be stored: ip and user_agent must be strings or None")
    if not isinstance(details, dict):
        raise StorageError(f"an audit entry of {action!r} cannot be stored: details must be a dict")
    if not (isinstance(entry.before, dict | None) and isinstance(entry.after, dict | None)):
        raise StorageError(f"an audit entry of {action!r} cannot be stored: before and after must be dicts or None")
    try:
        plain = [None if value is None else stored_json(value) for value in (details, entry.before, entry.after)]
    except (TypeError, ValueError) as exc:
        raise StorageError(
            f"an audit entry of {action!r} cannot be stored: details, before or after are not plain JSON: {exc}"
        ) from exc
    user_agent = without_nul(entry.user_agent)
    return AuditEntry(
        float(at),
        str(without_nul(actor)),
        str(without_nul(action)),
        str(without_nul(target)),
        plain[0],
        ip=without_nul(entry.ip),
        user_agent=None if user_agent is None else str(user_agent[:USER_AGENT_MAX]),
        before=plain[1],
        after=plain[2],
    )


AuditRow = tuple[float, str, str, str, str, str | None, str | None, str | None, str | None, str, str]


def audit_row(entry: AuditEntry, prev_hash: str) -> AuditRow:
    """The ``audit_log`` column values of ``entry`` chained to ``prev_hash``, in :data:`AUDIT_COLUMNS` order.

    The values of :func:`stored_audit` (raising as it does), the JSON ones as JSON
    text (NULL for a missing ``before`` or ``after``), then ``prev_hash`` and the
    entry's :func:`~sidecar.audit.entry_hash` over exactly those stored values.
    """
    stored = stored_audit(entry)
    try:
        details, before, after = (
            None if value is None else orjson.dumps(value).decode()
            for value in (stored.details, stored.before, stored.after)
        )
    except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError is a TypeError
        raise StorageError(
            f"an audit entry of {entry.action!r} cannot be stored: details are not plain JSON: {exc}"
        ) from exc
    assert details is not None
    return (
        stored.at,
        stored.actor,
        stored.action,
        stored.target,
        details,
        stored.ip,
        stored.user_agent,
        before,
        after,
        prev_hash,
        entry_hash(stored, prev_hash),
    )


def stored_json(value: Any, depth: int = 0) -> Any:
    """A plain copy of the JSON value ``value`` as every backend stores and returns it.

    Dicts with str keys, lists, tuples (copied as lists), str, int (64-bit), finite
    float, bool and None; NUL characters become U+FFFD. JSONB keeps numbers as
    decimals, so floats are copied as it returns them: -0.0 as 0.0, and one of
    magnitude 1e16 or more that fits 64 bits (JSON writes it with an exponent, JSONB
    as an integer) as the equal int. Raises ValueError or TypeError for any other
    value, or for nesting deeper than 64 levels.
    """
    if depth > _MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {_MAX_JSON_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(without_nul(value))
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _UINT64_MAX:
            raise ValueError(f"integer {value} does not fit 64 bits")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a JSON number")
        if abs(value) >= _EXPONENT_FLOAT and _INT64_MIN <= value <= _UINT64_MAX:
            return int(value)
        return float(value) + 0.0  # -0.0 becomes 0.0, as in JSONB
    if isinstance(value, list | tuple):
        return [stored_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        copy = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"key {key!r} is not a string")
            copy[str(without_nul(key))] = stored_json(item, depth + 1)
        return copy
    raise TypeError(f"{type(value).__name__} is not a JSON type")


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

    @abc.abstractmethod
    async def insert_probe_results(self, results: Sequence[StoredResult]) -> None:
        """Store ``results`` in one transaction, all or none.

        A result that cannot be stored (see :func:`probe_result_row`) fails the whole
        batch with :class:`StorageError`; NUL characters in ``probe`` and ``error`` do
        not, they are stored as U+FFFD on every backend.
        """

    @abc.abstractmethod
    async def probe_results(self, probe: str, *, since: float, until: float, limit: int) -> list[StoredResult]:
        """The first ``limit`` stored results of ``probe`` with ``since <= at < until``.

        Oldest first (by ``at``, full ties in insertion order); ``[]`` when ``limit <= 0``.
        """

    @abc.abstractmethod
    async def delete_probe_results(self, *, before: float, limit: int) -> int:
        """Delete at most ``limit`` results (of any probe) with ``at < before``, oldest first.

        Returns how many went; retention calls it until that is less than ``limit``,
        so every transaction stays small.
        """

    @abc.abstractmethod
    async def put_probe_rollups(self, rollups: Sequence[Rollup]) -> None:
        """Upsert ``rollups`` in one transaction, all or none.

        A rollup replaces the stored one with the same ``(probe, resolution, start)``
        wholesale (successes, total, sketch); within one call the last of a key wins.
        A rollup that cannot be stored (see :func:`probe_rollup_row`) fails the whole
        batch with :class:`StorageError`.
        """

    @abc.abstractmethod
    async def probe_rollups(
        self, resolution: Resolution, *, since: int, until: int, probe: str | None = None, sketches: bool = True
    ) -> list[Rollup]:
        """The stored rollups of ``resolution`` with ``since <= start < until``, ordered by ``(probe, start)``.

        Only those of ``probe`` when given, else of every probe (probes ordered by code
        point on every backend). With ``sketches=False`` the sketches are not read and
        every rollup comes with ``sketch=b""``.
        """

    @abc.abstractmethod
    async def delete_probe_rollups(self, resolution: Resolution, *, before: int, limit: int) -> int:
        """Delete at most ``limit`` rollups of ``resolution`` with ``start < before``, oldest first.

        Returns how many went; retention calls it until that is less than ``limit``,
        so every transaction stays small.
        """

    @abc.abstractmethod
    async def append_audit(self, entry: AuditEntry) -> int:
        """Store ``entry`` chained to the newest stored entry and return its id.

        Ids increase with insertion order and are never reused. In the same transaction,
        serialised with every other append (and retention), ``prev_hash`` is set to the
        newest entry's ``hash`` (else the retention anchor's, else
        :data:`~sidecar.audit.GENESIS_HASH`) and ``hash`` to
        :func:`~sidecar.audit.entry_hash` of the entry as stored (see :func:`stored_audit`).
        ``entry.id``, ``entry.prev_hash`` and ``entry.hash`` are ignored. An entry that
        cannot be stored raises :class:`StorageError` and stores nothing; NUL characters
        do not, they are stored as U+FFFD on every backend.
        """

    @abc.abstractmethod
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
        """The first ``limit`` stored entries matching every filter given, newest (highest id) first.

        Filters: ``since <= at < until``, ``action`` and ``target`` by equality, and
        ``id < before_id`` to continue past the last entry of a previous page. Every entry
        comes as :func:`stored_audit` stored it, with its ``id`` and hashes (JSON key
        order is not kept: JSONB has its own); ``[]`` when ``limit <= 0``.
        """

    @abc.abstractmethod
    async def delete_audit(self, *, before: float, limit: int) -> int:
        """Delete the oldest entries, in id order, while their ``at < before``: at most ``limit``.

        Deletion stops at the first entry (by id) with ``at >= before``, even if later
        ones are older (a clock step back), so that what stays is a contiguous chain. The
        same transaction upserts the ``audit_anchor`` row with the hash and id of the
        newest entry deleted, which the oldest remaining entry's ``prev_hash`` matches.
        Returns how many went; retention calls it until that is less than ``limit``.
        """

    @abc.abstractmethod
    async def _audit_anchor(self) -> tuple[str, int] | None:
        """The retention anchor: the hash and id of the newest entry retention deleted; None if none ever was."""

    @abc.abstractmethod
    async def _audit_chain(self, after_id: int, limit: int) -> list[AuditEntry]:
        """The first ``limit`` entries with ``id > after_id``, oldest (lowest id) first, as list_audit returns them."""

    async def verify_audit(self) -> AuditVerification:
        """Walk the whole trail in id order, a page at a time, checking every entry's hash and link.

        Each entry's ``hash`` must equal :func:`~sidecar.audit.entry_hash` of its stored
        content and ``prev_hash``, and its ``prev_hash`` the ``hash`` of the entry before
        it (the first one: the retention anchor's, else the genesis hash). The first
        failure ends the walk. Retention running meanwhile is told apart from a deletion
        by re-reading the anchor. Deleting the newest entries (or all of them) leaves a
        valid chain: that is not detected.
        """
        anchor = await self._audit_anchor()
        expected, after_id = anchor if anchor is not None else (GENESIS_HASH, 0)
        previous = "the genesis hash" if anchor is None else f"the retention anchor (record {after_id})"
        checked = 0
        while page := await self._audit_chain(after_id, AUDIT_VERIFY_PAGE):
            for record in page:
                assert record.id is not None
                if record.prev_hash is None or record.hash != entry_hash(record, record.prev_hash):
                    problem = f"record {record.id} was edited (its hash does not match its content)"
                    return AuditVerification(False, checked, record.id, problem)
                if record.prev_hash != expected and not await self._deleted_meanwhile(record, after_id):
                    problem = (
                        f"a record before {record.id} is missing, or {previous} was rewritten"
                        f" (prev_hash does not match {previous})"
                    )
                    return AuditVerification(False, checked, record.id, problem)
                checked += 1
                expected, after_id, previous = record.hash, record.id, f"record {record.id}"
        return AuditVerification(True, checked)

    async def _deleted_meanwhile(self, record: AuditEntry, after_id: int) -> bool:
        """Whether retention deleted everything between the walk's last entry and ``record`` since the walk began."""
        anchor = await self._audit_anchor()
        assert record.id is not None
        return anchor is not None and anchor[0] == record.prev_hash and after_id <= anchor[1] < record.id

    async def schema_version(self) -> int:
        """The newest applied migration version (0 for an empty database)."""
        applied = await self.applied_migrations()
        return applied[-1].version if applied else 0
