"""Message templates: an error message with its variable parts replaced by one placeholder.

Every variable value becomes the same placeholder ``<*>`` (not ``<num>``,
``<uuid>``...) so that a slot holding a number in one occurrence and a hex id
in the next still yields one template, and values joined by punctuation
(``[1, 2, 3]``, ``2024-01-02T10:00:00Z``, ``10.0.0.1:5432``, ``1.5s``) collapse
to a single ``<*>`` whatever their number. URL query strings are dropped.
Every step is linear in the input, and the whole is idempotent (a template is
its own template), which the tests check with random input.
"""

from __future__ import annotations

import bisect
import re

PLACEHOLDER = "<*>"
MAX_TEMPLATE_LENGTH = 512
# Only this much of a message is read: the template of a longer one depends on its head alone.
_MAX_INPUT = 8192

_WHITESPACE = re.compile(r"\s+")
_URL_QUERY = re.compile(r"(https?://[^\s?#]*)[?#]\S*", re.IGNORECASE)
_REDACTED = re.compile(r"\[REDACTED:[\w.-]*\]")
_PSEUDONYM = re.compile(r"\b[a-z]{2,8}_[0-9a-f]{8,}\b")
# The lookbehind makes a match start only at the head of a run, so a long run is scanned once.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
# Long hex ids that happen to hold no digit; shorter all-letter ones are too often words.
_HEX = re.compile(r"\b[0-9a-f]{12,}\b", re.IGNORECASE)
# Any word holding a digit is a value: numbers, ids (order_4567, 0x7ffe, cus_N1a2), durations
# (123ms), sizes (512MB), versions. "utf8" or "S3" become <*> too, consistently, which is the point.
_WITH_DIGIT = re.compile(r"\b\w*\d\w*")
# Values joined by punctuation, or punctuation and a space: "1, 2, 3" but not "1 2 3": dropping a
# query string leaves "https://host/<*> <*>", which a second pass must not join.
_RUN = re.compile(r"<\*>(?:(?:[,;:./+\-]\s?)*<\*>)+")
_QUOTES = "'\"`"
_OPENER = re.compile(r"(?<!\w)['\"`]")
_CLOSER = re.compile(r"['\"`](?!\w)")


def message_template(message: str) -> str:
    """``message`` with numbers, ids, pseudonyms, redaction markers, e-mails, quoted values and
    durations replaced by ``<*>``, URL query strings dropped, whitespace collapsed, at most
    :data:`MAX_TEMPLATE_LENGTH` characters."""
    text = _WHITESPACE.sub(" ", message[:_MAX_INPUT]).strip()
    text = _REDACTED.sub(PLACEHOLDER, text)
    text = _PSEUDONYM.sub(PLACEHOLDER, text)
    text = _EMAIL.sub(PLACEHOLDER, text)
    text = _UUID.sub(PLACEHOLDER, text)
    text = _HEX.sub(PLACEHOLDER, text)
    text = _WITH_DIGIT.sub(PLACEHOLDER, text)
    # The order below keeps the whole idempotent: whether a quote opens or closes depends on
    # its neighbours, which the steps above may turn into placeholders; and a collapsed run
    # can end a URL next to its "?" (https://0, 0?), so query strings go after runs.
    text = _strip_quoted(text)
    text = _RUN.sub(PLACEHOLDER, text)
    text = _URL_QUERY.sub(r"\1", text)
    return _truncate(text)


def _strip_quoted(text: str) -> str:
    r"""Replace each quoted value ('x', "x" or `x`) by the placeholder.

    A quote opens when not preceded by a word character and closes at the next
    quote of its kind not followed by one, so apostrophes (``can't``) are left
    alone. This is what ``(?<!\w)'.*?'(?!\w)`` would do, without its quadratic
    rescans when many quotes never close.
    """
    closers: dict[str, list[int]] = {quote: [] for quote in _QUOTES}
    for match in _CLOSER.finditer(text):
        closers[match[0]].append(match.start())
    pieces: list[str] = []
    start = 0
    for match in _OPENER.finditer(text):
        index = match.start()
        if index < start:
            continue  # inside a value already replaced
        ends = closers[match[0]]
        position = bisect.bisect_right(ends, index)
        if position < len(ends):
            pieces += (text[start:index], PLACEHOLDER)
            start = ends[position] + 1
    pieces.append(text[start:])
    return "".join(pieces)


def _truncate(text: str) -> str:
    if len(text) <= MAX_TEMPLATE_LENGTH:
        return text
    # Cut at a space so that no value is split and the result templates to itself.
    head = text[: MAX_TEMPLATE_LENGTH - 1]
    cut = head.rfind(" ")
    if cut > 0:
        head = head[:cut]
    return head.rstrip() + "…"
