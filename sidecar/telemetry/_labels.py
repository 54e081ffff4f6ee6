"""Keeping metric label values bounded."""

from __future__ import annotations


class BoundedLabel:
    """Passes through the first ``limit`` distinct values, folds every later one into ``other``.

    Label values come from clients (service names): without a bound a
    misbehaving client could create unbounded series.
    """

    def __init__(self, limit: int, *, other: str = "other", empty: str = "unknown") -> None:
        self._limit = limit
        self._other = other
        self._empty = empty
        self._seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        """The label value to use for ``value``."""
        if not value:
            return self._empty
        if value in self._seen:
            return value
        if len(self._seen) < self._limit:
            self._seen.add(value)
            return value
        return self._other
