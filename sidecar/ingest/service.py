"""The ingest service: admission, pipeline, durable spool and the writer, behind one small API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from sidecar.config import Config
from sidecar.errors import PayloadTooLarge, RateLimited, Unavailable
from sidecar.redact import RedactionPolicy, Redactor
from sidecar.stats import Observation
from sidecar.storage import Storage

from ._limits import IngestLimits
from ._metrics import IngestMetrics
from ._pipeline import BatchResult, process_batch, process_otlp_logs
from ._runner import PipelineRunner
from ._span_pipeline import SpanBatchResult, process_spans
from ._spool import Spool, SpoolFull
from ._writer import SPAN_CHECKPOINT, Batch, Sink, SpoolWriter

log = structlog.get_logger("sidecar.ingest")


def limits_from(config: Config) -> IngestLimits:
    """The pipeline limits configured under ``ingest``."""
    ingest = config.ingest
    return IngestLimits(
        max_records=ingest.max_records,
        max_record_bytes=ingest.max_record_size,
        max_depth=ingest.max_depth,
        max_string_length=ingest.max_string_length,
        max_fields=ingest.max_fields,
    )


class IngestService:
    """Accepts batches of log records and of spans, and makes them durable before they are acknowledged."""

    def __init__(
        self,
        config: Config,
        storage: Storage,
        registry: CollectorRegistry,
        policy: RedactionPolicy,
        *,
        sinks: Sequence[Sink] = (),
        error_sinks: Sequence[Sink] = (),
        span_sinks: Sequence[Sink] = (),
        observe: Callable[[list[Observation]], None] | None = None,
    ) -> None:
        self.redactor = Redactor(policy)
        self._observe = observe
        self._drain_timeout = config.server.shutdown_timeout / 2
        self.metrics = IngestMetrics.register(
            registry, max_services=config.ingest.max_services, kinds=self.redactor.kinds
        )
        self.runner = PipelineRunner(
            policy,
            limits_from(config),
            workers=config.ingest.worker_count,
            max_pending=config.ingest.max_pending_batches,
        )
        self._spool_max = config.spool.max_size
        folder = Path(config.data_dir) / config.spool.dir
        self.spool = _spool(config, folder)
        self.writer = _log_writer(self.spool, storage, self.metrics, self.runner, sinks, error_sinks)
        # Spans have a spool of their own (a folder inside the log spool's), drained by a writer of their own.
        self.span_spool = _spool(config, folder / "spans")
        self.span_writer = SpoolWriter(
            self.span_spool,
            storage,
            self.metrics.span_writer,
            store=lambda decoded, end: storage.insert_spans(decoded[0], checkpoint=end, encoded=decoded[1]),
            checkpoint=SPAN_CHECKPOINT,
            sinks=span_sinks,
        )

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp clean-up context: start everything, and on shutdown store what the spool holds."""
        await self.spool.open()
        await self.span_spool.open()
        await self.runner.start()
        await self.writer.start()
        await self.span_writer.start()
        self.metrics.spool_bytes.set(self.spool.size_bytes)
        self.metrics.span_spool_bytes.set(self.span_spool.size_bytes)
        yield
        await self.runner.close()
        for writer, spool in ((self.writer, self.spool), (self.span_writer, self.span_spool)):
            if not await writer.drain(self._drain_timeout):
                log.warning("spool not fully stored at shutdown; the rest is replayed at the next start")
            await writer.stop()
            await spool.close()

    async def ingest(self, body: bytes, content_type: str, *, otlp: bool = False) -> BatchResult:
        """Run one body (native JSON records, or with ``otlp`` an OTLP logs request) through the
        pipeline and make the accepted records durable."""
        started = time.perf_counter()
        self.metrics.queue_depth.set(self.runner.pending + 1)
        try:
            result = await self.runner.run(body, content_type, process_otlp_logs if otlp else process_batch)
        finally:
            self.metrics.queue_depth.set(self.runner.pending)
        if result.payload:
            await _append(self.spool, self.writer, result.payload)
            self.metrics.spool_bytes.set(self.spool.size_bytes)
        self.metrics.observe(result)
        self._count(result.observations)
        self.metrics.batch_duration.observe(time.perf_counter() - started)
        return result

    async def ingest_spans(self, body: bytes, content_type: str) -> SpanBatchResult:
        """Run one OTLP traces request through the span pipeline and make the accepted spans durable."""
        self.metrics.queue_depth.set(self.runner.pending + 1)
        try:
            result = await self.runner.run(body, content_type, process_spans)
        finally:
            self.metrics.queue_depth.set(self.runner.pending)
        if result.payload:
            await _append(self.span_spool, self.span_writer, result.payload)
            self.metrics.span_spool_bytes.set(self.span_spool.size_bytes)
        self.metrics.observe_spans(result)
        self._count(result.observations)
        return result

    def _count(self, observations: list[Observation]) -> None:
        # Once the items are durable: an acknowledged item is counted, a refused one is not.
        if self._observe is not None and observations:
            self._observe(observations)

    async def readiness(self) -> str | None:
        """Not ready while the workers start, or while the pipeline or the spool is full."""
        if not self.runner.ready:
            return "ingest workers are starting"
        if self.runner.pending >= self.runner.max_pending:
            return "ingest queue is full"
        for spool, writer in ((self.spool, self.writer), (self.span_spool, self.span_writer)):
            if spool.size_bytes >= self._spool_max * 0.95:
                return "spool is full" if writer.storage_healthy else "spool is full and storage is down"
        return None

    def fill_ratio(self) -> float:
        """How full ingest is, 0-1: the fuller of the pipeline queue and the two spools."""
        ratios = [self.runner.pending / self.runner.max_pending if self.runner.max_pending else 0.0]
        ratios += [spool.size_bytes / self._spool_max for spool in (self.spool, self.span_spool) if self._spool_max]
        return min(1.0, max(ratios))

    def pseudonymize_user(self, value: str) -> str | None:
        """The stored form of a user id given in a search (None when user ids are not kept)."""
        return self.redactor.pseudonymize(value) if self.redactor.can_pseudonymize else None


