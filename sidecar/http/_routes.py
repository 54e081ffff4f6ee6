"""Declarative routes: one table drives the router, auth, body limits and OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from sidecar.errors import BadRequest, PayloadTooLarge

from ._keys import CONFIG, ROUTE_SPECS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = type[BaseModel] | dict[str, Any]

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Reply:
    """One documented response of a route."""

    description: str
    schema: Schema | None = None
    content_type: str = JSON


@dataclass(frozen=True, slots=True)
class Param:
    """One documented query or path parameter."""

    name: str
    description: str
    location: str = "query"
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """A route and everything the HTTP layer enforces or documents about it.

    ``scope`` None makes the route public; ``accepts`` lists the request
    content types (415 otherwise); ``max_body`` overrides the server's body
    limit for this route; ``traced`` False leaves out the server span.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    name: str
    scope: str | None = None
    accepts: tuple[str, ...] = ()
    max_body: int | None = None
    request_schema: Schema | None = None
    params: tuple[Param, ...] = ()
    replies: dict[int, Reply] = field(default_factory=dict)
    traced: bool = True  # False: no server span (public routes serving prebuilt answers)


def route_of(request: web.Request) -> Route | None:
    """The :class:`Route` that matched ``request`` (None for unmatched requests)."""
    info = request.match_info
    if info.http_exception is not None:
        return None
    return request.app[ROUTE_SPECS].get(info.route)


def body_limit(request: web.Request) -> int:
    """The body limit of the matched route (the server's default when it sets none)."""
    route = route_of(request)
    return (route.max_body if route else None) or request.app[CONFIG].server.max_body_size


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """The request body, refusing more than ``limit`` (default: the route's) bytes with 413, chunked too.

    Bodies sent with ``Content-Encoding: gzip`` arrive decompressed (aiohttp
    decompresses in bounded steps), so the limit applies to the decompressed size.
    """
    limit = body_limit(request) if limit is None else limit
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is {request.content_length} bytes; this route takes at most {limit}")
    chunks, size = [], 0
    try:
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body exceeds {limit} bytes, the limit of this route")
            chunks.append(chunk)
    except web.RequestPayloadError:
        raise BadRequest("the body cannot be read: corrupt Content-Encoding or truncated transfer") from None
    return b"".join(chunks)


async def read_json(request: web.Request, limit: int | None = None) -> Any:
    """The request body parsed as JSON (400 with the parser's reason if it is not)."""
    body = await read_body(request, limit)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response serialised with orjson."""
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON, headers=headers)
