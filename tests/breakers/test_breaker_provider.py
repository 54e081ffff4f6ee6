"""One provider's breaker: pybreaker fed observed outcomes, moved to half-open by the injected clock."""

from __future__ import annotations

from sidecar.breakers import BreakerState, ErrorRatio, Override, ProviderBreaker
from sidecar.config import BreakerPolicy
from tests.helpers import Clock


def breaker(clock: Clock, **policy: object) -> tuple[ProviderBreaker, list[tuple[BreakerState, BreakerState]]]:
    changes: list[tuple[BreakerState, BreakerState]] = []
    made = ProviderBreaker(
        "anthropic",
        BreakerPolicy(**{"fail_max": 3, "reset_timeout": 30.0, "success_threshold": 2, **policy}),  # type: ignore[arg-type]
        clock=clock,
        on_change=lambda name, previous, current: changes.append((previous, current)),
    )
    return made, changes


def test_consecutive_failures_open_it_and_a_success_resets_the_count() -> None:
    clock = Clock(1000.0)
    cb, changes = breaker(clock)
    for ok in (False, False, True, False, False):
        cb.record(ok, clock.now)
    assert cb.state == "closed" and cb.failures == 2
    cb.record(False, clock.now)
    assert cb.state == "open" and changes == [("closed", "open")]
    assert cb.opened_at == 1000.0 and cb.next_attempt_at == 1030.0


def test_half_open_after_the_reset_timeout_by_the_injected_clock_then_trials_close_it() -> None:
    clock = Clock(1000.0)
    cb, changes = breaker(clock)
    cb.trip()
    cb.record(True, clock.now)  # ignored while open: a refused call
    clock.now += 29.9
    cb.poke()
    assert cb.state == "open"
    clock.now += 0.1
    cb.poke()
    assert cb.state == "half_open"
    cb.record(True, clock.now)
    assert cb.state == "half_open"  # success_threshold is 2
    cb.record(True, clock.now)
    assert cb.state == "closed" and cb.opened_at is None
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_failed_trial_opens_it_again_for_another_reset_timeout() -> None:
    clock = Clock(1000.0)
    cb, _ = breaker(clock)
    cb.trip()
    clock.now += 30
    cb.poke()
    clock.now += 1
    cb.record(False, clock.now)
    assert cb.state == "open" and cb.next_attempt_at == clock.now + 30


def test_an_error_ratio_over_the_window_opens_it() -> None:
    clock = Clock(1000.0)
    cb, _ = breaker(clock, fail_max=1000, error_ratio=0.5, window=60.0, min_calls=10)
    for i in range(9):
        cb.record(i % 2 == 0, clock.now + i)  # 4 of 9 failed, under the minimum of calls
    assert cb.state == "closed"
    cb.record(False, clock.now + 9)  # 5 of 10
    assert cb.state == "open"


def test_the_ratio_window_forgets_old_calls() -> None:
    window = ErrorRatio(0.5, 60.0, 4)
    assert not any(window.add(False, at) for at in (0.0, 1.0, 2.0))
    assert not window.add(True, 100.0)  # the three failures left the window
    assert not window.add(True, 101.0) and not window.add(False, 102.0)
    assert window.add(False, 103.0)  # 2 of 4


def test_an_override_holds_the_state_shown_and_hides_changes_underneath() -> None:
    clock = Clock(1000.0)
    cb, changes = breaker(clock)
    cb.override = Override("closed", "provider confirmed healthy", "oncall", clock.now)
    cb.trip()
    assert cb.state == "closed" and cb.breaker_state == "open" and changes == []
    cb.override = None
    assert cb.state == "open"


def test_restore_takes_a_saved_state() -> None:
    clock = Clock(1000.0)
    cb, _ = breaker(clock)
    cb.restore("open", 990.0)
    assert cb.state == "open" and cb.next_attempt_at == 1020.0
    cb.restore("closed", None)
    assert cb.state == "closed"
