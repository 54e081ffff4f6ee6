"""API tokens: generation, hashing and constant-time lookup."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

TOKEN_PREFIX = "sct_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: a token's name and scopes (anonymous has none)."""

    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """Whether this principal holds ``scope``."""
        return scope in self.scopes


ANONYMOUS = Principal(name="anonymous", scopes=frozenset())


def new_token() -> str:
    """A fresh random API token (256 bits), recognisable by its ``sct_`` prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is configured."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenRegistry:
    """Looks presented tokens up among the configured hashes."""

    def __init__(self, entries: Iterable[tuple[str, Iterable[str], str]]) -> None:
        """``entries`` are ``(name, scopes, sha256_hex)`` triples."""
        self._entries = [
            (bytes.fromhex(digest), Principal(name, frozenset(scopes))) for name, scopes, digest in entries
        ]

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, token: str) -> Principal | None:
        """The principal owning ``token``, or None; compares every entry in constant time."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found = None
        for expected, principal in self._entries:
            # No early exit: the time taken does not depend on which entry matched.
            if hmac.compare_digest(digest, expected):
                found = principal
        return found
