"""The Atlassian Statuspage public API v2 documents, field for field, and an Atom feed (pure).

Incidents opened by alerts are shown in public words only: their title and
first update are made from the affected components and the impact, never from
alert text (which names probes, hosts and errors). Updates written by people
(declared incidents, status updates) are shown as written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from sidecar._time import rfc3339

from ._model import DESCRIPTIONS, ComponentView, PageState

IMPACT_TITLES = {"critical": "Major outage", "major": "Partial outage", "minor": "Degraded performance",
                 "none": "Service notice"}  # fmt: skip
STATUS_WORDS = {
    "investigating": "We are investigating this issue.",
    "identified": "The cause has been identified.",
    "monitoring": "A fix is in place; we are monitoring.",
    "resolved": "This incident has been resolved.",
}
PUBLIC_KINDS = ("opened", "declared", "status", "update")
RECENT = 50  # incidents.json and scheduled-maintenances.json list at most this many


@dataclass(frozen=True, slots=True)
class Page:
    """The page's own fields."""

    id: str
    name: str
    url: str
    time_zone: str = "Etc/UTC"


def page_doc(page: Page, state: PageState) -> dict[str, Any]:
    """The ``page`` object."""
    return {"id": page.id, "name": page.name, "url": page.url, "time_zone": page.time_zone,
            "updated_at": rfc3339(state.updated_at)}  # fmt: skip


def component_doc(page: Page, view: ComponentView, created_at: float) -> dict[str, Any]:
    """A ``component`` object."""
    component = view.component
    return {
        "id": component.id, "name": component.name, "status": view.status, "created_at": rfc3339(created_at),
        "updated_at": rfc3339(view.updated_at), "position": component.position,
        "description": component.description or None, "showcase": True, "start_date": None, "group_id": None,
        "page_id": page.id, "group": False, "only_show_if_degraded": False,
    }  # fmt: skip


def _names(state: PageState, ids: Sequence[str]) -> list[str]:
    known = {view.component.id: view.component.name for view in state.components}
    return [known[cid] for cid in ids if cid in known]


def public_title(incident: Mapping[str, Any], state: PageState) -> str:
    """The incident's public title."""
    if incident["source"] != "alert":
        return str(incident["title"])
    names = ", ".join(_names(state, incident["components"])) or "our services"
    return f"{IMPACT_TITLES.get(incident['impact'], 'Service notice')}: {names}"


def public_updates(incident: Mapping[str, Any], state: PageState) -> list[dict[str, Any]]:
    """The incident's public updates, oldest first: (status, body, at)."""
    names = ", ".join(_names(state, incident["components"])) or "our services"
    updates = []
    for entry in incident["timeline"]:
        if not entry["public"] or entry["kind"] not in PUBLIC_KINDS:
            continue
        if entry["kind"] == "opened":
            body = f"We are investigating a problem affecting {names}."
        elif entry["kind"] == "status":  # set by the sidecar itself (every alert resolved)
            body = STATUS_WORDS.get(entry["status"] or "", "")
        else:
            body = entry["message"] or STATUS_WORDS.get(entry["status"] or "", "")
        updates.append({"status": entry["status"] or incident["status"], "body": body, "at": entry["at"]})
    return updates


def incident_doc(page: Page, state: PageState, incident: Mapping[str, Any], components: Mapping[str, Any]) -> dict:
    """An ``incident`` object (updates newest first, as Statuspage lists them)."""
    updates = public_updates(incident, state)
    affected = [components[cid] for cid in incident["components"] if cid in components]
    monitoring = next((u["at"] for u in updates if u["status"] == "monitoring"), None)
    updated_at = updates[-1]["at"] if updates else incident["started_at"]
    return {
        "id": incident["id"], "name": public_title(incident, state), "status": incident["status"],
        "created_at": incident["started_at"], "updated_at": updated_at, "monitoring_at": monitoring,
        "resolved_at": incident["resolved_at"], "impact": incident["impact"],
        "shortlink": f"{page.url}#{incident['id']}", "started_at": incident["started_at"], "page_id": page.id,
        "incident_updates": [
            {"id": f"{incident['id']}-{index}", "status": update["status"], "body": update["body"],
             "incident_id": incident["id"], "created_at": update["at"], "updated_at": update["at"],
             "display_at": update["at"],
             "affected_components": [{"code": c["id"], "name": c["name"], "old_status": c["status"],
                                      "new_status": c["status"]} for c in affected] if index == 0 else None,
             "deliver_notifications": True, "custom_tweet": None, "tweet_id": None}
            for index, update in reversed(list(enumerate(updates)))
        ],
        "components": affected,
    }  # fmt: skip


