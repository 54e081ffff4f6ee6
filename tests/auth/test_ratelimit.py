"""Token buckets with a controllable clock."""

from __future__ import annotations

from sidecar.auth import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    decisions = [limiter.take("a") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.retry_after_seconds == 1
    assert refused.headers()["Retry-After"] == "1"
    assert refused.headers()["RateLimit-Limit"] == "3"
    clock.now += 0.5  # one token back at 2/s
    assert limiter.take("a").allowed
    assert not limiter.take("a").allowed


def test_keys_are_independent() -> None:
    limiter = RateLimiter(rate=1, burst=1, clock=Clock())
    assert limiter.take("a").allowed
    assert not limiter.take("a").allowed
    assert limiter.take("b").allowed


def test_tracked_keys_are_bounded() -> None:
    limiter = RateLimiter(rate=1, burst=5, max_keys=100, clock=Clock())
    for index in range(10_000):
        limiter.take(f"10.0.{index // 256}.{index % 256}")
    assert len(limiter) == 100


def test_bucket_never_exceeds_its_burst_after_a_long_idle() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=2, clock=clock)
    limiter.take("a")
    clock.now += 3600
    assert [limiter.take("a").allowed for _ in range(3)] == [True, True, False]


def test_allowed_answers_carry_no_retry_after() -> None:
    decision = RateLimiter(rate=1, burst=1, clock=Clock()).take("a")
    assert "Retry-After" not in decision.headers()
