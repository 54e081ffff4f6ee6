"""The audit-trail storage contract, run against every backend (real SQLite file, real PostgreSQL).

Query plans of both backends close the file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.audit import (
    GENESIS_HASH,
    USER_AGENT_MAX,
    AuditEntry,
    AuditVerification,
    anonymize_ip,
    canonical_bytes,
    entry_hash,
)
from sidecar.errors import StorageError
from sidecar.storage import PostgresStorage, SqliteStorage, Storage, _base, _postgres_audit, _sqlite_audit
from sidecar.storage._base import audit_row, stored_audit, stored_json, without_nul
from tests.conftest import POSTGRES_DSN

T0 = 1_700_000_000.0


def entry(action: str = "breaker.force", target: str = "anthropic", at: float = T0, **fields: Any) -> AuditEntry:
    """An entry of ``action`` on ``target`` at ``at``; ``fields`` override."""
    base: dict[str, Any] = {"actor": "ops", "details": {"mode": "open", "reason": "provider outage"}}
    return AuditEntry(at, action=action, target=target, **{**base, **fields})


def stored(original: AuditEntry, entry_id: int) -> AuditEntry:
    return dataclasses.replace(original, id=entry_id)


async def append_all(storage: Storage, entries: list[AuditEntry]) -> list[AuditEntry]:
    """Append ``entries`` in order; them as stored (with their ids)."""
    return [stored(e, await storage.append_audit(e)) for e in entries]


async def listed(storage: Storage, **filters: Any) -> list[AuditEntry]:
    """``storage.list_audit(**filters)`` with the hashes left out (the chain tests check those)."""
    return [dataclasses.replace(e, prev_hash=None, hash=None) for e in await storage.list_audit(**filters)]


async def everything(storage: Storage) -> list[AuditEntry]:
    return await listed(storage, limit=1_000_000)


# ---------------------------------------------------------------- append and list


async def test_append_returns_increasing_ids_and_list_is_newest_first(storage: Storage) -> None:
    entries = [entry(target=f"t{n}", at=T0 + n % 3) for n in range(7)]
    ids = [await storage.append_audit(e) for e in entries]
    assert all(type(i) is int for i in ids)
    assert ids == sorted(set(ids))
    assert await everything(storage) == [stored(e, i) for e, i in zip(entries, ids, strict=True)][::-1]
    # The order is by id, not by at.
    assert [e.target for e in await everything(storage)] == [f"t{n}" for n in reversed(range(7))]


async def test_an_empty_trail_lists_nothing(storage: Storage) -> None:
    assert await everything(storage) == []
    assert await listed(storage, action="breaker.force", since=0, until=1e12, before_id=10) == []
    assert await storage.delete_audit(before=1e12, limit=10) == 0


async def test_entries_come_back_equal_with_plain_types(storage: Storage) -> None:
    [first] = await append_all(storage, [entry(at=1_700_000_000)])  # a whole second as an int
    found = await everything(storage)
    assert found == [first] and found[0].at == T0
    assert type(found[0].at) is float and type(found[0].id) is int and type(found[0].details) is dict


async def test_an_entry_id_given_is_ignored(storage: Storage) -> None:
    first = await storage.append_audit(entry(id=12345))
    second = await storage.append_audit(entry(id=1))
    assert second > first
    assert [e.id for e in await everything(storage)] == [second, first]


async def test_each_filter_and_their_combination(storage: Storage) -> None:
    entries = await append_all(
        storage,
        [
            entry("breaker.force", "anthropic", T0),
            entry("breaker.force", "openai", T0 + 1),
            entry("alert.silence", "anthropic", T0 + 2),
            entry("incident.resolve", "db", T0 + 3),
            entry("breaker.release", "anthropic", T0 + 4),
            entry("breaker.force", "anthropic", T0 + 5),
        ],
    )
    newest_first = entries[::-1]

    async def found(**filters: Any) -> list[AuditEntry]:
        return await listed(storage, **filters)

    assert await found(action="breaker.force") == [e for e in newest_first if e.action == "breaker.force"]
    assert await found(target="anthropic") == [e for e in newest_first if e.target == "anthropic"]
    assert await found(action="breaker.force", target="anthropic") == [entries[5], entries[0]]
    assert await found(since=T0 + 2) == newest_first[:4]
    assert await found(until=T0 + 2) == newest_first[4:]
    assert await found(since=T0 + 1, until=T0 + 4) == [entries[3], entries[2], entries[1]]
    assert await found(since=T0 + 4, until=T0 + 4) == []
    assert await found(since=T0 + 1, until=T0 + 5, target="anthropic") == [entries[4], entries[2]]
    assert await found(action="breaker") == []
    assert await found(action="breaker.%") == []
    assert await found(target="Anthropic") == []
    assert await found(before_id=entries[3].id) == newest_first[3:]
    assert await found(before_id=entries[3].id, action="breaker.force", since=T0 + 0.5) == [entries[1]]


async def test_paging_with_before_id_visits_every_entry_once(storage: Storage) -> None:
    entries = await append_all(storage, [entry(target=f"t{n % 4}", at=T0 + n) for n in range(23)])
    for filters, wanted in (
        ({}, entries[::-1]),
        ({"target": "t1"}, [e for e in entries[::-1] if e.target == "t1"]),
    ):
        pages: list[list[AuditEntry]] = []
        before_id = None
        while True:
            page = await listed(storage, before_id=before_id, limit=5, **filters)
            if not page:
                break
            pages.append(page)
            before_id = page[-1].id
        assert [e for page in pages for e in page] == wanted
        assert all(len(page) == 5 for page in pages[:-1])


async def test_limit_keeps_the_newest(storage: Storage) -> None:
    entries = await append_all(storage, [entry(at=T0 + n) for n in range(6)])
    for limit in range(9):
        assert await listed(storage, limit=limit) == entries[::-1][:limit], limit
    assert await listed(storage, limit=-1) == []
    assert len(await storage.list_audit()) == 6  # the default limit is 100
    await append_all(storage, [entry(at=T0 + n) for n in range(100)])
    assert len(await storage.list_audit()) == 100


# ---------------------------------------------------------------- details


async def test_details_round_trip(storage: Storage) -> None:
    details: dict[str, Any] = {
        "mode": "open",
        "expires_at": 1_700_003_600.5,
        "nested": {"a": [1, -2, 3.25, None, True, False, {"deep": ["x", {"deeper": {}}]}], "empty": []},
        "unicode": "Dienst nicht verfügbar 🚨 — 中文",
        "big": 2**63 - 1,
        "small": -(2**63),
        "zero": 0.0,
        "tiny": 1e-7,
        "": "empty key",
    }
    [first] = await append_all(storage, [entry(details=details)])
    [second] = await append_all(storage, [entry(details={})])
    assert await everything(storage) == [second, first]
    assert (await everything(storage))[1].details == details


async def test_a_tuple_in_details_comes_back_as_a_list(storage: Storage) -> None:
    await storage.append_audit(entry(details={"pair": (1, "two"), "nested": [(3,)]}))
    assert (await everything(storage))[0].details == {"pair": [1, "two"], "nested": [[3]]}


async def test_nul_characters_are_stored_as_replacement_characters(storage: Storage) -> None:
    original = entry(
        "a\x00ction",
        "tar\x00get",
        actor="o\x00ps",
        details={"re\x00ason": "bad \x00 byte\x00", "list": ["\x00", {"k\x00": "v\x00"}], "n": 1},
    )
    entry_id = await storage.append_audit(original)
    expected = AuditEntry(
        T0,
        "o\ufffdps",
        "a\ufffdction",
        "tar\ufffdget",
        {"re\ufffdason": "bad \ufffd byte\ufffd", "list": ["\ufffd", {"k\ufffd": "v\ufffd"}], "n": 1},
        id=entry_id,
    )
    assert await everything(storage) == [expected]
    # A filter with NUL finds what was stored, as a filter with U+FFFD does.
    assert await listed(storage, action="a\x00ction", target="tar\x00get") == [expected]
    assert await listed(storage, action="a\ufffdction") == [expected]


class Opaque:
    pass


@pytest.mark.parametrize(
    "details",
    [
        {"when": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)},
        {"object": Opaque()},
        {"bytes": b"raw"},
        {"set": {1, 2}},
        {1: "int key"},
        {"nested": {("tuple", "key"): 1}},
        {"huge": 2**64},
        {"nan": float("nan")},
        {"deep": [float("inf")]},
        {"deep": {"deeper": [1, {"x": -float("inf")}]}},
        ["not", "a", "dict"],
        None,
    ],
    ids=repr,
)
async def test_details_that_are_not_json_fail_and_store_nothing(storage: Storage, details: Any) -> None:
    [kept] = await append_all(storage, [entry(at=T0)])
    with pytest.raises(StorageError):
        await storage.append_audit(entry(at=T0 + 1, details=details))
    assert await everything(storage) == [kept]
    later = await storage.append_audit(entry(at=T0 + 2))  # usable afterwards
    assert [e.id for e in await everything(storage)] == [later, kept.id]


@pytest.mark.parametrize(
    ("field", "value"),
    [("at", float("nan")), ("at", float("inf")), ("at", "1700000000"), ("at", None), ("at", True),
     ("actor", None), ("action", 1), ("target", b"bytes"), ("ip", 24), ("user_agent", b"curl"),
     ("before", ["not", "a", "dict"]), ("after", {"nan": float("nan")}), ("before", {"set": {1}})],
)  # fmt: skip
async def test_an_entry_with_a_bad_field_fails_and_stores_nothing(storage: Storage, field: str, value: Any) -> None:
    with pytest.raises(StorageError):
        await storage.append_audit(dataclasses.replace(entry(), **{field: value}))
    assert await everything(storage) == []


def test_deep_nesting_is_refused_without_a_recursion_error() -> None:
    deep: Any = 0
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(StorageError):
        audit_row(entry(details={"deep": deep}), GENESIS_HASH)


# ---------------------------------------------------------------- retention


async def test_delete_respects_the_cutoff_and_the_limit(storage: Storage) -> None:
    entries = await append_all(storage, [entry(target=f"t{n % 3}", at=T0 + n) for n in range(40)])
    cutoff = T0 + 25
    assert [await storage.delete_audit(before=cutoff, limit=7) for _ in range(6)] == [7, 7, 7, 4, 0, 0]
    assert await everything(storage) == [e for e in entries[::-1] if e.at >= cutoff]
    assert await storage.delete_audit(before=T0 + 100, limit=0) == 0
    assert await storage.delete_audit(before=T0 + 100, limit=-1) == 0
    assert len(await everything(storage)) == 15


async def test_delete_takes_a_prefix_in_id_order_and_stops_at_a_newer_entry(storage: Storage) -> None:
    entries = await append_all(storage, [entry(at=T0 + at) for at in (1, 2, 5, 1, 3, 2)])
    # 1 and 2 go; 5 is not older than the cutoff, so it and every later entry stay (1 included).
    assert await storage.delete_audit(before=T0 + 4, limit=10) == 2
    assert await everything(storage) == entries[2:][::-1]
    assert await storage.delete_audit(before=T0 + 4, limit=10) == 0
    assert await storage.delete_audit(before=T0 + 6, limit=2) == 2
    assert await everything(storage) == entries[4:][::-1]


async def test_ids_are_not_reused_after_everything_is_deleted(storage: Storage) -> None:
    first = await storage.append_audit(entry())
    second = await storage.append_audit(entry())
    assert await storage.delete_audit(before=T0 + 1, limit=10) == 2
    third = await storage.append_audit(entry())
    assert third > second > first
    assert [e.id for e in await everything(storage)] == [third]


async def test_calls_on_a_closed_storage_raise_storage_error(storage: Storage) -> None:
    await storage.close()
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: storage.append_audit(entry()),
        lambda: storage.list_audit(),
        lambda: storage.delete_audit(before=T0, limit=10),
        lambda: storage.verify_audit(),
    ]
    for call in calls:
        with pytest.raises(StorageError):
            await call()


# ---------------------------------------------------------------- the hash chain


async def chain(storage: Storage) -> list[AuditEntry]:
    """Every stored entry with its hashes, oldest first."""
    return (await storage.list_audit(limit=1_000_000))[::-1]


async def execute(storage: Storage, sql: str, *params: Any) -> None:
    """Run ``sql`` (``?`` placeholders) straight on the backend's database, as someone tampering would."""
    if isinstance(storage, SqliteStorage):
        await storage.write(lambda db: db.execute(sql, params))
    else:
        assert isinstance(storage, PostgresStorage)
        for n in range(1, len(params) + 1):
            sql = sql.replace("?", f"${n}", 1)
        await storage.pool.execute(sql, *params)


