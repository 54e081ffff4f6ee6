"""``sidecar.client`` over real loopback HTTP: a dead port, a local fake sidecar, and the real app."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from sidecar.client import ClientStats, SidecarClient
from tests.client.conftest import TOKEN, FakeSidecar, eventually
from tests.probes.conftest import closed_port

ROOT = Path(__file__).resolve().parents[2]
RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
Fake = tuple[FakeSidecar, TestServer]
MakeClient = Callable[..., SidecarClient]


def url(server: TestServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def test_importable_with_the_standard_library_only() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import sidecar.client; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'pydantic', 'orjson', 'yarl') "
        "or (m.startswith('sidecar.') and not m.startswith('sidecar.client'))))"
    )
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_dead_sidecar_never_blocks_the_backend() -> None:
    client = SidecarClient(f"http://127.0.0.1:{closed_port()}", token=TOKEN, groups={"ai": "anthropic"})
    start = time.monotonic()
    for i in range(12_000):
        client.report("anthropic", ok=i % 2 == 0, latency_ms=12.5, error_type=None if i % 2 == 0 else "timeout")
    assert time.monotonic() - start < 2.0  # about 20 ms; loose for a busy machine
    assert 1_000 <= client.stats.dropped <= 2_000  # the queue holds 10,000, the batch in retry up to 500 more
    assert client.active("ai") == "anthropic"
    with pytest.raises(KeyError):
        client.active("payments")
    time.sleep(0.6)
    assert client.stats.failed_requests >= 1
    start = time.monotonic()
    client.close()
    assert time.monotonic() - start < 2.0
    assert client.stats == ClientStats(sent=0, dropped=12_000, rejected=0, failed_requests=client.stats.failed_requests)
    client.report("anthropic", ok=True, latency_ms=1.0)  # after close: dropped, no error
    assert client.stats.dropped == 12_001
    assert client.active("ai") == "anthropic"


async def test_outcomes_arrive_in_few_batches(fake: Fake, make_client: MakeClient) -> None:
    state, server = fake
    client = make_client(url(server))
    for i in range(1_200):
        client.report("openai" if i % 3 else "anthropic", ok=i % 10 != 0, latency_ms=i / 2, error_type="RateLimit")
    await eventually(lambda: len(state.outcomes) == 1_200 and client.stats.sent == 1_200)
    assert len(state.outcome_requests) <= 4  # 500 + 500 + 200, or one more split by timing
    assert client.stats == ClientStats(sent=1_200, dropped=0, rejected=0, failed_requests=0)
    first = state.outcomes[0]
    assert set(first) == {"provider", "ok", "latency_ms", "error_type", "at"}
    assert first["provider"] == "anthropic" and first["ok"] is False and first["latency_ms"] == 0.0
    assert first["error_type"] == "RateLimit" and RFC3339_MS.fullmatch(first["at"])
    assert state.authorizations == [f"Bearer {TOKEN}"] * len(state.outcome_requests)


async def test_a_lone_outcome_is_sent_within_the_flush_interval(fake: Fake, make_client: MakeClient) -> None:
    state, server = fake
    client = make_client(url(server))
    client.report("resend", ok=True, latency_ms=3)
    took = await eventually(lambda: len(state.outcomes) == 1)
    assert took < 1.5 and state.outcomes[0]["error_type"] is None


async def test_a_busy_sidecar_gets_the_batch_again_after_retry_after(fake: Fake, make_client: MakeClient) -> None:
    state, server = fake
    state.outcome_answers = [(503, "1"), (429, "0")]
    client = make_client(url(server))
    for _ in range(10):
        client.report("anthropic", ok=False, latency_ms=30_000, error_type="timeout")
    await eventually(lambda: len(state.outcomes) == 10 and client.stats.sent == 10, seconds=10)
    (first, status1, _), (second, status2, _), (third, status3, size) = state.outcome_requests
    assert (status1, status2, status3, size) == (503, 429, 200, 10)
    assert second - first >= 0.9  # Retry-After: 1
    assert third - second >= 0.9  # Retry-After: 0, but the backoff has doubled to 1 s
    assert client.stats == ClientStats(sent=10, dropped=0, rejected=0, failed_requests=2)


async def test_rejections_are_counted_not_retried(fake: Fake, make_client: MakeClient) -> None:
    state, server = fake
    client = make_client(url(server), flush_interval=0.05)
    for provider in ["anthropic", "unknown", "openai", "unknown", "stripe"]:
        client.report(provider, ok=True, latency_ms=1)
    await eventually(lambda: client.stats.sent == 3)
    assert client.stats.rejected == 2 and len(state.outcome_requests) == 1
    state.outcome_answers = [(422, None)]
    client.report("stripe", ok=True, latency_ms=1)
    client.report("stripe", ok=True, latency_ms=1)
    await eventually(lambda: client.stats.rejected == 4)
    await asyncio.sleep(0.3)
    assert len(state.outcome_requests) == 2
    assert client.stats == ClientStats(sent=3, dropped=0, rejected=4, failed_requests=0)


async def test_a_switch_reaches_active_within_a_second(fake: Fake, make_client: MakeClient) -> None:
    state, server = fake
    changes: list[tuple[str, str | None]] = []
    client = make_client(
        url(server), groups={"ai": "anthropic", "email": "resend"}, on_change=lambda *change: changes.append(change)
    )
    await eventually(lambda: client.active("ai") == "openai" and client.active("email") == "sendgrid")
    await eventually(lambda: state.parked == 2)  # both groups long-poll at once
    assert {"wait": "25s", "etag": '"ai-0"'} in state.failover_queries
    assert {"wait": "25s", "etag": '"email-0"'} in state.failover_queries
    state.switch("ai", "anthropic")
    took = await eventually(lambda: client.active("ai") == "anthropic")
    assert took < 1.0
    await eventually(lambda: {"wait": "25s", "etag": '"ai-1"'} in state.failover_queries)
    assert client.active("email") == "sendgrid"
    await eventually(lambda: len(changes) == 3, seconds=1)
    assert changes == [("ai", "openai"), ("email", "sendgrid"), ("ai", "anthropic")] or changes == [
        ("email", "sendgrid"),
        ("ai", "openai"),
        ("ai", "anthropic"),
    ]
    assert set(state.authorizations) == {f"Bearer {TOKEN}"}


async def test_fail_closed_makes_active_none_until_a_provider_recovers(fake: Fake, make_client: MakeClient) -> None:
    state, server = fake
    client = make_client(url(server), groups={"ai": "anthropic"})
    await eventually(lambda: client.active("ai") == "openai")
    state.switch("ai", None, fail_closed=True)
    assert await eventually(lambda: client.active("ai") is None) < 1.0
    await asyncio.sleep(1.5)  # polled again while fail-closed: still None, not the fallback
    assert client.active("ai") is None
    state.switch("ai", "openai")
    assert await eventually(lambda: client.active("ai") == "openai") < 1.5


async def test_a_stale_answer_gives_way_to_the_fallback(fake: Fake, make_client: MakeClient) -> None:
    state, server = fake
    changes: list[tuple[str, str | None]] = []
    client = make_client(
        url(server), groups={"ai": "anthropic"}, stale_after=1.5, on_change=lambda *change: changes.append(change)
    )
    await eventually(lambda: client.active("ai") == "openai")
    await asyncio.sleep(2.5)  # healthy long polls (wait=1s) keep the answer fresh
    assert client.active("ai") == "openai"
    assert {"wait": "1s", "etag": '"ai-0"'} in state.failover_queries
    await server.close()
    took = await eventually(lambda: client.active("ai") == "anthropic")
    assert took < 3.0
    await eventually(lambda: len(changes) == 2, seconds=1)  # called from the watcher thread, just after
    assert changes == [("ai", "openai"), ("ai", "anthropic")]


async def test_close_does_not_wait_for_a_long_poll(fake: Fake, make_client: MakeClient) -> None:
    state, server = fake
    client = make_client(url(server), groups={"ai": "anthropic"})
    await eventually(lambda: state.parked == 1)
    client.report("openai", ok=True, latency_ms=5)
    start = time.monotonic()
    await asyncio.to_thread(client.close)
    assert time.monotonic() - start < 1.0
    assert client.stats.sent == 1 and len(state.outcomes) == 1  # flushed on close
    assert client.active("ai") == "openai"  # the last answer stays until it goes stale


async def test_the_token_is_sent_as_bearer_and_never_logged(
    fake: Fake, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sidecar.client")
    state, server = fake
    state.outcome_answers = [(503, "0")]
    client = make_client(url(server), groups={"ai": "anthropic", "payments": "stripe"}, flush_interval=0.05)
    client.report("unknown", ok=False, latency_ms=1)
    client.report("anthropic", ok=float("nan"), latency_ms=float("nan"))
    await eventually(lambda: client.stats.rejected == 1, seconds=10)
    await eventually(lambda: any("payments" in record.getMessage() for record in caplog.records))
    dead = make_client(f"http://127.0.0.1:{closed_port()}", groups={"ai": "anthropic"})
    dead.report("anthropic", ok=True, latency_ms=1)
    await asyncio.to_thread(dead.close, 0.3)
    await asyncio.to_thread(client.close)
    assert set(state.authorizations) == {f"Bearer {TOKEN}"}
    messages = [record.getMessage() for record in caplog.records]
    assert any("503" in message for message in messages) and any("unreachable" in message for message in messages)
    assert any("rejected 1 of 1" in message for message in messages)
    assert TOKEN not in caplog.text and TOKEN not in repr(client)
    with pytest.raises(ValueError) as bad:
        SidecarClient("http://127.0.0.1:1", token=TOKEN + "\r\nX-Injected: 1")
    assert TOKEN not in str(bad.value)


async def test_against_the_live_sidecar(aiohttp_server: Any, make_client: MakeClient, tmp_path: Path) -> None:
    from sidecar.app import create_app
    from sidecar.auth import hash_token
    from sidecar.config import parse_config
    from tests.api.test_logs import KEY, base_config

    raw = base_config(tmp_path)
    raw["auth"]["tokens"].append({"name": "backend-client", "scopes": ["ingest", "read"], "sha256": hash_token(TOKEN)})
    raw["breakers"] = {
        "groups": {"ai": ["anthropic", "openai"]},
        "providers": {"anthropic": {"fail_max": 3, "reset_timeout": "30s"}},
    }
    server = await aiohttp_server(create_app(parse_config(raw, env={"KEY": KEY})))
    client = make_client(url(server), groups={"ai": "openai"}, flush_interval=0.05)
    await eventually(lambda: client.active("ai") == "anthropic")  # the primary, while its breaker is closed
    for _ in range(3):
        client.report("anthropic", ok=False, latency_ms=1_200.0, error_type="timeout")
    await eventually(lambda: client.stats.sent == 3)
    took = await eventually(lambda: client.active("ai") == "openai")
    assert took < 1.0
    assert client.stats == ClientStats(sent=3, dropped=0, rejected=0, failed_requests=0)
