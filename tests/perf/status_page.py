"""Heavy polling of the public status JSON, against a bare aiohttp endpoint serving the same bytes, in the same run.

Usage (from the repository root):
    python tests/perf/status_page.py [--seconds 20] [--connections 64] [--event-loop uvloop] [--py-spy OUT]

The sidecar is a fresh ``sidecar run`` (no ingest workers) whose config has four
probes and five public components: two TCP probes against a local listener, one
HTTP probe against a local aiohttp target (both served by this process) and one
TCP probe against a closed port (it goes down, so the page is not all green);
one component has no probe. All load comes from 127.0.0.1, so the anonymous
per-client-address limiter is raised out of the way (``auth.per_ip: {rate:
1000000, burst: 1000000}``; the default, 50/s with bursts of 100, would answer
almost every request 429). Logging stays at ``info``: the ``listening`` line this
script waits for is logged at info, and no line is logged per successful request.
The bare endpoint (this script with ``--serve-bare``, a minimal aiohttp app on the
same event loop kind) serves the sidecar's own ``summary.json`` bytes from memory
with the same headers (ETag, Cache-Control, CORS) and the same 304 rule.

The load generator runs in its own process (this script with ``--load``, aiohttp
client on uvloop), not on the event loop of this process: the machine has 2 cores,
one for the server under test and one for the generator. Closed loop, N keep-alive
connections (``TCPConnector(limit=N)``), each sending its next request when the
previous answer is read; a 2 s warm-up, then ``--seconds`` measured. Two modes on
``GET /api/v2/summary.json``, each against both servers:
(a) plain GETs: 200 with the body (length checked);
(b) conditional GETs with ``If-None-Match: <ETag>``: 304 without a body; like a well-behaved
    poller, a 200 (the page changed since) gives the ETag to send from then on, and
    both 200s and 304s count as answered.
Latency is per request as the generator sees it (send to body read), so it includes
the generator's own scheduling. CPU columns, as % of one core over the measured window:
the server process (utime + stime), the generator (its process time), and everything
else on the machine (``/proc/stat`` busy time minus both): a noisy neighbour shows there.
``--py-spy OUT`` afterwards runs mode (a) once more, unmeasured, with ``py-spy record
--format raw`` attached to the sidecar, and writes the collapsed stacks to OUT.
Targets (mode a, sidecar): >= 5,000 requests/s, p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_throughput import percentile, start, tree_rss

PATH = "/api/v2/summary.json"
TARGET_RATE = 5_000
TARGET_P99 = 20.0  # ms
WARMUP = 2.0  # seconds
SETTLE = 7.0  # seconds for every probe to run once (first runs spread over one 5 s interval) and the page to follow
PER_IP = 1_000_000  # requests/s and burst of the anonymous limiter (all load comes from one address)
TICK = os.sysconf("SC_CLK_TCK")


# --- the bare endpoint --------------------------------------------------------------------------


async def serve_bare(port: int, body_file: str) -> None:
    from aiohttp import web

    saved = _read_json(body_file)
    body, etag = saved["body"].encode(), saved["etag"]
    headers = {"ETag": etag, "Cache-Control": saved["cache_control"], "Access-Control-Allow-Origin": "*"}

    async def handle(request: web.Request) -> web.Response:
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers={**headers, "Content-Type": "application/json"})

    app = web.Application()
    app.router.add_get(PATH, handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"listening http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


def _read_json(path: str) -> dict[str, str]:
    return json.loads(Path(path).read_text())


# --- the load generator (its own process) ------------------------------------------------------


async def generate(url: str, seconds: float, connections: int, etag: str | None, length: int) -> dict[str, object]:
    """Closed loop: ``connections`` workers, each its next request when the previous answer is read.

    Conditional mode (``etag`` given) polls like a well-behaved client: a 200 (the page changed)
    gives the ETag to send from then on.
    """
    conditional = etag is not None
    current = {"If-None-Match": etag} if conditional else {}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    wrong = 0
    measuring = time.perf_counter() + WARMUP
    deadline = measuring + seconds
    cpu_at = 0.0

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal wrong, current
        while (sent := time.perf_counter()) < deadline:
            async with session.get(url, headers=current) as r:
                body = await r.read()
            if r.status == 200 and conditional and r.headers.get("ETag") != current["If-None-Match"]:
                current = {"If-None-Match": r.headers["ETag"]}
            if sent >= measuring:
                latencies.append(time.perf_counter() - sent)
                statuses[r.status] = statuses.get(r.status, 0) + 1
                if (r.status == 304 and body) or (r.status == 200 and not conditional and len(body) != length):
                    wrong += 1

    async def mark() -> None:
        nonlocal cpu_at
        await asyncio.sleep(WARMUP)
        cpu_at = time.process_time()

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        await asyncio.gather(mark(), *(one(session) for _ in range(connections)))
    elapsed = time.perf_counter() - measuring
    answered = statuses.get(200, 0) + (statuses.get(304, 0) if conditional else 0)
    return {
        "rate": answered / elapsed,
        "requests": len(latencies),
        "statuses": statuses,
        "wrong": wrong,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies, default=float("nan")) * 1000,
        "generator_cpu": (time.process_time() - cpu_at) / elapsed * 100,
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:13]) / TICK  # utime stime


def machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``: everything but idle and iowait)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICK


async def load(server_pid: int, url: str, args: argparse.Namespace, etag: str | None, length: int) -> dict:
    """One measured mode: the generator in its own process, and the server's CPU over the measured window."""
    command = [sys.executable, __file__, "--load", url, "--seconds", str(args.seconds)]
    command += ["--connections", str(args.connections), "--length", str(length)]
    if etag:
        command += ["--etag", etag]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    await asyncio.sleep(WARMUP + 0.3)  # the generator's start-up and warm-up
    cpu_before, busy_before, wall_before = cpu_seconds(server_pid), machine_busy(), time.perf_counter()
    await asyncio.sleep(max(0.0, args.seconds - 0.6))
    wall = time.perf_counter() - wall_before
    cpu = (cpu_seconds(server_pid) - cpu_before) / wall * 100
    busy = (machine_busy() - busy_before) / wall * 100
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the load generator failed ({process.returncode})")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["cpu"] = cpu
    result["others"] = max(0.0, busy - cpu - result["generator_cpu"])  # anything else running on the machine
    return result


