"""The error tracker: grouping, the status workflow, alerting events, listing and bounds."""

from __future__ import annotations

import uuid

import orjson
import pytest

from sidecar.errors import BadRequest, NotFound
from sidecar.errortracking import (
    HOUR_NS,
    ErrorEvent,
    ErrorGroup,
    ErrorTracker,
    TrackerLimits,
    occurrence_from_log,
)

from . import error_stacks
from .factories import DAY, SECOND, START, Clock, log, occurrence, user


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tracker(clock: Clock) -> ErrorTracker:
    return ErrorTracker(clock=clock)


def only_group(tracker: ErrorTracker) -> ErrorGroup:
    (group,) = tracker.list_groups()
    return group


def test_a_new_fingerprint_is_a_new_group_event_once(tracker: ErrorTracker) -> None:
    events = tracker.record([occurrence(message="order 1 failed"), occurrence(message="order 2 failed")])
    group = only_group(tracker)
    assert events == [
        ErrorEvent(
            "new_group", group.id, "OrderError: order <*> failed", "checkout", "other", "error", int(START * SECOND)
        )
    ]
    assert tracker.record([occurrence()]) == []
    assert group.count == 3


def test_the_same_error_from_different_users_and_numbers_is_one_group(tracker: ErrorTracker) -> None:
    stack = error_stacks.python_traceback()
    records = [
        log(
            error={"type": "CardError", "message": f"charge {n} for {user(n)} declined ({uuid.uuid4()})", "stack": s},
            user=user(n),
        )
        for n, s in [(1, stack), (2, error_stacks.shift_line_numbers(stack)), (3, stack), (3, stack)]
    ]
    tracker.record([found for record in records if (found := occurrence_from_log(record)) is not None])
    group = only_group(tracker)
    assert (group.count, group.users.count, group.users.estimated) == (4, 3, False)
    assert group.title == "CardError: charge <*> for <*> declined (<*>)"
    assert group.culprit == "tests/errortracking/error_stacks.py in _decode_setting"


def test_groups_keep_times_severity_services_and_the_latest_sample(tracker: ErrorTracker) -> None:
    tracker.record(
        [
            occurrence(START - 10, "order 7 failed", level="warn", service="api"),
            occurrence(START - 60, level="fatal", service=None),
            occurrence(START - 30, level="error", service="worker"),
        ]
    )
    group = only_group(tracker)
    assert (group.first_seen, group.last_seen) == (int((START - 60) * SECOND), int((START - 10) * SECOND))
    assert group.severity == "fatal"
    assert group.services == {"api", "worker", "unknown"}
    assert (group.sample.message, group.sample.service) == ("order 7 failed", "api")


def test_a_resolved_group_that_occurs_again_regresses_once(tracker: ErrorTracker, clock: Clock) -> None:
    (created,) = tracker.record([occurrence()])
    clock.now += 60
    tracker.set_status(created.group_id, "resolved")
    clock.now += 60
    events = tracker.record([occurrence(clock.now), occurrence(clock.now)])
    group = tracker.get(created.group_id)
    assert [event.kind for event in events] == ["regression"]
    assert (group.status, group.regressed, group.count) == ("unresolved", True, 3)
    assert tracker.record([occurrence(clock.now)]) == []


def test_a_late_record_from_before_the_resolution_is_no_regression(tracker: ErrorTracker, clock: Clock) -> None:
    (created,) = tracker.record([occurrence()])
    clock.now += 60
    tracker.set_status(created.group_id, "resolved")
    assert tracker.record([occurrence(START + 30)]) == []
    assert tracker.get(created.group_id).status == "resolved"


def test_an_ignored_group_stays_ignored_and_silent(tracker: ErrorTracker, clock: Clock) -> None:
    (created,) = tracker.record([occurrence()])
    tracker.set_status(created.group_id, "ignored")
    clock.now += 60
    assert tracker.record([occurrence(clock.now)]) == []
    group = tracker.get(created.group_id)
    assert (group.status, group.regressed, group.count) == ("ignored", False, 2)


