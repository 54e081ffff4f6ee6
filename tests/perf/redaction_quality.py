"""Redaction quality: recall and precision per kind on a labelled Faker corpus.

Run from the repository root:  python tests/perf/redaction_quality.py [--records N]

Every string in the corpus is built from labelled segments: planted values of
a known kind, decoys that must survive (ids, timestamps, versions, amounts...)
and locale-specific Faker filler (sentences, names, addresses, dates). The
redacted output is aligned back onto the original, and each replacement is
scored: a true positive if it covers a planted value of its kind, a false
positive otherwise. Exits 1 if any kind is below the goal.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import random
import re
import string
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from faker import Faker

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sidecar.redact import RedactionPolicy, Redactor

GOAL = 0.99
SEED = 20241125
# it_IT is left out: Faker writes Italian mobiles as bare digit runs ("3420837783"),
# which no context-free detector can tell from an order or account number.
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES")
# Faker's 12-digit Maestro numbers are outside the 13-19 digit card definition.
CARD_TYPES = ("visa16", "visa13", "visa19", "mastercard", "amex", "discover", "diners",
              "jcb15", "jcb16")  # fmt: skip
TOKEN = re.compile(r"\[REDACTED:([a-z0-9_]+)\]")
B64URL = string.ascii_letters + string.digits + "-_"
ALNUM = string.ascii_letters + string.digits


@dataclass
class Text:
    """A string built from labelled segments; ``spans`` holds (start, end, label)."""

    parts: list[str] = field(default_factory=list)
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    length: int = 0

    def add(self, value: str, label: str | None = None) -> Text:
        if label is not None:
            self.spans.append((self.length, self.length + len(value), label))
        self.parts.append(value)
        self.length += len(value)
        return self

    def value(self) -> str:
        return "".join(self.parts)


class Corpus:
    """Generates planted values, decoys and filler with a fixed seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers = {}
        for i, locale in enumerate(LOCALES):
            fake = Faker(locale)
            fake.seed_instance(seed + i)
            self.fakers[locale] = fake
        self.us = self.fakers["en_US"]

    def rand(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    # --- planted values: (prefix, secret part, suffix); only the secret part is labelled
    def email(self, fake: Faker) -> tuple[str, str, str]:
        return "", self.rng.choice([fake.email(), fake.free_email(), fake.company_email()]), ""

    def phone(self, fake: Faker) -> tuple[str, str, str]:
        return "", fake.phone_number(), ""

    def card(self, fake: Faker) -> tuple[str, str, str]:
        digits = fake.credit_card_number(card_type=self.rng.choice(CARD_TYPES))
        sep = self.rng.choice(["", " ", "-"])
        if len(digits) == 15 and digits[:2] in ("34", "37"):
            groups = [digits[:4], digits[4:10], digits[10:]]
        else:
            groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
        return "", sep.join(groups), ""

    def iban(self, fake: Faker) -> tuple[str, str, str]:
        value = fake.iban()
        if self.rng.random() < 0.5:
            value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return "", value, ""

    def ssn(self, fake: Faker) -> tuple[str, str, str]:
        return "", self.us.ssn(), ""

    def ip(self, fake: Faker) -> tuple[str, str, str]:
        roll = self.rng.random()
        if roll < 0.5:
            return "", fake.ipv4(), ""
        address = fake.ipv6()
        if roll < 0.75:
            address = ipaddress.IPv6Address(address).compressed
        return "", address, ""

    def jwt(self, fake: Faker) -> tuple[str, str, str]:
        def seg(obj: dict[str, object]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        header = seg({"alg": self.rng.choice(["HS256", "RS256"]), "typ": "JWT"})
        payload = seg({"sub": fake.uuid4(), "name": fake.name(), "iat": self.rng.randint(1, 2**31)})
        return "", f"{header}.{payload}.{self.rand(B64URL, 43)}", ""

    def secret(self, fake: Faker) -> tuple[str, str, str]:
        shapes = [
            lambda: self.rng.choice(["sk_live_", "sk_test_", "rk_live_"]) + self.rand(ALNUM, 24),
            lambda: "whsec_" + self.rand(ALNUM, 32),
            lambda: "sk-" + self.rand(ALNUM, 48),
            lambda: "sk-proj-" + self.rand(B64URL, 64),
            lambda: "sk-ant-api03-" + self.rand(B64URL, 80),
            lambda: self.rng.choice(["AKIA", "ASIA"]) + self.rand(string.ascii_uppercase + string.digits, 16),
            lambda: self.rng.choice(["ghp_", "gho_", "ghs_"]) + self.rand(ALNUM, 36),
            lambda: "github_pat_" + self.rand(ALNUM + "_", 82),
            lambda: "xoxb-" + "-".join(self.rand(string.digits, 12) for _ in range(2)) + "-" + self.rand(ALNUM, 24),
            lambda: "AIza" + self.rand(B64URL, 35),
            lambda: "sct_" + self.rand(B64URL, 43),
        ]  # fmt: skip
        return "", self.rng.choice(shapes)(), ""

    def bearer(self, fake: Faker) -> tuple[str, str, str]:
        if self.rng.random() < 0.3:
            creds = f"{fake.user_name()}:{fake.password()}".encode()
            return "Authorization: Basic ", base64.b64encode(creds).decode(), ""
        return "Authorization: Bearer ", self.rand(B64URL, self.rng.randint(20, 64)), ""

    def url_credentials(self, fake: Faker) -> tuple[str, str, str]:
        creds = f"{quote(fake.user_name(), safe='')}:{quote(fake.password(), safe='')}"
        return "https://", creds, f"@{fake.domain_name()}/{fake.uri_path()}"

    def url_secret_param(self, fake: Faker) -> tuple[str, str, str]:
        name = self.rng.choice(["token", "access_token", "api_key", "signature", "code", "sig"])
        value = self.rand(B64URL, self.rng.randint(12, 40))
        return f"https://{fake.domain_name()}/{fake.uri_path()}?page=2&{name}=", value, "&lang=en"

    # --- decoys: must come out unchanged
    def decoy(self, fake: Faker) -> str:
        rng = self.rng
        when = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 86400 * 700))
        choices = [
            lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            lambda: "req_" + self.rand("0123456789abcdef", 24),
            lambda: self.rand("0123456789abcdef", 32),
            lambda: self.rand("0123456789abcdef", 16),
            lambda: when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            lambda: when.strftime("%Y-%m-%d %H:%M:%S"),
            lambda: f"{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}",
            lambda: f"v{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}",
            lambda: f"ORD-{rng.randint(2019, 2026)}-{rng.randint(0, 999999):06d}",
            lambda: f"#{rng.randint(100000, 999999)}",
            lambda: f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}",
            lambda: f"${rng.randint(1, 9)},{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}",
            lambda: f"/api/v{rng.randint(1, 3)}/users/{rng.randint(1, 99999)}/orders",
            lambda: str(rng.choice([200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 503])),
            lambda: f"{rng.randint(1, 99999)}ms",
            lambda: rng.choice(["api.internal", "db-1.prod.svc.cluster.local", "cache-2.eu-west-1"]),
            lambda: str(int(when.timestamp() * 1000)),
            lambda: str(int(when.timestamp())),
            lambda: f"{rng.randint(1, 99)}.{rng.randint(0, 9)}s",
            lambda: f"{rng.randint(1, 3)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}-beta.{rng.randint(1, 9)}",
            lambda: f"v{rng.randint(1, 12)}.0.0.{rng.randint(1, 9)}-beta",
            lambda: when.strftime(rng.choice(["%d.%m.%Y", "%d/%m/%Y", "%d.%m.%Y %H:%M", "%H:%M:%S"])),
            lambda: f"sha256:{self.rand('0123456789abcdef', 64)}",
            lambda: self.rand("0123456789abcdef", rng.choice([7, 40])),
            lambda: ":".join(self.rand("0123456789abcdef", 2) for _ in range(6)),
            lambda: f"{rng.randint(1, 999)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}",
            lambda: f"{rng.randint(1, 99)}.{rng.randint(0, 999):03d},{rng.randint(0, 99):02d} €",
            lambda: f"bytes={rng.randint(1, 10**9)}",
            lambda: f"localhost:{rng.randint(1024, 65535)}",
            lambda: f"checkout-{self.rand('0123456789abcdef', 9)}-{self.rand('bcdfghjklmnpqrstvwxz2456789', 5)}",
            lambda: f"{rng.randint(90, 99)}.{rng.randint(0, 99):02d}%",
            lambda: f"HTTP/1.1 {rng.choice([200, 404, 503])}",
            lambda: fake.date(),
            lambda: fake.postcode(),
            lambda: fake.street_address(),
        ]
        return rng.choice(choices)()

    def filler(self, fake: Faker) -> str:
        roll = self.rng.random()
        if roll < 0.6:
            return " ".join(fake.words(self.rng.randint(1, 4)))
        if roll < 0.8:
            return fake.name()
        return fake.company()