def test_the_canonical_form_is_sorted_compact_json_of_the_stored_values() -> None:
    original = AuditEntry(
        T0, "ops", "breaker.force", "anthropic", {"z": 1, "a": {"y": [1.5, None], "b": "é"}},
        id=7, ip="203.0.113.0/24", user_agent="curl/8", before={"state": "closed"}, after=None,
        prev_hash="f" * 64, hash="e" * 64,
    )  # fmt: skip
    wanted = (
        b'{"action":"breaker.force","actor":"ops","after":null,"at":1700000000.0,"before":{"state":"closed"},'
        b'"details":{"a":{"b":"\xc3\xa9","y":[1.5,null]},"z":1},"ip":"203.0.113.0/24",'
        b'"prev":"' + b"1" * 64 + b'","target":"anthropic","user_agent":"curl/8"}'
    )
    assert canonical_bytes(original, "1" * 64) == wanted
    assert entry_hash(original, "1" * 64) == hashlib.sha256(wanted).hexdigest()
    # Neither the id nor the stored hashes count; key order in the JSON fields does not either.
    other = dataclasses.replace(
        original, id=None, prev_hash=None, hash=None, details={"a": {"b": "é", "y": [1.5, None]}, "z": 1}
    )
    assert entry_hash(other, "1" * 64) == entry_hash(original, "1" * 64)
    assert entry_hash(original, "2" * 64) != entry_hash(original, "1" * 64)
    assert entry_hash(dataclasses.replace(original, at=T0 + 1e-6), "1" * 64) != entry_hash(original, "1" * 64)