def test_an_admin_decision_clears_regressed(tracker: ErrorTracker, clock: Clock) -> None:
    (created,) = tracker.record([occurrence()])
    tracker.set_status(created.group_id, "resolved", now_ns=int(START * SECOND) + 1)
    clock.now += 1
    tracker.record([occurrence(clock.now)])
    group = tracker.set_status(created.group_id, "ignored")
    assert (group.status, group.regressed, group.status_changed_at) == ("ignored", False, int(clock.now * SECOND))


def test_set_status_rejects_unknown_statuses_and_groups(tracker: ErrorTracker) -> None:
    (created,) = tracker.record([occurrence()])
    with pytest.raises(BadRequest, match="status"):
        tracker.set_status(created.group_id, "closed")
    with pytest.raises(NotFound):
        tracker.set_status("0000000000000000", "resolved")
    with pytest.raises(NotFound):
        tracker.get("0000000000000000")


def test_setting_the_same_status_changes_nothing(tracker: ErrorTracker) -> None:
    (created,) = tracker.record([occurrence()])
    tracker.drain_dirty()
    group = tracker.set_status(created.group_id, "unresolved")
    assert group.status_changed_at is None
    assert tracker.drain_dirty().empty


def populate(tracker: ErrorTracker) -> dict[str, str]:
    """Four groups: a (api, 3 occurrences, oldest), b (api+worker, 1, newest), c (worker, 2, resolved), d (ignored)."""
    occurrences = [
        occurrence(START - 400, "a", service="api"),
        occurrence(START - 390, "a", service="api"),
        occurrence(START - 380, "a", service="api"),
        occurrence(START - 10, "b", service="api"),
        occurrence(START - 5, "b", service="worker"),
        occurrence(START - 200, "c", service="worker"),
        occurrence(START - 100, "c", service="worker"),
        occurrence(START - 50, "d", service="api"),
    ]
    ids = {event.title[-1]: event.group_id for event in tracker.record(occurrences)}
    tracker.set_status(ids["c"], "resolved")
    tracker.set_status(ids["d"], "ignored")
    return ids


def titles(groups: list[ErrorGroup]) -> list[str]:
    return [group.title[-1] for group in groups]


def test_list_filters_and_sorts(tracker: ErrorTracker) -> None:
    populate(tracker)
    assert titles(tracker.list_groups()) == ["b", "d", "c", "a"]
    assert titles(tracker.list_groups(sort="count")) == ["a", "b", "c", "d"]  # b and c: 2 each, b newer
    assert titles(tracker.list_groups(status="unresolved")) == ["b", "a"]
    assert titles(tracker.list_groups(status="resolved")) == ["c"]
    assert titles(tracker.list_groups(service="worker")) == ["b", "c"]
    assert titles(tracker.list_groups(since_ns=int((START - 100) * SECOND))) == ["b", "d", "c"]
    assert titles(tracker.list_groups(service="api", status="unresolved", sort="count", limit=1)) == ["a"]
    assert tracker.list_groups(service="nowhere") == []


@pytest.mark.parametrize(
    ("arguments", "field"), [({"status": "open"}, "status"), ({"sort": "title"}, "sort"), ({"limit": 0}, "limit")]
)
def test_list_rejects_bad_parameters(tracker: ErrorTracker, arguments: dict[str, object], field: str) -> None:
    with pytest.raises(BadRequest, match=field):
        tracker.list_groups(**arguments)  # type: ignore[arg-type]


def test_status_counts(tracker: ErrorTracker) -> None:
    assert tracker.status_counts() == {"unresolved": 0, "resolved": 0, "ignored": 0}
    populate(tracker)
    assert tracker.status_counts() == {"unresolved": 2, "resolved": 1, "ignored": 1}


