"""The sidecar traces its own request handling with the OpenTelemetry SDK."""

from __future__ import annotations

import asyncio

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from sidecar.config import parse_config
from sidecar.http import create_app
from tests.http.routes import TEST_ROUTES

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_each_request_is_a_server_span_continuing_the_callers_trace(aiohttp_client, tmp_path) -> None:
    exporter = InMemorySpanExporter()
    app = create_app(
        parse_config({"data_dir": str(tmp_path)}, env={}),
        routes=TEST_ROUTES,
        span_processors=(SimpleSpanProcessor(exporter),),
    )
    client = await aiohttp_client(app)
    await client.get("/healthz", headers={"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
    await client.get("/test/boom")
    spans = {span.name: span for span in exporter.get_finished_spans()}
    healthz = spans["GET /healthz"]
    assert healthz.kind == SpanKind.SERVER
    assert format(healthz.context.trace_id, "032x") == TRACE
    assert healthz.parent is not None and format(healthz.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert healthz.attributes["http.route"] == "/healthz"
    assert healthz.attributes["http.response.status_code"] == 200
    boom = spans["GET /test/boom"]
    assert boom.status.status_code == StatusCode.ERROR
    assert boom.attributes["http.response.status_code"] == 500


async def test_spans_are_exported_over_otlp_when_configured(aiohttp_client, aiohttp_server, tmp_path) -> None:
    received: list[ExportTraceServiceRequest] = []

    async def collector(request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        received.append(message)
        return web.Response(body=b"", content_type="application/x-protobuf")

    receiver_app = web.Application()
    receiver_app.router.add_post("/v1/traces", collector)
    receiver = await aiohttp_server(receiver_app)
    config = parse_config(
        {"data_dir": str(tmp_path), "telemetry": {"tracing": {"otlp_endpoint": str(receiver.make_url("/v1/traces"))}}},
        env={},
    )
    client = await aiohttp_client(create_app(config))
    assert (await client.get("/healthz")).status == 200
    await client.close()  # app clean-up flushes the batch processor
    for _ in range(50):
        if received:
            break
        await asyncio.sleep(0.05)
    names = [
        span.name
        for message in received
        for resource_spans in message.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    assert "GET /healthz" in names
    resource = received[0].resource_spans[0].resource
    assert {"service.name": "sidecar"}.items() <= {a.key: a.value.string_value for a in resource.attributes}.items()


async def test_the_public_status_routes_carry_no_span_but_are_counted(aiohttp_client, tmp_path) -> None:
    from sidecar.app import create_app as create_sidecar

    exporter = InMemorySpanExporter()
    config = parse_config({"data_dir": str(tmp_path), "ingest": {"workers": 0},
                           "alerting": {"rules_dir": str(tmp_path / "no-rules")}})  # fmt: skip
    client = await aiohttp_client(create_sidecar(config, span_processors=(SimpleSpanProcessor(exporter),)))
    assert (await client.get("/api/v2/summary.json")).status == 200
    assert (await client.get("/status")).status == 200
    await client.get("/healthz")
    assert [span.name for span in exporter.get_finished_spans()] == ["GET /healthz"]
    metrics = await (await client.get("/metrics")).text()
    assert 'sidecar_http_requests_total{method="GET",route="/api/v2/summary.json",status="200"} 1.0' in metrics
