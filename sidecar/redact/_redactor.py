"""The redactor: walks a decoded JSON value and redacts every string in it."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import re2

from sidecar.errors import ConfigError

from ._custom import CustomRules
from ._errors import RedactionFailed
from ._policy import RedactionPolicy, policy_problems
from ._scanner import Span, scanner_for

BUILTIN_KINDS = (
    "email", "phone", "card", "iban", "ssn", "ip", "jwt", "secret", "bearer",
    "url_credentials", "url_secret_param", "key", "user",
)  # fmt: skip
_MAX_DEPTH = 64
_CACHE_LIMIT = 4096
_CACHEABLE_LENGTH = 256
_HEX16 = re.compile(r"[0-9a-f]{16}")

# What to do with a dict value, decided once per distinct key.
_PLAIN, _SECRET, _PSEUDONYM = 0, 1, 2


class Redactor:
    """Redacts PII and secrets from strings and decoded JSON values, per a policy.

    Apart from bounded caches (which only ever hold strings in which nothing
    was found) a Redactor is immutable; it never mutates its input.
    """

    def __init__(self, policy: RedactionPolicy) -> None:
        """Compile ``policy``; raise ConfigError listing every problem with it."""
        problems = policy_problems(policy)
        try:
            self._custom = CustomRules(policy.custom_rules)
        except ConfigError as exc:
            problems += exc.problems
        try:
            self._secret_keys = _compile_secret_keys(policy.secret_keys)
        except ConfigError as exc:
            problems += exc.problems
        if problems:
            raise ConfigError(problems)
        self._find = scanner_for(policy.ip_addresses != "keep").find
        self._has_custom = bool(self._custom.rules)
        self._pseudonym_fields = frozenset(f.casefold() for f in policy.pseudonymize_fields)
        self._hmac = _KeyedHash(policy.pseudonym_key) if policy.pseudonym_key is not None else None
        self._pseudonymize_emails = policy.pseudonymize_emails
        kinds = [k for k in BUILTIN_KINDS if k != "ip" or policy.ip_addresses != "keep"]
        kinds += [r.name for r in self._custom.rules if r.name not in kinds]
        self.kinds: tuple[str, ...] = tuple(kinds)
        """Every kind this redactor can count, for pre-creating metric label values."""
        self._tokens = {kind: f"[REDACTED:{kind}]" for kind in self.kinds}
        self._clean: set[str] = set()  # strings seen to contain nothing
        self._keys: dict[str, int] = {}  # clean dict key -> action

    @property
    def can_pseudonymize(self) -> bool:
        """True when the policy has a pseudonym key, so :meth:`pseudonymize` works."""
        return self._hmac is not None

    def redact_text(self, text: str, counts: dict[str, int]) -> str:
        """Return ``text`` with every detection replaced; add to ``counts[kind]``."""
        if text in self._clean:
            return text
        if not self._has_custom:
            # No built-in detection is shorter than four characters. A token of
            # lowercase letters and digits (a hex id, a word) lacks the
            # separators, capitals or punctuation every detector needs (an
            # all-digit one fails islower), and the only all-letter shape, an
            # AWS key id, has twenty characters.
            n = len(text)
            if n < 4 or (text.isalnum() and (text.islower() or (n < 20 and text.isalpha()))):
                return text
        spans = self._find(text)
        result = self._render(text, spans, counts) if spans else text
        if self._has_custom:
            result = self._custom.apply(result, counts)
        if result is text and len(text) <= _CACHEABLE_LENGTH:
            if len(self._clean) >= _CACHE_LIMIT:
                self._clean.clear()  # cheaper than LRU bookkeeping; hot strings return quickly
            self._clean.add(text)
        return result

    def redact_value(self, value: object, counts: dict[str, int]) -> object:
        """Return a redacted copy of a decoded JSON value (dicts, lists, strings).

        Values under secret-looking keys are replaced whole (kind ``key``),
        values of pseudonymised fields become pseudonyms, or ``[REDACTED:user]``
        without a key (both count as ``user``), keys that are themselves
        personal data are redacted, other scalars are returned unchanged.
        Raises :class:`RedactionFailed` for nesting deeper than 64.
        """
        return self._value(value, counts, 0)

    def pseudonymize(self, raw_id: str, prefix: str = "usr") -> str:
        """Return ``<prefix>_`` + 16 hex chars of HMAC-SHA256(key, raw_id); idempotent."""
        if self._hmac is None:
            raise ConfigError(["redaction.pseudonym_key is required to pseudonymise"])
        head = len(prefix) + 1
        if len(raw_id) == head + 16 and raw_id.startswith(prefix + "_") and _HEX16.fullmatch(raw_id, head):
            return raw_id
        return f"{prefix}_{self._hmac.hexdigest(raw_id.encode())[:16]}"

    def _render(self, text: str, spans: list[Span], counts: dict[str, int]) -> str:
        pieces: list[str] = []
        last = 0
        for start, end, kind in spans:
            if kind == "email" and self._pseudonymize_emails:
                token = self.pseudonymize(text[start:end].lower(), "eml")
            else:
                token = self._tokens[kind]
            pieces += (text[last:start], token)
            counts[kind] = counts.get(kind, 0) + 1
            last = end
        pieces.append(text[last:])
        return "".join(pieces)

    def _value(self, value: object, counts: dict[str, int], depth: int) -> object:
        if isinstance(value, str):
            return self.redact_text(value if type(value) is str else str(value), counts)
        if isinstance(value, dict):
            return self._dict(value, counts, depth + 1)
        if isinstance(value, list | tuple):
            if depth >= _MAX_DEPTH:
                raise RedactionFailed("value nested too deeply to redact")
            items = [self._value(v, counts, depth + 1) for v in value]
            return tuple(items) if isinstance(value, tuple) else items
        return value

    def _dict(self, value: dict[Any, Any], counts: dict[str, int], depth: int) -> dict[Any, Any]:
        if depth > _MAX_DEPTH:
            raise RedactionFailed("value nested too deeply to redact")
        out: dict[Any, Any] = {}
        actions, text = self._keys, self.redact_text
        for key, item in value.items():
            action = actions.get(key)
            if action is None:
                key, action = self._new_key(key, counts, out)
            if action == _PLAIN:
                # Inline dispatch for the common leaf types: this loop is the hot path.
                kind = type(item)
                if kind is str:
                    item = text(item, counts)
                elif kind is dict:
                    item = self._dict(item, counts, depth + 1)
                elif not (kind is int or kind is float or kind is bool or item is None):
                    item = self._value(item, counts, depth)
            elif action == _SECRET:
                item = self._tokens["key"]
                counts["key"] = counts.get("key", 0) + 1
            else:
                item = self._pseudonym_value(item, counts, depth)
            out[key] = item
        return out

    def _new_key(self, key: Any, counts: dict[str, int], out: dict[Any, Any]) -> tuple[Any, int]:
        """Classify a key not in the cache; return the key to emit and the action."""
        if not isinstance(key, str):
            return key, _PLAIN
        if self._secret_keys.search(key) is not None:
            action = _SECRET
        elif key.casefold() in self._pseudonym_fields:
            action = _PSEUDONYM
        else:
            action = _PLAIN
        new_key = self.redact_text(key, counts)
        if new_key is key:
            if len(self._keys) >= _CACHE_LIMIT:
                self._keys.clear()
            self._keys[key] = action
        elif new_key in out:
            new_key = _unique(new_key, out)  # two redacted keys must not overwrite each other
        return new_key, action

    def _pseudonym_value(self, item: object, counts: dict[str, int], depth: int) -> object:
        if isinstance(item, bool) or not isinstance(item, str | int):
            return self._value(item, counts, depth)
        counts["user"] = counts.get("user", 0) + 1
        if self._hmac is None:
            return self._tokens["user"]
        return self.pseudonymize(str(item))


class _KeyedHash:
    """HMAC-SHA256 (RFC 2104) with the padded key hashed once, not on every call.

    Equal to ``hmac.digest(key, msg, "sha256")`` at a third of the cost,
    which matters at one user id per record.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def _unique(key: str, taken: dict[Any, Any]) -> str:
    n = 2
    while f"{key}#{n}" in taken:
        n += 1
    return f"{key}#{n}"


def _compile_secret_keys(pattern: str) -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except Exception as exc:  # re2.error, or TypeError for a non-string pattern
        raise ConfigError([f"redaction.secret_keys: invalid or unsupported pattern: {exc}"]) from None
