"""Signal latency: how fast a failover switch and a dependency outage reach those who must act on them.

Usage (from the repository root):
    python tests/perf/signal_latency.py [--rounds 20] [--seed 20240611]

One fresh ``sidecar run`` (temp config and data dir; one token with ``ingest+read+admin``
given through ``SIDECAR_API_TOKENS``) with:
- ``breakers``: group ``ai`` = [anthropic, openai]; anthropic opens after 3 failures, is tried
  again after 1 s and closes after 1 success (``min_dwell`` 0 s: traffic goes back at once);
- one ``http`` probe (interval 1 s, timeout 500 ms, down after 1 failure, up after 1 success,
  component ``api``) of ``/health`` on a local aiohttp target run by this script in its own
  process (``--serve-target``), which answers 503 while told to fail (``POST /fail?on=1``);
- ``alerting``: one rule ``probe_state == down`` (P1, no ``for``) routed to a receiver whose only
  target is an apprise ``json://`` URL: a webhook (aiohttp) served in this script's own process.
Three measurements, each repeated ``--rounds`` times (times are wall clock, ``time.time()``, on
both sides when two processes are involved):
1. failover by long poll: a client holds ``GET /api/v1/failover/ai?wait=30s&etag=<current>``;
   3 anthropic failures are posted (``POST /api/v1/breakers/outcomes``); from just before the POST
   is sent to the long poll's answer (200, active openai) being read;
2. failover by SSE: the same, the client reading ``GET /api/v1/failover/ai/events`` until the
   ``failover`` event with ``"active":"openai"``;
3. dependency down -> webhook: from the target starting to answer 503 (its own clock, after a random
   0-1 s pause so that the flip falls anywhere in the probe's interval) to the webhook receiving the
   ``[FIRING`` notification; split into detection (flip -> the first 503 the target served) and the
   sidecar's own part (that 503 -> webhook).
Between rounds the state is restored: after the reset timeout anthropic is half-open and one success
is posted, then the script waits until anthropic is active again (and, over SSE, until that event
arrived); the target is told to answer 200 again and the script waits for the ``[RESOLVED``
notification (sent at the next evaluation at least ``group_interval`` after the firing one).
Targets: switch by long poll < 1 s, by SSE < 1 s (p99 and max; "a backend instance learns of a
switch within 1 s"); webhook <= probe interval + 1 s = 2 s (max).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_throughput import percentile, start

TOKEN = "bench-signal-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROBE_INTERVAL = 1.0  # seconds
RESET_TIMEOUT = 1.0  # seconds, anthropic's breaker
SWITCH_TARGET = 1.0  # seconds, long poll and SSE (strictly below)
WEBHOOK_TARGET = PROBE_INTERVAL + 1.0  # seconds (at most)
STEP_TIMEOUT = 15.0  # seconds any single wait may take before the run is abandoned
RULE = """\
rules:
  - name: DependencyDown
    expr: probe_state == down
    labels: {severity: P1}
    annotations:
      summary: "{{ $labels.probe }} is down"
