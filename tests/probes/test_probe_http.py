"""The http check against real local aiohttp servers: phases, each condition, redirects, TLS, timeouts."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.probes._checks_http import HttpOutcome, HttpSpec, check_http, parse_json_path, trace_config

TIMEOUT = 2.0
SECRET = "s3cr3t-token-value"

Server = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def app(aiohttp_server: Server) -> AsyncIterator[web.Application]:
    """An app with one route per behaviour; hanging handlers are released before the server closes."""
    release = asyncio.Event()

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="hello, healthy world", headers={"X-Token": SECRET})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)
        return web.Response(text="late")

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="never seen")

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]))

    async def data(request: web.Request) -> web.Response:
        return web.json_response({"a": {"b": [{"c": 42}, {"c": 7}], "flag": True}})

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    application = web.Application()
    application.router.add_get("/ok", ok)
    application.router.add_get("/slow", slow)
    application.router.add_get("/hang", hang)
    application.router.add_get("/status/{code}", status)
    application.router.add_get("/json", data)
    application.router.add_get("/redirect", redirect)
    yield application
    release.set()


@pytest.fixture
async def base(aiohttp_server: Server, app: web.Application) -> str:
    """The plain-HTTP base URL of ``app``."""
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trace_configs=[trace_config()]) as client:
        yield client


async def check(
    session: aiohttp.ClientSession,
    url: str,
    timeout: float = TIMEOUT,  # noqa: ASYNC109 (passed through to the check's deadline)
    **spec: Any,
) -> HttpOutcome:
    """Run the http check on ``url`` with the given spec fields."""
    return await check_http(session, HttpSpec(url=url, **spec), timeout=timeout)


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- success, status and timing --------------------------------------------------------------


async def test_healthy_endpoint_is_ok_with_all_four_phases(session: aiohttp.ClientSession, base: str) -> None:
    outcome = await check(session, f"{base}/ok")
    assert outcome.ok, outcome.error
    assert outcome.status_code == 200 and outcome.cert_expiry is None
    assert list(outcome.phases) == ["dns", "connect", "ttfb", "transfer"]
    assert all(value >= 0 for value in outcome.phases.values())
    assert outcome.phases["connect"] > 0 and outcome.phases["ttfb"] > 0
    assert sum(outcome.phases.values()) <= outcome.duration


async def test_status_outside_the_expected_ranges_is_not_ok(session: aiohttp.ClientSession, base: str) -> None:
    outcome = await check(session, f"{base}/status/503")
    assert not outcome.ok and outcome.status_code == 503
    assert outcome.error == "status 503, expected 200-399"
    assert (await check(session, f"{base}/status/503", expect_status=((200, 299), (503, 503)))).ok


async def test_slow_response_over_max_response_time_is_not_ok(session: aiohttp.ClientSession, base: str) -> None:
    outcome = await check(session, f"{base}/slow", max_response_time=0.1)
    assert not outcome.ok and outcome.status_code == 200
    assert outcome.error is not None and "over max_response_time 0.1s" in outcome.error


async def test_hanging_endpoint_is_cut_at_the_timeout(session: aiohttp.ClientSession, base: str) -> None:
    start = time.perf_counter()
    outcome = await check(session, f"{base}/hang", timeout=0.5)
    elapsed = time.perf_counter() - start
    assert not outcome.ok and outcome.error == "timed out after 0.5s"
    assert elapsed < 0.5 + 0.5
    assert "connect" in outcome.phases and "transfer" not in outcome.phases


async def test_refused_connection_is_not_ok_with_a_short_reason(session: aiohttp.ClientSession) -> None:
    outcome = await check(session, f"http://127.0.0.1:{closed_port()}/", headers={"Authorization": SECRET})
    assert not outcome.ok and outcome.status_code is None
    assert outcome.error is not None and outcome.error.startswith("ClientConnectorError")
    assert len(outcome.error) <= 200 and SECRET not in outcome.error


# --- body, JSON and headers --------------------------------------------------------------------


async def test_body_contains(session: aiohttp.ClientSession, base: str) -> None:
    assert (await check(session, f"{base}/ok", body_contains="healthy")).ok
    outcome = await check(session, f"{base}/ok", body_contains="x" * 100)
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.startswith("body does not contain 'xxx") and "(starts 'hello, healthy world')" in outcome.error
    assert len(outcome.error) <= 200


async def test_json_path_equals_nested_values_and_list_items(session: aiohttp.ClientSession, base: str) -> None:
    assert (await check(session, f"{base}/json", json_path="$.a.b[1].c", json_equals=7)).ok
    assert (await check(session, f"{base}/json", json_path="$.a.b[0]", json_equals={"c": 42})).ok
    assert (await check(session, f"{base}/json", json_path="$.a.flag")).ok  # only has to exist
    assert not (await check(session, f"{base}/json", json_path="$.a.flag", json_equals=1)).ok  # true is not 1


async def test_json_path_mismatch_and_missing_path_say_which(session: aiohttp.ClientSession, base: str) -> None:
    outcome = await check(session, f"{base}/json", json_path="$.a.b[0].c", json_equals=41)
    assert not outcome.ok and outcome.error == "$.a.b[0].c is '42', expected '41'"
    outcome = await check(session, f"{base}/json", json_path="$.a.b[5].c", json_equals=41)
    assert outcome.error == "$.a.b[5].c not found"
    outcome = await check(session, f"{base}/ok", json_path="$.a")
    assert outcome.error == "body is not JSON (starts 'hello, healthy world')"


def test_json_path_parser_accepts_only_simple_paths() -> None:
    assert parse_json_path("$") == []
    assert parse_json_path("$.a.b_2[0].c") == ["a", "b_2", 0, "c"]
    for bad in ("a.b", "$.a[x]", "$..a", "$.a b"):
        with pytest.raises(ValueError):
            parse_json_path(bad)
    with pytest.raises(ValueError):
        HttpSpec(url="http://x/", json_path="$[")


async def test_header_equals_never_reveals_the_values(session: aiohttp.ClientSession, base: str) -> None:
    assert (await check(session, f"{base}/ok", header_equals={"x-token": SECRET})).ok
    outcome = await check(session, f"{base}/ok", header_equals={"X-Token": "other-value"})
    assert not outcome.ok and outcome.error == "header 'X-Token' does not have the expected value"
    outcome = await check(session, f"{base}/ok", header_equals={"X-Absent": "v"})
    assert outcome.error == "header 'X-Absent' missing"


async def test_first_failing_condition_is_the_error(session: aiohttp.ClientSession, base: str) -> None:
    outcome = await check(session, f"{base}/status/404", body_contains="nope", header_equals={"X-A": "b"})
    assert outcome.error == "status 404, expected 200-399"


# --- redirects ---------------------------------------------------------------------------------


async def test_redirect_is_followed_by_default(session: aiohttp.ClientSession, base: str) -> None:
    outcome = await check(session, f"{base}/redirect", body_contains="healthy", expect_status=((200, 200),))
    assert outcome.ok, outcome.error
    assert outcome.status_code == 200 and outcome.phases["ttfb"] > 0


async def test_unfollowed_redirect_satisfies_only_a_range_that_includes_it(
    session: aiohttp.ClientSession, base: str
) -> None:
    outcome = await check(session, f"{base}/redirect", follow_redirects=False)
    assert outcome.ok and outcome.status_code == 302
    outcome = await check(session, f"{base}/redirect", follow_redirects=False, expect_status=((200, 200),))
    assert not outcome.ok and outcome.error == "status 302, expected 200"


# --- https -------------------------------------------------------------------------------------


@pytest.fixture
async def https_base(aiohttp_server: Server, app: web.Application, tls_files: tuple[Path, Path]) -> str:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    server = await aiohttp_server(app, ssl=context)
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def https_session(tls_files: tuple[Path, Path]) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=str(tls_files[0])))
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace_config()]) as client:
        yield client


async def test_https_reports_the_certificate_expiry(https_session: aiohttp.ClientSession, https_base: str) -> None:
    assert https_base.startswith("https://")
    outcome = await check(https_session, f"{https_base}/ok", cert_min_days=0)
    assert outcome.ok, outcome.error
    assert outcome.cert_expiry is not None
    assert abs(outcome.cert_expiry - (time.time() + 86400)) < 120
    assert outcome.phases["connect"] > 0  # includes the TLS handshake


async def test_https_certificate_expiring_too_soon_is_not_ok(
    https_session: aiohttp.ClientSession, https_base: str
) -> None:
    outcome = await check(https_session, f"{https_base}/ok", cert_min_days=30)
    assert not outcome.ok and outcome.status_code == 200 and outcome.cert_expiry is not None
    assert outcome.error is not None and outcome.error.startswith("certificate expires in 1.0 days, fewer than 30")


async def test_https_untrusted_certificate_is_not_ok(session: aiohttp.ClientSession, https_base: str) -> None:
    outcome = await check(session, f"{https_base}/ok")
    assert not outcome.ok and outcome.error is not None and "CERTIFICATE_VERIFY_FAILED" in outcome.error
    assert len(outcome.error) <= 200


async def test_host_name_resolution_is_timed_as_dns(session: aiohttp.ClientSession, base: str) -> None:
    outcome = await check(session, base.replace("127.0.0.1", "localhost") + "/ok")
    assert outcome.ok, outcome.error
    assert outcome.phases["dns"] > 0 and outcome.phases["connect"] > 0
