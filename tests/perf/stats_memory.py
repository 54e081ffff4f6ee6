"""Memory of the RED statistics per series, and the bound it gives at the default cardinality cap.

Run from the repository root:  .venv/bin/python tests/perf/stats_memory.py [--quick]

Each scenario records one simulated hour and ten seconds of traffic (a batch every 10 s), so every
bucket of the 1m, 5m and 1h windows holds data, then scrapes once (the read caches fill too).
tracemalloc measures what stays allocated; divided by the number of series that gives bytes per
series, and times ``StatsConfig().max_series`` the memory bound at that traffic. The last scenario
is the worst case at one byte per count: every bucket sketch at its bin limit. Counts take 1, 2, 4
or 8 bytes, as the largest count of a bucket needs, so the bounds for wider counts are computed
from it: each closed bucket and the open one hold ``bin_limit`` counts, each ``width - 1`` bytes more.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sidecar.stats import Observation, Stats, StatsCollector, StatsConfig

SEED = 20240601
STEP = 10.0  # seconds between batches: the width of the finest bucket
STEPS = 361  # one hour and one step: every bucket of every window is filled


@dataclass(frozen=True)
class Scenario:
    name: str
    series: int
    per_step: int  # observations per series per 10 s
    spread: str  # "lognormal": median 50 ms, sigma 0.8; "wide": log-uniform 1 ms .. 60 s; "limit": 1 us .. 13 min


SCENARIOS = (
    Scenario("0.1 req/s, lognormal", 200, 1, "lognormal"),
    Scenario("1 req/s, lognormal", 200, 10, "lognormal"),
    Scenario("10 req/s, lognormal", 50, 100, "lognormal"),
    Scenario("10 req/s, 1 ms..60 s", 50, 100, "wide"),
    Scenario("worst: bin limit", 2, 1100, "limit"),
)


def durations(rng: np.random.Generator, scenario: Scenario) -> list[float]:
    n = scenario.series * scenario.per_step
    if scenario.spread == "lognormal":
        return rng.lognormal(np.log(0.05), 0.8, size=n).tolist()
    if scenario.spread == "wide":
        return np.exp(rng.uniform(np.log(0.001), np.log(60.0), size=n)).tolist()
    # Every one of the 1024 bins of every bucket sketch: a log-spaced sweep over 1 us .. 8e8 us.
    return np.geomspace(1e-6, 790.0, num=scenario.per_step).tolist() * scenario.series


def measure(scenario: Scenario) -> float:
    """Bytes held per series once every bucket is full."""
    rng = np.random.default_rng(SEED)
    keys = [("request", f"service-{i % 20}", f"/api/v1/resource-{i}/{{id}}", "GET") for i in range(scenario.series)]
    order = [key for key in keys for _ in range(scenario.per_step)]
    clock = [1_000_000_000.0]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    stats = Stats(StatsConfig(), clock=lambda: clock[0])
    for _ in range(STEPS):
        values = durations(rng, scenario)
        stats.record_many(Observation(*key, value, False, "2xx") for key, value in zip(order, values, strict=True))
        clock[0] += STEP
    del values
    list(StatsCollector(stats).collect())
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / scenario.series


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the series (noisier figures)")
    args = parser.parse_args()
    config = StatsConfig()
    layout = ", ".join(f"{w.name} = {w.buckets} x {w.width:g} s" for w in config.windows)
    print(f"windows: {layout}; relative accuracy {config.relative_accuracy}, bin limit {config.bin_limit}")
    print(f"bound = bytes/series x max_series ({config.max_series:,})")
    print()
    print(f"{'scenario':<24} {'series':>6} {'obs/10 s':>10} {'bytes/series':>13} {'bound':>10}")
    for scenario in SCENARIOS:
        if args.quick:
            scenario = Scenario(scenario.name, max(1, scenario.series // 10), scenario.per_step, scenario.spread)
        per_series = measure(scenario)
        print(row(scenario.name, scenario.series, scenario.per_step, per_series, config.max_series))
    buckets = sum(window.buckets for window in config.windows) + 1  # the closed ones and the open one
    for width in (2, 4):  # a count above 255, above 65,535 in every bucket
        wider = per_series + (width - 1) * config.bin_limit * buckets
        print(row(f"worst, {width}-byte counts", "", "calculated", wider, config.max_series))
    return 0


def row(name: str, series: object, per_step: object, per_series: float, max_series: int) -> str:
    bound = per_series * max_series
    return f"{name:<24} {series:>6} {per_step:>10} {per_series:>13,.0f} {bound / 2**20:>7,.0f} MiB"


if __name__ == "__main__":
    sys.exit(main())