@pytest.mark.parametrize(
    ("address", "network"),
    [("203.0.113.77", "203.0.113.0/24"), ("10.1.2.3", "10.1.2.0/24"), ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
     ("::ffff:198.51.100.9", "198.51.100.0/24"), ("fe80::1%eth0", "fe80::/48"), (" 192.0.2.1 ", "192.0.2.0/24"),
     ("not an ip", None), ("", None), ("300.1.1.1", None), ("203.0.113.0/24", None)],
)  # fmt: skip
def test_anonymize_ip_keeps_only_the_network(address: str, network: str | None) -> None:
    assert anonymize_ip(address) == network


async def test_entries_are_chained_and_every_hash_recomputes_from_the_stored_row(storage: Storage) -> None:
    originals = [
        entry(at=T0 + n, ip="203.0.113.0/24", user_agent=f"agent/{n}", before={"state": "closed", "n": n},
              after={"state": "open\x00", "n": n} if n % 2 else None, details={"reason": f"r{n}", "x": 1e16 + n})
        for n in range(5)
    ]  # fmt: skip
    ids = [await storage.append_audit(e) for e in originals]
    stored_entries = await chain(storage)
    assert [e.id for e in stored_entries] == ids
    previous = GENESIS_HASH
    for original, found in zip(originals, stored_entries, strict=True):
        assert found.prev_hash == previous
        assert found.hash is not None and len(found.hash) == 64 and int(found.hash, 16) >= 0
        assert found.hash == entry_hash(found, previous)
        # The hash of what was appended, NULs replaced and JSON copied as stored, is the same.
        assert found.hash == entry_hash(stored_audit(original), previous)
        previous = found.hash
    assert stored_entries[1].after == {"state": "open\ufffd", "n": 1} and stored_entries[0].after is None
    assert stored_entries[0].before == {"state": "closed", "n": 0} and stored_entries[0].ip == "203.0.113.0/24"
    assert stored_entries[0].details == {"reason": "r0", "x": 10**16}
    # Hashes given on append are ignored, as the id is.
    forged = await storage.append_audit(entry(prev_hash="a" * 64, hash="b" * 64))
    [last] = await storage.list_audit(limit=1)
    assert last.id == forged and last.prev_hash == previous and last.hash != "b" * 64


