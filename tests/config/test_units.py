"""Durations and sizes."""

from __future__ import annotations

import pytest

from sidecar.config import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("5s", 5), ("2m", 120), ("1h", 3600), ("3d", 259200), ("1.5s", 1.5), (" 10s ", 10)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["fast", "5", "5 sec", "s", "-5s", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"), [("10MiB", 10 * 2**20), ("512KB", 512_000), ("1GiB", 2**30), ("42", 42), (7, 7)]
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("seconds", [0.25, 5, 120, 3600, 86400, 1.5, 0.0015])
def test_duration_spelling_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize("size", [1, 1024, 10 * 2**20, 1500, 2**30])
def test_size_spelling_round_trips(size: int) -> None:
    assert parse_size(format_size(size)) == size
