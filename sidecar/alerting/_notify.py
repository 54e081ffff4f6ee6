"""Notification values and the two senders: apprise URLs and the Alertmanager v2 API.

Apprise URLs carry tokens, so they are only ever shown as their scheme (``slack://…``); Alertmanager base URLs are
shown without user info, query or fragment.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import apprise
from apprise.manager_plugins import NotificationManager
from apprise.result import AppriseResultStatus
from yarl import URL

from sidecar._time import rfc3339

__all__ = [
    "ALERTMANAGER_RESEND_INTERVAL",
    "AlertInstance",
    "Notification",
    "Receiver",
    "TargetResult",
    "alertmanager_payload",
    "notify_type_for",
    "redact_alertmanager_url",
    "redact_apprise_url",
    "render",
    "send_alertmanager",
    "send_apprise",
]

#: Seconds between re-sends of a still-firing alert to Alertmanager. A firing alert is sent with
#: ``endsAt = now + 4 x ALERTMANAGER_RESEND_INTERVAL`` (as Prometheus does with its 1 m resend delay), so
#: Alertmanager resolves it by itself if the sidecar stops re-sending for four intervals.
ALERTMANAGER_RESEND_INTERVAL = 60.0

_SEVERITY_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}
_HIDDEN_LABELS = frozenset({"alertname"})
_DETAIL_LIMIT = 200
_URL_IN_TEXT = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,31})://[^\s'\"<>]+")
_NATIVE_SCHEMES = frozenset({"http", "https"})  # apprise's native webhook URLs (Slack, Discord, ...)


@dataclass(frozen=True, slots=True)
class AlertInstance:
    """One alert as notifications carry it."""

    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    status: Literal["firing", "resolved"]
    starts_at: float
    ends_at: float | None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one receiver about one alert group."""

    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    status: Literal["firing", "resolved"]
    alerts: tuple[AlertInstance, ...]
    created_at: float


@dataclass(frozen=True, slots=True)
class Receiver:
    """Where a receiver's notifications go. ``apprise_urls`` are secrets."""

    name: str
    apprise_urls: tuple[str, ...] = ()
    alertmanager_urls: tuple[str, ...] = ()

    def __repr__(self) -> str:
        apprise_targets = tuple(redact_apprise_url(url) for url in self.apprise_urls)
        alertmanager_targets = tuple(redact_alertmanager_url(url) for url in self.alertmanager_urls)
        return (
            f"Receiver(name={self.name!r}, apprise_urls={apprise_targets!r}, "
            f"alertmanager_urls={alertmanager_targets!r})"
        )


@dataclass(frozen=True, slots=True)
class TargetResult:
    """The outcome of one attempt to one target; ``target`` is redacted."""

    target: str
    ok: bool
    retryable: bool
    detail: str


# -- redaction ---------------------------------------------------------------------------------------------------


