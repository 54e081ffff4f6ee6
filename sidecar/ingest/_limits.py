"""Per-batch and per-record limits of the ingest pipeline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """What one batch and one record may hold; every limit has its own rejection reason."""

    max_records: int = 10_000
    max_record_bytes: int = 64 * 1024
    max_depth: int = 16
    max_string_length: int = 32 * 1024
    max_fields: int = 256