async def test_the_user_agent_is_cut_to_256_characters_and_ip_stored_as_given(storage: Storage) -> None:
    await storage.append_audit(entry(user_agent="x" * 300 + "\x00", ip="2001:db8:abcd::/48"))
    await storage.append_audit(entry(user_agent="\x00" + "y" * 255))
    first, second = await chain(storage)
    assert first.user_agent == "x" * USER_AGENT_MAX and first.ip == "2001:db8:abcd::/48"
    assert second.user_agent == "\ufffd" + "y" * 255 and second.ip is None
    assert (await storage.verify_audit()).ok


async def test_verify_accepts_an_empty_and_an_intact_log_page_by_page(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await storage.verify_audit() == AuditVerification(True, 0, None, None)
    await append_all(storage, [entry(at=T0 + n, details={"n": n, "s": "\x00"}) for n in range(11)])
    monkeypatch.setattr(_base, "AUDIT_VERIFY_PAGE", 3)
    pages: list[int] = []
    read_page = storage._audit_chain

    async def counting(after_id: int, limit: int) -> list[AuditEntry]:
        pages.append(limit)
        return await read_page(after_id, limit)

    monkeypatch.setattr(storage, "_audit_chain", counting)
    assert await storage.verify_audit() == AuditVerification(True, 11, None, None)
    assert pages == [3, 3, 3, 3, 3]  # 3 + 3 + 3 + 2, then an empty page


async def test_verify_accepts_a_log_whose_oldest_entries_retention_deleted(storage: Storage) -> None:
    entries = await append_all(storage, [entry(at=T0 + n) for n in range(8)])
    assert await storage.delete_audit(before=T0 + 3, limit=10) == 3
    assert await storage.verify_audit() == AuditVerification(True, 5, None, None)
    [oldest] = await storage.list_audit(before_id=entries[4].id, limit=1)
    assert oldest.id == entries[3].id
    # Everything goes; the next entry chains to the anchor.
    assert await storage.delete_audit(before=T0 + 100, limit=100) == 5
    assert await storage.verify_audit() == AuditVerification(True, 0, None, None)
    await storage.append_audit(entry(at=T0 + 200))
    [after] = await chain(storage)
    assert after.prev_hash == (await storage._audit_anchor() or ("", 0))[0] != GENESIS_HASH
    assert await storage.verify_audit() == AuditVerification(True, 1, None, None)


async def test_verify_is_not_fooled_by_retention_running_during_the_walk(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    await append_all(storage, [entry(at=T0 + n) for n in range(10)])
    monkeypatch.setattr(_base, "AUDIT_VERIFY_PAGE", 3)
    read_page = storage._audit_chain
    calls = 0

    async def with_retention(after_id: int, limit: int) -> list[AuditEntry]:
        nonlocal calls
        calls += 1
        if calls == 2:  # past the walk's position: entries 4 and 5 go unseen
            assert await storage.delete_audit(before=T0 + 5, limit=100) == 5
        return await read_page(after_id, limit)

    monkeypatch.setattr(storage, "_audit_chain", with_retention)
    assert await storage.verify_audit() == AuditVerification(True, 8, None, None)


@pytest.mark.parametrize(
    ("column", "value"),
    [("details", '{"mode": "closed", "reason": "provider outage"}'), ("actor", "someone else"), ("at", T0 + 0.5),
     ("target", "openai"), ("ip", "198.51.100.0/24"), ("user_agent", "other"), ("prev_hash", "0" * 64)],
)  # fmt: skip
async def test_verify_detects_an_edited_entry(storage: Storage, column: str, value: Any) -> None:
    entries = await append_all(storage, [entry(at=T0 + n) for n in range(5)])
    edited = entries[2].id
    cast = "::jsonb" if column == "details" and isinstance(storage, PostgresStorage) else ""
    await execute(storage, f"UPDATE audit_log SET {column} = ?{cast} WHERE id = ?", value, edited)
    assert await storage.verify_audit() == AuditVerification(
        False, 2, edited, f"record {edited} was edited (its hash does not match its content)"
    )


async def test_verify_detects_an_entry_deleted_in_the_middle(storage: Storage) -> None:
    entries = await append_all(storage, [entry(at=T0 + n) for n in range(6)])
    ids = [e.id for e in entries]
    await execute(storage, "DELETE FROM audit_log WHERE id = ?", ids[3])
    result = await storage.verify_audit()
    assert result == AuditVerification(
        False,
        3,
        ids[4],
        f"a record before {ids[4]} is missing, or record {ids[2]} was rewritten"
        f" (prev_hash does not match record {ids[2]})",
    )


async def test_verify_detects_the_oldest_entries_deleted_without_retention(storage: Storage) -> None:
    entries = await append_all(storage, [entry(at=T0 + n) for n in range(4)])
    await execute(storage, "DELETE FROM audit_log WHERE id = ?", entries[0].id)
    result = await storage.verify_audit()
    assert not result.ok and result.checked == 0 and result.first_bad_id == entries[1].id
    assert result.problem == (
        f"a record before {entries[1].id} is missing, or the genesis hash was rewritten"
        " (prev_hash does not match the genesis hash)"
    )
    # After a retention run the anchor is what the oldest entry must follow.
    assert await storage.delete_audit(before=T0 + 2, limit=10) == 1
    assert (await storage.verify_audit()).ok
    await execute(storage, "DELETE FROM audit_log WHERE id = ?", entries[2].id)
    result = await storage.verify_audit()
    assert not result.ok and result.first_bad_id == entries[3].id
    assert f"prev_hash does not match the retention anchor (record {entries[1].id})" in (result.problem or "")


async def test_verify_detects_an_entry_rewritten_with_its_own_hash_recomputed(storage: Storage) -> None:
    entries = await append_all(storage, [entry(at=T0 + n) for n in range(4)])
    victim = (await chain(storage))[1]
    rewritten = dataclasses.replace(victim, actor="someone else")
    await execute(
        storage, "UPDATE audit_log SET actor = ?, hash = ? WHERE id = ?",
        rewritten.actor, entry_hash(rewritten, victim.prev_hash or ""), victim.id,
    )  # fmt: skip
    result = await storage.verify_audit()
    assert not result.ok and result.checked == 2 and result.first_bad_id == entries[2].id
    assert f"record {victim.id} was rewritten" in (result.problem or "")


async def test_limits_deleting_the_newest_entries_or_rebuilding_the_chain_goes_unnoticed(storage: Storage) -> None:
    # The chain has no anchor outside the database: what it cannot tell.
    entries = await append_all(storage, [entry(at=T0 + n) for n in range(5)])
    await execute(storage, "DELETE FROM audit_log WHERE id >= ?", entries[3].id)
    assert await storage.verify_audit() == AuditVerification(True, 3, None, None)
    # Someone who rewrites an entry and recomputes every later hash leaves a valid chain too.
    stored_entries = await chain(storage)
    previous = stored_entries[0].hash or ""
    for found in stored_entries[1:]:
        rewritten = dataclasses.replace(found, actor="someone else", prev_hash=previous)
        previous = entry_hash(rewritten, previous)
        await execute(
            storage, "UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE id = ?",
            rewritten.actor, rewritten.prev_hash, previous, found.id,
        )  # fmt: skip
    assert await storage.verify_audit() == AuditVerification(True, 3, None, None)


async def test_concurrent_appends_from_two_storages_keep_one_chain(storage_factory: Callable[[], Storage]) -> None:
    first, second = storage_factory(), storage_factory()
    await first.open()
    await second.open()

    async def append_many(store: Storage, name: str) -> list[int]:
        return [await store.append_audit(entry(actor=name, at=T0 + n)) for n in range(25)]

    ids = await asyncio.gather(*(append_many(store, name) for store in (first, second) for name in ("a", "b")))
    assert len({i for batch in ids for i in batch}) == 100
    for store in (first, second):
        assert await store.verify_audit() == AuditVerification(True, 100, None, None)
    stored_entries = await chain(first)
    assert [e.prev_hash for e in stored_entries[1:]] == [e.hash for e in stored_entries[:-1]]
    assert len({e.prev_hash for e in stored_entries}) == 100  # no fork: every hash is followed once


# ---------------------------------------------------------------- properties

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
ENTRIES = st.lists(
    st.builds(
        AuditEntry,
        at=st.floats(T0 - 100, T0 + 100),
        actor=st.text(max_size=10),
        action=st.sampled_from(["breaker.force", "alert.silence", "a\x00b", "é"]),
        target=st.sampled_from(["anthropic", "openai", "", "x\x00"]),
        details=st.dictionaries(st.text(max_size=8), JSON, max_size=4),
    ),
    max_size=12,
)
FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "since": st.floats(T0 - 120, T0 + 120),
        "until": st.floats(T0 - 120, T0 + 120),
        "action": st.sampled_from(["breaker.force", "a\ufffdb", "a\x00b", "é"]),
        "target": st.sampled_from(["anthropic", "", "x\ufffd"]),
        "limit": st.integers(0, 15),
    },
)


