"""Durations and sizes as operators write them ("250ms", "5s", "10MiB"), parsed once."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}


def parse_duration(value: str) -> float:
    """Parse ``"250ms"``, ``"5s"``, ``"2m"``, ``"1h"`` or ``"3d"`` into seconds."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f'expected a duration like "5s", got "{value}"')
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_size(value: str | int) -> int:
    """Parse ``"512KiB"``, ``"10MiB"``, ``"1GB"`` or a plain byte count into bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a size must not be negative, got {value}")
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f'expected a size like "10MiB", got "{value}"')
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def _duration(value: Any) -> float:
    if isinstance(value, float | int) and not isinstance(value, bool):
        # Already parsed (a default, or a model built in code).
        if value < 0:
            raise PydanticCustomError("duration", "a duration must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise PydanticCustomError("duration", 'expected a duration like "5s", got {value}', {"value": repr(value)})
    if value.strip().startswith("-"):
        raise PydanticCustomError("duration", 'a duration must not be negative, got "{value}"', {"value": value})
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("size", 'expected a size like "10MiB", got {value}', {"value": repr(value)})
    try:
        return parse_size(value)
    except ValueError as exc:
        raise PydanticCustomError("size", str(exc)) from None


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of ``seconds`` as a duration (``"250ms"``, ``"2m"``)."""
    for unit in ("d", "h", "m", "s"):
        count = seconds / _DURATION_UNITS[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    return f"{round(seconds * 1000, 3):g}ms"


def format_size(size: int) -> str:
    """The shortest exact spelling of ``size`` bytes (``"10MiB"``)."""
    for unit in ("GiB", "MiB", "KiB"):
        if size >= _SIZE_UNITS[unit] and size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}"
    return f"{size}B"


Duration = Annotated[float, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)]
"""A non-negative duration in seconds, written as ``"250ms"``, ``"5s"``, ``"2m"``..."""

ByteSize = Annotated[int, BeforeValidator(_size), PlainSerializer(format_size, return_type=str)]
"""A size in bytes, written as ``"10MiB"``, ``"512KB"`` or a plain number."""
