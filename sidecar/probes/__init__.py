"""Dependency probes: the health state machine of each probe (pure, no I/O).

    health = ProbeHealth("postgres", HealthPolicy(degraded_after=0.5, failures_to_down=3, successes_to_recover=2))
    transition = health.observe(result, offline=self_check_failed)  # a Transition for alerting, or None
    health.status, health.since, health.reason, health.last_error  # for the status page

Statuses are ``unknown`` (before the first decision, or while the sidecar
itself is offline), ``healthy``, ``degraded`` (succeeding, but slower than
``degraded_after``) and ``down`` (``failures_to_down`` consecutive failures,
until ``successes_to_recover`` consecutive successes). See :class:`ProbeHealth`.
"""

from ._model import STATUSES, HealthPolicy, ProbeResult, Status, Transition
from ._state import MAX_ERROR_LENGTH, OFFLINE_REASON, ProbeHealth, shorten_error

__all__ = [
    "MAX_ERROR_LENGTH",
    "OFFLINE_REASON",
    "STATUSES",
    "HealthPolicy",
    "ProbeHealth",
    "ProbeResult",
    "Status",
    "Transition",
    "shorten_error",
]
