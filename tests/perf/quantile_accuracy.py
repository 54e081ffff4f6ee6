"""Quantile accuracy of the windowed DDSketch against exact quantiles, next to a classic Prometheus histogram.

Run from the repository root:  .venv/bin/python tests/perf/quantile_accuracy.py [--samples N]

For each distribution, N samples (seconds, fixed seed) go through ``Stats`` into one window; p50,
p95 and p99 are compared with ``numpy.percentile(method="lower")``, the element at rank
floor(q * (n - 1)), which is the rank DDSketch estimates. The histogram column is what
``histogram_quantile`` makes of prometheus_client's default buckets (linear interpolation inside
the bucket). Each sketch cell must be within 1 %; exits 1 if any is not.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from prometheus_client import Histogram

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sidecar.stats import QUANTILES, Observation, Stats, StatsConfig

CEILING = 0.01
SEED = 20240601


def lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(mean=np.log(0.05), sigma=1.0, size=n)  # median 50 ms


def pareto(rng: np.random.Generator, n: int) -> np.ndarray:
    return 0.01 * (1 + rng.pareto(1.16, size=n))  # the 80/20 shape, from 10 ms; max about 20 min


def bimodal(rng: np.random.Generator, n: int) -> np.ndarray:
    hits = rng.normal(0.02, 0.003, size=n)  # cache hits around 20 ms
    misses = rng.normal(0.3, 0.05, size=n)  # misses around 300 ms, 30 % of requests
    return np.clip(np.where(rng.random(n) < 0.7, hits, misses), 1e-4, None)


def uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(0.001, 1.0, size=n)


def constant(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.full(n, 0.137)  # between two default bucket bounds, as real latencies are


DISTRIBUTIONS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "lognormal": lognormal,
    "pareto": pareto,
    "bimodal": bimodal,
    "uniform": uniform,
    "constant": constant,
}


def sketch_quantiles(samples: np.ndarray) -> tuple[list[float], float]:
    """p50, p95, p99 from one window of ``Stats``, and the recording rate (observations per second)."""
    stats = Stats(StatsConfig(), clock=lambda: 1_000_000.0)
    observations = [Observation("request", "bench", "/", "GET", value, False, "2xx") for value in samples.tolist()]
    started = time.perf_counter()
    stats.record_many(observations)
    rate = len(observations) / (time.perf_counter() - started)
    result = stats.lookup("bench", "/", "1m")
    return [result.p50, result.p95, result.p99], rate  # type: ignore[list-item]


def histogram_quantile(q: float, bounds: list[float], counts: np.ndarray) -> float:
    """PromQL's histogram_quantile over one classic histogram (``counts`` per bucket, the last +Inf)."""
    cumulative = np.cumsum(counts)
    rank = q * cumulative[-1]
    index = int(np.searchsorted(cumulative, rank, side="left"))
    if index == len(bounds):  # in +Inf: PromQL answers the largest finite bound
        return bounds[-1]
    lower = bounds[index - 1] if index > 0 else 0.0
    below = cumulative[index - 1] if index > 0 else 0
    return lower + (bounds[index] - lower) * (rank - below) / (cumulative[index] - below)


def histogram_quantiles(samples: np.ndarray) -> list[float]:
    bounds = [b for b in Histogram.DEFAULT_BUCKETS if b != float("inf")]
    # side="left": a sample equal to a bound falls in that bound's "le" bucket, as in the client.
    counts = np.bincount(np.searchsorted(bounds, samples, side="left"), minlength=len(bounds) + 1)
    return [histogram_quantile(q, bounds, counts) for q in QUANTILES]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    args = parser.parse_args()
    alpha = StatsConfig().relative_accuracy
    print(f"{args.samples:,} samples per distribution, DDSketch relative accuracy {alpha}, ceiling {CEILING:.0%}")
    print(f"exact: numpy.percentile(method='lower'); histogram: default buckets {Histogram.DEFAULT_BUCKETS[:-1]}")
    print()
    print(f"{'distribution':<12} {'q':>5} {'exact s':>11} {'sketch s':>11} {'sketch err':>10} {'':>4}", end="")
    print(f" {'hist s':>11} {'hist err':>9}")
    failed = 0
    for name, draw in DISTRIBUTIONS.items():
        samples = draw(np.random.default_rng(SEED), args.samples)
        sketch, rate = sketch_quantiles(samples)
        histogram = histogram_quantiles(samples)
        for q, estimate, classic in zip(QUANTILES, sketch, histogram, strict=True):
            exact = float(np.percentile(samples, q * 100, method="lower"))
            error, classic_error = abs(estimate - exact) / exact, abs(classic - exact) / exact
            verdict = "PASS" if error <= CEILING else "FAIL"
            failed += verdict == "FAIL"
            print(
                f"{name:<12} {q:>5} {exact:>11.6f} {estimate:>11.6f} {error:>10.4%} {verdict:>4}"
                f" {classic:>11.6f} {classic_error:>9.2%}"
            )
        print(f"{'':<12} recorded at {rate:,.0f} observations/s")
    print()
    print("FAIL" if failed else "PASS", f"({failed} cells above {CEILING:.0%})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
