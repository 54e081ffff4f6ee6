"""Tests for the alert-rule expression language (sidecar.alerting._expr) and the signal catalog."""

from __future__ import annotations

import math
import operator

import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.alerting._expr import (
    CONSTANTS,
    MAX_DEPTH,
    And,
    Compare,
    Expr,
    ExprError,
    Labels,
    Matcher,
    Or,
    Sample,
    Selector,
    Snapshot,
    parse,
)
from sidecar.alerting._signals import SIGNALS, Signal, catalog_markdown

NAN = float("nan")

SNAPSHOT: Snapshot = {
    "probe_state": [
        ({"probe": "database", "component": "db", "kind": "tcp"}, 2.0),
        ({"probe": "stripe", "component": "payment", "kind": "http"}, 0.0),
        ({"probe": "api-health", "component": "api", "kind": "http"}, 2.0),
        ({"probe": "cache", "component": "cache", "kind": "tcp"}, 1.0),
        ({"probe": "dns", "kind": "dns"}, -1.0),
    ],
    "latency_p95": [
        ({"service": "api", "route": "/orders", "window": "5m"}, 0.8),
        ({"service": "api", "route": "/health", "window": "5m"}, 0.01),
        ({"service": "api", "route": "/orders", "window": "1h"}, 0.9),
        ({"service": "web", "route": "/", "window": "5m"}, 2.0),
    ],
    "error_ratio": [
        ({"service": "api", "route": "/orders", "window": "5m"}, 0.002),
        ({"service": "api", "route": "/health", "window": "5m"}, 0.0),
        ({"service": "api", "route": "/slow", "window": "5m"}, NAN),
    ],
    "breaker_state": [
        ({"group": "ai", "provider": "openai"}, 2.0),
        ({"group": "ai", "provider": "anthropic"}, 1.0),
        ({"group": "payment", "provider": "stripe"}, 0.0),
    ],
    "failover_all_open": [({"group": "payment"}, 1.0), ({"group": "ai"}, 0.0)],
    "ingest_queue_ratio": [({}, 0.85)],
    "cert_expiry_days": [
        ({"probe": "stripe", "component": "payment"}, 10.0),
        ({"probe": "api-health", "component": "api"}, 80.0),
        ({"probe": "nocert", "component": "x"}, NAN),
    ],
    "error_group_new": [
        ({"service": "api", "category": "db"}, 3.0),
        ({"service": "api", "category": "http"}, 0.0),
        ({"service": "web", "category": "js"}, 1.0),
    ],
    "uptime_ratio": [
        ({"probe": "stripe", "component": "payment", "window": "24h"}, 0.995),
        ({"probe": "stripe", "component": "payment", "window": "7d"}, 0.9995),
    ],
}


def values(samples: list[Sample]) -> list[tuple[str, dict[str, str], float]]:
    return [(s.signal, dict(s.labels), s.value) for s in samples]


def probes(samples: list[Sample]) -> list[str]:
    return [s.labels.get("probe", s.labels.get("group", "")) for s in samples]


# --- the documented examples ---------------------------------------------------------------------------------------

EXAMPLES = [
    ('probe_state{probe="database"} == down', [("probe_state", {"probe": "database"}, 2.0)]),
    (
        'latency_p95{service="api",window="5m"} > 0.5',
        [("latency_p95", {"service": "api", "route": "/orders", "window": "5m"}, 0.8)],
    ),
    (
        'error_ratio{service="api",window="5m"} > 0.001',
        [("error_ratio", {"service": "api", "route": "/orders", "window": "5m"}, 0.002)],
    ),
    ('breaker_state{group="ai"} == open', [("breaker_state", {"group": "ai", "provider": "openai"}, 2.0)]),
    ('failover_all_open{group="payment"}', [("failover_all_open", {"group": "payment"}, 1.0)]),
    ("ingest_queue_ratio > 0.8", [("ingest_queue_ratio", {}, 0.85)]),
    ('cert_expiry_days{probe=~".*"} < 14', [("cert_expiry_days", {"probe": "stripe"}, 10.0)]),
    (
        'error_group_new{service="api"}',
        [("error_group_new", {"service": "api", "category": "db"}, 3.0)],
    ),
    (
        'uptime_ratio{probe="stripe",window="24h"} < 0.999',
        [("uptime_ratio", {"probe": "stripe", "window": "24h"}, 0.995)],
    ),
    (
        'probe_state{component="api"} == down and probe_state{probe="database"} != down',
        [],
    ),
    (
        '(breaker_state{group="ai"} == open) or failover_all_open{group="ai"}',
        [("breaker_state", {"group": "ai", "provider": "openai"}, 2.0)],
    ),
]


