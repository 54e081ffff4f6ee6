"""Which provider of a group to use: a pure choice from the breakers' states (no I/O, no clock)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Literal

from ._model import BreakerState

AllOpen = Literal["fail_static", "fail_closed"]


def choose(
    providers: Sequence[str],
    states: Mapping[str, BreakerState],
    closed_since: Mapping[str, float | None],
    current: str | None,
    now: float,
    *,
    all_open: AllOpen,
    min_dwell: float,
) -> tuple[str | None, str]:
    """The active provider of a group, and why.

    The first provider (in priority order) whose breaker is closed; else the first
    half-open one; else, when every breaker is open, the current one
    (``fail_static``) or none (``fail_closed``). Traffic moves back to a preferred
    provider only once its breaker has been closed for ``min_dwell`` seconds
    (``closed_since``), so a provider that recovers and fails again does not flap.
    """
    closed = [name for name in providers if states[name] == "closed"]
    if closed:
        best = closed[0]
        if current in closed and current != best:
            since = closed_since.get(best)
            if since is None or now - since < min_dwell:
                return current, f"{best} closed again; traffic returns after {min_dwell:g}s closed"
        if best == providers[0]:
            return best, f"{best} is closed"
        skipped = ", ".join(f"{name} {states[name].replace('_', '-')}" for name in providers[: providers.index(best)])
        return best, f"{skipped}; {best} is the first closed provider"
    trial = next((name for name in providers if states[name] == "half_open"), None)
    if trial is not None:
        return trial, f"no provider is closed; {trial} is on trial (half-open)"
    if all_open == "fail_static":
        kept = current or providers[0]
        return kept, f"every provider is open; keeping {kept}"
    return None, "every provider is open"


def etag(group: str, active: str | None, states: Sequence[tuple[str, BreakerState]]) -> str:
    """A strong ETag of what a backend acts on: the active provider and every breaker's state."""
    text = "|".join([group, active or "-", *(f"{name}={state}" for name, state in states)])
    return '"' + hashlib.blake2b(text.encode(), digest_size=8).hexdigest() + '"'
