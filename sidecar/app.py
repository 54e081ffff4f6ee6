"""The composition root: builds every domain service from the config and wires it into one app."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web
from opentelemetry.sdk.trace import SpanProcessor
from prometheus_client import CollectorRegistry

from sidecar.alerting.service import AlertingService
from sidecar.alerting.sources import (
    breaker_signals,
    error_signals,
    ingest_signals,
    probe_signals,
    stats_signals,
)
from sidecar.api import (
    ALERTING,
    BREAKERS,
    ERRORS,
    INCIDENTS,
    INGEST,
    PROBES,
    STATS,
    STATUSPAGE,
    alerting_routes,
    audit_routes,
    breakers_routes,
    errors_routes,
    incidents_routes,
    logs_routes,
    otlp_routes,
    probes_routes,
    stats_routes,
    status_routes,
    traces_routes,
)
from sidecar.audit import AuditEntry
from sidecar.breakers.service import BreakerService
from sidecar.config import Config, RedactionConfig
from sidecar.errortracking.service import ErrorTrackingService
from sidecar.forward import LogForwarder
from sidecar.http import READINESS, REGISTRY, RELOAD_HOOKS, STORAGE
from sidecar.http import create_app as create_http_app
from sidecar.incidents.service import IncidentService
from sidecar.ingest.service import IngestService, Sink
from sidecar.logs import LEVELS
from sidecar.probes.service import ProbeService
from sidecar.redact import CustomRule, RedactionPolicy
from sidecar.retention import RetentionJob
from sidecar.stats import Stats, StatsConfig
from sidecar.statuspage import Pusher, StatuspageTarget, WebhookTarget
from sidecar.statuspage.service import StatusPageService, default_components
from sidecar.storage import Storage

log = structlog.get_logger("sidecar.app")


def redaction_policy(config: RedactionConfig) -> RedactionPolicy:
    """The redactor's policy for the ``redaction`` config section."""
    pseudonymize = config.pseudonymize
    key = pseudonymize.key.get_secret_value().encode() if pseudonymize.enabled and pseudonymize.key else None
    return RedactionPolicy(
        ip_addresses=config.ip_addresses,
        secret_keys=config.secret_keys,
        pseudonymize_fields=pseudonymize.fields,
        pseudonymize_emails=pseudonymize.enabled and pseudonymize.emails,
        pseudonym_key=key,
        custom_rules=tuple(CustomRule(rule.name, rule.pattern, rule.validator) for rule in config.custom_rules),
    )


def create_app(
    config: Config,
    *,
    storage: Storage | None = None,
    clock: Callable[[], float] = time.monotonic,
    span_processors: tuple[SpanProcessor, ...] = (),
) -> web.Application:
    """The whole sidecar for ``config``: HTTP layer, storage and every domain service."""
    app = create_http_app(
        config,
        storage=storage,
        routes=[
            *logs_routes(config),
            *otlp_routes(config),
            *traces_routes(),
            *errors_routes(),
            *stats_routes(),
            *probes_routes(),
            *breakers_routes(),
            *alerting_routes(),
            *incidents_routes(),
            *audit_routes(),
            *status_routes(config.statuspage.cache_max_age),
        ],
        clock=clock,
        span_processors=span_processors,
    )
    registry, store = app[REGISTRY], app[STORAGE]
    # Clean-up contexts start in order and stop in reverse: storage (added by the HTTP
    # factory) opens first and closes last; the forwarder outlives the writer feeding it.
    sinks = _forwarding(app, config)
    # Error groups load before the writers feed them, and are saved after the writers stop.
    errors = ErrorTrackingService(store, registry)
    app[ERRORS] = errors
    app.cleanup_ctx.append(errors.lifecycle)
    # Breakers are built before the writers and probes that feed them, and stop after them.
    breakers = BreakerService(
        config.breakers,
        registry,
        store,
        instance=uuid.uuid4().hex[:12],
        shared_storage=config.storage.backend == "postgres",
    )
    app[BREAKERS] = breakers
    app.cleanup_ctx.append(breakers.lifecycle)
    stats = Stats(StatsConfig(max_series=config.stats.max_series))
    app[STATS] = stats
    registry.register(stats.collector())
    ingest = IngestService(
        config,
        store,
        registry,
        redaction_policy(config.redaction),
        sinks=sinks,
        error_sinks=[errors.log_sink],
        span_sinks=[errors.span_sink, breakers.span_sink],
        observe=stats.record_many,  # observations are extracted in the pipeline workers
    )
    app[INGEST] = ingest
    app.cleanup_ctx.append(ingest.lifecycle)
    app[READINESS].append(("ingest", ingest.readiness))
    probes = ProbeService(config.probes, registry, store, config.probing)
    app[PROBES] = probes
    probes.subscribe(breakers.on_probe_transition)
    probes.subscribe_results(breakers.on_probe_result)
    app.cleanup_ctx.append(probes.lifecycle)
    job = _retention(config, store, registry)
    app.cleanup_ctx.append(job.lifecycle)
    alerting, incidents = _alerting(app, config, probes, stats, breakers, ingest, errors)
    _statuspage(app, config, probes, breakers, alerting, incidents)
    return app


