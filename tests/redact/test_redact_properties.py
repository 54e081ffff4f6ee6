"""Property tests: planted PII never survives, decoys always do, nothing crashes or hangs."""

from __future__ import annotations

import base64
import os
import string
import time
import uuid
from datetime import datetime

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sidecar.redact import RedactionPolicy, Redactor

REDACTOR = Redactor(RedactionPolicy())
# REDACT_EXAMPLES=5000 for a longer hunt; no example database is written.
SETTINGS = settings(
    max_examples=int(os.environ.get("REDACT_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Text around a planted value: any printable words; a detection starts and ends
# at a token boundary, so the value is separated by one of these.
surrounding = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " ", max_size=40)
before = st.sampled_from([" ", ": ", "=", "(", '"', "\n", "\t", "<", "/", ", "])
after = st.sampled_from([" ", ") ", '" ', "\n", "; ", "> ", ", "])
# Surroundings for decoys: lowercase prose cannot contain a detection itself.
prose = st.text(alphabet=string.ascii_lowercase + " ", max_size=40)


def embed(draw: st.DrawFn, value: str) -> str:
    return draw(surrounding) + draw(before) + value + draw(after) + draw(surrounding)


def survives(value: str, text: str) -> bool:
    return value in REDACTOR.redact_text(text, {})


@st.composite
def emails(draw: st.DrawFn) -> str:
    local = draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._%+\-]{0,30}[A-Za-z0-9]", fullmatch=True))
    labels = draw(st.lists(st.from_regex(r"[a-z0-9](?:[a-z0-9\-]{0,20}[a-z0-9])?", fullmatch=True),
                           min_size=1, max_size=3))  # fmt: skip
    tld = draw(st.from_regex(r"[a-z]{2,10}", fullmatch=True))
    assume(".." not in local)
    return f"{local}@{'.'.join(labels)}.{tld}"


def _luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix, length = draw(st.sampled_from(
        [("4", 16), ("4", 13), ("4", 19), ("51", 16), ("55", 16), ("2221", 16), ("34", 15),
         ("37", 15), ("6011", 16), ("65", 16), ("36", 14), ("35", 16), ("62", 19)]
    ))  # fmt: skip
    rest = draw(st.text(alphabet=string.digits, min_size=length - len(prefix) - 1,
                        max_size=length - len(prefix) - 1))  # fmt: skip
    number = _luhn_complete(prefix + rest)
    sep = draw(st.sampled_from(["", " ", "-"]))
    if length == 15 and sep:
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i : i + 4] for i in range(0, length, 4))


IBAN_FORMATS = {"DE": "n18", "GB": "a4n14", "FR": "n10c11n2", "NL": "a4n10", "ES": "n20",
                "IT": "a1n10c12", "BE": "n12", "CH": "n5c12", "PL": "n24", "NO": "n11"}  # fmt: skip


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(IBAN_FORMATS)))
    spec, bban = IBAN_FORMATS[country], ""
    alphabets = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}
    for kind, count in _pairs(spec):
        bban += draw(st.text(alphabet=alphabets[kind], min_size=count, max_size=count))
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    iban = f"{country}{98 - int(digits) % 97:02d}{bban}"
    if draw(st.booleans()):
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def _pairs(spec: str) -> list[tuple[str, int]]:
    out, i = [], 0
    while i < len(spec):
        j = i + 1
        while j < len(spec) and spec[j].isdigit():
            j += 1
        out.append((spec[i], int(spec[i + 1 : j])))
        i = j
    return out


B64URL = string.ascii_letters + string.digits + "-_"
ALNUM = string.ascii_letters + string.digits


def _body(alphabet: str, n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=n, max_size=n)


api_keys = st.one_of(
    st.tuples(st.sampled_from(["sk_live_", "sk_test_", "rk_live_", "rk_test_"]), _body(ALNUM, 24)),
    st.tuples(st.just("whsec_"), _body(ALNUM, 32)),
    st.tuples(st.sampled_from(["sk-", "sk-proj-", "sk-ant-api03-"]), _body(B64URL, 48)),
    st.tuples(st.sampled_from(["AKIA", "ASIA"]), _body(string.ascii_uppercase + string.digits, 16)),
    st.tuples(st.sampled_from(["ghp_", "gho_", "ghs_"]), _body(ALNUM, 36)),
    st.tuples(st.just("github_pat_"), _body(ALNUM + "_", 82)),
    st.tuples(st.sampled_from(["xoxb-", "xoxp-", "xoxa-"]), _body(ALNUM + "-", 40)),
    st.tuples(st.just("AIza"), _body(B64URL, 35)),
    st.tuples(st.just("sct_"), _body(B64URL, 43)),
).map("".join)


@st.composite
def jwts(draw: st.DrawFn) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    payload = draw(st.binary(min_size=2, max_size=60))
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{header}.{body}.{draw(_body(B64URL, 43))}"


