"""Helpers shared by several test modules and benchmarks: log records and sidecar processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sidecar.logs import LogRecord

ROOT = Path(__file__).resolve().parents[1]


def log_record(**fields: Any) -> LogRecord:
    """A stored-form record with every optional field absent, overridden by ``fields``."""
    record: dict[str, Any] = {
        "ts": 1_700_000_000_000_000_001,
        "observed": 1_700_000_000_500_000_000,
        "severity": 9,
        "level": "info",
        "service": None,
        "message": None,
        "request_id": None,
        "trace_id": None,
        "span_id": None,
        "user": None,
        "action": None,
        "duration_ms": None,
        "error": None,
        "attributes": {},
    }
    record.update(fields)
    return record  # type: ignore[return-value]


@dataclass
class SidecarProcess:
    """A running ``sidecar run``: its process, URL, and the log events it printed so far."""

    process: asyncio.subprocess.Process
    url: str
    events: list[dict[str, Any]] = field(default_factory=list)
    _drain: asyncio.Task[None] | None = None

    async def stop(self, sig: int = signal.SIGTERM, within: float = 20) -> int:
        """Send ``sig`` and wait for the exit code (and every holder of its stdout to be gone)."""
        self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), timeout=within)
        if self._drain is not None:
            await asyncio.wait_for(self._drain, timeout=within)
        return code

    async def _read(self, stream: asyncio.StreamReader) -> None:
        # Always drained: a full pipe would block the sidecar's logging.
        while line := await stream.readline():
            try:
                self.events.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                # Not the sidecar's own log: the interpreter or multiprocessing writing to stderr.
                self.events.append({"event": "non-json output", "text": line.decode(errors="replace")})


async def start_sidecar(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> SidecarProcess:
    """``python -m sidecar run ARGS`` (JSON logs on stdout), returned once it listens."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "run", *args,
        cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SIDECAR_API_TOKENS": "", **(env or {})},
    )  # fmt: skip
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        if not line:
            raise AssertionError("the sidecar exited before listening")
        event = orjson.loads(line)
        if event["event"] == "listening":
            sidecar = SidecarProcess(process, event["addresses"][0], [event])
            sidecar._drain = asyncio.create_task(sidecar._read(process.stdout))
            return sidecar


async def run_sidecar_to_exit(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, bytes]:
    """``python -m sidecar run ARGS`` expected to stop by itself: its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "run", *args,
        cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ, **(env or {})},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, out


class Clock:
    """A clock that moves only when a test sets ``now``: pass it where a service takes ``clock``."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
