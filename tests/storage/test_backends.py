"""Backend-specific behaviour: SQLite file settings, PostgreSQL failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.config import parse_config
from sidecar.errors import StorageError
from sidecar.storage import PostgresStorage, SqliteStorage, create_storage


async def test_sqlite_uses_wal_in_a_file_under_the_data_dir(tmp_path: Path) -> None:
    config = parse_config({"data_dir": str(tmp_path / "d")}, env={})
    store = create_storage(config.storage, config.data_dir)
    assert isinstance(store, SqliteStorage)
    await store.open()
    try:
        assert await store.read(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
        assert (tmp_path / "d" / "sidecar.db").exists()
    finally:
        await store.close()


async def test_sqlite_in_an_unwritable_place_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="cannot open SQLite"):
        await SqliteStorage(blocker / "sub" / "x.db").open()


async def test_postgres_unreachable_is_a_storage_error_without_the_dsn() -> None:
    store = PostgresStorage("postgresql://sidecar:hunter2@127.0.0.1:1/none", connect_timeout=2)
    with pytest.raises(StorageError) as caught:
        await store.open()
    assert "hunter2" not in str(caught.value)


def test_postgres_backend_is_chosen_by_config() -> None:
    config = parse_config(
        {"storage": {"backend": "postgres", "postgres": {"dsn": "${DSN}", "schema": "sc"}}},
        env={"DSN": "postgresql://u@h/db"},
    )
    store = create_storage(config.storage, config.data_dir)
    assert isinstance(store, PostgresStorage)
    assert store.schema == "sc"
