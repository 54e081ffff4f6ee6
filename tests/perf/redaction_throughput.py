"""Redaction throughput: records/s on one core, against a naive baseline.

Run from the repository root:  python tests/perf/redaction_throughput.py [--records N]

Records look like the sidecar's log ingest: a message from a handful of
templates with fresh ids and values, service, ids, a user id to pseudonymise
and a small metadata dict; about 40% carry some PII. The naive baseline does
what a first implementation would: every detector's regex applied in
sequence to every string (Luhn and mod-97 on candidates, the same key rule).
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import string
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sidecar.redact import RedactionPolicy, Redactor

SEED = 7
HEX = "0123456789abcdef"
SERVICES = ("checkout", "payments", "catalog", "auth", "notifications", "search")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
)


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(HEX) for _ in range(n))


def _luhn_card(rng: random.Random) -> str:
    digits = [4] + [rng.randint(0, 9) for _ in range(14)]
    total = sum(d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return " ".join(text[i : i + 4] for i in range(0, 16, 4))


def clean_message(rng: random.Random) -> str:
    return rng.choice(
        [
            lambda: (
                f"GET /api/v1/users/{rng.randint(1, 99999)}/orders completed in "
                f"{rng.randint(1, 2000)}ms status={rng.choice([200, 201, 404])}"
            ),
            lambda: (
                f"payment authorized for order ORD-2024-{rng.randint(0, 999999):06d} amount "
                f"{rng.randint(1, 5000)}.{rng.randint(0, 99):02d} EUR"
            ),
            lambda: f"cache miss for key product:{rng.randint(1, 10**6)} after {rng.randint(1, 90)}ms",
            lambda: f"retrying upstream call attempt={rng.randint(1, 5)} backoff={rng.randint(10, 900)}ms",
            lambda: f"job {_hex(rng, 12)} finished at 2024-11-25T08:{rng.randint(10, 59)}:00.123Z",
        ]
    )()


def pii_message(rng: random.Random) -> str:
    user = "".join(rng.choice(string.ascii_lowercase) for _ in range(8))
    return rng.choice(
        [
            lambda: f"user {user}@example.com logged in from 10.{rng.randint(0, 255)}.0.{rng.randint(1, 254)}",
            lambda: f"sending sms to +44 20 7946 {rng.randint(1000, 9999)} for order #{rng.randint(10**5, 10**6)}",
            lambda: f"charge failed for card {_luhn_card(rng)}: insufficient funds",
            lambda: f"upstream GET https://api.partner.com/v2/items?page=2&api_key={_hex(rng, 32)} -> 200",
            lambda: f"rejected Authorization: Bearer {_hex(rng, 40)} (expired)",
            lambda: f"callback from (415) 555-{rng.randint(1000, 9999)} recorded",
        ]
    )()


def make_records(n: int) -> list[bytes]:
    """JSON-encoded records, decoded afresh per run as the ingest path would."""
    rng = random.Random(SEED)
    records = []
    for _ in range(n):
        has_pii = rng.random() < 0.4
        metadata: dict[str, object] = {
            "route": f"/api/v1/users/{rng.randint(1, 99999)}/orders",
            "method": rng.choice(["GET", "POST"]),
            "status": rng.choice([200, 200, 201, 404, 500]),
            "duration_ms": rng.randint(1, 3000),
            "user_agent": rng.choice(USER_AGENTS),
        }
        if has_pii and rng.random() < 0.3:
            metadata["client_ip"] = f"203.0.113.{rng.randint(1, 254)}"
        record = {
            "timestamp": f"2024-11-25T08:{rng.randint(10, 59)}:{rng.randint(10, 59)}.123Z",
            "level": rng.choice(["info", "info", "warn", "error"]),
            "service": rng.choice(SERVICES),
            "message": pii_message(rng) if has_pii else clean_message(rng),
            "requestId": "req_" + _hex(rng, 24),
            "traceId": _hex(rng, 32),
            "spanId": _hex(rng, 16),
            "userId": f"u_{rng.randint(1, 50000)}",
            "metadata": metadata,
        }
        records.append(orjson.dumps(record))
    return records


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _mod97(iban: str) -> bool:
    compact = iban.replace(" ", "")
    return int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1


# What a first implementation looks like: one conventional regex per kind.
NAIVE_RULES: list[tuple[str, str, Callable[[str], bool] | None]] = [
    ("url_credentials", r"(?<=://)[^\s/?#@:]+:[^\s/?#@]*(?=@)", None),
    ("url_secret_param", r"(?i)(?<=[?&])(?:token|access_token|password|passwd|secret|api_key|apikey"
     r"|key|signature|sig|auth|code|session)=[^&\s#]+", None),
    ("bearer", r"(?<=Bearer )[A-Za-z0-9\-._~+/]{8,}=*", None),
    ("jwt", r"\beyJ[\w-]+\.[\w-]+\.[\w-]*", None),
    ("secret", r"\b(?:(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,}|whsec_\w{16,}|sk-[\w-]{20,}"
     r"|A(?:KIA|SIA)[A-Z0-9]{16}|gh[pousr]_\w{30,}|github_pat_\w{22,}|xox[abpors]-[\w-]{10,}"
     r"|AIza[\w-]{35}|sct_[\w-]{43})", None),
    ("email", r"\b[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b", None),
    ("iban", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", _mod97),
    ("card", r"\b\d(?:[ -]?\d){12,18}\b", lambda m: _luhn(re.sub(r"\D", "", m))),
    ("ssn", r"\b\d{3}-\d{2}-\d{4}\b", None),
    ("ip", r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b", None),
    ("ip", r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b|\b(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{0,4}\b", None),
    ("phone", r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}[ .-]?\d{3,4}[ .-]?\d{3,4}\b", None),
]  # fmt: skip


class NaiveRedactor:
    """Baseline: one ``re.sub`` per kind per string, no pre-filter, no caches."""

    def __init__(self) -> None:
        self.rules = [(kind, re.compile(source), check) for kind, source, check in NAIVE_RULES]
        self.secret_keys = re.compile(RedactionPolicy().secret_keys, re.IGNORECASE)

    def text(self, text: str, counts: dict[str, int]) -> str:
        for kind, regex, check in self.rules:

            def replace(m: re.Match[str], kind: str = kind, check=check) -> str:
                if check is not None and not check(m.group()):
                    return m.group()
                counts[kind] = counts.get(kind, 0) + 1
                return f"[REDACTED:{kind}]"

            text = regex.sub(replace, text)
        return text

    def value(self, value: object, counts: dict[str, int]) -> object:
        if isinstance(value, str):
            return self.text(value, counts)
        if isinstance(value, list):
            return [self.value(v, counts) for v in value]
        if isinstance(value, dict):
            return {
                self.text(k, counts): "[REDACTED:key]" if self.secret_keys.search(k) else self.value(v, counts)
                for k, v in value.items()
            }  # fmt: skip
        return value


Redact = Callable[[object, dict[str, int]], object]


def measure(name: str, make: Callable[[], Redact], raw: list[bytes]) -> float:
    """Best of three runs, each with a fresh redactor (cold caches) over fresh objects."""
    best = 0.0
    for _ in range(3):
        decoded = [orjson.loads(r) for r in raw]
        redact, counts = make(), dict[str, int]()
        gc.collect()
        start = time.perf_counter()
        for record in decoded:
            redact(record, counts)
        best = max(best, len(decoded) / (time.perf_counter() - start))
    print(f"{name:<38}{best:>14,.0f}{1e6 / best:>12.2f}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    args = parser.parse_args()
    raw = make_records(args.records)
    policy = RedactionPolicy(pseudonym_key=b"benchmark-key-0123456789abcdef!!")
    print(f"{args.records} records, ~40% with PII, best of 3 runs, one core")
    print(f"{'implementation':<38}{'records/s':>14}{'us/record':>12}")
    naive = measure("naive (one regex pass per detector)", lambda: NaiveRedactor().value, raw)
    fast = measure("sidecar.redact.Redactor.redact_value", lambda: Redactor(policy).redact_value, raw)
    print(f"speed-up: {fast / naive:.1f}x")


if __name__ == "__main__":
    main()
