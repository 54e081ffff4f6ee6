"""Every failure answers in the standard error format with the right status."""

from __future__ import annotations

import gzip

import pytest

from sidecar.auth import hash_token
from tests.conftest import MakeClient

from .routes import TEST_ROUTES

TOKEN = "test-ingest-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = {"auth": {"tokens": [{"name": "backend", "scopes": ["ingest"], "sha256": hash_token(TOKEN)}]}}


def assert_error(body: dict, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["code"] == code
    assert body["error"]["request_id"]


@pytest.fixture
async def client(make_client: MakeClient):
    return await make_client(CONFIG, routes=TEST_ROUTES)


async def test_unknown_route_is_404(client) -> None:
    response = await client.get("/no/such/route")
    assert response.status == 404
    assert_error(await response.json(), "not_found")
    assert response.headers["X-Request-ID"] == (await response.json())["error"]["request_id"]


async def test_wrong_method_is_405_with_allow(client) -> None:
    response = await client.delete("/healthz")
    assert response.status == 405
    assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD"}
    assert_error(await response.json(), "method_not_allowed")


async def test_bad_json_is_400(client) -> None:
    response = await client.post("/test/echo", data=b'{"a": ', headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 400
    body = await response.json()
    assert_error(body, "bad_request")
    assert "not valid JSON" in body["error"]["message"]


async def test_wrong_content_type_is_415(client) -> None:
    response = await client.post("/test/echo", data=b"a=1", headers={**AUTH, "Content-Type": "text/plain"})
    assert response.status == 415
    assert_error(await response.json(), "unsupported_media_type")


async def test_oversized_body_is_413_by_length_and_when_chunked(client) -> None:
    big = b'{"a": "' + b"x" * 2000 + b'"}'
    response = await client.post("/test/echo", data=big, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 413
    assert_error(await response.json(), "payload_too_large")

    async def chunks():
        for _ in range(10):
            yield b"x" * 300

    response = await client.post("/test/echo", data=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 413
    assert_error(await response.json(), "payload_too_large")


async def test_good_request_passes_every_check(client) -> None:
    response = await client.post("/test/echo", json={"a": [1, "é"]}, headers=AUTH)
    assert response.status == 200
    assert await response.json() == {"got": {"a": [1, "é"]}, "who": "backend"}


async def test_unexpected_exception_is_500_without_internals(client) -> None:
    response = await client.get("/test/boom")
    assert response.status == 500
    text = await response.text()
    assert "secret internal detail" not in text and "Traceback" not in text and "passwd" not in text
    assert_error(await response.json(), "internal_error")


async def test_limit_applies_to_the_decompressed_body(client) -> None:
    # 5 KB of JSON compresses to a few dozen bytes: the 1 KiB limit still refuses it.
    response = await client.post(
        "/test/echo",
        data=gzip.compress(b'{"a": "' + b"x" * 5000 + b'"}'),
        headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status == 413
    assert_error(await response.json(), "payload_too_large")