def redact_apprise_url(url: str) -> str:
    """``slack://…`` for any apprise URL: the scheme only, never host, path or tokens."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.strip().lower()
    if not sep or not scheme or not all(ch.isalnum() or ch in "+-." for ch in scheme):
        return "invalid://…"
    return f"{scheme}://…"


def redact_alertmanager_url(url: str) -> str:
    """The base URL without user info, query and fragment (``http://alertmanager:9093``)."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return "invalid-url"
    if not parsed.is_absolute():
        return "invalid-url"
    return str(parsed.with_user(None).with_query(None).with_fragment(None)).rstrip("/")


class _RedactUrls(logging.Filter):
    """Rewrites every ``scheme://...`` in a log message to ``scheme://…``.

    Apprise logs some URLs itself (e.g. ``Unparseable URL <url>`` for an unknown scheme), so its logger gets
    this filter.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        redacted = _URL_IN_TEXT.sub(r"\1://…", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _redact_apprise_logs() -> None:
    logger = logging.getLogger("apprise")
    if not any(isinstance(f, _RedactUrls) for f in logger.filters):
        logger.addFilter(_RedactUrls())


_redact_apprise_logs()


# -- rendering ---------------------------------------------------------------------------------------------------


def _severity(alerts: Iterable[AlertInstance]) -> str | None:
    """The most urgent severity among ``alerts`` (P1 before P4), or ``None``."""
    known = [a.labels.get("severity", "") for a in alerts if a.labels.get("severity", "") in _SEVERITY_RANK]
    return min(known, key=_SEVERITY_RANK.__getitem__) if known else None


def _alertname(notification: Notification) -> str:
    name = notification.group_labels.get("alertname")
    if name:
        return name
    names = sorted({a.labels.get("alertname", "") for a in notification.alerts} - {""})
    return ", ".join(names) if names else "alert"


def _format_value(value: float) -> str:
    return f"{value:.6g}"


def render(notification: Notification) -> tuple[str, str]:
    """``(title, body)`` in plain text, e.g. ``[FIRING:2] DependencyDown (api P1)``."""
    firing = [a for a in notification.alerts if a.status == "firing"]
    resolved = [a for a in notification.alerts if a.status == "resolved"]
    shown = firing if notification.status == "firing" and firing else notification.alerts
    context = [v for k, v in sorted(notification.group_labels.items()) if k not in ("alertname", "severity") and v]
    severity = _severity(shown)
    if severity:
        context.append(severity)
    prefix = f"[FIRING:{len(firing)}]" if notification.status == "firing" else "[RESOLVED]"
    title = f"{prefix} {_alertname(notification)}"
    if context:
        title += f" ({' '.join(context)})"

    sections: list[str] = []
    if notification.status == "firing" and resolved:
        sections.append(f"Firing ({len(firing)}):")
        sections.extend(_render_alert(a) for a in firing)
        sections.append(f"Resolved ({len(resolved)}):")
        sections.extend(_render_alert(a) for a in resolved)
    else:
        sections.extend(_render_alert(a) for a in (firing + resolved))
    return title, "\n\n".join(sections)


def _render_alert(alert: AlertInstance) -> str:
    ann = alert.annotations
    name = alert.labels.get("alertname", "alert")
    summary = ann.get("summary", "").strip()
    lines = [f"[{alert.status.upper()}] {name}" + (f": {summary}" if summary else "")]
    description = ann.get("description", "").strip()
    if description:
        lines.append(description)
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in _HIDDEN_LABELS)
    if labels:
        lines.append(f"Labels: {labels}")
    if alert.value is not None:
        lines.append(f"Value: {_format_value(alert.value)}")
    lines.append(f"Started: {rfc3339(alert.starts_at)}")
    if alert.status == "resolved" and alert.ends_at is not None:
        lines.append(f"Resolved: {rfc3339(alert.ends_at)}")
    runbook = ann.get("runbook_url", "").strip()
    if runbook:
        lines.append(f"Runbook: {runbook}")
    return "\n".join(lines)


def notify_type_for(notification: Notification) -> apprise.NotifyType:
    """FAILURE for a firing P1/P2, WARNING for other firing groups, SUCCESS once resolved."""
    if notification.status == "resolved":
        return apprise.NotifyType.SUCCESS
    severity = _severity(a for a in notification.alerts if a.status == "firing")
    if severity in ("P1", "P2"):
        return apprise.NotifyType.FAILURE
    return apprise.NotifyType.WARNING


# -- apprise -----------------------------------------------------------------------------------------------------


def _load_apprise(urls: Sequence[str]) -> list[apprise.Apprise | None]:
    """One Apprise object per URL (``None`` for a URL apprise cannot load). Runs in a worker thread."""
    plugins = NotificationManager()
    loaded: list[apprise.Apprise | None] = []
    for url in urls:
        scheme = url.partition("://")[0].strip().lower()
        if scheme not in _NATIVE_SCHEMES and scheme not in plugins:
            loaded.append(None)  # apprise would log the whole URL as unparseable
            continue
        apobj = apprise.Apprise()
        loaded.append(apobj if apobj.add(url) and len(apobj) == 1 else None)
    return loaded


async def _notify_one(
    apobj: apprise.Apprise,
    target: str,
    title: str,
    body: str,
    notify_type: apprise.NotifyType,
    timeout: float,  # noqa: ASYNC109 (the per-attempt deadline is the sender's contract)
) -> TargetResult:
    try:
        async with asyncio.timeout(timeout):
            result = await apobj.async_notify(body=body, title=title, notify_type=notify_type, timeout=timeout)
    except TimeoutError:
        return TargetResult(target, ok=False, retryable=True, detail=f"timed out after {timeout:g}s")
    except Exception as exc:  # a plugin bug must not stop delivery to the other targets
        return TargetResult(target, ok=False, retryable=True, detail=f"apprise error: {type(exc).__name__}")
    status = result.status
    if status == AppriseResultStatus.SUCCESS:
        return TargetResult(target, ok=True, retryable=False, detail="delivered")
    if status == AppriseResultStatus.NOMATCH:
        return TargetResult(target, ok=False, retryable=False, detail="apprise: no service to notify")
    if status == AppriseResultStatus.TIMEOUT:
        return TargetResult(target, ok=False, retryable=True, detail=f"timed out after {timeout:g}s")
    return TargetResult(target, ok=False, retryable=True, detail=f"apprise: {status.name.lower()}")


async def send_apprise(
    urls: Sequence[str],
    title: str,
    body: str,
    *,
    timeout: float,  # noqa: ASYNC109 (the per-attempt deadline is the sender's contract)
    notify_type: apprise.NotifyType = apprise.NotifyType.INFO,
) -> list[TargetResult]:
    """Notify each URL with its own Apprise object (concurrently), one result per URL in order.

    Apprise's overall result is falsy for PARTIAL and NOMATCH as well as FAILURE, so each URL is notified
    separately and judged by its own ``AppriseResult.status``. An unloadable URL fails permanently; other
    failures and timeouts are retryable (apprise does not say whether a service rejected the message).
    """
    targets = [redact_apprise_url(url) for url in urls]
    if not urls:
        return []
    # Loading apprise's plugins and parsing URLs is synchronous; keep it off the event loop.
    loaded = await asyncio.to_thread(_load_apprise, list(urls))
    results: list[Any] = [None] * len(urls)
    pending: list[tuple[int, asyncio.Future[TargetResult]]] = []
    for index, (apobj, target) in enumerate(zip(loaded, targets, strict=True)):
        if apobj is None:
            scheme = target.removesuffix("…")
            results[index] = TargetResult(target, ok=False, retryable=False, detail=f"invalid apprise URL {scheme}")
        else:
            pending.append(
                (index, asyncio.ensure_future(_notify_one(apobj, target, title, body, notify_type, timeout)))
            )
    if pending:
        done = await asyncio.gather(*(future for _, future in pending))
        for (index, _), outcome in zip(pending, done, strict=True):
            results[index] = outcome
    return results


# -- Alertmanager ------------------------------------------------------------------------------------------------


def alertmanager_payload(
    alerts: Iterable[AlertInstance], *, now: float | None = None, generator_url: str = ""
) -> list[dict[str, Any]]:
    """The ``POST /api/v2/alerts`` body, as Prometheus sends it.

    Resolved alerts carry their ``endsAt``; firing alerts carry ``endsAt = now + 4 x ALERTMANAGER_RESEND_INTERVAL``
    so that Alertmanager resolves them itself when re-sends stop.
    """
    now = time.time() if now is None else now
    payload: list[dict[str, Any]] = []
    for alert in alerts:
        if alert.status == "resolved":
            ends_at = alert.ends_at if alert.ends_at is not None else now
        else:
            ends_at = now + 4 * ALERTMANAGER_RESEND_INTERVAL
        payload.append(
            {
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "startsAt": rfc3339(alert.starts_at),
                "endsAt": rfc3339(ends_at),
                "generatorURL": generator_url,
            }
        )
    return payload


def _describe_error(exc: BaseException) -> str:
    """A short error text without URLs (they may carry credentials)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed: {exc.os_error.strerror or type(exc.os_error).__name__}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


async def send_alertmanager(
    session: aiohttp.ClientSession,
    base_url: str,
    alerts: Sequence[AlertInstance],
    *,
    timeout: float,  # noqa: ASYNC109 (the per-attempt deadline is the sender's contract)
    now: float | None = None,
    generator_url: str = "",
) -> TargetResult:
    """``POST {base_url}/api/v2/alerts``. 2xx delivered; 408, 429, 5xx, connection errors and timeouts are
    retryable; other 4xx answers are permanent."""
    target = redact_alertmanager_url(base_url)
    try:
        url = URL(base_url.rstrip("/") + "/api/v2/alerts")
        if not url.is_absolute():
            raise ValueError("relative URL")
    except (TypeError, ValueError):
        return TargetResult(target, ok=False, retryable=False, detail="invalid Alertmanager URL")
    payload = alertmanager_payload(alerts, now=now, generator_url=generator_url)
    try:
        async with asyncio.timeout(timeout):
            async with session.post(url, json=payload) as response:
                status = response.status
                text = "" if 200 <= status < 300 else (await response.text(errors="replace")).strip()
    except asyncio.CancelledError:
        raise
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return TargetResult(target, ok=False, retryable=True, detail=_describe_error(exc))
    if 200 <= status < 300:
        return TargetResult(target, ok=True, retryable=False, detail=f"HTTP {status}")
    detail = f"HTTP {status}" + (f": {text[:_DETAIL_LIMIT]}" if text else "")
    retryable = status >= 500 or status in (408, 429) or status < 200
    return TargetResult(target, ok=False, retryable=retryable, detail=detail)
