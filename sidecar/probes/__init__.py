"""Dependency probes: the checks, the scheduler that runs them, and each probe's health state machine.

    scheduler = Scheduler([ScheduledProbe("redis", 10.0, 2.0, lambda: check_redis(host, port, timeout=2.0))], on_run)
    await scheduler.start()                         # first runs spread over one interval

    health = ProbeHealth("postgres", HealthPolicy(degraded_after=0.5, failures_to_down=3, successes_to_recover=2))
    transition = health.observe(result, offline=self_check_failed)  # a Transition for alerting, or None
    health.status, health.since, health.reason, health.last_error  # for the status page

Statuses are ``unknown`` (before the first decision, or while the sidecar
itself is offline), ``healthy``, ``degraded`` (succeeding, but slower than
``degraded_after``) and ``down`` (``failures_to_down`` consecutive failures,
until ``successes_to_recover`` consecutive successes). See :class:`ProbeHealth`.
"""

from ._checks_http import HttpOutcome, HttpSpec, check_http, trace_config
from ._checks_mail_dns import check_dns, check_smtp
from ._checks_net import CheckOutcome, check_redis, check_tcp
from ._checks_postgres import check_postgres
from ._model import STATUSES, HealthPolicy, ProbeResult, Status, Transition
from ._scheduler import Run, ScheduledProbe, Scheduler, first_offset
from ._state import MAX_ERROR_LENGTH, OFFLINE_REASON, ProbeHealth, shorten_error

__all__ = [
    "MAX_ERROR_LENGTH",
    "OFFLINE_REASON",
    "STATUSES",
    "CheckOutcome",
    "HealthPolicy",
    "HttpOutcome",
    "HttpSpec",
    "ProbeHealth",
    "ProbeResult",
    "Run",
    "ScheduledProbe",
    "Scheduler",
    "Status",
    "Transition",
    "check_dns",
    "check_http",
    "check_postgres",
    "check_redis",
    "check_smtp",
    "check_tcp",
    "first_offset",
    "shorten_error",
    "trace_config",
]
