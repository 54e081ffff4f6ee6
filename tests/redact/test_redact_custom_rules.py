"""Custom rules: RE2 compilation, validators, configuration errors."""

from __future__ import annotations

import time

import pytest

from sidecar.errors import ConfigError
from sidecar.redact import CustomRule, RedactionPolicy, Redactor


def make(*rules: CustomRule) -> Redactor:
    return Redactor(RedactionPolicy(custom_rules=rules))


def test_custom_rule_redacts_with_its_name_as_kind() -> None:
    redactor = make(CustomRule("employee_id", r"\bEMP-\d{6}\b"))
    counts: dict[str, int] = {}
    out = redactor.redact_text("by EMP-004211 and EMP-1 and EMP-123456", counts)
    assert out == "by [REDACTED:employee_id] and EMP-1 and [REDACTED:employee_id]"
    assert counts == {"employee_id": 2}
    assert "employee_id" in redactor.kinds


def test_custom_rule_applies_inside_values_and_keys() -> None:
    redactor = make(CustomRule("ticket", r"TCK-\d+"))
    out = redactor.redact_value({"TCK-1": ["see TCK-22"], "n": 1}, {})
    assert out == {"[REDACTED:ticket]": ["see [REDACTED:ticket]"], "n": 1}


def test_custom_rule_applies_to_short_strings() -> None:
    redactor = make(CustomRule("code", r"Z\d"))
    assert redactor.redact_text("Z9", {}) == "[REDACTED:code]"


def test_luhn_validator_keeps_invalid_candidates() -> None:
    redactor = make(CustomRule("account", r"ACC-\d{16}", validator="luhn"))
    counts: dict[str, int] = {}
    out = redactor.redact_text("ACC-4111111111111111 ACC-4111111111111112", counts)
    assert out == "[REDACTED:account] ACC-4111111111111112"
    assert counts == {"account": 1}


def _with_mod97_check(body: str) -> str:
    digits = "".join(str(int(ch, 36)) for ch in body + "ZZ00")
    return f"ZZ{98 - int(digits) % 97:02d}{body}"


def test_mod97_validator_keeps_invalid_candidates() -> None:
    redactor = make(CustomRule("internal_account", r"\bZZ\d{2}[A-Z0-9]{12}\b", validator="mod97"))
    valid = _with_mod97_check("ABCD12345678")
    invalid = valid[:2] + f"{(int(valid[2:4]) + 1) % 100:02d}" + valid[4:]
    counts: dict[str, int] = {}
    out = redactor.redact_text(f"{valid} {invalid}", counts)
    assert out == f"[REDACTED:internal_account] {invalid}"
    assert counts == {"internal_account": 1}


def test_rules_apply_in_order_after_builtins() -> None:
    redactor = make(CustomRule("first", r"ab"), CustomRule("second", r"cd"))
    counts: dict[str, int] = {}
    assert redactor.redact_text("abcd mail a@b.co", counts) == (
        "[REDACTED:first][REDACTED:second] mail [REDACTED:email]"
    )
    assert counts == {"first": 1, "second": 1, "email": 1}


def test_redos_pattern_runs_in_linear_time() -> None:
    redactor = make(CustomRule("evil", r"(a+)+$"))
    text = "a" * 50_000 + "!"
    started = time.perf_counter()
    out = redactor.redact_text(text, {})
    assert time.perf_counter() - started < 2.0
    assert out == text
    assert redactor.redact_text("xaaa", {}) == "x[REDACTED:evil]"


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [(r"(?<=x)a", "RE2"), (r"(\w)\1", "RE2"), (r"[", "RE2"), (r"a{1001}", "RE2"), (r"a*", "empty")],
)
def test_bad_patterns_are_config_errors_naming_the_rule(pattern: str, reason: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        make(CustomRule("my_rule", pattern))
    assert "my_rule" in str(excinfo.value)
    assert reason in str(excinfo.value)
    assert excinfo.value.problems and all("custom_rules[0]" in p for p in excinfo.value.problems)


def test_every_problem_is_reported() -> None:
    with pytest.raises(ConfigError) as excinfo:
        make(
            CustomRule("Bad Name", r"x"),
            CustomRule("dup", r"y"),
            CustomRule("dup", r"z"),
            CustomRule("v", r"w", validator="crc"),  # type: ignore[arg-type]
        )
    problems = excinfo.value.problems
    assert len(problems) == 3
    assert any("custom_rules[0]" in p and "name" in p for p in problems)
    assert any("custom_rules[2]" in p and "duplicate" in p for p in problems)
    assert any("custom_rules[3]" in p and "validator" in p for p in problems)


def test_invalid_secret_keys_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="secret_keys"):
        Redactor(RedactionPolicy(secret_keys=r"(?<=x)password"))


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        (RedactionPolicy(ip_addresses="hide"), "ip_addresses"),  # type: ignore[arg-type]
        (RedactionPolicy(pseudonym_key=b""), "pseudonym_key"),
        (RedactionPolicy(pseudonym_key="text"), "pseudonym_key"),  # type: ignore[arg-type]
        (RedactionPolicy(pseudonymize_fields="userId"), "pseudonymize_fields"),  # type: ignore[arg-type]
    ],
)
def test_invalid_policy_fields_are_config_errors(policy: RedactionPolicy, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        Redactor(policy)


def test_all_policy_problems_are_reported_together() -> None:
    policy = RedactionPolicy(
        ip_addresses="hide",  # type: ignore[arg-type]
        secret_keys="(?<=x)",
        custom_rules=(CustomRule("bad", "("),),
    )
    with pytest.raises(ConfigError) as excinfo:
        Redactor(policy)
    assert len(excinfo.value.problems) == 3
