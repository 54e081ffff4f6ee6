"""The status page service: the page state computed when something changes, served from memory, pushed out.

Every public answer (HTML, Atom, each ``/api/v2`` document) is rendered once per
change, with its ETag, so a poll costs a dictionary lookup. Changes (a probe or
breaker moving, an alert, an incident, a maintenance window) wake the service;
it waits ``debounce`` for more, recomputes, and pushes what changed. It also
recomputes every ``refresh_interval`` (maintenance windows start and end by
the clock) and reads the daily uptime bars every minute.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
import structlog

from sidecar._aio import cancel_and_wait
from sidecar.config import ProbeConfig, StatusPageConfig
from sidecar.errors import StorageError
from sidecar.storage import Storage

from ._documents import Page, atom_feed, documents, public_title, public_updates
from ._html import render_page
from ._model import Component, ComponentStatus, ComponentView, Inputs, PageState, component_status, page_indicator
from ._push import ComponentChange, IncidentChange

log = structlog.get_logger("sidecar.statuspage")

DAY = 86400
HISTORY_DAYS = 90
NAMESPACE, INCIDENT_IDS = "statuspage", "incident_ids"  # state store: sidecar -> Statuspage incident ids
UPTIME_EVERY = 60.0  # seconds between reads of the daily uptime bars (hourly counts only)


class Pushes(Protocol):
    """Where changes go (the pusher)."""

    def submit(self, change: Any) -> None: ...

    def history(self, limit: int = 100) -> list[Any]: ...

    def remember(self, known: Mapping[str, str]) -> None: ...

    def incident_ids(self) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class Rendered:
    """One public answer, ready to send."""

    body: bytes
    etag: str
    content_type: str


def default_components(config: StatusPageConfig, probes: Sequence[ProbeConfig]) -> list[Component]:
    """The configured components, or one per probe component; probes default to those naming the component."""
    if config.components is None:
        ids = sorted({probe.component for probe in probes if probe.component})
        return [Component(cid, cid.replace("-", " ").title(),
                          probes=tuple(p.name for p in probes if p.component == cid), position=index + 1)
                for index, cid in enumerate(ids)]  # fmt: skip
    return [
        Component(
            c.id,
            c.name,
            c.description,
            c.probes if c.probes is not None else tuple(p.name for p in probes if p.component == c.id),
            c.breaker_groups,
            index + 1,
        )
        for index, c in enumerate(config.components)
    ]


class StatusPageService:
    """Computes the public page from the probes, breakers, alerts, incidents and maintenance windows."""

    def __init__(
        self,
        config: StatusPageConfig,
        components: Sequence[Component],
        *,
        probes: Any,
        breakers: Any,
        alerting: Any,
        incidents: Any,
        pusher: Pushes | None = None,
        storage: Storage | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self.components = list(components)
        self._probes, self._breakers, self._alerting, self._incidents = probes, breakers, alerting, incidents
        self._pusher = pusher
        self._storage = storage
        self._saved_ids: dict[str, str] = {}
        self._clock = clock
        self._created_at = clock()
        self._page = Page(config.page_id, config.title, config.url or "/status")
        self._cache: dict[str, Rendered] = {}
        self._uptime: dict[str, tuple[tuple[int, float | None], ...]] = {}
        self._uptime_at = float("-inf")
        self._statuses: dict[str, tuple[ComponentStatus, float]] = {}
        self._incident_marks: dict[str, tuple[str, int]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.state: PageState | None = None

    # --- serving -------------------------------------------------------------------------------

    def rendered(self, path: str) -> Rendered | None:
        """The answer for ``path`` (``status``, ``feed.atom``, or an ``/api/v2`` document name)."""
        return self._cache.get(path)

    def pushes(self, limit: int) -> list[Any]:
        """The push log, newest first (empty without push targets)."""
        return [] if self._pusher is None else self._pusher.history(limit)

    def changed(self, *_: object) -> None:
        """Something the page shows may have changed: recompute soon (a listener for every service)."""
        self._wake.set()

    # --- lifecycle -----------------------------------------------------------------------------

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp clean-up context: compute once, then keep the page current."""
        await self._restore_ids()
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="statuspage")
        yield
        await cancel_and_wait(self._task)
        await self._save_ids()

    async def _restore_ids(self) -> None:
        """The Statuspage incident ids learnt before a restart, so open incidents are updated, not re-created."""
        if self._pusher is None or self._storage is None:
            return
        try:
            saved = await self._storage.get_state(NAMESPACE, INCIDENT_IDS)
        except StorageError as exc:
            log.warning("statuspage incident ids not restored", error=str(exc))
            return
        if saved:
            self._saved_ids = dict(saved)
            self._pusher.remember(self._saved_ids)

    async def _save_ids(self) -> None:
        if self._pusher is None or self._storage is None:
            return
        ids = self._pusher.incident_ids()
        if ids == self._saved_ids:
            return
        try:
            await self._storage.put_state(NAMESPACE, INCIDENT_IDS, ids)
            self._saved_ids = ids
        except StorageError as exc:
            log.warning("statuspage incident ids not saved", error=str(exc))

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._config.refresh_interval):
                    await self._wake.wait()
                await asyncio.sleep(self._config.debounce)  # gather a burst of changes into one
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.refresh()
                await self._save_ids()
            except Exception:  # the page keeps its last state
                log.error("status page refresh failed", exc_info=True)

    # --- computing -----------------------------------------------------------------------------

    async def refresh(self) -> PageState:
        """Recompute the page, render every answer, and push what changed."""
        now = self._clock()
        if now - self._uptime_at >= UPTIME_EVERY:
            await self._read_uptime(now)
            self._uptime_at = now
        windows = [
            {"name": w.name, "components": list(w.components), "starts_at": w.starts_at, "ends_at": w.ends_at,
             "comment": w.comment}
            for w in self._alerting.all_windows()
        ]  # fmt: skip
        incidents = [self._incidents.book.as_json(i) for i in self._incidents.book.listing()]
        open_incidents = [i for i in incidents if i["status"] != "resolved"]
        firing = [a for a in self._alerting.alerts() if a.status == "firing" and self._alerting.muted_reason(
            a.fingerprint) is None]  # fmt: skip
        health = self._probes.health
        views = []
        for component in self.components:
            inputs = Inputs(
                probes=tuple(health[name].status for name in component.probes if name in health),
                groups=tuple(self._group(group) for group in component.groups),
                alert_severities=tuple(a.severity for a in firing if a.labels.get("component") == component.id),
                incident_impacts=tuple(i["impact"] for i in open_incidents if component.id in i["components"]),
                in_maintenance=any(w["starts_at"] <= now < w["ends_at"] and component.id in w["components"]
                                   for w in windows),
            )  # fmt: skip
            status = component_status(inputs)
            previous = self._statuses.get(component.id)
            since = previous[1] if previous is not None and previous[0] == status else now
            if previous is not None and previous[0] != status:
                self._push_component(component, status, previous[0], now)
            self._statuses[component.id] = (status, since)
            views.append(ComponentView(component, status, since, self._uptime.get(component.id, ())))
        indicator = page_indicator([v.status for v in views], [i["impact"] for i in open_incidents])
        maintenances = [w for w in windows if w["ends_at"] > now - 14 * DAY]
        moments = [view.updated_at for view in views]
        moments += [_seconds(i["timeline"][-1]["at"]) for i in incidents if i["timeline"]]
        moments += [t for w in maintenances for t in (w["starts_at"], w["ends_at"]) if t <= now]
        updated = max(moments, default=self._created_at)
        state = PageState(now, tuple(views), indicator, tuple(incidents), tuple(maintenances), updated)
        self._render(state)
        self._push_incidents(incidents, state)
        self.state = state
        return state

    def _group(self, group: str) -> tuple[bool, bool]:
        view = self._breakers.view(group)
        providers = view["providers"]
        all_open = bool(providers) and all(p["state"] == "open" for p in providers)
        return all_open, bool(providers) and view["active"] not in (None, providers[0]["name"])

    async def _read_uptime(self, now: float) -> None:
        """Each component's daily uptime over 90 days: its probes' successes over their runs, per UTC day."""
        today = int(now // DAY * DAY)
        days = [today - DAY * back for back in range(HISTORY_DAYS - 1, -1, -1)]
        for component in self.components:
            totals: dict[int, list[int]] = {}
            for name in component.probes:
                try:
                    counts = await self._probes.daily_counts(name, since=days[0], until=now)
                except KeyError:
                    continue
                for day, (successes, total) in counts.items():
                    entry = totals.setdefault(day, [0, 0])
                    entry[0] += successes
                    entry[1] += total
            self._uptime[component.id] = tuple(
                (day, totals[day][0] / totals[day][1] if day in totals and totals[day][1] else None) for day in days
            )

    def _render(self, state: PageState) -> None:
        cache = {f"api/v2/{path}": _rendered(orjson.dumps(doc), "application/json")
                 for path, doc in documents(self._page, state, self._created_at).items()}  # fmt: skip
        cache["status"] = _rendered(render_page(self._page, state).encode(), "text/html; charset=utf-8")
        cache["feed.atom"] = _rendered(atom_feed(self._page, state).encode(), "application/atom+xml")
        self._cache = cache

    # --- pushing -------------------------------------------------------------------------------

    def _push_component(
        self, component: Component, status: ComponentStatus, previous: ComponentStatus, at: float
    ) -> None:
        log.info("component status", component=component.id, status=status, previous=previous)
        if self._pusher is not None:
            self._pusher.submit(ComponentChange(component.id, component.name, status, previous, at))

    def _push_incidents(self, incidents: Sequence[dict[str, Any]], state: PageState) -> None:
        """Push incidents whose status or timeline moved (at start, only remember where each stands)."""
        starting = self.state is None
        for incident in incidents:
            mark = (incident["status"], len(incident["timeline"]))
            if self._incident_marks.get(incident["id"]) == mark:
                continue
            self._incident_marks[incident["id"]] = mark
            if starting or self._pusher is None:
                continue
            updates = public_updates(incident, state)
            self._pusher.submit(IncidentChange(
                incident["id"], public_title(incident, state), incident["status"], incident["impact"],
                tuple(incident["components"]), updates[-1]["body"] if updates else "", state.generated_at,
            ))  # fmt: skip


def _rendered(body: bytes, content_type: str) -> Rendered:
    return Rendered(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"', content_type)


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
