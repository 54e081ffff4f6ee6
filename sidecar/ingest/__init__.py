"""Log ingestion: parse, validate, redact, spool durably, store.

This module exports the pure pipeline and the spool only: worker processes
import it, and they must start fast. The service that wires the pipeline to
storage and metrics is :mod:`sidecar.ingest.service`.
"""

from ._limits import IngestLimits
from ._pipeline import JSON_TYPE, NDJSON_TYPES, BatchResult, process_batch, split_body
from ._spool import Spool, SpoolFull, SpoolPosition

__all__ = [
    "JSON_TYPE",
    "NDJSON_TYPES",
    "BatchResult",
    "IngestLimits",
    "Spool",
    "SpoolFull",
    "SpoolPosition",
    "process_batch",
    "split_body",
]
