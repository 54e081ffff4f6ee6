"""Routing, grouping, inhibition and silencing of alerts, as Alertmanager does them (pure, clock passed in).

Routing: an alert walks the tree from the root; the first child whose matchers
all match takes it (and its subtree decides), unless that child sets
``continue``, in which case later siblings may take it too; a node whose
children all miss takes it itself.

Grouping: each (receiver, values of ``group_by``) is a group. A new group is
sent ``group_wait`` after its first alert; then, every ``group_interval``, it is
sent again if its set of firing alerts changed or an alert resolved, and
otherwise re-sent every ``repeat_interval`` while anything fires. Once all its
alerts resolved and that was sent, the group is gone.

Muting: an alert that matches an active silence, falls in a maintenance window
of its ``component``, or is inhibited (a firing alert matches an inhibit rule's
source matchers, it matches the target matchers, and both have equal values
for the rule's ``equal`` labels) is left out of notifications.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sidecar.config import InhibitRule, RouteConfig, parse_matcher

from ._expr import Matcher
from ._notify import AlertInstance, Notification
from ._state import Alert

DEFAULT_GROUP_BY = ("alertname",)
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


def parse_label_matcher(text: str) -> Matcher:
    """A matcher written ``label="value"`` (validated by the config), as the expression language matches it."""
    label, op, value = parse_matcher(text)
    return Matcher(label, op, value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches."""
    return all(matcher.matches(labels) for matcher in matchers)


@dataclass(frozen=True, slots=True)
class Route:
    """A routing node with its inherited settings resolved."""

    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    continue_: bool
    routes: tuple[Route, ...] = ()

    @classmethod
    def build(cls, config: RouteConfig, parent: Route | None = None) -> Route:
        """The tree of ``config``, children inheriting what they do not set."""
        node = cls(
            config.receiver or (parent.receiver if parent else ""),
            tuple(parse_label_matcher(text) for text in config.matchers),
            config.group_by if config.group_by is not None else (parent.group_by if parent else DEFAULT_GROUP_BY),
            _pick(config.group_wait, parent.group_wait if parent else None, DEFAULT_GROUP_WAIT),
            _pick(config.group_interval, parent.group_interval if parent else None, DEFAULT_GROUP_INTERVAL),
            _pick(config.repeat_interval, parent.repeat_interval if parent else None, DEFAULT_REPEAT_INTERVAL),
            config.continue_,
        )
        return replace(node, routes=tuple(cls.build(child, node) for child in config.routes))

    def destinations(self, labels: Mapping[str, str]) -> list[Route]:
        """The nodes that take an alert with ``labels`` (the root always matches)."""
        taken: list[Route] = []
        for child in self.routes:
            if matches_all(child.matchers, labels):
                taken += child.destinations(labels)
                if not child.continue_:
                    break
        return taken or [self]


def _pick(own: float | None, inherited: float | None, default: float) -> float:
    return own if own is not None else inherited if inherited is not None else default


@dataclass(frozen=True, slots=True)
class Silence:
    """Mutes the alerts matching every matcher between ``starts_at`` and ``ends_at``."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str

    def active(self, now: float) -> bool:
        """Whether it mutes anything at ``now``."""
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True, slots=True)
class Window:
    """A maintenance window: the alerts of ``components`` are muted between ``starts_at`` and ``ends_at``."""

    name: str
    components: tuple[str, ...]
    starts_at: float
    ends_at: float
    comment: str = ""

    def active(self, now: float) -> bool:
        """Whether it is on at ``now``."""
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True, slots=True)
class Inhibition:
    """A compiled inhibit rule."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    @classmethod
    def build(cls, rule: InhibitRule) -> Inhibition:
        """From the config."""
        return cls(
            tuple(map(parse_label_matcher, rule.source_matchers)),
            tuple(map(parse_label_matcher, rule.target_matchers)),
            rule.equal,
        )


def muted(
    alerts: Sequence[Alert],
    now: float,
    silences: Iterable[Silence],
    windows: Iterable[Window],
    inhibitions: Sequence[Inhibition],
) -> dict[str, str]:
    """Fingerprint -> why (``silenced by …``, ``maintenance …``, ``inhibited by …``) for every muted alert."""
    reasons: dict[str, str] = {}
    active_silences = [silence for silence in silences if silence.active(now)]
    active_windows = [window for window in windows if window.active(now)]
    firing = [alert for alert in alerts if alert.status == "firing"]
    for alert in alerts:
        silence = next((s for s in active_silences if matches_all(s.matchers, alert.labels)), None)
        if silence is not None:
            reasons[alert.fingerprint] = f"silenced by {silence.id}"
            continue
        component = alert.labels.get("component")
        window = next((w for w in active_windows if component in w.components), None)
        if window is not None:
            reasons[alert.fingerprint] = f"maintenance {window.name}"
            continue
        for rule in inhibitions:
            if not matches_all(rule.target, alert.labels):
                continue
            source = next(
                (
                    other
                    for other in firing
                    if other.fingerprint != alert.fingerprint
                    and matches_all(rule.source, other.labels)
                    and all(other.labels.get(name, "") == alert.labels.get(name, "") for name in rule.equal)
                ),
                None,
            )
            if source is not None:
                reasons[alert.fingerprint] = f"inhibited by {source.labels.get('alertname', source.fingerprint)}"
                break
    return reasons


