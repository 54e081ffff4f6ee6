"""The sidecar's own log lines: JSON with the request id, never tokens or bodies."""

from __future__ import annotations

import io

import orjson
import pytest
import structlog

from sidecar.auth import hash_token
from sidecar.config import LoggingConfig
from sidecar.telemetry import configure_logging
from tests.conftest import MakeClient
from tests.http.routes import TEST_ROUTES


@pytest.fixture
def log_stream():
    stream = io.BytesIO()
    configure_logging(LoggingConfig(level="debug", format="json"), stream)
    yield stream
    structlog.reset_defaults()


def lines(stream: io.BytesIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_lines_are_json_with_level_time_and_request_id(make_client: MakeClient, log_stream) -> None:
    client = await make_client(routes=TEST_ROUTES)
    response = await client.get("/test/boom", headers={"X-Request-ID": "req-42"})
    assert response.status == 500
    failure = next(line for line in lines(log_stream) if line["event"] == "request failed")
    assert failure["request_id"] == "req-42"
    assert failure["level"] == "error" and failure["timestamp"].endswith("Z")
    assert failure["route"] == "/test/boom" and failure["status"] == 500
    assert "exception" in failure  # the traceback stays in the log, not in the response


async def test_tokens_and_bodies_never_reach_the_log(make_client: MakeClient, log_stream) -> None:
    token = "sct_this-is-a-secret-token-value-000"
    known = "sct_known-token-value-111111111111"
    client = await make_client(
        {"auth": {"tokens": [{"name": "reader", "scopes": ["read"], "sha256": hash_token(known)}]}},
        routes=TEST_ROUTES,
    )
    body = {"email": "jane.doe@example.com", "card": "4111 1111 1111 1111"}
    await client.post("/test/echo", json=body, headers={"Authorization": f"Bearer {token}"})
    await client.post("/test/echo", json=body, headers={"Authorization": f"Bearer {known}"})
    await client.post(
        "/test/echo",
        data=b"{bad json jane.doe@example.com",
        headers={"Authorization": f"Bearer {known}", "Content-Type": "application/json"},
    )
    text = log_stream.getvalue().decode()
    assert lines(log_stream), "expected refusals to be logged"
    for secret in (token, known, "jane.doe@example.com", "4111"):
        assert secret not in text


def test_console_format_for_people() -> None:
    stream = io.StringIO()
    configure_logging(LoggingConfig(format="console"), stream)
    try:
        structlog.get_logger().info("hello", answer=42)
    finally:
        structlog.reset_defaults()
    assert "hello" in stream.getvalue() and "answer=42" in stream.getvalue()
    assert not stream.getvalue().startswith("{")
