"""The error-tracking service on real storage: sinks, listeners, saving, restoring, surviving a storage outage."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from sidecar.errortracking import ErrorEvent
from sidecar.errortracking.service import NAMESPACE, ErrorTrackingService
from sidecar.storage import Storage
from tests.errortracking.factories import TS, log

NOW = TS / 1e9 + 60


def error(message: str) -> dict[str, str]:
    return {"type": "ValueError", "message": message, "stack": None}


async def test_groups_are_saved_restored_and_events_told(storage_factory: Callable[[], Storage]) -> None:
    store = storage_factory()
    await store.open()
    try:
        service = ErrorTrackingService(store, CollectorRegistry(), clock=lambda: NOW)
        events: list[ErrorEvent] = []
        service.subscribe(events.append)
        service.log_sink([log(error=error("bad input 1")), log(error=error("bad input 2")), log(level="info")])
        assert [event.kind for event in events] == ["new_group"]
        await service.flush()
        saved = await store.list_state(NAMESPACE)
        assert list(saved) == [events[0].group_id]
        await store.put_state(NAMESPACE, "damaged", {"not": "a group"})
        restored = ErrorTrackingService(store, CollectorRegistry(), clock=lambda: NOW)
        assert await restored.load() == 1
        assert restored.tracker.get(events[0].group_id).count == 2
    finally:
        await store.close()


async def test_changes_wait_for_storage_to_come_back(storage_factory: Callable[[], Storage]) -> None:
    store = storage_factory()
    await store.open()
    service = ErrorTrackingService(store, CollectorRegistry(), clock=lambda: NOW)
    service.log_sink([log(error=error("disk full"))])
    await store.close()
    await service.flush()  # fails: the change is kept for the next flush
    await store.open()  # storage is back
    try:
        await service.flush()
        assert len(await store.list_state(NAMESPACE)) == 1
    finally:
        await store.close()
