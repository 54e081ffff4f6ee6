"""Token generation, hashing and lookup."""

from __future__ import annotations

from sidecar.auth import TOKEN_PREFIX, TokenRegistry, hash_token, new_token


def test_new_tokens_are_unique_prefixed_and_long() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(t.startswith(TOKEN_PREFIX) and len(t) >= 40 for t in tokens)


def test_registry_finds_the_owner_by_hash_only() -> None:
    ingest, admin = new_token(), new_token()
    registry = TokenRegistry(
        [("backend", ["ingest"], hash_token(ingest)), ("ops", ["admin", "read"], hash_token(admin))]
    )
    found = registry.authenticate(admin)
    assert found is not None and found.name == "ops" and found.allows("read") and not found.allows("ingest")
    assert registry.authenticate(ingest).name == "backend"  # type: ignore[union-attr]
    assert registry.authenticate(ingest + "x") is None
    assert registry.authenticate("") is None
    assert registry.authenticate("\udcff") is None  # unpaired surrogates do not crash the lookup


def test_empty_registry_knows_nobody() -> None:
    assert TokenRegistry([]).authenticate(new_token()) is None
