"""The breaker service: every provider's breaker fed, each group's active provider decided, shared and saved."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pybreaker
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from sidecar._aio import cancel_and_wait
from sidecar._time import rfc3339
from sidecar.config import BreakersConfig
from sidecar.errors import StorageError
from sidecar.probes import Transition
from sidecar.storage import Storage

from ._breaker import ProviderBreaker
from ._classify import Matcher, outcome_from_span
from ._failover import choose, etag
from ._model import STATE_VALUES, BreakerState, BreakerTransition, ForceMode, Outcome, Override, Switch

log = structlog.get_logger("sidecar.breakers")

NAMESPACE = "breakers"  # state store: one document per provider
TICK = 0.2  # seconds between timer rounds: half-open moves, override expiry, shared state
SHARED_POLL = 1.0  # seconds between reads of the state other replicas saved (PostgreSQL sharing)
Event = BreakerTransition | Switch
T = TypeVar("T")


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.state = Gauge(
            "sidecar_circuit_breaker_state", "0 closed, 1 half-open, 2 open.", ["group", "provider"], registry=registry
        )
        self.transitions = Counter(
            "sidecar_circuit_breaker_transitions_total", "Breaker state changes.", ["group", "provider", "to"],
            registry=registry,
        )  # fmt: skip
        self.outcomes = Counter(
            "sidecar_circuit_breaker_outcomes_total", "Outcomes fed to the breakers.", ["provider", "result"],
            registry=registry,
        )  # fmt: skip
        self.active = Gauge(
            "sidecar_failover_active", "1 on each group's active provider.", ["group", "provider"], registry=registry
        )
        self.switches = Counter(
            "sidecar_failover_switches_total", "Changes of a group's active provider.", ["group"], registry=registry
        )


class _Group:
    """A group's decision and the waiters for its next change."""

    def __init__(self, name: str, providers: Sequence[str]) -> None:
        self.name = name
        self.providers = tuple(providers)
        self.active: str | None = None
        self.reason = "starting"
        self.changed_at: float | None = None
        self.etag = ""
        self.changed = asyncio.Event()