def _log_writer(
    spool: Spool,
    storage: Storage,
    metrics: IngestMetrics,
    runner: PipelineRunner,
    sinks: Sequence[Sink],
    error_sinks: Sequence[Sink],
) -> SpoolWriter:
    """The log spool's writer; ``sinks`` see every stored record, ``error_sinks`` those carrying an error.

    When the backend has a preparation step and no sink needs every record, the
    step runs on the pipeline workers: the sidecar's own process then only
    moves bytes, and hands the writes to storage.
    """
    prepare_logs = storage.prepare_logs
    if prepare_logs is None or sinks:

        def every_record(records: Sequence[Any]) -> None:
            for sink in sinks:
                sink(records)
            errors = [record for record in records if record["error"] is not None]
            for sink in error_sinks:
                sink(errors)

        return SpoolWriter(spool, storage, metrics.log_writer, sinks=[every_record])

    async def prepare(lines: list[bytes]) -> Batch:
        prepared = await runner.call(prepare_logs, lines)
        return Batch(prepared, prepared.errors, prepared.count)

    return SpoolWriter(
        spool,
        storage,
        metrics.log_writer,
        # A worker holds a batch decoded while it builds the blocks: smaller batches keep its memory down.
        batch_bytes=2 * 1024 * 1024,
        prepare=prepare,
        store=lambda prepared, end: storage.insert_prepared_logs(prepared, checkpoint=end),
        sinks=error_sinks,
    )


def _spool(config: Config, folder: Path) -> Spool:
    return Spool(
        folder, max_bytes=config.spool.max_size, segment_bytes=config.spool.segment_size, fsync=config.spool.fsync
    )


async def _append(spool: Spool, writer: SpoolWriter, payload: bytes) -> None:
    """Make ``payload`` durable in ``spool``; the errors a client can act on when it cannot be."""
    try:
        await spool.append(payload)
    except SpoolFull as exc:
        if not writer.storage_healthy:
            raise Unavailable("storage is down and the spool is full", retry_after=exc.retry_after) from None
        raise RateLimited("the spool is full; retry shortly", retry_after=exc.retry_after) from None
    except ValueError:
        # One frame larger than the whole spool: no retry can help.
        raise PayloadTooLarge("the batch is larger than the spool can hold; send smaller batches") from None
    except OSError as exc:
        log.error("spool write failed", error=str(exc))
        raise Unavailable("the spool cannot be written", retry_after=5) from None
