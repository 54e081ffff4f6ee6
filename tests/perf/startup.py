"""Time from ``sidecar run`` (a fresh process, shipped default config) to the first 200 on
/healthz (serving) and on /readyz (storage open, ingest workers started).

Usage: python tests/perf/startup.py [RUNS]
The ceiling is 2 s; the script exits 1 if the slowest run to /readyz exceeds it.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.helpers import start_sidecar  # noqa: E402 - after the path is set

CEILING = 2.0


async def one_run(data_dir: str) -> tuple[float, float]:
    started = time.perf_counter()
    sidecar = await start_sidecar("--listen", "127.0.0.1:0", "--data-dir", data_dir)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{sidecar.url}/healthz") as response:
                assert response.status == 200
            healthy = time.perf_counter() - started
            while True:
                async with session.get(f"{sidecar.url}/readyz") as response:
                    if response.status == 200:
                        return healthy, time.perf_counter() - started
                await asyncio.sleep(0.01)
    finally:
        await sidecar.stop()


async def main(runs: int) -> int:
    healthz, readyz = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as data_dir:
            healthy, ready = await one_run(data_dir)
            healthz.append(healthy)
            readyz.append(ready)
    for name, timings in (("healthz", healthz), ("readyz", readyz)):
        print(f"{name}: runs={runs} median={statistics.median(timings):.3f}s max={max(timings):.3f}s")
    print(f"ceiling={CEILING:.1f}s")
    return 0 if max(readyz) <= CEILING else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)))
