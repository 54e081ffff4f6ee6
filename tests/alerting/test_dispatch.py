"""Alert lifecycle, routing, grouping, repeat, resolve, inhibition, silences and maintenance, clock in hand."""

from __future__ import annotations

from typing import Any

from sidecar.alerting._dispatch import Dispatcher, Inhibition, Route, Silence, Window, muted, parse_label_matcher
from sidecar.alerting._expr import Sample
from sidecar.alerting._rules import parse_rules
from sidecar.alerting._state import AlertTable
from sidecar.config import InhibitRule, RouteConfig

T0 = 1_700_000_000.0
RULES_TEXT = """\
rules:
  - name: DependencyDown
    expr: probe_state == down
    for: 1m
    keep_firing_for: 30s
    labels: {severity: P1}
    annotations: {summary: "{{ $labels.probe }} down"}
  - name: LatencyHigh
    expr: latency_p95 > 0.5
    labels: {severity: P2}
"""
RULES = {rule.name: rule for rule in parse_rules(RULES_TEXT, "t.yaml")[0]}


def down(*probes: str, component: str = "api") -> list[Sample]:
    return [Sample("probe_state", {"probe": p, "component": component, "kind": "http"}, 2.0) for p in probes]


def test_pending_then_firing_after_for_then_resolved_after_keep_firing_for() -> None:
    table = AlertTable()
    rule = RULES["DependencyDown"]
    [change] = table.evaluate(rule, down("db"), T0)
    assert change.previous is None and change.alert.status == "pending"
    assert change.alert.labels["alertname"] == "DependencyDown" and change.alert.annotations["summary"] == "db down"
    assert table.evaluate(rule, down("db"), T0 + 59) == []
    [fired] = table.evaluate(rule, down("db"), T0 + 60)
    assert (fired.previous, fired.alert.status, fired.alert.fired_at) == ("pending", "firing", T0 + 60)
    assert table.evaluate(rule, [], T0 + 70) == []  # keep_firing_for: 30 s from the last sighting
    [resolved] = table.evaluate(rule, [], T0 + 90)
    assert resolved.alert.status == "resolved" and resolved.alert.resolved_at == T0 + 90
    [again] = table.evaluate(rule, down("db"), T0 + 100)  # back: a new alert, pending
    assert again.alert.status == "pending" and again.alert.active_at == T0 + 100
    assert table.prune(T0 + 100, 900) == []


def test_a_pending_alert_that_clears_is_dropped() -> None:
    table = AlertTable()
    table.evaluate(RULES["DependencyDown"], down("db"), T0)
    [dropped] = table.evaluate(RULES["DependencyDown"], [], T0 + 5)
    assert dropped.previous == "pending" and table.get(dropped.alert.fingerprint) is None


def tree(**root: Any) -> Route:
    return Route.build(
        RouteConfig.model_validate(
            {"receiver": "oncall", "group_by": ["alertname"], "group_wait": 10, "group_interval": 60,
             "repeat_interval": 3600, **root}
        )
    )  # fmt: skip


def firing(table: AlertTable, now: float, *probes: str, component: str = "api") -> list[Any]:
    rule = RULES["DependencyDown"]
    table.evaluate(rule, down(*probes, component=component), now - 60)
    table.evaluate(rule, down(*probes, component=component), now)
    return list(table)


def test_routing_takes_the_first_matching_child_unless_it_continues() -> None:
    root = tree(routes=[
        {"matchers": ['severity="P1"'], "receiver": "pager", "continue": True},
        {"matchers": ['severity=~"P1|P2"'], "receiver": "chat"},
        {"matchers": ['severity="P1"'], "receiver": "never"},
    ])  # fmt: skip
    assert [r.receiver for r in root.destinations({"severity": "P1"})] == ["pager", "chat"]
    assert [r.receiver for r in root.destinations({"severity": "P2"})] == ["chat"]
    assert [r.receiver for r in root.destinations({"severity": "P4"})] == ["oncall"]
    assert root.routes[0].group_wait == 10  # inherited


def test_group_wait_then_group_interval_then_repeat_then_resolved() -> None:
    table, dispatcher = AlertTable(), Dispatcher(tree(), send_resolved={"oncall": True})
    alerts = firing(table, T0, "db")
    assert dispatcher.tick(alerts, {}, T0) == []  # group_wait
    [first] = dispatcher.tick(alerts, {}, T0 + 10)
    assert first.status == "firing" and [a.labels["probe"] for a in first.alerts] == ["db"]
    assert first.group_key == 'oncall:{alertname="DependencyDown"}'
    alerts = firing(table, T0 + 20, "db", "cache")  # a second alert joins the group
    assert dispatcher.tick(alerts, {}, T0 + 20) == []  # not before group_interval
    [second] = dispatcher.tick(alerts, {}, T0 + 70)
    assert sorted(a.labels["probe"] for a in second.alerts) == ["cache", "db"]
    assert dispatcher.tick(alerts, {}, T0 + 130) == []  # nothing changed, repeat not due
    [repeat] = dispatcher.tick(alerts, {}, T0 + 70 + 3600)
    assert repeat.status == "firing" and len(repeat.alerts) == 2
    rule = RULES["DependencyDown"]
    table.evaluate(rule, [], T0 + 4000)
    table.evaluate(rule, [], T0 + 4030)
    [resolved] = dispatcher.tick(list(table), {}, T0 + 4030)
    assert resolved.status == "resolved" and {a.status for a in resolved.alerts} == {"resolved"}
    assert all(a.ends_at == T0 + 4000 for a in resolved.alerts) and dispatcher.groups == {}


