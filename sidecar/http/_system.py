"""System routes: liveness, readiness, metrics, the OpenAPI document and its docs page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import swagger_ui
from aiohttp import web
from prometheus_client.exposition import choose_encoder
from pydantic import BaseModel

from sidecar import __version__
from sidecar.config import Config
from sidecar.errors import NotFound, SidecarError, Unavailable

from ._keys import READINESS, REGISTRY, STORAGE
from ._routes import Param, Reply, Route, json_response

_SWAGGER_DIR = Path(swagger_ui.__file__).parent / "static"
_SWAGGER_FILES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sidecar API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});
</script>
</body>
</html>
"""


class Health(BaseModel):
    """Liveness answer."""

    status: str
    version: str


class Readiness(BaseModel):
    """Readiness answer: every check passed."""

    status: str
    checks: dict[str, str]


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return json_response({"status": "ok", "version": __version__})


async def readyz(request: web.Request) -> web.Response:
    """Storage reachable and every queue below its limit; 503 with the reasons otherwise."""
    checks: dict[str, str] = {}
    try:
        await request.app[STORAGE].ping()
        checks["storage"] = "ok"
    except SidecarError as exc:
        checks["storage"] = exc.message
    for name, check in request.app[READINESS]:
        checks[name] = await check() or "ok"
    failing = {name: reason for name, reason in checks.items() if reason != "ok"}
    if failing:
        message = "; ".join(f"{name}: {reason}" for name, reason in failing.items())
        raise Unavailable(f"not ready: {message}", retry_after=5, details=checks)
    return json_response({"status": "ready", "checks": checks})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format, or OpenMetrics when the scraper asks for it."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    # Collection walks every series: keep it off the event loop.
    body = await asyncio.get_running_loop().run_in_executor(None, encoder, request.app[REGISTRY])
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def docs(request: web.Request) -> web.Response:
    """The interactive API page; its assets are served locally, no CDN."""
    return web.Response(text=_DOCS_PAGE, content_type="text/html")


async def docs_asset(request: web.Request) -> web.StreamResponse:
    """One of the Swagger UI assets shipped by the ``swagger-ui-py`` package."""
    name = request.match_info["file"]
    if name not in _SWAGGER_FILES:
        raise NotFound("no such asset")
    return web.FileResponse(
        _SWAGGER_DIR / name,
        headers={"Content-Type": _SWAGGER_FILES[name], "Cache-Control": "public, max-age=86400"},
    )


def openapi_handler(document: dict[str, Any]) -> Any:
    """A handler serving the (precomputed) OpenAPI document."""

    async def openapi(request: web.Request) -> web.Response:
        return json_response(document)

    return openapi


def system_routes(config: Config) -> list[Route]:
    """The routes every sidecar serves; ``/openapi.json`` is added by the app factory."""
    text = {"schema": {"type": "string"}}
    return [
        Route("GET", "/healthz", healthz, "Liveness", "system", "healthz", replies={200: Reply("Alive", Health)}),
        Route(
            "GET",
            "/readyz",
            readyz,
            "Readiness",
            "system",
            "readyz",
            replies={200: Reply("Ready", Readiness), 503: Reply("Not ready, with the reasons", None)},
        ),
        Route(
            "GET",
            "/metrics",
            metrics,
            "Prometheus metrics",
            "system",
            "metrics",
            scope=None if config.metrics.public else "read",
            replies={200: Reply("Metrics in the Prometheus text format or OpenMetrics", text["schema"], "text/plain")},
        ),
        Route(
            "GET",
            "/docs",
            docs,
            "Interactive API documentation",
            "system",
            "docs",
            replies={200: Reply("HTML page", text["schema"], "text/html")},
        ),
        Route(
            "GET",
            "/docs/static/{file}",
            docs_asset,
            "Assets of the docs page",
            "system",
            "docs_asset",
            params=(Param("file", "Asset file name", "path"),),
            replies={200: Reply("The asset", None), 404: Reply("No such asset", None)},
        ),
    ]
