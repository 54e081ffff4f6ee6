"""Catalog of the signals alert-rule expressions can select.

Every signal is a set of series, each identified by its labels and carrying one float value. A snapshot of the
current values (see :mod:`sidecar.alerting._expr`) maps a signal name to its series.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SIGNALS", "Signal", "catalog_markdown"]


@dataclass(frozen=True, slots=True)
class Signal:
    """One selectable signal: its name, the labels its series carry, what it means and its unit."""

    name: str
    labels: tuple[str, ...]
    description: str
    unit: str


_PROBE = ("probe", "component", "kind")
_HTTP = ("service", "route", "window")
_ERRORS = ("service", "category")

_CATALOG: tuple[Signal, ...] = (
    Signal("probe_state", _PROBE, "probe state: 0 healthy, 1 degraded, 2 down, -1 unknown", "state"),
    Signal("probe_success", _PROBE, "1 if the probe's last run succeeded, else 0", "bool"),
    Signal("probe_response_seconds", _PROBE, "duration of the probe's last run", "seconds"),
    Signal(
        "uptime_ratio",
        ("probe", "component", "window"),
        "share of successful probe runs over the window (24h, 7d, 30d, 90d)",
        "ratio",
    ),
    Signal("cert_expiry_days", ("probe", "component"), "days until the peer certificate expires", "days"),
    Signal("latency_p50", _HTTP, "median request latency over the window (1m, 5m, 1h)", "seconds"),
    Signal("latency_p95", _HTTP, "95th percentile request latency over the window (1m, 5m, 1h)", "seconds"),
    Signal("latency_p99", _HTTP, "99th percentile request latency over the window (1m, 5m, 1h)", "seconds"),
    Signal("error_ratio", _HTTP, "share of requests that failed over the window (1m, 5m, 1h)", "ratio"),
    Signal("request_rate", _HTTP, "requests per second over the window (1m, 5m, 1h)", "requests/s"),
    Signal(
        "dependency_latency_p95",
        ("dependency", "window"),
        "95th percentile latency of calls to the dependency over the window",
        "seconds",
    ),
    Signal(
        "dependency_error_ratio",
        ("dependency", "window"),
        "share of calls to the dependency that failed over the window",
        "ratio",
    ),
    Signal("breaker_state", ("group", "provider"), "circuit breaker state: 0 closed, 1 half-open, 2 open", "state"),
    Signal("failover_all_open", ("group",), "1 when no provider of the group is closed or half-open", "bool"),
    Signal(
        "failover_degraded",
        ("group",),
        "1 when the active provider is not the group's preferred (first) one",
        "bool",
    ),
    Signal("ingest_queue_ratio", (), "how full the ingest pipeline/spool is, 0 to 1", "ratio"),
    Signal("storage_up", (), "1 when storage answers, else 0", "bool"),
    Signal("error_group_new", _ERRORS, "error groups first seen in the last minute", "count"),
    Signal("error_group_regressed", _ERRORS, "resolved error groups seen again in the last minute", "count"),
    Signal("error_rate", _ERRORS, "errors per second over the last minute", "errors/s"),
)

SIGNALS: dict[str, Signal] = {signal.name: signal for signal in _CATALOG}
"""Every signal by name."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def catalog_markdown() -> str:
    """Render :data:`SIGNALS` as a Markdown table (signal | labels | unit | meaning)."""
    lines = ["| Signal | Labels | Unit | Meaning |", "| --- | --- | --- | --- |"]
    for signal in SIGNALS.values():
        labels = ", ".join(f"`{label}`" for label in signal.labels) or "—"
        lines.append(f"| `{signal.name}` | {labels} | {_cell(signal.unit)} | {_cell(signal.description)} |")
    return "\n".join(lines) + "\n"
