"""Typed application keys: everything the app factory injects into handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from sidecar.auth import RateLimiter, TokenRegistry
from sidecar.config import Config
from sidecar.storage import Storage
from sidecar.telemetry import HttpMetrics

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""Returns None when ready, or the reason it is not."""

CONFIG = web.AppKey("config", Config)
STORAGE = web.AppKey("storage", Storage)
REGISTRY = web.AppKey("registry", CollectorRegistry)
HTTP_METRICS = web.AppKey("http_metrics", HttpMetrics)
TRACER = web.AppKey("tracer", Tracer)
TOKENS = web.AppKey("tokens", TokenRegistry)
TOKEN_LIMITER = web.AppKey("token_limiter", RateLimiter)
IP_LIMITER = web.AppKey("ip_limiter", RateLimiter)
CLOCK = web.AppKey("clock", Callable[[], float])
READINESS = web.AppKey("readiness", list[tuple[str, ReadinessCheck]])
RELOAD_HOOKS = web.AppKey("reload_hooks", list[Callable[[], Awaitable[None]]])
"""Run on SIGHUP (rules files read again), in order."""
ROUTE_SPECS = web.AppKey("route_specs", dict[Any, Any])
