"""Running every probe at its interval: spread first runs, no overlap, hard timeouts, bounded concurrency."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from ._checks_http import HttpOutcome
from ._checks_net import CheckOutcome

log = structlog.get_logger("sidecar.probes")

Check = Callable[[], Awaitable[CheckOutcome | HttpOutcome]]


@dataclass(frozen=True, slots=True)
class ScheduledProbe:
    """A probe as the scheduler sees it: how often, how long at most, and the check itself."""

    name: str
    interval: float  # seconds between starts
    timeout: float  # seconds; less than the interval
    check: Check

    def __post_init__(self) -> None:
        if not 0 < self.timeout < self.interval:
            raise ValueError(f"probe {self.name}: timeout must be positive and less than the interval")


@dataclass(frozen=True, slots=True)
class Run:
    """One execution: which probe, when it was due and started (monotonic seconds), and its outcome."""

    probe: str
    due: float
    started: float
    outcome: CheckOutcome | HttpOutcome

    @property
    def lag(self) -> float:
        """How late the run started."""
        return max(0.0, self.started - self.due)


def first_offset(name: str, interval: float) -> float:
    """Where in its first interval a probe starts: spread by its name, stable across restarts."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * interval


class Scheduler:
    """One task per probe; a probe never overlaps itself, and a hanging target only delays its own probe.

    A run that overruns its interval (it cannot, past its timeout) makes the next
    start late rather than doubled. ``max_concurrency`` bounds checks in flight;
    ``on_run`` hears of every run, in order per probe (a slow listener delays only that probe).
    """

    def __init__(
        self,
        probes: Sequence[ScheduledProbe],
        on_run: Callable[[Run], Awaitable[None]],
        *,
        max_concurrency: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        names = [probe.name for probe in probes]
        if len(set(names)) != len(names):
            raise ValueError("probe names must be unique")
        self._probes = {probe.name: probe for probe in probes}
        self._on_run = on_run
        self._limit = asyncio.Semaphore(max_concurrency)
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._locks = {name: asyncio.Lock() for name in names}

    async def start(self) -> None:
        """Start every probe's loop; first runs spread over one interval."""
        now = self._clock()
        for probe in self._probes.values():
            due = now + first_offset(probe.name, probe.interval)
            self._tasks.append(asyncio.create_task(self._loop(probe, due), name=f"probe:{probe.name}"))

    async def stop(self) -> None:
        """Cancel every loop and wait for them."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:  # all at once: no probe starts another run while the others stop
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run_now(self, name: str) -> Run:
        """Run probe ``name`` at once (waiting for its scheduled run if one is in flight); KeyError if unknown."""
        probe = self._probes[name]
        return await self._execute(probe, self._clock())

    async def _loop(self, probe: ScheduledProbe, due: float) -> None:
        while True:
            await asyncio.sleep(max(0.0, due - self._clock()))
            await self._execute(probe, due)
            due += probe.interval
            now = self._clock()
            if due < now:  # missed starts are skipped, not run back to back
                due += ((now - due) // probe.interval + 1) * probe.interval

    async def _execute(self, probe: ScheduledProbe, due: float) -> Run:
        async with self._locks[probe.name]:
            async with self._limit:
                started = self._clock()
                outcome = await _bounded(probe)
            run = Run(probe.name, due, started, outcome)
            try:
                await self._on_run(run)
            except Exception:  # a listener's bug must not end the probe's loop
                log.error("probe listener raised", probe=probe.name, exc_info=True)
        return run


async def _bounded(probe: ScheduledProbe) -> CheckOutcome | HttpOutcome:
    # Checks keep their own timeouts; this one is the backstop for a check that does not,
    # and a check that raises is one failed run, not the end of its probe's loop.
    started = time.perf_counter()
    try:
        async with asyncio.timeout(probe.timeout + 0.5):
            return await probe.check()
    except TimeoutError:
        return CheckOutcome(False, time.perf_counter() - started, f"timed out after {probe.timeout:g}s", {})
    except Exception as exc:
        log.error("probe check raised", probe=probe.name, error=type(exc).__name__, exc_info=True)
        return CheckOutcome(False, time.perf_counter() - started, f"check failed: {type(exc).__name__}", {})
