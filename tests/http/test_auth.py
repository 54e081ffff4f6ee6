"""Bearer tokens, scopes and rate limits over real HTTP."""

from __future__ import annotations

from sidecar.auth import hash_token
from tests.conftest import MakeClient

from .routes import TEST_ROUTES

INGEST, READ = "ingest-token-0123456789abcdef", "read-token-0123456789abcdef"
TOKENS = [
    {"name": "backend", "scopes": ["ingest"], "sha256": hash_token(INGEST)},
    {"name": "grafana", "scopes": ["read"], "sha256": hash_token(READ)},
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_protected_route_needs_a_known_token_with_the_scope(make_client: MakeClient) -> None:
    client = await make_client({"auth": {"tokens": TOKENS}}, routes=TEST_ROUTES)
    missing = await client.post("/test/echo", json={})
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    unknown = await client.post("/test/echo", json={}, headers=bearer("nope-" + INGEST))
    assert unknown.status == 401
    assert (await unknown.json())["error"]["code"] == "unauthorized"
    wrong_scope = await client.post("/test/echo", json={}, headers=bearer(READ))
    assert wrong_scope.status == 403
    assert (await wrong_scope.json())["error"]["code"] == "forbidden"
    ok = await client.post("/test/echo", json={}, headers=bearer(INGEST))
    assert ok.status == 200


async def test_default_config_grants_no_write_access(make_client: MakeClient) -> None:
    client = await make_client({}, routes=TEST_ROUTES)
    assert (await client.post("/test/echo", json={})).status == 401
    assert (await client.post("/test/echo", json={}, headers=bearer(INGEST))).status == 401


async def test_tokens_from_the_environment_work(make_client: MakeClient) -> None:
    client = await make_client({}, env={"SIDECAR_API_TOKENS": f"svc:ingest+read:{INGEST}"}, routes=TEST_ROUTES)
    response = await client.post("/test/echo", json={"x": 1}, headers=bearer(INGEST))
    assert response.status == 200
    assert (await response.json())["who"] == "svc"


async def test_metrics_can_require_the_read_scope(make_client: MakeClient) -> None:
    client = await make_client({"auth": {"tokens": TOKENS}, "metrics": {"public": False}})
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers=bearer(INGEST))).status == 403
    assert (await client.get("/metrics", headers=bearer(READ))).status == 200
    public = await make_client({"auth": {"tokens": TOKENS}})
    assert (await public.get("/metrics")).status == 200


async def test_head_goes_through_the_same_auth_as_get(make_client: MakeClient) -> None:
    client = await make_client({"auth": {"tokens": TOKENS}, "metrics": {"public": False}})
    assert (await client.head("/metrics")).status == 401
    assert (await client.head("/metrics", headers=bearer(READ))).status == 200


async def test_anonymous_clients_are_limited_per_address(make_client: MakeClient) -> None:
    client = await make_client({"auth": {"per_ip": {"rate": 0.001, "burst": 3}}})
    statuses = [(await client.get("/healthz")).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = await client.get("/healthz")
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert (await refused.json())["error"]["code"] == "rate_limited"


async def test_tokens_have_their_own_budget(make_client: MakeClient) -> None:
    client = await make_client(
        {"auth": {"tokens": TOKENS, "per_token": {"rate": 0.001, "burst": 2}, "per_ip": {"rate": 0.001, "burst": 1}}},
        routes=TEST_ROUTES,
    )
    statuses = [(await client.post("/test/echo", json={}, headers=bearer(INGEST))).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    # The other token and the anonymous budget are untouched.
    assert (await client.get("/healthz", headers=bearer(READ))).status == 200
    ok = await client.get("/healthz")
    assert ok.status == 200 and ok.headers["RateLimit-Limit"] == "1"


async def test_guessing_tokens_spends_the_address_budget(make_client: MakeClient) -> None:
    client = await make_client({"auth": {"tokens": TOKENS, "per_ip": {"rate": 0.001, "burst": 2}}}, routes=TEST_ROUTES)
    statuses = [(await client.post("/test/echo", json={}, headers=bearer(f"guess-{i:020d}"))).status for i in range(3)]
    assert statuses == [401, 401, 429]


async def test_forwarded_for_is_believed_only_from_trusted_proxies(make_client: MakeClient) -> None:
    limits = {"per_ip": {"rate": 0.001, "burst": 1}}
    untrusted = await make_client({"auth": limits})
    assert (await untrusted.get("/healthz", headers={"X-Forwarded-For": "203.0.113.1"})).status == 200
    # Spoofed header ignored: same loopback address, budget spent.
    assert (await untrusted.get("/healthz", headers={"X-Forwarded-For": "203.0.113.2"})).status == 429
    trusted = await make_client({"auth": limits, "server": {"trusted_proxies": ["127.0.0.0/8", "::1/128"]}})
    assert (await trusted.get("/healthz", headers={"X-Forwarded-For": "203.0.113.1"})).status == 200
    assert (await trusted.get("/healthz", headers={"X-Forwarded-For": "203.0.113.2"})).status == 200
    assert (await trusted.get("/healthz", headers={"X-Forwarded-For": "203.0.113.1"})).status == 429
