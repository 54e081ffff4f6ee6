"""Alert lifecycle: inactive -> pending -> firing -> resolved, per rule and label set (pure, clock passed in).

An alert's identity is the fingerprint of its labels (``alertname`` = the rule's
name, the series' labels, then the rule's own labels, which win). Each
evaluation passes the samples a rule's expression yielded:

- a new label set is ``pending`` from that evaluation (``active_at``);
- a pending alert fires once it has been active for the rule's ``for``
  (at once with ``for: 0``); ``fired_at`` is that moment;
- a sample that is gone drops a pending alert, and resolves a firing one once
  it has been gone for ``keep_firing_for`` (``resolved_at``);
- a resolved alert that comes back is a new alert (pending again).
Resolved alerts are kept ``resolved_retention`` seconds, for notifications and the API.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson

from ._expr import Sample
from ._notify import AlertInstance
from ._rules import Rule, render

AlertStatus = Literal["pending", "firing", "resolved"]


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable id of a label set (16 hex digits)."""
    return hashlib.sha256(orjson.dumps(dict(sorted(labels.items())))).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of one rule, at one moment."""

    fingerprint: str
    rule: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    value: float | None
    status: AlertStatus
    active_at: float
    last_seen: float  # the last evaluation that yielded it
    fired_at: float | None = None
    resolved_at: float | None = None

    @property
    def severity(self) -> str:
        """P1..P4."""
        return self.labels.get("severity", "")

    def instance(self) -> AlertInstance:
        """As notifications carry it (``starts_at`` is when it started firing)."""
        status: Literal["firing", "resolved"] = "resolved" if self.status == "resolved" else "firing"
        return AlertInstance(
            self.fingerprint, self.labels, self.annotations, status, self.fired_at or self.active_at,
            self.resolved_at, self.value,
        )  # fmt: skip

    def to_state(self) -> dict[str, Any]:
        """A JSON document for the state store."""
        return {
            "rule": self.rule, "labels": dict(self.labels), "annotations": dict(self.annotations), "value": self.value,
            "status": self.status, "active_at": self.active_at, "last_seen": self.last_seen,
            "fired_at": self.fired_at, "resolved_at": self.resolved_at,
        }  # fmt: skip

    @classmethod
    def from_state(cls, key: str, state: Mapping[str, Any]) -> Alert:
        """Back from :meth:`to_state` (KeyError/TypeError on a damaged document)."""
        return cls(
            key, state["rule"], dict(state["labels"]), dict(state["annotations"]), state["value"], state["status"],
            float(state["active_at"]), float(state["last_seen"]), state["fired_at"], state["resolved_at"],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Change:
    """An alert moved from ``previous`` (None: new) to its current status."""

    alert: Alert
    previous: AlertStatus | None


class AlertTable:
    """Every current alert by fingerprint; :meth:`evaluate` folds in one rule's samples."""

    def __init__(self, alerts: Iterable[Alert] = ()) -> None:
        self._alerts: dict[str, Alert] = {alert.fingerprint: alert for alert in alerts}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._alerts.values()))

    def get(self, key: str) -> Alert | None:
        """The alert with fingerprint ``key``."""
        return self._alerts.get(key)

    def evaluate(self, rule: Rule, samples: Iterable[Sample], now: float) -> list[Change]:
        """Apply one evaluation of ``rule``; the status changes it caused."""
        changes: list[Change] = []
        seen: set[str] = set()
        for sample in samples:
            labels = {**dict(sample.labels), "alertname": rule.name, **rule.labels}
            key = fingerprint(labels)
            if key in seen:  # two series with one label set after the rule's labels: one alert
                continue
            seen.add(key)
            annotations = {name: render(text, labels, sample.value) for name, text in rule.annotations.items()}
            current = self._alerts.get(key)
            previous: AlertStatus | None = None
            if current is None or current.status == "resolved":
                current = Alert(key, rule.name, labels, annotations, sample.value, "pending", now, now)
            else:
                previous = current.status
                current = replace(current, annotations=annotations, value=sample.value, last_seen=now)
            if current.status == "pending" and now - current.active_at >= rule.for_:
                current = replace(current, status="firing", fired_at=now)
            if current.status != previous:  # new (pending, or firing at once with ``for: 0``), or fired
                changes.append(Change(current, previous))
            self._alerts[key] = current
        for key, alert in list(self._alerts.items()):
            if alert.rule != rule.name or key in seen or alert.status == "resolved":
                continue
            if alert.status == "pending":
                del self._alerts[key]
                changes.append(Change(replace(alert, status="resolved", resolved_at=now), "pending"))
            elif now - alert.last_seen >= rule.keep_firing_for:
                self._alerts[key] = replace(alert, status="resolved", resolved_at=now)
                changes.append(Change(self._alerts[key], "firing"))
        return changes

    def forget(self, rules: Iterable[str]) -> list[Change]:
        """Resolve every alert of rules that no longer exist (after a reload)."""
        keep = set(rules)
        changes = []
        for key, alert in list(self._alerts.items()):
            if alert.rule not in keep and alert.status != "resolved":
                self._alerts[key] = replace(alert, status="resolved", resolved_at=alert.last_seen)
                changes.append(Change(self._alerts[key], alert.status))
        return changes

    def prune(self, now: float, retention: float) -> list[str]:
        """Drop resolved alerts older than ``retention``; their fingerprints."""
        gone = [
            key
            for key, alert in self._alerts.items()
            if alert.status == "resolved" and alert.resolved_at is not None and now - alert.resolved_at >= retention
        ]
        for key in gone:
            del self._alerts[key]
        return gone