@pytest.mark.parametrize(("text", "expected"), EXAMPLES, ids=[text for text, _ in EXAMPLES])
def test_examples_parse_and_evaluate(text: str, expected: list[tuple[str, dict[str, str], float]]) -> None:
    expr = parse(text)
    result = expr.evaluate(SNAPSHOT)
    assert len(result) == len(expected)
    for sample, (signal, labels, value) in zip(result, expected, strict=True):
        assert sample.signal == signal
        assert sample.value == value
        assert labels.items() <= sample.labels.items()
    assert parse(str(expr)) == expr


def test_example_shapes() -> None:
    assert parse('probe_state{probe="database"} == down') == Compare(
        Selector("probe_state", (Matcher("probe", "=", "database"),)), "==", 2.0, "down"
    )
    assert parse("ingest_queue_ratio > 0.8") == Compare(Selector("ingest_queue_ratio"), ">", 0.8)
    assert parse('failover_all_open{group="payment"}') == Selector(
        "failover_all_open", (Matcher("group", "=", "payment"),)
    )
    expr = parse('probe_state{component="api"} == down and probe_state{probe="database"} != down')
    assert isinstance(expr, And)
    assert isinstance(expr.left, Compare) and isinstance(expr.right, Compare)
    expr = parse('(breaker_state{group="ai"} == open) or failover_all_open{group="ai"}')
    assert isinstance(expr, Or)
    assert expr.signals() == {"breaker_state", "failover_all_open"}


def test_and_example_fires_when_both_sides_hold() -> None:
    snapshot = {**SNAPSHOT, "probe_state": [*SNAPSHOT["probe_state"][2:]]}  # database gone: "!= down" holds for none
    expr = parse('probe_state{component="api"} == down and probe_state{probe="database"} != down')
    assert expr.evaluate(snapshot) == []
    snapshot = {
        "probe_state": [
            ({"probe": "api-health", "component": "api"}, 2.0),
            ({"probe": "database", "component": "db"}, 0.0),
        ]
    }
    assert values(expr.evaluate(snapshot)) == [("probe_state", {"probe": "api-health", "component": "api"}, 2.0)]


# --- selectors and matchers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("probe_state", ["database", "stripe", "api-health", "cache", "dns"]),
        ('probe_state{probe="database"}', ["database"]),
        ('probe_state{probe!="database"}', ["stripe", "api-health", "cache", "dns"]),
        ('probe_state{probe=~"data.*"}', ["database"]),
        ('probe_state{probe=~"data"}', []),
        ('probe_state{probe=~"base"}', []),
        ('probe_state{probe=~"data|database"}', ["database"]),
        ('probe_state{probe!~"data"}', ["database", "stripe", "api-health", "cache", "dns"]),
        ('probe_state{probe!~"d.*"}', ["stripe", "api-health", "cache"]),
        ('probe_state{kind="tcp",component="db"}', ["database"]),
        ('probe_state{kind="tcp",component="db",}', ["database"]),
        ("probe_state{}", ["database", "stripe", "api-health", "cache", "dns"]),
        ('probe_state{component=""}', ["dns"]),
        ('probe_state{component!=""}', ["database", "stripe", "api-health", "cache"]),
        ('probe_state{component=~""}', ["dns"]),
        ('probe_state{component=~"d?b?"}', ["database", "dns"]),
        ('probe_state{component!~".+"}', ["dns"]),
        ('probe_state{probe="api-health",probe=~"api.*"}', ["api-health"]),
    ],
)
def test_matchers(text: str, expected: list[str]) -> None:
    selector = parse(text)
    assert isinstance(selector, Selector)
    assert probes(selector.select(SNAPSHOT)) == expected
    assert probes(selector.evaluate(SNAPSHOT)) == [p for p in expected if p != "stripe"]  # stripe's value is 0