def clean(original: AuditEntry, entry_id: int) -> AuditEntry:
    """``original`` as storage returns it: NUL replaced, its id set."""
    return AuditEntry(
        original.at,
        without_nul(original.actor),
        without_nul(original.action),
        without_nul(original.target),
        stored_json(original.details),
        id=entry_id,
    )


def model(entries: list[AuditEntry], filters: dict[str, Any]) -> list[AuditEntry]:
    """What list_audit returns according to its contract, computed in Python."""
    matching = [
        e
        for e in reversed(entries)
        if ("since" not in filters or e.at >= filters["since"])
        and ("until" not in filters or e.at < filters["until"])
        and ("action" not in filters or e.action == filters["action"].replace("\x00", "\ufffd"))
        and ("target" not in filters or e.target == filters["target"])
    ]
    return matching[: filters.get("limit", 100)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=ENTRIES, filters=st.lists(FILTERS, min_size=1, max_size=4))
async def test_listing_matches_a_model_of_the_contract(
    storage: Storage, entries: list[AuditEntry], filters: list[dict[str, Any]]
) -> None:
    await storage.delete_audit(before=1e12, limit=1_000_000)
    appended = [clean(e, await storage.append_audit(e)) for e in entries]
    for query in filters:
        assert await listed(storage, **query) == model(appended, query), query


