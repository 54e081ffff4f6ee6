"""What the status page shows, derived from the sidecar's own state (pure, no I/O).

A public component's status is the worst of what its inputs say:

- its probes: every one down → ``major_outage``; some down → ``partial_outage``;
  any degraded → ``degraded_performance`` (``unknown`` counts as nothing);
- its breaker groups: every provider open → ``major_outage``; running on a
  fallback provider → ``degraded_performance``;
- alerts firing with its ``component`` label: P1 → ``major_outage``,
  P2 → ``partial_outage``, P3 → ``degraded_performance`` (P4 → nothing);
- open incidents naming it: impact critical → ``major_outage``, major →
  ``partial_outage``, minor → ``degraded_performance``.

An active maintenance window naming the component shows ``under_maintenance``
unless something is worse than degraded. The page indicator is the worst
component's (``none``, ``minor``, ``major``, ``critical``), or ``maintenance``
when a window is active and nothing is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
Indicator = Literal["none", "minor", "major", "critical", "maintenance"]

_RANK: dict[ComponentStatus, int] = {
    "operational": 0, "under_maintenance": 1, "degraded_performance": 2, "partial_outage": 3, "major_outage": 4,
}  # fmt: skip
FROM_SEVERITY: dict[str, ComponentStatus] = {
    "P1": "major_outage", "P2": "partial_outage", "P3": "degraded_performance", "P4": "operational",
}  # fmt: skip
FROM_IMPACT: dict[str, ComponentStatus] = {
    "critical": "major_outage", "major": "partial_outage", "minor": "degraded_performance", "none": "operational",
}  # fmt: skip
INDICATOR_OF: dict[ComponentStatus, Indicator] = {
    "operational": "none", "under_maintenance": "maintenance", "degraded_performance": "minor",
    "partial_outage": "major", "major_outage": "critical",
}  # fmt: skip
DESCRIPTIONS: dict[Indicator, str] = {
    "none": "All Systems Operational", "minor": "Minor Service Outage", "major": "Partial System Outage",
    "critical": "Major System Outage", "maintenance": "Service Under Maintenance",
}  # fmt: skip


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    """The most severe status (``operational`` for none)."""
    return max(statuses, key=_RANK.__getitem__, default="operational")


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything that says something about one component right now."""

    probes: tuple[str, ...] = ()  # probe statuses: unknown | healthy | degraded | down
    groups: tuple[tuple[bool, bool], ...] = ()  # per breaker group: (all providers open, on a fallback)
    alert_severities: tuple[str, ...] = ()  # firing, not muted
    incident_impacts: tuple[str, ...] = ()  # open incidents naming it
    in_maintenance: bool = False


def component_status(inputs: Inputs) -> ComponentStatus:
    """The status a component shows (see the module docstring)."""
    found: list[ComponentStatus] = []
    known = [status for status in inputs.probes if status != "unknown"]
    down = sum(status == "down" for status in known)
    if known and down == len(known):
        found.append("major_outage")
    elif down:
        found.append("partial_outage")
    if "degraded" in known:
        found.append("degraded_performance")
    for all_open, fallback in inputs.groups:
        found.append("major_outage" if all_open else "degraded_performance" if fallback else "operational")
    found += [FROM_SEVERITY.get(severity, "operational") for severity in inputs.alert_severities]
    found += [FROM_IMPACT.get(impact, "operational") for impact in inputs.incident_impacts]
    status = worst(found)
    if inputs.in_maintenance and _RANK[status] <= _RANK["degraded_performance"]:
        return "under_maintenance"
    return status


def page_indicator(statuses: Iterable[ComponentStatus], incident_impacts: Iterable[str] = ()) -> Indicator:
    """The page's indicator: its worst component's, raised by open incidents' impact."""
    impacts = [FROM_IMPACT.get(impact, "operational") for impact in incident_impacts]
    statuses = list(statuses)
    status = worst([*statuses, *impacts])
    if status == "operational" and "under_maintenance" in statuses:
        return "maintenance"
    return INDICATOR_OF[status]


@dataclass(frozen=True, slots=True)
class Component:
    """A public component as configured: what feeds it."""

    id: str
    name: str
    description: str = ""
    probes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    position: int = 1


@dataclass(frozen=True, slots=True)
class ComponentView:
    """A component as the page shows it at one moment."""

    component: Component
    status: ComponentStatus
    updated_at: float
    daily_uptime: tuple[tuple[int, float | None], ...] = ()  # (UTC day start, share up) for the last 90 days


@dataclass(frozen=True, slots=True)
class PageState:
    """Everything the public routes serve, computed when something changes."""

    generated_at: float  # when it was computed (maintenance windows and ages are judged by it)
    components: tuple[ComponentView, ...]
    indicator: Indicator
    incidents: tuple[Mapping[str, object], ...] = ()  # the incident book's JSON views, newest first
    maintenances: tuple[Mapping[str, object], ...] = ()  # windows: name, components, starts_at, ends_at, comment
    updated_at: float = 0.0  # the last change of what it shows: unchanged content keeps its ETag
