"""Span ingest through HTTP (OTLP protobuf), against a bare endpoint that only decodes the protobuf, in the same run.

Usage (from the repository root):
    python tests/perf/span_ingest.py [--seconds 60] [--connections 8] [--workers auto] [--event-loop uvloop]

Bodies are ``ExportTraceServiceRequest`` messages of 512 spans made by the real
OpenTelemetry SDK (TracerProvider + InMemorySpanExporter, then the OTLP exporter's
own encoder), 100 distinct ones from a fixed seed: several services, traces of
5-30 spans, server spans with ``http.route``/method/status (some 5xx), client
spans to databases and other services, about 40% of spans carrying PII (an e-mail
in an attribute or a query, ``enduser.id``, a card number in an exception message)
and a few exception events with stack traces. Both servers get the same bodies
from the same load generator (this process), closed loop with N connections:
1. the bare endpoint only reads the body and decodes it with ``FromString``;
2. the sidecar (a fresh ``sidecar run``: full redaction, fsynced spool, SQLite)
   acknowledges only durable spans (512 minus ``partial_success.rejected_spans``).
When its time is up, every connection sends one more body whose traces were
never sent before; the script then polls ``GET /api/v1/traces/{id}`` for those
traces until all their spans are stored: the time the storage writer needed to
catch up. Peak RSS is the sum over the sidecar process and its workers, sampled
every 0.25 s.
Targets: >= 30,000 spans/s acknowledged, and the storage writer catching up (the last traces all stored).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_throughput import percentile, start, tree_rss

BATCH = 512
BODIES = 100
SEED = 20240611
TARGET = 30_000
PII_SHARE = 0.4  # spans carrying an e-mail or a user id (besides the card numbers in declined payments)
TOKEN = "bench-ingest-token-0123456789abcdef"
READ = "bench-read-token-0123456789abcdef"
PROTOBUF = "application/x-protobuf"

# service -> (routes it serves, databases it talks to)
SERVICES: dict[str, tuple[list[str], list[tuple[str, str, str]]]] = {
    "frontend": (["/", "/checkout", "/account", "/search"], []),
    "api-gateway": (["/api/v1/orders/{id}", "/api/v1/users/{id}", "/api/v1/cart", "/api/v1/search"], []),
    "orders": (
        ["/orders", "/orders/{id}", "/orders/{id}/items"],
        [("postgresql", "orders-db.internal", "orders"), ("redis", "cache.internal", "")],
    ),
    "users": (["/users/{id}", "/users/{id}/profile", "/users/lookup"], [("postgresql", "users-db.internal", "users")]),
    "billing": (["/charge", "/refund", "/invoices/{id}"], [("postgresql", "billing-db.internal", "billing")]),
    "catalog": (["/products", "/products/{id}", "/categories"], [("mongodb", "catalog-mongo.internal", "catalog")]),
    "search": (["/query", "/suggest"], [("elasticsearch", "es.internal", "")]),
    "notify": (["/email", "/sms"], [("redis", "queue.internal", "")]),
}
# Who calls whom: a server span in the key service may make client calls to these.
CALLS = {
    "frontend": ["api-gateway"],
    "api-gateway": ["orders", "users", "catalog", "search"],
    "orders": ["billing", "catalog", "notify", "users"],
    "users": ["notify"],
    "billing": ["notify"],
    "catalog": [],
    "search": ["catalog"],
    "notify": [],
}
FIRST = ["anna", "bram", "chloe", "dmitri", "eva", "farid", "greta", "hugo", "ines", "jonas", "kaori", "lena"]
LAST = ["meyer", "dubois", "rossi", "novak", "silva", "jansen", "kowalski", "berg", "moreau", "okafor"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "gmail.com", "outlook.com"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
]


def _email(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"


def _card(rng: random.Random) -> str:
    digits = [4] + [rng.randint(0, 9) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # Luhn check digit
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return " ".join(text[i : i + 4] for i in range(0, 16, 4))


class PaymentDeclined(Exception):
    """What the billing service raises."""


def _raise_in(depth: int, exc: Exception) -> None:
    # A few real frames, so the SDK records a real stack trace.
    if depth == 0:
        raise exc
    _raise_in(depth - 1, exc)


def _caught(exc: Exception, depth: int) -> Exception:
    try:
        _raise_in(depth, exc)
    except Exception as caught:  # the point is to catch it
        return caught
    raise AssertionError("unreachable")


class Generator:
    """Deterministic OTLP trace export bodies made with the OpenTelemetry SDK."""

    def __init__(self, seed: int) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.sdk.trace.id_generator import IdGenerator

        rng = self.rng = random.Random(seed)

        class SeededIds(IdGenerator):
            def generate_span_id(self) -> int:
                return rng.getrandbits(64) or 1

            def generate_trace_id(self) -> int:
                return rng.getrandbits(128) or 1

            def is_trace_id_random(self) -> bool:
                return True

        self.exporter = InMemorySpanExporter()
        self.tracers = {}
        for index, service in enumerate(SERVICES):
            resource = Resource.create(
                {
                    "service.name": service,
                    "service.version": f"1.{index}.{rng.randint(0, 20)}",
                    "service.namespace": "shop",
                    "deployment.environment.name": "production",
                    "host.name": f"{service}-{rng.randint(1000, 9999)}.eu-west-1.compute.internal",
                    "k8s.pod.name": f"{service}-{rng.getrandbits(32):08x}-{rng.getrandbits(20):05x}",
                    "k8s.namespace.name": "shop",
                }
            )
            provider = TracerProvider(resource=resource, id_generator=SeededIds())
            provider.add_span_processor(SimpleSpanProcessor(self.exporter))
            self.tracers[service] = provider.get_tracer(f"shop.{service}", "2.4.1")
        self.now = time.time_ns() - 600 * 10**9  # ten minutes ago: well inside retention

    def body(self) -> tuple[bytes, Counter[str]]:
        """One serialized request of BATCH spans (whole traces, the last one cut) and its spans per trace id."""
        from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans

        self.exporter.clear()
        while len(self.exporter.get_finished_spans()) < BATCH:
            self._trace()
        spans = self.exporter.get_finished_spans()[:BATCH]
        per_trace = Counter(f"{span.context.trace_id:032x}" for span in spans)
        return encode_spans(spans).SerializeToString(), per_trace

    def _pii(self, attributes: dict[str, str | int], user: str, email: str, places: list[str]) -> None:
        """With probability PII_SHARE, put the trace's user id or e-mail in one of ``places``."""
        rng = self.rng
        if rng.random() >= PII_SHARE:
            return
        place = rng.choice(places)
        if place == "enduser.id":
            attributes["enduser.id"] = user
        elif place == "user.email":
            attributes["user.email"] = email
        elif place == "url.query":
            attributes["url.query"] = f"email={email}&ref=newsletter"
        elif place == "url.full":
            attributes["url.full"] = f"{attributes['url.full']}?email={email}"
        elif place == "db.query.text":
            attributes["db.query.text"] = f"SELECT id, name, plan FROM users WHERE email = '{email}'"
        else:
            raise ValueError(place)

    def _trace(self) -> None:
        from opentelemetry import trace

        rng = self.rng
        size = rng.randint(5, 30)
        self.now += rng.randint(1, 50) * 10**6
        user = f"u-{rng.randint(1, 50_000):06d}"
        email = _email(rng)
        budget = [size]  # spans left to make

        def server(service: str, parent: trace.Span | None, start: int, duration: int) -> None:
            routes, databases = SERVICES[service]
            route = rng.choice(routes)
            method = "POST" if route in ("/checkout", "/charge", "/refund", "/email", "/sms", "/orders") else "GET"
            status = rng.choices([200, 201, 204, 400, 404, 500, 502, 503], [76, 6, 4, 5, 4, 3, 1, 1])[0]
            attributes: dict[str, str | int] = {
                "http.request.method": method,
                "http.route": route,
                "url.path": route.replace("{id}", str(rng.randint(1, 10**6))),
                "url.scheme": "https" if service == "frontend" else "http",
                "http.response.status_code": status,
                "server.address": f"{service}.shop.svc.cluster.local",
                "server.port": 8080,
                "network.protocol.version": "1.1",
                "client.address": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                "user_agent.original": rng.choice(AGENTS),
            }
            self._pii(attributes, user, email, ["enduser.id", "user.email", "url.query"])
            span = self.tracers[service].start_span(
                f"{method} {route}",
                context=trace.set_span_in_context(parent) if parent is not None else None,
                kind=trace.SpanKind.SERVER,
                attributes=attributes,
                start_time=start,
            )
            budget[0] -= 1
            cursor = start + rng.randint(100_000, 2_000_000)
            # The root span goes on until the trace has its size; the others stop at random.
            while budget[0] > 0 and (parent is None or rng.random() < 0.7):
                child = max(200_000, int(duration * rng.uniform(0.05, 0.4)))
                callees = CALLS[service]
                if databases and (not callees or rng.random() < 0.55):
                    self._database(service, span, rng.choice(databases), cursor, child, user, email)
                    budget[0] -= 1
                elif callees and budget[0] >= 2 and rng.random() < 0.8:
                    callee = rng.choice(callees)
                    callee_method = "POST" if callee in ("billing", "notify") else "GET"
                    client_attributes: dict[str, str | int] = {
                        "http.request.method": callee_method,
                        "server.address": f"{callee}.shop.svc.cluster.local",
                        "server.port": 8080,
                        "peer.service": callee,
                        "url.full": f"http://{callee}.shop.svc.cluster.local:8080{rng.choice(SERVICES[callee][0])}",
                    }
                    self._pii(client_attributes, user, email, ["enduser.id", "url.full"])
                    client = self.tracers[service].start_span(
                        callee_method,
                        context=trace.set_span_in_context(span),
                        kind=trace.SpanKind.CLIENT,
                        attributes=client_attributes,
                        start_time=cursor,
                    )
                    budget[0] -= 1
                    server(callee, client, cursor + 150_000, max(100_000, child - 300_000))
                    client.set_attribute("http.response.status_code", 200)
                    client.end(end_time=cursor + child)
                else:
                    internal_attributes: dict[str, str | int] = {"code.function.name": f"shop.{service}.handler"}
                    self._pii(internal_attributes, user, email, ["enduser.id", "user.email"])
                    internal = self.tracers[service].start_span(
                        rng.choice(["render", "validate", "serialize", "authorize"]),
                        context=trace.set_span_in_context(span),
                        attributes=internal_attributes,
                        start_time=cursor,
                    )
                    budget[0] -= 1
                    internal.end(end_time=cursor + child // 3)
                cursor += child + rng.randint(50_000, 500_000)
            if service == "billing" and rng.random() < 0.3:
                # A declined payment: an exception event whose message carries the card number.
                error = _caught(PaymentDeclined(f"card {_card(rng)} declined by issuer: insufficient funds"), 3)
                span.record_exception(error, timestamp=cursor)
                span.set_attribute("http.response.status_code", 402)
                span.set_status(trace.Status(trace.StatusCode.ERROR, "payment declined"))
            elif status >= 500:
                if rng.random() < 0.5:
                    error = _caught(TimeoutError(f"upstream {service} timed out after 3000 ms"), rng.randint(1, 4))
                    span.record_exception(error, timestamp=cursor)
                span.set_status(trace.Status(trace.StatusCode.ERROR, f"HTTP {status}"))
                span.set_attribute("error.type", str(status))
            span.end(end_time=max(cursor, start + duration))

        root = rng.choice(["frontend", "api-gateway", "api-gateway"])
        server(root, None, self.now, int(rng.expovariate(1 / 80) * 10**6) + 2 * 10**6)

    def _database(
        self,
        service: str,
        parent: object,
        database: tuple[str, str, str],
        start: int,
        duration: int,
        user: str,
        email: str,
    ) -> None:
        from opentelemetry import trace

        rng = self.rng
        system, host, name = database
        if system == "postgresql":
            table = rng.choice(["orders", "users", "invoices", "line_items", "sessions"])
            operation, span_name = "SELECT", f"SELECT {name}.{table}"
            statement = f"SELECT * FROM {table} WHERE id = $1 LIMIT 50"
        elif system == "redis":
            operation = rng.choice(["GET", "SET", "HGETALL", "LPUSH"])
            statement, span_name = f"{operation} session:{rng.getrandbits(40):010x}", operation
        elif system == "mongodb":
            operation, span_name = "find", "find catalog.products"
            statement = '{"find": "products", "filter": {"category": "?"}, "limit": 20}'
        else:
            operation, span_name = "search", "search products"
            statement = '{"query": {"match": {"title": "?"}}, "size": 20}'
        attributes: dict[str, str | int] = {
            "db.system": system,
            "db.operation.name": operation,
            "db.query.text": statement,
            "server.address": host,
            "server.port": {"postgresql": 5432, "redis": 6379, "mongodb": 27017}.get(system, 9200),
            "peer.service": host.split(".")[0],
        }
        if name:
            attributes["db.namespace"] = name
        self._pii(
            attributes, user, email, ["db.query.text", "enduser.id"] if system == "postgresql" else ["enduser.id"]
        )
        span = self.tracers[service].start_span(
            span_name,
            context=trace.set_span_in_context(parent),  # type: ignore[arg-type]
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
            start_time=start,
        )
        span.end(end_time=start + duration)


def make_bodies(count: int, extra: int) -> tuple[list[bytes], list[bytes], list[Counter[str]]]:
    """``count`` bodies to loop over, and ``extra`` more (with their spans per trace) never sent before the end."""
    generator = Generator(SEED)
    made = [generator.body() for _ in range(count + extra)]
    return [body for body, _ in made[:count]], [body for body, _ in made[count:]], [c for _, c in made[count:]]


async def serve_bare(port: int) -> None:
    from aiohttp import web

    empty = ExportTraceServiceResponse().SerializeToString()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        ExportTraceServiceRequest.FromString(body)
        return web.Response(body=empty, content_type=PROTOBUF)

    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_post("/v1/traces", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"listening http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


async def closed_loop(
    base: str, payloads: list[bytes], seconds: float, connections: int, last: list[bytes] | None = None
) -> dict[str, float]:
    """``connections`` loops sending the next body as soon as the previous one is answered.

    With ``last``, connection ``i`` sends ``last[i]`` once the time is up, until it is acknowledged.
    Refused batches (429/503) wait for Retry-After and are sent again.
    """
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": PROTOBUF}
    acknowledged, refused, latencies = 0, 0, []
    deadline = time.perf_counter() + seconds

    async def send(session: aiohttp.ClientSession, payload: bytes) -> None:
        nonlocal acknowledged, refused
        while True:
            sent = time.perf_counter()
            async with session.post(f"{base}/v1/traces", data=payload, headers=headers) as r:
                body = await r.read()
                if r.status == 200:
                    rejected = ExportTraceServiceResponse.FromString(body).partial_success.rejected_spans
                    acknowledged += BATCH - rejected
                    latencies.append(time.perf_counter() - sent)
                    return
                if r.status not in (429, 503):
                    raise RuntimeError(f"POST /v1/traces answered {r.status}: {body[:200]!r}")
                refused += 1
                await asyncio.sleep(min(5.0, float(r.headers.get("Retry-After", "0.1"))))

    async def one(session: aiohttp.ClientSession, offset: int) -> None:
        index = offset
        while time.perf_counter() < deadline:
            await send(session, payloads[index % len(payloads)])
            index += connections
        if last is not None:
            await send(session, last[offset])

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one(session, i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    return {
        "rate": acknowledged / elapsed,
        "acknowledged": acknowledged,
        "refused": refused,
        "elapsed": elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }


async def catch_up(base: str, expected: Counter[str], seconds: float) -> tuple[int, float]:
    """Poll the traces of the last bodies until every span is stored (or the timeout passed): how many were, when."""
    started = time.perf_counter()
    found: dict[str, int] = {}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {READ}"}) as session:
        while True:
            for trace_id, count in expected.items():
                if found.get(trace_id, 0) >= count:
                    continue
                async with session.get(f"{base}/api/v1/traces/{trace_id}") as r:
                    if r.status == 200:
                        found[trace_id] = len((await r.json())["spans"])
                    elif r.status != 404:
                        raise RuntimeError(f"GET /api/v1/traces/{trace_id} answered {r.status}")
            stored = sum(min(found.get(t, 0), c) for t, c in expected.items())
            if stored >= expected.total() or time.perf_counter() - started > seconds:
                return stored, time.perf_counter() - started
            await asyncio.sleep(0.1)


async def spans_stored(base: str, expected: int, seconds: float) -> int:
    """``sidecar_spans_stored_total`` once it reaches ``expected`` (or the timeout passed)."""
    started = time.perf_counter()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {READ}"}) as session:
        while True:
            async with session.get(f"{base}/metrics") as r:
                text = await r.text()
            stored = next(
                (
                    float(line.split()[-1])
                    for line in text.splitlines()
                    if line.startswith("sidecar_spans_stored_total")
                ),
                0.0,
            )
            if stored >= expected or time.perf_counter() - started > seconds:
                return int(stored)
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

    made = time.perf_counter()
    payloads, last, last_traces = make_bodies(BODIES, args.connections)
    expected = sum(last_traces, Counter())
    size = sum(map(len, payloads)) / len(payloads) / 1024
    print(f"{len(payloads)} bodies of {BATCH} spans, {size:.0f} KiB each, made in {time.perf_counter() - made:.1f} s")

    bare, bare_url = await start([sys.executable, __file__, "--serve-bare", "0"])
    try:
        baseline = await closed_loop(bare_url, payloads, min(args.seconds, 20), args.connections)
    finally:
        bare.send_signal(signal.SIGTERM)
        await bare.wait()
    print(f"bare endpoint: {baseline['rate']:,.0f} spans/s")

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
        print(f"sidecar pid {sidecar.pid} at {url}", flush=True)
        peak = 0

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, tree_rss(sidecar.pid))
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample())
        try:
            await asyncio.sleep(2)  # workers warm up
            full = await closed_loop(url, payloads, args.seconds, args.connections, last)
            stored_last, drain = await catch_up(url, expected, seconds=120)
            stored = await spans_stored(url, int(full["acknowledged"]), seconds=10)
        finally:
            sampler.cancel()
            sidecar.send_signal(signal.SIGTERM)
            await sidecar.wait()

    ratio = full["rate"] / baseline["rate"]
    caught_up = stored_last == expected.total()
    print()
    print(f"{'measure':<52} {'figure':>17} {'target':>12}")
    rows = [
        ("bare endpoint (read + decode), spans/s", f"{baseline['rate']:,.0f}", ""),
        ("sidecar, spans/s acknowledged (durable)", f"{full['rate']:,.0f}", f">= {TARGET:,}"),
        ("ratio sidecar / bare", f"{ratio:.3f}", ""),
        ("batches refused (429/503) during the run", f"{full['refused']:,.0f}", ""),
        ("spans of the last traces stored", f"{stored_last:,}/{expected.total():,}", "all"),
        ("time for the writer to catch up after the run, s", f"{drain:.1f}", ""),
        ("sidecar_spans_stored_total / spans acknowledged", f"{stored:,}/{full['acknowledged']:,.0f}", ""),
        ("ack latency p50 / p99 at full load, ms", f"{full['p50']:.1f} / {full['p99']:.1f}", ""),
        ("peak RSS, sidecar + workers, MB", f"{peak / 2**20:.0f}", ""),
    ]
    for name, figure, target in rows:
        print(f"{name:<52} {figure:>17} {target:>12}")
    return 0 if full["rate"] >= TARGET and caught_up else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
