"""Log ingest throughput through HTTP, against a bare aiohttp endpoint, in the same run.

Usage (from the repository root):
    python tests/perf/ingest_throughput.py [--seconds 60] [--connections 8] [--workers auto] [--event-loop uvloop]

Bodies are NDJSON batches of 500 realistic records (about 40% carry PII), the
same for both servers and sent by the same load generator (this process):
1. the bare endpoint only reads the body and parses every line with orjson;
2. the sidecar (a fresh `sidecar run`: full redaction, fsynced spool, SQLite) acknowledges
   only durable records; its storage writer must keep up for the rate to be sustained;
3. the sidecar again, open loop at half the measured rate, for the acknowledgement latency.
Peak RSS is the sum over the sidecar process and its workers, sampled every 0.25 s.
Targets: >= 50,000 records/s, ratio >= 0.08, p99 at half rate <= 50 ms, peak RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from redaction_throughput import make_records  # noqa: E402 - shared record generator

BATCH = 500
TOKEN = "bench-ingest-token-0123456789abcdef"
READ = "bench-read-token-0123456789abcdef"


def bodies(count: int) -> list[bytes]:
    records = make_records(count * BATCH)
    return [b"\n".join(records[i : i + BATCH]) + b"\n" for i in range(0, len(records), BATCH)]


async def serve_bare(port: int) -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        records = [orjson.loads(line) for line in body.split(b"\n") if line]
        return web.json_response({"accepted": len(records), "rejected": []})

    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_post("/api/v1/logs", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"listening http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


async def start(args: list[str], env: dict[str, str] | None = None) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    assert process.stdout is not None
    seen: list[str] = []
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        if not line:
            raise RuntimeError("server exited before listening:\n" + "".join(seen[-20:]))
        seen.append(line)
        if "listening" in line:
            url = line.split("http://", 1)[1].split('"')[0].split()[0]
            asyncio.get_running_loop().create_task(_drain(process.stdout))
            return process, "http://" + url


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        stack.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


async def closed_loop(base: str, payloads: list[bytes], seconds: float, connections: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    accepted, refused, latencies = 0, 0, []
    deadline = time.perf_counter() + seconds

    async def one(session: aiohttp.ClientSession, offset: int) -> None:
        nonlocal accepted, refused
        index = offset
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            async with session.post(f"{base}/api/v1/logs", data=payloads[index % len(payloads)], headers=headers) as r:
                body = await r.read()
                if r.status == 200:
                    accepted += orjson.loads(body)["accepted"]
                    latencies.append(time.perf_counter() - sent)
                else:
                    refused += 1
                    await asyncio.sleep(float(r.headers.get("Retry-After", "0.1")) / 10)
            index += connections

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one(session, i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    return {
        "rate": accepted / elapsed,
        "accepted": accepted,
        "refused": refused,
        "elapsed": elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }


async def open_loop(base: str, payloads: list[bytes], seconds: float, rate: float) -> dict[str, float]:
    """Batches sent at a fixed pace (``rate`` records/s) whatever the answers: latency under a steady load."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    interval = BATCH / rate
    latencies: list[float] = []
    statuses: list[int] = []

    async def one(session: aiohttp.ClientSession, payload: bytes) -> None:
        sent = time.perf_counter()
        async with session.post(f"{base}/api/v1/logs", data=payload, headers=headers) as r:
            await r.read()
            statuses.append(r.status)
            latencies.append(time.perf_counter() - sent)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        tasks, start, index = [], time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            tasks.append(asyncio.create_task(one(session, payloads[index % len(payloads)])))
            index += 1
            await asyncio.sleep(max(0.0, start + index * interval - time.perf_counter()))
        await asyncio.gather(*tasks)
    return {
        "sent": index,
        "ok": statuses.count(200),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1000


async def count_stored(base: str, expected: int, seconds: float) -> tuple[int, float]:
    """How many records storage holds once the writer caught up (or the timeout passed), and when."""
    started = time.perf_counter()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {READ}"}) as session:
        while True:
            async with session.get(f"{base}/metrics") as r:
                text = await r.text()
            stored = next(
                (float(line.split()[-1]) for line in text.splitlines() if line.startswith("sidecar_logs_stored_total")),
                0.0,
            )
            if stored >= expected or time.perf_counter() - started > seconds:
                return int(stored), time.perf_counter() - started
            await asyncio.sleep(0.2)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", default="auto")
    parser.add_argument("--event-loop", default="uvloop", choices=("uvloop", "asyncio"))
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare is not None:
        await serve_bare(args.serve_bare)
        return 0

    payloads = bodies(200)
    print(f"{len(payloads)} bodies of {BATCH} records, {sum(map(len, payloads)) / len(payloads) / 1024:.0f} KiB each")

    bare, bare_url = await start([sys.executable, __file__, "--serve-bare", "0"])
    try:
        baseline = await closed_loop(bare_url, payloads, min(args.seconds, 20), args.connections)
    finally:
        bare.send_signal(signal.SIGTERM)
        await bare.wait()
    print(f"bare endpoint: {baseline['rate']:,.0f} records/s")

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(
            f"server: {{listen: '127.0.0.1:0', event_loop: {args.event_loop}}}\ningest: {{workers: {args.workers}}}\n"
            "auth: {per_token: {rate: 1000000, burst: 1000000}}\ntelemetry: {logging: {format: json}}\n"
        )
        tokens = {"SIDECAR_API_TOKENS": f"bench:ingest:{TOKEN},read:read:{READ}"}
        sidecar, url = await start(
            [sys.executable, "-m", "sidecar", "run", "--config", str(config), "--data-dir", str(Path(tmp) / "data")],
            tokens,
        )
        peak = 0

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, tree_rss(sidecar.pid))
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample())
        try:
            await asyncio.sleep(2)  # workers warm up
            full = await closed_loop(url, payloads, args.seconds, args.connections)
            stored, drain = await count_stored(url, full["accepted"], seconds=120)
            half = await open_loop(url, payloads, max(10.0, args.seconds / 3), full["rate"] / 2)
        finally:
            sampler.cancel()
            sidecar.send_signal(signal.SIGTERM)
            await sidecar.wait()

    ratio = full["rate"] / baseline["rate"]
    print()
    print(f"{'measure':<44} {'figure':>14} {'target':>12}")
    rows = [
        ("bare endpoint (read + parse), records/s", f"{baseline['rate']:,.0f}", ""),
        ("sidecar, records/s acknowledged (durable)", f"{full['rate']:,.0f}", ">= 50,000"),
        ("ratio sidecar / bare", f"{ratio:.3f}", ">= 0.08"),
        ("batches refused (429/503) during the run", f"{full['refused']:,.0f}", ""),
        ("stored when the writer caught up", f"{stored:,}/{full['accepted']:,.0f}", "all"),
        ("time for the writer to catch up after the run, s", f"{drain:.1f}", ""),
        ("ack latency p50 / p99 at full load, ms", f"{full['p50']:.1f} / {full['p99']:.1f}", ""),
        ("ack latency p50 / p99 at half rate, ms", f"{half['p50']:.1f} / {half['p99']:.1f}", "p99 <= 50"),
        ("half-rate batches answered 200", f"{half['ok']}/{half['sent']}", ""),
        ("peak RSS, sidecar + workers, MB", f"{peak / 2**20:.0f}", "<= 300"),
    ]
    for name, figure, target in rows:
        print(f"{name:<44} {figure:>14} {target:>12}")
    met = full["rate"] >= 50_000 and ratio >= 0.08 and half["p99"] <= 50 and peak <= 300 * 2**20
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