def test_bare_selector_keeps_non_zero_values_only() -> None:
    # probe_state: stripe is 0 (healthy), the others are non-zero, including -1.
    assert probes(parse("probe_state").evaluate(SNAPSHOT)) == ["database", "api-health", "cache", "dns"]
    assert probes(parse("failover_all_open").evaluate(SNAPSHOT)) == ["payment"]
    assert parse("cert_expiry_days").evaluate(SNAPSHOT)[-1].labels["probe"] == "api-health"  # NaN dropped
    assert parse("error_ratio").evaluate(SNAPSHOT) == [
        Sample("error_ratio", {"service": "api", "route": "/orders", "window": "5m"}, 0.002)
    ]


def test_selector_select_returns_every_matching_series() -> None:
    selector = parse("failover_all_open")
    assert isinstance(selector, Selector)
    assert [s.value for s in selector.select(SNAPSHOT)] == [1.0, 0.0]


def test_missing_signal_yields_nothing() -> None:
    assert parse("storage_up").evaluate(SNAPSHOT) == []
    assert parse("storage_up == 0").evaluate({}) == []
    assert parse('storage_up or probe_state{probe="cache"}').evaluate(SNAPSHOT)[0].labels["probe"] == "cache"


def test_regex_uses_re2_and_is_anchored() -> None:
    snapshot = {"probe_state": [({"probe": "a\nb"}, 2.0), ({"probe": "xdatax"}, 2.0)]}
    assert probes(parse('probe_state{probe=~"a.b"}').evaluate(snapshot)) == ["a\nb"]
    assert probes(parse('probe_state{probe=~"data"}').evaluate(snapshot)) == []
    assert probes(parse('probe_state{probe=~".*data.*"}').evaluate(snapshot)) == ["xdatax"]
    assert probes(parse('probe_state{probe=~"(?i)XDATAX"}').evaluate(snapshot)) == ["xdatax"]
    with pytest.raises(ExprError, match="invalid regex"):
        parse('probe_state{probe=~"(?=x)"}')  # lookahead is not RE2


def test_string_escapes() -> None:
    expr = parse(r'probe_state{probe="say \"hi\" \\ bye"}')
    assert isinstance(expr, Selector)
    assert expr.matchers[0].value == 'say "hi" \\ bye'
    assert str(expr) == r'probe_state{probe="say \"hi\" \\ bye"}'
    assert parse(str(expr)) == expr
    regex = parse(r'probe_state{probe=~"a\\.b"}')
    assert isinstance(regex, Selector)
    assert regex.matchers[0].value == r"a\.b"
    assert probes(regex.evaluate({"probe_state": [({"probe": "a.b"}, 1), ({"probe": "axb"}, 1)]})) == ["a.b"]


def test_unicode_label_values() -> None:
    expr = parse('probe_state{probe=~"dé.*"}')
    assert probes(expr.evaluate({"probe_state": [({"probe": "dépôt"}, 2.0), ({"probe": "depot"}, 2.0)]})) == ["dépôt"]


# --- comparisons, numbers, constants -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("14", 14.0),
        ("0", 0.0),
        ("-1", -1.0),
        ("0.5", 0.5),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E3", 1000.0),
        ("2.5e-3", 0.0025),
        ("-1e+2", -100.0),
        ("007", 7.0),
    ],
)
def test_number_formats(literal: str, value: float) -> None:
    expr = parse(f"ingest_queue_ratio > {literal}")
    assert expr == Compare(Selector("ingest_queue_ratio"), ">", value)
    assert parse(str(expr)) == expr


def test_number_without_spaces() -> None:
    assert parse("ingest_queue_ratio>-1") == Compare(Selector("ingest_queue_ratio"), ">", -1.0)


@pytest.mark.parametrize(("name", "value"), sorted(CONSTANTS.items()))
def test_constants(name: str, value: float) -> None:
    expr = parse(f"breaker_state == {name}")
    assert expr == Compare(Selector("breaker_state"), "==", value, name)
    assert str(expr) == f"breaker_state == {name}"
    # constants are plain numbers: usable with any signal
    assert parse(f"latency_p95 >= {name}").evaluate({"latency_p95": [({}, value)]}) == [
        Sample("latency_p95", {}, value)
    ]


