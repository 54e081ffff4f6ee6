"""Log ingestion: parse, validate, redact, spool durably, store.

This module exports the pure pipeline and the spool only: worker processes
import it, and they must start fast. The service that wires the pipeline to
storage and metrics is :mod:`sidecar.ingest.service`.
"""

from ._limits import IngestLimits
from ._normalize import (
    LEVEL_ALIASES,
    MAX_TIME_NS,
    Rejected,
    bounded_string,
    check_structure,
    duration_of,
    error_info,
    normalize,
)
from ._pipeline import JSON_TYPE, NDJSON_TYPES, BatchResult, process_batch, redact_record, split_body
from ._span_pipeline import SpanBatchResult, process_spans
from ._spool import Spool, SpoolFull, SpoolPosition

__all__ = [
    "JSON_TYPE",
    "LEVEL_ALIASES",
    "MAX_TIME_NS",
    "NDJSON_TYPES",
    "BatchResult",
    "IngestLimits",
    "Rejected",
    "SpanBatchResult",
    "Spool",
    "SpoolFull",
    "SpoolPosition",
    "bounded_string",
    "check_structure",
    "duration_of",
    "error_info",
    "normalize",
    "process_batch",
    "process_spans",
    "redact_record",
    "split_body",
]
