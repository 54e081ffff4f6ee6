"""The whole pipeline over one body: split, normalize, redact, serialize."""

from __future__ import annotations

import orjson
import pytest

from sidecar.errors import BadRequest, PayloadTooLarge
from sidecar.ingest import IngestLimits, process_batch
from sidecar.redact import RedactionPolicy, Redactor

NOW = 1_700_000_000_000_000_000
KEYED = Redactor(RedactionPolicy(pseudonym_key=b"k" * 32))
UNKEYED = Redactor(RedactionPolicy())


def run(body: bytes, content_type: str = "application/x-ndjson", redactor: Redactor = KEYED, **limits: int):
    return process_batch(body, content_type, NOW, redactor, IngestLimits(**limits))


def stored(result) -> list[dict]:
    return [orjson.loads(line) for line in result.payload.splitlines()]


def test_payload_is_ndjson_of_redacted_records_with_counts() -> None:
    body = b'{"message": "mail jane@example.com", "service": "api", "userId": "u1"}\n{"message": "ok"}\n'
    result = run(body)
    records = stored(result)
    assert result.accepted == 2 and result.rejected == []
    assert records[0]["message"] == "mail [REDACTED:email]"
    assert records[0]["user"] == KEYED.pseudonymize("u1")
    assert result.redactions["email"] == 1 and result.redactions["user"] == 1
    assert result.received == {("api", "info"): 1, ("", "info"): 1}


def test_without_a_key_user_ids_are_redacted_not_kept() -> None:
    records = stored(run(b'{"userId": "u1"}', redactor=UNKEYED))
    assert records[0]["user"] == "[REDACTED:user]"


def test_json_object_and_array() -> None:
    assert run(b'{"message": "a"}', "application/json").accepted == 1
    assert run(b'[{"message": "a"}, {"message": "b"}, 5]', "application/json").accepted == 2


def test_unparseable_json_body_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        run(b'{"message": ', "application/json")
    with pytest.raises(BadRequest):
        run(b'"just a string"', "application/json")


def test_blank_ndjson_lines_are_skipped_and_indices_count_records() -> None:
    result = run(b'\n{"message": "a"}\n\n   \n{bad\n{"message": "b"}\n')
    assert result.accepted == 2
    assert result.rejected == [(1, "not valid JSON")]
    assert result.rejected_codes == {"invalid_json": 1}


def test_batch_and_record_size_limits() -> None:
    with pytest.raises(PayloadTooLarge):
        run(b'{"m": 1}\n' * 11, max_records=10)
    result = run(b'{"message": "' + b"x" * 200 + b'"}\n{"message": "small"}\n', max_record_bytes=100)
    assert result.accepted == 1 and result.rejected_codes == {"too_large": 1}
    array = run(b'[{"message": "' + b"x" * 200 + b'"}, {"message": "small"}]', "application/json", max_record_bytes=100)
    assert array.accepted == 1 and array.rejected == [(0, "record is larger than 100 bytes")]


def test_empty_body_accepts_nothing() -> None:
    result = run(b"")
    assert result.accepted == 0 and result.payload == b""


def test_a_record_whose_redaction_fails_is_quarantined_not_stored() -> None:
    deep: dict = {}
    node = deep
    for _ in range(80):  # deeper than the redactor's own recursion guard
        node["a"] = {}
        node = node["a"]
    body = orjson.dumps({"message": "ok"}) + b"\n" + orjson.dumps({"message": "x", "metadata": deep})
    result = run(body, max_depth=200, max_fields=1000)
    assert result.accepted == 1
    assert result.quarantined == 1
    assert result.rejected == [(1, "quarantined: redaction failed")]
    assert b'"x"' not in result.payload
