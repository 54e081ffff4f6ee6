"""Recording throughput of the RED statistics on one core, and what a scrape of the collector costs.

Run from the repository root:  .venv/bin/python tests/perf/stats_throughput.py [--observations N]

Observations (lognormal durations, median 50 ms) are recorded in batches of 500 while the clock
moves as it would at 100,000 observations per second, so buckets close and move up to the coarser
windows at their real pace. Every series is created before timing starts. "spans" rows include
``observation_from_span`` on span dicts. The goal is 100,000 observations per second; exits 1 below it.
After recording, the collector is scraped twice: once cold, once with nothing new (read caches hit).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sidecar.stats import Observation, Stats, StatsCollector, StatsConfig, observation_from_span

GOAL = 100_000
BATCH = 500
SIMULATED_RATE = 100_000  # observations per second of clock time
SEED = 20240601


@dataclass(frozen=True)
class Scenario:
    name: str
    series: int
    zipf: bool  # skewed traffic (a few hot routes), else uniform
    spans: bool  # start from span dicts, not observations


SCENARIOS = (
    Scenario("1 series", 1, False, False),
    Scenario("1,000 series, Zipf", 1_000, True, False),
    Scenario("10,000 series, uniform", 10_000, False, False),
    Scenario("1,000 series, Zipf, spans", 1_000, True, True),
)


def span(route: int, duration_s: float) -> dict[str, Any]:
    return {
        "name": "GET /api",
        "kind": "server",
        "duration_ms": duration_s * 1000,
        "status": "unset",
        "service": f"service-{route % 20}",
        "attributes": {
            "http.route": f"/api/v1/resource-{route}/{{id}}",
            "http.request.method": "GET",
            "http.response.status_code": 200,
        },
    }


def workload(scenario: Scenario, n: int) -> list[Any]:
    rng = np.random.default_rng(SEED)
    if scenario.zipf:
        routes = (rng.zipf(1.2, size=n) - 1) % scenario.series
    else:
        routes = rng.integers(0, scenario.series, size=n)
    durations = rng.lognormal(np.log(0.05), 0.8, size=n)
    errors = rng.random(n) < 0.01
    if scenario.spans:
        return [span(r, d) for r, d in zip(routes.tolist(), durations.tolist(), strict=True)]
    return [
        Observation("request", f"service-{r % 20}", f"/api/v1/resource-{r}/{{id}}", "GET", d, e, "2xx")
        for r, d, e in zip(routes.tolist(), durations.tolist(), errors.tolist(), strict=True)
    ]


def record(stats: Stats, clock: list[float], items: list[Any], convert: Callable[[Any], Any] | None) -> float:
    """Seconds to record ``items`` in batches while the clock moves at SIMULATED_RATE."""
    started = time.perf_counter()
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        if convert is None:
            stats.record_many(batch)
        else:
            stats.record_many(o for o in map(convert, batch) if o is not None)
        clock[0] += len(batch) / SIMULATED_RATE
    return time.perf_counter() - started


def run(scenario: Scenario, n: int) -> tuple[float, float, float]:
    clock = [1_000_000_000.0]
    stats = Stats(StatsConfig(), clock=lambda: clock[0])
    convert = observation_from_span if scenario.spans else None
    warm = workload(Scenario(scenario.name, scenario.series, False, scenario.spans), scenario.series)
    record(stats, clock, sorted(warm, key=id), convert)  # create every series before timing
    items = workload(scenario, n)
    rate = len(items) / record(stats, clock, items, convert)
    collector = StatsCollector(stats)
    started = time.perf_counter()
    list(collector.collect())
    cold = time.perf_counter() - started
    started = time.perf_counter()
    list(collector.collect())
    return rate, cold, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=2_000_000)
    args = parser.parse_args()
    print(f"{args.observations:,} observations per scenario, batches of {BATCH}, clock at {SIMULATED_RATE:,}/s")
    print()
    print(f"{'scenario':<28} {'obs/s':>10} {'':>4} {'scrape cold s':>13} {'scrape warm s':>13}")
    failed = False
    for scenario in SCENARIOS:
        rate, cold, warm = run(scenario, args.observations)
        verdict = "PASS" if rate >= GOAL else "FAIL"
        failed |= verdict == "FAIL"
        print(f"{scenario.name:<28} {rate:>10,.0f} {verdict:>4} {cold:>13.3f} {warm:>13.3f}")
    print()
    print(f"goal {GOAL:,} observations/s on one core:", "FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