PLANTED = ("email", "phone", "card", "iban", "ssn", "ip", "jwt", "secret", "bearer",
           "url_credentials", "url_secret_param")  # fmt: skip
SECRET_FIELDS = ("password", "api_key", "X-Api-Key", "db_password", "sessionId", "cookie")


def build_message(corpus: Corpus, fake: Faker, with_pii: bool) -> Text:
    text = Text()
    items: list[tuple[str, object]] = [("decoy", None)] * corpus.rng.randint(1, 3)
    if with_pii:
        items += [(corpus.rng.choice(PLANTED), None) for _ in range(corpus.rng.randint(1, 3))]
    corpus.rng.shuffle(items)
    text.add(corpus.filler(fake))
    for label, _ in items:
        text.add(corpus.rng.choice([" ", ": ", " = ", " (", ", "]))
        if label == "decoy":
            text.add(corpus.decoy(fake), "decoy")
        else:
            prefix, secret, suffix = getattr(corpus, label)(fake)
            text.add(prefix).add(secret, label).add(suffix)
        text.add(corpus.rng.choice([" ", ") ", ", ", "; "]) + corpus.filler(fake))
    return text


def build_record(corpus: Corpus) -> tuple[dict[str, object], dict[str, Text], dict[str, str]]:
    """Return the record, its labelled strings by field and the whole-value labels."""
    rng = corpus.rng
    fake = corpus.fakers[rng.choice(LOCALES)]
    with_pii = rng.random() < 0.5
    texts = {"message": build_message(corpus, fake, with_pii)}
    for name in ("note", "detail"):
        if rng.random() < 0.5:
            texts[name] = build_message(corpus, fake, with_pii and rng.random() < 0.5)
    texts["requestId"] = Text().add("req_" + corpus.rand("0123456789abcdef", 24), "decoy")
    texts["traceId"] = Text().add(corpus.rand("0123456789abcdef", 32), "decoy")
    texts["route"] = Text().add(corpus.decoy(fake), "decoy")
    whole: dict[str, str] = {"userId": "user"}
    record: dict[str, object] = {name: t.value() for name, t in texts.items()}
    record["userId"] = f"u-{rng.randint(1, 10**9)}"
    record["status"] = rng.choice([200, 404, 500])
    if with_pii and rng.random() < 0.5:
        secret_field = rng.choice(SECRET_FIELDS)
        record[secret_field] = corpus.rand(ALNUM, 20)
        whole[secret_field] = "key"
    return record, texts, whole


