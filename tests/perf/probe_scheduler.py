"""Probe scheduling at scale: 1,000 HTTP probes against local aiohttp targets, lag, CPU and timing accuracy.

Usage (from the repository root):
    python tests/perf/probe_scheduler.py [--seconds 60] [--probes 1000] [--interval 5] [--event-loop uvloop]

The targets run in their own process (this script with ``--serve-targets``, aiohttp
on uvloop when installed), so their CPU is not the sidecar's. Paths, for 1,000 probes:
850 ``/ok/{n}`` (200 at once), 80 ``/slow/{n}`` (sleep 100-300 ms, fixed per n, then 200),
50 ``/fail/{n}`` (500 at once) and 20 ``/hang/{n}`` (no answer before the probe times out).
The target records every request: wall-clock arrival and end, and the time spent in the
handler (entry to just before returning; for slow paths, the sleep).
The sidecar is a fresh ``sidecar run`` whose config lists only the probes (interval
``--interval``, timeout 2 s, default ``expect_status``); ingest has no workers.
First runs are spread over one interval by design, so the script warms up for one
interval plus a second, then measures for ``--seconds``:
- sidecar CPU: utime + stime of the sidecar and its descendants (``/proc``), as % of one core,
  and per 1,000 probe executions (requests the target received in the window);
- schedule lag: ``sidecar_probe_schedule_lag_seconds`` bucket differences between the ``/metrics``
  scrapes that open and close the window (a histogram only bounds a percentile: the figure is the
  upper bound of its bucket; the opening scrape's own stall of the loop is inside the window), and,
  as a cross-check, the lag of each request's arrival at the target against its due time
  (``first_offset`` + k * interval, the common start estimated from the arrivals themselves);
- response-time accuracy: every successful run in the window (``GET /api/v1/probes/{name}/history``,
  raw; the last run of ``GET /api/v1/probes`` when history is not available) of an ok/slow probe,
  matched by path and time with the target's record: sidecar duration - target handling time
  (runs whose request reached the target before the window opened are left out).
Targets: lag p99 <= 50 ms, sidecar CPU <= 25 % of one core, response times within 2 ms of
the target's own (share reported; 99 % required). The CPU per 1,000 executions is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_throughput import percentile, start

from sidecar.probes import first_offset

READ = "bench-read-token-0123456789abcdef"
TIMEOUT = 2.0  # probe timeout, seconds
HANG = 30.0  # how long a hanging path sleeps: far past the timeout
MIX = (("ok", 0.85), ("slow", 0.08), ("fail", 0.05), ("hang", 0.02))
LAG_TARGET = 0.050  # seconds
CPU_TARGET = 25.0  # % of one core
ACCURACY = 0.002  # seconds
ACCURACY_SHARE = 99.0  # % of compared runs that must be within ACCURACY
TICK = os.sysconf("SC_CLK_TCK")


# --- the targets (their own process) -------------------------------------------------------------


def slow_delay(n: int) -> float:
    """How long ``/slow/{n}`` sleeps: 100-300 ms, fixed per n."""
    return 0.1 + 0.2 * (n % 21) / 20


async def serve_targets(port: int) -> None:
    from aiohttp import web

    # [path, arrival (wall), end (wall, None until answered), handling seconds (None until answered)]
    records: list[list[Any]] = []

    def handler(kind: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            entered = time.perf_counter()
            record: list[Any] = [request.path, time.time(), None, None]
            records.append(record)
            n = int(request.match_info["n"])
            if kind == "slow":
                await asyncio.sleep(slow_delay(n))
            elif kind == "hang":
                await asyncio.sleep(HANG)
            status = 500 if kind == "fail" else 200
            response = web.Response(status=status, text=kind)
            record[3] = time.perf_counter() - entered
            record[2] = time.time()
            return response

        return handle

    async def dump(request: web.Request) -> web.Response:
        since = float(request.query.get("since", "0"))
        return web.json_response([record for record in records if record[1] >= since])

    app = web.Application()
    for kind, _ in MIX:
        app.router.add_get(f"/{kind}/{{n}}", handler(kind))
    app.router.add_get("/records", dump)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"listening http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


# --- measuring the sidecar -----------------------------------------------------------------------


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid``, its reaped children and its live descendants."""
    children: dict[int, list[int]] = defaultdict(list)
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            stats[int(entry)] = fields
            children[int(fields[1])].append(int(entry))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        stack.extend(children.get(current, []))
        fields = stats.get(current)
        if fields is not None:  # fields[11:15]: utime stime cutime cstime
            total += sum(int(value) for value in fields[11:15])
    return total / TICK


