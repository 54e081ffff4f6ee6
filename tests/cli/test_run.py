"""``sidecar run`` as a real process, and graceful shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp
import orjson

from sidecar.config import parse_config
from sidecar.http import create_app, serve
from tests.http.routes import TEST_ROUTES

ROOT = Path(__file__).resolve().parents[2]


async def _start_sidecar(tmp_path: Path, *args: str) -> tuple[asyncio.subprocess.Process, str, float]:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sidecar",
        "run",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        str(tmp_path / "d"),
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SIDECAR_API_TOKENS": ""},
    )
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        assert line, "sidecar exited before listening"
        event = orjson.loads(line)
        if event["event"] == "listening":
            return process, event["addresses"][0], started


async def test_run_serves_the_shipped_default_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process, base, started = await _start_sidecar(tmp_path)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 200
            ready_after = time.perf_counter() - started
            for _ in range(500):  # ingest workers warm up in the background
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        break
                await asyncio.sleep(0.02)
            assert response.status == 200
        # Loose bound for a loaded CI machine; tests/perf/startup.py measures it properly.
        assert ready_after < 5.0, f"took {ready_after:.2f}s to answer /healthz"
        assert (tmp_path / "d" / "sidecar.db").exists()  # the embedded SQLite default
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=15)
    assert code == 0
    rest = [orjson.loads(line) for line in (await process.stdout.read()).splitlines()]
    assert [e["event"] for e in rest][-2:] == ["shutting down", "stopped"]


async def test_run_refuses_an_invalid_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  listen: 127.0.0.1:0\n  shutdown_timeout: -5s\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sidecar",
        "run",
        "--config",
        str(bad),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=15)
    assert process.returncode == 1
    assert b"server.shutdown_timeout: a duration must not be negative" in err


async def test_run_fails_fast_when_storage_cannot_open(tmp_path: Path) -> None:
    config = tmp_path / "pg.yaml"
    config.write_text(
        "server: {listen: '127.0.0.1:0'}\n"
        "storage: {backend: postgres, postgres: {dsn: '${DSN}', connect_timeout: 1s}}\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sidecar",
        "run",
        "--config",
        str(config),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "DSN": "postgresql://u:pw-not-logged@127.0.0.1:1/x"},
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 1
    assert b"cannot start" in out and b"pw-not-logged" not in out


async def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    config = parse_config({"data_dir": str(tmp_path), "server": {"shutdown_timeout": "5s"}}, env={})
    app = create_app(config, routes=TEST_ROUTES)
    started: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(app, "127.0.0.1", 0, shutdown_timeout=5, started=started))
    base = (await asyncio.wait_for(started, 10))[0]
    async with aiohttp.ClientSession() as session:
        slow = asyncio.create_task(session.get(f"{base}/test/slow?s=1"))
        await asyncio.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)  # caught by serve's handler, not by pytest
        response = await asyncio.wait_for(slow, 10)
        assert response.status == 200 and await response.json() == {"slept": True}
        await asyncio.wait_for(server, 10)
        refused = False
        try:
            await session.get(f"{base}/healthz")
        except aiohttp.ClientConnectionError:
            refused = True
        assert refused, "the listener is closed after shutdown"
