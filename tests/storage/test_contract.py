"""One contract, run against every storage backend (real SQLite file, real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sidecar.errors import StorageError
from sidecar.storage import Storage, load_migrations


async def test_open_applies_every_shipped_migration(storage: Storage) -> None:
    applied = await storage.applied_migrations()
    shipped = load_migrations(storage.backend)
    assert [(m.version, m.name) for m in applied] == [(m.version, m.name) for m in shipped]
    assert await storage.schema_version() == shipped[-1].version
    assert all(m.applied_at > 0 for m in applied)


async def test_reopening_is_idempotent(storage_factory: Callable[[], Storage]) -> None:
    first = storage_factory()
    await first.open()
    await first.put_state("ns", "k", {"v": 1})
    before = await first.applied_migrations()
    await first.close()
    second = storage_factory()
    await second.open()
    assert await second.applied_migrations() == before
    assert await second.get_state("ns", "k") == {"v": 1}


async def test_concurrent_opens_migrate_once(storage_factory: Callable[[], Storage]) -> None:
    stores = [storage_factory() for _ in range(3)]
    await asyncio.gather(*(store.open() for store in stores))
    versions = [m.version for m in await stores[0].applied_migrations()]
    assert versions == sorted(set(versions))


async def test_state_round_trip(storage: Storage) -> None:
    assert await storage.get_state("breakers", "anthropic") is None
    doc = {"state": "open", "failures": 5, "nested": {"at": 1.5, "tags": ["a", "é"]}}
    await storage.put_state("breakers", "anthropic", doc)
    assert await storage.get_state("breakers", "anthropic") == doc
    await storage.put_state("breakers", "anthropic", {"state": "closed"})
    assert await storage.get_state("breakers", "anthropic") == {"state": "closed"}
    await storage.put_state("breakers", "openai", {"state": "closed"})
    await storage.put_state("alerts", "x", {"firing": True})
    assert await storage.list_state("breakers") == {"anthropic": {"state": "closed"}, "openai": {"state": "closed"}}
    assert await storage.delete_state("breakers", "anthropic") is True
    assert await storage.delete_state("breakers", "anthropic") is False
    assert list(await storage.list_state("breakers")) == ["openai"]


async def test_many_states_upserted_and_deleted_in_one_call(storage: Storage) -> None:
    await storage.put_states("groups", {"a": {"n": 1}, "b": {"n": 2}, "c": {"n": 3}})
    await storage.put_state("other", "a", {"kept": True})
    await storage.put_states("groups", {"a": {"n": 10}, "d": {"n": 4}}, delete=["b", "missing"])
    assert await storage.list_state("groups") == {"a": {"n": 10}, "c": {"n": 3}, "d": {"n": 4}}
    assert await storage.get_state("other", "a") == {"kept": True}
    await storage.put_states("groups", {}, delete=[])  # nothing to do is fine


async def test_ping_answers_when_open_and_fails_when_closed(storage: Storage) -> None:
    await storage.ping()
    await storage.close()
    with pytest.raises(StorageError):
        await storage.ping()


async def test_refuses_a_schema_newer_than_it_knows(storage_factory: Callable[[], Storage]) -> None:
    store = storage_factory()
    await store.open()
    future = 9999
    if store.backend == "sqlite":
        await store.write(  # type: ignore[attr-defined]
            lambda db: db.execute(
                "INSERT INTO sidecar_migrations (version, name, applied_at) VALUES (?, 'future', 0)", (future,)
            )
        )
    else:
        await store.pool.execute(  # type: ignore[attr-defined]
            "INSERT INTO sidecar_migrations (version, name) VALUES ($1, 'future')", future
        )
    await store.close()
    with pytest.raises(StorageError, match="newer than this sidecar"):
        await storage_factory().open()
