"""Metrics of the ingest pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sidecar.telemetry import HTTP_BUCKETS, BoundedLabel

from ._pipeline import BatchResult
from ._span_pipeline import SpanBatchResult
from ._writer import WriterMetrics

REJECTION_CODES = (
    "not_an_object",
    "invalid_json",
    "invalid_level",
    "invalid_timestamp",
    "invalid_field",
    "string_too_long",
    "too_deep",
    "too_many_fields",
    "too_large",
    "quarantined",
)


@dataclass(slots=True)
class IngestMetrics:
    """Counters and gauges of ``sidecar_logs_*``, ``sidecar_pii_*``, ``sidecar_spool_*`` and ``sidecar_ingest_*``."""

    received: Counter
    rejected: Counter
    quarantined: Counter
    redactions: Counter
    stored: Counter
    spool_bytes: Gauge
    storage_up: Gauge
    queue_depth: Gauge
    batch_duration: Histogram
    storage_write_duration: Histogram
    spans_received: Counter
    spans_rejected: Counter
    spans_stored: Counter
    span_spool_bytes: Gauge
    service_label: BoundedLabel

    @classmethod
    def register(cls, registry: CollectorRegistry, *, max_services: int, kinds: tuple[str, ...]) -> IngestMetrics:
        """Create the metrics; known label values start at zero so rates work from the first scrape."""
        metrics = cls(
            received=Counter("sidecar_logs_received", "Log records accepted.", ["service", "level"], registry=registry),
            rejected=Counter("sidecar_logs_rejected", "Log records rejected.", ["reason"], registry=registry),
            quarantined=Counter(
                "sidecar_logs_quarantined", "Records whose redaction failed; never stored.", registry=registry
            ),
            redactions=Counter(
                "sidecar_pii_redactions", "Values redacted from ingested records.", ["kind"], registry=registry
            ),
            stored=Counter("sidecar_logs_stored", "Log records written to storage.", registry=registry),
            spool_bytes=Gauge(
                "sidecar_spool_bytes", "Bytes held by the write-ahead spool (not yet released).", registry=registry
            ),
            storage_up=Gauge(
                "sidecar_storage_up", "1 while writes to storage succeed, 0 after one failed.", registry=registry
            ),
            queue_depth=Gauge("sidecar_ingest_queue_depth", "Batches being processed now.", registry=registry),
            batch_duration=Histogram(
                "sidecar_ingest_batch_duration_seconds",
                "Time from receiving a batch to acknowledging it (durable).",
                buckets=HTTP_BUCKETS,
                registry=registry,
            ),
            storage_write_duration=Histogram(
                "sidecar_storage_write_duration_seconds",
                "Time to write one batch of records to storage.",
                buckets=HTTP_BUCKETS,
                registry=registry,
            ),
            spans_received=Counter("sidecar_spans_received", "Spans accepted.", ["service"], registry=registry),
            spans_rejected=Counter(
                "sidecar_spans_rejected", "Spans rejected (invalid, or redaction failed).", registry=registry
            ),
            spans_stored=Counter("sidecar_spans_stored", "Spans written to storage.", registry=registry),
            span_spool_bytes=Gauge(
                "sidecar_span_spool_bytes", "Bytes held by the span spool (not yet released).", registry=registry
            ),
            service_label=BoundedLabel(max_services),
        )
        metrics.storage_up.set(1)
        for code in REJECTION_CODES:
            metrics.rejected.labels(code)
        for kind in kinds:
            metrics.redactions.labels(kind)
        return metrics

    @property
    def log_writer(self) -> WriterMetrics:
        """What the log spool's writer counts."""
        return WriterMetrics(self.stored, self.spool_bytes, self.storage_up, self.storage_write_duration)

    @property
    def span_writer(self) -> WriterMetrics:
        """What the span spool's writer counts."""
        return WriterMetrics(self.spans_stored, self.span_spool_bytes, self.storage_up, self.storage_write_duration)

    def observe_spans(self, result: SpanBatchResult) -> None:
        """Count what one traces request produced."""
        for service, count in result.received.items():
            self.spans_received.labels(self.service_label(service)).inc(count)
        if result.rejected:
            self.spans_rejected.inc(len(result.rejected))
        for kind, count in result.redactions.items():
            self.redactions.labels(kind).inc(count)

    def observe(self, result: BatchResult) -> None:
        """Count what one batch produced."""
        for (service, level), count in result.received.items():
            self.received.labels(self.service_label(service), level).inc(count)
        for code, count in result.rejected_codes.items():
            self.rejected.labels(code).inc(count)
        if result.quarantined:
            self.quarantined.inc(result.quarantined)
            self.rejected.labels("quarantined").inc(result.quarantined)
        for kind, count in result.redactions.items():
            self.redactions.labels(kind).inc(count)
