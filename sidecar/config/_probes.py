"""The ``probes`` section: one entry per dependency, its kind's settings and its health policy."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ._model import Duration, Listen, Name, PositiveDuration, Secret, Section

# HTTP status ranges: [200, 299], or a single code as [204, 204].
StatusRange = tuple[Annotated[int, Field(ge=100, le=599)], Annotated[int, Field(ge=100, le=599)]]


class _Probe(Section):
    """What every probe has: timing, hysteresis, and where its status shows."""

    name: Name
    interval: PositiveDuration = 30.0
    timeout: PositiveDuration = 5.0
    degraded_after: PositiveDuration | None = None  # response time above which a success is "degraded"
    failures_to_down: int = Field(3, ge=1)
    successes_to_recover: int = Field(2, ge=1)
    component: Name | None = None  # the status-page component it feeds
    critical: bool = True  # down makes /api/health down (otherwise degraded)

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> _Probe:
        if self.timeout >= self.interval:
            raise ValueError(f"timeout ({self.timeout:g}s) must be less than interval ({self.interval:g}s)")
        return self


class HttpProbe(_Probe):
    """An HTTP(S) request and the conditions its answer must meet."""

    kind: Literal["http"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    headers: dict[str, str] = {}
    secret_headers: dict[str, Secret] = {}  # values only from the environment: API keys, bearer tokens
    body: str | None = None
    follow_redirects: bool = True
    expect_status: tuple[StatusRange, ...] = ((200, 399),)
    max_response_time: PositiveDuration | None = None
    body_contains: str | None = None
    json_path: str | None = None
    json_equals: Any = None  # compared only when set (null included): see model_fields_set
    header_equals: dict[str, str] = {}
    cert_min_days: int | None = Field(None, ge=0)


class TcpProbe(_Probe):
    """A TCP connect, optionally with a TLS handshake."""

    kind: Literal["tcp"]
    host: str
    port: int = Field(ge=1, le=65535)
    tls: bool = False


class PostgresProbe(_Probe):
    """An asyncpg connect and ``SELECT 1``; optionally: must be a primary, bounded replication lag."""

    kind: Literal["postgres"]
    dsn: Secret
    check_recovery: bool = False
    max_replication_lag: PositiveDuration | None = None


class RedisProbe(_Probe):
    """``PING`` -> ``PONG`` over RESP."""

    kind: Literal["redis"]
    host: str = "127.0.0.1"
    port: int = Field(6379, ge=1, le=65535)
    password: Secret | None = None


class SmtpProbe(_Probe):
    """Banner, ``EHLO``, optional ``STARTTLS``, ``QUIT``."""

    kind: Literal["smtp"]
    host: str
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False


class DnsProbe(_Probe):
    """A name resolution, optionally expecting one address among the answers."""

    kind: Literal["dns"]
    host: str
    expect: str | None = None


ProbeConfig = Annotated[
    HttpProbe | TcpProbe | PostgresProbe | RedisProbe | SmtpProbe | DnsProbe, Field(discriminator="kind")
]
"""One probe; ``kind`` decides which settings it takes."""


DAY = 86400.0


class ConnectivityConfig(Section):
    """The sidecar's own connectivity self-check: TCP connects to well-known targets.

    While every target is unreachable the sidecar counts itself offline, and probe
    failures seen then leave their probes ``unknown (sidecar offline)`` instead of
    moving them toward ``down``. No targets (the default): no self-check.
    """

    targets: tuple[Listen, ...] = ()  # HOST:PORT, e.g. "1.1.1.1:53"
    timeout: PositiveDuration = 2.0
    max_age: PositiveDuration = 10.0  # how long one verdict is reused by later failures


class ProbingConfig(Section):
    """How probes run and how long their history is kept."""

    max_concurrency: int = Field(256, ge=1)  # checks in flight at once
    flush_interval: PositiveDuration = 5.0  # results and roll-ups are written this often
    results_retention: PositiveDuration = 2 * DAY  # raw results
    minute_retention: Annotated[Duration, Field(ge=DAY)] = 2 * DAY  # per-minute roll-ups (the 24 h uptime)
    hour_retention: Annotated[Duration, Field(ge=90 * DAY)] = 400 * DAY  # per-hour roll-ups (7/30/90 d, daily p50/p95)
    connectivity: ConnectivityConfig = ConnectivityConfig()


def unique_probe_names(probes: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuse two probes with one name (their states, metrics and routes are keyed by it)."""
    seen: set[str] = set()
    for probe in probes:
        if probe.name in seen:
            raise ValueError(f"two probes are named {probe.name!r}")
        seen.add(probe.name)
    return probes