def test_the_trend_counts_per_hour_for_fourteen_days(tracker: ErrorTracker, clock: Clock) -> None:
    hour = int(START * SECOND) // HOUR_NS * HOUR_NS / SECOND  # an hour start, in seconds
    clock.now = hour + 1800
    tracker.record([occurrence(hour + 1), occurrence(hour + 3599), occurrence(hour - 1)])
    group = only_group(tracker)
    hour_ns = int(hour * SECOND)
    assert group.trend.buckets() == [(hour_ns - HOUR_NS, 1), (hour_ns, 2)]
    clock.now = hour + 13 * DAY
    tracker.record([occurrence(clock.now)])
    assert group.trend.buckets(int(clock.now * SECOND)) == [
        (hour_ns - HOUR_NS, 1),
        (hour_ns, 2),
        (hour_ns + 13 * 24 * HOUR_NS, 1),
    ]
    clock.now = hour + 14 * DAY + 1
    tracker.record([occurrence(clock.now), occurrence(hour + 2)])  # the second is too old for the trend
    now_ns = int(clock.now * SECOND)
    assert group.trend.buckets(now_ns) == [(hour_ns + 13 * 24 * HOUR_NS, 1), (hour_ns + 14 * 24 * HOUR_NS, 1)]
    assert group.count == 6
    assert group.to_json(now_ns + 20 * DAY * SECOND)["trend"] == []


def test_an_occurrence_from_the_future_counts_as_now(tracker: ErrorTracker, clock: Clock) -> None:
    tracker.record([occurrence(clock.now + 7 * DAY)])
    group = only_group(tracker)
    assert group.last_seen == int(clock.now * SECOND)
    assert [count for _, count in group.trend.buckets()] == [1]


def test_beyond_max_groups_resolved_and_ignored_go_first_then_the_least_recently_seen(clock: Clock) -> None:
    tracker = ErrorTracker(TrackerLimits(max_groups=3), clock=clock)
    ids = {e.title[-1]: e.group_id for e in tracker.record([occurrence(START - 30, "a"), occurrence(START - 20, "b")])}
    ids |= {e.title[-1]: e.group_id for e in tracker.record([occurrence(START - 10, "c")])}
    tracker.set_status(ids["c"], "resolved")
    tracker.drain_dirty()
    tracker.record([occurrence(START, "d")])
    assert titles(tracker.list_groups()) == ["d", "b", "a"]  # c went although a is older
    tracker.record([occurrence(START, "e")])
    assert titles(tracker.list_groups()) == ["e", "d", "b"]
    changes = tracker.drain_dirty()
    assert set(changes.deleted) == {ids["a"], ids["c"]}
    assert ids["a"] not in changes.upserted
    (event,) = tracker.record([occurrence(START, "a")])
    assert event.kind == "new_group" and len(tracker) == 3


def test_beyond_max_exact_users_the_count_is_an_estimate(clock: Clock) -> None:
    tracker = ErrorTracker(TrackerLimits(max_exact_users=50), clock=clock)
    tracker.record([occurrence(user=user(n)) for n in range(50)])
    group = only_group(tracker)
    assert (group.users.count, group.users.estimated) == (50, False)
    tracker.record([occurrence(user=user(n)) for n in range(5000)])
    assert group.users.estimated
    assert 5000 * 0.95 < group.users.count < 5000 * 1.05


def test_beyond_max_services_per_group_the_rest_are_other(clock: Clock) -> None:
    tracker = ErrorTracker(TrackerLimits(max_services_per_group=2), clock=clock)
    tracker.record([occurrence(service=f"svc-{n}") for n in range(5)])
    assert only_group(tracker).services == {"svc-0", "svc-1", "other"}


def test_a_group_survives_a_round_trip_through_its_state(tracker: ErrorTracker, clock: Clock) -> None:
    stack = error_stacks.python_traceback()
    tracker.record([occurrence(START - n * 3600, user=user(n), stack=stack) for n in range(30)])
    group = only_group(tracker)
    tracker.set_status(group.id, "resolved")
    state = orjson.loads(orjson.dumps(group.to_state()))
    restored = ErrorGroup.from_state(state, max_exact_users=200)
    assert restored.to_state() == group.to_state()
    now_ns = int(clock.now * SECOND)
    assert restored.to_json(now_ns) == group.to_json(now_ns)


