"""Retention deletes, per level, the records past their age, in bounded batches, on both backends."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from sidecar.logs import LEVELS, SEVERITY, LogQuery, LogRecord
from sidecar.retention import RetentionJob
from sidecar.storage import Storage
from tests.helpers import log_record
from tests.storage.test_spans_contract import span as span_record

DAY = 86400.0
NOW = 1_750_000_000.0
RETENTION = {"debug": 3 * DAY, "info": 14 * DAY, "warn": 30 * DAY, "error": 90 * DAY, "fatal": 90 * DAY}


def record(level: str, age_days: float, index: int) -> LogRecord:
    ts = int((NOW - age_days * DAY) * 1e9) + index
    return log_record(
        ts=ts,
        observed=ts,
        severity=SEVERITY[level],
        level=level,
        service="api",
        message=f"{level} {age_days}d #{index}",
    )


async def test_each_level_keeps_its_own_retention(storage: Storage) -> None:
    records = [
        record(level, age, i)
        for i, (level, age) in enumerate((level, age) for level in LEVELS for age in (1, 5, 20, 60, 120))
    ]
    await storage.insert_logs(records)
    registry = CollectorRegistry()
    job = RetentionJob(storage, RETENTION, batch_size=2, interval=60, registry=registry, clock=lambda: NOW)
    deleted = await job.run_once()
    page = await storage.search_logs(LogQuery(limit=1000))
    kept = {(stored.record["level"], stored.record["message"].split()[1]) for stored in page.records}
    assert kept == {
        ("debug", "1d"),
        ("info", "1d"),
        ("info", "5d"),
        ("warn", "1d"),
        ("warn", "5d"),
        ("warn", "20d"),
        ("error", "1d"),
        ("error", "5d"),
        ("error", "20d"),
        ("error", "60d"),
        ("fatal", "1d"),
        ("fatal", "5d"),
        ("fatal", "20d"),
        ("fatal", "60d"),
    }
    assert deleted == len(records) - len(kept) == 11
    assert registry.get_sample_value("sidecar_logs_retention_deleted_total", {"level": "debug"}) == 4
    assert registry.get_sample_value("sidecar_logs_retention_deleted_total", {"level": "error"}) == 1
    assert await job.run_once() == 0  # nothing left to delete


async def test_trace_records_age_out_with_debug(storage: Storage) -> None:
    trace = {**record("debug", 10, 0), "severity": 1}
    await storage.insert_logs([trace, record("debug", 1, 1)])
    job = RetentionJob(storage, RETENTION, batch_size=10, interval=60, registry=CollectorRegistry(), clock=lambda: NOW)
    assert await job.run_once() == 1
    assert await storage.count_logs() == 1


async def test_large_backlogs_go_in_batches(storage: Storage) -> None:
    await storage.insert_logs([record("debug", 10, i) for i in range(25)])
    job = RetentionJob(storage, RETENTION, batch_size=4, interval=60, registry=CollectorRegistry(), clock=lambda: NOW)
    assert await job.run_once() == 25
    assert await storage.count_logs() == 0


async def test_spans_older_than_their_retention_go_in_batches(storage: Storage) -> None:
    ages = [1] * 3 + [9] * 7
    spans = [span_record(f"{i + 1:032x}", start=int((NOW - age * DAY) * 1e9)) for i, age in enumerate(ages)]
    await storage.insert_spans(spans)
    registry = CollectorRegistry()
    job = RetentionJob(
        storage, RETENTION, batch_size=2, interval=60, registry=registry, span_retention=7 * DAY, clock=lambda: NOW
    )
    assert await job.run_once() == 7
    assert await storage.count_spans() == 3
    assert registry.get_sample_value("sidecar_spans_retention_deleted_total") == 7
