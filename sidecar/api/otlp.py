"""The OTLP/HTTP receiver: ``POST /v1/logs`` and ``POST /v1/traces``, as the OpenTelemetry specification has them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from sidecar.config import Config
from sidecar.errors import SidecarError
from sidecar.http import Reply, Route, read_body
from sidecar.otlp import JSON_TYPE, PROTOBUF_TYPE, encode_response, encode_status

from ._keys import INGEST

# How many rejection reasons a partial-success message quotes (the count is always exact).
MAX_REASONS = 3
_REPLIES = {
    200: Reply("Export(Logs|Trace)ServiceResponse; partial_success counts the rejected items", None),
    400: Reply("Malformed request (not retryable); a google.rpc.Status body", None),
    429: Reply("Too many batches in flight (retryable, see Retry-After)", None),
    503: Reply("Storage down and spool full (retryable, see Retry-After)", None),
}


def otlp_routes(config: Config) -> list[Route]:
    """The OTLP/HTTP routes, with the body limit configured under ``ingest``."""
    common = {"scope": "ingest", "accepts": (PROTOBUF_TYPE, JSON_TYPE), "max_body": config.ingest.max_body_size}
    return [
        Route(
            "POST",
            "/v1/logs",
            export_logs,
            "OTLP/HTTP log export (protobuf or OTLP/JSON)",
            "otlp",
            "otlpExportLogs",
            replies=_REPLIES,
            **common,  # type: ignore[arg-type]
        ),
        Route(
            "POST",
            "/v1/traces",
            export_traces,
            "OTLP/HTTP trace export (protobuf or OTLP/JSON)",
            "otlp",
            "otlpExportTraces",
            replies=_REPLIES,
            **common,  # type: ignore[arg-type]
        ),
    ]


def _otlp_errors(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    # The specification asks for a google.rpc.Status body, in the request's encoding, on errors
    # the handler raises; status code and Retry-After are the sidecar's usual ones.
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except SidecarError as exc:
            body, content_type = encode_status(exc.status, exc.message, request.content_type)
            return web.Response(body=body, status=exc.status, content_type=content_type, headers=exc.headers)

    wrapped.__doc__ = handler.__doc__
    return wrapped


@_otlp_errors
async def export_logs(request: web.Request) -> web.Response:
    """Accept an ExportLogsServiceRequest; answer once the accepted records are durable."""
    body = await read_body(request)
    result = await request.app[INGEST].ingest(body, request.content_type, otlp=True)
    reasons = [f"record {index}: {reason}" for index, reason in result.rejected[:MAX_REASONS]]
    payload, content_type = encode_response("logs", len(result.rejected), "; ".join(reasons), request.content_type)
    return web.Response(body=payload, content_type=content_type)


@_otlp_errors
async def export_traces(request: web.Request) -> web.Response:
    """Accept an ExportTraceServiceRequest; answer once the accepted spans are durable."""
    body = await read_body(request)
    result = await request.app[INGEST].ingest_spans(body, request.content_type)
    message = "; ".join(result.rejected[:MAX_REASONS])
    payload, content_type = encode_response("traces", len(result.rejected), message, request.content_type)
    return web.Response(body=payload, content_type=content_type)
