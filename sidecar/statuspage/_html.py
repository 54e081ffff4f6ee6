"""The status page as one self-contained HTML document: no scripts, no external assets (pure).

Semantic sections and lists, a visible focus outline, colours that keep their
contrast in light and dark mode (``prefers-color-scheme``), status conveyed by
text as well as colour, and each uptime cell focusable with its day and
percentage in an accessible name and a tooltip shown on hover and focus.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from ._documents import Page, maintenance_status, public_title, public_updates
from ._model import DESCRIPTIONS, ComponentView, PageState

LABELS = {"operational": "Operational", "degraded_performance": "Degraded performance",
          "partial_outage": "Partial outage", "major_outage": "Major outage",
          "under_maintenance": "Under maintenance"}  # fmt: skip
PAST_DAYS = 14

CSS = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#57606a;--card:#f6f8fa;--line:#d0d7de;
--ok:#1a7f37;--minor:#9a6700;--major:#bc4c00;--critical:#cf222e;--maint:#0969da;--none:#8c959f}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--card:#161b22;--line:#30363d;
--ok:#3fb950;--minor:#d29922;--major:#f0883e;--critical:#f85149;--maint:#4493f8;--none:#484f58}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:56rem;margin:0 auto;padding:1rem}h1{font-size:1.6rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:2rem 0 .75rem}h3{font-size:1rem;margin:0}
a{color:var(--maint)}:focus-visible{outline:3px solid var(--maint);outline-offset:2px}
.banner{padding:1rem 1.25rem;border-radius:.5rem;color:#fff;font-weight:600;font-size:1.1rem}
.banner.none{background:#1a7f37}.banner.minor{background:#9a6700}.banner.major{background:#bc4c00}
.banner.critical{background:#cf222e}.banner.maintenance{background:#0969da}
ul.plain{list-style:none;margin:0;padding:0}
.component{border:1px solid var(--line);border-radius:.5rem;padding:.75rem 1rem;margin:.5rem 0;background:var(--card)}
.row{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap}
.status{font-weight:600}.operational{color:var(--ok)}.degraded_performance{color:var(--minor)}
.partial_outage{color:var(--major)}.major_outage{color:var(--critical)}.under_maintenance{color:var(--maint)}
.bar{display:flex;gap:2px;margin:.6rem 0 .2rem;padding:0;list-style:none}
.bar li{position:relative;flex:1;height:2rem;border-radius:2px;background:var(--none)}
.bar li.u-ok{background:var(--ok)}.bar li.u-minor{background:var(--minor)}.bar li.u-major{background:var(--major)}
.bar li.u-critical{background:var(--critical)}
.bar .tip{display:none;position:absolute;bottom:2.3rem;left:50%;transform:translateX(-50%);white-space:nowrap;
background:var(--fg);color:var(--bg);padding:.2rem .45rem;border-radius:.25rem;font-size:.8rem;z-index:1}
.bar li:hover .tip,.bar li:focus .tip{display:block}
.legend{display:flex;justify-content:space-between;color:var(--muted);font-size:.85rem}
.incident,.maintenance{border-left:4px solid var(--major);padding:.25rem 0 .25rem 1rem;margin:1rem 0}
.maintenance{border-color:var(--maint)}.incident.resolved{border-color:var(--ok)}
.update{margin:.4rem 0}.when{color:var(--muted);font-size:.875rem}
footer{color:var(--muted);font-size:.85rem;margin:2rem 0 1rem}
.short{display:none}
@media (max-width:40rem){.bar li:nth-child(-n+60){display:none}.bar li{height:1.75rem}.long{display:none}
.short{display:inline}}
"""


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%d %b %Y")


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _time(text: str | None) -> str:
    if not text:
        return ""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return f'<time datetime="{escape(text)}">{moment.strftime("%d %b %Y %H:%M UTC")}</time>'


def _uptime_cell(day: int, share: float | None) -> str:
    if share is None:
        label, level = f"{_day(day)}: no data", ""
    else:
        level = (
            "u-ok" if share >= 0.999 else "u-minor" if share >= 0.99 else "u-major" if share >= 0.95 else "u-critical"
        )
        label = f"{_day(day)}: {share * 100:.2f}% uptime"
    cls = f' class="{level}"' if level else ""
    tip = f'<span class="tip" aria-hidden="true">{escape(label)}</span>'
    return f'<li{cls} tabindex="0" aria-label="{escape(label)}">{tip}</li>'


