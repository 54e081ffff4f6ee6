"""The HTTP(S) check: one request through a caller-owned session, timed per phase by trace hooks.

The caller builds its :class:`aiohttp.ClientSession` with ``trace_configs=[trace_config()]``; each
check passes a fresh dict as ``trace_request_ctx`` and the hooks record timestamps into it.
Phases: ``dns``, ``connect`` (TCP and TLS together: aiohttp's connector does both inside one
``create_connection`` call, so they cannot be told apart), ``ttfb`` (request headers sent to
response headers) and ``transfer`` (reading the body). Over redirects each phase is summed.
A phase that did not happen (an IP literal needs no DNS, a pooled connection no connect) is 0.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
from yarl import URL

from ._checks_net import Phases, TargetError, run_check

MAX_BODY_BYTES = 1 << 20
_EXCERPT_CHARS = 60


class _Present:
    """Sentinel type: ``json_path`` only has to exist."""

    def __repr__(self) -> str:
        return "PRESENT"


PRESENT: Any = _Present()


@dataclass(frozen=True)
class HttpSpec:
    """What to request and what a healthy answer looks like; invalid values raise ``ValueError``."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    follow_redirects: bool = True
    expect_status: tuple[tuple[int, int], ...] = ((200, 399),)
    max_response_time: float | None = None
    body_contains: str | None = None
    json_path: str | None = None
    json_equals: Any = PRESENT  # any JSON value (None is null); PRESENT: the path only has to exist
    header_equals: dict[str, str] = field(default_factory=dict)
    cert_min_days: int | None = None

    def __post_init__(self) -> None:
        if not self.expect_status or any(low > high for low, high in self.expect_status):
            raise ValueError(f"expect_status needs ranges with low <= high: {self.expect_status!r}")
        if self.json_path is not None:
            parse_json_path(self.json_path)


@dataclass(frozen=True)
class HttpOutcome:
    """A :class:`CheckOutcome` plus the final status and the peer certificate's notAfter (Unix seconds)."""

    ok: bool
    duration: float
    error: str | None = None
    phases: dict[str, float] = field(default_factory=dict)
    status_code: int | None = None
    cert_expiry: float | None = None


# --- trace hooks -------------------------------------------------------------------------------


def _timeline(ctx: SimpleNamespace) -> dict[str, float] | None:
    timeline = getattr(ctx, "trace_request_ctx", None)
    return timeline if isinstance(timeline, dict) else None


