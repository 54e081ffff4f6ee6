"""Stored records are forwarded, redacted, to an OTLP/HTTP collector configured under logs.forward."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from .test_logs import AUTH_IN, NDJSON, start


async def test_ingested_records_reach_the_collector_redacted(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    bodies: list[ExportLogsServiceRequest] = []

    async def collect(request: web.Request) -> web.Response:
        raw = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        bodies.append(ExportLogsServiceRequest.FromString(raw))
        return web.Response(body=b"", content_type="application/x-protobuf")

    collector_app = web.Application()
    collector_app.router.add_post("/v1/logs", collect)
    # The collector reads the raw gzip body itself, as a real one does.
    collector = await aiohttp_server(collector_app, auto_decompress=False)
    client = await start(
        aiohttp_client, tmp_path, logs={"forward": {"otlp_endpoint": str(collector.make_url("/v1/logs"))}}
    )
    body = b"".join(
        b'{"service": "checkout", "message": "receipt sent to buyer%d@example.com"}\n' % i for i in range(20)
    )
    assert (await client.post("/api/v1/logs", data=body, headers={**AUTH_IN, **NDJSON})).status == 200
    for _ in range(250):
        messages = [
            record.body.string_value
            for request in bodies
            for resource in request.resource_logs
            for scope in resource.scope_logs
            for record in scope.log_records
        ]
        if len(messages) >= 20:
            break
        await asyncio.sleep(0.02)
    assert sorted(messages) == ["receipt sent to [REDACTED:email]"] * 20
    services = {
        attribute.value.string_value
        for request in bodies
        for resource in request.resource_logs
        for attribute in resource.resource.attributes
        if attribute.key == "service.name"
    }
    assert services == {"checkout"}
