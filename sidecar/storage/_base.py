"""The storage interface every backend implements, and its migrations."""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sidecar.errors import StorageError

_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


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


class Storage(abc.ABC):
    """The one storage interface; SQLite and PostgreSQL implement it.

    ``open`` connects and applies pending migrations; every method raises
    :class:`~sidecar.errors.StorageError` when the backend cannot be reached.
    """

    backend: str

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
    async def list_state(self, namespace: str) -> dict[str, dict[str, Any]]:
        """Every document of ``namespace`` by key."""

    async def schema_version(self) -> int:
        """The newest applied migration version (0 for an empty database)."""
        applied = await self.applied_migrations()
        return applied[-1].version if applied else 0
