"""``sidecar check-config`` and ``sidecar token new``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sidecar.auth import TokenRegistry
from sidecar.cli import main
from sidecar.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_check_config_accepts_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "config" / "sidecar.yaml")]) == 0
    assert "ok" in capsys.readouterr().out


def test_check_config_lists_every_problem_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  shutdown_timeout: fast\n  listen: nowhere\nextra: 1\n")
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert 'server.shutdown_timeout: expected a duration like "5s", got "fast"' in err
    assert "server.listen:" in err and "extra: unknown key" in err


def test_check_config_print_masks_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGDSN", "postgresql://u:topsecret@db/x")
    path = tmp_path / "pg.yaml"
    path.write_text("storage:\n  backend: postgres\n  postgres:\n    dsn: ${PGDSN}\n")
    assert main(["check-config", "--print", str(path)]) == 0
    out = capsys.readouterr().out
    assert "topsecret" not in out
    assert yaml.safe_load(out)["storage"]["postgres"]["dsn"] == "***"


def test_check_config_on_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_token_new_prints_a_token_and_a_matching_config_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "new", "--name", "backend", "--scopes", "ingest,read"]) == 0
    out = capsys.readouterr().out
    token = out.split("): ", 1)[1].split()[0]
    entry = yaml.safe_load(out.split("(auth.tokens):\n", 1)[1].split("\nor in", 1)[0])[0]
    config = parse_config({"auth": {"tokens": [entry]}}, env={})
    registry = TokenRegistry((t.name, t.scopes, t.sha256) for t in config.auth.tokens)
    principal = registry.authenticate(token)
    assert principal is not None and principal.name == "backend"
    assert principal.scopes == {"ingest", "read"}
    env_line = out.rsplit("SIDECAR_API_TOKENS=", 1)[1].strip()
    assert parse_config({}, env={"SIDECAR_API_TOKENS": env_line}).auth.tokens[0].sha256 == entry["sha256"]


@pytest.mark.parametrize("scopes", ["root", "", "read,root"])
def test_token_new_refuses_unknown_scopes(scopes: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "new", "--name", "x", "--scopes", scopes]) == 1
    assert "--scopes" in capsys.readouterr().err


def test_token_new_refuses_a_bad_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "new", "--name", "has spaces:and colons", "--scopes", "read"]) == 1
    assert "--name" in capsys.readouterr().err
