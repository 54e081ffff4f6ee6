"""``sidecar audit verify`` against a real SQLite data directory, run in-process."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from sidecar.audit import AuditEntry
from sidecar.cli import main
from sidecar.storage import SqliteStorage

T0 = 1_700_000_000.0


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory holding a SQLite database with five audit records (ids 1 to 5)."""
    monkeypatch.chdir(tmp_path)  # no config/sidecar.yaml here: the defaults apply

    async def fill() -> None:
        storage = SqliteStorage(tmp_path / "data" / "sidecar.db")
        await storage.open()
        try:
            for n in range(5):
                await storage.append_audit(
                    AuditEntry(T0 + n, "ops", "breaker.force", f"t{n}", {"n": n}, ip="203.0.113.0/24")
                )
        finally:
            await storage.close()

    asyncio.run(fill())
    return tmp_path / "data"


def tamper(data_dir: Path, sql: str, *params: object) -> None:
    with sqlite3.connect(data_dir / "sidecar.db") as db:
        db.execute(sql, params)
    db.close()


def test_an_intact_log_exits_0(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out == "audit log intact: 5 records checked\n"


def test_the_data_dir_can_come_from_the_config_file(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(f"data_dir: {data_dir}\nstorage:\n  backend: sqlite\n  sqlite:\n    path: sidecar.db\n")
    assert main(["audit", "verify", "--config", str(config)]) == 0
    assert "5 records checked" in capsys.readouterr().out


def test_an_edited_record_exits_1_and_is_named(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tamper(data_dir, "UPDATE audit_log SET details = ? WHERE id = ?", '{"n": 99}', 3)
    assert main(["audit", "verify", "--data-dir", str(data_dir)]) == 1
    assert capsys.readouterr().out == "audit log TAMPERED: record 3 was edited (its hash does not match its content)\n"


def test_a_deleted_record_exits_1_and_the_gap_is_named(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tamper(data_dir, "DELETE FROM audit_log WHERE id = ?", 2)
    assert main(["audit", "verify", "--data-dir", str(data_dir)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("audit log TAMPERED: a record before 3 is missing")
    assert "prev_hash does not match record 1" in out


def test_retention_keeps_the_log_verifiable(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def retention() -> None:
        storage = SqliteStorage(data_dir / "sidecar.db")
        await storage.open()
        try:
            assert await storage.delete_audit(before=T0 + 2, limit=100) == 2
        finally:
            await storage.close()

    asyncio.run(retention())
    assert main(["audit", "verify", "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out == "audit log intact: 3 records checked\n"


def test_a_missing_database_exits_2_without_creating_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert main(["audit", "verify", "--data-dir", str(missing)]) == 2
    assert "no SQLite database" in capsys.readouterr().err
    assert not missing.exists()


def test_a_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("storage:\n  backend: nosuch\n")
    assert main(["audit", "verify", "--config", str(config)]) == 2
    assert "invalid configuration" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify", "--unknown"])
    assert exited.value.code == 2
    assert main(["audit"]) == 2
