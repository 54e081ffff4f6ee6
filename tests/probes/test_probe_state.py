"""The probe health state machine: thresholds, hysteresis, degradation, offline handling, transitions."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.probes import (
    MAX_ERROR_LENGTH,
    OFFLINE_REASON,
    HealthPolicy,
    ProbeHealth,
    ProbeResult,
    Transition,
    shorten_error,
)

POLICY = HealthPolicy(degraded_after=1.0, failures_to_down=3, successes_to_recover=2)


class Feed:
    """Results with increasing timestamps for one probe."""

    def __init__(self, health: ProbeHealth) -> None:
        self.health = health
        self.at = 1_700_000_000.0

    def ok(self, duration: float = 0.1, *, offline: bool = False) -> Transition | None:
        self.at += 10
        return self.health.observe(ProbeResult(ok=True, duration=duration, at=self.at, error=None), offline=offline)

    def fail(self, error: str | None = "connection refused", *, offline: bool = False) -> Transition | None:
        self.at += 10
        return self.health.observe(ProbeResult(ok=False, duration=5.0, at=self.at, error=error), offline=offline)


@pytest.fixture
def health() -> ProbeHealth:
    return ProbeHealth("db", POLICY)


@pytest.fixture
def feed(health: ProbeHealth) -> Feed:
    return Feed(health)


def healthy_feed(feed: Feed) -> Feed:
    feed.ok()
    assert feed.health.status == "healthy"
    return feed


def down_feed(feed: Feed) -> Feed:
    for _ in range(POLICY.failures_to_down):
        feed.fail()
    assert feed.health.status == "down"
    return feed


# --- the model -------------------------------------------------------------------------------------------------


def test_probe_result_defaults_to_no_phases_and_no_tls_details() -> None:
    result = ProbeResult(ok=True, duration=0.2, at=1.0, error=None)
    assert (result.phases, result.status_code, result.cert_expiry) == ({}, None, None)
    assert ProbeResult(ok=True, duration=0.2, at=1.0, error=None).phases is not result.phases
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = False  # type: ignore[misc]


def test_health_policy_defaults_to_three_failures_and_two_successes() -> None:
    assert HealthPolicy(degraded_after=None) == HealthPolicy(None, 3, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"degraded_after": 0},
        {"degraded_after": -1.0},
        {"degraded_after": math.inf},
        {"degraded_after": math.nan},
        {"degraded_after": None, "failures_to_down": 0},
        {"degraded_after": None, "successes_to_recover": 0},
        {"degraded_after": None, "failures_to_down": 1.5},
        {"degraded_after": None, "successes_to_recover": True},
    ],
)
def test_health_policy_rejects_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        HealthPolicy(**kwargs)  # type: ignore[arg-type]


# --- from unknown ----------------------------------------------------------------------------------------------


def test_a_new_probe_is_unknown_since_never(health: ProbeHealth) -> None:
    assert health.status == "unknown"
    assert health.since is None
    assert health.last_result is None
    assert health.last_error is None
    assert (health.consecutive_successes, health.consecutive_failures) == (0, 0)
    assert health.reason == "no decision yet"


def test_a_first_success_makes_it_healthy_at_once(feed: Feed) -> None:
    transition = feed.ok()
    assert transition == Transition("db", "unknown", "healthy", feed.at, "responding")
    assert feed.health.since == feed.at
    assert feed.health.consecutive_successes == 1


def test_a_slow_first_success_makes_it_degraded(feed: Feed) -> None:
    transition = feed.ok(duration=1.5)
    assert transition is not None
    assert (transition.previous, transition.current) == ("unknown", "degraded")
    assert transition.reason == "slow: took 1.500 s, over 1 s"


def test_failures_while_unknown_count_toward_down(feed: Feed) -> None:
    assert feed.fail() is None
    assert feed.fail() is None
    assert feed.health.status == "unknown"
    transition = feed.fail()
    assert transition == Transition("db", "unknown", "down", feed.at, "3 consecutive failures: connection refused")


# --- toward down -----------------------------------------------------------------------------------------------


def test_one_lost_packet_changes_only_the_counters(feed: Feed) -> None:
    healthy_feed(feed)
    since = feed.health.since
    assert feed.fail("timeout") is None
    assert feed.health.status == "healthy"
    assert feed.health.since == since
    assert (feed.health.consecutive_successes, feed.health.consecutive_failures) == (0, 1)
    assert feed.health.last_error == "timeout"
    assert feed.ok() is None
    assert (feed.health.consecutive_successes, feed.health.consecutive_failures) == (1, 0)


def test_consecutive_failures_make_a_healthy_probe_down(feed: Feed) -> None:
    healthy_feed(feed)
    assert feed.fail() is None
    assert feed.fail() is None
    transition = feed.fail("503 Service Unavailable")
    assert transition == Transition("db", "healthy", "down", feed.at, "3 consecutive failures: 503 Service Unavailable")
    assert feed.health.since == feed.at


def test_consecutive_failures_make_a_degraded_probe_down(feed: Feed) -> None:
    feed.ok(duration=2.0)
    transitions = [feed.fail() for _ in range(3)]
    assert transitions[:2] == [None, None]
    assert transitions[2] is not None
    assert (transitions[2].previous, transitions[2].current) == ("degraded", "down")


def test_flapping_below_the_failure_threshold_never_goes_down(feed: Feed) -> None:
    healthy_feed(feed)
    for _ in range(20):
        assert feed.fail() is None
        assert feed.fail() is None
        assert feed.ok() is None
    assert feed.health.status == "healthy"


def test_a_single_failure_policy_goes_down_at_once() -> None:
    feed = Feed(ProbeHealth("db", HealthPolicy(degraded_after=None, failures_to_down=1, successes_to_recover=1)))
    feed.ok()
    transition = feed.fail()
    assert transition is not None
    assert transition.current == "down"
    transition = feed.ok()
    assert transition is not None
    assert (transition.previous, transition.current) == ("down", "healthy")


# --- recovery --------------------------------------------------------------------------------------------------


def test_recovery_needs_consecutive_successes(feed: Feed) -> None:
    down_feed(feed)
    assert feed.ok() is None
    assert feed.health.status == "down"
    transition = feed.ok()
    assert transition == Transition("db", "down", "healthy", feed.at, "recovered after 2 consecutive successes")


def test_a_failure_during_recovery_starts_it_over(feed: Feed) -> None:
    down_feed(feed)
    feed.ok()
    assert feed.fail() is None
    assert feed.ok() is None
    assert feed.health.status == "down"
    assert feed.ok() is not None
    assert feed.health.status == "healthy"


def test_flapping_while_down_stays_down(feed: Feed) -> None:
    down_feed(feed)
    since = feed.health.since
    for _ in range(20):
        assert feed.ok() is None
        assert feed.fail() is None
    assert feed.health.status == "down"
    assert feed.health.since == since


def test_a_slow_recovery_lands_on_degraded(feed: Feed) -> None:
    down_feed(feed)
    feed.ok()
    transition = feed.ok(duration=3.0)
    assert transition is not None
    assert (transition.previous, transition.current) == ("down", "degraded")
    assert transition.reason == "recovered after 2 consecutive successes; slow: took 3.000 s, over 1 s"


def test_the_last_error_is_kept_after_recovery(feed: Feed) -> None:
    down_feed(feed)
    feed.ok()
    feed.ok()
    assert feed.health.last_error == "connection refused"
    assert feed.health.last_result is not None
    assert feed.health.last_result.ok


# --- degradation -----------------------------------------------------------------------------------------------


def test_a_slow_success_degrades_and_a_fast_one_restores_at_once(feed: Feed) -> None:
    healthy_feed(feed)
    transition = feed.ok(duration=1.2)
    assert transition is not None
    assert (transition.previous, transition.current) == ("healthy", "degraded")
    assert feed.health.consecutive_successes == 2
    assert feed.ok(duration=1.9) is None
    transition = feed.ok(duration=0.3)
    assert transition == Transition("db", "degraded", "healthy", feed.at, "responding within 1 s again")


def test_a_success_exactly_at_the_threshold_is_healthy(feed: Feed) -> None:
    feed.ok(duration=1.0)
    assert feed.health.status == "healthy"


def test_a_slow_failure_is_a_failure_not_a_degradation(feed: Feed) -> None:
    healthy_feed(feed)
    assert feed.fail() is None
    assert feed.health.status == "healthy"


def test_without_a_threshold_nothing_is_degraded() -> None:
    feed = Feed(ProbeHealth("db", HealthPolicy(degraded_after=None)))
    feed.ok(duration=3600.0)
    assert feed.health.status == "healthy"


# --- offline ---------------------------------------------------------------------------------------------------


def test_an_offline_failure_shows_unknown_without_counting(feed: Feed) -> None:
    healthy_feed(feed)
    feed.fail()
    transition = feed.fail("network unreachable", offline=True)
    assert transition == Transition("db", "healthy", "unknown", feed.at, OFFLINE_REASON)
    assert feed.health.reason == "sidecar offline"
    assert feed.health.since == feed.at
    assert feed.health.consecutive_failures == 1
    assert feed.health.last_error == "network unreachable"


def test_offline_failures_never_make_it_down(feed: Feed) -> None:
    healthy_feed(feed)
    transitions = [feed.fail(offline=True) for _ in range(50)]
    assert [t for t in transitions if t is not None] == [
        Transition("db", "healthy", "unknown", feed.at - 490, OFFLINE_REASON)
    ]
    assert feed.health.status == "unknown"
    assert feed.health.consecutive_failures == 0


def test_the_next_online_success_resumes(feed: Feed) -> None:
    healthy_feed(feed)
    feed.fail(offline=True)
    transition = feed.ok()
    assert transition == Transition("db", "unknown", "healthy", feed.at, "responding")
    assert feed.health.reason == "responding"


def test_the_next_online_failure_resumes_with_the_counters_kept(feed: Feed) -> None:
    healthy_feed(feed)
    feed.fail()
    feed.fail()
    feed.fail(offline=True)
    transition = feed.fail()
    assert transition is not None
    assert (transition.previous, transition.current) == ("unknown", "down")
    assert feed.health.consecutive_failures == 3


def test_a_lost_packet_after_offline_shows_the_status_before(feed: Feed) -> None:
    healthy_feed(feed)
    feed.fail(offline=True)
    transition = feed.fail()
    assert transition is not None
    assert (transition.previous, transition.current) == ("unknown", "healthy")
    assert feed.health.consecutive_failures == 1


def test_a_down_probe_still_needs_to_recover_after_offline(feed: Feed) -> None:
    down_feed(feed)
    feed.fail(offline=True)
    assert feed.health.status == "unknown"
    transition = feed.ok()
    assert transition is not None
    assert (transition.previous, transition.current) == ("unknown", "down")
    assert feed.ok() is not None
    assert feed.health.status == "healthy"


def test_an_offline_success_counts_as_evidence(feed: Feed) -> None:
    down_feed(feed)
    feed.ok(offline=True)
    transition = feed.ok(offline=True)
    assert transition is not None
    assert (transition.previous, transition.current) == ("down", "healthy")


def test_offline_before_any_decision_stays_unknown_without_transitions(feed: Feed) -> None:
    assert feed.fail(offline=True) is None
    assert feed.health.reason == OFFLINE_REASON
    assert feed.fail() is None
    assert feed.health.reason == "no decision yet"
    assert feed.health.since is None


# --- errors ----------------------------------------------------------------------------------------------------


def test_errors_are_shortened_to_one_line_of_at_most_200_characters(feed: Feed) -> None:
    feed.fail("Traceback:\n  File x\n" + "y" * 500)
    error = feed.health.last_error
    assert error is not None
    assert len(error) == MAX_ERROR_LENGTH == 200
    assert error.startswith("Traceback: File x yyy")
    assert error.endswith("…")
    assert "\n" not in error


def test_a_failure_without_an_error_says_so(feed: Feed) -> None:
    feed.fail(None)
    assert feed.health.last_error == "probe failed"
    assert shorten_error("   ") == "probe failed"


def test_short_errors_are_kept_as_they_are() -> None:
    assert shorten_error("x" * 200) == "x" * 200
    assert shorten_error("connection reset by peer") == "connection reset by peer"


def test_the_down_reason_carries_the_shortened_error(feed: Feed) -> None:
    for _ in range(3):
        transition = feed.fail("z" * 1000)
    assert transition is not None
    assert transition.reason == "3 consecutive failures: " + "z" * 199 + "…"


# --- properties ------------------------------------------------------------------------------------------------

steps = st.lists(st.tuples(st.booleans(), st.sampled_from([0.1, 2.0]), st.booleans()), max_size=60)
policies = st.builds(
    HealthPolicy,
    degraded_after=st.just(1.0),
    failures_to_down=st.integers(1, 5),
    successes_to_recover=st.integers(1, 5),
)


@given(policy=policies, sequence=steps)
def test_down_exactly_after_enough_failures_until_enough_successes(
    policy: HealthPolicy, sequence: list[tuple[bool, float, bool]]
) -> None:
    health = ProbeHealth("p", policy)
    counted: list[bool] = []  # online results, and successes whatever the self-check said
    settled_down = False  # whether the counted results so far led to down
    for i, (ok, duration, offline) in enumerate(sequence):
        previous = health.status
        transition = health.observe(ProbeResult(ok, duration, float(i), None if ok else "e"), offline=offline)
        if transition is None:
            assert health.status == previous
        else:
            assert (transition.previous, transition.current, transition.at) == (previous, health.status, float(i))
            assert transition.previous != transition.current
            assert health.since == float(i)
        if offline and not ok:
            assert (health.status, health.reason) == ("unknown", OFFLINE_REASON)
            continue
        counted.append(ok)
        tail = counted[-policy.failures_to_down :]
        trailing_successes = len(counted) - 1 - max((j for j, c in enumerate(counted) if not c), default=-1)
        should_be_down = (len(tail) == policy.failures_to_down and not any(tail)) or (
            settled_down and trailing_successes < policy.successes_to_recover
        )
        assert (health.status == "down") == should_be_down
        if ok and not should_be_down:
            assert health.status == ("degraded" if duration > 1.0 else "healthy")
        settled_down = should_be_down


@given(policy=policies, sequence=steps)
def test_each_status_change_is_returned_exactly_once(
    policy: HealthPolicy, sequence: list[tuple[bool, float, bool]]
) -> None:
    health = ProbeHealth("p", policy)
    shown = [health.status]
    transitions = []
    for i, (ok, duration, offline) in enumerate(sequence):
        transition = health.observe(ProbeResult(ok, duration, float(i), None), offline=offline)
        shown.append(health.status)
        if transition is not None:
            transitions.append(transition)
    changes = [(a, b) for a, b in itertools.pairwise(shown) if a != b]
    assert [(t.previous, t.current) for t in transitions] == changes
