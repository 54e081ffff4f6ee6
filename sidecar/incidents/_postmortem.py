"""A post-incident review draft in Markdown, from an incident's timeline (pure)."""

from __future__ import annotations

from sidecar._time import rfc3339

from ._model import Incident


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes else "",
        f"{secs} s" if secs or not whole else "",
    ]
    return " ".join(part for part in parts if part)


def postmortem(incident: Incident, now: float) -> str:
    """The review draft: summary, impact, duration, detection time, timeline, and headings to fill in."""
    end = incident.resolved_at if incident.resolved_at is not None else now
    ongoing = "" if incident.resolved_at is not None else " (ongoing)"
    alerts = sorted({alert["name"] for alert in incident.alerts.values()})
    lines = [
        f"# Post-incident review: {incident.title}",
        "",
        "## Summary",
        "",
        f"- Incident: `{incident.id}` ({incident.source}), status **{incident.status}**",
        f"- Impact: **{incident.impact}** on {', '.join(incident.components) or 'no component'}",
        f"- Started: {rfc3339(incident.started_at)}; resolved: {rfc3339(incident.resolved_at) or 'not yet'}",
        f"- Duration: {_duration(end - incident.started_at)}{ongoing}",
        f"- Detection time: {_duration(incident.started_at - incident.began_at)}"
        f" (first sign {rfc3339(incident.began_at)})",
        f"- Alerts: {', '.join(alerts) or 'none'}",
        "",
        "## Timeline (UTC)",
        "",
        "| time | event | status | by | message |",
        "|---|---|---|---|---|",
    ]
    for entry in incident.timeline:
        message = entry.message.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {rfc3339(entry.at)} | {entry.kind} | {entry.status or ''} | {entry.actor or ''} | {message} |")
    lines += [
        "",
        "## Impact on users",
        "",
        "_Who was affected, how, and for how long._",
        "",
        "## Root cause",
        "",
        "## What went well",
        "",
        "## What went wrong",
        "",
        "## Action items",
        "",
        "| action | owner | due |",
        "|---|---|---|",
        "",
    ]
    return "\n".join(lines)
