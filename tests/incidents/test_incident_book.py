"""Incidents opened, joined and resolved by alerts; declared and updated by people; their review drafts."""

from __future__ import annotations

import itertools

from sidecar.incidents import Incident, IncidentBook, postmortem

T0 = 1_700_000_000.0


def book(**kwargs: object) -> IncidentBook:
    counter = itertools.count(1)
    return IncidentBook(["api", "payments"], ids=lambda now: f"inc_{next(counter)}", **kwargs)  # type: ignore[arg-type]


def labels(name: str, severity: str, component: str) -> dict[str, str]:
    return {"alertname": name, "severity": severity, "component": component}


def test_a_p1_on_a_public_component_opens_an_incident_and_others_join_it() -> None:
    incidents = book()
    first = incidents.on_alert("a1", labels("DependencyDown", "P2", "api"), {"summary": "database is down"}, True,
                               T0 + 60, active_since=T0)  # fmt: skip
    assert first is not None and (first.id, first.status, first.impact, first.title) == (
        "inc_1", "investigating", "major", "database is down")  # fmt: skip
    joined = incidents.on_alert("a2", labels("ApiLatencyHigh", "P1", "api"), {}, True, T0 + 90)
    assert joined is first and first.impact == "critical" and first.began_at == T0
    assert incidents.on_alert("a3", labels("Other", "P3", "api"), {}, True, T0) is None  # not severe enough
    assert incidents.on_alert("a4", labels("Other", "P1", "internal"), {}, True, T0) is None  # not public
    other = incidents.on_alert("a5", labels("StripeDown", "P1", "payments"), {}, True, T0 + 100)
    assert other is not None and other.id == "inc_2"


def test_it_resolves_when_every_alert_has_resolved_unless_auto_resolve_is_off() -> None:
    incidents = book()
    incident = incidents.on_alert("a1", labels("A", "P1", "api"), {}, True, T0)
    incidents.on_alert("a2", labels("B", "P2", "api"), {}, True, T0 + 1)
    incidents.on_alert("a1", labels("A", "P1", "api"), {}, False, T0 + 60)
    assert incident is not None and incident.status == "investigating"
    incidents.on_alert("a2", labels("B", "P2", "api"), {}, False, T0 + 120)
    assert incident.status == "resolved" and incident.resolved_at == T0 + 120
    kinds = [entry.kind for entry in incident.timeline]
    assert kinds == ["opened", "alert_firing", "alert_firing", "alert_resolved", "alert_resolved", "status"]
    manual = book(auto_resolve=False)
    held = manual.on_alert("a1", labels("A", "P1", "api"), {}, True, T0)
    manual.on_alert("a1", labels("A", "P1", "api"), {}, False, T0 + 60)
    assert held is not None and held.status == "investigating"


def test_declared_incidents_take_human_updates_and_survive_a_round_trip() -> None:
    incidents = book()
    incident = incidents.declare("Checkout errors", ["payments"], "major", "Looking into it", "oncall", T0)
    incidents.update(incident.id, "identified", "A bad deploy; rolling back", "oncall", T0 + 300)
    incidents.update(incident.id, "resolved", "Rolled back", "oncall", T0 + 900)
    assert incident.resolved_at == T0 + 900 and [e.public for e in incident.timeline] == [True, True, True]
    again = Incident.from_state(incident.to_state())
    assert again == incident
    view = incidents.as_json(incident)
    assert view["started_at"] == "2023-11-14T22:13:20.000Z" and view["timeline"][1]["status"] == "identified"


def test_the_review_draft_has_the_figures_and_the_timeline() -> None:
    incidents = book()
    incident = incidents.on_alert("a1", labels("DependencyDown", "P1", "api"), {"summary": "db | down"}, True,
                                  T0 + 120, active_since=T0)  # fmt: skip
    assert incident is not None
    incidents.on_alert("a1", labels("DependencyDown", "P1", "api"), {}, False, T0 + 120 + 3723)
    text = postmortem(incident, T0 + 10_000)
    assert text.startswith("# Post-incident review: db | down")
    assert "- Duration: 1 h 2 min 3 s" in text and "- Detection time: 2 min" in text
    assert "- Impact: **critical** on api" in text and "db \\| down" in text
    assert "## Action items" in text
    ongoing = incidents.declare("x", ["api"], "minor", "", "oncall", T0)
    assert "(ongoing)" in postmortem(ongoing, T0 + 30)
