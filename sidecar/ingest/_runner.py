"""Running the pipeline inline or in worker processes, with bounded admission."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

from sidecar.errors import RateLimited
from sidecar.redact import RedactionPolicy, Redactor

from ._limits import IngestLimits
from ._pipeline import process_batch

R = TypeVar("R")
# A pipeline function: (body, content type, receive time ns, redactor, limits) -> its picklable result.
Job = Callable[[bytes, str, int, Redactor, IngestLimits], R]

# Each worker process builds its own redactor once (compiled patterns are not picklable).
_worker_state: tuple[Redactor, IngestLimits] | None = None


def _init_worker(policy: RedactionPolicy, limits: IngestLimits) -> None:
    global _worker_state
    _worker_state = (Redactor(policy), limits)
    threading.Thread(target=_exit_with_sidecar, name="sidecar-watch", daemon=True).start()


def _exit_with_sidecar() -> None:
    # A worker would block on its task queue forever if the sidecar were killed (SIGKILL,
    # OOM); the sidecar's end of this pipe closes when it dies, whoever forked the worker.
    sidecar = multiprocessing.parent_process()
    if sidecar is not None:
        sidecar.join()
        os._exit(0)


def _run_in_worker(job: Job[R], body: bytes, content_type: str, received_ns: int) -> R:
    assert _worker_state is not None, "worker not initialised"
    redactor, limits = _worker_state
    return job(body, content_type, received_ns, redactor, limits)


def _ping() -> bool:
    return _worker_state is not None


class PipelineRunner:
    """Runs :func:`process_batch` in ``workers`` processes (0: in one thread of this process).

    At most ``max_pending`` batches are admitted at once; more are refused
    with :class:`RateLimited`, so memory stays bounded under any load.
    """

    def __init__(self, policy: RedactionPolicy, limits: IngestLimits, *, workers: int, max_pending: int) -> None:
        self._policy = policy
        self._limits = limits
        self.workers = workers
        self.max_pending = max_pending
        self.pending = 0
        self._executor: Executor | None = None
        self._inline: Redactor | None = None
        self._warm: asyncio.Future[object] | None = None

    @property
    def ready(self) -> bool:
        """Whether every worker has started and built its redactor."""
        return self._warm is not None and self._warm.done() and self._warm.exception() is None

    async def start(self) -> None:
        """Start the workers; they warm up in the background (``run`` waits for them)."""
        if self.workers == 0:
            # One thread: the event loop stays responsive while a batch runs.
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")
            self._inline = Redactor(self._policy)
            self._warm = asyncio.get_running_loop().create_future()
            self._warm.set_result(None)
            return
        # Spawning blocks until each worker has imported the pipeline: do it in a thread, so
        # the listener opens meanwhile and start-up stays short.
        self._warm = asyncio.ensure_future(asyncio.to_thread(self._start_processes))

    def _start_processes(self) -> None:
        # forkserver: workers start from a clean process, not a copy of this one with its
        # threads and sockets; the server imports the pipeline once so each fork is cheap.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self._policy, self._limits),
        )
        for future in [executor.submit(_ping) for _ in range(self.workers)]:
            future.result()
        self._executor = executor

    async def run(self, body: bytes, content_type: str, job: Job[R] = process_batch) -> R:  # type: ignore[assignment]
        """``job`` over one body; :class:`RateLimited` when too many batches are already in flight.

        ``job`` is a module-level pipeline function (it is sent to the workers by name).
        """
        if self._warm is None:
            raise RuntimeError("the pipeline runner is not started")
        if self.pending >= self.max_pending:
            raise RateLimited("the ingest queue is full; retry shortly", retry_after=1)
        self.pending += 1
        try:
            await asyncio.shield(self._warm)
            assert self._executor is not None
            loop = asyncio.get_running_loop()
            if self._inline is not None:
                return await loop.run_in_executor(
                    self._executor, job, body, content_type, time.time_ns(), self._inline, self._limits
                )
            return await loop.run_in_executor(self._executor, _run_in_worker, job, body, content_type, time.time_ns())
        finally:
            self.pending -= 1

    async def call(self, function: Callable[..., R], *args: Any) -> R:
        """``function(*args)`` on a worker, outside admission (for the writers' own work).

        ``function`` is a module-level function; its arguments and result cross a pipe.
        """
        if self._warm is None:
            raise RuntimeError("the pipeline runner is not started")
        await asyncio.shield(self._warm)
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def close(self) -> None:
        """Stop the workers (batches in flight finish first)."""
        if self._warm is not None:
            await asyncio.wait([self._warm])  # a pool still starting is shut down once started
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