def _statuspage(
    app: web.Application,
    config: Config,
    probes: ProbeService,
    breakers: BreakerService,
    alerting: AlertingService,
    incidents: IncidentService,
) -> None:
    """The public page, recomputed on every change of what it shows, and its pushes."""
    page = config.statuspage
    target = None
    if page.statuspage is not None:
        push = page.statuspage
        target = StatuspageTarget(push.api_key.get_secret_value(), push.page_id, dict(push.components), push.base_url)
    webhooks = [WebhookTarget(hook.name, hook.url, hook.secret.get_secret_value()) for hook in page.webhooks]
    pusher = Pusher(target, webhooks, app[REGISTRY]) if target is not None or webhooks else None
    if pusher is not None:
        app.cleanup_ctx.append(pusher.lifecycle)
    status = StatusPageService(
        page, default_components(page, config.probes), probes=probes, breakers=breakers, alerting=alerting,
        incidents=incidents, pusher=pusher, storage=app[STORAGE],
    )  # fmt: skip
    app[STATUSPAGE] = status
    for service in (probes, breakers, alerting, incidents):
        service.subscribe(status.changed)
    app.cleanup_ctx.append(status.lifecycle)


def _alerting(
    app: web.Application,
    config: Config,
    probes: ProbeService,
    stats: Stats,
    breakers: BreakerService,
    ingest: IngestService,
    errors: ErrorTrackingService,
) -> tuple[AlertingService, IncidentService]:
    """Alert rules over every service's signals, and the incidents their alerts open (started last, stopped first)."""
    registry, store = app[REGISTRY], app[STORAGE]
    public = config.alerting.incidents.public_components
    if public is None:
        public = tuple(sorted({probe.component for probe in config.probes if probe.component}))
    incidents = IncidentService(config.alerting.incidents, public, registry, store)
    app[INCIDENTS] = incidents
    app.cleanup_ctx.append(incidents.lifecycle)
    sources = [probe_signals(probes), stats_signals(stats), breaker_signals(breakers), ingest_signals(ingest),
               error_signals(errors)]  # fmt: skip
    alerting = AlertingService(config.alerting, registry, store, sources=sources)
    app[ALERTING] = alerting
    alerting.subscribe(incidents.on_alert_change)
    # Signals that change in steps are evaluated at once, not at the next interval.
    probes.subscribe(lambda transition: alerting.trigger())
    breakers.subscribe(lambda event: alerting.trigger())
    app.cleanup_ctx.append(alerting.lifecycle)
    app[RELOAD_HOOKS].append(_reload_hook(alerting, store))
    return alerting, incidents


def _reload_hook(alerting: AlertingService, store: Storage) -> Callable[[], Awaitable[None]]:
    async def reload_rules() -> None:
        count = alerting.reload()
        log.info("alert rules reloaded", rules=count)
        await store.append_audit(AuditEntry(time.time(), "SIGHUP", "config.reload", "alert rules", {"rules": count}))

    return reload_rules


def _forwarding(app: web.Application, config: Config) -> list[Sink]:
    """The forwarder (when configured) as a sink of stored records, started and stopped with the app."""
    forward = config.logs.forward
    if not forward.otlp_endpoint:
        return []
    forwarder = LogForwarder(
        forward.otlp_endpoint,
        headers={name: value.get_secret_value() for name, value in forward.headers.items()},
        batch_size=forward.batch_size,
        max_buffer=forward.max_buffer,
        timeout=forward.timeout,
        registry=app[REGISTRY],
    )
    app.cleanup_ctx.append(_forwarder_lifecycle(forwarder, forward.timeout))
    return [forwarder.offer]


def _retention(config: Config, store: Storage, registry: CollectorRegistry) -> RetentionJob:
    retention = config.logs.retention
    return RetentionJob(
        store,
        {level: getattr(retention, level) for level in LEVELS},
        batch_size=retention.batch_size,
        interval=retention.interval,
        registry=registry,
        span_retention=config.traces.retention,
        audit_retention=config.audit.retention,
    )


def _forwarder_lifecycle(forwarder: LogForwarder, timeout: float) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await forwarder.start()
        yield
        await forwarder.close(timeout)

    return lifecycle
