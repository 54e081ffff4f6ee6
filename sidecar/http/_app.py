"""The app factory: builds a configured aiohttp application with everything injected."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterable

from aiohttp import web
from opentelemetry.sdk.trace import SpanProcessor

from sidecar.auth import RateLimiter, TokenRegistry
from sidecar.config import Config
from sidecar.storage import Storage, create_storage
from sidecar.telemetry import HttpMetrics, create_tracer_provider, new_registry

from ._keys import (
    CLOCK,
    CONFIG,
    HTTP_METRICS,
    IP_LIMITER,
    READINESS,
    REGISTRY,
    RELOAD_HOOKS,
    ROUTE_SPECS,
    STORAGE,
    TOKEN_LIMITER,
    TOKENS,
    TRACER,
)
from ._middlewares import guard, observe
from ._openapi import build_openapi
from ._routes import Reply, Route
from ._system import openapi_handler, system_routes


def create_app(
    config: Config,
    *,
    storage: Storage | None = None,
    routes: Iterable[Route] = (),
    clock: Callable[[], float] = time.monotonic,
    span_processors: tuple[SpanProcessor, ...] = (),
) -> web.Application:
    """A ready-to-run application for ``config``.

    ``storage`` defaults to the configured backend (opened on start-up and
    closed on clean-up); ``clock`` drives rate limits and windows, so tests
    control time; ``span_processors`` receive the sidecar's own spans.
    """
    app = web.Application(middlewares=[observe, guard], client_max_size=config.server.max_body_size)
    app[CONFIG] = config
    app[CLOCK] = clock
    app[STORAGE] = storage or create_storage(config.storage, config.data_dir)
    app[REGISTRY] = registry = new_registry()
    app[HTTP_METRICS] = HttpMetrics.register(registry)
    provider = create_tracer_provider(config.telemetry.tracing, extra_processors=span_processors)
    app[TRACER] = provider.get_tracer("sidecar.http")
    app[TOKENS] = TokenRegistry((token.name, token.scopes, token.sha256) for token in config.auth.tokens)
    limits = config.auth
    app[TOKEN_LIMITER] = RateLimiter(limits.per_token.rate, limits.per_token.burst, clock=clock)
    app[IP_LIMITER] = RateLimiter(
        limits.per_ip.rate, limits.per_ip.burst, max_keys=limits.max_tracked_clients, clock=clock
    )
    app[READINESS] = []
    app[RELOAD_HOOKS] = []
    _add_routes(app, [*system_routes(config), *routes])
    app.cleanup_ctx.append(_storage_lifecycle)

    async def shutdown_tracing(app: web.Application) -> None:
        # Flushing exports over HTTP: keep the event loop free meanwhile.
        await asyncio.to_thread(provider.shutdown)

    app.on_cleanup.append(shutdown_tracing)
    return app


def _add_routes(app: web.Application, routes: list[Route]) -> None:
    openapi_route = Route(
        "GET",
        "/openapi.json",
        openapi_handler({}),
        "This OpenAPI 3.1 document",
        "system",
        "openapi",
        replies={200: Reply("The OpenAPI document", {"type": "object"})},
    )
    routes = [*routes, openapi_route]
    document = build_openapi(routes)
    routes[-1] = dataclasses.replace(openapi_route, handler=openapi_handler(document))
    specs = {}
    for route in routes:
        specs[app.router.add_route(route.method, route.path, route.handler)] = route
        if route.method == "GET":
            # Registered explicitly so HEAD goes through the same auth as GET.
            specs[app.router.add_route("HEAD", route.path, route.handler)] = route
    app[ROUTE_SPECS] = specs


async def _storage_lifecycle(app: web.Application) -> AsyncIterator[None]:
    storage = app[STORAGE]
    await storage.open()
    yield
    await storage.close()