def align(original: str, output: str) -> list[tuple[int, int, str]] | None:
    """Map each ``[REDACTED:kind]`` in ``output`` to the span of ``original`` it replaced."""
    pieces = TOKEN.split(output)  # literal, kind, literal, kind, ..., literal
    if not original.startswith(pieces[0]) or not original.endswith(pieces[-1]):
        return None
    spans, pos = [], len(pieces[0])
    for i in range(1, len(pieces), 2):
        literal = pieces[i + 1]
        if i + 2 == len(pieces):
            end = len(original) - len(literal)
        else:
            end = original.find(literal, pos + 1) if literal else pos + 1
        if end <= pos:
            return None
        spans.append((pos, end, pieces[i]))
        pos = end + len(literal)
    return spans


@dataclass
class Score:
    planted: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)  # planted values covered, right kind
    leaked: Counter[str] = field(default_factory=Counter)  # planted values surviving in part
    replacements: Counter[str] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)
    decoys: int = 0
    decoys_altered: int = 0
    examples: list[str] = field(default_factory=list)

    def score_text(self, field_name: str, text: Text, output: str) -> None:
        original = text.value()
        spans = align(original, output)
        if spans is None:
            raise SystemExit(f"cannot align output of {field_name!r}: {output!r}")
        for start, end, label in text.spans:
            covering = [s for s in spans if s[0] < end and s[1] > start]
            if label == "decoy":
                self.decoys += 1
                if covering:
                    self.decoys_altered += 1
                    self._example("decoy altered", original[start:end], original)
                continue
            self.planted[label] += 1
            if any(s[0] <= start and s[1] >= end and s[2] == label for s in covering):
                self.found[label] += 1
            else:
                self._example(f"{label} missed", original[start:end], original)
            if original[start:end] in output:
                self.leaked[label] += 1
        for start, end, kind in spans:
            self.replacements[kind] += 1
            if any(lab == kind and start <= s and end >= e for s, e, lab in text.spans):
                self.correct[kind] += 1
            else:
                self._example(f"false {kind}", original[start:end], original)

    def _example(self, what: str, value: str, context: str) -> None:
        if len(self.examples) < 25:
            self.examples.append(f"  {what}: {value!r} in {context!r}")