def test_without_send_resolved_the_group_just_ends() -> None:
    table, dispatcher = AlertTable(), Dispatcher(tree(group_wait=0), send_resolved={"oncall": False})
    assert len(dispatcher.tick(firing(table, T0, "db"), {}, T0)) == 1
    table.evaluate(RULES["DependencyDown"], [], T0 + 100)
    assert dispatcher.tick(list(table), {}, T0 + 100) == [] and dispatcher.groups == {}


def test_an_alert_resolved_before_group_wait_sends_nothing() -> None:
    table, dispatcher = AlertTable(), Dispatcher(tree(), send_resolved={"oncall": True})
    dispatcher.tick(firing(table, T0, "db"), {}, T0)
    table.evaluate(RULES["DependencyDown"], [], T0 + 31)
    assert dispatcher.tick(list(table), {}, T0 + 31) == [] and dispatcher.groups == {}


def test_a_restored_group_does_not_page_again() -> None:
    table, dispatcher = AlertTable(), Dispatcher(tree(group_wait=0), send_resolved={"oncall": True})
    alerts = firing(table, T0, "db")
    assert len(dispatcher.tick(alerts, {}, T0)) == 1
    saved = {key: group.to_state() for key, group in dispatcher.groups.items()}
    restarted = Dispatcher(tree(group_wait=0), send_resolved={"oncall": True})
    restarted.restore(saved)
    assert restarted.tick(alerts, {}, T0 + 65) == []
    assert len(restarted.tick(alerts, {}, T0 + 3600)) == 1  # the repeat is still due on time


def test_muting_by_silence_maintenance_and_inhibition() -> None:
    table = AlertTable()
    firing(table, T0, "db", component="api")
    table.evaluate(RULES["LatencyHigh"], [Sample("latency_p95", {"service": "api", "component": "api"}, 0.9)], T0)
    alerts = list(table)
    latency = next(a for a in alerts if a.rule == "LatencyHigh")
    db = next(a for a in alerts if a.rule == "DependencyDown")
    inhibit = Inhibition.build(InhibitRule(source_matchers=('severity="P1"',), target_matchers=('severity="P2"',),
                                           equal=("component",)))  # fmt: skip
    assert muted(alerts, T0, [], [], [inhibit]) == {latency.fingerprint: "inhibited by DependencyDown"}
    silence = Silence("sil_1", (parse_label_matcher('probe=~"d.*"'),), T0 - 1, T0 + 60, "oncall", "upgrade")
    assert muted(alerts, T0, [silence], [], [])[db.fingerprint] == "silenced by sil_1"
    assert muted(alerts, T0 + 60, [silence], [], []) == {}  # ended
    window = Window("db-upgrade", ("api",), T0, T0 + 3600)
    assert set(muted(alerts, T0 + 5, [], [window], [])) == {db.fingerprint, latency.fingerprint}
    assert muted(alerts, T0 - 5, [], [window], []) == {}  # not yet


def test_muted_alerts_are_left_out_of_notifications() -> None:
    table, dispatcher = AlertTable(), Dispatcher(tree(group_wait=0), send_resolved={"oncall": True})
    alerts = firing(table, T0, "db", "cache")
    cache = next(a for a in alerts if a.labels["probe"] == "cache")
    [notification] = dispatcher.tick(alerts, {cache.fingerprint: "silenced by sil_1"}, T0)
    assert [a.labels["probe"] for a in notification.alerts] == ["db"]
    everything = {a.fingerprint: "maintenance" for a in alerts}
    other = Dispatcher(tree(group_wait=0), send_resolved={"oncall": True})
    assert other.tick(alerts, everything, T0) == []


def test_matchers_print_back_as_they_parse() -> None:
    for text in ('severity="P1"', 'probe!="db"', 'component=~"api|web"', 'x!~"a\\"b"'):
        assert str(parse_label_matcher(text)) == text


def test_the_next_flush_is_the_earliest_group_due() -> None:
    table, dispatcher = AlertTable(), Dispatcher(tree(), send_resolved={"oncall": True})
    assert dispatcher.next_flush() is None
    dispatcher.tick(firing(table, T0, "db"), {}, T0)
    assert dispatcher.next_flush() == T0 + 10  # group_wait
    dispatcher.tick(firing(table, T0 + 10, "db"), {}, T0 + 10)
    assert dispatcher.next_flush() == T0 + 70  # then group_interval
