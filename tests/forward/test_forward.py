"""The forwarder delivers records to an OTLP/HTTP collector, and bounds what it keeps when it cannot."""

from __future__ import annotations

import asyncio
import gzip
import inspect
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from sidecar.forward._forward import LogForwarder, parse_retry_after
from sidecar.logs import LogRecord
from tests.helpers import log_record

Reply = tuple[int, dict[str, str], bytes]
OK: Reply = (200, {}, b"")


def make_record(i: int, service: str = "api") -> LogRecord:
    ts = 1_700_000_000_000_000_000 + i
    return log_record(ts=ts, observed=ts, service=service, message=f"secret-message-{i}", request_id=f"req-{i}")


def messages(request: ExportLogsServiceRequest) -> list[str]:
    return [
        record.body.string_value
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
        for record in scope_logs.log_records
    ]


@dataclass
class FakeCollector:
    """An OTLP/HTTP logs endpoint that decodes and keeps every request it gets."""

    replies: list[Reply] = field(default_factory=list)  # answered in order, then 200
    release: asyncio.Event | None = None  # when set, requests hang until it is
    received: list[ExportLogsServiceRequest] = field(default_factory=list)
    accepted: list[ExportLogsServiceRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    raw_bodies: list[bytes] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.headers.append(dict(request.headers))
        self.raw_bodies.append(body)
        message = ExportLogsServiceRequest.FromString(gzip.decompress(body))
        self.received.append(message)
        if self.release is not None:
            await self.release.wait()
        status, headers, payload = self.replies.pop(0) if self.replies else OK
        if 200 <= status < 300:
            self.accepted.append(message)
        return web.Response(status=status, headers=headers, body=payload, content_type="application/x-protobuf")

    def delivered(self) -> list[str]:
        return [message for request in self.accepted for message in messages(request)]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/logs", self.handle)
        return app


Start = Callable[..., Awaitable[tuple[FakeCollector, str]]]
MakeForwarder = Callable[..., Awaitable[LogForwarder]]


@pytest.fixture
def collector(aiohttp_server: Any) -> Start:
    """Starts a fake collector; it reads raw (still gzip) bodies."""

    async def start(fake: FakeCollector | None = None, port: int | None = None) -> tuple[FakeCollector, str]:
        fake = fake or FakeCollector()
        server = await aiohttp_server(fake.app(), port=port, auto_decompress=False)
        return fake, str(server.make_url("/v1/logs"))

    return start


@pytest.fixture
async def forwarder() -> AsyncIterator[MakeForwarder]:
    """Starts forwarders with test-sized timings; closes them after the test."""
    started: list[LogForwarder] = []

    async def make(endpoint: str, **options: Any) -> LogForwarder:
        options = {"flush_interval": 0.02, "backoff_base": 0.001, "backoff_max": 0.01, **options}
        options.setdefault("registry", CollectorRegistry())
        instance = LogForwarder(endpoint, **options)
        await instance.start()
        started.append(instance)
        return instance

    yield make
    for instance in started:
        await instance.close(timeout=1)


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


NO_DROPS = {"buffer_full": 0, "rejected": 0, "retries_exhausted": 0, "shutdown": 0}


async def test_delivers_every_record_once_in_order_in_batches_of_at_most_batch_size(
    collector: Start, forwarder: MakeForwarder
) -> None:
    fake, url = await collector()
    registry = CollectorRegistry()
    sender = await forwarder(url, batch_size=512, registry=registry)
    sender.offer([make_record(i) for i in range(1_200)])
    await wait_until(lambda: sender.forwarded == 1_200)
    assert [len(messages(request)) for request in fake.accepted] == [512, 512, 176]
    assert fake.delivered() == [f"secret-message-{i}" for i in range(1_200)]
    assert len(fake.received) == 3
    assert sender.dropped == NO_DROPS
    assert registry.get_sample_value("sidecar_logs_forwarded_total") == 1_200
    assert registry.get_sample_value("sidecar_logs_forward_buffer_records") == 0
    assert registry.get_sample_value("sidecar_logs_forward_request_duration_seconds_count") == 3
    for reason in NO_DROPS:
        assert registry.get_sample_value("sidecar_logs_forward_dropped_total", {"reason": reason}) == 0


async def test_requests_are_gzip_protobuf_posts_with_the_configured_headers(
    collector: Start, forwarder: MakeForwarder
) -> None:
    fake, url = await collector()
    sender = await forwarder(url, headers={"Authorization": "Bearer t0ken"})
    sender.offer([make_record(1)])
    await wait_until(lambda: sender.forwarded == 1)
    [headers] = fake.headers
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Authorization"] == "Bearer t0ken"
    [body] = fake.raw_bodies
    assert body[:2] == b"\x1f\x8b"  # the gzip magic: the server saw the compressed bytes
    assert messages(ExportLogsServiceRequest.FromString(gzip.decompress(body))) == ["secret-message-1"]


async def test_503_with_retry_after_is_retried_and_delivered_once(collector: Start, forwarder: MakeForwarder) -> None:
    unavailable: Reply = (503, {"Retry-After": "0"}, b"")
    fake, url = await collector(FakeCollector(replies=[unavailable, unavailable]))
    # A backoff of minutes: only honouring Retry-After: 0 lets this finish in time.
    sender = await forwarder(url, backoff_base=120, backoff_max=600)
    sender.offer([make_record(i) for i in range(5)])
    await wait_until(lambda: sender.forwarded == 5)
    assert len(fake.received) == 3
    assert fake.delivered() == [f"secret-message-{i}" for i in range(5)]
    assert sender.dropped == NO_DROPS


@pytest.mark.parametrize("status", [429, 502, 504])
async def test_other_retryable_statuses_are_retried(collector: Start, forwarder: MakeForwarder, status: int) -> None:
    fake, url = await collector(FakeCollector(replies=[(status, {}, b"")]))
    sender = await forwarder(url)
    sender.offer([make_record(1)])
    await wait_until(lambda: sender.forwarded == 1)
    assert len(fake.received) == 2
    assert sender.dropped == NO_DROPS


async def test_records_wait_for_a_collector_that_is_down_then_comes_up(
    collector: Start, forwarder: MakeForwarder
) -> None:
    port = free_port()
    registry = CollectorRegistry()
    sender = await forwarder(f"http://127.0.0.1:{port}/v1/logs", max_retries=1_000, registry=registry)
    sender.offer([make_record(i) for i in range(3)])
    attempts = "sidecar_logs_forward_request_duration_seconds_count"
    await wait_until(lambda: (registry.get_sample_value(attempts) or 0) >= 3)
    assert sender.forwarded == 0
    fake, _ = await collector(port=port)
    await wait_until(lambda: sender.forwarded == 3)
    assert fake.delivered() == ["secret-message-0", "secret-message-1", "secret-message-2"]
    assert sender.dropped == NO_DROPS


async def test_backoff_is_exponential_capped_and_jittered_then_gives_up(
    collector: Start, forwarder: MakeForwarder
) -> None:
    fake, url = await collector(FakeCollector(replies=[(503, {}, b"")] * 5))
    delays: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        if seconds != 3600:  # the flush timer, which the test never lets fire
            delays.append(seconds)
        await asyncio.sleep(0 if seconds != 3600 else 3600)

    registry = CollectorRegistry()
    sender = await forwarder(
        url,
        max_retries=4,
        backoff_base=1,
        backoff_max=5,
        batch_size=2,
        flush_interval=3600,
        sleep=recording_sleep,
        jitter=lambda: 0.5,
        registry=registry,
    )
    sender.offer([make_record(1), make_record(2)])
    await wait_until(lambda: sender.dropped["retries_exhausted"] == 2)
    assert delays == [0.5, 1.0, 2.0, 2.5]  # 0.5 * min(5, 1 * 2**attempt)
    assert len(fake.received) == 5 and fake.accepted == []
    assert sender.forwarded == 0
    assert registry.get_sample_value("sidecar_logs_forward_dropped_total", {"reason": "retries_exhausted"}) == 2


@pytest.mark.parametrize("status", [400, 401, 413, 500])
async def test_other_errors_are_not_retried_and_count_as_rejected(
    collector: Start, forwarder: MakeForwarder, status: int
) -> None:
    fake, url = await collector(FakeCollector(replies=[(status, {}, b"bad secret-message-0")]))
    registry = CollectorRegistry()
    sender = await forwarder(url, registry=registry)
    with capture_logs() as logs:
        sender.offer([make_record(0), make_record(1)])
        await wait_until(lambda: sender.dropped["rejected"] == 2)
        sender.offer([make_record(2)])
        await wait_until(lambda: sender.forwarded == 1)
    assert len(fake.received) == 2
    assert fake.delivered() == ["secret-message-2"]
    assert registry.get_sample_value("sidecar_logs_forward_dropped_total", {"reason": "rejected"}) == 2
    assert any(entry["log_level"] == "warning" and entry.get("status") == status for entry in logs)
    assert "secret-message" not in repr(logs)


async def test_a_partial_success_counts_the_rejected_records(collector: Start, forwarder: MakeForwarder) -> None:
    partial = ExportLogsServiceResponse()
    partial.partial_success.rejected_log_records = 3
    partial.partial_success.error_message = "3 records too old"
    fake, url = await collector(FakeCollector(replies=[(200, {}, partial.SerializeToString())]))
    registry = CollectorRegistry()
    sender = await forwarder(url, registry=registry)
    sender.offer([make_record(i) for i in range(10)])
    await wait_until(lambda: sender.forwarded + sender.dropped["rejected"] == 10)
    assert (sender.forwarded, sender.dropped["rejected"]) == (7, 3)
    assert len(fake.received) == 1
    assert registry.get_sample_value("sidecar_logs_forwarded_total") == 7
    assert registry.get_sample_value("sidecar_logs_forward_dropped_total", {"reason": "rejected"}) == 3


async def test_the_buffer_is_bounded_and_drops_the_oldest_while_the_collector_hangs(
    collector: Start, forwarder: MakeForwarder
) -> None:
    release = asyncio.Event()
    fake, url = await collector(FakeCollector(release=release))
    registry = CollectorRegistry()
    sender = await forwarder(url, batch_size=10, max_buffer=100, timeout=30, registry=registry)
    sender.offer([make_record(i) for i in range(10)])
    await wait_until(lambda: len(fake.received) == 1)  # the first batch is in flight, hanging

    assert not inspect.iscoroutinefunction(LogForwarder.offer)
    started = time.perf_counter()
    for i in range(10, 260):
        sender.offer([make_record(i)])
        assert sender.buffered <= 100
    assert time.perf_counter() - started < 0.5
    assert sender.buffered == 100
    assert sender.dropped["buffer_full"] == 150
    assert registry.get_sample_value("sidecar_logs_forward_dropped_total", {"reason": "buffer_full"}) == 150
    assert registry.get_sample_value("sidecar_logs_forward_buffer_records") == 100

    release.set()
    await wait_until(lambda: sender.forwarded == 110)
    expected = [*range(10), *range(160, 260)]  # the in-flight batch, then the newest 100
    assert fake.delivered() == [f"secret-message-{i}" for i in expected]


async def test_close_flushes_pending_records(collector: Start) -> None:
    fake, url = await collector()
    sender = LogForwarder(url, flush_interval=3600, registry=CollectorRegistry())
    await sender.start()
    sender.offer([make_record(i) for i in range(100)])  # under a batch: only close sends it
    await asyncio.sleep(0.05)
    assert fake.received == []
    started = time.monotonic()
    await sender.close(timeout=5)
    assert time.monotonic() - started < 5
    assert fake.delivered() == [f"secret-message-{i}" for i in range(100)]
    assert sender.forwarded == 100 and sender.dropped == NO_DROPS


async def test_close_counts_what_it_could_not_send_in_time_as_shutdown_drops(collector: Start) -> None:
    release = asyncio.Event()
    _, url = await collector(FakeCollector(release=release))
    registry = CollectorRegistry()
    sender = LogForwarder(url, batch_size=10, flush_interval=0.01, timeout=30, registry=registry)
    await sender.start()
    sender.offer([make_record(i) for i in range(30)])
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await sender.close(timeout=0.2)
    assert time.monotonic() - started < 2
    assert sender.dropped == {**NO_DROPS, "shutdown": 30}  # the hanging batch and the 20 behind it
    assert sender.buffered == 0
    assert registry.get_sample_value("sidecar_logs_forward_dropped_total", {"reason": "shutdown"}) == 30
    sender.offer([make_record(99)])  # after close: counted, never raised
    assert sender.dropped["shutdown"] == 31
    release.set()


async def test_close_without_start_counts_the_buffer_as_shutdown_drops() -> None:
    sender = LogForwarder("http://127.0.0.1:9/v1/logs")
    sender.offer([make_record(1), make_record(2)])
    await sender.close(timeout=1)
    assert sender.dropped["shutdown"] == 2


def test_metrics_start_at_zero_for_every_drop_reason() -> None:
    registry = CollectorRegistry()
    LogForwarder("http://127.0.0.1:9/v1/logs", registry=registry)
    for reason in NO_DROPS:
        assert registry.get_sample_value("sidecar_logs_forward_dropped_total", {"reason": reason}) == 0
    assert registry.get_sample_value("sidecar_logs_forwarded_total") == 0


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        LogForwarder("http://127.0.0.1:9/v1/logs", batch_size=100, max_buffer=10)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("2.5", 2.5),
        ("-3", 0.0),
        ("nan", None),
        ("soon", None),
        (format_datetime(datetime.now(UTC) - timedelta(minutes=1), usegmt=True), 0.0),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_retry_after_as_a_future_http_date() -> None:
    header = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    seconds = parse_retry_after(header)
    assert seconds is not None and 85 <= seconds <= 90
