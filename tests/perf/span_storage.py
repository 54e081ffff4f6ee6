"""Span storage at scale: bulk insert throughput, then the latency of ``get_trace``.

Usage:
    python tests/perf/span_storage.py --backend sqlite|postgres [--spans N] [--path FILE] [--dsn DSN] [--keep]

Loads N synthetic spans (default 1,000,000; traces of 5-30 spans, several traces
in flight at once so a trace's spans land in more than one batch) through
``insert_spans`` in batches of 512, prints spans/s, then times ``get_trace`` on
50 random traces (median and p95), then retention deletes and ``count_spans``.
SQLite writes a fresh file (deleted afterwards unless --keep); PostgreSQL a fresh
schema (dropped afterwards unless --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sidecar.storage import PostgresStorage, SqliteStorage, Storage  # noqa: E402
from sidecar.traces import SpanRecord  # noqa: E402

BATCH = 512
LOOKUPS = 50
IN_FLIGHT = 64  # traces being emitted at once: their spans interleave
DAY_NS = 24 * 3600 * 10**9  # the spans cover one day, whatever N is
SERVICES = ["api", "auth", "billing", "search", "orders", "catalog", "ledger", "notify"]
ROUTES = ["/api/v1/orders/{id}", "/api/v1/users/{id}", "/api/v1/cart", "/api/v1/pay", "/healthz", "/api/v1/search"]
OPERATIONS = ["SELECT orders", "INSERT ledger", "GET redis", "POST /charge", "publish order.created", "render"]


class Synth:
    """Deterministic synthetic spans that look like a service mesh's traces."""

    def __init__(self, total: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.total = total
        self.start_ns = time.time_ns() - DAY_NS
        self.sizes: dict[str, int] = {}  # spans per trace
        self._in_flight: list[tuple[str, int, str]] = []  # (trace id, spans left, root span id)

    def batches(self) -> Iterator[list[SpanRecord]]:
        """The spans, BATCH at a time."""
        for first in range(0, self.total, BATCH):
            yield [self.span(index) for index in range(first, min(first + BATCH, self.total))]

    def span(self, index: int) -> SpanRecord:
        """Span number ``index``: the next span of one of the traces in flight."""
        rng = self.rng
        if len(self._in_flight) < IN_FLIGHT:
            trace, size = f"{rng.getrandbits(128):032x}", rng.randint(5, 30)
            self.sizes[trace] = size
            self._in_flight.append((trace, size, f"{rng.getrandbits(64):016x}"))
        slot = rng.randrange(len(self._in_flight))
        trace, left, root = self._in_flight[slot]
        if left == 1:
            self._in_flight[slot] = self._in_flight[-1]
            self._in_flight.pop()
        else:
            self._in_flight[slot] = (trace, left - 1, root)
        is_root = left == self.sizes[trace]
        start = self.start_ns + index * DAY_NS // self.total + rng.randint(0, 10**8)
        duration = int(rng.expovariate(1 / 20) * 10**6) + 1
        service = rng.choice(SERVICES)
        status = "error" if rng.random() < 0.02 else "unset"
        return {
            "trace_id": trace,
            "span_id": root if is_root else f"{rng.getrandbits(64):016x}",
            "parent_span_id": None if is_root else root,
            "name": f"GET {rng.choice(ROUTES)}" if is_root else rng.choice(OPERATIONS),
            "kind": "server" if is_root else rng.choice(("client", "internal")),
            "start": start,
            "end": start + duration,
            "duration_ms": duration / 1e6,
            "status": status,
            "status_message": "upstream timed out" if status == "error" else None,
            "service": service,
            "scope": "opentelemetry.instrumentation.aiohttp_client",
            "attributes": {
                "http.request.method": "GET",
                "http.route": rng.choice(ROUTES),
                "http.response.status_code": rng.choice((200, 200, 200, 404, 500)),
                "server.address": f"10.0.{rng.randint(0, 9)}.{rng.randint(1, 254)}",
                "enduser.id": f"usr_{rng.getrandbits(32):08x}",
            },
            "resource": {
                "service.name": service,
                "service.version": "1.4.2",
                "host.name": f"pod-{rng.getrandbits(20):05x}",
                "deployment.environment": "prod",
            },
            "events": (
                [{"name": "exception", "ts": start + 1, "attributes": {"exception.type": "TimeoutError"}}]
                if status == "error"
                else []
            ),
        }


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call()
    return time.perf_counter() - started, result


async def load(store: Storage, synth: Synth) -> float:
    """Insert every span; the seconds spent inside insert_spans."""
    spent = 0.0
    done = 0
    for number, batch in enumerate(synth.batches()):
        checkpoint = {"segment": 1, "offset": number}
        seconds, _ = await timed(lambda batch=batch, cp=checkpoint: store.insert_spans(batch, checkpoint=cp))
        spent += seconds
        done += len(batch)
        if number % 200 == 0:
            print(f"\r  {done:>10,} spans  {done / spent:>9,.0f} spans/s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return spent


async def lookups(store: Storage, synth: Synth) -> None:
    """get_trace on LOOKUPS random traces; every span must come back."""
    rng = random.Random(11)
    # Every trace but the last few in flight is complete.
    traces = rng.sample(list(synth.sizes)[:-IN_FLIGHT], LOOKUPS)
    samples = []
    for trace in traces:
        seconds, spans = await timed(lambda trace=trace: store.get_trace(trace))
        assert len(spans) == synth.sizes[trace], (trace, len(spans), synth.sizes[trace])
        samples.append(seconds * 1000)
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[-1]
    sizes = [synth.sizes[trace] for trace in traces]
    print(
        f"get_trace over {LOOKUPS} random traces ({min(sizes)}-{max(sizes)} spans): "
        f"median {statistics.median(samples):.2f} ms, p95 {p95:.2f} ms, max {max(samples):.2f} ms"
    )


async def retention(store: Storage, synth: Synth) -> None:
    """Delete the oldest 10 % of spans in batches of 5,000."""
    cutoff = synth.start_ns + DAY_NS // 10
    batches, deleted, started = 0, 0, time.perf_counter()
    while True:
        gone = await store.delete_spans(before_ns=cutoff, limit=5000)
        batches += 1
        deleted += gone
        if gone < 5000:
            break
    seconds = time.perf_counter() - started
    print(
        f"retention: deleted {deleted:,} spans in {batches} batches of <= 5,000: "
        f"{seconds:.2f} s, {deleted / max(seconds, 1e-9):,.0f} spans/s"
    )
    seconds, count = await timed(store.count_spans)
    print(f"count_spans: {count:,} in {seconds * 1000:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, help="SQLite file (default: a temporary one)")
    parser.add_argument(
        "--dsn", default=os.environ.get("SIDECAR_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    store: Storage
    if args.backend == "postgres":
        store, where = PostgresStorage(args.dsn, schema=schema, command_timeout=600), f"schema {schema}"
    else:
        store = SqliteStorage(args.path or Path(tempfile.mkdtemp(prefix="sidecar-bench-")) / "spans.db")
        where = str(store.path)
    await store.open()
    try:
        synth = Synth(args.spans)
        print(f"{args.backend}: loading {args.spans:,} spans in batches of {BATCH} ({where})", file=sys.stderr)
        wall = time.perf_counter()
        spent = await load(store, synth)
        wall = time.perf_counter() - wall
        print(
            f"insert_spans: {args.spans:,} spans in {spent:.1f} s = {args.spans / spent:,.0f} spans/s "
            f"(wall clock with span generation {wall:.1f} s; {len(synth.sizes):,} traces)"
        )
        if isinstance(store, PostgresStorage):
            await store.pool.execute("VACUUM ANALYZE spans")
            size = await store.pool.fetchval("SELECT pg_total_relation_size('spans')")
            print(f"spans table with indexes: {size / 2**20:,.0f} MiB")
        elif isinstance(store, SqliteStorage):
            files = [store.path, store.path.with_name(store.path.name + "-wal")]
            size = sum(path.stat().st_size for path in files if path.exists())
            print(f"database file and WAL: {size / 2**20:,.0f} MiB")
        await lookups(store, synth)
        await retention(store, synth)
    finally:
        await store.close()
        if not args.keep:
            if args.backend == "postgres":
                connection = await asyncpg.connect(args.dsn)
                await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
                await connection.close()
            elif isinstance(store, SqliteStorage) and args.path is None:
                shutil.rmtree(store.path.parent, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
