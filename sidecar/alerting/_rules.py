"""Alert rules from ``alerts/*.yaml``: parsed, validated with the file and line of every problem, templated.

A rules file holds ``rules:``, a list of::

    - name: DependencyDown                    # becomes the alertname label
      expr: probe_state == down               # see _expr for the language
      for: 0s                                 # pending this long before firing
      keep_firing_for: 0s                     # stays firing this long after the condition clears
      labels: {severity: P1, team: backend}   # severity P1..P4 is required
      annotations:
        summary: "{{ $labels.probe }} is down"
        description: "value {{ $value }}"
        runbook_url: https://.../runbooks/dependency-down.md

Templates know ``{{ $labels.NAME }}`` (empty when the alert has no such label)
and ``{{ $value }}``; anything else between ``{{ }}`` is an error at load time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sidecar.config import parse_duration
from sidecar.errors import ConfigError

from ._expr import Expr, ExprError, parse

SEVERITIES = ("P1", "P2", "P3", "P4")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_KNOWN = re.compile(r"^\$value$|^\$labels\.([A-Za-z_][A-Za-z0-9_]*)$")
_KEYS = {"name", "expr", "for", "keep_firing_for", "labels", "annotations"}


class RulesError(ConfigError):
    """Problems in the rules files, each as ``file:line: message`` (a start-up error, like a bad config)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated alert rule."""

    name: str
    expr: Expr
    for_: float
    keep_firing_for: float
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    source: str  # file:line, for messages
    text: str = field(default="")  # the expression as written

    @property
    def severity(self) -> str:
        """P1..P4."""
        return self.labels["severity"]


def render(template: str, labels: Mapping[str, str], value: float | None) -> str:
    """``template`` with ``{{ $labels.x }}`` and ``{{ $value }}`` filled in."""

    def fill(match: re.Match[str]) -> str:
        known = _KNOWN.match(match.group(1))
        if known is None:
            return match.group(0)
        if known.group(1) is not None:
            return labels.get(known.group(1), "")
        return "" if value is None else f"{value:g}"

    return _PLACEHOLDER.sub(fill, template)


def load_rules(directory: Path) -> list[Rule]:
    """Every rule of every ``*.yaml`` file in ``directory`` (sorted by file name); RulesError lists every problem."""
    rules: list[Rule] = []
    problems: list[str] = []
    if not directory.is_dir():
        return []
    for path in sorted(directory.glob("*.yaml")):
        found, errors = parse_rules(path.read_text(encoding="utf-8"), str(path))
        rules += found
        problems += errors
    seen: dict[str, str] = {}
    for rule in rules:
        if rule.name in seen:
            problems.append(f"{rule.source}: rule name {rule.name!r} is already used at {seen[rule.name]}")
        seen.setdefault(rule.name, rule.source)
    if problems:
        raise RulesError(problems)
    return rules


def parse_rules(text: str, source: str) -> tuple[list[Rule], list[str]]:
    """The rules in one file's ``text``, and every problem found (``source:line: message``)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return [], [f"{source}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]
    if root is None:
        return [], []
    if not isinstance(root, yaml.MappingNode) or set(_keys(root)) != {"rules"}:
        return [], [f"{source}:{root.start_mark.line + 1}: a rules file holds one key, rules: a list of rules"]
    items = _keys(root)["rules"]
    if not isinstance(items, yaml.SequenceNode):
        return [], [f"{source}:{items.start_mark.line + 1}: rules must be a list"]
    rules, problems = [], []
    for node in items.value:
        rule, errors = _rule(node, source)
        problems += errors
        if rule is not None:
            rules.append(rule)
    return rules, problems


def _keys(node: yaml.MappingNode) -> dict[str, yaml.Node]:
    return {key.value: value for key, value in node.value if isinstance(key, yaml.ScalarNode)}


def _rule(node: yaml.Node, source: str) -> tuple[Rule | None, list[str]]:
    where = f"{source}:{node.start_mark.line + 1}"
    if not isinstance(node, yaml.MappingNode):
        return None, [f"{where}: a rule must be a mapping"]
    fields = _keys(node)
    problems = [f"{where}: unknown key {key!r}" for key in fields if key not in _KEYS]
    data: dict[str, Any] = yaml.safe_load(yaml.serialize(node)) or {}

    def at(key: str) -> str:
        return f"{source}:{fields[key].start_mark.line + 1}" if key in fields else where

    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"{at('name')}: name must be an identifier like DependencyDown")
    expr_text = data.get("expr")
    expr: Expr | None = None
    if not isinstance(expr_text, str) or not expr_text.strip():
        problems.append(f"{at('expr')}: expr is required")
    else:
        try:
            expr = parse(expr_text)
        except ExprError as exc:
            problems.append(f"{at('expr')}: expr column {exc.column}: {exc.message}")
    durations = {}
    for key in ("for", "keep_firing_for"):
        value = data.get(key, "0s")
        try:
            durations[key] = parse_duration(str(value)) if not isinstance(value, int | float) else float(value)
        except ValueError:
            problems.append(f"{at(key)}: {key} must be a duration like 5m")
            continue
        if durations[key] < 0:
            problems.append(f"{at(key)}: {key} must not be negative")
    labels, label_problems = _strings(data.get("labels", {}), "labels", at("labels"))
    annotations, annotation_problems = _strings(data.get("annotations", {}), "annotations", at("annotations"))
    problems += label_problems + annotation_problems
    if labels.get("severity") not in SEVERITIES:
        problems.append(f"{at('labels')}: labels.severity must be one of {', '.join(SEVERITIES)}")
    for key, template in annotations.items():
        for placeholder in _PLACEHOLDER.findall(template):
            if not _KNOWN.match(placeholder):
                problems.append(f"{at('annotations')}: annotations.{key}: unknown placeholder {{{{ {placeholder} }}}}")
    if problems or expr is None:
        return None, problems
    rule = Rule(
        name, expr, durations["for"], durations["keep_firing_for"], labels, annotations, where, expr_text.strip()
    )  # type: ignore[arg-type]
    return rule, []


def _strings(value: Any, what: str, where: str) -> tuple[dict[str, str], list[str]]:
    if not isinstance(value, dict):
        return {}, [f"{where}: {what} must be a mapping"]
    problems = [f"{where}: {what}.{key}: names are identifiers" for key in value if not _LABEL.match(str(key))]
    problems += [f"{where}: {what}.{key} must be text" for key, item in value.items() if not isinstance(item, str)]
    return {str(key): str(item) for key, item in value.items()}, problems
