"""Counting distinct users in bounded memory: exact up to a limit, a HyperLogLog estimate beyond."""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

# 2**12 one-byte registers: 4 KiB, a standard error of 1.04 / sqrt(4096) = 1.6 %.
_PRECISION = 12
_REGISTERS = 1 << _PRECISION
_REST_BITS = 64 - _PRECISION
_ALPHA = 0.7213 / (1 + 1.079 / _REGISTERS)


def _hash(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


class DistinctCounter:
    """How many distinct values were added.

    Exact (a set of 64-bit hashes) up to ``limit`` values; from the next one
    on, a HyperLogLog sketch (Flajolet et al., 2007) seeded with every hash
    seen, whose estimate is never reported below ``limit + 1``. Memory stays
    under ``max(limit * ~64 bytes, 4 KiB)``.
    """

    __slots__ = ("_exact", "_limit", "_registers")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._exact: set[int] | None = set()
        self._registers: bytearray | None = None

    @property
    def estimated(self) -> bool:
        """Whether :attr:`count` is an estimate (more than ``limit`` distinct values were added)."""
        return self._registers is not None

    @property
    def count(self) -> int:
        """The number of distinct values added (estimated beyond ``limit``)."""
        if self._exact is not None:
            return len(self._exact)
        return max(self._limit + 1, round(self._estimate()))

    def add(self, value: str) -> None:
        """Count ``value``."""
        hashed = _hash(value)
        if self._exact is None:
            self._add_to_sketch(hashed)
            return
        self._exact.add(hashed)
        if len(self._exact) > self._limit:
            self._registers = bytearray(_REGISTERS)
            for seen in self._exact:
                self._add_to_sketch(seen)
            self._exact = None

    def _add_to_sketch(self, hashed: int) -> None:
        assert self._registers is not None
        index = hashed >> _REST_BITS
        rank = _REST_BITS - (hashed & ((1 << _REST_BITS) - 1)).bit_length() + 1
        if rank > self._registers[index]:
            self._registers[index] = rank

    def _estimate(self) -> float:
        assert self._registers is not None
        raw = _ALPHA * _REGISTERS * _REGISTERS / sum(2.0**-register for register in self._registers)
        zeros = self._registers.count(0)
        if raw <= 2.5 * _REGISTERS and zeros:
            return _REGISTERS * math.log(_REGISTERS / zeros)  # linear counting: better for small counts
        return raw

    def to_state(self) -> dict[str, Any]:
        """A JSON-able form (hashes only, never the values)."""
        if self._exact is not None:
            return {"exact": sorted(f"{hashed:016x}" for hashed in self._exact)}
        assert self._registers is not None
        return {"sketch": base64.b64encode(bytes(self._registers)).decode("ascii")}

    @classmethod
    def from_state(cls, state: dict[str, Any], limit: int) -> DistinctCounter:
        """The counter :meth:`to_state` described; raises ValueError on anything else."""
        counter = cls(limit)
        if "sketch" in state:
            registers = base64.b64decode(state["sketch"], validate=True)
            if len(registers) != _REGISTERS:
                raise ValueError("users: sketch of the wrong size")
            counter._exact, counter._registers = None, bytearray(registers)
            return counter
        exact = {int(hashed, 16) for hashed in state["exact"]}
        if any(not 0 <= hashed < 1 << 64 for hashed in exact):
            raise ValueError("users: not a 64-bit hash")
        if len(exact) > limit:
            counter._exact, counter._registers = None, bytearray(_REGISTERS)
            for hashed in exact:
                counter._add_to_sketch(hashed)
        else:
            counter._exact = exact
        return counter
