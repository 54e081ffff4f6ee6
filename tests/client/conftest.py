"""A local sidecar speaking the outcomes and failover contract, and clients closed after each test."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.client import SidecarClient

TOKEN = "client-token-0123456789abcdef"


@dataclass
class FakeSidecar:
    """State of the fake sidecar; tests change it and read what it received."""

    active: dict[str, str | None] = field(default_factory=lambda: {"ai": "openai", "email": "sendgrid"})
    fail_closed: set[str] = field(default_factory=set)
    versions: dict[str, int] = field(default_factory=dict)
    outcome_answers: list[tuple[int, str | None]] = field(default_factory=list)  # answered before normal service
    outcome_requests: list[tuple[float, int, int]] = field(default_factory=list)  # (time, status, batch size)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    failover_queries: list[dict[str, str]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    parked: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def etag(self, group: str) -> str:
        return f'"{group}-{self.versions.get(group, 0)}"'

    def switch(self, group: str, active: str | None, *, fail_closed: bool = False) -> None:
        self.active[group] = active
        (self.fail_closed.add if fail_closed else self.fail_closed.discard)(group)
        self.versions[group] = self.versions.get(group, 0) + 1
        self.changed.set()
        self.changed = asyncio.Event()

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [outcome for outcome in self.outcomes if outcome["provider"] != "unknown"]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/breakers/outcomes", self.post_outcomes)
        app.router.add_get("/api/v1/failover/{group}", self.get_failover)
        return app

    async def post_outcomes(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization", ""))
        batch = (await request.json())["outcomes"]
        if self.outcome_answers:
            status, retry_after = self.outcome_answers.pop(0)
            self.outcome_requests.append((time.monotonic(), status, len(batch)))
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return web.json_response({"error": {"code": "busy", "message": "busy"}}, status=status, headers=headers)
        self.outcome_requests.append((time.monotonic(), 200, len(batch)))
        self.outcomes.extend(batch)
        rejected = [
            {"index": i, "error": "unknown provider"} for i, item in enumerate(batch) if item["provider"] == "unknown"
        ]
        return web.json_response({"accepted": len(batch) - len(rejected), "rejected": rejected})

    async def get_failover(self, request: web.Request) -> web.StreamResponse:
        self.authorizations.append(request.headers.get("Authorization", ""))
        group = request.match_info["group"]
        self.failover_queries.append(dict(request.query))
        if group not in self.active:
            return web.json_response({"error": {"code": "not_found", "message": "no such group"}}, status=404)
        if "wait" in request.query and request.query.get("etag") == self.etag(group):
            deadline = time.monotonic() + float(request.query["wait"].removesuffix("s"))
            self.parked += 1
            try:
                while request.query["etag"] == self.etag(group) and time.monotonic() < deadline:
                    if request.transport is None or request.transport.is_closing():
                        return web.Response(status=499)
                    changed = self.changed
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), min(0.1, max(0.0, deadline - time.monotonic())))
            finally:
                self.parked -= 1
            if request.query["etag"] == self.etag(group):
                return web.Response(status=304, headers={"ETag": self.etag(group)})
        body = {
            "group": group,
            "active": self.active[group],
            "reason": "primary closed",
            "changed_at": "2026-11-25T14:00:00.000Z",
            "providers": [],
        }
        headers = {"ETag": self.etag(group)}
        if group in self.fail_closed:
            error = {"code": "unavailable", "message": "every provider is open", "details": body, "request_id": "r1"}
            return web.json_response({"error": error}, status=503, headers={"Retry-After": "5"})
        return web.json_response(body, headers=headers)


@pytest.fixture
async def fake(aiohttp_server: Any) -> tuple[FakeSidecar, TestServer]:
    state = FakeSidecar()
    return state, await aiohttp_server(state.app())


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., SidecarClient]]:
    """``make_client(url, **options)``: a client with the test token, closed (off the event loop) after the test."""
    clients: list[SidecarClient] = []

    def make(url: str, **options: Any) -> SidecarClient:
        options.setdefault("token", TOKEN)
        client = SidecarClient(url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await asyncio.to_thread(client.close)


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> float:
    """Poll ``check`` until it holds; the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not true within {seconds} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - start