class BreakerService:
    """Feeds each provider's breaker, decides each group's active provider, and tells whoever asks.

    Inputs: :meth:`record` (reported outcomes), :meth:`span_sink` (stored client spans),
    :meth:`on_probe_transition` and :meth:`on_probe_result` (probes). Outputs:
    :meth:`view`, :meth:`wait` and :meth:`changes` for the API, and events to
    :meth:`subscribe` listeners. State is saved in the state store (restored at start,
    and polled from other replicas when ``shared`` storage is PostgreSQL); with
    ``shared_state`` the breakers themselves live in Redis (pybreaker's storage, driven
    from one thread so that the synchronous client never blocks the event loop).
    """

    def __init__(
        self,
        config: BreakersConfig,
        registry: CollectorRegistry,
        storage: Storage,
        *,
        clock: Callable[[], float] = time.time,
        instance: str = "local",
        shared_storage: bool = False,
    ) -> None:
        self._config = config
        self._storage = storage
        self._clock = clock
        self._instance = instance
        self._shared_storage = shared_storage and config.shared_state is None
        self._metrics = _Metrics(registry)
        self._groups = {name: _Group(name, providers) for name, providers in config.groups.items()}
        self._group_of = {provider: name for name, providers in config.groups.items() for provider in providers}
        self._matcher = Matcher({p: config.policy(p).match for p in self._group_of if config.policy(p).match})
        self._by_probe: dict[str, list[str]] = {}
        for provider in self._group_of:
            probe = config.policy(provider).probe
            if probe is not None:
                self._by_probe.setdefault(probe, []).append(provider)
        self.breakers: dict[str, ProviderBreaker] = {}
        self._closed_since: dict[str, float | None] = {}
        self._changed_at: dict[str, float] = {}  # provider -> when its shown state last changed
        # Filled by breaker listeners, possibly on the Redis thread; drained on the loop.
        self._changes: deque[tuple[str, BreakerState, BreakerState]] = deque()
        self._unsaved: set[str] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp clean-up context: build and restore the breakers, run the timer, save at the end."""
        if not self._groups:
            yield
            return
        await self.start()
        yield
        await self.stop()

    async def start(self) -> None:
        """Build the breakers (in Redis when shared), restore saved state, start the timer."""
        redis_url = self._config.shared_state
        if redis_url is not None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="breakers")
            await self._run(self._build_shared, redis_url.get_secret_value())
        else:
            self._build(lambda provider: None)
        await self._restore()
        self._settle()
        self._timer = asyncio.create_task(self._timer_loop(), name="breakers")

    async def stop(self) -> None:
        """Stop the timer and the pending feeds, and save the state."""
        await cancel_and_wait(self._timer)
        for task in list(self._tasks):
            await cancel_and_wait(task)
        self._unsaved.update(self.breakers)
        await self._save()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _build(self, storage_of: Callable[[str], pybreaker.CircuitBreakerStorage | None]) -> None:
        start = self._clock()
        for provider in self._group_of:
            self.breakers[provider] = ProviderBreaker(
                provider, self._config.policy(provider), clock=self._clock, on_change=self._record_change,
                storage=storage_of(provider),
            )  # fmt: skip
            self._closed_since[provider] = float("-inf") if self.breakers[provider].state == "closed" else None
            self._changed_at[provider] = start

    def _build_shared(self, url: str) -> None:
        import redis  # only with shared_state: the synchronous client pybreaker's storage takes

        client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._build(
            lambda provider: pybreaker.CircuitRedisStorage(
                pybreaker.STATE_CLOSED, client, namespace=f"sidecar:breaker:{provider}"
            )
        )

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        """Run breaker work: inline, or on the single Redis thread when the state is shared."""
        if self._executor is None:
            return work(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    # --- inputs --------------------------------------------------------------------------------

    def knows(self, provider: str) -> bool:
        """Whether ``provider`` is configured."""
        return provider in self._group_of

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Feed outcomes of configured providers (call :meth:`knows` first) to their breakers."""
        if not outcomes or not self.breakers:
            return
        await self._run(self._feed, outcomes)
        for outcome in outcomes:
            self._metrics.outcomes.labels(outcome.provider, "success" if outcome.ok else "failure").inc()
        self._settle()

    def _feed(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            self.breakers[outcome.provider].record(outcome.ok, outcome.at)

    def span_sink(self, spans: Sequence[Any]) -> None:
        """Writer sink: client spans of configured providers are outcomes."""
        if not self._matcher or not self.breakers:
            return
        outcomes = [o for o in (outcome_from_span(span, self._matcher) for span in spans) if o is not None]
        if outcomes:
            self._spawn(self.record(outcomes))

    def on_probe_transition(self, transition: Transition) -> None:
        """A provider's probe going down opens its breaker at once."""
        providers = self._by_probe.get(transition.probe, ())
        if transition.current == "down" and providers and self.breakers:
            self._spawn(self._trip(providers))

    def on_probe_result(self, probe: str, ok: bool) -> None:
        """A probe success is a trial call for a half-open breaker."""
        providers = [p for p in self._by_probe.get(probe, ()) if p in self.breakers]
        trials = [Outcome(p, True, self._clock()) for p in providers if ok and self.breakers[p].state == "half_open"]
        if trials:
            self._spawn(self.record(trials))

    async def settled(self) -> None:
        """Wait for the feeds started by the synchronous inputs (sinks and probe listeners) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _trip(self, providers: Sequence[str]) -> None:
        await self._run(lambda: [self.breakers[provider].trip() for provider in providers])
        self._settle()

    async def force(
        self, provider: str, mode: ForceMode | None, *, reason: str, actor: str, expires_at: float | None
    ) -> None:
        """Hold ``provider``'s breaker open or closed (``mode`` None: back to automatic)."""
        breaker = self.breakers[provider]
        before = breaker.state
        now = self._clock()
        breaker.override = None if mode is None else Override(mode, reason, actor, now, expires_at)
        if breaker.state != before:
            self._changes.append((provider, before, breaker.state))
        self._unsaved.add(provider)
        log.info("breaker override", provider=provider, mode=mode or "auto", actor=actor)
        self._settle()

    # --- outputs -------------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` with every breaker transition and every switch."""
        self._listeners.append(listener)

    @property
    def groups(self) -> list[str]:
        """The configured groups."""
        return list(self._groups)

    def view(self, group: str) -> dict[str, Any]:
        """What ``GET /api/v1/failover/{group}`` answers (KeyError for an unknown group)."""
        state = self._groups[group]
        return {
            "group": group,
            "active": state.active,
            "reason": state.reason,
            "changed_at": rfc3339(state.changed_at),
            "providers": [self.provider_view(provider) for provider in state.providers],
        }

    def provider_view(self, provider: str) -> dict[str, Any]:
        """One provider's breaker."""
        breaker = self.breakers[provider]
        override = breaker.override
        return {
            "name": provider,
            "group": self._group_of[provider],
            "state": breaker.state,
            "failures": breaker.failures,
            "opened_at": rfc3339(breaker.opened_at),
            "next_attempt_at": rfc3339(breaker.next_attempt_at),
            "override": None
            if override is None
            else {"mode": override.mode, "reason": override.reason, "actor": override.actor,
                  "at": rfc3339(override.at), "expires_at": rfc3339(override.expires_at)},
        }  # fmt: skip

    def etag(self, group: str) -> str:
        """The ETag of ``group``'s current answer."""
        return self._groups[group].etag

    async def wait(self, group: str, seen: str | None, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds for ``group``'s ETag to differ from ``seen``; whether it does."""
        state = self._groups[group]
        if state.etag != seen:
            return True
        try:
            async with asyncio.timeout(timeout):
                while state.etag == seen:
                    await state.changed.wait()
        except TimeoutError:
            return False
        return True

    async def changes(self, group: str) -> AsyncIterator[dict[str, Any]]:
        """``group``'s answer now, then after every change (for Server-Sent Events)."""
        state = self._groups[group]
        seen = None
        while True:
            if state.etag != seen:
                seen = state.etag
                yield self.view(group)
            await state.changed.wait()

    # --- keeping it all consistent -------------------------------------------------------------

    def _record_change(self, provider: str, previous: BreakerState, current: BreakerState) -> None:
        # Called by a breaker, possibly on the Redis thread: only note it; _settle acts on the loop.
        self._changes.append((provider, previous, current))

    def _settle(self) -> None:
        """Act on noted changes: events, metrics, saving; then decide every group again."""
        now = self._clock()
        while self._changes:
            provider, previous, current = self._changes.popleft()
            group = self._group_of[provider]
            self._closed_since[provider] = now if current == "closed" else None
            self._changed_at[provider] = now
            self._unsaved.add(provider)
            self._metrics.transitions.labels(group, provider, current).inc()
            breaker = self.breakers[provider]
            reason = _reason(breaker, current)
            log.info("breaker state changed", group=group, provider=provider, previous=previous, current=current)
            self._emit(BreakerTransition(group, provider, previous, current, now, reason))
        for provider, breaker in self.breakers.items():
            self._metrics.state.labels(self._group_of[provider], provider).set(STATE_VALUES[breaker.state])
        for group in self._groups.values():
            self._decide(group, now)

    def _decide(self, group: _Group, now: float) -> None:
        states = {provider: self.breakers[provider].state for provider in group.providers}
        active, reason = choose(
            group.providers, states, self._closed_since, group.active, now,
            all_open=self._config.all_open, min_dwell=self._config.min_dwell,
        )  # fmt: skip
        if active != group.active or group.changed_at is None:
            previous = group.active
            group.active, group.changed_at = active, now
            for provider in group.providers:
                self._metrics.active.labels(group.name, provider).set(1 if provider == active else 0)
            if previous is not None or group.etag:
                self._metrics.switches.labels(group.name).inc()
                log.info("failover switch", group=group.name, previous=previous, current=active, reason=reason)
                self._emit(Switch(group.name, previous, active, now, reason))
        group.reason = reason
        tag = etag(group.name, active, [(provider, states[provider]) for provider in group.providers])
        if tag != group.etag:
            group.etag = tag
            group.changed.set()
            group.changed = asyncio.Event()

    def _emit(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _timer_loop(self) -> None:
        last_poll = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(TICK)
            try:
                await self.tick()
                if self._shared_storage and loop.time() - last_poll >= SHARED_POLL:
                    last_poll = loop.time()
                    await self._adopt_saved()
                await self._save()
            except Exception:  # a failed round must not end the timer
                log.error("breaker timer round failed", exc_info=True)

    async def tick(self) -> None:
        """Half-open moves due, expired overrides lifted, Redis state adopted; then decide again."""
        await self._run(lambda: [breaker.poke() for breaker in self.breakers.values()])
        now = self._clock()
        for provider, breaker in self.breakers.items():
            override = breaker.override
            if override is not None and override.expires_at is not None and now >= override.expires_at:
                before = breaker.state
                breaker.override = None
                self._unsaved.add(provider)
                if breaker.state != before:
                    self._changes.append((provider, before, breaker.state))
                log.info("breaker override expired", provider=provider)
        self._settle()

    # --- persistence ---------------------------------------------------------------------------

    def _document(self, provider: str) -> dict[str, Any]:
        breaker = self.breakers[provider]
        override = breaker.override
        return {
            "state": breaker.seen_state,
            "opened_at": breaker.opened_at,
            "changed_at": self._changed_at[provider],
            "instance": self._instance,
            "override": None
            if override is None
            else {"mode": override.mode, "reason": override.reason, "actor": override.actor, "at": override.at,
                  "expires_at": override.expires_at},
        }  # fmt: skip

    async def _save(self) -> None:
        if not self._unsaved:
            return
        providers, self._unsaved = self._unsaved, set()
        try:
            await self._storage.put_states(NAMESPACE, {provider: self._document(provider) for provider in providers})
        except StorageError as exc:
            self._unsaved |= providers
            log.warning("breaker state not saved", error=str(exc))

    async def _restore(self) -> None:
        try:
            saved = await self._storage.list_state(NAMESPACE)
        except StorageError as exc:
            log.warning("breaker state not restored", error=str(exc))
            return
        await self._run(self._apply_saved, saved, self._config.shared_state is None)

    async def _adopt_saved(self) -> None:
        """Take the states other replicas saved more recently than this one changed its own."""
        saved = await self._storage.list_state(NAMESPACE)
        newer = {
            provider: document
            for provider, document in saved.items()
            if provider in self.breakers
            and document.get("instance") != self._instance
            and float(document.get("changed_at") or 0) > self._changed_at[provider]
        }
        if newer:
            await self._run(self._apply_saved, newer, True)
            self._settle()
            for provider, document in newer.items():  # the change is theirs: nothing of ours to save
                self._changed_at[provider] = float(document["changed_at"])
            self._unsaved -= set(newer)

    def _apply_saved(self, saved: dict[str, dict[str, Any]], breaker_state: bool) -> None:
        for provider, document in saved.items():
            breaker = self.breakers.get(provider)
            if breaker is None:
                continue
            if breaker_state and document.get("state") in STATE_VALUES:
                breaker.restore(document["state"], document.get("opened_at"))
            override = document.get("override")
            if override and (override.get("expires_at") is None or override["expires_at"] > self._clock()):
                breaker.override = Override(
                    override["mode"], override["reason"], override["actor"], override["at"], override["expires_at"]
                )
            elif not override:
                breaker.override = None


def _reason(breaker: ProviderBreaker, state: BreakerState) -> str:
    """Why a breaker is in ``state``, for the transition event."""
    if breaker.override is not None:
        return f"forced {breaker.override.mode} by {breaker.override.actor}: {breaker.override.reason}"
    policy = breaker.policy
    if state == "open":
        return "failures reached the policy's threshold, or its probe went down"
    if state == "half_open":
        return f"open for {policy.reset_timeout:g}s: trial calls let through"
    return f"{policy.success_threshold} trial calls succeeded"