# ---------------------------------------------------------------- both backends alike


@pytest.fixture
async def both(tmp_path: Path, pg_schema: str) -> AsyncIterator[tuple[SqliteStorage, PostgresStorage]]:
    sqlite = SqliteStorage(tmp_path / "audit.db")
    postgres = PostgresStorage(POSTGRES_DSN, schema=pg_schema, min_size=1, max_size=2)
    await sqlite.open()
    await postgres.open()
    yield sqlite, postgres
    await sqlite.close()
    await postgres.close()


@pytest.mark.postgres
async def test_both_backends_return_identical_results(both: tuple[SqliteStorage, PostgresStorage]) -> None:
    entries = [
        entry(f"action{n % 3}", f"target{n % 4}", T0 + (n * 5) % 17 + 0.25, actor=f"ops{n % 2}",
              details={"n": n, "reason": f"r\x00{n}", "nested": {"list": [n, str(n), n / 8, None, n % 2 == 0]}})
        for n in range(30)
    ]  # fmt: skip
    results: list[list[Any]] = []
    for store in both:
        ids = [await store.append_audit(e) for e in entries]
        answers: list[Any] = [ids]
        for query in (
            {},
            {"action": "action1"},
            {"target": "target2", "limit": 3},
            {"since": T0 + 3, "until": T0 + 12},
            {"action": "action0", "target": "target0"},
            {"before_id": ids[20], "limit": 4},
            {"before_id": ids[20], "since": T0 + 5, "action": "action2"},
        ):
            answers.append(await store.list_audit(**query))
        answers.append([await store.delete_audit(before=T0 + 8, limit=5) for _ in range(4)])
        answers.append(await store.list_audit(limit=1000))
        results.append(answers)
    sqlite_answers, postgres_answers = results
    assert sqlite_answers == postgres_answers
    assert exactly(sqlite_answers) == exactly(postgres_answers)


