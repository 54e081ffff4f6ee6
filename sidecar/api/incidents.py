"""Incidents: listed for readers and the status page, declared and updated by admins, reviewed as Markdown."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from sidecar.config import Name
from sidecar.errors import BadRequest, NotFound
from sidecar.http import JSON, Param, Reply, Route, json_response, principal_of, read_json
from sidecar.incidents import postmortem

from ._audit import audit
from ._keys import INCIDENTS
from .alerting import _model


class IncidentIn(BaseModel):
    """A declared incident."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    components: list[Name] = Field(min_length=1)
    impact: Literal["none", "minor", "major", "critical"] = "major"
    message: Annotated[str, Field(max_length=2000)] = ""


class UpdateIn(BaseModel):
    """A status change with its public message."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["investigating", "identified", "monitoring", "resolved"]
    message: Annotated[str, Field(min_length=1, max_length=2000)]


def incidents_routes() -> list[Route]:
    """The incident routes."""
    incident_id = Param("id", "Incident id", location="path", required=True)
    return [
        Route("GET", "/api/v1/incidents", list_incidents, "Incidents, newest first", "incidents", "listIncidents",
              scope="read", params=(Param("status", "open, resolved or all (default all)"),)),
        Route("POST", "/api/v1/incidents", declare_incident, "Declare an incident; audited", "incidents",
              "declareIncident", scope="admin", accepts=(JSON,), request_schema=IncidentIn,
              replies={201: Reply("The incident", None), 422: Reply("A bad incident", None)}),
        Route("GET", "/api/v1/incidents/{id}", get_incident, "One incident with its timeline", "incidents",
              "getIncident", scope="read", params=(incident_id,), replies={404: Reply("No such incident", None)}),
        Route("POST", "/api/v1/incidents/{id}/updates", update_incident,
              "Change an incident's status with a public message; audited", "incidents", "updateIncident",
              scope="admin", accepts=(JSON,), request_schema=UpdateIn, params=(incident_id,),
              replies={200: Reply("The incident", None), 404: Reply("No such incident", None)}),
        Route("GET", "/api/v1/incidents/{id}/postmortem.md", incident_review,
              "A post-incident review draft from the timeline", "incidents", "incidentPostmortem", scope="read",
              params=(incident_id,), replies={200: Reply("Markdown", None, content_type="text/markdown")}),
    ]  # fmt: skip


async def list_incidents(request: web.Request) -> web.Response:
    """Incidents, filtered by status."""
    book = request.app[INCIDENTS].book
    wanted = request.query.get("status", "all")
    if wanted not in ("open", "resolved", "all"):
        raise BadRequest("status: expected open, resolved or all")
    found = [i for i in book.listing() if wanted == "all" or (i.open if wanted == "open" else not i.open)]
    return json_response({"incidents": [book.as_json(incident) for incident in found]})


async def declare_incident(request: web.Request) -> web.Response:
    """Open an incident by hand."""
    body = _model(IncidentIn, await read_json(request))
    service = request.app[INCIDENTS]
    incident = await service.declare(body.title, body.components, body.impact, body.message, principal_of(request).name)
    view = service.book.as_json(incident)
    await audit(request, "incident.declare", incident.id, after={k: view[k] for k in ("title", "status", "impact")})
    return json_response(view, status=201)


async def get_incident(request: web.Request) -> web.Response:
    """One incident."""
    book, incident_id = request.app[INCIDENTS].book, request.match_info["id"]
    try:
        return json_response(book.as_json(book.get(incident_id)))
    except KeyError:
        raise NotFound(f"no incident {incident_id[:64]!r}") from None


async def update_incident(request: web.Request) -> web.Response:
    """A status change and public message."""
    service, incident_id = request.app[INCIDENTS], request.match_info["id"]
    body = _model(UpdateIn, await read_json(request))
    try:
        before = service.book.get(incident_id).status
    except KeyError:
        raise NotFound(f"no incident {incident_id[:64]!r}") from None
    incident = await service.update(incident_id, body.status, body.message, principal_of(request).name)
    await audit(request, "incident.update", incident_id, before={"status": before},
                after={"status": incident.status, "message": body.message})  # fmt: skip
    return json_response(service.book.as_json(incident))


async def incident_review(request: web.Request) -> web.Response:
    """The review draft as Markdown."""
    book, incident_id = request.app[INCIDENTS].book, request.match_info["id"]
    try:
        incident = book.get(incident_id)
    except KeyError:
        raise NotFound(f"no incident {incident_id[:64]!r}") from None
    return web.Response(text=postmortem(incident, time.time()), content_type="text/markdown")
