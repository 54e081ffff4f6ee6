"""One storage interface with interchangeable backends (SQLite, PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sidecar.config import StorageConfig

from ._base import AppliedMigration, Migration, Storage, load_migrations
from ._postgres import PostgresStorage
from ._sqlite import SqliteStorage

__all__ = [
    "AppliedMigration",
    "Migration",
    "PostgresStorage",
    "SqliteStorage",
    "Storage",
    "create_storage",
    "load_migrations",
]


def create_storage(config: StorageConfig, data_dir: Path) -> Storage:
    """The backend named by ``config`` (not yet opened)."""
    if config.backend == "postgres":
        pg = config.postgres
        assert pg.dsn is not None  # the config validator guarantees it
        return PostgresStorage(
            pg.dsn.get_secret_value(),
            schema=pg.db_schema,
            min_size=pg.pool_min_size,
            max_size=pg.pool_max_size,
            connect_timeout=pg.connect_timeout,
            command_timeout=pg.command_timeout,
        )
    return SqliteStorage(data_dir / config.sqlite.path, busy_timeout=config.sqlite.busy_timeout)
