"""Fingerprints: the same error groups together whoever hit it; a different bug does not."""

from __future__ import annotations

import uuid

import pytest

from sidecar.errortracking import CATEGORIES, category_of, fingerprint, short_type, signature, title_of

from . import error_stacks

STACKS = {
    "python": error_stacks.python_traceback(),
    "node": error_stacks.NODE,
    "java": error_stacks.JAVA,
    "go": error_stacks.GO,
    "ruby": error_stacks.RUBY,
}


def test_a_fingerprint_is_sixteen_hex_digits_and_stable() -> None:
    first = fingerprint("ValueError", "bad input", None)
    assert len(first) == 16 and int(first, 16) >= 0
    assert fingerprint("ValueError", "bad input", None) == first


def test_same_error_from_different_users_numbers_ids_and_quoted_values_is_one_fingerprint() -> None:
    stack = STACKS["python"]
    occurrences = [
        (f"charge {amount} for {user} failed: card '{card}' declined (request {request}) [REDACTED:{kind}]")
        for amount, user, card, request, kind in [
            (10, "usr_0011223344556677", "4242", uuid.uuid4(), "email"),
            (99999, "usr_89abcdef01234567", "0005", uuid.uuid4(), "phone"),
            (7, "usr_fedcba9876543210", "x", "0x7ffe3a2b", "card"),
        ]
    ]
    assert len({fingerprint("stripe.error.CardError", message, stack) for message in occurrences}) == 1


@pytest.mark.parametrize("language", sorted(STACKS))
def test_line_number_changes_alone_keep_the_fingerprint(language: str) -> None:
    stack = STACKS[language]
    moved = error_stacks.shift_line_numbers(stack)
    assert moved != stack
    assert fingerprint("Boom", "it broke", moved) == fingerprint("Boom", "it broke", stack)


def test_a_different_innermost_application_frame_is_a_different_fingerprint() -> None:
    here = error_stacks.python_traceback()
    elsewhere = error_stacks.python_traceback(other_route=True)
    assert fingerprint("ParserError", "x", here) != fingerprint("ParserError", "x", elsewhere)
    node_elsewhere = error_stacks.NODE.replace("OrderService.place", "OrderService.refund")
    assert fingerprint("TypeError", "x", node_elsewhere) != fingerprint("TypeError", "x", error_stacks.NODE)


def test_frames_beyond_the_top_three_application_frames_do_not_matter() -> None:
    stack = STACKS["python"]
    called_elsewhere = stack.replace("in python_traceback", "in another_caller")
    assert called_elsewhere != stack
    assert fingerprint("E", "x", called_elsewhere) == fingerprint("E", "x", stack)
    deeper_in_go = error_stacks.GO.replace("main.main.func1()", "main.startServer()")
    assert fingerprint("E", "x", deeper_in_go) != fingerprint("E", "x", error_stacks.GO)  # the third


def test_library_frames_do_not_matter_when_application_frames_exist() -> None:
    upgraded = error_stacks.JAVA.replace("FrameworkServlet.service", "FrameworkServlet.doService")
    assert fingerprint("E", "x", upgraded) == fingerprint("E", "x", error_stacks.JAVA)


def test_the_innermost_frames_are_used_when_none_is_application_code() -> None:
    found = signature("Error", "connect ECONNREFUSED 127.0.0.1:5432", error_stacks.NODE_LIBRARY_ONLY)
    assert [frame.function for frame in found.frames] == ["TCPConnectWrap.afterConnect"]
    assert found.template == "connect ECONNREFUSED <*>"


def test_without_a_parsable_stack_type_and_template_decide() -> None:
    assert fingerprint("KeyError", "'a'", None) == fingerprint("KeyError", "'b'", "not a stack")
    assert fingerprint("KeyError", "'a'", None) != fingerprint("IndexError", "'a'", None)
    assert fingerprint("KeyError", "missing 'a'", None) != fingerprint("KeyError", "absent 'a'", None)


def test_qualified_and_short_type_names_are_the_same_error() -> None:
    assert short_type("psycopg2.errors.UniqueViolation") == "UniqueViolation"
    assert short_type("ActiveRecord::RecordNotFound") == "RecordNotFound"
    assert short_type("*errors.errorString") == "errorString"
    assert short_type("") == "Error"
    assert fingerprint("psycopg2.errors.UniqueViolation", "dup", None) == fingerprint("UniqueViolation", "dup", None)


def test_the_culprit_is_the_innermost_application_frame() -> None:
    assert signature("E", "x", error_stacks.JAVA).culprit == "com.acme.orders.OrderService in pay"
    assert signature("E", "x", None).culprit is None


def test_title_is_type_and_template() -> None:
    assert title_of("KeyError", "<*>") == "KeyError: <*>"
    assert title_of("KeyError", "") == "KeyError"


@pytest.mark.parametrize(
    ("error_type", "message", "category"),
    [
        ("openai.RateLimitError", "Rate limit reached for gpt-4o", "ai_provider"),
        ("anthropic.APITimeoutError", "Request timed out.", "ai_provider"),
        ("stripe.error.CardError", "Your card was declined.", "payment"),
        ("smtplib.SMTPServerDisconnected", "Connection unexpectedly closed", "email"),
        ("psycopg2.errors.UniqueViolation", 'duplicate key value violates unique constraint "users_pkey"', "database"),
        ("sqlalchemy.exc.OperationalError", "server closed the connection unexpectedly", "database"),
        ("HTTPError", "429 Client Error: Too Many Requests", "rate_limit"),
        ("asyncio.TimeoutError", "", "timeout"),
        ("Error", "context deadline exceeded", "timeout"),
        ("PermissionDenied", "Forbidden: token expired", "auth"),
        ("ConnectionRefusedError", "[Errno 111] Connection refused", "network"),
        ("Error", "getaddrinfo ENOTFOUND api.internal", "network"),
        ("pydantic.ValidationError", "1 validation error for Order", "validation"),
        ("json.decoder.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)", "validation"),
        ("java.lang.NullPointerException", "", "internal"),
        ("TypeError", "Cannot read properties of undefined (reading 'id')", "internal"),
        ("ZeroDivisionError", "division by zero", "internal"),
        ("Orders::AlreadyPaid", "Order is already paid", "other"),
    ],
)
def test_categories_from_type_and_message(error_type: str, message: str, category: str) -> None:
    assert category_of(error_type, message) == category
    assert category in CATEGORIES


def test_fingerprinting_is_fast_enough_for_an_error_storm() -> None:
    import time

    stacks = list(STACKS.values())
    started = time.perf_counter()
    for index in range(2000):
        fingerprint("Boom", f"order {index} failed", stacks[index % len(stacks)])
    assert time.perf_counter() - started < 5  # about 0.1 ms each on a laptop; generous for CI
