"""The incident book: alerts open, join and resolve incidents; people declare and update them (pure)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sidecar._time import rfc3339

from ._model import IMPACT_OF_SEVERITY, IMPACTS, Impact, Incident, IncidentStatus, TimelineEntry


def new_id(now: float) -> str:
    """A sortable, unguessable incident id."""
    return f"inc_{int(now):x}{secrets.token_hex(4)}"


class IncidentBook:
    """Every incident by id.

    A firing alert whose severity is in ``open_severities`` and whose ``component``
    label names a public component opens an incident, or joins the open one that
    already covers that component (raising its impact if the alert is worse). An
    alert resolving is noted; with ``auto_resolve`` the incident resolves when none
    of its alerts fires any more. Incidents declared by hand resolve only by hand.
    """

    def __init__(
        self,
        public_components: Iterable[str],
        *,
        open_severities: Iterable[str] = ("P1", "P2"),
        auto_resolve: bool = True,
        ids: Callable[[float], str] = new_id,
    ) -> None:
        self.public_components = set(public_components)
        self._severities = set(open_severities)
        self._auto_resolve = auto_resolve
        self._ids = ids
        self.incidents: dict[str, Incident] = {}

    def load(self, incidents: Iterable[Incident]) -> None:
        """Take back saved incidents."""
        for incident in incidents:
            self.incidents[incident.id] = incident

    def get(self, incident_id: str) -> Incident:
        """One incident (KeyError if unknown)."""
        return self.incidents[incident_id]

    def listing(self, *, open_only: bool = False) -> list[Incident]:
        """Newest first."""
        found = [i for i in self.incidents.values() if i.open or not open_only]
        return sorted(found, key=lambda incident: incident.started_at, reverse=True)

    def on_alert(
        self,
        fingerprint: str,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        firing: bool,
        at: float,
        *,
        active_since: float | None = None,
    ) -> Incident | None:
        """Fold in an alert that started firing or resolved; the incident it touched, if any.

        ``active_since`` is when the alert's condition first held (before its ``for``),
        the earliest sign of the problem.
        """
        if firing:
            return self._alert_fired(fingerprint, labels, annotations, at, at if active_since is None else active_since)
        return self._alert_resolved(fingerprint, labels, at)

    def _alert_fired(
        self, fingerprint: str, labels: Mapping[str, str], annotations: Mapping[str, str], at: float, since: float
    ) -> Incident | None:
        severity, component = labels.get("severity", ""), labels.get("component", "")
        if severity not in self._severities or component not in self.public_components:
            return None
        name = labels.get("alertname", fingerprint)
        summary = annotations.get("summary") or f"{name} on {component}"
        impact = IMPACT_OF_SEVERITY.get(severity, "minor")
        incident = next((i for i in self.incidents.values() if i.open and component in i.components), None)
        if incident is None:
            incident = Incident(self._ids(at), summary, "investigating", impact, [component], at, "alert", since)
            self.incidents[incident.id] = incident
            incident.timeline.append(
                TimelineEntry(at, "opened", f"{summary} ({severity})", "investigating", None, True)
            )
        elif IMPACTS.index(impact) > IMPACTS.index(incident.impact):
            incident.impact = impact
        incident.began_at = min(incident.began_at, since)
        incident.alerts[fingerprint] = {"name": name, "severity": severity, "component": component, "firing": True}
        incident.timeline.append(TimelineEntry(at, "alert_firing", f"{name} firing: {summary}"))
        return incident

    def _alert_resolved(self, fingerprint: str, labels: Mapping[str, str], at: float) -> Incident | None:
        for incident in self.incidents.values():
            alert = incident.alerts.get(fingerprint)
            if alert is None or not alert["firing"] or not incident.open:
                continue
            alert["firing"] = False
            incident.timeline.append(TimelineEntry(at, "alert_resolved", f"{alert['name']} resolved"))
            still = any(a["firing"] for a in incident.alerts.values())
            if self._auto_resolve and incident.source == "alert" and not still:
                self._set_status(incident, "resolved", "Every alert has resolved.", None, at)
            return incident
        return None

    def declare(
        self, title: str, components: Iterable[str], impact: Impact, message: str, actor: str, at: float
    ) -> Incident:
        """Open an incident by hand."""
        incident = Incident(self._ids(at), title, "investigating", impact, sorted(set(components)), at, "manual", at)
        incident.timeline.append(TimelineEntry(at, "declared", message or title, "investigating", actor, True))
        self.incidents[incident.id] = incident
        return incident

    def update(self, incident_id: str, status: IncidentStatus, message: str, actor: str, at: float) -> Incident:
        """A human update: new status and a public message (KeyError if unknown)."""
        incident = self.incidents[incident_id]
        self._set_status(incident, status, message, actor, at)
        return incident

    def _set_status(
        self, incident: Incident, status: IncidentStatus, message: str, actor: str | None, at: float
    ) -> None:
        incident.status = status
        incident.resolved_at = at if status == "resolved" else None
        kind = "update" if actor is not None else "status"
        incident.timeline.append(TimelineEntry(at, kind, message, status, actor, True))

    def as_json(self, incident: Incident) -> dict[str, Any]:
        """The API's view of an incident."""
        return {
            "id": incident.id,
            "title": incident.title,
            "status": incident.status,
            "impact": incident.impact,
            "components": incident.components,
            "source": incident.source,
            "began_at": rfc3339(incident.began_at),
            "started_at": rfc3339(incident.started_at),
            "resolved_at": rfc3339(incident.resolved_at),
            "alerts": [{"fingerprint": fp, **alert} for fp, alert in incident.alerts.items()],
            "timeline": [
                {"at": rfc3339(e.at), "kind": e.kind, "message": e.message, "status": e.status, "actor": e.actor,
                 "public": e.public}
                for e in incident.timeline
            ],
        }  # fmt: skip