def test_constant_values() -> None:
    assert CONSTANTS == {
        "healthy": 0,
        "degraded": 1,
        "down": 2,
        "unknown": -1,
        "closed": 0,
        "half_open": 1,
        "open": 2,
    }
    assert probes(parse("probe_state == unknown").evaluate(SNAPSHOT)) == ["dns"]
    assert probes(parse("probe_state == healthy").evaluate(SNAPSHOT)) == ["stripe"]
    assert probes(parse("probe_state == degraded").evaluate(SNAPSHOT)) == ["cache"]
    assert probes(parse("breaker_state == half_open").evaluate(SNAPSHOT)) == ["ai"]
    assert parse("breaker_state == closed").evaluate(SNAPSHOT)[0].labels["provider"] == "stripe"


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("==", ["cache"]),
        ("!=", ["database", "stripe", "api-health", "dns"]),
        (">", ["database", "api-health"]),
        (">=", ["database", "api-health", "cache"]),
        ("<", ["stripe", "dns"]),
        ("<=", ["stripe", "cache", "dns"]),
    ],
)
def test_comparison_operators(op: str, expected: list[str]) -> None:
    assert probes(parse(f"probe_state {op} 1").evaluate(SNAPSHOT)) == expected


def test_comparison_keeps_zero_values_of_a_selector() -> None:
    assert values(parse('error_group_new{service="api"} == 0').evaluate(SNAPSHOT)) == [
        ("error_group_new", {"service": "api", "category": "http"}, 0.0)
    ]


@pytest.mark.parametrize("op", ["==", "!=", ">", ">=", "<", "<="])
def test_nan_never_satisfies_a_comparison(op: str) -> None:
    snapshot = {"error_ratio": [({"route": "/a"}, NAN)]}
    assert parse(f"error_ratio {op} 0").evaluate(snapshot) == []
    assert parse("error_ratio").evaluate(snapshot) == []


def test_comparison_on_a_parenthesised_expression() -> None:
    expr = parse('(probe_state{kind="tcp"} or probe_state{kind="http"}) >= 1')
    assert probes(expr.evaluate(SNAPSHOT)) == ["database", "cache", "api-health"]
    assert str(expr) == '(probe_state{kind="tcp"} or probe_state{kind="http"}) >= 1'
    # a parenthesised comparison filters the already filtered series
    nested = parse("(probe_state >= 1) < 2")
    assert probes(nested.evaluate(SNAPSHOT)) == ["cache"]
    assert parse(str(nested)) == nested
    # parentheses around a single selector are not kept
    assert parse("(probe_state) == 0") == parse("probe_state == 0")


# --- and / or ----------------------------------------------------------------------------------------------------


def test_and_returns_left_series_when_right_is_non_empty() -> None:
    expr = parse('probe_state == down and breaker_state{group="ai"} == open')
    assert values(expr.evaluate(SNAPSHOT)) == values(parse("probe_state == down").evaluate(SNAPSHOT))
    assert parse('probe_state == down and breaker_state{group="payment"} == open').evaluate(SNAPSHOT) == []
    assert parse('breaker_state{group="payment"} == open and probe_state == down').evaluate(SNAPSHOT) == []


def test_or_adds_right_series_with_new_label_sets() -> None:
    expr = parse('probe_state{probe="database"} == down or probe_state{kind="tcp"}')
    # the database series (same label set) is not repeated; cache is added
    assert probes(expr.evaluate(SNAPSHOT)) == ["database", "cache"]
    assert parse("storage_up or ingest_queue_ratio").evaluate(SNAPSHOT) == [Sample("ingest_queue_ratio", {}, 0.85)]


def test_or_dedups_on_label_set_ignoring_the_signal_name() -> None:
    snapshot = {
        "probe_state": [({"probe": "db"}, 2.0)],
        "probe_success": [({"probe": "db"}, 1.0), ({"probe": "web"}, 1.0)],
    }
    result = parse("probe_state or probe_success").evaluate(snapshot)
    assert [(s.signal, s.labels["probe"]) for s in result] == [("probe_state", "db"), ("probe_success", "web")]
    # label sets must be equal as a whole, not just overlap
    snapshot = {
        "probe_state": [({"probe": "db"}, 2.0)],
        "probe_success": [({"probe": "db", "kind": "tcp"}, 1.0)],
    }
    assert len(parse("probe_state or probe_success").evaluate(snapshot)) == 2


