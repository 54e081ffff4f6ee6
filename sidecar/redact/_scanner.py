"""One pass over a string for all built-in detectors.

The detector patterns are joined into one alternation that starts with a
delimiter character class. ``re`` then skips ahead with its fast
character-set search and only attempts a match at token boundaries, instead
of running every pattern at every position. The text is scanned with a
leading space so that its first token is a boundary too. Which alternative
matched is read from an empty marker group at its end (``lastindex``). When a
candidate fails validation, the remaining, lower-priority detectors are tried
at the same place before the scan moves on.

Detectors that need a rare character ("@", "?", several ":") are left out of
the alternation for strings without it: each combination of gates has its
own compiled pass, built on first use.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import groupby

from ._detectors import DETECTORS, Detector
from ._patterns import DELIMITER

Span = tuple[int, int, str]  # start, end, kind
_Level = tuple["re.Pattern[str]", dict[int, int]]  # pattern, marker group -> detector index
_GATES = ("@", "?", ":")  # bit 0, 1, 2 of a pass's key; see Scanner.find
_NOTHING: list[Span] = []  # returned for clean strings; callers must not mutate it


def _first_chars(detectors: tuple[Detector, ...]) -> str:
    """A lookahead for the characters any of ``detectors`` can start with, or ""."""
    if any(d.first is None for d in detectors):
        return ""
    return "(?=[" + "".join(sorted({d.first for d in detectors if d.first})) + "])"


def _compile(detectors: tuple[Detector, ...], first: int) -> _Level:
    alternatives: list[str] = []
    for guard, run in groupby(enumerate(detectors[first:], first), key=lambda x: x[1].guard):
        patterns = "|".join(f"(?:{d.pattern})(?P<_{i}>)" for i, d in run)
        alternatives.append(f"{guard}(?:{patterns})" if guard else patterns)
    # The first-character lookahead turns away most words in one test instead
    # of one test per alternative.
    lookahead = _first_chars(detectors[first:])
    pattern = re.compile(f"{DELIMITER}{lookahead}(?:{'|'.join(alternatives)})")
    markers = {index: int(name[1:]) for name, index in pattern.groupindex.items() if name[0] == "_"}
    return pattern, markers


class _Pass:
    """The compiled alternation for one subset of detectors."""

    def __init__(self, detectors: tuple[Detector, ...]) -> None:
        self._detectors = detectors
        # Level i holds detectors[i:], for retrying after detector i-1 rejects;
        # levels past the first are compiled only when a candidate is rejected.
        self._levels: dict[int, _Level] = {0: _compile(detectors, 0)}
        self._markers = self._levels[0][1]
        self.search = self._levels[0][0].search

    def accept(self, text: str, m: re.Match[str], spans: list[Span]) -> int:
        """Resolve a match (falling back to later detectors); return where to resume."""
        index = self._markers[m.lastindex or 0]
        while True:
            detector = self._detectors[index]
            hit = detector.resolve(text, m, m.start() + 1)
            if hit is not None:
                spans.append((hit[0] - 1, hit[1] - 1, detector.kind))
                return hit[2]
            index += 1
            if index == len(self._detectors):
                break
            level = self._levels.get(index) or self._levels.setdefault(index, _compile(self._detectors, index))
            retry = level[0].match(text, m.start())
            if retry is None:
                break
            m, index = retry, level[1][retry.lastindex or 0]
        return m.start() + 1


class Scanner:
    """Finds every built-in detection in a string, left to right, without overlaps."""

    def __init__(self, detectors: tuple[Detector, ...]) -> None:
        self._detectors = detectors
        self._passes: list[_Pass | None] = [None] * (1 << len(_GATES))

    def find(self, text: str) -> list[Span]:
        """Return the spans of ``text`` to replace, in order."""
        key = 1 if "@" in text else 0
        if "?" in text:
            key |= 2
        if ":" in text and ("::" in text or text.count(":") >= 7):
            key |= 4
        scan = self._passes[key] or self._build(key)
        padded = " " + text
        m = scan.search(padded)
        if m is None:
            return _NOTHING
        spans: list[Span] = []
        while m is not None:
            m = scan.search(padded, scan.accept(padded, m, spans))
        return spans

    def _build(self, key: int) -> _Pass:
        open_gates = {gate for bit, gate in enumerate(_GATES) if key >> bit & 1}
        detectors = tuple(d for d in self._detectors if d.gate is None or d.gate in open_gates)
        scan = self._passes[key] = _Pass(detectors)
        return scan


@lru_cache(maxsize=4)
def scanner_for(mask_ip: bool) -> Scanner:
    """The shared scanner for a policy's IP setting (compiled passes are reused)."""
    detectors = DETECTORS if mask_ip else tuple(d for d in DETECTORS if d.kind != "ip")
    return Scanner(detectors)