# --- local probe targets -----------------------------------------------------------------------


async def probe_targets() -> tuple[asyncio.AbstractServer, int, object, str]:
    """A TCP listener and an HTTP target for the probes, on this process's (otherwise idle) loop."""
    from aiohttp import web

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    tcp = await asyncio.start_server(accept, "127.0.0.1", 0)
    app = web.Application()

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return tcp, tcp.sockets[0].getsockname()[1], runner, f"http://127.0.0.1:{runner.addresses[0][1]}/health"


def closed_port() -> int:
    import socket

    with socket.socket() as sock:  # bound then released: nothing listens there afterwards
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config_text(args: argparse.Namespace, tcp_port: int, http_url: str) -> str:
    timing = {"interval": 5, "timeout": 2, "failures_to_down": 1, "successes_to_recover": 1}
    config = {
        "server": {"listen": "127.0.0.1:0", "event_loop": args.event_loop},
        "ingest": {"workers": 0},
        "auth": {"per_ip": {"rate": PER_IP, "burst": PER_IP}},
        "telemetry": {"logging": {"level": "info", "format": "json"}},
        "probes": [
            {"name": "api-port", "kind": "tcp", "host": "127.0.0.1", "port": tcp_port, "component": "api", **timing},
            {"name": "db-port", "kind": "tcp", "host": "127.0.0.1", "port": tcp_port, "component": "database",
             **timing},
            {"name": "web-health", "kind": "http", "url": http_url, "component": "dashboard", **timing},
            {"name": "search-port", "kind": "tcp", "host": "127.0.0.1", "port": closed_port(), "component": "search",
             **timing},
        ],
        "statuspage": {
            "title": "Bench status",
            "cache_max_age": 10,
            "components": [
                {"id": "api", "name": "API", "description": "The public REST API"},
                {"id": "database", "name": "Database"},
                {"id": "dashboard", "name": "Dashboard", "description": "The web application"},
                {"id": "search", "name": "Search"},
                {"id": "docs", "name": "Documentation"},
            ],
        },
    }  # fmt: skip
    return json.dumps(config, indent=1)  # JSON is YAML


async def fetch_summary(url: str) -> tuple[bytes, str, str]:
    """The sidecar's summary once the probes have all run and the page was recomputed (a 200 with an ETag)."""
    await asyncio.sleep(SETTLE)
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.get(url + PATH) as r:
                body = await r.read()
                if r.status == 200 and b'"operational"' in body and b"major_outage" in body:
                    return body, r.headers["ETag"], r.headers["Cache-Control"]
            await asyncio.sleep(0.2)
    raise RuntimeError(f"no summary with the probes' statuses: {r.status} {body[:200]!r}")


# --- the run -------------------------------------------------------------------------------------


