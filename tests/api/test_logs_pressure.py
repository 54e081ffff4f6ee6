"""Ingest under bad input and pressure: compression, size limits, overload, storage outage."""

from __future__ import annotations

import asyncio
import gzip
import sqlite3
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from .test_logs import AUTH_IN, NDJSON, start, wait_stored


def ndjson(count: int, prefix: str = "m", pad: int = 0) -> bytes:
    return b"".join(
        orjson.dumps({"message": f"{prefix}-{i} write to jane{i}@example.com" + "x" * pad, "service": "api"}) + b"\n"
        for i in range(count)
    )


async def test_gzip_bodies_are_decompressed(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path)
    response = await client.post(
        "/api/v1/logs", data=gzip.compress(ndjson(50)), headers={**AUTH_IN, **NDJSON, "Content-Encoding": "gzip"}
    )
    assert response.status == 200 and (await response.json())["accepted"] == 50


async def test_decompression_bomb_is_413_not_memory(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path, ingest={"workers": 0, "max_body_size": "1MiB"})
    bomb = gzip.compress(b"\n" * (200 * 1024 * 1024), compresslevel=9)  # 200 MiB of newlines in ~200 KB
    assert len(bomb) < 1024 * 1024
    response = await client.post("/api/v1/logs", data=bomb, headers={**AUTH_IN, **NDJSON, "Content-Encoding": "gzip"})
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"


async def test_corrupt_gzip_is_400(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path)
    response = await client.post(
        "/api/v1/logs",
        data=b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 100,  # gzip header, invalid deflate block
        headers={**AUTH_IN, **NDJSON, "Content-Encoding": "gzip"},
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_request"


async def test_too_many_records_is_413(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path, ingest={"workers": 0, "max_records": 10})
    response = await client.post("/api/v1/logs", data=ndjson(11), headers={**AUTH_IN, **NDJSON})
    assert response.status == 413
    assert "limit is 10" in (await response.json())["error"]["message"]


async def test_all_rejected_is_422_with_the_reasons(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path)
    response = await client.post("/api/v1/logs", data=b"{bad\n[1]\n", headers={**AUTH_IN, **NDJSON})
    assert response.status == 422
    body = await response.json()
    assert body["error"]["code"] == "validation_failed"
    assert [r["index"] for r in body["error"]["details"]["rejected"]] == [0, 1]


async def test_overload_is_429_with_retry_after(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path, ingest={"workers": 0, "max_pending_batches": 1})
    body = ndjson(3000, pad=200)
    responses = await asyncio.gather(
        *(client.post("/api/v1/logs", data=body, headers={**AUTH_IN, **NDJSON}) for _ in range(6))
    )
    statuses = sorted(r.status for r in responses)
    assert 200 in statuses and 429 in statuses
    refused = next(r for r in responses if r.status == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert (await refused.json())["error"]["code"] == "rate_limited"


async def test_storage_outage_fills_the_spool_then_503_then_drains(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(
        aiohttp_client,
        tmp_path,
        spool={"fsync": False, "max_size": "256KiB", "segment_size": "64KiB"},
        storage={"sqlite": {"busy_timeout": "50ms"}},
    )
    database = tmp_path / "data" / "sidecar.db"
    blocker = sqlite3.connect(database, isolation_level=None, timeout=10, check_same_thread=False)
    # In a thread: the app's own transaction in progress needs the event loop to finish.
    await asyncio.to_thread(blocker.execute, "BEGIN EXCLUSIVE")  # storage is "down" for writers
    acked, statuses = 0, []
    try:
        first = await client.post("/api/v1/logs", data=ndjson(5, "first"), headers={**AUTH_IN, **NDJSON})
        acked += (await first.json())["accepted"]
        for _ in range(200):  # until the writer has seen the outage
            if "sidecar_storage_up 0.0" in await (await client.get("/metrics")).text():
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the writer never reported storage down")
        for i in range(40):
            response = await client.post(
                "/api/v1/logs", data=ndjson(50, f"b{i}", pad=100), headers={**AUTH_IN, **NDJSON}
            )
            statuses.append(response.status)
            if response.status == 200:
                acked += (await response.json())["accepted"]
            else:
                assert response.status == 503, await response.text()
                assert int(response.headers["Retry-After"]) >= 1
                break
        assert statuses[-1] == 503, "the spool should fill while storage is down"
        ready = await client.get("/readyz")
        assert ready.status == 503 and "storage is down" in (await ready.json())["error"]["message"]
    finally:
        await asyncio.to_thread(blocker.execute, "ROLLBACK")
        blocker.close()
    assert acked > 0
    stored = await wait_stored(client, acked, seconds=20)
    assert len(stored) == acked  # every acknowledged record arrives once storage is back
    assert (await client.get("/readyz")).status == 200


async def test_metrics_count_what_was_ingested(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path)
    await client.post("/api/v1/logs", data=ndjson(5) + b"{bad\n", headers={**AUTH_IN, **NDJSON})
    await wait_stored(client, 5)
    # Records are searchable once committed; the writer counts them right after: poll briefly.
    for _ in range(100):
        text = await (await client.get("/metrics")).text()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        if samples[("sidecar_logs_stored_total", ())] == 5:
            break
        await asyncio.sleep(0.02)
    assert samples[("sidecar_logs_received_total", (("level", "info"), ("service", "api")))] == 5
    assert samples[("sidecar_logs_rejected_total", (("reason", "invalid_json"),))] == 1
    assert samples[("sidecar_pii_redactions_total", (("kind", "email"),))] == 5
    assert samples[("sidecar_logs_stored_total", ())] == 5
    assert ("sidecar_spool_bytes", ()) in samples and ("sidecar_ingest_queue_depth", ()) in samples
    assert "jane" not in text  # no PII in any label


async def test_unknown_services_fold_into_other(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path, ingest={"workers": 0, "max_services": 2})
    body = b"".join(orjson.dumps({"service": f"svc{i}"}) + b"\n" for i in range(5))
    await client.post("/api/v1/logs", data=body, headers={**AUTH_IN, **NDJSON})
    text = await (await client.get("/metrics")).text()
    services = {
        s.labels["service"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "sidecar_logs_received_total"
    }
    assert services == {"svc0", "svc1", "other"}


async def test_a_batch_larger_than_the_whole_spool_is_413(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path, spool={"fsync": False, "max_size": "64KiB", "segment_size": "16KiB"})
    response = await client.post("/api/v1/logs", data=ndjson(400, pad=100), headers={**AUTH_IN, **NDJSON})
    assert response.status == 413
    assert "spool" in (await response.json())["error"]["message"]
    small = await client.post("/api/v1/logs", data=ndjson(5), headers={**AUTH_IN, **NDJSON})
    assert small.status == 200
