"""Network dependency checks (TCP, optional TLS, Redis) and the runner every check shares.

A check never raises for a target problem: it returns a :class:`CheckOutcome` saying what
failed, how long the whole check took and how long each phase took.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

MAX_ERROR_CHARS = 200


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check: seconds taken overall and per phase, and why it failed."""

    ok: bool
    duration: float
    error: str | None = None
    phases: dict[str, float] = field(default_factory=dict)


class TargetError(Exception):
    """The target answered, but not as a healthy target does; the message is the reported error."""


class Phases:
    """Records how long each named phase of a check took."""

    def __init__(self) -> None:
        self.durations: dict[str, float] = {}

    @contextlib.contextmanager
    def measure(self, name: str) -> Iterator[None]:
        """Time the block as phase ``name``, recorded even when it fails, to show where time went."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.durations[name] = time.perf_counter() - start


CheckBody = Callable[[Phases], Awaitable[None]]


async def run_check(
    body: CheckBody,
    *,
    timeout: float,  # noqa: ASYNC109 (the deadline is the check's contract)
    errors: tuple[type[BaseException], ...],
    secrets: Iterable[str] = (),
) -> CheckOutcome:
    """Run ``body`` within ``timeout`` seconds, turning ``errors`` and the timeout into a failed outcome."""
    phases = Phases()
    scope = asyncio.timeout(timeout)
    start = time.perf_counter()
    error: str | None = None
    try:
        async with scope:
            await body(phases)
    except TimeoutError as exc:
        # An OS-level timeout (ETIMEDOUT) is a TimeoutError too; only ours says "timed out after".
        error = f"timed out after {timeout:g}s" if scope.expired() else describe_error(exc, secrets)
    except errors as exc:
        error = describe_error(exc, secrets)
    return CheckOutcome(ok=error is None, duration=time.perf_counter() - start, error=error, phases=phases.durations)


def describe_error(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """A short reason for ``exc``: type and message, with every secret masked, at most 200 chars."""
    message = str(exc)
    if not isinstance(exc, TargetError):
        message = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, "***")
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 3] + "..."
    return message


# What a misbehaving network target can make the stream calls raise (SSL errors are OSErrors;
# certificate errors are also ValueErrors; an overlong line is a ValueError from readline).
NET_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError, TargetError)


def close_stream(writer: asyncio.StreamWriter, *, failed: bool) -> None:
    # After a failure the peer may be hung: abort instead of waiting on a graceful close.
    if failed:
        writer.transport.abort()
    else:
        writer.close()


async def check_tcp(
    host: str,
    port: int,
    *,
    timeout: float,  # noqa: ASYNC109 (the deadline is the check's contract)
    tls: bool = False,
    server_hostname: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> CheckOutcome:
    """Connect to ``host:port`` and, with ``tls``, complete a verified TLS handshake.

    Phases: ``connect`` and, with ``tls``, ``tls``. The certificate is checked against
    ``server_hostname`` (default ``host``) using ``ssl_context`` (default: system trust store).
    """

    async def body(phases: Phases) -> None:
        with phases.measure("connect"):
            _, writer = await asyncio.open_connection(host, port)
        failed = True
        try:
            if tls:
                context = ssl_context or ssl.create_default_context()
                with phases.measure("tls"):
                    await writer.start_tls(context, server_hostname=server_hostname or host)
            failed = False
        finally:
            close_stream(writer, failed=failed)

    return await run_check(body, timeout=timeout, errors=NET_ERRORS)


def _resp_command(*parts: bytes) -> bytes:
    """Encode a command as a RESP array of bulk strings."""
    encoded = [b"*%d\r\n" % len(parts)]
    for part in parts:
        encoded.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(encoded)


async def _redis_call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *parts: bytes, expect: bytes) -> None:
    """Send one command and require the simple-string reply ``expect``."""
    writer.write(_resp_command(*parts))
    await writer.drain()
    line = await reader.readline()
    reply = line.rstrip(b"\r\n")
    command = parts[0].decode()
    if not line:
        raise TargetError(f"redis closed the connection after {command}")
    if reply.startswith(b"-"):
        raise TargetError(f"redis {command} failed: {reply[1:].decode(errors='replace')}")
    if reply != expect:
        raise TargetError(f"redis {command}: unexpected reply {reply[:40]!r}")


async def check_redis(host: str, port: int, *, timeout: float, password: str | None = None) -> CheckOutcome:  # noqa: ASYNC109 (the deadline is the check's contract)
    """Connect to Redis, ``AUTH`` when a password is given, then require ``PING`` to answer ``+PONG``.

    Phases: ``connect`` and ``command`` (AUTH and PING together).
    """

    async def body(phases: Phases) -> None:
        with phases.measure("connect"):
            reader, writer = await asyncio.open_connection(host, port)
        failed = True
        try:
            with phases.measure("command"):
                if password is not None:
                    await _redis_call(reader, writer, b"AUTH", password.encode(), expect=b"+OK")
                await _redis_call(reader, writer, b"PING", expect=b"+PONG")
            failed = False
        finally:
            close_stream(writer, failed=failed)

    secrets = [password] if password else []
    return await run_check(body, timeout=timeout, errors=NET_ERRORS, secrets=secrets)
