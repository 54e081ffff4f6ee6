"""The ingest service: admission, pipeline, durable spool and the writer, behind one small API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

from sidecar.config import Config
from sidecar.errors import PayloadTooLarge, RateLimited, Unavailable
from sidecar.redact import RedactionPolicy, Redactor
from sidecar.storage import Storage

from ._limits import IngestLimits
from ._metrics import IngestMetrics
from ._pipeline import BatchResult, process_batch, process_otlp_logs
from ._runner import PipelineRunner
from ._spool import Spool, SpoolFull
from ._writer import Sink, SpoolWriter

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
    """Accepts batches of log records and makes them durable before they are acknowledged."""

    def __init__(
        self,
        config: Config,
        storage: Storage,
        registry: CollectorRegistry,
        policy: RedactionPolicy,
        *,
        sinks: Sequence[Sink] = (),
    ) -> None:
        self.redactor = Redactor(policy)
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
        self.spool = Spool(
            Path(config.data_dir) / config.spool.dir,
            max_bytes=config.spool.max_size,
            segment_bytes=config.spool.segment_size,
            fsync=config.spool.fsync,
        )
        self.writer = SpoolWriter(self.spool, storage, self.metrics, sinks=sinks)

    async def lifecycle(self, _app: object) -> AsyncIterator[None]:
        """aiohttp clean-up context: start everything, and on shutdown store what the spool holds."""
        await self.spool.open()
        await self.runner.start()
        await self.writer.start()
        self.metrics.spool_bytes.set(self.spool.size_bytes)
        yield
        await self.runner.close()
        if not await self.writer.drain(self._drain_timeout):
            log.warning("spool not fully stored at shutdown; the rest is replayed at the next start")
        await self.writer.stop()
        await self.spool.close()

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
            try:
                await self.spool.append(result.payload)
            except SpoolFull as exc:
                if not self.writer.storage_healthy:
                    raise Unavailable("storage is down and the spool is full", retry_after=exc.retry_after) from None
                raise RateLimited("the spool is full; retry shortly", retry_after=exc.retry_after) from None
            except ValueError:
                # One frame larger than the whole spool: no retry can help.
                raise PayloadTooLarge("the batch is larger than the spool can hold; send smaller batches") from None
            except OSError as exc:
                log.error("spool write failed", error=str(exc))
                raise Unavailable("the spool cannot be written", retry_after=5) from None
            self.metrics.spool_bytes.set(self.spool.size_bytes)
        self.metrics.observe(result)
        self.metrics.batch_duration.observe(time.perf_counter() - started)
        return result

    async def readiness(self) -> str | None:
        """Not ready while the workers start, or while the pipeline or the spool is full."""
        if not self.runner.ready:
            return "ingest workers are starting"
        if self.runner.pending >= self.runner.max_pending:
            return "ingest queue is full"
        if self.spool.size_bytes >= self._spool_max * 0.95:
            return "spool is full" if self.writer.storage_healthy else "spool is full and storage is down"
        return None

    def pseudonymize_user(self, value: str) -> str | None:
        """The stored form of a user id given in a search (None when user ids are not kept)."""
        return self.redactor.pseudonymize(value) if self.redactor.can_pseudonymize else None
