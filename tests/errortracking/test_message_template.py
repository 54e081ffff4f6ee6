"""Message templates: variable parts become one placeholder, the rest is kept."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.errortracking import MAX_TEMPLATE_LENGTH, message_template

SETTINGS = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("message", "template"),
    [
        ("Order 12345 not found", "Order <*> not found"),
        ("payment for usr_0123456789abcdef failed", "payment for <*> failed"),
        ("sent to [REDACTED:email] and [REDACTED:phone]", "sent to <*> and <*>"),
        ("lookup of 550e8400-e29b-41d4-a716-446655440000 failed", "lookup of <*> failed"),
        ("object 65f1c0ffee00112233445566 missing", "object <*> missing"),
        ("digest deadbeefcafebabe mismatch", "digest <*> mismatch"),
        ("KeyError: 'user_id'", "KeyError: <*>"),
        ('relation "orders" does not exist', "relation <*> does not exist"),
        ("column `total` is null", "column <*> is null"),
        ("can't reach bob's server", "can't reach bob's server"),
        ("bounce from alice.smith+tag@example.co.uk", "bounce from <*>"),
        ("GET https://api.example.com/v1/users?id=7&token=x failed", "GET https://api.example.com/<*>/users failed"),
        ("timed out after 1500ms", "timed out after <*>"),
        ("timed out after 2.5s (limit 2s)", "timed out after <*> (limit <*>)"),
        ("upload of 512MB exceeds 100MiB", "upload of <*> exceeds <*>"),
        ("ids [1, 2, 3] rejected", "ids [<*>] rejected"),
        ("at 2024-06-11T10:20:30.123Z on 10.0.0.12:5432", "at <*> on <*>"),
        ("order_4567 at 0x7ffe3a2b", "<*> at <*>"),
        ("  many\n\tspaces   here ", "many spaces here"),
        ("", ""),
    ],
)
def test_variable_parts_become_one_placeholder(message: str, template: str) -> None:
    assert message_template(message) == template


def test_a_long_message_is_cut_at_a_word() -> None:
    template = message_template("word " * 500)
    assert len(template) <= MAX_TEMPLATE_LENGTH
    assert template.endswith("word…")


# Words without digits: what stays of a message around its values.
words = st.lists(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Nd", "Cs", "Zs", "Cc")), min_size=1),
    max_size=8,
)
values = st.one_of(
    st.integers(min_value=0).map(str),
    st.uuids().map(str),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(lambda number: f"{number}ms"),
    st.from_regex(r"usr_[0-9a-f]{16}", fullmatch=True),
)


@SETTINGS
@given(st.text(max_size=600))
def test_a_template_is_its_own_template(message: str) -> None:
    template = message_template(message)
    assert message_template(template) == template
    assert len(template) <= MAX_TEMPLATE_LENGTH


@SETTINGS
@given(words, st.data())
def test_digits_and_uuids_in_a_message_never_change_its_template(parts: list[str], data: st.DataObject) -> None:
    slots = data.draw(st.integers(min_value=1, max_value=3))
    positions = sorted(data.draw(st.lists(st.integers(0, len(parts)), min_size=slots, max_size=slots)))

    def fill() -> str:
        pieces = list(parts)
        for offset, position in enumerate(positions):
            pieces.insert(position + offset, data.draw(values))
        return " ".join(pieces)

    assert message_template(fill()) == message_template(fill())


def test_the_same_error_from_different_users_has_one_template() -> None:
    messages = [
        f"charge {number} for {user} failed: card '{last4}' declined ({request})"
        for number, user, last4, request in [
            (1, "usr_00112233445566ff", "4242", uuid.uuid4()),
            (987654, "usr_a1b2c3d4e5f60718", "0005", uuid.uuid4()),
        ]
    ]
    assert (
        message_template(messages[0])
        == message_template(messages[1])
        == "charge <*> for <*> failed: card <*> declined (<*>)"
    )
