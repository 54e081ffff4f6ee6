"""Alert rules over the sidecar's own signals, their lifecycle, routing and notifications.

    rules = load_rules(Path("alerts"))          # file:line of every problem, as a ConfigError
    service = AlertingService(config.alerting, registry, storage, sources=[probe_signals(probes), ...])
    service.subscribe(incidents.on_alert_change)
    service.trigger()                           # evaluate now (a probe went down)

Rules are written in a small expression language over the signals of
:data:`SIGNALS` (see :mod:`._expr`); alerts go pending -> firing -> resolved
(:mod:`._state`); routing, grouping, inhibition, silences and maintenance
follow Alertmanager's model (:mod:`._dispatch`); delivery is apprise and
Alertmanager, asynchronous, with retries and a dead-letter list (:mod:`._delivery`).
"""

from ._expr import ExprError, Sample, parse
from ._rules import Rule, RulesError, load_rules
from ._signals import SIGNALS, Signal, catalog_markdown

__all__ = ["SIGNALS", "ExprError", "Rule", "RulesError", "Sample", "Signal", "catalog_markdown", "load_rules", "parse"]
