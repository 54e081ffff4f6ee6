"""Immutable redaction policy objects, parsed once by the config layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_SECRET_KEYS = (
    r"password|passwd|secret|token|api[_-]?key|authorization|cookie|set-cookie"  # noqa: S105 (names)
    r"|session|credit_card|ssn"
)


@dataclass(frozen=True, slots=True)
class CustomRule:
    """An operator-defined detector; matches become ``[REDACTED:<name>]``.

    ``pattern`` is compiled with RE2 (linear time, so no configured pattern can
    hang a worker); ``validator`` optionally confirms each match.
    """

    name: str
    pattern: str
    validator: Literal["luhn", "mod97"] | None = None


@dataclass(frozen=True, slots=True)
class RedactionPolicy:
    """What the redactor removes, masks or pseudonymises."""

    ip_addresses: Literal["mask", "keep"] = "mask"
    secret_keys: str = DEFAULT_SECRET_KEYS
    pseudonymize_fields: tuple[str, ...] = ("userId",)
    pseudonymize_emails: bool = False
    pseudonym_key: bytes | None = None
    custom_rules: tuple[CustomRule, ...] = ()


def policy_problems(policy: RedactionPolicy) -> list[str]:
    """Problems with the policy's plain fields (patterns are checked when compiled)."""
    problems = []
    if policy.ip_addresses not in ("mask", "keep"):
        problems.append("redaction.ip_addresses must be 'mask' or 'keep'")
    if policy.pseudonym_key is not None and (not isinstance(policy.pseudonym_key, bytes) or not policy.pseudonym_key):
        problems.append("redaction.pseudonym_key must be non-empty bytes")
    if policy.pseudonymize_emails and policy.pseudonym_key is None:
        problems.append("redaction.pseudonymize_emails requires redaction.pseudonym_key")
    if isinstance(policy.pseudonymize_fields, str) or not all(
        isinstance(f, str) and f for f in policy.pseudonymize_fields
    ):
        problems.append("redaction.pseudonymize_fields must be a list of field names")
    return problems
