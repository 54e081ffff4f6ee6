"""Shared fixtures: configs, both storage backends (real SQLite and PostgreSQL), clients."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from sidecar.config import Config, parse_config
from sidecar.http import Route, create_app
from sidecar.storage import PostgresStorage, SqliteStorage, Storage

POSTGRES_DSN = os.environ.get("SIDECAR_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"

_postgres_reachable: bool | None = None


async def _check_postgres() -> bool:
    global _postgres_reachable
    if _postgres_reachable is None:
        try:
            connection = await asyncpg.connect(POSTGRES_DSN, timeout=3)
            await connection.close()
            _postgres_reachable = True
        except (TimeoutError, OSError, asyncpg.PostgresError):
            _postgres_reachable = False
    return _postgres_reachable


async def require_postgres() -> None:
    """Skip loudly when no server is reachable; under CI=true fail instead."""
    if not await _check_postgres():
        reason = f"PostgreSQL is not reachable at SIDECAR_TEST_POSTGRES_DSN ({POSTGRES_DSN})"
        if IN_CI:
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests")
        pytest.skip(f"SKIPPING POSTGRES TESTS: {reason}")


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema, dropped after the test."""
    await require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield schema
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


def make_storage(backend: str, tmp_path: Path, schema: str | None) -> Storage:
    """An unopened storage of ``backend``."""
    if backend == "postgres":
        assert schema is not None
        return PostgresStorage(POSTGRES_DSN, schema=schema, min_size=1, max_size=4)
    return SqliteStorage(tmp_path / "sidecar.db")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Each storage backend in turn."""
    return request.param


@pytest.fixture
async def storage_factory(backend: str, tmp_path: Path) -> AsyncIterator[Callable[[], Storage]]:
    """Makes unopened storages of the current backend sharing one database; closes them after."""
    made: list[Storage] = []
    pg = None
    if backend == "postgres":
        await require_postgres()
        pg = f"t_{uuid.uuid4().hex[:12]}"

    def factory() -> Storage:
        storage = make_storage(backend, tmp_path, pg)
        made.append(storage)
        return storage

    yield factory
    for storage in made:
        await storage.close()
    if pg is not None:
        connection = await asyncpg.connect(POSTGRES_DSN)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{pg}" CASCADE')
        finally:
            await connection.close()


@pytest.fixture
async def storage(storage_factory: Callable[[], Storage]) -> AsyncIterator[Storage]:
    """An opened storage of the current backend."""
    store = storage_factory()
    await store.open()
    yield store


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """Builds a Config from a YAML-like dict, with the data directory in ``tmp_path``."""

    def build(raw: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Config:
        raw = dict(raw or {})
        raw.setdefault("data_dir", str(tmp_path / "data"))
        return parse_config(raw, env=env or {})

    return build


MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_client(aiohttp_client: Any, make_config: Callable[..., Config]) -> MakeClient:
    """Starts the real app on a loopback port and returns a client for it."""

    async def start(
        raw: dict[str, Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        routes: tuple[Route, ...] = (),
        **kwargs: Any,
    ) -> TestClient:
        config = make_config(raw, env)
        return await aiohttp_client(create_app(config, routes=routes, **kwargs))

    return start
