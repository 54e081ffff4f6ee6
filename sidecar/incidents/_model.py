"""Incidents: what is broken for users, since when, how bad, and everything that happened (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
STATUSES: tuple[IncidentStatus, ...] = ("investigating", "identified", "monitoring", "resolved")
Impact = Literal["none", "minor", "major", "critical"]
IMPACTS: tuple[Impact, ...] = ("none", "minor", "major", "critical")
IMPACT_OF_SEVERITY: dict[str, Impact] = {"P1": "critical", "P2": "major", "P3": "minor", "P4": "none"}
EntryKind = Literal["declared", "opened", "alert_firing", "alert_resolved", "status", "update", "component"]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One thing that happened to an incident; ``public`` ones show on the status page."""

    at: float
    kind: EntryKind
    message: str
    status: IncidentStatus | None = None
    actor: str | None = None
    public: bool = False


@dataclass
class Incident:
    """An incident and its timeline (mutated only by :class:`~sidecar.incidents.IncidentBook`)."""

    id: str
    title: str
    status: IncidentStatus
    impact: Impact
    components: list[str]
    started_at: float  # opened (the first alert fired, or declared)
    source: Literal["alert", "manual"]
    began_at: float  # the earliest sign: when the first alert's condition started to hold
    resolved_at: float | None = None
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> name, severity, firing
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def open(self) -> bool:
        """Not resolved."""
        return self.status != "resolved"

    def to_state(self) -> dict[str, Any]:
        """A JSON document for the state store."""
        state = asdict(self)
        state["timeline"] = [asdict(entry) for entry in self.timeline]
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Incident:
        """Back from :meth:`to_state` (KeyError/TypeError on a damaged document)."""
        fields = dict(state)
        fields["timeline"] = [TimelineEntry(**entry) for entry in fields.get("timeline", [])]
        fields["components"] = list(fields["components"])
        fields["alerts"] = dict(fields.get("alerts", {}))
        return cls(**fields)