def test_and_binds_tighter_than_or() -> None:
    a, b, c = "storage_up", "ingest_queue_ratio > 0.5", "failover_all_open"
    expr = parse(f"{a} or {b} and {c}")
    assert isinstance(expr, Or)
    assert isinstance(expr.right, And)
    assert expr == parse(f"{a} or ({b} and {c})")
    expr = parse(f"{a} and {b} or {c}")
    assert isinstance(expr, Or)
    assert isinstance(expr.left, And)
    assert expr == parse(f"({a} and {b}) or {c}")
    # evaluation: "x or y and z" with x empty, y non-empty, z empty -> nothing
    snapshot = {"ingest_queue_ratio": [({}, 0.9)]}
    assert parse(f"{a} or {b} and {c}").evaluate(snapshot) == []
    assert parse(f"({a} or {b}) and {c}").evaluate(snapshot) == []
    snapshot = {"ingest_queue_ratio": [({}, 0.9)], "failover_all_open": [({"group": "g"}, 1.0)]}
    assert parse(f"{a} or {b} and {c}").evaluate(snapshot) == [Sample("ingest_queue_ratio", {}, 0.9)]


def test_left_associativity_and_canonical_parentheses() -> None:
    expr = parse("storage_up and ingest_queue_ratio and failover_all_open")
    assert expr == And(And(Selector("storage_up"), Selector("ingest_queue_ratio")), Selector("failover_all_open"))
    assert str(expr) == "storage_up and ingest_queue_ratio and failover_all_open"
    right = parse("storage_up and (ingest_queue_ratio and failover_all_open)")
    assert right != expr
    assert str(right) == "storage_up and (ingest_queue_ratio and failover_all_open)"
    assert str(parse("(storage_up or ingest_queue_ratio) and failover_all_open")) == (
        "(storage_up or ingest_queue_ratio) and failover_all_open"
    )
    assert str(parse("storage_up or (ingest_queue_ratio or failover_all_open)")) == (
        "storage_up or (ingest_queue_ratio or failover_all_open)"
    )
    assert str(parse("((storage_up))")) == "storage_up"


def test_whitespace_and_newlines() -> None:
    expr = parse('\n  probe_state {\n probe = "database" ,\n }\n==\tdown\n')
    assert expr == parse('probe_state{probe="database"} == down')


def test_keywords_are_case_sensitive() -> None:
    with pytest.raises(ExprError, match="unexpected 'AND'"):
        parse("storage_up AND storage_up")


def test_signals() -> None:
    expr = parse('probe_state == down or (breaker_state == open and failover_all_open) or probe_state{probe="x"}')
    assert expr.signals() == {"probe_state", "breaker_state", "failover_all_open"}


def test_custom_catalog() -> None:
    catalog = {"queue_depth": Signal("queue_depth", ("queue",), "depth", "count")}
    assert parse('queue_depth{queue="a"} > 10', catalog) == Compare(
        Selector("queue_depth", (Matcher("queue", "=", "a"),)), ">", 10.0
    )
    with pytest.raises(ExprError, match="unknown signal 'probe_state'"):
        parse("probe_state", catalog)


# --- samples and labels ------------------------------------------------------------------------------------------


def test_sample_is_hashable_and_labels_behave_like_a_dict() -> None:
    sample = Sample("probe_state", {"probe": "db", "kind": "tcp"}, 2)
    assert isinstance(sample.labels, Labels)
    assert sample.labels == {"kind": "tcp", "probe": "db"}
    assert dict(sample.labels) == {"probe": "db", "kind": "tcp"}
    assert sample.labels["probe"] == "db"
    assert sample.labels.get("missing", "") == ""
    assert sample.value == 2.0 and isinstance(sample.value, float)
    assert sample == Sample("probe_state", Labels({"kind": "tcp", "probe": "db"}), 2.0)
    assert len({sample, Sample("probe_state", {"kind": "tcp", "probe": "db"}, 2.0)}) == 1
    assert hash(Labels({"a": "1", "b": "2"})) == hash(Labels({"b": "2", "a": "1"}))
    with pytest.raises(TypeError):
        sample.labels["probe"] = "x"  # type: ignore[index]


def test_evaluation_does_not_alias_the_snapshot() -> None:
    labels = {"probe": "db"}
    result = parse("probe_state").evaluate({"probe_state": [(labels, 2.0)]})
    labels["probe"] = "changed"
    assert result[0].labels["probe"] == "db"


