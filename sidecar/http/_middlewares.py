"""The two middlewares: ``observe`` (ids, logs, traces, metrics, errors) and ``guard`` (auth, limits)."""

from __future__ import annotations

import ipaddress
import os
import re
import time
from contextlib import nullcontext

import structlog
from aiohttp import web
from opentelemetry.trace import INVALID_SPAN, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sidecar.auth import ANONYMOUS, Principal
from sidecar.errors import Forbidden, PayloadTooLarge, RateLimited, Unauthorized, UnsupportedMediaType

from ._errors import error_response
from ._keys import CONFIG, HTTP_METRICS, IP_LIMITER, TOKEN_LIMITER, TOKENS, TRACER
from ._routes import Handler, body_limit, route_of

log = structlog.get_logger("sidecar.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_PROPAGATOR = TraceContextTextMapPropagator()
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", Principal)


def request_id_of(request: web.Request) -> str:
    """The caller's ``X-Request-ID``, else the trace id of its ``traceparent``, else a new id."""
    given = request.headers.get("X-Request-ID", "")
    if _REQUEST_ID.match(given):
        return given
    parent = _TRACEPARENT.match(request.headers.get("traceparent", ""))
    if parent and parent.group(1) != "0" * 32:
        return parent.group(1)
    return os.urandom(16).hex()


def principal_of(request: web.Request) -> Principal:
    """Who made the request (set by ``guard``)."""
    return request.get(PRINCIPAL, ANONYMOUS)


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, log context, a server span, metrics, and the error format for every failure."""
    request_id = request[REQUEST_ID] = request_id_of(request)
    route = route_of(request)
    template = route.path if route else "unmatched"
    metrics = request.app[HTTP_METRICS]
    started = time.perf_counter()
    metrics.in_flight.inc()
    # Routes that only serve prebuilt answers to anyone (the status page) skip the span: it would be
    # most of the cost of each request, and tells nothing the request metrics do not.
    traced = route is None or route.traced
    spans = (
        request.app[TRACER].start_as_current_span(
            f"{request.method} {template}",
            context=_PROPAGATOR.extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "http.route": template},
        )
        if traced
        else nullcontext(INVALID_SPAN)
    )
    with structlog.contextvars.bound_contextvars(request_id=request_id), spans as span:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            # Redirects and other non-errors raised by aiohttp pass through as they are.
            response = exc if exc.status < 400 else error_response(exc, request_id)
        except Exception as exc:
            response = error_response(exc, request_id)
            _log_failure(request, template, response.status, exc)
        finally:
            metrics.in_flight.dec()
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
    response.headers["X-Request-ID"] = request_id
    metrics.observe(request.method, template, response.status, time.perf_counter() - started)
    return response


def _log_failure(request: web.Request, route: str, status: int, exc: Exception) -> None:
    if status >= 500:
        log.error("request failed", method=request.method, route=route, status=status, exc_info=exc)
    else:
        log.info("request refused", method=request.method, route=route, status=status, reason=type(exc).__name__)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authentication, rate limits, scope, content type and body size, before the handler runs."""
    principal, decision = _authenticate(request)
    if not decision.allowed:
        raise RateLimited(
            "rate limit exceeded; retry later", retry_after=decision.retry_after_seconds, headers=decision.headers()
        )
    route = route_of(request)
    if route is not None:
        if route.scope is not None and principal is ANONYMOUS:
            raise Unauthorized("this route needs a bearer token", headers={"WWW-Authenticate": "Bearer"})
        if route.scope is not None and not principal.allows(route.scope):
            raise Forbidden(f"this route needs the {route.scope!r} scope")
        if route.accepts and request.method in _BODY_METHODS:
            if request.content_type not in route.accepts:
                raise UnsupportedMediaType(f"expected Content-Type {' or '.join(route.accepts)}")
            limit = body_limit(request)
            if request.content_length is not None and request.content_length > limit:
                raise PayloadTooLarge(f"the body is {request.content_length} bytes; this route takes at most {limit}")
    request[PRINCIPAL] = principal
    response = await handler(request)
    response.headers.update(decision.headers())
    return response


def _authenticate(request: web.Request):  # type: ignore[no-untyped-def]
    header = request.headers.get("Authorization")
    if header is None:
        return ANONYMOUS, request.app[IP_LIMITER].take(client_ip(request))
    scheme, _, token = header.partition(" ")
    principal = request.app[TOKENS].authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if principal is None:
        # Failed attempts spend the address's budget, which slows down guessing.
        decision = request.app[IP_LIMITER].take(client_ip(request))
        if not decision.allowed:
            raise RateLimited(
                "rate limit exceeded; retry later", retry_after=decision.retry_after_seconds, headers=decision.headers()
            )
        raise Unauthorized("unknown bearer token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return principal, request.app[TOKEN_LIMITER].take(f"token:{principal.name}")


def client_ip(request: web.Request) -> str:
    """The client's address; ``X-Forwarded-For`` is believed only from configured proxies."""
    remote = request.remote or "unknown"
    proxies = request.app[CONFIG].server.trusted_proxies
    if not proxies or not _in_networks(remote, proxies):
        return remote
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _in_networks(hop, proxies):
            return hop
    return hops[0] if hops else remote


def _in_networks(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)
