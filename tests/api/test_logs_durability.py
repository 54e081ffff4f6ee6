"""Every acknowledged record survives a SIGKILL of the sidecar in the middle of a load."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import orjson

from tests.helpers import SidecarProcess, start_sidecar

INGEST, READ = "ingest-token-0123456789abcdef", "read-token-0123456789abcdef"
CONFIG = """
server: {listen: "127.0.0.1:0"}
ingest: {workers: 1}
auth: {per_token: {rate: 100000, burst: 100000}}
"""


async def start(tmp_path: Path) -> SidecarProcess:
    config = tmp_path / "sidecar.yaml"
    config.write_text(CONFIG)
    return await start_sidecar(
        "--config", str(config), "--data-dir", str(tmp_path / "data"),
        env={"SIDECAR_API_TOKENS": f"load:ingest:{INGEST},check:read:{READ}"},
    )  # fmt: skip


async def load(session: aiohttp.ClientSession, base: str, worker: int, acked: set[str], stop: asyncio.Event) -> None:
    batch = 0
    while not stop.is_set():
        ids = [f"w{worker}-b{batch}-r{i}" for i in range(100)]
        body = b"".join(
            orjson.dumps({"message": f"order {rid} by a{i}@example.com", "requestId": rid}) + b"\n"
            for i, rid in enumerate(ids)
        )
        try:
            async with session.post(
                f"{base}/api/v1/logs",
                data=body,
                headers={"Authorization": f"Bearer {INGEST}", "Content-Type": "application/x-ndjson"},
            ) as response:
                if response.status == 200 and (await response.json())["accepted"] == len(ids):
                    acked.update(ids)
        except aiohttp.ClientError:
            return  # the sidecar is gone
        batch += 1


async def stored_ids(base: str, expected: int) -> set[str]:
    found: set[str] = set()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {READ}"}) as session:
        for _ in range(300):  # the writer replays the spool after the restart
            found.clear()
            cursor = None
            while True:
                params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
                async with session.get(f"{base}/api/v1/logs", params=params) as response:
                    page = await response.json()
                found.update(record["request_id"] for record in page["records"])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            if len(found) >= expected:
                return found
            await asyncio.sleep(0.1)
    return found


async def test_acknowledged_records_survive_sigkill(tmp_path: Path) -> None:
    sidecar = await start(tmp_path)
    acked: set[str] = set()
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(load(session, sidecar.url, worker, acked, stop)) for worker in range(6)]
        for _ in range(200):
            if len(acked) >= 3000:
                break
            await asyncio.sleep(0.02)
        # Mid-load, requests in flight. stop() returns once every holder of the sidecar's
        # stdout is gone: its worker processes must exit with it, not linger as orphans.
        await sidecar.stop(signal.SIGKILL, within=15)
        stop.set()
        await asyncio.gather(*tasks)
    assert len(acked) >= 1000, "the load did not get going"

    restarted = await start(tmp_path)
    try:
        found = await stored_ids(restarted.url, len(acked))
    finally:
        assert await restarted.stop() == 0
    missing = acked - found
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:3]}"
