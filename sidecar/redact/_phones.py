"""Resolvers for phone-number candidates: digit counts, grouping and trimming.

The phone patterns are deliberately permissive about grouping; these checks
turn a candidate into a number (E.164 allows at most 15 digits) and trim
groups that belong to a following number ("+14155552671 200 OK").
"""

from __future__ import annotations

import re

Hit = tuple[int, int, int]

_GROUP = re.compile(r"\(\d+\)|\d+")
_EXTENSION = re.compile(r"[ ]?(?:x|ext\.?)[ ]?\d{1,6}$")
_NOT_BEFORE_BARE_NUMBER = "#$€£¥"


def _digits(group: re.Match[str]) -> int:
    text = group.group()
    if text == "(0)":
        return 0  # the "(0)" trunk marker in "+44 (0)20 ..." is not dialled
    return len(text) - 2 if text[0] == "(" else len(text)


def international_phone(text: str, m: re.Match[str], start: int) -> Hit | None:
    """Accept "+CC ..." with 8 to 15 dialled digits."""
    extension = _EXTENSION.search(text, start, m.end())
    core_end = extension.start() if extension else m.end()
    groups = list(_GROUP.finditer(text, start + 1, core_end))
    if not groups:
        return None
    if _digits(groups[0]) >= 8:
        groups = groups[:1]  # compact E.164: what follows is another token
    total = sum(_digits(g) for g in groups)
    while total > 15 and len(groups) > 1:
        total -= _digits(groups.pop())
    if not 8 <= total <= 15:
        return None
    end = groups[-1].end()
    if extension is not None and end == core_end:
        end = m.end()
    return start, end, end


def nanp_phone(text: str, m: re.Match[str], start: int) -> Hit | None:
    """Accept 415-555-2671; a bare 4155552671 needs NANP-valid area and exchange codes."""
    if text[start + 3].isdigit():
        if text[start] in "01" or text[start + 3] in "01":
            return None
        if text[start - 1] in _NOT_BEFORE_BARE_NUMBER:
            return None  # "#4155552671" is an order number, "$4155552671" an amount
    return start, m.end(), m.end()


def _consistent_prefix(text: str, groups: list[re.Match[str]]) -> list[re.Match[str]]:
    """Keep leading groups while they share one separator ("01.02.2024 10" stops at the space)."""
    seps = []
    for g in groups[1:]:
        ch = text[g.start() - 1]
        seps.append("" if ch.isdigit() or ch == ")" else ch)
    kept = groups[:1]
    for g, sep in zip(groups[1:], seps, strict=True):
        if sep != seps[0]:
            break
        kept.append(g)
    return kept


def national_phone(text: str, m: re.Match[str], start: int) -> Hit | None:
    """Accept trunk-prefixed national numbers (9-12 digits), "00"-prefixed up to 15.

    "000" is zero padding, never a phone number. "00" is the international
    prefix; written without groups such a number is as likely a zero-padded
    code (a UPC in an EAN-13, "0012345678905"), so it must be grouped.
    """
    groups = _consistent_prefix(text, list(_GROUP.finditer(text, start, m.end())))
    formatted = len(groups) > 1 or text[start] == "("
    lead = groups[0].group().lstrip("(")
    if lead.startswith("000"):
        return None
    low, high = 9, 12
    if lead.startswith("00"):
        if not formatted:
            return None
        high = 15
    total = sum(_digits(g) for g in groups)
    while total > high and len(groups) > 1:
        total -= _digits(groups.pop())
    if not low <= total <= high:
        return None
    end = groups[-1].end()
    return start, end, end
