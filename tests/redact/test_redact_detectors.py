"""Each built-in detector: what it must catch, and what it must leave alone."""

from __future__ import annotations

import pytest

from sidecar.redact import RedactionPolicy, Redactor

REDACTOR = Redactor(RedactionPolicy())


def redact(text: str) -> tuple[str, dict[str, int]]:
    counts: dict[str, int] = {}
    return REDACTOR.redact_text(text, counts), counts


def assert_redacted(value: str, kind: str, template: str = "value {} here") -> None:
    text = template.format(value)
    out, counts = redact(text)
    assert out == template.format(f"[REDACTED:{kind}]"), out
    assert counts == {kind: 1}


def assert_untouched(value: str, template: str = "value {} here") -> None:
    text = template.format(value)
    out, counts = redact(text)
    assert out == text
    assert counts == {}


@pytest.mark.parametrize(
    "email",
    ["alice@example.com", "bob.smith+tag@mail.example.co.uk", "o'brien@example.ie",
     "Élodie.Durand@exemple.fr", "x_y-z@sub-domain.example.org", "UPPER@EXAMPLE.COM"],
)  # fmt: skip
def test_email_addresses_are_redacted(email: str) -> None:
    assert_redacted(email, "email")
    assert_redacted(email, "email", "<{}>")
    assert_redacted(email, "email", '{{"to":"{}"}}')


@pytest.mark.parametrize("text", ["user@localhost", "@mention", "a@b", "name@domain.c0m", "v1.2@3.4.5", "me@.com"])
def test_email_lookalikes_are_kept(text: str) -> None:
    assert_untouched(text)


@pytest.mark.parametrize(
    "phone",
    [
        "+14155552671", "+44 20 7946 0958", "+49 30 123456", "+33 1 23 45 67 89",
        "+44(0)20 7946 0958", "+49 (0) 9141 777631", "+1-780-563-6083x7783", "+34 948 812 415",
        "(415) 555-2671", "415-555-2671", "415.555.2671", "415 555 2671", "4155552671",
        "1-415-555-2671", "001-415-555-2671", "(415)555-2671x123",
        "020 7946 0958", "06 12 34 56 78", "0232781286", "(0161) 4960066", "(0406)-812415",
        "03662 585178", "0049 30 1234567",
    ],
)  # fmt: skip
def test_phone_numbers_are_redacted(phone: str) -> None:
    assert_redacted(phone, "phone")


@pytest.mark.parametrize(
    "text",
    [
        "1732531200000", "1732531200", "ORD-2024-000123", "#100045", "1234.56", "$1,299.00",
        "1532ms", "2024-11-25", "25.11.2024 14:30", "12:30:45", "order 123456", "0.5",
        "1234567", "+1234", "v2.10.0", "2024-11-25T08:26:00.123Z", "#4155552671", "0000 0000 00",
        "0012345678905",
        "1555-555-2671-9", "0001234567", "000123456789",
    ],
)  # fmt: skip
def test_numbers_that_are_not_phones_are_kept(text: str) -> None:
    assert_untouched(text)


def test_phone_keeps_a_following_number() -> None:
    out, _ = redact("sms to +14155552671 200 OK")
    assert out == "sms to [REDACTED:phone] 200 OK"
    out, _ = redact("call 020 7946 0958 1234 now")
    assert out == "call [REDACTED:phone] 1234 now"


@pytest.mark.parametrize(
    "card",
    ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "5500 0000 0000 0004",
     "378282246310005", "3782 822463 10005", "6011111111111117", "30569309025904",
     "4222222222222", "4000 0000 0000 0000 006", "2223000048400011"],
)  # fmt: skip
def test_luhn_valid_cards_are_redacted(card: str) -> None:
    assert_redacted(card, "card")


