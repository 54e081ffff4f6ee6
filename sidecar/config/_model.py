"""The typed, immutable configuration tree.

Each section is a frozen pydantic model that forbids unknown keys; durations
and sizes are parsed once into seconds and bytes. Later sections (ingest,
probes, breakers, alerting, status page) are added by the packages that own
those concepts.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sidecar.redact import DEFAULT_SECRET_KEYS

from ._interpolate import EnvStr
from ._units import ByteSize, Duration

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[str, ...] = ("ingest", "read", "admin")


def _require_env(value: Any) -> Any:
    # Secrets may only reach the sidecar through the environment, never the file.
    if value is None or isinstance(value, EnvStr | SecretStr):
        return value
    raise PydanticCustomError(
        "secret_in_file",
        "secrets must come from the environment: write ${VARIABLE} and set it",
    )


Secret = Annotated[
    SecretStr,
    BeforeValidator(_require_env),
    PlainSerializer(lambda value: "***" if value is not None else None, return_type=str),
]
"""A secret value: only accepted through ``${ENV}`` interpolation, printed as ``***``."""


def _check_listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise PydanticCustomError("listen", 'expected HOST:PORT like "127.0.0.1:8090", got "{value}"', {"value": value})
    return value


def _check_network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise PydanticCustomError(
            "network", 'expected an address or CIDR like "10.0.0.0/8", got "{value}"', {"value": value}
        ) from None
    return value


Listen = Annotated[str, AfterValidator(_check_listen)]
Network = Annotated[str, AfterValidator(_check_network)]
PositiveDuration = Annotated[Duration, Field(gt=0)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class Section(BaseModel):
    """Base of every config section: immutable, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ServerConfig(Section):
    """The HTTP listener."""

    listen: Listen = "127.0.0.1:8090"
    shutdown_timeout: PositiveDuration = 10.0
    max_body_size: ByteSize = Field(10 * 1024 * 1024, gt=0)
    trusted_proxies: tuple[Network, ...] = ()
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    @property
    def host(self) -> str:
        """The host part of ``listen``, without IPv6 brackets."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The port part of ``listen``."""
        return int(self.listen.rpartition(":")[2])


class TokenConfig(Section):
    """An API token, known by its SHA-256 hash only."""

    name: Name
    scopes: tuple[Scope, ...] = Field(min_length=1)
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class RateLimitConfig(Section):
    """A token bucket: ``rate`` requests per second sustained, bursts up to ``burst``."""

    rate: float = Field(gt=0)
    burst: int = Field(ge=1)


class AuthConfig(Section):
    """API tokens and rate limits."""

    tokens: tuple[TokenConfig, ...] = ()
    per_token: RateLimitConfig = RateLimitConfig(rate=500, burst=1000)
    per_ip: RateLimitConfig = RateLimitConfig(rate=50, burst=100)
    max_tracked_clients: int = Field(10_000, ge=1)

    @model_validator(mode="after")
    def _unique_names(self) -> AuthConfig:
        names = [token.name for token in self.tokens]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"token names must be unique, repeated: {', '.join(duplicates)}")
        return self


class SqliteConfig(Section):
    """The embedded SQLite backend."""

    path: str = "sidecar.db"
    busy_timeout: PositiveDuration = 5.0


