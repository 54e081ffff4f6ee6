"""Configured probes become scheduled checks that reach real local targets."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from sidecar.config import parse_config
from sidecar.probes import HealthPolicy, Scheduler, trace_config
from sidecar.probes._build import http_spec, policy_of, scheduled
from sidecar.probes._checks_http import PRESENT
from tests.conftest import POSTGRES_DSN
from tests.probes.conftest import Runs, closed_port


async def test_every_kind_runs_against_its_target(aiohttp_server: Any) -> None:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/health", health)
    server = await aiohttp_server(app)
    raw = [
        {"name": "web", "kind": "http", "url": f"http://127.0.0.1:{server.port}/health", "json_path": "$.status",
         "json_equals": "ok", "secret_headers": {"Authorization": "${TOKEN}"}},
        {"name": "port", "kind": "tcp", "host": "127.0.0.1", "port": server.port},
        {"name": "db", "kind": "postgres", "dsn": "${DSN}", "check_recovery": True},
        {"name": "cache", "kind": "redis", "host": "127.0.0.1", "port": 6379},
        {"name": "resolver", "kind": "dns", "host": "localhost", "expect": "127.0.0.1"},
        {"name": "mail", "kind": "smtp", "host": "127.0.0.1", "port": closed_port(), "timeout": "1s"},
    ]  # fmt: skip
    config = parse_config({"probes": raw}, env={"TOKEN": "Bearer t0ken", "DSN": POSTGRES_DSN})
    async with aiohttp.ClientSession(trace_configs=[trace_config()]) as session:
        scheduler = Scheduler([scheduled(probe, session) for probe in config.probes], Runs())
        runs = {probe.name: await scheduler.run_now(probe.name) for probe in config.probes}
    assert {name for name, run in runs.items() if run.outcome.ok} == {"web", "port", "db", "cache", "resolver"}
    assert runs["mail"].outcome.error and "t0ken" not in str(runs)
    assert set(runs["web"].outcome.phases) >= {"ttfb", "transfer"}


def test_http_settings_and_policy_carry_over() -> None:
    raw = {"name": "w", "kind": "http", "url": "https://a/x", "headers": {"X-A": "1"}, "degraded_after": "250ms"}
    raw |= {"secret_headers": {"Authorization": "${T}"}, "failures_to_down": 5}
    unset, null = parse_config({"probes": [raw, {**raw, "name": "n", "json_equals": None}]}, env={"T": "s"}).probes
    spec = http_spec(unset)  # type: ignore[arg-type]
    assert spec.headers == {"X-A": "1", "Authorization": "s"} and spec.json_equals is PRESENT
    assert http_spec(null).json_equals is None  # type: ignore[arg-type]
    assert policy_of(unset) == HealthPolicy(0.25, 5, 2)