def test_constructors_validate() -> None:
    with pytest.raises(ValueError, match="invalid matcher operator"):
        Matcher("probe", "==", "x")
    with pytest.raises(ValueError, match="invalid regex for label 'probe'"):
        Matcher("probe", "=~", "(")
    with pytest.raises(ValueError, match="invalid comparison operator"):
        Compare(Selector("storage_up"), "=", 1.0)
    with pytest.raises(ValueError, match="finite"):
        Compare(Selector("storage_up"), ">", math.inf)
    with pytest.raises(ValueError, match="constant 'open'"):
        Compare(Selector("storage_up"), "==", 1.0, "open")
    assert Matcher("probe", "=~", "a.*").matches({"probe": "abc"})
    assert Matcher("probe", "!=", "").matches({"probe": "abc"})
    assert not Matcher("probe", "=", "abc").matches({})


# --- errors ------------------------------------------------------------------------------------------------------

ERRORS = [
    ("", "empty expression", 1),
    ("   ", "empty expression", 4),
    ("latncy_p95 > 0.5", "unknown signal 'latncy_p95' (did you mean 'latency_p95'?)", 1),
    ("ingest_queue_ratio > 1 or brekr_state", "unknown signal 'brekr_state' (did you mean 'breaker_state'?)", 27),
    ("zzz", "unknown signal 'zzz'", 1),
    ('breaker_state{service="api"}', "signal 'breaker_state' has no label 'service' (it has group, provider)", 15),
    ('storage_up{probe="x"}', "signal 'storage_up' has no label 'probe' (it has no labels)", 12),
    ('probe_state{probe=~"("}', "invalid regex for label 'probe': missing ): (", 20),
    ('probe_state{kind="a", probe!~"a{1001}"}', "invalid regex for label 'probe': invalid repetition size: {1001}", 30),
    ("ingest_queue_ratio >", "expected a number or a constant after '>'", 21),
    ("ingest_queue_ratio >= )", "expected a number or a constant after '>='", 23),
    ('ingest_queue_ratio == "x"', "expected a number or a constant after '=='", 23),
    ("ingest_queue_ratio == and", "expected a number or a constant after '=='", 23),
    ("breaker_state == opn", "unknown constant 'opn' after '==' (did you mean 'open'?)", 18),
    ("breaker_state == qqq", "unknown constant 'qqq' after '=='", 18),
    ('probe_state{probe="database}', "unterminated string", 19),
    ('probe_state{probe="a\\"}', "unterminated string", 19),
    ('probe_state{probe="a\\nb"}', "invalid escape '\\n' in string (only \\\" and \\\\ are allowed)", 21),
    ("storage_up 5", "unexpected '5' after a complete expression", 12),
    ("storage_up storage_up", "unexpected 'storage_up' after a complete expression", 12),
    ("storage_up)", "unexpected ')' without a matching '('", 11),
    ("storage_up = 1", "unexpected '=' (did you mean '=='?)", 12),
    ("storage_up > 1 > 2", "unexpected '>' after a complete expression", 16),
    ("(storage_up", "expected ')' to close the '(' at column 1, found end of input", 12),
    ("(storage_up or", "expected a signal name or '(', found end of input", 15),
    ("and storage_up", "expected a signal name or '(', found 'and'", 1),
    ("storage_up and or storage_up", "expected a signal name or '(', found 'or'", 16),
    ("> 1", "expected a signal name or '(', found '>'", 1),
    ("1 > storage_up", "expected a signal name or '(', found '1'", 1),
    ('"storage_up"', "expected a signal name or '(', found string \"storage_up\"", 1),
    ("()", "expected a signal name or '(', found ')'", 2),
    ("storage_up @ 1", "unexpected character '@'", 12),
    ("storage_up > - 1", "unexpected character '-'", 14),
    ("storage_up > 5m", "invalid number '5m'", 14),
    ("storage_up > 1.2.3", "invalid number '1.2.3'", 14),
    ("storage_up > 1e", "invalid number '1e'", 14),
    ("storage_up > 1e400", "number '1e400' is out of range", 14),
    ("probe_state{", "expected a label name or '}', found end of input", 13),
    ('probe_state{,probe="x"}', "expected a label name or '}', found ','", 13),
    ('probe_state{probe "x"}', "expected '=', '!=', '=~' or '!~' after label 'probe', found string \"x\"", 19),
    (
        'probe_state{probe=="x"}',
        "expected '=', '!=', '=~' or '!~' after label 'probe', found '==' (use '=' in label matchers)",
        18,
    ),
    ("probe_state{probe=x}", "expected a double-quoted string after 'probe=', found 'x'", 19),
    ('probe_state{probe="x" kind="y"}', "expected ',' or '}' after a label matcher, found 'kind'", 23),
    ('probe_state{probe="x"', "expected ',' or '}' after a label matcher, found end of input", 22),
    ("(" * (MAX_DEPTH + 1) + "storage_up" + ")" * (MAX_DEPTH + 1), "nested too deeply", MAX_DEPTH + 1),
    (" and ".join(["storage_up"] * (MAX_DEPTH + 1)), "nested too deeply", 12 + 15 * (MAX_DEPTH - 1)),
]


