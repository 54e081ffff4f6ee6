"""Redacting decoded JSON values: key rules, nesting, keys, no mutation, decoys."""

from __future__ import annotations

import copy

import pytest

from sidecar.redact import RedactionFailed, RedactionPolicy, Redactor

KEY = b"test-pseudonym-key-0123456789abc"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(RedactionPolicy(pseudonym_key=KEY))


DECOYS = [
    "550e8400-e29b-41d4-a716-446655440000", "req_8f3a9b2c4d5e6f708192a3b4",
    "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "2024-11-25T08:26:00.123Z",
    "2024-11-25T08:26:00+01:00", "1.2.3", "v2.10.0", "1.2.3-beta.1", "ORD-2024-000123", "#100045",
    "1234.56", "$1,299.00", "12.345,67 €", "/api/v1/users/42/orders", "200", "status=503",
    "1532ms", "2.5s", "api.internal", "db-1.prod.svc.cluster.local", "1732531200000",
    "HTTP/1.1 404", "localhost:8080", "sha256:" + "ab" * 32, "99.95%", "GET", "checkout",
    "checkout-7d9f8b6c5-x2x9z", "25.11.2024", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0",
]  # fmt: skip


@pytest.mark.parametrize("decoy", DECOYS)
def test_decoys_are_left_alone(redactor: Redactor, decoy: str) -> None:
    counts: dict[str, int] = {}
    line = f"event at {decoy}: ok ({decoy}) id={decoy}"
    assert redactor.redact_text(decoy, counts) == decoy
    assert redactor.redact_text(line, counts) == line
    assert counts == {}


def test_a_realistic_clean_log_line_is_unchanged(redactor: Redactor) -> None:
    line = (
        "2024-11-25T08:26:00.123Z INFO checkout v2.10.0 req_8f3a9b2c4d5e6f708192a3b4 "
        "trace=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7 GET /api/v1/users/42/orders "
        "200 1532ms order=ORD-2024-000123 total=$1,299.00 host=db-1.prod.svc.cluster.local "
        "ts=1732531200000 id=550e8400-e29b-41d4-a716-446655440000"
    )
    assert redactor.redact_value(line, {}) == line


@pytest.mark.parametrize(
    "key", ["password", "db_password", "X-Api-Key", "api_key", "apiKey", "sessionId", "Authorization",
            "Set-Cookie", "client_secret", "refresh_token", "credit_card", "SSN"],
)  # fmt: skip
def test_values_under_secret_keys_are_replaced_whole(redactor: Redactor, key: str) -> None:
    counts: dict[str, int] = {}
    record = {key: {"nested": ["anything", 1]}, "other": "plain"}
    assert redactor.redact_value(record, counts) == {key: "[REDACTED:key]", "other": "plain"}
    assert counts == {"key": 1}


@pytest.mark.parametrize("value", [None, 42, 3.5, True, "", ["a"], {"a": 1}])
def test_secret_key_replaces_values_of_any_type(redactor: Redactor, value: object) -> None:
    assert redactor.redact_value({"token": value}, {}) == {"token": "[REDACTED:key]"}


def test_custom_secret_key_pattern() -> None:
    redactor = Redactor(RedactionPolicy(secret_keys=r"^pin$|otp"))
    record = {"pin": "1234", "PIN": "5678", "spin": "x", "totp_seed": "y", "password": "z"}
    assert redactor.redact_value(record, {}) == {
        "pin": "[REDACTED:key]", "PIN": "[REDACTED:key]", "spin": "x",
        "totp_seed": "[REDACTED:key]", "password": "z",
    }  # fmt: skip


