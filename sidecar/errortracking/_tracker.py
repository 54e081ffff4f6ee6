"""The error tracker: folds occurrences into groups, runs the status workflow, emits alerting events."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sidecar.errors import BadRequest, NotFound
from sidecar.logs import Level
from sidecar.telemetry import BoundedLabel

from ._category import category_of
from ._fingerprint import signature
from ._group import STATUSES, ErrorGroup, Status
from ._occurrence import ErrorOccurrence

EventKind = Literal["new_group", "regression"]
SortKey = Literal["last_seen", "count"]
SORT_KEYS: tuple[SortKey, ...] = ("last_seen", "count")


@dataclass(frozen=True, slots=True)
class TrackerLimits:
    """Bounds on the tracker's memory and on its metric series.

    At the defaults a group costs at most about 25 KiB (users ~13 KiB, trend
    2.6 KiB, sample 5 KiB), so 10,000 groups stay under about 250 MiB even in
    the worst case; typical groups cost a few KiB.
    """

    max_groups: int = 10_000
    max_exact_users: int = 200  # per group; beyond, a HyperLogLog estimate (1.6 % standard error)
    max_services_per_group: int = 20  # beyond, "other"
    max_metric_services: int = 100  # service label values of sidecar_errors_total; beyond, "other"

    def __post_init__(self) -> None:
        for name in ("max_groups", "max_exact_users", "max_services_per_group", "max_metric_services"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """A group appeared (``new_group``) or a resolved group occurred again (``regression``), for alerting."""

    kind: EventKind
    group_id: str
    title: str
    service: str | None
    category: str
    severity: Level
    ts: int  # Unix nanoseconds of the occurrence


@dataclass(frozen=True, slots=True)
class GroupChanges:
    """What changed since the last drain: the state of every changed group, and the ids of evicted ones."""

    upserted: dict[str, dict[str, Any]]
    deleted: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """Whether there is nothing to persist."""
        return not self.upserted and not self.deleted


class ErrorTracker:
    """Every error group, in memory; the one stateful piece of error tracking.

    Occurrences stamped in the future (a client's clock running ahead) count
    as happening now. At most ``limits.max_groups`` groups are kept: when a new
    group would exceed that, the least recently seen 1 % (at least one) go,
    resolved and ignored groups before unresolved ones; an evicted group seen
    again starts afresh, with a ``new_group`` event. Changed and evicted groups
    are remembered until :meth:`drain_dirty`, for persistence. Not thread-safe:
    call it from the event loop.
    """

    def __init__(self, limits: TrackerLimits | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self._limits = limits or TrackerLimits()
        self._clock = clock
        self._groups: dict[str, ErrorGroup] = {}
        self._dirty: set[str] = set()
        self._deleted: set[str] = set()
        self._totals: dict[tuple[str, str], int] = {}
        self._metric_service = BoundedLabel(self._limits.max_metric_services)

    @property
    def limits(self) -> TrackerLimits:
        """The bounds this tracker keeps to."""
        return self._limits

    def __len__(self) -> int:
        return len(self._groups)

    def __contains__(self, group_id: object) -> bool:
        return group_id in self._groups

    def record(self, occurrences: Iterable[ErrorOccurrence]) -> list[ErrorEvent]:
        """Fold ``occurrences`` into their groups; the ``new_group`` and ``regression`` events they caused."""
        now_ns = self._now_ns()
        events = []
        for occurrence in occurrences:
            event = self._record_one(occurrence, now_ns)
            if event is not None:
                events.append(event)
        return events

    def _record_one(self, occurrence: ErrorOccurrence, now_ns: int) -> ErrorEvent | None:
        ts = min(occurrence.ts, now_ns)
        found = signature(occurrence.error_type, occurrence.message, occurrence.stack)
        group = self._groups.get(found.fingerprint)
        kind: EventKind | None = None
        if group is None:
            category = category_of(occurrence.error_type, found.template)
            group = ErrorGroup.create(found, category, occurrence, ts, max_exact_users=self._limits.max_exact_users)
            self._admit(group)
            kind = "new_group"
        elif group.status == "resolved" and (group.resolved_at is None or ts > group.resolved_at):
            group.status, group.regressed, group.status_changed_at = "unresolved", True, now_ns
            kind = "regression"
        group.observe(occurrence, ts, now_ns, max_services=self._limits.max_services_per_group)
        self._dirty.add(group.id)
        key = (self._metric_service(occurrence.service), group.category)
        self._totals[key] = self._totals.get(key, 0) + 1
        if kind is None:
            return None
        return ErrorEvent(kind, group.id, group.title, occurrence.service, group.category, group.severity, ts)

    def get(self, group_id: str) -> ErrorGroup:
        """The group ``group_id``; :class:`NotFound` when there is none. Read it, do not change it."""
        group = self._groups.get(group_id)
        if group is None:
            raise NotFound(f"no error group {group_id[:64]!r}")
        return group

    def set_status(self, group_id: str, status: str, now_ns: int | None = None) -> ErrorGroup:
        """Set a group's status (an admin's decision), clearing ``regressed``; the group.

        :class:`BadRequest` for an unknown status, :class:`NotFound` for an unknown group.
        Setting the status a group already has changes nothing.
        """
        if status not in STATUSES:
            raise BadRequest(f"status: expected one of {', '.join(STATUSES)}, got {status!r}")
        group = self.get(group_id)
        if group.status == status:
            return group
        now_ns = self._now_ns() if now_ns is None else now_ns
        group.status = status
        group.regressed = False
        group.status_changed_at = now_ns
        if status == "resolved":
            group.resolved_at = now_ns
        self._dirty.add(group.id)
        return group

    def list_groups(
        self,
        *,
        status: str | None = None,
        service: str | None = None,
        since_ns: int | None = None,
        sort: str = "last_seen",
        limit: int = 100,
    ) -> list[ErrorGroup]:
        """Groups with ``status``, seen in ``service``, last seen at or after ``since_ns``.

        Sorted by last seen (newest first) or by count (largest first, then
        newest); at most ``limit``. :class:`BadRequest` for an unknown status or
        sort key or a limit below 1. These are the live groups: read them, do not change them.
        """
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status: expected one of {', '.join(STATUSES)}, got {status!r}")
        if sort not in SORT_KEYS:
            raise BadRequest(f"sort: expected one of {', '.join(SORT_KEYS)}, got {sort!r}")
        if limit < 1:
            raise BadRequest("limit: must be at least 1")
        matches = (
            group
            for group in self._groups.values()
            if (status is None or group.status == status)
            and (service is None or service in group.services)
            and (since_ns is None or group.last_seen >= since_ns)
        )
        if sort == "count":
            return heapq.nsmallest(limit, matches, key=lambda group: (-group.count, -group.last_seen, group.id))
        return heapq.nsmallest(limit, matches, key=lambda group: (-group.last_seen, group.id))

    def status_counts(self) -> dict[Status, int]:
        """How many groups have each status (every status present, zero or not)."""
        counts = dict.fromkeys(STATUSES, 0)
        for group in self._groups.values():
            counts[group.status] += 1
        return counts

    def error_totals(self) -> dict[tuple[str, str], int]:
        """Occurrences recorded since start by ``(service, category)``; services beyond the bound are ``other``."""
        return dict(self._totals)

    def load(self, groups: Iterable[ErrorGroup]) -> None:
        """Restore groups saved earlier (at start); they are not dirty. Beyond the bound, the usual ones go."""
        for group in groups:
            self._groups[group.id] = group
        excess = len(self._groups) - self._limits.max_groups
        if excess > 0:
            self._evict(excess)

    def drain_dirty(self) -> GroupChanges:
        """What changed since the last drain, as states to save and ids to delete; forgets it."""
        changes = GroupChanges(
            upserted={group_id: self._groups[group_id].to_state() for group_id in sorted(self._dirty)},
            deleted=tuple(sorted(self._deleted)),
        )
        self._dirty.clear()
        self._deleted.clear()
        return changes

    def requeue(self, changes: GroupChanges) -> None:
        """Take back changes whose persistence failed, so the next drain includes them."""
        self._dirty.update(group_id for group_id in changes.upserted if group_id in self._groups)
        self._deleted.update(group_id for group_id in changes.deleted if group_id not in self._groups)

    def _admit(self, group: ErrorGroup) -> None:
        if len(self._groups) >= self._limits.max_groups:
            self._evict(max(1, self._limits.max_groups // 100))
        self._groups[group.id] = group
        self._deleted.discard(group.id)

    def _evict(self, count: int) -> None:
        """Drop ``count`` groups: resolved and ignored before unresolved, least recently seen first."""
        # Evicting a batch at a time keeps a flood of new fingerprints from costing a scan each.
        victims = heapq.nsmallest(count, self._groups.values(), key=lambda group: (group.is_open, group.last_seen))
        for victim in victims:
            del self._groups[victim.id]
            self._dirty.discard(victim.id)
            self._deleted.add(victim.id)

    def _now_ns(self) -> int:
        return int(self._clock() * 1_000_000_000)
