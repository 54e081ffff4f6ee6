"""Request ids: accepted, derived from traceparent, or made; always echoed."""

from __future__ import annotations

from tests.conftest import MakeClient


async def test_given_request_id_is_echoed(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.get("/healthz", headers={"X-Request-ID": "req-abc.123"})
    assert response.headers["X-Request-ID"] == "req-abc.123"


async def test_traceparent_gives_the_trace_id(make_client: MakeClient) -> None:
    client = await make_client()
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await client.get("/nope", headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    assert response.headers["X-Request-ID"] == trace
    assert (await response.json())["error"]["request_id"] == trace


async def test_unusable_ids_are_replaced(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.get("/healthz", headers={"X-Request-ID": "<script>" + "x" * 300})
    made = response.headers["X-Request-ID"]
    assert len(made) == 32 and all(c in "0123456789abcdef" for c in made)
    other = await client.get("/healthz")
    assert other.headers["X-Request-ID"] != made
