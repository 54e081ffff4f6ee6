"""The log-storage contract, run against every backend (real SQLite file, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.errors import StorageError
from sidecar.logs import LogQuery, LogRecord, StoredLog, level_of
from sidecar.storage import Storage

T0 = 1_700_000_000_000_000_000
SEC = 1_000_000_000
CHECKPOINT = ("ingest", "spool_checkpoint")
# FTS5 and tsquery syntax, SQL, and their fragments.
HOSTILE = ['"', "*", "NEAR(", "-", "OR", "'; DROP TABLE logs; --", "AND NOT", "a:b", "^x", "(", ")", "{x}", "\\", "+"]
HOSTILE += ['"unbalanced', "order*", "NEAR(order created, 2)", "order OR lost", "-order", "NOT order", "message:order"]
HOSTILE += ["order AND", "order & !lost | x", "order:*", "{message}: order", "   "]


def record(ts: int = T0, severity: int = 9, **fields: Any) -> LogRecord:
    """A record with every field set (most to None); ``fields`` override."""
    base: dict[str, Any] = {"ts": ts, "observed": ts + 1_000, "severity": severity, "level": level_of(severity)}
    base |= {"service": "api", "message": "request handled", "attributes": {}}
    base |= dict.fromkeys(("request_id", "trace_id", "span_id", "user", "action", "duration_ms", "error"))
    return {**base, **fields}  # type: ignore[return-value]


async def pages(storage: Storage, query: LogQuery) -> list[list[StoredLog]]:
    """Every page of ``query``, following cursors."""
    found: list[list[StoredLog]] = []
    while True:
        page = await storage.search_logs(query)
        found.append(page.records)
        if page.next_after is None:
            return found
        assert page.next_after == (page.records[-1].record["ts"], page.records[-1].id)
        query = replace(query, after=page.next_after)


async def everything(storage: Storage, limit: int = 1000, **filters: Any) -> list[StoredLog]:
    """Every matching record, newest first."""
    return [stored for page in await pages(storage, LogQuery(limit=limit, **filters)) for stored in page]


def newest_first(stored: list[StoredLog]) -> list[StoredLog]:
    return sorted(stored, key=lambda s: (s.record["ts"], s.id), reverse=True)


def ids(stored: list[StoredLog]) -> list[int]:
    return [s.id for s in stored]


def messages(stored: list[StoredLog]) -> list[str | None]:
    return [s.record["message"] for s in stored]


async def test_search_returns_records_equal_to_those_inserted(storage: Storage) -> None:
    inserted = [
        record(
            T0 + 2,
            severity=17,
            service="billing-ü",
            message="Zahlung fehlgeschlagen: 支付失败 🚨 'quoted' \"double\"",
            request_id="req-0001",
            trace_id="0af7651916cd43dd8448eb211c80319c",
            span_id="b7ad6b7169203331",
            user="usr_3f9a",
            action="payment.capture",
            duration_ms=12.5,
            error={"type": "CardDeclined", "message": "déclinée", "stack": "Traceback\n  File x.py, line 1"},
            attributes={
                "http": {"status": 402, "path": "/pay"},
                "tags": ["a", "b", 3, None, True],
                "ratio": 0.1,
                "big": 2**53 + 1,
                "neg": -7,
                "empty": {},
                "unicode key é": "ok",
            },
        ),
        record(T0 + 1, message=None, service=None, attributes={}),
        record(T0 + 1, error={"type": None, "message": None, "stack": None}, duration_ms=0.0),
    ]
    await storage.insert_logs(inserted)
    page = await storage.search_logs(LogQuery())
    assert [s.record for s in page.records] == [inserted[0], inserted[2], inserted[1]]
    assert len(set(ids(page.records))) == 3
    assert page.next_after is None


# Any text PostgreSQL can store (no NUL) and UTF-8 can encode (no lone surrogates).
CHARS = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    message=st.none() | st.text(CHARS, max_size=200),
    attributes=st.dictionaries(
        st.text(CHARS, max_size=10),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-(2**63), 2**63 - 1)
            # JSONB keeps numbers as decimals: a float past 2**53 can come back as the integer it prints as.
            | st.floats(-1e15, 1e15, allow_nan=False)
            | st.text(CHARS),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(CHARS, max_size=5), inner, max_size=3),
            max_leaves=8,
        ),
        max_size=4,
    ),
    duration=st.none() | st.floats(allow_nan=False, allow_infinity=False),
)
async def test_any_record_round_trips(
    storage: Storage, message: str | None, attributes: dict[str, Any], duration: float | None
) -> None:
    service = uuid.uuid4().hex
    inserted = record(service=service, message=message, attributes=attributes, duration_ms=duration)
    await storage.insert_logs([inserted])
    page = await storage.search_logs(LogQuery(service=service))
    assert [s.record for s in page.records] == [inserted]


async def test_nul_characters_do_not_fail_the_batch(storage: Storage) -> None:
    # PostgreSQL text cannot hold NUL: that backend stores U+FFFD instead, so one bad
    # record never blocks the spool behind it.
    inserted = record(message="a\x00b", user="u\x00", attributes={"k\x00": ["v\x00"]})
    await storage.insert_logs([inserted, record(T0 - 1)])
    stored = (await storage.search_logs(LogQuery())).records[0].record
    if storage.backend == "sqlite":
        assert stored == inserted
    else:
        replaced = ("a\ufffdb", "u\ufffd", {"k\ufffd": ["v\ufffd"]})
        assert (stored["message"], stored["user"], stored["attributes"]) == replaced


async def test_a_large_batch_is_stored_whole(storage: Storage) -> None:
    await storage.insert_logs([record(T0 + i, message=f"line {i}") for i in range(2_345)])
    assert await storage.count_logs() == 2_345
    assert len(await everything(storage)) == 2_345


async def test_records_given_with_their_encoding_are_stored_the_same(storage: Storage) -> None:
    batch = [record(T0 + i, message=f"encoded {i}", attributes={"n": i, "é": [1.5, None]}) for i in range(5)]
    await storage.insert_logs(batch, encoded=[orjson.dumps(r) for r in batch])
    assert [s.record for s in await everything(storage)] == batch[::-1]
    assert messages(await everything(storage, text="encoded 3")) == ["encoded 3"]


async def test_count_logs(storage: Storage) -> None:
    assert await storage.count_logs() == 0
    await storage.insert_logs([record(T0 + i) for i in range(7)])
    await storage.insert_logs([])
    assert await storage.count_logs() == 7


async def test_checkpoint_is_written_with_the_records(storage: Storage) -> None:
    assert await storage.get_state(*CHECKPOINT) is None
    await storage.insert_logs([record()], checkpoint={"segment": 3, "offset": 4096})
    assert await storage.get_state(*CHECKPOINT) == {"segment": 3, "offset": 4096}
    await storage.insert_logs([record()], checkpoint={"segment": 3, "offset": 8192})
    assert await storage.get_state(*CHECKPOINT) == {"segment": 3, "offset": 8192}
    await storage.insert_logs([record()])
    assert await storage.get_state(*CHECKPOINT) == {"segment": 3, "offset": 8192}
    await storage.insert_logs([], checkpoint={"segment": 4, "offset": 0})
    assert await storage.get_state(*CHECKPOINT) == {"segment": 4, "offset": 0}
    assert await storage.count_logs() == 3


async def test_a_failed_batch_stores_neither_records_nor_checkpoint(storage: Storage) -> None:
    await storage.insert_logs([record()], checkpoint={"offset": 1})
    broken = record(T0 + 5)
    broken["ts"] = None  # type: ignore[typeddict-item]  # violates NOT NULL in the database
    with pytest.raises(StorageError):
        await storage.insert_logs([record(T0 + 3), broken, record(T0 + 4)], checkpoint={"offset": 2})
    assert await storage.get_state(*CHECKPOINT) == {"offset": 1}
    assert await storage.count_logs() == 1
    await storage.insert_logs([record(T0 + 6)], checkpoint={"offset": 3})  # usable afterwards
    assert await storage.get_state(*CHECKPOINT) == {"offset": 3}


async def test_concurrent_batches_and_state_writes_all_land(storage: Storage) -> None:
    async def batch(n: int) -> None:
        await storage.insert_logs(
            [record(T0 + n * 100 + i, service=f"s{n}") for i in range(50)], checkpoint={"batch": n}
        )

    await asyncio.gather(*(batch(n) for n in range(6)), storage.put_state("breakers", "x", {"open": True}))
    assert await storage.count_logs() == 300
    assert await storage.get_state("breakers", "x") == {"open": True}
    assert (await storage.get_state(*CHECKPOINT) or {})["batch"] in range(6)


async def test_newest_first_with_ties_on_ts_broken_by_id(storage: Storage) -> None:
    # Inserted out of time order, with three records sharing one timestamp.
    await storage.insert_logs([record(T0 + 5, message="e"), record(T0 + 1, message="a"), record(T0 + 5, message="f")])
    await storage.insert_logs([record(T0 + 9, message="z"), record(T0 + 5, message="g"), record(T0 - 3, message="old")])
    found = (await storage.search_logs(LogQuery())).records
    assert messages(found) == ["z", "g", "f", "e", "a", "old"]
    tied = [s for s in found if s.record["ts"] == T0 + 5]
    assert ids(tied) == sorted(ids(tied), reverse=True)


@pytest.mark.parametrize("limit", [1, 3, 7, 10])
async def test_pages_cover_everything_once_even_across_ties(storage: Storage, limit: int) -> None:
    # 30 records over 10 distinct timestamps: page boundaries fall inside ties.
    await storage.insert_logs([record(T0 + (i % 10), message=f"m{i}") for i in range(30)])
    expected = newest_first((await storage.search_logs(LogQuery(limit=1000))).records)
    found = await pages(storage, LogQuery(limit=limit))
    assert len(found) >= 3 and all(len(page) <= limit for page in found)
    assert all(found), "no empty page: next_after is only set when another page exists"
    assert ids([s for page in found for s in page]) == ids(expected)


async def test_after_means_strictly_older_than_that_position(storage: Storage) -> None:
    await storage.insert_logs([record(T0 + 1), record(T0 + 2), record(T0 + 2), record(T0 + 3)])
    every = (await storage.search_logs(LogQuery())).records
    for position, stored in enumerate(every):
        page = await storage.search_logs(LogQuery(after=(stored.record["ts"], stored.id)))
        assert ids(page.records) == ids(every[position + 1 :])


async def test_pagination_with_filters(storage: Storage) -> None:
    await storage.insert_logs([record(T0 + i, service="a" if i % 3 else "b", message=f"m{i}") for i in range(40)])
    found = await everything(storage, service="a")
    assert len(found) == 26 and all(s.record["service"] == "a" for s in found)
    paged = await pages(storage, LogQuery(service="a", limit=5))
    assert len(paged) == 6 and ids([s for page in paged for s in page]) == ids(found)


DATASET = [
    # (ts offset s, severity, service, request_id, trace_id, user, action, message)
    (1, 5, "api", "r1", "a" * 32, "usr_1", "order.create", "cache miss for key"),
    (2, 9, "api", "r1", "a" * 32, "usr_1", "order.create", "order created"),
    (3, 13, "billing", "r2", "b" * 32, "usr_2", "invoice.send", "slow upstream response"),
    (4, 17, "billing", "r2", "b" * 32, "usr_2", "invoice.send", "Payment DECLINED by upstream"),
    (5, 21, "auth", "r3", None, None, None, "database connection lost"),
    (6, 9, "auth", "r3", None, "usr_1", "session.start", "session started"),
    (7, 9, "api", None, "c" * 32, "usr_3", None, "request handled"),
    (8, 17, "api", "r4", "c" * 32, "usr_3", "order.create", "order failed: payment declined"),
    (9, 13, None, None, None, None, None, None),
    (10, 9, "api", "r5", None, "usr_1", "order.create", "order created again"),
]


@pytest.fixture
async def loaded(storage: Storage) -> list[StoredLog]:
    rows = [
        record(
            T0 + offset * SEC, severity=sev, service=svc, request_id=rq, trace_id=tr, user=usr, action=act, message=msg
        )
        for offset, sev, svc, rq, tr, usr, act, msg in DATASET
    ]
    await storage.insert_logs(rows[:5])
    await storage.insert_logs(rows[5:])
    return await everything(storage)


def model(stored: list[StoredLog], **filters: Any) -> list[int]:
    """What a search must return, computed in Python (text filters excluded)."""
    query = LogQuery(**filters)

    def keep(r: LogRecord) -> bool:
        return (
            (query.since_ns is None or r["ts"] >= query.since_ns)
            and (query.until_ns is None or r["ts"] < query.until_ns)
            and (query.min_severity is None or r["severity"] >= query.min_severity)
            and all(
                getattr(query, name) is None or r[name] == getattr(query, name)  # type: ignore[literal-required]
                for name in ("service", "request_id", "trace_id", "user", "action")
            )
        )

    return ids(newest_first([s for s in stored if keep(s.record)]))


FILTERS: dict[str, dict[str, Any]] = {
    "since": {"since_ns": T0 + 4 * SEC},
    "until": {"until_ns": T0 + 4 * SEC},
    "since+until": {"since_ns": T0 + 3 * SEC, "until_ns": T0 + 8 * SEC},
    "min_severity": {"min_severity": 13},
    "min_severity fatal": {"min_severity": 21},
    "service": {"service": "billing"},
    "request_id": {"request_id": "r3"},
    "trace_id": {"trace_id": "c" * 32},
    "user": {"user": "usr_1"},
    "action": {"action": "order.create"},
    "nothing matches": {"service": "nope"},
    "request_id differing in case": {"request_id": "R1"},
    "service+min_severity": {"service": "api", "min_severity": 17},
    "user+action": {"user": "usr_1", "action": "order.create"},
    "user+action+since": {"user": "usr_1", "action": "order.create", "since_ns": T0 + 2 * SEC},
    "request_id+trace_id": {"request_id": "r2", "trace_id": "b" * 32},
    "trace_id+min_severity": {"trace_id": "c" * 32, "min_severity": 10},
    "everything": {"since_ns": T0, "until_ns": T0 + 9 * SEC, "min_severity": 9, "service": "api", "user": "usr_3"}
    | {"request_id": "r4", "trace_id": "c" * 32, "action": "order.create"},
}


@pytest.mark.parametrize("filters", FILTERS.values(), ids=FILTERS.keys())
async def test_each_filter_alone_and_combined(
    storage: Storage, loaded: list[StoredLog], filters: dict[str, Any]
) -> None:
    assert ids(await everything(storage, **filters)) == model(loaded, **filters)


async def test_filters_with_small_pages(storage: Storage, loaded: list[StoredLog]) -> None:
    for filters in FILTERS.values():
        assert ids(await everything(storage, limit=2, **filters)) == model(loaded, **filters), filters


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("declined", ["order failed: payment declined", "Payment DECLINED by upstream"]),
        ("DECLINED payment", ["order failed: payment declined", "Payment DECLINED by upstream"]),
        ("payment declined upstream", ["Payment DECLINED by upstream"]),
        ("upstream", ["Payment DECLINED by upstream", "slow upstream response"]),
        ("order created", ["order created again", "order created"]),
        ("order    created  \t again", ["order created again"]),
        ("declined nowhere", []),
        ("lost -", ["database connection lost"]),
        ("miss", ["cache miss for key"]),
    ],
)
async def test_full_text_requires_every_term_case_insensitively(
    storage: Storage, loaded: list[StoredLog], text: str, expected: list[str]
) -> None:
    assert messages(await everything(storage, text=text)) == expected


async def test_full_text_combines_with_other_filters(storage: Storage, loaded: list[StoredLog]) -> None:
    assert messages(await everything(storage, text="order", user="usr_1")) == ["order created again", "order created"]
    assert messages(await everything(storage, text="declined", service="billing")) == ["Payment DECLINED by upstream"]
    assert messages(await everything(storage, text="order", request_id="r4")) == ["order failed: payment declined"]
    assert messages(await everything(storage, text="order", min_severity=17, since_ns=T0)) == [
        "order failed: payment declined"
    ]
    assert messages(await everything(storage, text="declined", trace_id="b" * 32)) == ["Payment DECLINED by upstream"]


async def test_full_text_pages(storage: Storage) -> None:
    await storage.insert_logs([record(T0 + i % 4, message=f"needle {i} hay") for i in range(25)])
    await storage.insert_logs([record(T0 + i, message=f"other {i}") for i in range(25)])
    paged = await pages(storage, LogQuery(text="NEEDLE", limit=4))
    seen = [s for page in paged for s in page]
    assert len(paged) == 7 and len(set(ids(seen))) == 25
    assert ids(seen) == ids(newest_first(seen))


@pytest.mark.parametrize("text", [*HOSTILE, " ".join(HOSTILE)])
async def test_hostile_full_text_never_errors(storage: Storage, loaded: list[StoredLog], text: str) -> None:
    page = await storage.search_logs(LogQuery(text=text))
    for stored in page.records:
        assert stored.record["message"] is not None


@pytest.mark.parametrize("text", ['"', "*", "-", "'", "()", '"" --', "!@#$%^&*", "   ", "\u2028"])
async def test_full_text_of_only_punctuation_matches_nothing(
    storage: Storage, loaded: list[StoredLog], text: str
) -> None:
    assert (await storage.search_logs(LogQuery(text=text))).records == []


async def test_operators_are_plain_words(storage: Storage) -> None:
    await storage.insert_logs([record(T0, message="near or not"), record(T0 + 1, message="other text")])
    assert messages(await everything(storage, text="OR")) == ["near or not"]
    assert messages(await everything(storage, text="NEAR( NOT")) == ["near or not"]


async def test_ids_match_exactly_whatever_their_punctuation(storage: Storage) -> None:
    odd = ["req-1-abc", "req_1_abc", "REQ 1 ABC", "1-abc", "-", "--", "été/42", "x" * 200]
    await storage.insert_logs([record(T0 + i, request_id=value, trace_id=value) for i, value in enumerate(odd)])
    for value in odd:
        for name in ("request_id", "trace_id"):
            found = await everything(storage, **{name: value})
            assert [s.record[name] for s in found] == [value], (name, value)  # type: ignore[literal-required]


async def test_delete_respects_severity_range_cutoff_and_limit(storage: Storage) -> None:
    rows = [record(T0 + i, severity=sev, message=f"s{sev} t{i}") for i in range(10) for sev in (1, 5, 8, 9, 13, 21)]
    await storage.insert_logs(rows)
    cutoff = T0 + 6
    doomed = {(r["severity"], r["ts"]) for r in rows if 5 <= r["severity"] <= 9 and r["ts"] < cutoff}
    assert len(doomed) == 18
    assert await storage.delete_logs(min_severity=5, max_severity=9, before_ns=cutoff, limit=7) == 7
    assert await storage.count_logs() == 60 - 7
    assert await storage.delete_logs(min_severity=5, max_severity=9, before_ns=cutoff, limit=7) == 7
    assert await storage.delete_logs(min_severity=5, max_severity=9, before_ns=cutoff, limit=7) == 4
    assert await storage.delete_logs(min_severity=5, max_severity=9, before_ns=cutoff, limit=7) == 0
    left = {(s.record["severity"], s.record["ts"]) for s in await everything(storage)}
    assert left == {(r["severity"], r["ts"]) for r in rows} - doomed


async def test_delete_with_a_wide_severity_range(storage: Storage) -> None:
    await storage.insert_logs([record(T0 + i, severity=sev) for i in range(3) for sev in (0, 9, 24, 99)])
    assert await storage.delete_logs(min_severity=0, max_severity=1_000, before_ns=T0 + 2, limit=100) == 8
    assert await storage.count_logs() == 4


async def test_deleted_records_leave_full_text_and_id_search(storage: Storage) -> None:
    await storage.insert_logs(
        [record(T0 + i, severity=5 if i < 5 else 17, message=f"needle {i}", request_id=f"req-{i}") for i in range(10)]
    )
    assert await storage.delete_logs(min_severity=1, max_severity=8, before_ns=T0 + 100, limit=100) == 5
    assert messages(await everything(storage, text="needle")) == [f"needle {i}" for i in range(9, 4, -1)]
    assert await everything(storage, text="needle 3") == []
    assert await everything(storage, request_id="req-3") == []
    # The same text inserted again is found again (the index forgot the old rows cleanly).
    await storage.insert_logs([record(T0 + 50, message="needle 3", request_id="req-3")])
    assert messages(await everything(storage, text="needle 3")) == ["needle 3"]
    assert messages(await everything(storage, request_id="req-3")) == ["needle 3"]


async def test_calls_on_a_closed_storage_raise_storage_error(storage: Storage) -> None:
    await storage.close()
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: storage.insert_logs([record()], checkpoint={"x": 1}),
        lambda: storage.search_logs(LogQuery(text="x")),
        lambda: storage.delete_logs(min_severity=1, max_severity=24, before_ns=T0, limit=10),
        storage.count_logs,
    ]
    for call in calls:
        with pytest.raises(StorageError):
            await call()
