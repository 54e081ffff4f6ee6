"""An error group: every occurrence of one fingerprint, summarised in bounded memory."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sidecar.logs import LEVELS, Level

from ._distinct import DistinctCounter
from ._fingerprint import Signature, title_of
from ._occurrence import ErrorOccurrence, Source
from ._trend import HourlyTrend

Status = Literal["unresolved", "resolved", "ignored"]
STATUSES: tuple[Status, ...] = ("unresolved", "resolved", "ignored")
STATE_VERSION = 1
# Where a group's services list stops growing; "other" then stands for the rest.
OTHER_SERVICE = "other"
UNKNOWN_SERVICE = "unknown"
MAX_SAMPLE_MESSAGE = 1024
MAX_SAMPLE_STACK = 4096
_LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}


@dataclass(frozen=True, slots=True)
class ErrorSample:
    """The latest occurrence of a group, trimmed."""

    ts: int
    service: str | None
    error_type: str
    message: str
    stack: str | None
    trace_id: str | None
    request_id: str | None
    source: Source

    @classmethod
    def of(cls, occurrence: ErrorOccurrence, ts: int) -> ErrorSample:
        """The sample of ``occurrence`` (seen at ``ts``), message and stack trimmed."""
        return cls(
            ts=ts,
            service=occurrence.service,
            error_type=occurrence.error_type,
            message=_trim(occurrence.message, MAX_SAMPLE_MESSAGE),
            stack=None if occurrence.stack is None else _trim(occurrence.stack, MAX_SAMPLE_STACK),
            trace_id=occurrence.trace_id,
            request_id=occurrence.request_id,
            source=occurrence.source,
        )

    def to_state(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


@dataclass(slots=True, eq=False)
class ErrorGroup:
    """Every occurrence of one fingerprint: counts, times, users, services, trend and workflow status.

    Times are Unix nanoseconds. ``severity`` is the highest level seen.
    ``resolved_at`` is when it was last resolved: only an occurrence after it
    is a regression, so late-arriving records from before do not reopen it.
    """

    id: str
    title: str
    error_type: str
    category: str
    culprit: str | None
    severity: Level
    first_seen: int
    last_seen: int
    sample: ErrorSample
    users: DistinctCounter
    trend: HourlyTrend = field(default_factory=HourlyTrend)
    services: set[str] = field(default_factory=set)
    count: int = 0
    status: Status = "unresolved"
    regressed: bool = False
    resolved_at: int | None = None
    status_changed_at: int | None = None

    @classmethod
    def create(
        cls, signature: Signature, category: str, occurrence: ErrorOccurrence, ts: int, *, max_exact_users: int
    ) -> ErrorGroup:
        """A group with no occurrence counted yet; :meth:`observe` counts the first."""
        return cls(
            id=signature.fingerprint,
            title=title_of(occurrence.error_type, signature.template),
            error_type=occurrence.error_type,
            category=category,
            culprit=signature.culprit,
            severity=occurrence.level,
            first_seen=ts,
            last_seen=ts,
            sample=ErrorSample.of(occurrence, ts),
            users=DistinctCounter(max_exact_users),
        )

    def observe(self, occurrence: ErrorOccurrence, ts: int, now_ns: int, *, max_services: int) -> None:
        """Count ``occurrence`` (seen at ``ts``); the latest one becomes the sample."""
        self.count += 1
        self.first_seen = min(self.first_seen, ts)
        if ts >= self.last_seen:
            self.last_seen = ts
            self.sample = ErrorSample.of(occurrence, ts)
        if _LEVEL_RANK[occurrence.level] > _LEVEL_RANK[self.severity]:
            self.severity = occurrence.level
        if occurrence.user:
            self.users.add(occurrence.user)
        service = occurrence.service or UNKNOWN_SERVICE
        if service not in self.services:
            self.services.add(service if len(self.services) < max_services else OTHER_SERVICE)
        self.trend.add(ts, now_ns)

    @property
    def is_open(self) -> bool:
        """Whether the group is unresolved."""
        return self.status == "unresolved"

    def to_json(self, now_ns: int | None = None) -> dict[str, Any]:
        """The group as the API shows it: RFC 3339 times, the trend of the 14 days before ``now_ns``."""
        sample = self.sample.to_state()
        sample["ts"] = format_ns(self.sample.ts)
        return {
            "id": self.id,
            "title": self.title,
            "error_type": self.error_type,
            "category": self.category,
            "culprit": self.culprit,
            "severity": self.severity,
            "status": self.status,
            "regressed": self.regressed,
            "first_seen": format_ns(self.first_seen),
            "last_seen": format_ns(self.last_seen),
            "count": self.count,
            "users": self.users.count,
            "users_estimated": self.users.estimated,
            "services": sorted(self.services),
            "trend": [{"hour": format_ns(start), "count": count} for start, count in self.trend.buckets(now_ns)],
            "sample": sample,
            "status_changed_at": None if self.status_changed_at is None else format_ns(self.status_changed_at),
        }

    def to_state(self) -> dict[str, Any]:
        """A JSON-able form for persistence; :meth:`from_state` restores it."""
        return {
            "v": STATE_VERSION,
            "id": self.id,
            "title": self.title,
            "error_type": self.error_type,
            "category": self.category,
            "culprit": self.culprit,
            "severity": self.severity,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "sample": self.sample.to_state(),
            "users": self.users.to_state(),
            "trend": self.trend.to_state(),
            "services": sorted(self.services),
            "count": self.count,
            "status": self.status,
            "regressed": self.regressed,
            "resolved_at": self.resolved_at,
            "status_changed_at": self.status_changed_at,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, max_exact_users: int) -> ErrorGroup:
        """The group :meth:`to_state` described; raises ValueError on anything else."""
        try:
            if state["v"] != STATE_VERSION:
                raise ValueError(f"unknown version {state['v']!r}")
            if state["status"] not in STATUSES or state["severity"] not in _LEVEL_RANK:
                raise ValueError("unknown status or severity")
            return cls(
                id=str(state["id"]),
                title=str(state["title"]),
                error_type=str(state["error_type"]),
                category=str(state["category"]),
                culprit=_optional(state["culprit"], str),
                severity=cast(Level, state["severity"]),
                first_seen=int(state["first_seen"]),
                last_seen=int(state["last_seen"]),
                sample=ErrorSample(**state["sample"]),
                users=DistinctCounter.from_state(state["users"], max_exact_users),
                trend=HourlyTrend.from_state(state["trend"]),
                services={str(service) for service in state["services"]},
                count=int(state["count"]),
                status=state["status"],
                regressed=bool(state["regressed"]),
                resolved_at=_optional(state["resolved_at"], int),
                status_changed_at=_optional(state["status_changed_at"], int),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an error group state: {exc}") from exc


def _optional(value: Any, kind: type) -> Any:
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"expected {kind.__name__} or null, got {value!r}")
    return value


def format_ns(ns: int) -> str:
    """Unix nanoseconds as an RFC 3339 UTC time with microseconds."""
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _trim(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, keeping its head and its tail (where a Python traceback ends)."""
    if len(text) <= limit:
        return text
    half = (limit - 3) // 2
    return f"{text[:half]}\n…\n{text[-half:]}"