@pytest.mark.parametrize(
    "text",
    ["4111111111111112", "4111 1111 1111 1112", "1732531200000", "1234567890123",
     "4111 1111-1111 1111", "0000000000000000", "9999999999999995", "41111111111111111111111"],
)  # fmt: skip
def test_card_lookalikes_are_kept(text: str) -> None:
    out, counts = redact(f"value {text} here")
    assert "card" not in counts
    assert text in out


def test_card_keeps_a_following_short_number() -> None:
    out, _ = redact("card 4111 1111 1111 1111 200 items")
    assert out == "card [REDACTED:card] 200 items"


@pytest.mark.parametrize(
    "iban",
    ["DE89370400440532013000", "DE89 3704 0044 0532 0130 00", "GB29NWBK60161331926819",
     "GB29 NWBK 6016 1331 9268 19", "FR1420041010050500013M02606", "NL91ABNA0417164300",
     "ES9121000418450200051332", "BE68539007547034", "NO9386011117947"],
)  # fmt: skip
def test_valid_ibans_are_redacted(iban: str) -> None:
    assert_redacted(iban, "iban")


def test_iban_is_cut_at_its_country_length() -> None:
    out, _ = redact("pay ES91 2100 0418 4502 0005 1332 THEN done")
    assert out == "pay [REDACTED:iban] THEN done"


@pytest.mark.parametrize(
    "text", ["DE89370400440532013001", "XX89370400440532013000", "DE8937040044053201300", "AB12 CDEF"]
)
def test_iban_lookalikes_are_kept(text: str) -> None:
    assert_untouched(text)


@pytest.mark.parametrize("ssn", ["123-45-6789", "078-05-1120", "665-12-3456", "899-99-9999"])
def test_valid_ssns_are_redacted(ssn: str) -> None:
    assert_redacted(ssn, "ssn")