def _mark(name: str) -> Any:
    """A hook storing the time as ``name``."""

    async def hook(session: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        timeline = _timeline(ctx)
        if timeline is not None:
            timeline[name] = time.perf_counter()

    return hook


def _add_since(phase: str, start: str) -> Any:
    """A hook adding the time since mark ``start`` to ``phase`` (and marking ``phase_at``)."""

    async def hook(session: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        timeline = _timeline(ctx)
        if timeline is not None and start in timeline:
            now = time.perf_counter()
            timeline[phase] = timeline.get(phase, 0.0) + now - timeline.pop(start)
            timeline[f"{phase}_at"] = now

    return hook


def trace_config() -> aiohttp.TraceConfig:
    """The TraceConfig a session used with :func:`check_http` must carry, to time its phases."""
    config = aiohttp.TraceConfig()
    config.on_dns_resolvehost_start.append(_mark("dns_start"))
    config.on_dns_resolvehost_end.append(_add_since("dns", "dns_start"))
    # Connection creation includes DNS resolution; connect subtracts it when reported.
    config.on_connection_create_start.append(_mark("create_start"))
    config.on_connection_create_end.append(_add_since("create", "create_start"))
    config.on_request_headers_sent.append(_mark("sent"))
    config.on_request_redirect.append(_add_since("ttfb", "sent"))
    config.on_request_end.append(_add_since("ttfb", "sent"))
    return config


def _phases(timeline: dict[str, float], body_done: float | None) -> dict[str, float]:
    dns = timeline.get("dns", 0.0)
    phases = {"dns": dns, "connect": max(timeline.get("create", 0.0) - dns, 0.0)}
    if "ttfb" in timeline:
        phases["ttfb"] = timeline["ttfb"]
    if body_done is not None and "ttfb_at" in timeline:
        phases["transfer"] = body_done - timeline["ttfb_at"]
    return phases


# --- JSON path ---------------------------------------------------------------------------------

_PATH_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]")


def parse_json_path(path: str) -> list[str | int]:
    """Split ``$.a.b[0].c`` into ``["a", "b", 0, "c"]``; ``ValueError`` for anything else."""
    if not path.startswith("$"):
        raise ValueError(f"json_path must start with '$': {path!r}")
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _PATH_STEP.match(path, position)
        if match is None:
            raise ValueError(f"json_path {path!r}: cannot parse at {path[position:]!r}")
        key, index = match.groups()
        steps.append(key if key is not None else int(index))
        position = match.end()
    return steps


def _lookup(document: Any, steps: list[str | int]) -> Any:
    """The value at ``steps``; ``LookupError`` when the path does not exist."""
    for step in steps:
        expected_container = list if isinstance(step, int) else dict
        if not isinstance(document, expected_container):
            raise LookupError(step)
        document = document[step]
    return document


def _json_equal(left: Any, right: Any) -> bool:
    """JSON equality: like ``==`` but ``true`` is not ``1``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_json_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    return bool(left == right)


# --- conditions --------------------------------------------------------------------------------


def _excerpt(value: str) -> str:
    return repr(value if len(value) <= _EXCERPT_CHARS else value[: _EXCERPT_CHARS - 3] + "...")


def _status_problem(spec: HttpSpec, status: int) -> str | None:
    if any(low <= status <= high for low, high in spec.expect_status):
        return None
    ranges = ", ".join(f"{low}-{high}" if low != high else str(low) for low, high in spec.expect_status)
    return f"status {status}, expected {ranges}"


def _header_problem(spec: HttpSpec, headers: Any) -> str | None:
    for name, expected in spec.header_equals.items():
        actual = headers.get(name)
        if actual is None:
            return f"header {_excerpt(name)} missing"
        if actual != expected:  # never quote the values: they may be secrets
            return f"header {_excerpt(name)} does not have the expected value"
    return None


def _body_problem(spec: HttpSpec, text: str) -> str | None:
    if spec.body_contains is not None and spec.body_contains not in text:
        return f"body does not contain {_excerpt(spec.body_contains)} (starts {_excerpt(text)})"
    return None


def _json_problem(spec: HttpSpec, text: str) -> str | None:
    if spec.json_path is None:
        return None
    try:
        value = _lookup(json.loads(text), parse_json_path(spec.json_path))
    except ValueError:
        return f"body is not JSON (starts {_excerpt(text)})"
    except LookupError:
        return f"{spec.json_path} not found"
    if spec.json_equals is PRESENT or _json_equal(value, spec.json_equals):
        return None
    return f"{spec.json_path} is {_excerpt(json.dumps(value))}, expected {_excerpt(json.dumps(spec.json_equals))}"


def _time_problem(spec: HttpSpec, elapsed: float) -> str | None:
    if spec.max_response_time is None or elapsed <= spec.max_response_time:
        return None
    return f"response took {elapsed:.3f}s, over max_response_time {spec.max_response_time:g}s"


def _cert_problem(spec: HttpSpec, expiry: float | None) -> str | None:
    if spec.cert_min_days is None or expiry is None:
        return None
    days_left = (expiry - time.time()) / 86400
    if days_left >= spec.cert_min_days:
        return None
    return f"certificate expires in {days_left:.1f} days, fewer than {spec.cert_min_days}"


def _first(problems: Iterable[str | None]) -> str | None:
    return next((problem for problem in problems if problem is not None), None)


# --- the check ---------------------------------------------------------------------------------


def _cert_expiry(response: aiohttp.ClientResponse) -> float | None:
    """The peer certificate's notAfter; None over plain HTTP, unverified or already closed connections."""
    connection = response.connection
    # A body that arrives with the headers releases the connection before we see the response;
    # the response keeps its protocol (private, hence getattr), whose transport stays open if kept alive.
    protocol = connection.protocol if connection is not None else getattr(response, "_protocol", None)
    transport = getattr(protocol, "transport", None)
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    cert = ssl_object.getpeercert() if ssl_object is not None else None
    not_after = cert.get("notAfter") if cert else None
    return float(ssl.cert_time_to_seconds(not_after)) if isinstance(not_after, str) else None


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TargetError(f"body over {MAX_BODY_BYTES} bytes")
    return b"".join(chunks)


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return data.decode("utf-8", errors="replace")


def _secrets(spec: HttpSpec) -> list[str]:
    """Header values and any URL password, masked in errors."""
    try:
        password = URL(spec.url).password
    except ValueError:
        password = None
    return [*spec.headers.values(), *([password] if password else [])]


# What a misbehaving HTTP target can make the request raise (aiohttp's errors; OSErrors from the
# socket; ValueError/UnicodeError from a bad URL or body).
_HTTP_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, OSError, ValueError, TargetError)


async def check_http(
    session: aiohttp.ClientSession,
    spec: HttpSpec,
    *,
    timeout: float,  # noqa: ASYNC109 (the deadline is the check's contract)
) -> HttpOutcome:
    """Request ``spec.url`` and check every condition of ``spec``; the first failing one is the error.

    ``session`` must carry :func:`trace_config` for phase timings (without it, phases are zeros);
    its connector decides TLS trust. ``max_response_time`` covers the request through the last body byte.
    """
    found: dict[str, Any] = {}

    async def body(phases: Phases) -> None:
        timeline: dict[str, float] = {}
        body_done: float | None = None
        start = time.perf_counter()
        try:
            async with session.request(
                spec.method,
                spec.url,
                headers=spec.headers,
                data=spec.body,
                allow_redirects=spec.follow_redirects,
                trace_request_ctx=timeline,
            ) as response:
                found["status_code"] = response.status
                # Before reading the body: once it is read the connection may be closed.
                found["cert_expiry"] = expiry = _cert_expiry(response)
                text = _decode(await _read_body(response), response.charset)
                body_done = time.perf_counter()
                elapsed = body_done - start
        finally:
            phases.durations.update(_phases(timeline, body_done))
        problem = _first(
            (
                _status_problem(spec, response.status),
                _time_problem(spec, elapsed),
                _header_problem(spec, response.headers),
                _body_problem(spec, text),
                _json_problem(spec, text),
                _cert_problem(spec, expiry),
            )
        )
        if problem is not None:
            raise TargetError(problem)

    outcome = await run_check(body, timeout=timeout, errors=_HTTP_ERRORS, secrets=_secrets(spec))
    return HttpOutcome(
        ok=outcome.ok,
        duration=outcome.duration,
        error=outcome.error,
        phases=outcome.phases,
        status_code=found.get("status_code"),
        cert_expiry=found.get("cert_expiry"),
    )
