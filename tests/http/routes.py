"""Routes that exist only in tests, to exercise the HTTP layer's shared mechanisms."""

from __future__ import annotations

import asyncio

from aiohttp import web

from sidecar.http import JSON, Route, json_response, principal_of, read_json

ECHO_LIMIT = 1024


async def echo(request: web.Request) -> web.Response:
    body = await read_json(request, ECHO_LIMIT)
    return json_response({"got": body, "who": principal_of(request).name})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internal detail /etc/passwd")


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("s", "1")))
    return json_response({"slept": True})


ECHO = Route("POST", "/test/echo", echo, "Echo", "test", "echo", scope="ingest", accepts=(JSON,), max_body=ECHO_LIMIT)
BOOM = Route("GET", "/test/boom", boom, "Fails", "test", "boom")
SLOW = Route("GET", "/test/slow", slow, "Slow", "test", "slow")
TEST_ROUTES = (ECHO, BOOM, SLOW)