def evaluate(records: int) -> Score:
    corpus = Corpus(SEED)
    redactor = Redactor(RedactionPolicy())
    score = Score()
    for _ in range(records):
        record, texts, whole = build_record(corpus)
        counts: dict[str, int] = {}
        output = redactor.redact_value(record, counts)
        assert isinstance(output, dict)
        for name, text in texts.items():
            score.score_text(name, text, output[name])
        for name, kind in whole.items():
            score.planted[kind] += 1
            score.replacements[kind] += 1
            if output[name] == f"[REDACTED:{kind}]":
                score.found[kind] += 1
                score.correct[kind] += 1
            if output[name] == record[name]:
                score.leaked[kind] += 1
        # Whole-value kinds must not be reported for fields that were not planted.
        for kind in ("key", "user"):
            extra = counts.get(kind, 0) - sum(1 for k in whole.values() if k == kind)
            score.replacements[kind] += max(0, extra)
    return score


def report(score: Score) -> bool:
    print(f"{'kind':<18}{'planted':>8}{'found':>8}{'leaked':>8}{'replaced':>9}{'wrong':>7}"
          f"{'recall':>9}{'precision':>11}")  # fmt: skip
    ok = True
    for kind in (*PLANTED, "key", "user"):
        planted, found = score.planted[kind], score.found[kind]
        replaced, correct = score.replacements[kind], score.correct[kind]
        recall = found / planted if planted else 1.0
        precision = correct / replaced if replaced else 1.0
        flag = "" if recall >= GOAL and precision >= GOAL else "  <-- below goal"
        ok = ok and not flag
        print(f"{kind:<18}{planted:>8}{found:>8}{score.leaked[kind]:>8}{replaced:>9}"
              f"{replaced - correct:>7}{recall:>9.4f}{precision:>11.4f}{flag}")  # fmt: skip
    print(f"decoys: {score.decoys}, altered: {score.decoys_altered}")
    if score.examples:
        print("examples of errors:")
        print("\n".join(score.examples))
    print(f"goal: recall and precision >= {GOAL} for every kind -> {'MET' if ok else 'NOT MET'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    args = parser.parse_args()
    print(f"corpus: {args.records} records, locales {', '.join(LOCALES)}, seed {SEED}")
    sys.exit(0 if report(evaluate(args.records)) else 1)


if __name__ == "__main__":
    main()
