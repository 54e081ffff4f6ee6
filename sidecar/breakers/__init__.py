"""Circuit breakers per provider and failover per group of providers.

    service = BreakerService(config.breakers, registry, storage)
    await service.record([Outcome("anthropic", ok=False, at=time.time(), error_type="timeout")])
    service.view("ai")["active"]  # "openai" once anthropic's breaker is open

Each provider's breaker is a ``pybreaker.CircuitBreaker`` fed outcomes reported by
backends, client spans and probes (see :mod:`._breaker` for how pybreaker is driven);
each group's active provider is the first closed one in priority order (see
:func:`choose`). Transitions and switches are events for alerting and the status page.
"""

from ._breaker import ErrorRatio, ProviderBreaker
from ._classify import Matcher, outcome_from_span, provider_failed
from ._failover import choose, etag
from ._model import STATE_VALUES, BreakerState, BreakerTransition, ForceMode, Outcome, Override, Switch

__all__ = [
    "STATE_VALUES",
    "BreakerState",
    "BreakerTransition",
    "ErrorRatio",
    "ForceMode",
    "Matcher",
    "Outcome",
    "Override",
    "ProviderBreaker",
    "Switch",
    "choose",
    "etag",
    "outcome_from_span",
    "provider_failed",
]