def _component(view: ComponentView) -> str:
    component = view.component
    days = view.daily_uptime
    known = [share for _, share in days if share is not None]
    overall = f"{sum(known) / len(known) * 100:.2f}% uptime" if known else "no data yet"
    bar = "".join(_uptime_cell(day, share) for day, share in days)
    description = f'<p class="when">{escape(component.description)}</p>' if component.description else ""
    return (
        f'<li class="component" id="component-{escape(component.id)}">'
        f'<div class="row"><h3>{escape(component.name)}</h3>'
        f'<span class="status {view.status}">{LABELS[view.status]}</span></div>{description}'
        + (
            f'<ul class="bar" aria-label="{escape(component.name)}: daily uptime over the last {len(days)} days">'
            f'{bar}</ul><div class="legend"><span><span class="long">{len(days)} days ago</span>'
            f'<span class="short">{min(30, len(days))} days ago</span></span><span>{overall}</span>'
            "<span>Today</span></div>"
            if days
            else ""
        )
        + "</li>"
    )


def _incident(incident: dict[str, Any], state: PageState) -> str:
    updates = "".join(
        f'<div class="update"><strong>{escape(u["status"].title())}</strong> - {escape(u["body"])} '
        f'<span class="when">{_time(u["at"])}</span></div>'
        for u in reversed(public_updates(incident, state))
    )
    resolved = " resolved" if incident["status"] == "resolved" else ""
    key = escape(incident["id"])
    return (
        f'<article class="incident{resolved}" id="{key}" aria-labelledby="t-{key}">'
        f'<h3 id="t-{key}">{escape(public_title(incident, state))}</h3>{updates}</article>'
    )


def _maintenance(window: dict[str, Any], state: PageState) -> str:
    status = maintenance_status(window, state.generated_at)
    words = "In progress" if status == "in_progress" else "Scheduled"
    start = datetime.fromtimestamp(window["starts_at"], tz=UTC).isoformat().replace("+00:00", "Z")
    end = datetime.fromtimestamp(window["ends_at"], tz=UTC).isoformat().replace("+00:00", "Z")
    names = {v.component.id: v.component.name for v in state.components}
    affected = ", ".join(names[c] for c in window["components"] if c in names)
    comment = f"<p>{escape(window['comment'])}</p>" if window.get("comment") else ""
    return (
        f'<article class="maintenance" id="mnt_{escape(window["name"])}"><h3>{escape(window["name"])}</h3>'
        f"<p><strong>{words}</strong>: {_time(start)} to {_time(end)}. Affects {escape(affected)}.</p>"
        f"{comment}</article>"
    )


def render_page(page: Page, state: PageState) -> str:
    """The whole page."""
    now = state.generated_at
    active = [i for i in state.incidents if i["status"] != "resolved"]
    past = [
        i
        for i in state.incidents
        if i["status"] == "resolved" and i["resolved_at"] and now - _seconds(i["resolved_at"]) < PAST_DAYS * 86400
    ]
    windows = [w for w in state.maintenances if maintenance_status(w, now) != "completed"]
    sections = [
        f'<div class="banner {state.indicator}" role="status">{DESCRIPTIONS[state.indicator]}</div>',
    ]
    if active:
        sections.append('<section aria-labelledby="h-active"><h2 id="h-active">Active incidents</h2>'
                        + "".join(_incident(i, state) for i in active) + "</section>")  # fmt: skip
    if windows:
        sections.append('<section aria-labelledby="h-maint"><h2 id="h-maint">Maintenance</h2>'
                        + "".join(_maintenance(w, state) for w in windows) + "</section>")  # fmt: skip
    components = "".join(_component(view) for view in state.components)
    sections.append(
        '<section aria-labelledby="h-components"><h2 id="h-components">Components</h2>'
        f'<ul class="plain">{components}</ul></section>'
    )
    sections.append(
        f'<section aria-labelledby="h-past"><h2 id="h-past">Past incidents ({PAST_DAYS} days)</h2>'
        + ("".join(_incident(i, state) for i in past) or "<p>No incidents reported.</p>")
        + "</section>"
    )
    updated = datetime.fromtimestamp(state.updated_at, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(page.name)}</title>"
        f'<link rel="alternate" type="application/atom+xml" title="Incidents" href="/status/feed.atom">'
        f"<style>{CSS}</style></head><body><main><h1>{escape(page.name)}</h1>"
        + "".join(sections)
        + f'<footer>Updated {_time(updated)}. <a href="/status/feed.atom">Incident feed (Atom)</a> · '
        '<a href="/api/v2/summary.json">JSON</a></footer></main></body></html>\n'
    )
