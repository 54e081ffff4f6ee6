"""API tokens, scopes and rate limits."""

from ._ratelimit import Decision, RateLimiter
from ._tokens import ANONYMOUS, TOKEN_PREFIX, Principal, TokenRegistry, hash_token, new_token

__all__ = [
    "ANONYMOUS",
    "TOKEN_PREFIX",
    "Decision",
    "Principal",
    "RateLimiter",
    "TokenRegistry",
    "hash_token",
    "new_token",
]