@SETTINGS
@given(st.data())
def test_planted_emails_never_survive(data: st.DataObject) -> None:
    value = data.draw(emails())
    assert not survives(value, embed(data.draw, value))


@SETTINGS
@given(st.data())
def test_planted_cards_never_survive(data: st.DataObject) -> None:
    value = data.draw(cards())
    assert not survives(value, embed(data.draw, value))


@SETTINGS
@given(st.data())
def test_planted_ibans_never_survive(data: st.DataObject) -> None:
    value = data.draw(ibans())
    assert not survives(value, embed(data.draw, value))


@SETTINGS
@given(st.data())
def test_planted_api_keys_never_survive(data: st.DataObject) -> None:
    value = data.draw(api_keys)
    assert not survives(value, embed(data.draw, value))


@SETTINGS
@given(st.data())
def test_planted_jwts_never_survive(data: st.DataObject) -> None:
    value = data.draw(jwts())
    assert not survives(value, embed(data.draw, value))


@SETTINGS
@given(st.data(), st.text(alphabet=B64URL + ".~+/", min_size=8, max_size=80))
def test_bearer_tokens_never_survive(data: st.DataObject, token: str) -> None:
    assume(not (token.isalpha() and (token.islower() or token.istitle())))
    text = embed(data.draw, f"Authorization: Bearer {token}")
    assert f"Bearer {token}" not in REDACTOR.redact_text(text, {})


hex_ids = st.one_of(_body("0123456789abcdef", 32), _body("0123456789abcdef", 16))
iso_timestamps = st.builds(
    lambda dt, spec, z: dt.isoformat(timespec=spec) + z,
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
    st.sampled_from(["", "Z", "+00:00", "+05:30"]),
)
versions = st.builds(
    lambda v, a, b, c: f"{v}{a}.{b}.{c}", st.sampled_from(["", "v"]),
    st.integers(0, 99), st.integers(0, 999), st.integers(0, 9999),
)  # fmt: skip
order_ids = st.one_of(
    st.builds(lambda y, n: f"ORD-{y}-{n:06d}", st.integers(2000, 2099), st.integers(0, 999999)),
    st.builds(lambda n: f"#{n}", st.integers(1, 10**9)),
)
amounts = st.one_of(
    st.builds(lambda a, c: f"{a}.{c:02d}", st.integers(0, 10**9), st.integers(0, 99)),
    st.builds(lambda a, c: f"${a:,}.{c:02d}", st.integers(0, 10**9), st.integers(0, 99)),
)
# A 16-hex-digit span id made only of decimal digits is indistinguishable from a
# card number and is redacted as one if it passes Luhn (about 1 in 20,000 ids).
decoys = st.one_of(
    st.uuids(version=4).map(str), hex_ids.filter(lambda h: not h.isdigit()), iso_timestamps,
    versions, order_ids, amounts,
)  # fmt: skip


@SETTINGS
@given(prose, st.sampled_from([" ", ": ", "=", "(", '"', "/"]), decoys, st.sampled_from([" ", ") ", ", ", ""]), prose)
def test_decoys_in_prose_are_unchanged(left: str, sep: str, decoy: str, end: str, right: str) -> None:
    text = f"{left}{sep}{decoy}{end}{right}"
    counts: dict[str, int] = {}
    assert REDACTOR.redact_text(text, counts) == text
    assert counts == {}


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_and_is_stable(text: str) -> None:
    once = REDACTOR.redact_text(text, {})
    assert REDACTOR.redact_text(once, {}) == once


@SETTINGS
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
))  # fmt: skip
def test_arbitrary_json_values_keep_their_shape(value: object) -> None:
    out = REDACTOR.redact_value(value, {})
    assert type(out) is type(value)
    if isinstance(value, dict):
        assert isinstance(out, dict) and len(out) == len(value)
    if isinstance(value, list):
        assert isinstance(out, list) and len(out) == len(value)


ADVERSARIAL = [
    "1" * 100_000, "1 " * 50_000, "1-" * 50_000, "1." * 50_000, "a" * 100_000, "a@" * 50_000,
    "a." * 50_000, "a@b." * 25_000, ":" * 100_000, "1:" * 50_000, "f:" * 50_000, "(0" * 50_000,
    "+1 " * 33_000, "eyJ" * 33_000, "eyJa." * 20_000, "Bearer " * 14_000, "x?token=" * 12_000,
    "https://" * 12_000, "sk-" * 33_000, "DE89 " * 20_000, "4111 " * 20_000, " " + "9" * 100_000,
    str(uuid.UUID(int=0)) * 2_000,
]  # fmt: skip


def test_adversarial_inputs_are_linear() -> None:
    for text in ADVERSARIAL:
        started = time.perf_counter()
        REDACTOR.redact_text(text, {})
        elapsed = time.perf_counter() - started
        assert elapsed < 1.0, f"{text[:20]!r}... took {elapsed:.2f}s"