def test_nested_structures_are_walked(redactor: Redactor) -> None:
    record = {
        "message": "mail alice@example.com",
        "metadata": {"hops": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2", "note": ["call 415-555-2671"]}]},
        "status": 200,
        "ok": True,
        "ratio": 0.5,
        "nothing": None,
    }
    counts: dict[str, int] = {}
    assert redactor.redact_value(record, counts) == {
        "message": "mail [REDACTED:email]",
        "metadata": {"hops": [{"ip": "[REDACTED:ip]"}, {"ip": "[REDACTED:ip]", "note": ["call [REDACTED:phone]"]}]},
        "status": 200,
        "ok": True,
        "ratio": 0.5,
        "nothing": None,
    }
    assert counts == {"email": 1, "ip": 2, "phone": 1}


def test_keys_that_are_personal_data_are_redacted(redactor: Redactor) -> None:
    counts: dict[str, int] = {}
    record = {"by_user": {"alice@example.com": 3, "bob@example.com": 5, "10.0.0.1": 1}}
    assert redactor.redact_value(record, counts) == {
        "by_user": {"[REDACTED:email]": 3, "[REDACTED:email]#2": 5, "[REDACTED:ip]": 1}
    }
    assert counts == {"email": 2, "ip": 1}


def test_redacted_keys_are_counted_every_time(redactor: Redactor) -> None:
    counts: dict[str, int] = {}
    for _ in range(3):
        redactor.redact_value({"alice@example.com": 1}, counts)
    assert counts == {"email": 3}


def test_input_is_not_mutated(redactor: Redactor) -> None:
    record = {
        "message": "card 4111 1111 1111 1111",
        "password": "hunter2",
        "userId": "u-1",
        "list": ["a@b.co", {"x": "10.0.0.1"}],
        "tuple": ("a@b.co",),
        "alice@example.com": 1,
    }
    before = copy.deepcopy(record)
    out = redactor.redact_value(record, {})
    assert record == before
    assert isinstance(out, dict)
    assert out is not record and out["list"] is not record["list"]
    assert out["tuple"] == ("[REDACTED:email]",)


def test_unchanged_containers_are_still_new_objects(redactor: Redactor) -> None:
    record = {"a": {"b": ["c"]}}
    out = redactor.redact_value(record, {})
    assert out == record
    assert isinstance(out, dict)
    assert out["a"] is not record["a"] and out["a"]["b"] is not record["a"]["b"]


def test_scalars_and_top_level_values(redactor: Redactor) -> None:
    assert redactor.redact_value("x@y.org", {}) == "[REDACTED:email]"
    assert redactor.redact_value(["x@y.org", 5], {}) == ["[REDACTED:email]", 5]
    for scalar in (None, 7, 2.5, False, b"a@b.co"):
        assert redactor.redact_value(scalar, {}) is scalar


def test_non_string_keys_are_kept(redactor: Redactor) -> None:
    assert redactor.redact_value({1: "a@b.co", None: "x"}, {}) == {1: "[REDACTED:email]", None: "x"}


def test_pseudonymized_field_gets_a_keyed_pseudonym(redactor: Redactor) -> None:
    counts: dict[str, int] = {}
    out = redactor.redact_value({"userId": "u-123", "nested": {"UserID": 42}}, counts)
    assert out == {
        "userId": redactor.pseudonymize("u-123"),
        "nested": {"UserID": redactor.pseudonymize("42")},
    }
    assert counts == {"user": 2}


def test_pseudonymized_field_without_key_is_redacted() -> None:
    redactor = Redactor(RedactionPolicy(pseudonym_key=None))
    counts: dict[str, int] = {}
    out = redactor.redact_value({"userId": "u-123", "other": "x"}, counts)
    assert out == {"userId": "[REDACTED:user]", "other": "x"}
    assert counts == {"user": 1}


def test_pseudonymized_field_with_structured_value_is_redacted_normally(redactor: Redactor) -> None:
    out = redactor.redact_value({"userId": {"email": "a@b.co"}, "user_ids": None}, {})
    assert out == {"userId": {"email": "[REDACTED:email]"}, "user_ids": None}


def test_deep_nesting_fails_closed(redactor: Redactor) -> None:
    value: object = "a@b.co"
    for _ in range(200):
        value = {"k": [value]}
    with pytest.raises(RedactionFailed):
        redactor.redact_value(value, {})


def test_moderate_nesting_is_fine(redactor: Redactor) -> None:
    value: object = "a@b.co"
    for _ in range(20):
        value = {"k": [value]}
    out = redactor.redact_value(value, {})
    for _ in range(20):
        assert isinstance(out, dict)
        out = out["k"][0]
    assert out == "[REDACTED:email]"


def test_kinds_lists_everything_the_redactor_can_count(redactor: Redactor) -> None:
    assert set(redactor.kinds) == {
        "email", "phone", "card", "iban", "ssn", "ip", "jwt", "secret", "bearer",
        "url_credentials", "url_secret_param", "key", "user",
    }  # fmt: skip


def test_caches_do_not_change_results(redactor: Redactor) -> None:
    # The same strings and keys, many times over: cached answers must equal fresh ones.
    record = {"service": "checkout", "a@b.co": "x", "message": "ok", "ip": "10.0.0.1"}
    first = redactor.redact_value(record, {})
    for _ in range(5000):
        redactor.redact_value({f"k{_}": f"value {_}"}, {})  # churn the bounded caches
        assert redactor.redact_value(record, {}) == first
