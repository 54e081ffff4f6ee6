"""The span model: what the OTLP codec produces is exactly a SpanRecord, and plain JSON."""

from __future__ import annotations

import typing

import orjson

from sidecar.otlp import spans_of
from sidecar.traces import SpanEvent, SpanRecord
from tests.otlp.sdk import export_spans


def test_decoded_spans_have_exactly_the_model_fields_and_round_trip_as_json() -> None:
    def record(tracer: typing.Any) -> None:
        with tracer.start_as_current_span("checkout") as span:
            span.add_event("exception", {"exception.type": "ValueError"})

    spans, reasons = spans_of(export_spans(record))
    assert reasons == [] and len(spans) == 1
    [span] = spans
    assert set(span) == set(typing.get_type_hints(SpanRecord))
    assert set(span["events"][0]) == set(typing.get_type_hints(SpanEvent))
    assert orjson.loads(orjson.dumps(span)) == span