def exactly(value: Any) -> bytes:
    """``value`` as JSON with sorted keys: unlike ==, it tells 1 from 1.0 and True from 1."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS, default=vars_of)


def vars_of(value: Any) -> Any:
    if isinstance(value, AuditEntry):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    raise TypeError(type(value).__name__)


@pytest.mark.postgres
async def test_both_backends_return_the_same_numbers(both: tuple[SqliteStorage, PostgresStorage]) -> None:
    details = {
        "floats": [0.1, 0.0, 1.0, 1e-7, 5e-324, 1234567.875, 9007199254740993.0, 9999999999999998.0],
        "exponent": [1e16, -1.2e16, 4.706197167339058e16, 2.0**63, -(2.0**63), 1.8e19],
        "huge": [2.0**64, 1e300, -1.7976931348623157e308],
        "ints": [0, -1, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1],
        "bools": [True, False, None],
    }
    found = []
    for store in both:
        await store.append_audit(entry(details=details))
        [stored] = await store.list_audit()
        assert stored.details == details
        found.append(stored.details)
        await store.append_audit(entry(details={"zero": -0.0}))
        assert repr((await store.list_audit(limit=1))[0].details) == "{'zero': 0.0}"
    assert exactly(found[0]) == exactly(found[1])
    # Floats of 1e16 or more within 64 bits come back as the equal int; the rest as floats.
    assert [type(n) for n in found[0]["exponent"]] == [int] * 6
    assert all(type(n) is float for n in found[0]["floats"] + found[0]["huge"])
    assert all(type(n) is int for n in found[0]["ints"])


# ---------------------------------------------------------------- query plans


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(tmp_path / "audit.db")
    await store.open()
    for n in range(500):
        await store.append_audit(entry(f"a{n % 5}", f"t{n % 7}", T0 + n))
    yield store
    await store.close()


async def sqlite_plan(store: SqliteStorage, sql: str, *params: Any) -> list[str]:
    def explain(db: sqlite3.Connection) -> list[str]:
        return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]

    return await store.read(explain)


async def test_sqlite_serves_paging_and_filters_without_sorting(sqlite: SqliteStorage) -> None:
    for analyzed in (False, True):
        if analyzed:
            await sqlite.write(lambda db: db.execute("ANALYZE"))
        sql, params = _sqlite_audit.list_sql(None, None, None, None, 100)
        plan = await sqlite_plan(sqlite, sql, *params, 10)
        assert plan == ["SEARCH audit_log USING INTEGER PRIMARY KEY (rowid<?)"], plan
        sql, params = _sqlite_audit.list_sql(None, None, "a1", None, 100)
        plan = await sqlite_plan(sqlite, sql, *params, 10)
        assert plan == ["SEARCH audit_log USING INDEX audit_log_action (action=? AND rowid<?)"], plan
        sql, params = _sqlite_audit.list_sql(None, None, None, "t1", None)
        plan = await sqlite_plan(sqlite, sql, *params, 10)
        assert plan == ["SEARCH audit_log USING INDEX audit_log_target (target=?)"], plan
        plan = await sqlite_plan(sqlite, _sqlite_audit.OLDEST_AUDIT, 10)
        assert plan == ["SCAN audit_log"], plan  # the table b-tree in rowid order, stopped by LIMIT
        plan = await sqlite_plan(sqlite, _sqlite_audit.DELETE_AUDIT, 10)
        assert plan == ["SEARCH audit_log USING INTEGER PRIMARY KEY (rowid<?)"], plan


@pytest.fixture
async def postgres(pg_schema: str) -> AsyncIterator[PostgresStorage]:
    store = PostgresStorage(POSTGRES_DSN, schema=pg_schema, min_size=1, max_size=2)
    await store.open()
    await store.pool.execute(
        "INSERT INTO audit_log (at, actor, action, target, details, prev_hash, hash)"
        " SELECT $1 + n, 'ops', 'a' || n % 100, 't' || n % 97, '{}', '', '' FROM generate_series(1, 3000) AS n",
        T0,
    )
    await store.pool.execute("ANALYZE audit_log")
    yield store
    await store.close()


async def postgres_plan(store: PostgresStorage, sql: str, *params: Any) -> str:
    async with store.pool.acquire() as connection:
        # With so few rows a sequential or bitmap scan (then a sort) would be cheapest; forbid
        # them to see which index the query can use and whether it serves the order.
        await connection.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        rows = await connection.fetch("EXPLAIN " + sql, *params)
        await connection.execute("RESET enable_seqscan; RESET enable_bitmapscan")
    return "\n".join(row[0] for row in rows)


@pytest.mark.postgres
async def test_postgres_serves_paging_and_filters_from_an_index(postgres: PostgresStorage) -> None:
    sql, params = _postgres_audit.list_sql(None, None, None, None, 100)
    plan = await postgres_plan(postgres, sql, *params, 10)
    assert "Index Scan Backward using audit_log_pkey" in plan and "Sort" not in plan, plan
    sql, params = _postgres_audit.list_sql(None, None, "a1", None, 2000)
    plan = await postgres_plan(postgres, sql, *params, 10)
    assert "Index Scan Backward using audit_log_action" in plan and "Sort" not in plan, plan
    sql, params = _postgres_audit.list_sql(None, None, None, "t1", None)
    plan = await postgres_plan(postgres, sql, *params, 10)
    assert "Index Scan Backward using audit_log_target" in plan and "Sort" not in plan, plan
    plan = await postgres_plan(postgres, _postgres_audit.OLDEST_AUDIT, 10)
    assert "Index Scan using audit_log_pkey" in plan and "Sort" not in plan, plan
    plan = await postgres_plan(postgres, _postgres_audit.DELETE_AUDIT, 10)
    assert "audit_log_pkey" in plan, plan
