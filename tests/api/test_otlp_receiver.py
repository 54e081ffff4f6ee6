"""The OTLP/HTTP receiver over real HTTP: the stock SDK exporters, OTLP/JSON, errors per the specification."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from google.rpc import status_pb2
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.api.test_logs import AUTH_IN, AUTH_READ, INGEST, start, wait_stored

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"
# Recent times: records older than their retention would be deleted by the retention pass at start.
NOW_NS = time.time_ns() - 60 * 10**9


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    return await start(aiohttp_client, tmp_path)


def otlp_json_logs(*records: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
                    "scopeLogs": [{"scope": {"name": "billing.app"}, "logRecords": list(records)}],
                }
            ]
        }
    )


async def test_the_stock_sdk_log_exporter_delivers_redacted_records(client: TestClient) -> None:
    exporter = OTLPLogExporter(
        endpoint=str(client.make_url("/v1/logs")), headers={"Authorization": f"Bearer {INGEST}"}, timeout=5
    )
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = provider.get_logger("tests.otlp.stock")
    try:
        tracer = TracerProvider().get_tracer("t")
        with tracer.start_as_current_span("checkout"):
            logger.emit(body="payment for jane.doe@example.com declined", severity_number=SeverityNumber.WARN)
        logger.emit(body="plain error", severity_number=SeverityNumber.ERROR)
        assert await asyncio.to_thread(provider.force_flush, 10_000)
    finally:
        await asyncio.to_thread(provider.shutdown)
    records = await wait_stored(client, 2, service="checkout")
    by_message = {record["message"]: record for record in records}
    assert set(by_message) == {"payment for [REDACTED:email] declined", "plain error"}
    warned = by_message["payment for [REDACTED:email] declined"]
    assert warned["level"] == "warn" and len(warned["trace_id"]) == 32 and len(warned["span_id"]) == 16
    assert by_message["plain error"]["level"] == "error" and by_message["plain error"]["trace_id"] is None


async def test_otlp_json_with_hex_ids_and_partial_success(client: TestClient) -> None:
    good = {
        "timeUnixNano": str(NOW_NS),
        "severityNumber": 17,
        "body": {"stringValue": "card 4111 1111 1111 1111 refused"},
        "traceId": TRACE,
        "spanId": SPAN,
        "attributes": [{"key": "request.id", "value": {"stringValue": "req-42"}}],
    }
    bad = {"body": {"stringValue": "x"}, "attributes": [{"key": "user.id", "value": {"kvlistValue": {}}}]}
    response = await client.post("/v1/logs", data=otlp_json_logs(good, bad), headers={**AUTH_IN, **JSON})
    assert response.status == 200 and response.content_type == "application/json"
    reply = await response.json()
    assert reply["partialSuccess"]["rejectedLogRecords"] == "1"
    assert reply["partialSuccess"]["errorMessage"].startswith("record 1: ")
    [stored] = await wait_stored(client, 1, request_id="req-42")
    assert stored["message"] == "card [REDACTED:card] refused"
    assert (stored["trace_id"], stored["span_id"], stored["service"]) == (TRACE, SPAN, "billing")


async def test_full_success_has_no_partial_success(client: TestClient) -> None:
    body = otlp_json_logs({"body": {"stringValue": "fine"}})
    response = await client.post(
        "/v1/logs", data=gzip.compress(body), headers={**AUTH_IN, **JSON, "Content-Encoding": "gzip"}
    )
    assert response.status == 200 and await response.json() == {}


async def test_malformed_protobuf_is_400_with_a_status_body(client: TestClient) -> None:
    response = await client.post("/v1/logs", data=b"\xff\xff\xff not protobuf", headers={**AUTH_IN, **PROTOBUF})
    assert response.status == 400 and response.content_type == "application/x-protobuf"
    status = status_pb2.Status.FromString(await response.read())
    assert status.code == 400 and status.message


async def test_protobuf_success_body_is_an_export_response(client: TestClient) -> None:
    response = await client.post("/v1/logs", data=b"", headers={**AUTH_IN, **PROTOBUF})
    assert response.status == 200 and response.content_type == "application/x-protobuf"
    reply = ExportLogsServiceResponse.FromString(await response.read())
    assert not reply.HasField("partial_success")


async def test_other_media_types_and_missing_tokens_are_refused(client: TestClient) -> None:
    assert (await client.post("/v1/logs", data=b"{}", headers={**AUTH_IN, "Content-Type": "text/plain"})).status == 415
    assert (await client.post("/v1/logs", data=b"", headers=PROTOBUF)).status == 401


# ---------------------------------------------------------------- traces


async def export_with_stock_sdk(client: TestClient, record: Callable[[Any], None]) -> None:
    """Spans made by a stock TracerProvider, sent by its OTLP/HTTP protobuf exporter."""
    exporter = OTLPSpanExporter(
        endpoint=str(client.make_url("/v1/traces")), headers={"Authorization": f"Bearer {INGEST}"}, timeout=5
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    record(provider.get_tracer("shop.checkout"))
    try:
        assert await asyncio.to_thread(provider.force_flush, 10_000)
    finally:
        await asyncio.to_thread(provider.shutdown)


async def get_trace(client: TestClient, trace_id: str, count: int) -> dict[str, Any]:
    for _ in range(500):
        response = await client.get(f"/api/v1/traces/{trace_id}", headers=AUTH_READ)
        if response.status == 200:
            trace = await response.json()
            if len(trace["spans"]) >= count:
                return trace
        await asyncio.sleep(0.02)
    raise AssertionError(f"trace {trace_id} did not reach {count} spans")


async def test_the_stock_sdk_span_exporter_delivers_redacted_spans_with_their_logs(client: TestClient) -> None:
    ids: dict[str, str] = {}

    def record(tracer: Any) -> None:
        with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as root:
            root.set_attribute("http.route", "/orders")
            root.set_attribute("customer.email", "jane.doe@example.com")
            with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT) as child:
                child.set_attribute("db.system", "postgresql")
                try:
                    raise ValueError("card 4111 1111 1111 1111 declined")
                except ValueError as exc:
                    child.record_exception(exc)
                    child.set_status(Status(StatusCode.ERROR))
            ids["trace"] = f"{root.get_span_context().trace_id:032x}"
            ids["span"] = f"{root.get_span_context().span_id:016x}"

    await export_with_stock_sdk(client, record)
    log = {"message": "order rejected", "service": "checkout", "traceId": ids["trace"], "requestId": "req-9"}
    other = {"message": "same request, no trace id", "service": "checkout", "requestId": "req-9"}
    response = await client.post("/api/v1/logs", json=[log, other], headers=AUTH_IN)
    assert response.status == 200
    await wait_stored(client, 2, request_id="req-9")
    trace = await get_trace(client, ids["trace"], 2)
    server, client_span = sorted(trace["spans"], key=lambda span: span["kind"], reverse=True)
    assert (server["name"], server["kind"], server["span_id"]) == ("POST /orders", "server", ids["span"])
    assert server["attributes"]["customer.email"] == "[REDACTED:email]"
    assert client_span["parent_span_id"] == ids["span"] and client_span["status"] == "error"
    [event] = client_span["events"]
    assert event["attributes"]["exception.message"] == "card [REDACTED:card] declined"
    assert [entry["message"] for entry in trace["logs"]] == ["order rejected", "same request, no trace id"]


async def test_traces_partial_success_and_lookups(client: TestClient) -> None:
    span = {"traceId": TRACE, "spanId": SPAN, "name": "GET /", "kind": 2, "startTimeUnixNano": str(NOW_NS)}
    span["endTimeUnixNano"] = str(NOW_NS + 5_000_000)
    bad = {**span, "spanId": "00" * 8}
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span, bad]}]}]})
    response = await client.post("/v1/traces", data=body, headers={**AUTH_IN, **JSON})
    assert response.status == 200
    assert (await response.json())["partialSuccess"]["rejectedSpans"] == "1"
    trace = await get_trace(client, TRACE, 1)
    assert trace["spans"][0]["duration_ms"] == 5.0 and trace["logs"] == []
    assert (await client.get(f"/api/v1/traces/{'ab' * 16}", headers=AUTH_READ)).status == 404
    assert (await client.get("/api/v1/traces/not-hex", headers=AUTH_READ)).status == 400


async def test_the_body_limit_applies_to_the_decompressed_body(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path, ingest={"workers": 0, "max_body_size": "64KiB"})
    bomb = gzip.compress(b"\0" * (1024 * 1024))  # 1 KiB on the wire, 1 MiB inflated
    assert len(bomb) < 64 * 1024
    for path in ("/v1/traces", "/v1/logs"):
        response = await client.post(path, data=bomb, headers={**AUTH_IN, **PROTOBUF, "Content-Encoding": "gzip"})
        assert response.status == 413, path


async def test_pressure_is_429_with_retry_after_and_a_status_body(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await start(aiohttp_client, tmp_path, ingest={"workers": 0, "max_pending_batches": 1})
    base = {"name": "GET /", "kind": 2, "startTimeUnixNano": str(NOW_NS)}
    spans = [{**base, "traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}"} for i in range(2000)]
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    responses = await asyncio.gather(
        *(client.post("/v1/traces", data=body, headers={**AUTH_IN, **JSON}) for _ in range(12))
    )
    refused = [response for response in responses if response.status == 429]
    assert refused and any(response.status == 200 for response in responses)
    for response in refused:
        assert int(response.headers["Retry-After"]) >= 1
        status = await response.json()
        assert status["code"] == 429 and "queue" in status["message"]