@pytest.mark.parametrize(("text", "message", "column"), ERRORS, ids=[f"{i}:{e[0][:40]}" for i, e in enumerate(ERRORS)])
def test_errors(text: str, message: str, column: int) -> None:
    with pytest.raises(ExprError) as info:
        parse(text)
    assert message in info.value.message
    if "nested" not in message:
        assert info.value.message == message
    assert info.value.column == column
    assert isinstance(info.value, ValueError)
    assert str(info.value) == f"{info.value.message} (column {column})"


def test_depth_limit_allows_reasonable_nesting() -> None:
    text = "(" * 20 + "storage_up" + ")" * 20
    assert parse(text) == Selector("storage_up")
    long_chain = " and ".join(["storage_up"] * MAX_DEPTH)
    assert parse(long_chain).signals() == {"storage_up"}


# --- catalog -----------------------------------------------------------------------------------------------------

EXPECTED_SIGNALS = {
    "probe_state": ("probe", "component", "kind"),
    "probe_success": ("probe", "component", "kind"),
    "probe_response_seconds": ("probe", "component", "kind"),
    "uptime_ratio": ("probe", "component", "window"),
    "cert_expiry_days": ("probe", "component"),
    "latency_p50": ("service", "route", "window"),
    "latency_p95": ("service", "route", "window"),
    "latency_p99": ("service", "route", "window"),
    "error_ratio": ("service", "route", "window"),
    "request_rate": ("service", "route", "window"),
    "dependency_latency_p95": ("dependency", "window"),
    "dependency_error_ratio": ("dependency", "window"),
    "breaker_state": ("group", "provider"),
    "failover_all_open": ("group",),
    "failover_degraded": ("group",),
    "ingest_queue_ratio": (),
    "storage_up": (),
    "error_group_new": ("service", "category"),
    "error_group_regressed": ("service", "category"),
    "error_rate": ("service", "category"),
}


def test_signal_catalog() -> None:
    assert {name: signal.labels for name, signal in SIGNALS.items()} == EXPECTED_SIGNALS
    for name, signal in SIGNALS.items():
        assert signal.name == name
        assert signal.description and signal.unit
    with pytest.raises(AttributeError):
        SIGNALS["storage_up"].unit = "x"  # type: ignore[misc]


def test_catalog_markdown() -> None:
    table = catalog_markdown()
    lines = table.splitlines()
    assert lines[0] == "| Signal | Labels | Unit | Meaning |"
    assert lines[1] == "| --- | --- | --- | --- |"
    assert len(lines) == 2 + len(SIGNALS)
    assert "| `breaker_state` | `group`, `provider` | state |" in table
    assert "| `storage_up` | — | bool |" in table
    assert all(line.startswith("| ") and line.endswith(" |") and line.count(" | ") == 3 for line in lines)


# --- properties --------------------------------------------------------------------------------------------------

_safe_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
_regexes = st.one_of(
    st.sampled_from([".*", "", "a|b", "[a-z]+", "data(base)?", "(?i)api.*", r"\d{2,3}", "x\\.y"]),
    _safe_text.map(re2.escape),
)


@st.composite
def selectors(draw: st.DrawFn) -> Selector:
    signal = draw(st.sampled_from(sorted(SIGNALS.values(), key=lambda s: s.name)))
    matchers = []
    if signal.labels:
        for _ in range(draw(st.integers(0, 3))):
            label = draw(st.sampled_from(signal.labels))
            op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
            value = draw(_regexes if op in ("=~", "!~") else _safe_text)
            matchers.append(Matcher(label, op, value))
    return Selector(signal.name, tuple(matchers))


_operands = st.one_of(
    st.sampled_from(sorted(CONSTANTS.items())).map(lambda item: (item[1], item[0])),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: (v, None)),
    st.integers(-(10**20), 10**20).map(lambda v: (float(v), None)),
)


def _compare(left: Expr, op: str, operand: tuple[float, str | None]) -> Compare:
    return Compare(left, op, operand[0], operand[1])


