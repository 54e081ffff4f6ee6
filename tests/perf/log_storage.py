"""Log storage at scale: bulk insert throughput, then the latency of every search filter.

Usage:
    python tests/perf/log_storage.py --backend sqlite|postgres [--records N] [--path FILE] [--dsn DSN]
                                     [--without-fts] [--keep]

Loads N synthetic records (default 1,000,000) through ``insert_logs`` in batches of 500,
prints rows/s, then runs each search 20 times (limit 100, varied arguments) and prints
the median and p95, then times retention deletes and ``count_logs``. SQLite writes a
fresh file (deleted afterwards unless --keep); PostgreSQL a fresh schema (dropped
afterwards unless --keep). ``--without-fts`` drops SQLite's full-text triggers and
times the inserts alone, to show what the full-text index costs.
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
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sidecar.logs import SEVERITY, LogQuery, LogRecord, level_of  # noqa: E402
from sidecar.storage import PostgresStorage, SqliteStorage, Storage  # noqa: E402

BATCH = 500
RUNS = 20
SPAN_NS = 24 * 3600 * 10**9  # the records cover one day, whatever N is
SERVICES = [
    f"svc-{name}"
    for name in (
        "api",
        "auth",
        "billing",
        "search",
        "mailer",
        "worker",
        "gateway",
        "media",
        "orders",
        "catalog",
        "ledger",
        "notify",
        "export",
        "admin",
        "cron",
        "ai",
    )
]
ACTIONS = [
    f"{noun}.{verb}"
    for noun in ("order", "user", "invoice", "session", "file", "payment", "cart", "report")
    for verb in ("create", "update", "delete", "view", "export", "retry")
]
LEVEL_WEIGHTS = {"debug": 20, "info": 68, "warn": 7, "error": 4.5, "fatal": 0.5}
WORDS = (
    "request",
    "handled",
    "cache",
    "miss",
    "upstream",
    "timeout",
    "retry",
    "connection",
    "pool",
    "exhausted",
    "payment",
    "declined",
    "user",
    "session",
    "expired",
    "token",
    "refreshed",
    "invoice",
    "generated",
    "queue",
    "backlog",
    "slow",
    "query",
    "index",
    "rebuilt",
    "webhook",
    "delivered",
    "mail",
    "bounced",
    "rate",
    "limited",
    "circuit",
    "opened",
    "closed",
    "half",
    "shard",
    "rebalanced",
    "disk",
    "pressure",
)
TEMPLATES = (
    "{w} {w} in {ms} ms",
    "GET /api/v1/{w}/{n} returned {code}",
    "{w} {w} {w} for order ord_{n}",
    "upstream {svc} {w} after {ms} ms ({w})",
    "job {w}-{n} finished: {w} {w}",
)


class Synth:
    """Deterministic synthetic records that look like a production backend's logs."""

    def __init__(self, total: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.total = total
        self.start_ns = time.time_ns() - SPAN_NS
        self.users = [f"usr_{self.rng.getrandbits(48):012x}" for _ in range(20_000)]
        self.levels = list(LEVEL_WEIGHTS)
        self.weights = list(LEVEL_WEIGHTS.values())
        self.request_id = uuid.uuid4().hex
        self.trace_id = f"{self.rng.getrandbits(128):032x}"
        self.samples: dict[str, list[Any]] = {"request_id": [], "trace_id": [], "user": [], "order": []}

    def batches(self) -> Iterator[list[LogRecord]]:
        """The records, BATCH at a time."""
        for first in range(0, self.total, BATCH):
            yield [self.record(index) for index in range(first, min(first + BATCH, self.total))]

    def record(self, index: int) -> LogRecord:
        """Record number ``index``; requests span several records, timestamps jitter by up to 2 s."""
        rng = self.rng
        if rng.random() < 0.15:
            self.request_id = uuid.UUID(int=rng.getrandbits(128)).hex
            self.trace_id = f"{rng.getrandbits(128):032x}"
            if rng.random() < 0.01:
                self.samples["request_id"].append(self.request_id)
                self.samples["trace_id"].append(self.trace_id)
        level = rng.choices(self.levels, self.weights)[0]
        ts = self.start_ns + index * SPAN_NS // self.total + rng.randint(-2 * 10**9, 0)
        user = rng.choice(self.users) if rng.random() < 0.4 else None
        if user is not None and rng.random() < 0.001:
            self.samples["user"].append(user)
        message = self.message()
        error = None
        if SEVERITY[level] >= SEVERITY["error"]:
            error = {"type": "TimeoutError", "message": f"{rng.choice(WORDS)} timed out", "stack": "  File x.py"}
        return {
            "ts": ts,
            "observed": ts + rng.randint(1, 10**8),
            "severity": SEVERITY[level],
            "level": level_of(SEVERITY[level]),
            "service": rng.choice(SERVICES),
            "message": message,
            "request_id": self.request_id if rng.random() < 0.9 else None,
            "trace_id": self.trace_id if rng.random() < 0.6 else None,
            "span_id": f"{rng.getrandbits(64):016x}",
            "user": user,
            "action": rng.choice(ACTIONS) if rng.random() < 0.5 else None,
            "duration_ms": round(rng.expovariate(1 / 40), 3),
            "error": error,
            "attributes": {
                "http.status": rng.choice((200, 200, 200, 404, 500)),
                "region": "eu-west-1",
                "version": "1.4.2",
            },
        }

    def message(self) -> str:
        """A templated message; order ids (``ord_<n>``) make rare terms, WORDS common ones."""
        rng = self.rng
        template = rng.choice(TEMPLATES)
        order = rng.randint(1, 10**7)
        if "ord_" in template and rng.random() < 0.002:
            self.samples["order"].append(order)
        out = template
        while "{w}" in out:
            out = out.replace("{w}", rng.choice(WORDS), 1)
        return out.format(ms=rng.randint(1, 900), n=order, code=rng.choice((200, 404, 500)), svc=rng.choice(SERVICES))


def queries(synth: Synth) -> dict[str, Callable[[random.Random], LogQuery]]:
    """Each benchmarked search, as a factory of queries with varied arguments."""
    s = synth.samples

    def window(rng: random.Random) -> LogQuery:
        since = synth.start_ns + rng.randrange(SPAN_NS - 3600 * 10**9)
        return LogQuery(since_ns=since, until_ns=since + 3600 * 10**9)

    def after(rng: random.Random) -> tuple[int, int]:
        return synth.start_ns + rng.randrange(SPAN_NS), 2**62

    return {
        "newest (no filter)": lambda rng: LogQuery(),
        "time window 1 h": window,
        "deep page (after=)": lambda rng: LogQuery(after=after(rng)),
        "min_severity=warn": lambda rng: LogQuery(min_severity=SEVERITY["warn"]),
        "min_severity=error": lambda rng: LogQuery(min_severity=SEVERITY["error"]),
        "min_severity=fatal": lambda rng: LogQuery(min_severity=SEVERITY["fatal"]),
        "service": lambda rng: LogQuery(service=rng.choice(SERVICES)),
        "request_id": lambda rng: LogQuery(request_id=rng.choice(s["request_id"])),
        "trace_id": lambda rng: LogQuery(trace_id=rng.choice(s["trace_id"])),
        "user": lambda rng: LogQuery(user=rng.choice(s["user"])),
        "action": lambda rng: LogQuery(action=rng.choice(ACTIONS)),
        "text: rare term": lambda rng: LogQuery(text=f"ord_{rng.choice(s['order'])}"),
        "text: common term": lambda rng: LogQuery(text=rng.choice(WORDS)),
        "text: 2 terms": lambda rng: LogQuery(text=f"{rng.choice(WORDS)} {rng.choice(WORDS)}"),
        "text: 3 terms, 1 rare": lambda rng: LogQuery(text=f"for order ord_{rng.choice(s['order'])}"),
        "service+error+1 h": lambda rng: replace(
            window(rng), service=rng.choice(SERVICES), min_severity=SEVERITY["error"]
        ),
        "user+action": lambda rng: LogQuery(user=rng.choice(s["user"]), action=rng.choice(ACTIONS)),
        "service+text": lambda rng: LogQuery(service=rng.choice(SERVICES), text=rng.choice(WORDS)),
    }


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call()
    return time.perf_counter() - started, result


async def load(store: Storage, synth: Synth) -> float:
    """Insert every record; the seconds spent inside insert_logs."""
    spent = 0.0
    done = 0
    for number, batch in enumerate(synth.batches()):
        checkpoint = {"segment": 1, "offset": number}
        seconds, _ = await timed(lambda batch=batch, cp=checkpoint: store.insert_logs(batch, checkpoint=cp))
        spent += seconds
        done += len(batch)
        if number % 200 == 0:
            print(f"\r  {done:>10,} rows  {done / spent:>9,.0f} rows/s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return spent


async def search_table(store: Storage, synth: Synth) -> None:
    rng = random.Random(11)
    print(f"\n{'search (limit 100)':<24} {'median ms':>10} {'p95 ms':>10} {'rows':>6}")
    for name, make in queries(synth).items():
        samples, rows = [], 0
        for _ in range(RUNS):
            seconds, page = await timed(lambda make=make: store.search_logs(replace(make(rng), limit=100)))
            samples.append(seconds * 1000)
            rows += len(page.records)
        p95 = statistics.quantiles(samples, n=20, method="inclusive")[-1]
        print(f"{name:<24} {statistics.median(samples):>10.2f} {p95:>10.2f} {rows / RUNS:>6.0f}")


async def retention(store: Storage, synth: Synth) -> None:
    """Delete the oldest 10 % of debug records in batches of 5,000."""
    cutoff = synth.start_ns + SPAN_NS // 10
    batches, deleted, started = 0, 0, time.perf_counter()
    while True:
        gone = await store.delete_logs(min_severity=1, max_severity=8, before_ns=cutoff, limit=5000)
        batches += 1
        deleted += gone
        if gone < 5000:
            break
    seconds = time.perf_counter() - started
    print(
        f"\nretention: deleted {deleted:,} debug rows in {batches} batches of <= 5,000: "
        f"{seconds:.2f} s, {deleted / max(seconds, 1e-9):,.0f} rows/s"
    )
    seconds, count = await timed(store.count_logs)
    print(f"count_logs: {count:,} in {seconds * 1000:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, help="SQLite file (default: a temporary one)")
    parser.add_argument(
        "--dsn", default=os.environ.get("SIDECAR_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument(
        "--without-fts", action="store_true", help="SQLite only: drop the full-text triggers, time inserts only"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    store: Storage
    if args.backend == "postgres":
        store, where = PostgresStorage(args.dsn, schema=schema, command_timeout=600), f"schema {schema}"
    else:
        store = SqliteStorage(args.path or Path(tempfile.mkdtemp(prefix="sidecar-bench-")) / "logs.db")
        where = str(store.path)
    await store.open()
    try:
        if isinstance(store, SqliteStorage) and args.without_fts:
            for trigger in ("log_blocks_fts_insert", "log_blocks_fts_delete", "log_blocks_fts_update"):
                await store.write(lambda db, trigger=trigger: db.execute(f"DROP TRIGGER {trigger}"))
        synth = Synth(args.records)
        print(f"{args.backend}: loading {args.records:,} records in batches of {BATCH} ({where})", file=sys.stderr)
        wall = time.perf_counter()
        spent = await load(store, synth)
        wall = time.perf_counter() - wall
        print(
            f"insert_logs: {args.records:,} rows in {spent:.1f} s = {args.records / spent:,.0f} rows/s "
            f"(wall clock with record generation {wall:.1f} s)"
        )
        if isinstance(store, PostgresStorage):
            await store.pool.execute("VACUUM ANALYZE logs")
        else:
            print(f"database file: {store.path.stat().st_size / 2**20:,.0f} MiB")
        if not args.without_fts:  # searches need the full-text index
            await search_table(store, synth)
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