async def py_spy(pid: int, url: str, args: argparse.Namespace, length: int) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    seconds = int(max(5, args.seconds))
    recorder = await asyncio.create_subprocess_exec(
        spy, "record", "--format", "raw", "-r", "200", "-d", str(seconds), "-o", args.py_spy, "-p", str(pid),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await load(pid, url, argparse.Namespace(**{**vars(args), "seconds": seconds}), None, length)
    await recorder.wait()
    print(f"py-spy: {seconds} s of mode (a) on the sidecar, collapsed stacks in {args.py_spy}")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--event-loop", default="uvloop", choices=("uvloop", "asyncio"))
    parser.add_argument("--py-spy", default=None, metavar="OUT", help="profile mode (a) afterwards into OUT (raw)")
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--body-file", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--load", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--etag", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


async def main(args: argparse.Namespace) -> int:
    if args.serve_bare is not None:
        await serve_bare(args.serve_bare, args.body_file)
        return 0
    if args.load is not None:
        print(json.dumps(await generate(args.load, args.seconds, args.connections, args.etag, args.length)))
        return 0

    print(f"{os.cpu_count()} CPUs; server under test and load generator in separate processes")
    tcp, tcp_port, http_runner, http_url = await probe_targets()
    results: dict[str, dict] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "bench.yaml"
            config.write_text(config_text(args, tcp_port, http_url))
            sidecar, url = await start(
                [sys.executable, "-m", "sidecar", "run", "--config", str(config), "--data-dir", str(Path(tmp) / "data")]
            )
            try:
                body, etag, cache_control = await fetch_summary(url)
                print(f"sidecar pid {sidecar.pid} at {url}; summary.json: {len(body):,} bytes, ETag {etag}")
                results["sidecar a"] = await load(sidecar.pid, url + PATH, args, None, len(body))
                results["sidecar b"] = await load(sidecar.pid, url + PATH, args, etag, len(body))
                rss = tree_rss(sidecar.pid)
                if args.py_spy:
                    await py_spy(sidecar.pid, url + PATH, args, len(body))
            finally:
                sidecar.send_signal(signal.SIGTERM)
                await sidecar.wait()

            saved = Path(tmp) / "summary.json"
            saved.write_text(json.dumps({"body": body.decode(), "etag": etag, "cache_control": cache_control}))
            bare_args = ["--serve-bare", "0", "--body-file", str(saved), "--event-loop", args.event_loop]
            bare, bare_url = await start([sys.executable, __file__, *bare_args])
            try:
                results["bare a"] = await load(bare.pid, bare_url + PATH, args, None, len(body))
                results["bare b"] = await load(bare.pid, bare_url + PATH, args, etag, len(body))
            finally:
                bare.send_signal(signal.SIGTERM)
                await bare.wait()
    finally:
        tcp.close()
        await http_runner.cleanup()  # type: ignore[attr-defined]

    print()
    print(f"GET {PATH}, {args.connections} connections, closed loop, {args.seconds:g} s measured after {WARMUP:g} s")
    print(f"CPU as % of one core over the measured window ({os.cpu_count()} cores = {100 * (os.cpu_count() or 1)} %)")
    head = f"{'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'server':>6} {'loadgen':>7} {'others':>6}"
    print(f"{'server / mode':<30} {head}  statuses")
    for name, label in (("sidecar a", "sidecar (a) GET -> 200"), ("sidecar b", "sidecar (b) If-None-Match -> 304"),
                        ("bare a", "bare (a) GET -> 200"), ("bare b", "bare (b) If-None-Match -> 304")):  # fmt: skip
        r = results[name]
        statuses = ", ".join(f"{code}: {count:,}" for code, count in sorted(r["statuses"].items()))
        bad = f", wrong length: {r['wrong']}" if r["wrong"] else ""
        print(
            f"{label:<30} {r['rate']:>9,.0f} {r['p50']:>7.1f} {r['p99']:>7.1f} {r['max']:>7.1f}"
            f" {r['cpu']:>5.0f}% {r['generator_cpu']:>6.0f}% {r['others']:>5.0f}%  {statuses}{bad}"
        )
    a, b = results["sidecar a"], results["sidecar b"]
    print()
    print(f"ratio sidecar / bare: (a) {a['rate'] / results['bare a']['rate']:.2f}, "
          f"(b) {b['rate'] / results['bare b']['rate']:.2f}; sidecar RSS {rss / 2**20:.0f} MB")  # fmt: skip
    if max(r["generator_cpu"] for r in (results["bare a"], results["bare b"])) >= 95:
        print("note: the generator saturated its core against the bare endpoint: its rate understates the ceiling")
    busiest = max(results.values(), key=lambda r: r["others"])
    if busiest["others"] >= 20:
        print(f"warning: other processes used up to {busiest['others']:.0f} % of a core in the run: figures are low")
    rate_ok = a["rate"] >= TARGET_RATE and a["wrong"] == 0
    p99_ok = a["p99"] <= TARGET_P99
    verdict = {True: "PASS", False: "FAIL"}
    print()
    print(f"{'target (mode a, sidecar)':<30} {'figure':>12} {'target':>12}  verdict")
    print(f"{'requests/s answered 200':<30} {a['rate']:>12,.0f} {'>= 5,000':>12}  {verdict[rate_ok]}")
    print(f"{'p99 latency, ms':<30} {a['p99']:>12.1f} {'<= 20':>12}  {verdict[p99_ok]}")
    print(f"{'info: (b) answered/s, p99 ms':<30} {b['rate']:>12,.0f} {b['p99']:>12.1f}")
    return 0 if rate_ok and p99_ok else 1


if __name__ == "__main__":
    options = arguments()
    # The bare endpoint runs on the loop the sidecar is given; this process and the generator on uvloop.
    if options.serve_bare is not None and options.event_loop == "asyncio":
        sys.exit(asyncio.run(main(options)))
    import uvloop

    sys.exit(uvloop.run(main(options)))