_exprs = st.recursive(
    selectors(),
    lambda children: st.one_of(
        st.builds(_compare, children, st.sampled_from(["==", "!=", ">", ">=", "<", "<="]), _operands),
        st.builds(And, children, children),
        st.builds(Or, children, children),
    ),
    max_leaves=8,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_exprs)
def test_canonical_form_round_trips(expr: Expr) -> None:
    text = str(expr)
    reparsed = parse(text)
    assert reparsed == expr
    assert str(reparsed) == text
    assert reparsed.signals() == expr.signals()


_label_values = st.sampled_from(["", "a", "b", "api", "database", "data"])
_series = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(["probe", "component", "kind"]), _label_values, max_size=3),
        st.one_of(st.floats(), st.sampled_from([-1.0, 0.0, 1.0, 2.0])),
    ),
    max_size=12,
)
_OPS = {"==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@settings(max_examples=300)
@given(
    series=_series,
    label=st.sampled_from(["probe", "component", "kind"]),
    matcher_op=st.sampled_from(["=", "!=", "=~", "!~"]),
    matcher_value=st.sampled_from(["", "a", "api", "data", "data.*", "a|b", ".*"]),
    op=st.sampled_from(sorted(_OPS)),
    operand=st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, 1e300]),
)
def test_comparison_is_a_brute_force_filter(
    series: list[tuple[dict[str, str], float]],
    label: str,
    matcher_op: str,
    matcher_value: str,
    op: str,
    operand: float,
) -> None:
    expr = parse(f'probe_state{{{label}{matcher_op}"{matcher_value}"}} {op} {operand!r}')

    def matches(labels: dict[str, str]) -> bool:
        actual = labels.get(label, "")
        if matcher_op == "=":
            return actual == matcher_value
        if matcher_op == "!=":
            return actual != matcher_value
        found = re2.fullmatch(matcher_value, actual) is not None
        return found if matcher_op == "=~" else not found

    expected = [
        (labels, value)
        for labels, value in series
        if matches(labels) and not math.isnan(value) and _OPS[op](value, operand)
    ]
    result = expr.evaluate({"probe_state": series, "probe_success": [({}, 1.0)]})
    assert [(dict(s.labels), s.value) for s in result] == expected
    assert all(s.signal == "probe_state" for s in result)
    bare = parse(f'probe_state{{{label}{matcher_op}"{matcher_value}"}}').evaluate({"probe_state": series})
    assert [(dict(s.labels), s.value) for s in bare] == [
        (labels, value) for labels, value in series if matches(labels) and value != 0 and not math.isnan(value)
    ]


_TOKENS = [
    "probe_state",
    "breaker_state",
    "storage_up",
    "nope",
    "probe",
    "group",
    "and",
    "or",
    "(",
    ")",
    "{",
    "}",
    ",",
    "=",
    "==",
    "!=",
    "=~",
    "!~",
    ">",
    ">=",
    "<",
    "<=",
    '"x"',
    '".*"',
    '"("',
    '"',
    "\\",
    "1",
    "-2.5e3",
    "down",
    "open",
    "-",
    ".",
]


def _check_parse(text: str) -> None:
    try:
        expr = parse(text)
    except ExprError as exc:
        assert 1 <= exc.column <= len(text) + 1
        assert exc.message
    else:
        assert parse(str(expr)) == expr
        expr.evaluate(SNAPSHOT)


@settings(max_examples=500)
@given(st.text())
def test_parser_only_raises_expr_error_on_random_text(text: str) -> None:
    _check_parse(text)


@settings(max_examples=500)
@given(st.lists(st.sampled_from(_TOKENS), max_size=25).flatmap(lambda tokens: st.just(" ".join(tokens))))
def test_parser_only_raises_expr_error_on_token_soup(text: str) -> None:
    _check_parse(text)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(_TOKENS), max_size=25).map("".join))
def test_parser_only_raises_expr_error_on_glued_tokens(text: str) -> None:
    _check_parse(text)


def test_pathological_regex_is_linear() -> None:
    expr = parse('probe_state{probe=~"(a+)+b"}')
    assert expr.evaluate({"probe_state": [({"probe": "a" * 50_000}, 1.0)]}) == []


def test_long_input_parses() -> None:
    text = "probe_state{" + ",".join(f'probe!="p{i}"' for i in range(2000)) + "} == down"
    assert isinstance(parse(text), Compare)
