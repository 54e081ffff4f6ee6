"""Spool append throughput and latency, fsync on: 1, 8 and 64 concurrent appenders of 250 KB and 1 KB.

Usage: python tests/perf/spool_throughput.py [--seconds S] [--dir DIR]
250 KB stands for a batch of 500 log records, 1 KB for a single small one. Each case gets a fresh
spool under DIR (default: a temporary directory; put it on the disk you mean to measure). A stand-in
for the storage writer releases everything every 50 ms, so disk use stays bounded without adding reads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sidecar.ingest._spool import Spool

PAYLOADS = (250_000, 1_000)
CONCURRENCY = (1, 8, 64)


@dataclass(frozen=True)
class Result:
    payload: int
    appenders: int
    appends: int
    seconds: float
    fsyncs: int
    latencies: list[float]

    def row(self) -> str:
        cuts = statistics.quantiles(self.latencies, n=100)
        per_second = self.appends / self.seconds
        return (
            f"{self.payload:>9,} {self.appenders:>9} {per_second:>11,.0f} {per_second * self.payload / 1e6:>8.1f}"
            f" {self.fsyncs / self.seconds:>9,.0f} {self.appends / max(self.fsyncs, 1):>12.1f}"
            f" {cuts[49] * 1e3:>8.2f} {cuts[98] * 1e3:>8.2f}"
        )


HEADER = (
    f"{'payload B':>9} {'appenders':>9} {'appends/s':>11} {'MB/s':>8} {'fsyncs/s':>9} {'appends/fsync':>12}"
    f" {'p50 ms':>8} {'p99 ms':>8}"
)


async def release_everything(spool: Spool) -> None:
    while True:
        await asyncio.sleep(0.05)
        if (end := spool.end_position) is not None:
            spool.release(end)


async def run_case(directory: Path, payload_size: int, appenders: int, seconds: float) -> Result:
    spool = Spool(directory, max_bytes=8 * 2**30, fsync=True)
    await spool.open()
    payload = os.urandom(payload_size)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def appender() -> None:
        while (started := time.perf_counter()) < deadline:
            await spool.append(payload)
            latencies.append(time.perf_counter() - started)

    releaser = asyncio.create_task(release_everything(spool))
    started = time.perf_counter()
    await asyncio.gather(*(appender() for _ in range(appenders)))
    elapsed = time.perf_counter() - started
    releaser.cancel()
    await spool.close()
    return Result(payload_size, appenders, len(latencies), elapsed, spool.stats.fsyncs, latencies)


async def main(seconds: float, base: Path) -> None:
    print(HEADER)
    for payload_size in PAYLOADS:
        for appenders in CONCURRENCY:
            with tempfile.TemporaryDirectory(dir=base) as directory:
                result = await run_case(Path(directory) / "spool", payload_size, appenders, seconds)
            print(result.row(), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each case")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where to put the spools")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.seconds, arguments.dir))