def test_an_estimated_user_count_survives_a_round_trip(clock: Clock) -> None:
    tracker = ErrorTracker(TrackerLimits(max_exact_users=10), clock=clock)
    tracker.record([occurrence(user=user(n)) for n in range(1000)])
    group = only_group(tracker)
    restored = ErrorGroup.from_state(orjson.loads(orjson.dumps(group.to_state())), max_exact_users=10)
    assert (restored.users.count, restored.users.estimated) == (group.users.count, True)


@pytest.mark.parametrize(
    "damage",
    [
        lambda state: state.pop("count"),
        lambda state: state.update(v=99),
        lambda state: state.update(status="closed"),
        lambda state: state.update(users={"exact": ["not hex"]}),
        lambda state: state.update(users={"sketch": "AAAA"}),
        lambda state: state.update(trend={"end": "soon", "hours": []}),
        lambda state: state.update(sample={"ts": 1}),
    ],
)
def test_a_damaged_state_is_a_value_error(tracker: ErrorTracker, damage: object) -> None:
    tracker.record([occurrence()])
    state = only_group(tracker).to_state()
    damage(state)  # type: ignore[operator]
    with pytest.raises(ValueError, match="not an error group state"):
        ErrorGroup.from_state(state, max_exact_users=200)


def test_dirty_groups_drain_once_and_can_be_requeued(tracker: ErrorTracker) -> None:
    ids = populate(tracker)
    changes = tracker.drain_dirty()
    assert set(changes.upserted) == set(ids.values()) and changes.deleted == ()
    assert changes.upserted[ids["c"]]["status"] == "resolved"
    assert tracker.drain_dirty().empty
    tracker.requeue(changes)
    assert set(tracker.drain_dirty().upserted) == set(ids.values())
    tracker.set_status(ids["a"], "ignored")
    assert set(tracker.drain_dirty().upserted) == {ids["a"]}


def test_loaded_groups_carry_on_where_they_left_off(tracker: ErrorTracker, clock: Clock) -> None:
    ids = populate(tracker)
    states = [orjson.loads(orjson.dumps(state)) for state in tracker.drain_dirty().upserted.values()]
    restarted = ErrorTracker(clock=clock)
    restarted.load(ErrorGroup.from_state(state, max_exact_users=200) for state in states)
    assert restarted.drain_dirty().empty
    assert titles(restarted.list_groups()) == titles(tracker.list_groups())
    clock.now += 60
    events = restarted.record([occurrence(clock.now, "c", service="worker"), occurrence(clock.now, "a")])
    assert [(event.kind, event.group_id) for event in events] == [("regression", ids["c"])]


def test_loading_more_than_max_groups_keeps_the_bound(tracker: ErrorTracker, clock: Clock) -> None:
    populate(tracker)
    groups = [ErrorGroup.from_state(state, max_exact_users=200) for state in tracker.drain_dirty().upserted.values()]
    small = ErrorTracker(TrackerLimits(max_groups=2), clock=clock)
    small.load(groups)
    assert titles(small.list_groups()) == ["b", "a"]
    assert len(small.drain_dirty().deleted) == 2


def test_to_json_shows_what_the_api_needs(tracker: ErrorTracker, clock: Clock) -> None:
    tracker.record([occurrence(user=user(1), stack=error_stacks.JAVA)])
    shown = only_group(tracker).to_json(int(clock.now * SECOND))
    assert shown["first_seen"] == "2024-06-10T06:13:20.000000Z"
    assert shown["count"] == 1 and shown["users"] == 1 and shown["users_estimated"] is False
    assert shown["trend"] == [{"hour": "2024-06-10T06:00:00.000000Z", "count": 1}]
    assert shown["sample"]["ts"] == "2024-06-10T06:13:20.000000Z" and shown["sample"]["stack"] == error_stacks.JAVA
    assert shown["culprit"] == "com.acme.orders.OrderService in pay"
    orjson.dumps(shown)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_groups"):
        TrackerLimits(max_groups=0)
