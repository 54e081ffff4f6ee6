"""The public status page: HTML, an Atom feed and Statuspage-compatible JSON, all served from memory.

No token; anonymous callers are rate limited per client address. Every answer
has an ``ETag`` (``If-None-Match`` gets 304) and ``Cache-Control: public``; the
JSON and the feed allow any origin.
"""

from __future__ import annotations

from aiohttp import web

from sidecar._time import rfc3339
from sidecar.errors import Unavailable
from sidecar.http import Param, Reply, Route, json_response

from ._keys import STATUSPAGE
from ._params import parse_int

DOCUMENTS = (
    "summary.json", "status.json", "components.json", "incidents.json", "incidents/unresolved.json",
    "scheduled-maintenances.json", "scheduled-maintenances/upcoming.json", "scheduled-maintenances/active.json",
)  # fmt: skip


def status_routes(max_age: float) -> list[Route]:
    """The public status routes; ``max_age`` is the Cache-Control max-age in seconds."""
    page = Route("GET", "/status", _serve("status", max_age, cors=False), "The status page (HTML)", "status",
                 "statusPage", traced=False, replies={200: Reply("HTML", None, content_type="text/html")})  # fmt: skip
    atom = Reply("Atom", None, content_type="application/atom+xml")
    feed = Route("GET", "/status/feed.atom", _serve("feed.atom", max_age, cors=True), "Incidents as an Atom feed",
                 "status", "statusFeed", traced=False, replies={200: atom})  # fmt: skip
    documents = [
        Route("GET", f"/api/v2/{name}", _serve(f"api/v2/{name}", max_age, cors=True),
              f"Statuspage API v2 {name}", "status", "statuspage_" + name.replace("/", "_").replace("-", "_")[:-5],
              traced=False, replies={200: Reply("The document", None), 304: Reply("Not modified", None)})
        for name in DOCUMENTS
    ]  # fmt: skip
    pushes = Route("GET", "/api/v1/statuspage/pushes", list_pushes,
                   "What was pushed to Statuspage and the webhooks, with what result", "status", "statuspagePushes",
                   scope="read",
                   params=(Param("limit", "1-500, default 100", schema={"type": "integer"}),))  # fmt: skip
    return [page, feed, *documents, pushes]


async def list_pushes(request: web.Request) -> web.Response:
    """The push log, newest first."""
    limit = parse_int("limit", request.query.get("limit"), default=100, minimum=1, maximum=500)
    return json_response({"pushes": [
        {"id": r.id, "target": r.target, "kind": r.kind, "subject": r.subject, "status": r.status,
         "attempts": r.attempts, "result": r.result, "detail": r.detail,
         "first_attempt_at": rfc3339(r.first_attempt_at), "last_attempt_at": rfc3339(r.last_attempt_at)}
        for r in request.app[STATUSPAGE].pushes(limit)
    ]})  # fmt: skip


def _serve(path: str, max_age: float, *, cors: bool):  # type: ignore[no-untyped-def]
    cache_control = f"public, max-age={int(max_age)}"

    async def serve(request: web.Request) -> web.Response:
        rendered = request.app[STATUSPAGE].rendered(path)
        if rendered is None:
            raise Unavailable("the status page is starting", retry_after=1)
        headers = {"ETag": rendered.etag, "Cache-Control": cache_control}
        if cors:
            headers["Access-Control-Allow-Origin"] = "*"
        if rendered.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=rendered.body, headers={**headers, "Content-Type": rendered.content_type})

    serve.__doc__ = f"Serves the rendered {path}."
    return serve
