"""``sidecar run`` as a real process, and graceful shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp

from sidecar.config import parse_config
from sidecar.http import create_app, serve
from tests.helpers import run_sidecar_to_exit, start_sidecar
from tests.http.routes import TEST_ROUTES


async def test_run_serves_the_shipped_default_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    started = time.perf_counter()
    sidecar = await start_sidecar("--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"))
    base = sidecar.url
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
        code = await sidecar.stop(signal.SIGTERM, within=15)
    assert code == 0
    assert [e["event"] for e in sidecar.events][-2:] == ["shutting down", "stopped"]


async def test_run_refuses_an_invalid_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  listen: 127.0.0.1:0\n  shutdown_timeout: -5s\n")
    code, out = await run_sidecar_to_exit("--config", str(bad), cwd=tmp_path)
    assert code == 1
    assert b"server.shutdown_timeout: a duration must not be negative" in out


async def test_run_fails_fast_when_storage_cannot_open(tmp_path: Path) -> None:
    config = tmp_path / "pg.yaml"
    config.write_text(
        "server: {listen: '127.0.0.1:0'}\n"
        "storage: {backend: postgres, postgres: {dsn: '${DSN}', connect_timeout: 1s}}\n"
    )
    code, out = await run_sidecar_to_exit(
        "--config", str(config), cwd=tmp_path, env={"DSN": "postgresql://u:pw-not-logged@127.0.0.1:1/x"}
    )
    assert code == 1
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


async def test_sighup_reloads_the_alert_rules_and_a_bad_file_keeps_the_current_ones(tmp_path: Path) -> None:
    rules = tmp_path / "alerts"
    rules.mkdir()
    rule = "rules:\n  - name: {name}\n    expr: storage_up == 0\n    labels: {{severity: P2}}\n"
    (rules / "a.yaml").write_text(rule.format(name="First"))
    config = tmp_path / "c.yaml"
    config.write_text(f"server: {{listen: '127.0.0.1:0'}}\nalerting: {{rules_dir: '{rules}'}}\n")
    token = "reader-token-0123456789abcdef"
    sidecar = await start_sidecar(
        "--config", str(config), "--data-dir", str(tmp_path / "d"), env={"SIDECAR_API_TOKENS": f"r:read:{token}"}
    )
    headers = {"Authorization": f"Bearer {token}"}

    async def names() -> list[str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{sidecar.url}/api/v1/alerts/rules", headers=headers) as response,
        ):
            return [r["name"] for r in (await response.json())["rules"]]

    async def after_hup(expected: list[str]) -> list[str]:
        sidecar.process.send_signal(signal.SIGHUP)
        for _ in range(250):
            found = await names()
            if found == expected:
                break
            await asyncio.sleep(0.02)
        return found

    try:
        assert await names() == ["First"]
        (rules / "b.yaml").write_text(rule.format(name="Second"))
        assert await after_hup(["First", "Second"]) == ["First", "Second"]
        (rules / "c.yaml").write_text(rule.format(name="Third").replace("storage_up", "storage_upp"))
        sidecar.process.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
        assert await names() == ["First", "Second"]  # the broken file changed nothing
    finally:
        code = await sidecar.stop(signal.SIGTERM, within=15)
    assert code == 0
    assert any(e["event"] == "reload failed; keeping the current configuration" for e in sidecar.events)


async def test_run_refuses_a_bad_alert_rule_with_its_file_and_line(tmp_path: Path) -> None:
    rules = tmp_path / "alerts"
    rules.mkdir()
    (rules / "a.yaml").write_text("rules:\n  - name: A\n    expr: latncy_p95 > 1\n    labels: {severity: P1}\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"server: {{listen: '127.0.0.1:0'}}\nalerting: {{rules_dir: '{rules}'}}\n")
    code, out = await run_sidecar_to_exit("--config", str(config), cwd=tmp_path)
    assert code == 1
    assert f"{rules}/a.yaml:3: expr column 1: unknown signal 'latncy_p95'".encode() in out
