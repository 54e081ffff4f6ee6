"""Running an app until SIGTERM/SIGINT, then shutting down gracefully."""

from __future__ import annotations

import asyncio
import gc
import signal
from typing import Any

import structlog
from aiohttp import web

from ._keys import RELOAD_HOOKS

log = structlog.get_logger("sidecar.server")


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    shutdown_timeout: float,
    stop: asyncio.Event | None = None,
    started: asyncio.Future[list[str]] | None = None,
) -> None:
    """Serve ``app`` until ``stop`` is set or a SIGTERM/SIGINT arrives.

    On stop the listener closes first, in-flight requests get up to
    ``shutdown_timeout`` seconds to finish, then the app's clean-up runs
    (buffers flushed, storage closed).
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        # Everything built at start-up lives as long as the process: out of the collector's
        # sight, full collections stay short (they otherwise scan every module and config object).
        gc.freeze()
        addresses = [_url(address) for address in runner.addresses]
        log.info("listening", addresses=addresses)
        if started is not None:
            started.set_result(addresses)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        reloads: set[asyncio.Task[None]] = set()
        loop.add_signal_handler(signal.SIGHUP, lambda: _spawn(reloads, _reload(app)))
        await stop.wait()
        log.info("shutting down", grace_seconds=shutdown_timeout)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
    log.info("stopped")


async def _reload(app: web.Application) -> None:
    log.info("reloading on SIGHUP")
    for hook in app.get(RELOAD_HOOKS, []):
        try:
            await hook()
        except Exception as exc:  # a bad file keeps what runs now
            log.error("reload failed; keeping the current configuration", error=str(exc))


def _spawn(tasks: set[asyncio.Task[None]], work: Any) -> None:
    task = asyncio.get_running_loop().create_task(work)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def _url(address: object) -> str:
    host, port = address[:2]  # type: ignore[index]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