class PostgresConfig(Section):
    """The PostgreSQL backend (asyncpg pool)."""

    dsn: Secret | None = None
    db_schema: Annotated[str, Field(alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "public"
    pool_min_size: int = Field(1, ge=0)
    pool_max_size: int = Field(10, ge=1)
    connect_timeout: PositiveDuration = 5.0
    command_timeout: PositiveDuration = 10.0


class StorageConfig(Section):
    """Where the sidecar keeps its state."""

    backend: Literal["sqlite", "postgres"] = "sqlite"
    sqlite: SqliteConfig = SqliteConfig()
    postgres: PostgresConfig = PostgresConfig()

    @model_validator(mode="after")
    def _dsn_when_postgres(self) -> StorageConfig:
        if self.backend == "postgres" and self.postgres.dsn is None:
            raise ValueError("backend postgres needs postgres.dsn (e.g. dsn: ${SIDECAR_POSTGRES_DSN})")
        return self


class MetricsConfig(Section):
    """The ``/metrics`` endpoint."""

    public: bool = True


class LoggingConfig(Section):
    """The sidecar's own log lines."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class TracingConfig(Section):
    """OpenTelemetry tracing of the sidecar's own request handling."""

    otlp_endpoint: Annotated[str, Field(pattern=r"^https?://")] | None = None
    headers: dict[str, Secret] = {}
    sample_ratio: float = Field(1.0, ge=0, le=1)


class TelemetryConfig(Section):
    """The sidecar's own logs and traces."""

    logging: LoggingConfig = LoggingConfig()
    tracing: TracingConfig = TracingConfig()


class IngestConfig(Section):
    """Log ingestion: workers, admission and per-record limits."""

    workers: Annotated[int | Literal["auto"], PlainValidator(_workers)] = "auto"
    max_pending_batches: int = Field(64, ge=1)
    max_body_size: ByteSize = Field(16 * 1024 * 1024, gt=0)
    max_records: int = Field(10_000, ge=1)
    max_record_size: ByteSize = Field(64 * 1024, gt=0)
    max_depth: int = Field(16, ge=1)
    max_string_length: int = Field(32 * 1024, ge=16)
    max_fields: int = Field(256, ge=1)
    max_services: int = Field(100, ge=1)

    @property
    def worker_count(self) -> int:
        """``workers`` resolved: ``auto`` is one per CPU."""
        if self.workers == "auto":
            return os.cpu_count() or 1
        return self.workers


class SpoolConfig(Section):
    """The write-ahead spool that makes an acknowledged record durable."""

    dir: str = "spool"
    max_size: ByteSize = Field(1024**3, gt=0)
    segment_size: ByteSize = Field(64 * 1024**2, gt=0)
    fsync: bool = True


def _check_re2(pattern: str) -> str:
    import re2

    options = re2.Options()
    options.log_errors = False  # the error is reported with its config path instead
    try:
        re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PydanticCustomError("pattern", "not a valid RE2 pattern: {error}", {"error": reason}) from None
    return pattern


def _workers(value: Any) -> Any:
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise PydanticCustomError("workers", 'expected a number of worker processes (0 or more) or "auto"')


class CustomRuleConfig(Section):
    """A redaction rule of the operator's, compiled with RE2 (linear time, no ReDoS)."""

    name: Name
    pattern: Annotated[str, AfterValidator(_check_re2)]
    validator: Literal["luhn", "mod97"] | None = None


class PseudonymizeConfig(Section):
    """Keyed pseudonyms for identity fields, so one user correlates across records."""

    enabled: bool = False
    key: Secret | None = None
    fields: tuple[str, ...] = ("userId",)
    emails: bool = False

    @model_validator(mode="after")
    def _key_when_enabled(self) -> PseudonymizeConfig:
        if self.enabled and self.key is None:
            raise ValueError("pseudonymisation is on but no key is set (key: ${SIDECAR_PSEUDONYM_KEY})")
        return self


class RedactionConfig(Section):
    """What the redactor removes before anything is stored."""

    ip_addresses: Literal["mask", "keep"] = "mask"
    secret_keys: str = DEFAULT_SECRET_KEYS
    pseudonymize: PseudonymizeConfig = PseudonymizeConfig()
    custom_rules: tuple[CustomRuleConfig, ...] = ()


class RetentionConfig(Section):
    """How long records of each level are kept."""

    debug: PositiveDuration = 3 * 86400.0
    info: PositiveDuration = 14 * 86400.0
    warn: PositiveDuration = 30 * 86400.0
    error: PositiveDuration = 90 * 86400.0
    fatal: PositiveDuration = 90 * 86400.0
    interval: PositiveDuration = 300.0
    batch_size: int = Field(5000, ge=1)


class ForwardConfig(Section):
    """Optional forwarding of redacted records over OTLP/HTTP."""

    otlp_endpoint: Annotated[str, Field(pattern=r"^https?://")] | None = None
    headers: dict[str, Secret] = {}
    batch_size: int = Field(512, ge=1)
    max_buffer: int = Field(10_000, ge=1)
    timeout: PositiveDuration = 10.0


class LogsConfig(Section):
    """Stored logs: retention and forwarding."""

    retention: RetentionConfig = RetentionConfig()
    forward: ForwardConfig = ForwardConfig()


class StatsSection(Section):
    """RED statistics (rate, errors, duration) from spans and timed log records."""

    max_series: int = Field(10_000, ge=1)


class AuditConfig(Section):
    """The audit trail of admin actions."""

    retention: PositiveDuration = 365 * 86400.0


class TracesConfig(Section):
    """Stored spans."""

    retention: PositiveDuration = 7 * 86400.0


# The probes and breakers sections live in their own modules, built from the types above
# (the package re-exports them from here, which keeps the import order one-way).
from ._alerting import (  # noqa: E402, F401
    AlertingConfig,
    IncidentsConfig,
    InhibitRule,
    LabelMatcher,
    MaintenanceWindow,
    ReceiverConfig,
    RouteConfig,
    parse_matcher,
)
from ._breakers import BreakerPolicy, BreakersConfig  # noqa: E402, F401
from ._probes import ProbeConfig, ProbingConfig, unique_probe_names  # noqa: E402
from ._statuspage import (  # noqa: E402, F401
    StatusComponentConfig,
    StatusPageConfig,
    StatuspagePush,
    WebhookPush,
)


class Config(Section):
    """The whole configuration."""

    data_dir: Path = Path("data")
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    storage: StorageConfig = StorageConfig()
    metrics: MetricsConfig = MetricsConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    ingest: IngestConfig = IngestConfig()
    spool: SpoolConfig = SpoolConfig()
    redaction: RedactionConfig = RedactionConfig()
    logs: LogsConfig = LogsConfig()
    traces: TracesConfig = TracesConfig()
    stats: StatsSection = StatsSection()
    probing: ProbingConfig = ProbingConfig()
    probes: Annotated[tuple[ProbeConfig, ...], AfterValidator(unique_probe_names)] = ()
    breakers: BreakersConfig = BreakersConfig()
    alerting: AlertingConfig = AlertingConfig()
    audit: AuditConfig = AuditConfig()
    statuspage: StatusPageConfig = StatusPageConfig()

    @model_validator(mode="after")
    def _references_exist(self) -> Config:
        probes = {probe.name for probe in self.probes}
        for index, component in enumerate(self.statuspage.components or ()):
            for name in component.probes or ():
                if name not in probes:
                    raise ValueError(f"statuspage.components[{index}].probes: no probe is named {name!r}")
            for group in component.breaker_groups:
                if group not in self.breakers.groups:
                    raise ValueError(f"statuspage.components[{index}].breaker_groups: no group is named {group!r}")
        for provider, policy in self.breakers.providers.items():
            if policy.probe is not None and policy.probe not in probes:
                raise ValueError(f"breakers.providers.{provider}.probe: no probe is named {policy.probe!r}")
        return self
