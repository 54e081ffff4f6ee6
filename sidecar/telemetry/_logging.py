"""structlog set-up: JSON lines (orjson) for machines, a console renderer for people."""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

import orjson
import structlog

from sidecar.config import LoggingConfig

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(config: LoggingConfig, stream: IO[Any] | None = None) -> None:
    """Route structlog (and stdlib logging) to ``stream`` as JSON lines or console text."""
    stream = sys.stdout if stream is None else stream
    console = config.format == "console" or (config.format == "auto" and _is_tty(stream))
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if console:
        renderer: Any = structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
        factory: Any = structlog.PrintLoggerFactory(stream)
    else:
        # Locals of a failing frame may hold request bodies: never render them.
        transformer = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        shared += [structlog.processors.ExceptionRenderer(transformer)]
        renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        factory = structlog.BytesLoggerFactory(getattr(stream, "buffer", stream))
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[config.level]),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    # Libraries (aiohttp, asyncpg) log through the stdlib: keep their warnings, in our format.
    root = logging.getLogger()
    root.handlers[:] = [_ToStructlog()]
    root.setLevel(max(_LEVELS[config.level], logging.WARNING))


def _is_tty(stream: IO[Any]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _ToStructlog(logging.Handler):
    """Re-emits stdlib records through structlog so every line has one format."""

    def emit(self, record: logging.LogRecord) -> None:
        structlog.get_logger().log(record.levelno, record.getMessage(), logger=record.name)
