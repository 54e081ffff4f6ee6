"""Spans: the data model (plain data, no I/O)."""

from ._model import SpanEvent, SpanKind, SpanRecord, StatusCode

__all__ = ["SpanEvent", "SpanKind", "SpanRecord", "StatusCode"]