def lag_buckets(text: str) -> dict[float, float]:
    """``le`` bound -> cumulative count of ``sidecar_probe_schedule_lag_seconds``."""
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("sidecar_probe_schedule_lag_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[math.inf if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The upper bound of the bucket holding quantile ``q`` of the observations between two scrapes."""
    bounds = sorted(after)
    total = after[math.inf] - before.get(math.inf, 0.0)
    for bound in bounds:
        if after[bound] - before.get(bound, 0.0) >= q * total:
            return bound
    return math.inf


def arrival_lags(
    records: list[list[Any]], paths: dict[str, str], interval: float, since: float, until: float
) -> list[float]:
    """Each request's arrival minus its due time, relative to the earliest (the common start is unknown)."""
    first: dict[str, float] = {}
    for path, arrival, *_ in records:
        first.setdefault(path, arrival)
    offsets = {path: first_offset(name, interval) for name, path in paths.items()}
    rough = min(first[path] - offsets[path] for path in first if path in offsets)
    shifts = [
        (arrival - offsets[path] - rough + interval / 2) % interval - interval / 2
        for path, arrival, *_ in records
        if since <= arrival < until and path in offsets
    ]
    if not shifts:
        return []
    earliest = min(shifts)
    return [shift - earliest for shift in shifts]


def parse_at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def fetch_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url} answered {response.status}: {(await response.text())[:200]}")
        return await response.json()


async def sidecar_runs(
    session: aiohttp.ClientSession, base: str, names: list[str], since: float, until: float
) -> tuple[dict[str, list[tuple[float, float]]], str]:
    """Successful runs per probe, (at, duration): all in the window from the history, or only the last ones."""
    since_text = datetime.fromtimestamp(since, tz=UTC).isoformat().replace("+00:00", "Z")
    until_text = datetime.fromtimestamp(until, tz=UTC).isoformat().replace("+00:00", "Z")
    limit = asyncio.Semaphore(8)

    async def history(name: str) -> tuple[str, list[tuple[float, float]]] | None:
        async with (
            limit,
            session.get(
                f"{base}/api/v1/probes/{name}/history",
                params={"resolution": "raw", "since": since_text, "until": until_text, "limit": "10000"},
            ) as response,
        ):
            if response.status != 200:
                return None
            results = (await response.json()).get("results") or []
        return name, [(parse_at(r["at"]), r["duration"]) for r in results if r["ok"]]

    runs: dict[str, list[tuple[float, float]]] = {}
    found = await asyncio.gather(*(history(name) for name in names))
    if all(item is not None for item in found):
        for item in found:
            assert item is not None
            runs[item[0]] = item[1]
        return runs, "every successful run in the window (probe history, raw)"
    listing = await fetch_json(session, f"{base}/api/v1/probes")
    for probe in listing["probes"]:
        last = probe.get("last_run")
        if probe["name"] in names and last is not None and last["ok"]:
            runs[probe["name"]] = [(parse_at(last["at"]), last["duration"])]
    return runs, "the last run of each probe (GET /api/v1/probes; no history route)"


def compare(
    runs: dict[str, list[tuple[float, float]]], paths: dict[str, str], records: list[list[Any]], since: float
) -> tuple[list[tuple[str, float]], int]:
    """(probe, sidecar duration - target handling time) per matched run, and how many runs found no record.

    Runs whose request reached the target before ``since`` are left out (they may have waited on the
    ``/metrics`` scrape that opens the window).
    """
    answered: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for path, arrival, end, handling in records:
        if end is not None:
            answered[path].append((end, handling, arrival))
    for values in answered.values():
        values.sort()
    differences, unmatched = [], 0
    for name, items in runs.items():
        ends = answered.get(paths[name], [])
        keys = [item[0] for item in ends]
        for at, duration in items:
            # The record ends before the sidecar records the run (``at`` is cut to the millisecond).
            index = bisect.bisect_right(keys, at + 0.001) - 1
            if index < 0 or at + 0.001 - keys[index] > 1.0:
                unmatched += 1
                continue
            if ends[index][2] >= since:
                differences.append((name, duration - ends[index][1]))
    return differences, unmatched


def probe_names(count: int) -> list[tuple[str, str]]:
    """(name, kind) for ``count`` probes, in the proportions of MIX."""
    kinds: list[str] = []
    for kind, share in MIX[1:]:
        kinds += [kind] * round(count * share)
    kinds = ["ok"] * (count - len(kinds)) + kinds
    seen: dict[str, int] = defaultdict(int)
    names = []
    for kind in kinds:
        names.append((f"{kind}-{seen[kind]:04d}", kind))
        seen[kind] += 1
    return names