"""


# --- the target (its own process) ----------------------------------------------------------------


async def serve_target(port: int) -> None:
    """``/health`` answers 200, or 503 after ``POST /fail?on=1``; ``/records`` lists what it served."""
    failing = False
    served: list[tuple[float, int]] = []  # (wall clock when answered, status)

    async def health(request: web.Request) -> web.Response:
        status = 503 if failing else 200
        served.append((time.time(), status))
        return web.json_response({"status": "down" if failing else "ok"}, status=status)

    async def flip(request: web.Request) -> web.Response:
        nonlocal failing
        failing = request.query.get("on") == "1"
        return web.json_response({"failing": failing, "at": time.time()})

    async def records(request: web.Request) -> web.Response:
        since = float(request.query.get("since", "0"))
        return web.json_response([item for item in served if item[0] >= since])

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/fail", flip)
    app.router.add_get("/records", records)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"listening http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


# --- the webhook (this process) ------------------------------------------------------------------


@dataclass
class Webhook:
    """What apprise's json:// plugin posts: (wall-clock arrival, body), in order."""

    arrivals: asyncio.Queue[tuple[float, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    count: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        arrived = time.time()
        body = json.loads(await request.read())
        self.count += 1
        self.arrivals.put_nowait((arrived, body))
        return web.json_response({})

    async def next_titled(self, prefix: str) -> tuple[float, dict[str, Any]]:
        """The next notification whose title starts with ``prefix`` (others are skipped)."""
        async with asyncio.timeout(STEP_TIMEOUT):
            while True:
                arrived, body = await self.arrivals.get()
                if str(body.get("title", "")).startswith(prefix):
                    return arrived, body


async def serve_webhook(webhook: Webhook) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/hook", webhook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


# --- the sidecar ---------------------------------------------------------------------------------


def config_text(target: str, rules_dir: Path) -> str:
    config = {
        "server": {"listen": "127.0.0.1:0"},
        "ingest": {"workers": 0},
        "auth": {
            "per_token": {"rate": 1_000_000, "burst": 1_000_000},
            "per_ip": {"rate": 1_000_000, "burst": 1_000_000},
        },
        "telemetry": {"logging": {"format": "json"}},
        "breakers": {
            "groups": {"ai": ["anthropic", "openai"]},
            "providers": {"anthropic": {"fail_max": 3, "reset_timeout": "1s", "success_threshold": 1}},
            "min_dwell": "0s",
        },
        "probes": [
            {
                "kind": "http",
                "name": "target-health",
                "url": f"{target}/health",
                "interval": "1s",
                "timeout": "500ms",
                "failures_to_down": 1,
                "successes_to_recover": 1,
                "component": "api",
            }
        ],
        "alerting": {
            "rules_dir": str(rules_dir),
            "route": {"receiver": "hook", "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "hook", "apprise": ["${HOOK}"]}],
        },
    }
    return json.dumps(config, indent=1)  # JSON is YAML


async def get_json(session: aiohttp.ClientSession, url: str, **params: str) -> Any:
    async with session.get(url, params=params) as response:
        if response.status != 200:
            raise RuntimeError(f"GET {url} answered {response.status}: {(await response.text())[:300]}")
        return await response.json()


async def post_json(session: aiohttp.ClientSession, url: str, body: Any) -> Any:
    async with session.post(url, json=body) as response:
        if response.status != 200:
            raise RuntimeError(f"POST {url} answered {response.status}: {(await response.text())[:300]}")
        return await response.json()


async def until(check: Any, what: str, seconds: float = STEP_TIMEOUT, pause: float = 0.02) -> Any:
    """Call ``check()`` until it returns something true; that value."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {seconds:g} s waiting for {what}")
        await asyncio.sleep(pause)


def outcomes(provider: str, ok: bool, count: int) -> dict[str, Any]:
    item = {"provider": provider, "ok": ok, "latency_ms": 120.0, "error_type": None if ok else "timeout"}
    return {"outcomes": [item] * count}


@dataclass
class Bench:
    session: aiohttp.ClientSession
    url: str

    async def view(self) -> dict[str, Any]:
        return dict(await get_json(self.session, f"{self.url}/api/v1/failover/ai"))

    async def fail_anthropic(self) -> float:
        """Post the 3 failures that open anthropic; the wall clock just before sending."""
        sent = time.time()
        reply = await post_json(self.session, f"{self.url}/api/v1/breakers/outcomes", outcomes("anthropic", False, 3))
        assert reply["accepted"] == 3, reply
        return sent

    async def restore(self) -> float:
        """Bring anthropic back (half-open after the reset timeout, one success); seconds it took."""
        began = time.perf_counter()

        async def anthropic_state() -> str:
            view = await self.view()
            return str(view["providers"][0]["state"])

        state = await anthropic_state()
        deadline = time.monotonic() + STEP_TIMEOUT
        while state == "open":  # half-open after the reset timeout (the sidecar's 0.2 s timer)
            if time.monotonic() > deadline:
                raise RuntimeError("anthropic stayed open past the reset timeout")
            await asyncio.sleep(0.05)
            state = await anthropic_state()
        if state == "half_open":
            await post_json(self.session, f"{self.url}/api/v1/breakers/outcomes", outcomes("anthropic", True, 1))

        async def back() -> bool:
            view = await self.view()
            return view["active"] == "anthropic" and all(p["state"] == "closed" for p in view["providers"])

        await until(back, "anthropic to be active and closed again")
        return time.perf_counter() - began


# --- the measurements ----------------------------------------------------------------------------


async def long_poll_round(bench: Bench) -> tuple[float, float]:
    """(switch latency, POST round trip), seconds."""
    async with bench.session.get(f"{bench.url}/api/v1/failover/ai") as response:
        tag = response.headers["ETag"]
        assert (await response.json())["active"] == "anthropic"

    async def poll() -> tuple[float, int, dict[str, Any]]:
        params = {"wait": "30s", "etag": tag}
        async with bench.session.get(f"{bench.url}/api/v1/failover/ai", params=params) as answer:
            body = await answer.json() if answer.status == 200 else {}
            return time.time(), answer.status, body

    waiting = asyncio.create_task(poll())
    await asyncio.sleep(0.2)  # the poll is parked in the sidecar
    assert not waiting.done(), "the long poll answered before any change"
    sent = time.time()
    await bench.fail_anthropic()
    posted = time.time()
    arrived, status, body = await asyncio.wait_for(waiting, STEP_TIMEOUT)
    if status != 200 or body.get("active") != "openai":
        raise RuntimeError(f"the long poll answered {status} {body}")
    return arrived - sent, posted - sent


class EventStream:
    """One SSE connection to ``/api/v1/failover/ai/events``: (wall-clock arrival, parsed data) per event."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.events: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        response = await self.bench.session.get(f"{self.bench.url}/api/v1/failover/ai/events")
        if response.status != 200 or not response.headers["Content-Type"].startswith("text/event-stream"):
            raise RuntimeError(f"the event stream answered {response.status}")
        self.task = asyncio.create_task(self._read(response))

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        fields: dict[str, str] = {}
        try:
            while True:
                raw = await response.content.readline()
                if not raw:
                    return
                line = raw.decode().rstrip("\r\n")
                if line:
                    if not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
                    continue
                if fields.get("event") == "failover" and "data" in fields:
                    self.events.put_nowait((time.time(), json.loads(fields["data"])))
                fields = {}
        finally:
            response.close()

    async def next_where(self, active: str) -> tuple[float, dict[str, Any]]:
        """The next event whose active provider is ``active`` (others are skipped)."""
        async with asyncio.timeout(STEP_TIMEOUT):
            while True:
                arrived, data = await self.events.get()
                if data.get("active") == active:
                    return arrived, data

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def sse_round(bench: Bench, stream: EventStream) -> float:
    """Switch latency over SSE, seconds (the stream is at anthropic, nothing queued)."""
    sent = await bench.fail_anthropic()
    arrived, _ = await stream.next_where("openai")
    return arrived - sent


async def webhook_round(
    bench: Bench, target: str, webhook: Webhook, rng: random.Random
) -> tuple[float, float, float, float]:
    """(flip -> webhook, flip -> first 503 served, first 503 -> webhook, flip back -> resolved), seconds."""
    await asyncio.sleep(rng.uniform(0.0, PROBE_INTERVAL))  # anywhere in the probe's interval
    flipped = float((await post_json(bench.session, f"{target}/fail?on=1", None))["at"])
    arrived, body = await webhook.next_titled("[FIRING")
    if "target-health is down" not in str(body.get("message", "")):
        raise RuntimeError(f"unexpected firing notification: {body}")
    served = await get_json(bench.session, f"{target}/records", since=str(flipped))
    first_503 = min((at for at, status in served if status == 503), default=float("nan"))
    recovered = float((await post_json(bench.session, f"{target}/fail?on=0", None))["at"])
    resolved, _ = await webhook.next_titled("[RESOLVED")
    return arrived - flipped, first_503 - flipped, arrived - first_503, resolved - recovered


# --- report --------------------------------------------------------------------------------------


def summary(values: list[float]) -> tuple[float, float, float]:
    """p50 / p99 / max in ms."""
    return percentile(values, 50), percentile(values, 99), max(values) * 1000 if values else float("nan")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--serve-target", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_target is not None:
        await serve_target(args.serve_target)
        return 0
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    rng = random.Random(args.seed)
    webhook = Webhook()
    hook_runner, hook_port = await serve_webhook(webhook)
    target_process, target = await start([sys.executable, __file__, "--serve-target", "0"])
    poll: list[float] = []
    post_trip: list[float] = []
    sse: list[float] = []
    hook: list[float] = []
    detect: list[float] = []
    notify: list[float] = []
    resolve: list[float] = []
    restores: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rules = Path(tmp) / "alerts"
            rules.mkdir()
            (rules / "rules.yaml").write_text(RULE)
            config = Path(tmp) / "bench.yaml"
            config.write_text(config_text(target, rules))
            env = {
                "SIDECAR_API_TOKENS": f"bench:ingest+read+admin:{TOKEN}",
                "HOOK": f"json://127.0.0.1:{hook_port}/hook",
            }
            command = [sys.executable, "-m", "sidecar", "run", "--config", str(config)]
            sidecar, url = await start([*command, "--data-dir", str(Path(tmp) / "data")], env)
            print(f"target pid {target_process.pid} at {target}; sidecar pid {sidecar.pid} at {url}; "
                  f"webhook at http://127.0.0.1:{hook_port}/hook", flush=True)  # fmt: skip
            print(f"{args.rounds} rounds per measurement", flush=True)
            try:
                async with aiohttp.ClientSession(headers=AUTH) as session:
                    bench = Bench(session, url)

                    async def healthy() -> bool:
                        probes = (await get_json(session, f"{url}/api/v1/probes"))["probes"]
                        return bool(probes) and probes[0]["status"] == "healthy"

                    await until(healthy, "the probe to be healthy", 10)
                    assert (await bench.view())["active"] == "anthropic"

                    for _ in range(args.rounds):
                        latency, trip = await long_poll_round(bench)
                        poll.append(latency)
                        post_trip.append(trip)
                        restores.append(await bench.restore())
                    print(f"long poll done: p50 {percentile(poll, 50):.1f} ms", flush=True)

                    stream = EventStream(bench)
                    await stream.open()
                    try:
                        await stream.next_where("anthropic")  # the group as it is, on connecting
                        for _ in range(args.rounds):
                            sse.append(await sse_round(bench, stream))
                            restores.append(await bench.restore())
                            await stream.next_where("anthropic")  # the switch back, before the next round
                            while not stream.events.empty():
                                stream.events.get_nowait()
                    finally:
                        await stream.close()
                    print(f"SSE done: p50 {percentile(sse, 50):.1f} ms", flush=True)

                    for _ in range(args.rounds):
                        total, detected, notified, resolved = await webhook_round(bench, target, webhook, rng)
                        hook.append(total)
                        detect.append(detected)
                        notify.append(notified)
                        resolve.append(resolved)
                    print(f"webhook done: p50 {percentile(hook, 50):.1f} ms", flush=True)

                    async def recorded() -> list[dict[str, Any]]:  # written once apprise has its answer
                        found = (await get_json(session, f"{url}/api/v1/notifications"))["notifications"]
                        return list(found) if len(found) >= webhook.count else []

                    notifications = await until(recorded, "every delivery to be recorded", 5)
            finally:
                sidecar.send_signal(signal.SIGTERM)
                await sidecar.wait()
    finally:
        target_process.send_signal(signal.SIGTERM)
        await target_process.wait()
        await hook_runner.cleanup()

    delivered = sum(1 for item in notifications if item.get("result") == "delivered")
    checks = [
        ("failover by long poll (POST sent -> poll answer)", poll, SWITCH_TARGET, "<"),
        ("failover by SSE (POST sent -> openai event)", sse, SWITCH_TARGET, "<"),
        ("dependency down -> webhook [FIRING (target flip -> arrival)", hook, WEBHOOK_TARGET, "<="),
    ]
    info = [
        ("  POST /api/v1/breakers/outcomes round trip", post_trip),
        ("  flip -> first 503 served to the probe (waiting for the probe)", detect),
        ("  first 503 served -> webhook (the sidecar's own part)", notify),
        ("info: target back to 200 -> webhook [RESOLVED", resolve),
        ("info: restore (anthropic open -> active and closed again)", restores),
    ]
    verdict = {True: "PASS", False: "FAIL"}
    results = []
    print()
    print(f"{'measure':<66} {'p50 / p99 / max, ms':>26} {'target':>10} {'':>6}")
    for name, values, target_seconds, op in checks:
        p50, p99, top = summary(values)
        ok = top < target_seconds * 1000 if op == "<" else top <= target_seconds * 1000
        results.append(ok)
        print(f"{name:<66} {f'{p50:.1f} / {p99:.1f} / {top:.1f}':>26} {f'{op} {target_seconds * 1000:.0f}':>10} "
              f"{verdict[ok]:>6}")  # fmt: skip
        if name.startswith("failover by long poll"):
            p50, p99, top = summary(post_trip)
            print(f"{info[0][0]:<66} {f'{p50:.1f} / {p99:.1f} / {top:.1f}':>26}")
    for name, values in info[1:]:
        p50, p99, top = summary(values)
        print(f"{name:<66} {f'{p50:.1f} / {p99:.1f} / {top:.1f}':>26}")
    print()
    print(f"rounds: {args.rounds} per measurement; webhook posts received: {webhook.count}; "
          f"sidecar deliveries recorded 'delivered': {delivered}/{len(notifications)}")  # fmt: skip
    print("percentiles over the rounds (p99 of 20 rounds is the largest); wall clock on both sides, one machine")
    print(f"{verdict[results[0]]}  long poll learns of a switch in < {SWITCH_TARGET * 1000:.0f} ms (all rounds)")
    print(f"{verdict[results[1]]}  SSE delivers a switch in < {SWITCH_TARGET * 1000:.0f} ms (all rounds)")
    print(f"{verdict[results[2]]}  webhook fires <= probe interval + 1 s = {WEBHOOK_TARGET * 1000:.0f} ms (all rounds)")
    return 0 if all(results) else 1


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        sys.exit(asyncio.run(main()))
    sys.exit(uvloop.run(main()))
