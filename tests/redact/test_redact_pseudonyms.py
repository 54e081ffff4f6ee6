"""Pseudonyms: keyed, stable, idempotent; e-mail pseudonymisation."""

from __future__ import annotations

import hmac
import re

import pytest

from sidecar.errors import ConfigError
from sidecar.redact import RedactionPolicy, Redactor

KEY = b"k1-0123456789abcdef0123456789abcd"
OTHER_KEY = b"k2-0123456789abcdef0123456789abcd"


def make(key: bytes | None = KEY, **kwargs: object) -> Redactor:
    return Redactor(RedactionPolicy(pseudonym_key=key, **kwargs))  # type: ignore[arg-type]


def test_pseudonym_is_hmac_sha256_truncated() -> None:
    expected = "usr_" + hmac.new(KEY, b"u-123", "sha256").hexdigest()[:16]
    assert make().pseudonymize("u-123") == expected


@pytest.mark.parametrize("key", [b"k", b"x" * 64, b"y" * 65, b"z" * 300])
def test_pseudonym_matches_hmac_for_any_key_length(key: bytes) -> None:
    raw = "ü-user-🙂"
    assert make(key).pseudonymize(raw) == "usr_" + hmac.new(key, raw.encode(), "sha256").hexdigest()[:16]


def test_pseudonym_is_stable_and_keyed() -> None:
    a, b = make(), make()
    assert a.pseudonymize("u-1") == b.pseudonymize("u-1")
    assert a.pseudonymize("u-1") != a.pseudonymize("u-2")
    assert make(OTHER_KEY).pseudonymize("u-1") != a.pseudonymize("u-1")
    assert re.fullmatch(r"usr_[0-9a-f]{16}", a.pseudonymize("u-1"))


def test_pseudonymize_is_idempotent() -> None:
    redactor = make()
    once = redactor.pseudonymize("u-1")
    assert redactor.pseudonymize(once) == once
    assert redactor.redact_value({"userId": once}, {}) == {"userId": once}


def test_only_exact_pseudonym_shape_is_passed_through() -> None:
    redactor = make()
    for raw in ["usr_0123456789ABCDEF", "usr_0123456789abcde", "usr_0123456789abcdefa", "usr-0123456789abcdef"]:
        assert redactor.pseudonymize(raw) != raw


def test_prefix_is_used_and_checked() -> None:
    redactor = make()
    pseudonym = redactor.pseudonymize("acct-9", prefix="acc")
    assert pseudonym.startswith("acc_")
    assert redactor.pseudonymize(pseudonym, prefix="acc") == pseudonym
    assert redactor.pseudonymize(pseudonym) != pseudonym


def test_pseudonymize_without_key_is_a_config_error() -> None:
    assert make().can_pseudonymize
    assert not make(None).can_pseudonymize
    with pytest.raises(ConfigError):
        make(None).pseudonymize("u-1")


def test_email_pseudonymisation_needs_a_key() -> None:
    with pytest.raises(ConfigError, match="pseudonym_key"):
        make(None, pseudonymize_emails=True)


def test_emails_become_case_insensitive_pseudonyms() -> None:
    redactor = make(pseudonymize_emails=True)
    counts: dict[str, int] = {}
    out = redactor.redact_text("from Alice@Example.com to alice@example.com", counts)
    pseudonym = redactor.pseudonymize("alice@example.com", prefix="eml")
    assert out == f"from {pseudonym} to {pseudonym}"
    assert re.fullmatch(r"eml_[0-9a-f]{16}", pseudonym)
    assert counts == {"email": 2}
    assert redactor.redact_text(out, {}) == out  # pseudonyms are not detected again


def test_pseudonym_fields_are_configurable_and_case_insensitive() -> None:
    redactor = make(pseudonymize_fields=("accountId", "customer"))
    out = redactor.redact_value({"ACCOUNTID": "a-1", "customer": 7, "userId": "u-1"}, {})
    assert out == {
        "ACCOUNTID": redactor.pseudonymize("a-1"),
        "customer": redactor.pseudonymize("7"),
        "userId": "u-1",
    }


def test_secret_key_wins_over_pseudonym_field() -> None:
    redactor = make(pseudonymize_fields=("session_user",))
    assert redactor.redact_value({"session_user": "u-1"}, {}) == {"session_user": "[REDACTED:key]"}