def config_text(args: argparse.Namespace, target: str, probes: list[tuple[str, str]]) -> str:
    config = {
        "server": {"listen": "127.0.0.1:0", "event_loop": args.event_loop},
        "ingest": {"workers": 0},
        "auth": {
            "per_token": {"rate": 1_000_000, "burst": 1_000_000},
            "per_ip": {"rate": 1_000_000, "burst": 1_000_000},
        },
        "telemetry": {"logging": {"format": "json"}},
        "probes": [
            {
                "kind": "http",
                "name": name,
                "url": f"{target}/{kind}/{int(name.rsplit('-', 1)[1])}",
                "interval": args.interval,
                "timeout": TIMEOUT,
            }
            for name, kind in probes
        ],
    }
    return json.dumps(config, indent=1)  # JSON is YAML


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--event-loop", default="uvloop", choices=("uvloop", "asyncio"))
    parser.add_argument("--serve-targets", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_targets is not None:
        await serve_targets(args.serve_targets)
        return 0
    if args.interval <= TIMEOUT:
        parser.error(f"--interval must be above the probe timeout ({TIMEOUT:g} s)")

    probes = probe_names(args.probes)
    kinds = dict(probes)
    paths = {name: f"/{kind}/{int(name.rsplit('-', 1)[1])}" for name, kind in probes}
    counts = {kind: sum(1 for _, k in probes if k == kind) for kind, _ in MIX}
    warm_up = args.interval + 1.0
    targets, target_url = await start([sys.executable, __file__, "--serve-targets", "0"])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "bench.yaml"
            config.write_text(config_text(args, target_url, probes))
            sidecar, url = await start(
                [
                    sys.executable,
                    "-m",
                    "sidecar",
                    "run",
                    "--config",
                    str(config),
                    "--data-dir",
                    str(Path(tmp) / "data"),
                ],
                {"SIDECAR_API_TOKENS": f"read:read:{READ}"},
            )
            mix = ", ".join(f"{count} {kind}" for kind, count in counts.items())
            print(f"targets pid {targets.pid} at {target_url}; sidecar pid {sidecar.pid} at {url}", flush=True)
            print(f"{args.probes} http probes ({mix}), interval {args.interval:g} s, timeout {TIMEOUT:g} s")
            print(f"warm-up {warm_up:g} s, then {args.seconds:g} s measured", flush=True)
            try:
                async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {READ}"}) as session:
                    await asyncio.sleep(warm_up)
                    scraped = time.perf_counter()
                    exposition = await (await session.get(f"{url}/metrics")).text()
                    scrape = time.perf_counter() - scraped
                    lag_before = lag_buckets(exposition)
                    cpu_before, target_cpu_before = tree_cpu(sidecar.pid), tree_cpu(targets.pid)
                    began_wall, began = time.time(), time.perf_counter()
                    await asyncio.sleep(args.seconds)
                    cpu_after, target_cpu_after = tree_cpu(sidecar.pid), tree_cpu(targets.pid)
                    ended_wall, elapsed = time.time(), time.perf_counter() - began
                    lag_after = lag_buckets(await (await session.get(f"{url}/metrics")).text())
                    compared = [name for name, kind in probes if kind in ("ok", "slow")]
                    runs, source = await sidecar_runs(session, url, compared, began_wall, ended_wall)
                    records = await fetch_json(session, f"{target_url}/records")
            finally:
                sidecar.send_signal(signal.SIGTERM)
                await sidecar.wait()
    finally:
        targets.send_signal(signal.SIGTERM)
        await targets.wait()

    # Load: requests the target received in the window, and the scheduler's own count.
    received = sum(1 for record in records if began_wall <= record[1] < ended_wall)
    executions = lag_after.get(math.inf, 0.0) - lag_before.get(math.inf, 0.0)
    expected = args.probes * elapsed / args.interval
    cpu = cpu_after - cpu_before
    cpu_share = cpu / elapsed * 100
    per_thousand = cpu / received * 1000 if received else math.inf
    target_share = (target_cpu_after - target_cpu_before) / elapsed * 100

    # Lag: the histogram (bucket bounds) and the arrivals at the target.
    lag_p50 = bucket_quantile(lag_before, lag_after, 0.50)
    lag_p99 = bucket_quantile(lag_before, lag_after, 0.99)
    lag_max = bucket_quantile(lag_before, lag_after, 1.0)
    arrivals = arrival_lags(records, paths, args.interval, began_wall, ended_wall)
    arrivals = [lag for lag in arrivals if lag < args.interval / 2]  # a skipped start would read as early

    # Accuracy: sidecar duration minus target handling time, for successful ok/slow runs.
    in_window = {name: [(at, d) for at, d in items if began_wall <= at < ended_wall] for name, items in runs.items()}
    matched, unmatched = compare(in_window, paths, records, began_wall)
    differences = [difference for _, difference in matched]
    by_kind: dict[str, list[float]] = {"ok": [], "slow": []}
    for name, difference in matched:
        by_kind[kinds[name]].append(difference)
    within = sum(1 for d in differences if abs(d) <= ACCURACY) / len(differences) * 100 if differences else 0.0
    succeeded = sum(len(items) for items in in_window.values())

    def ms(seconds: float) -> str:
        return "inf" if math.isinf(seconds) else f"{seconds * 1000:.1f}"

    def dist(values: list[float]) -> str:
        if not values:
            return "-"
        return f"{percentile(values, 50):.2f} / {percentile(values, 99):.2f} / {max(values) * 1000:.2f}"

    lag_ok = lag_p99 <= LAG_TARGET
    cpu_ok = cpu_share <= CPU_TARGET
    accuracy_ok = bool(differences) and within >= ACCURACY_SHARE
    verdict = {True: "PASS", False: "FAIL"}
    print()
    print(f"{'measure':<66} {'figure':>24} {'target':>10}")
    rows = [
        ("window, s", f"{elapsed:.1f}", ""),
        ("probe executions: requests the target received", f"{received:,}", ""),
        ("probe executions: schedule lag histogram count", f"{executions:,.0f}", ""),
        ("probe executions expected (probes x window / interval)", f"{expected:,.0f}", ""),
        ("schedule lag p50, ms (histogram: bucket upper bound)", ms(lag_p50), ""),
        ("schedule lag p99, ms (histogram: bucket upper bound)", ms(lag_p99), f"<= {LAG_TARGET * 1000:.0f}"),
        ("schedule lag max, ms (histogram: bucket upper bound)", ms(lag_max), ""),
        ("arrival lag at the target p50 / p99 / max, ms (vs earliest)", dist(arrivals), ""),
        ("sidecar CPU, % of one core (process + descendants)", f"{cpu_share:.1f}", f"<= {CPU_TARGET:.0f}"),
        ("sidecar CPU seconds per 1,000 probe executions", f"{per_thousand:.3f}", ""),
        ("targets' CPU, % of one core (not counted above)", f"{target_share:.1f}", ""),
        ("one GET /metrics (opens the window): ms / KiB", f"{scrape * 1000:.0f} / {len(exposition) / 1024:.0f}", ""),
        ("ok/slow runs compared / successful runs ended in window", f"{len(differences):,}/{succeeded:,}", ""),
        ("  runs without a matching target record", f"{unmatched:,}", ""),
        ("sidecar - target, all, ms: p50 / p99 / max", dist(differences), ""),
        ("sidecar - target, /ok, ms: p50 / p99 / max", dist(by_kind["ok"]), ""),
        ("sidecar - target, /slow, ms: p50 / p99 / max", dist(by_kind["slow"]), ""),
        ("sidecar - target, min, ms", f"{min(differences) * 1000:.2f}" if differences else "-", ""),
        (f"share within {ACCURACY * 1000:.0f} ms, %", f"{within:.2f}", f">= {ACCURACY_SHARE:.0f}"),
    ]
    for name, figure, target in rows:
        print(f"{name:<66} {figure:>24} {target:>10}")
    print()
    print(f"compared: {source}")
    print("lag percentiles from the histogram are the upper bounds of the buckets holding them")
    print(f"{verdict[lag_ok]}  schedule lag p99 <= {LAG_TARGET * 1000:.0f} ms (bucket bound {ms(lag_p99)} ms)")
    print(f"{verdict[cpu_ok]}  sidecar CPU <= {CPU_TARGET:.0f}% of one core ({cpu_share:.1f}%)")
    print(
        f"{verdict[accuracy_ok]}  response times within {ACCURACY * 1000:.0f} ms of the target's: "
        f"{within:.2f}% of {len(differences):,} runs (required {ACCURACY_SHARE:.0f}%)"
    )
    print(f"info  CPU per 1,000 probe executions: {per_thousand:.3f} s ({received:,} executions)")
    return 0 if lag_ok and cpu_ok and accuracy_ok else 1


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        sys.exit(asyncio.run(main()))
    sys.exit(uvloop.run(main()))