@pytest.mark.parametrize(
    "text", ["666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "123-45-67890", "12-345-6789"]
)
def test_invalid_ssns_are_not_ssns(text: str) -> None:
    _, counts = redact(f"value {text} here")
    assert "ssn" not in counts


@pytest.mark.parametrize(
    "ip",
    ["10.0.0.1", "192.168.1.254", "255.255.255.255", "8.8.8.8", "2001:db8::1",
     "fe80::1%eth0", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:192.168.1.1",
     "2001:db8:85a3::8a2e:370:7334"],
)  # fmt: skip
def test_ip_addresses_are_masked(ip: str) -> None:
    assert_redacted(ip, "ip")


def test_ip_keeps_port_and_brackets() -> None:
    out, _ = redact("connect 10.0.0.12:8080 and [2001:db8::1]:443")
    assert out == "connect [REDACTED:ip]:8080 and [[REDACTED:ip]]:443"


@pytest.mark.parametrize(
    "text",
    ["1.2.3", "1.2.3.4.5", "v10.0.0.1-beta", "256.1.1.1", "01.02.03.04", "::1", "std::vector",
     "12:30:45", "aa:bb:cc:dd:ee:ff", "dead::beef", "Chrome/120.0.0.0", "Gecko; rv:1.9.2.20)"],
)  # fmt: skip
def test_ip_lookalikes_are_kept(text: str) -> None:
    assert_untouched(text)


def test_ips_are_kept_when_the_policy_says_keep() -> None:
    redactor = Redactor(RedactionPolicy(ip_addresses="keep"))
    counts: dict[str, int] = {}
    assert redactor.redact_text("from 10.0.0.1 and 2001:db8::1", counts) == ("from 10.0.0.1 and 2001:db8::1")
    assert "ip" not in redactor.kinds


JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def test_jwts_are_redacted() -> None:
    assert_redacted(JWT, "jwt")
    assert_redacted("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "jwt")


def test_jwt_lookalikes_are_kept() -> None:
    assert_untouched("eyJ.only.two")
    assert_untouched("keyJump.abc.def")


@pytest.mark.parametrize(
    "secret",
    [
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_test_51H8xQ2eZvKYlo2C0abcdef", "rk_live_abcdef0123456789",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "sk-" + "a1B2" * 12,
        "sk-proj-" + "Ab3_-" * 20, "sk-ant-api03-" + "x9Y_" * 20, "AKIAIOSFODNN7EXAMPLE",
        "ASIAY34FZKBOKMUTVV7A", "ghp_" + "a1B2c3" * 6, "gho_" + "Z9y8X7" * 6, "ghs_" + "q" * 36,
        "github_pat_11ABCDEFG0123456789_" + "a" * 59, "xoxb-123456789012-1234567890123-AbCdEfGhIjKl",
        "xoxp-1234-5678-abcdefgh", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
        "sct_" + "A" * 40 + "-_z",
    ],
)  # fmt: skip
def test_api_keys_of_known_shape_are_redacted(secret: str) -> None:
    assert_redacted(secret, "secret")


@pytest.mark.parametrize(
    "text",
    ["sk_live", "task-scheduler", "AKIA1234", "ghp_short", "sct_" + "a" * 42, "sct_" + "a" * 44,
     "risk_test_value", "mask-ant-thing"],
)  # fmt: skip
def test_secret_lookalikes_are_kept(text: str) -> None:
    assert_untouched(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcDEF123456ghiJKL", "Authorization: Bearer [REDACTED:bearer]"),
        ("auth=bearer 0123456789abcdef.", "auth=bearer [REDACTED:bearer]."),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic [REDACTED:bearer]"),
        (f"Bearer {JWT}", "Bearer [REDACTED:bearer]"),
        ("Bearer token expired", "Bearer token expired"),
        ("Bearer authentication failed", "Bearer authentication failed"),
        ("Basic Authentication required", "Basic Authentication required"),
    ],
)
def test_bearer_and_basic_credentials(text: str, expected: str) -> None:
    assert redact(text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET https://bob:hunter2@api.example.com/x", "GET https://[REDACTED:url_credentials]@api.example.com/x"),
        ("postgres://app:s3cr%40t@db:5432/app", "postgres://[REDACTED:url_credentials]@db:5432/app"),
        ("https://example.com/cb?code=abc123&state=xyz",
         "https://example.com/cb?code=[REDACTED:url_secret_param]&state=xyz"),
        ("/x?page=2&access_token=tok&API_KEY=k1#frag",
         "/x?page=2&access_token=[REDACTED:url_secret_param]&API_KEY=[REDACTED:url_secret_param]#frag"),
        ("/x?sig=a;password=b", "/x?sig=[REDACTED:url_secret_param];password=[REDACTED:url_secret_param]"),
        ("/x?page=2&monkey=3&keys=4", "/x?page=2&monkey=3&keys=4"),
        ("token=abc in prose", "token=abc in prose"),
        ("https://user@example.com/", "https://[REDACTED:email]/"),
    ],
)  # fmt: skip
def test_url_credentials_and_secret_parameters(text: str, expected: str) -> None:
    assert redact(text)[0] == expected


def test_several_detections_in_one_string_are_counted() -> None:
    out, counts = redact("a@b.co and c@d.co from 10.0.0.1, card 4111111111111111")
    assert out == "[REDACTED:email] and [REDACTED:email] from [REDACTED:ip], card [REDACTED:card]"
    assert counts == {"email": 2, "ip": 1, "card": 1}


def test_counts_accumulate_across_calls() -> None:
    counts = {"email": 3}
    REDACTOR.redact_text("x@y.org", counts)
    assert counts == {"email": 4}


def test_detections_at_start_and_end_of_string() -> None:
    assert redact("4111111111111111")[0] == "[REDACTED:card]"
    assert redact("alice@example.com")[0] == "[REDACTED:email]"
    assert redact("x 10.0.0.1")[0] == "x [REDACTED:ip]"


def test_redacted_output_is_stable_when_redacted_again() -> None:
    once, _ = redact(f"a@b.co Bearer {JWT} https://u:p@h/?token=t +14155552671")
    assert redact(once) == (once, {})
