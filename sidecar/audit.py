"""Who did what, when: the audit trail's record, its hash chain and its verification result.

Every stored entry carries ``prev_hash`` (the ``hash`` of the entry stored before it,
or of the retention anchor, or :data:`GENESIS_HASH` for the first) and ``hash``, the
SHA-256 of its canonical form (see :func:`canonical_bytes`), so that an edited,
inserted or deleted entry breaks the chain. Storage assigns both.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

import orjson

# The prev_hash of the first entry ever stored.
GENESIS_HASH = "0" * 64
# Longer user agents are cut to this many characters by storage (see sidecar.storage._base.audit_row).
USER_AGENT_MAX = 256


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One operator action, as appended to the audit trail and read back from it.

    ``ip`` is stored as given: pass a network from :func:`anonymize_ip`, never a raw
    address. ``user_agent`` is stored cut to :data:`USER_AGENT_MAX` characters.
    ``before`` and ``after`` (the target's state around the action) are JSON like
    ``details``. ``id``, ``prev_hash`` and ``hash`` are assigned by storage and
    ignored on append.
    """

    at: float  # wall-clock Unix seconds
    actor: str  # the token name that acted (never the token itself)
    action: str  # e.g. "breaker.force"
    target: str  # e.g. "anthropic"
    details: dict[str, Any]  # JSON-serialisable (reason, mode, expiry...)
    id: int | None = None  # assigned by storage; None before insertion
    ip: str | None = None  # the client's network, e.g. "203.0.113.0/24"
    user_agent: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    prev_hash: str | None = None  # hex SHA-256, assigned by storage
    hash: str | None = None  # hex SHA-256, assigned by storage


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The outcome of walking the stored chain: ``ok``, how many entries were checked, and the first problem."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str | None = None


def anonymize_ip(address: str) -> str | None:
    """The /24 network of an IPv4 address or the /48 of an IPv6 one (e.g. ``"203.0.113.0/24"``); None if unparseable.

    An IPv4-mapped IPv6 address counts as IPv4; a zone index (``%eth0``) is dropped.
    """
    try:
        parsed = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except (ValueError, AttributeError):
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))


def canonical_bytes(entry: AuditEntry, prev_hash: str) -> bytes:
    """The bytes an entry's hash covers: compact JSON with keys sorted (at every level), UTF-8.

    The object is ``{"prev", "at", "actor", "ip", "user_agent", "action", "target",
    "details", "before", "after"}`` with ``prev`` the previous hash (hex), ``at`` a float
    and the rest as stored (absent values as null); ``id`` is not part of it.
    """
    return orjson.dumps(
        {
            "prev": prev_hash,
            "at": float(entry.at),
            "actor": entry.actor,
            "ip": entry.ip,
            "user_agent": entry.user_agent,
            "action": entry.action,
            "target": entry.target,
            "details": entry.details,
            "before": entry.before,
            "after": entry.after,
        },
        option=orjson.OPT_SORT_KEYS,
    )


def entry_hash(entry: AuditEntry, prev_hash: str) -> str:
    """The hex SHA-256 of :func:`canonical_bytes` of ``entry`` chained to ``prev_hash``."""
    return hashlib.sha256(canonical_bytes(entry, prev_hash)).hexdigest()