def maintenance_status(window: Mapping[str, Any], now: float) -> str:
    """``scheduled``, ``in_progress`` or ``completed``."""
    if now < window["starts_at"]:
        return "scheduled"
    return "in_progress" if now < window["ends_at"] else "completed"


def maintenance_doc(page: Page, state: PageState, window: Mapping[str, Any], components: Mapping[str, Any]) -> dict:
    """A ``scheduled_maintenance`` object."""
    status = maintenance_status(window, state.generated_at)
    starts, ends = rfc3339(window["starts_at"]), rfc3339(window["ends_at"])
    wid = f"mnt_{window['name']}"
    body = window.get("comment") or f"Scheduled maintenance of {', '.join(_names(state, window['components']))}."
    return {
        "id": wid, "name": window["name"], "status": status, "created_at": starts, "updated_at": starts,
        "monitoring_at": None, "resolved_at": ends if status == "completed" else None, "impact": "maintenance",
        "shortlink": f"{page.url}#{wid}", "started_at": starts, "page_id": page.id,
        "incident_updates": [{"id": f"{wid}-0", "status": status, "body": body, "incident_id": wid,
                              "created_at": starts, "updated_at": starts, "display_at": starts,
                              "affected_components": None, "deliver_notifications": True, "custom_tweet": None,
                              "tweet_id": None}],
        "components": [components[cid] for cid in window["components"] if cid in components],
        "scheduled_for": starts, "scheduled_until": ends,
    }  # fmt: skip


def documents(page: Page, state: PageState, created_at: float) -> dict[str, dict[str, Any]]:
    """Every ``/api/v2`` document by path."""
    components = {view.component.id: component_doc(page, view, created_at) for view in state.components}
    page_object = page_doc(page, state)
    incidents = [incident_doc(page, state, incident, components) for incident in state.incidents]
    unresolved = [incident for incident in incidents if incident["status"] != "resolved"]
    maintenances = [maintenance_doc(page, state, window, components) for window in state.maintenances]
    upcoming = [m for m in maintenances if m["status"] == "scheduled"]
    active = [m for m in maintenances if m["status"] == "in_progress"]
    status = {"indicator": state.indicator, "description": DESCRIPTIONS[state.indicator]}
    return {
        "summary.json": {"page": page_object, "components": list(components.values()), "incidents": unresolved,
                         "scheduled_maintenances": active + upcoming, "status": status},
        "status.json": {"page": page_object, "status": status},
        "components.json": {"page": page_object, "components": list(components.values())},
        "incidents.json": {"page": page_object, "incidents": incidents[:RECENT]},
        "incidents/unresolved.json": {"page": page_object, "incidents": unresolved},
        "scheduled-maintenances.json": {"page": page_object, "scheduled_maintenances": maintenances[:RECENT]},
        "scheduled-maintenances/upcoming.json": {"page": page_object, "scheduled_maintenances": upcoming},
        "scheduled-maintenances/active.json": {"page": page_object, "scheduled_maintenances": active},
    }  # fmt: skip


def atom_feed(page: Page, state: PageState) -> str:
    """An Atom feed of the incidents, each entry holding its public updates."""
    entries = []
    for incident in state.incidents[:RECENT]:
        updates = public_updates(incident, state)
        updated = updates[-1]["at"] if updates else incident["started_at"]
        content = "".join(
            f"<p><strong>{escape(u['status'].title())}</strong> ({escape(u['at'])}): {escape(u['body'])}</p>"
            for u in reversed(updates)
        )
        entries.append(
            "<entry>"
            f"<id>tag:{escape(page.id)},sidecar:{escape(incident['id'])}</id>"
            f"<title>{escape(public_title(incident, state))}</title>"
            f"<updated>{escape(updated)}</updated><published>{escape(incident['started_at'])}</published>"
            f'<link rel="alternate" type="text/html" href="{escape(page.url)}#{escape(incident["id"])}"/>'
            f'<content type="html">{escape(content)}</content>'
            "</entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">'
        f"<id>tag:{escape(page.id)},sidecar:incidents</id><title>{escape(page.name)} incidents</title>"
        f"<updated>{rfc3339(state.updated_at)}</updated>"
        f'<link rel="alternate" type="text/html" href="{escape(page.url)}"/>'
        f'<link rel="self" type="application/atom+xml" href="{escape(page.url)}/feed.atom"/>'
        + "".join(entries)
        + "</feed>\n"
    )