@dataclass
class Group:
    """An alert group of one receiver: its alerts, and what was last sent."""

    key: str
    receiver: str
    labels: dict[str, str]
    route: Route
    created_at: float
    alerts: dict[str, AlertInstance] = field(default_factory=dict)
    next_flush: float = 0.0
    last_sent_at: float | None = None
    sent_firing: frozenset[str] = frozenset()  # fingerprints firing in the last notification

    def to_state(self) -> dict[str, Any]:
        """What must survive a restart so that nothing is sent twice."""
        return {"receiver": self.receiver, "labels": self.labels, "created_at": self.created_at,
                "next_flush": self.next_flush, "last_sent_at": self.last_sent_at,
                "sent_firing": sorted(self.sent_firing)}  # fmt: skip


class Dispatcher:
    """Groups alerts per receiver and decides, at each tick, which notifications to send."""

    def __init__(self, root: Route, *, send_resolved: Mapping[str, bool]) -> None:
        self._root = root
        self._send_resolved = send_resolved
        self.groups: dict[str, Group] = {}

    def restore(self, saved: Mapping[str, Mapping[str, Any]]) -> None:
        """Take back the groups saved at the last stop (their routes found again by receiver)."""
        routes = {route.receiver: route for route in _walk(self._root)}
        for key, state in saved.items():
            route = routes.get(state.get("receiver", ""))
            if route is None:
                continue
            self.groups[key] = Group(
                key, route.receiver, dict(state["labels"]), route, float(state["created_at"]),
                next_flush=float(state["next_flush"]), last_sent_at=state["last_sent_at"],
                sent_firing=frozenset(state["sent_firing"]),
            )  # fmt: skip

    def next_flush(self) -> float | None:
        """When the earliest group is due (None: no group)."""
        return min((group.next_flush for group in self.groups.values()), default=None)

    def tick(self, alerts: Sequence[Alert], mutes: Mapping[str, str], now: float) -> list[Notification]:
        """Fold in the current alerts (pending ones are ignored) and return the notifications due at ``now``."""
        present: dict[str, set[str]] = {}
        for alert in alerts:
            if alert.status == "pending":
                continue
            for route in self._root.destinations(alert.labels):
                labels = {name: alert.labels.get(name, "") for name in route.group_by}
                key = f"{route.receiver}:" + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
                group = self.groups.get(key)
                if group is None:
                    group = self.groups[key] = Group(
                        key, route.receiver, labels, route, now, next_flush=now + route.group_wait
                    )
                group.alerts[alert.fingerprint] = alert.instance()
                present.setdefault(key, set()).add(alert.fingerprint)
        notifications = []
        for key, group in list(self.groups.items()):
            # Alerts no longer known (pruned, or their rule removed) count as resolved.
            for fp, instance in list(group.alerts.items()):
                if fp not in present.get(key, set()) and instance.status == "firing":
                    group.alerts[fp] = AlertInstance(
                        fp, instance.labels, instance.annotations, "resolved", instance.starts_at, now, instance.value
                    )
            if now < group.next_flush:
                continue
            notification = self._flush(group, mutes, now)
            if notification is not None:
                notifications.append(notification)
            if not any(a.status == "firing" for a in group.alerts.values()) and not group.sent_firing:
                del self.groups[key]
        return notifications

    def _flush(self, group: Group, mutes: Mapping[str, str], now: float) -> Notification | None:
        route = group.route
        group.next_flush = now + route.group_interval
        firing = {fp: a for fp, a in group.alerts.items() if a.status == "firing" and fp not in mutes}
        resolved = {fp: a for fp, a in group.alerts.items() if a.status == "resolved" and fp in group.sent_firing}
        # Resolved alerts never sent as firing, and muted resolved ones, are simply let go.
        for fp, alert in list(group.alerts.items()):
            if alert.status == "resolved" and fp not in resolved:
                del group.alerts[fp]
        changed = set(firing) != set(group.sent_firing) or bool(resolved)
        repeat = bool(firing) and group.last_sent_at is not None and now - group.last_sent_at >= route.repeat_interval
        if not (changed or repeat):
            return None
        send_resolved = self._send_resolved.get(group.receiver, True)
        carried = tuple(firing.values()) + (tuple(resolved.values()) if send_resolved else ())
        for fp in resolved:
            del group.alerts[fp]
        group.sent_firing = frozenset(firing)
        if not carried:
            return None
        group.last_sent_at = now
        status = "firing" if firing else "resolved"
        return Notification(group.receiver, group.key, dict(group.labels), status, carried, now)  # type: ignore[arg-type]


def _walk(route: Route) -> list[Route]:
    found = [route]
    for child in route.routes:
        found += _walk(child)
    return found


def group_key_labels(key: str) -> str:
    """The label part of a group key (for messages)."""
    return re.sub(r"^[^:]*:", "", key)
