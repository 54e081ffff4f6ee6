"""Retry delays shared by the senders (alert notifications, status-page pushes)."""

from __future__ import annotations

import random

BACKOFF_CAP = 300.0  # seconds: no retry waits longer


def backoff_delay(attempts: int, base: float, rng: random.Random, *, cap: float = BACKOFF_CAP) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base x 2^(attempts-1))] seconds."""
    return rng.uniform(0, min(cap, base * (2 ** min(attempts - 1, 30))))
