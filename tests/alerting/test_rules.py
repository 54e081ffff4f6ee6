"""Rules files: loaded, validated with file and line, templated; the shipped rules load and link runbooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.alerting._rules import RulesError, load_rules, parse_rules, render
from sidecar.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
rules:
  - name: DependencyDown
    expr: probe_state == down
    for: 30s
    labels: {severity: P1}
    annotations:
      summary: "{{ $labels.probe }} is down ({{ $value }})"
"""


def test_a_rule_is_parsed_with_its_durations_and_templates() -> None:
    rules, problems = parse_rules(GOOD, "a.yaml")
    assert problems == [] and len(rules) == 1
    rule = rules[0]
    assert (rule.name, rule.for_, rule.keep_firing_for, rule.severity, rule.source) == (
        "DependencyDown", 30.0, 0.0, "P1", "a.yaml:2")  # fmt: skip
    assert str(rule.expr) == "probe_state == down"
    assert render(rule.annotations["summary"], {"probe": "stripe"}, 2.0) == "stripe is down (2)"
    assert render("{{ $labels.nope }}!", {}, None) == "!"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  - name: A\n    expr: latncy_p95 > 1\n    labels: {severity: P1}\n",
         "x.yaml:3: expr column 1: unknown signal 'latncy_p95' (did you mean 'latency_p95'?)"),
        ("rules:\n  - name: A\n    expr: breaker_state{service=\"x\"} == open\n    labels: {severity: P1}\n",
         "x.yaml:3: expr column 15: signal 'breaker_state' has no label 'service' (it has group, provider)"),
        ("rules:\n  - name: A\n    expr: storage_up == 0\n    labels: {severity: P9}\n",
         "x.yaml:4: labels.severity must be one of P1, P2, P3, P4"),
        ("rules:\n  - name: A\n    expr: storage_up == 0\n    for: soon\n    labels: {severity: P1}\n",
         "x.yaml:4: for must be a duration like 5m"),
        ("rules:\n  - name: A\n    expr: storage_up == 0\n    labels: {severity: P1}\n"
         "    annotations: {summary: '{{ .Labels.x }}'}\n",
         "x.yaml:5: annotations.summary: unknown placeholder {{ .Labels.x }}"),
        ("rules:\n  - name: A\n    exp: storage_up == 0\n", "x.yaml:2: unknown key 'exp'"),
        ("rules: [\n", "x.yaml:2: not valid YAML"),
        ("alerts: []\n", "x.yaml:1: a rules file holds one key, rules: a list of rules"),
    ],
)  # fmt: skip
def test_problems_name_the_file_and_line(text: str, expected: str) -> None:
    _, problems = parse_rules(text, "x.yaml")
    assert any(problem.startswith(expected) for problem in problems), problems


def test_loading_a_directory_reports_every_problem_as_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("probe_state", "prob_state"))
    (tmp_path / "c.yaml").write_text(GOOD)
    (tmp_path / "notes.txt").write_text("ignored")
    with pytest.raises(RulesError) as caught:
        load_rules(tmp_path)
    assert isinstance(caught.value, ConfigError)
    assert [p.split(":")[0].rsplit("/", 1)[-1] for p in caught.value.problems] == ["b.yaml", "c.yaml"]
    assert "already used at" in caught.value.problems[1]
    assert load_rules(tmp_path / "missing") == []


def test_the_shipped_rules_load_and_link_existing_runbooks() -> None:
    rules = load_rules(ROOT / "alerts")
    assert len(rules) >= 15
    for rule in rules:
        runbook = rule.annotations.get("runbook_url", "")
        assert (ROOT / runbook).is_file(), f"{rule.name}: {runbook}"
        assert rule.annotations.get("summary")
    names = {rule.name for rule in rules}
    assert {"ServiceOutage", "DependencyDown", "LatencyHigh", "ErrorRatioHigh", "ErrorSpike", "PaymentProviderFailing",
            "AIProviderOutage", "AIProviderFailover", "EmailProviderFailover", "CertificateExpiresSoon",
            "SidecarIngestSaturated"} <= names  # fmt: skip
