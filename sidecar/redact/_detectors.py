"""Built-in detectors: a pattern plus a resolver that validates each candidate.

A resolver receives the text, the regex match and where the detection body
starts (after the delimiter), and returns ``(start, end, resume)``: the span
to replace and where scanning continues, or None to reject the candidate.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from . import _patterns as p
from ._phones import international_phone, nanp_phone, national_phone
from ._validators import card_ok, iban_length, mod97_ok

Hit = tuple[int, int, int]
Resolver = Callable[[str, "re.Match[str]", int], "Hit | None"]


@dataclass(frozen=True, slots=True)
class Detector:
    """One built-in detector: the kind it emits, its pattern and its resolver.

    ``gate`` names a substring without which the detector cannot match; the
    scanner leaves gated detectors out of its pass for strings lacking it.
    ``first`` is a character-class body (no leading "^" or "-", so bodies can
    be concatenated) covering every character a detection can start with
    (None: any word character). ``guard`` is a cheap lookahead
    shared by a run of detectors, tested once for all of them.
    """

    kind: str
    pattern: str
    resolve: Resolver
    first: str | None
    gate: str | None = None
    guard: str | None = None


def _whole(text: str, m: re.Match[str], start: int) -> Hit | None:
    return start, m.end(), m.end()


def _group(name: str) -> Resolver:
    """Replace only the named group (a URL's password, a parameter's value)."""

    def resolve(text: str, m: re.Match[str], start: int) -> Hit | None:
        if text.startswith("[REDACTED:", m.start(name)):
            return None  # already redacted: do not count it twice
        return m.start(name), m.end(name), m.end()

    return resolve


def _bearer(text: str, m: re.Match[str], start: int) -> Hit | None:
    s, e = m.span("bt_token")
    if e - s > 8 and text[e - 1] == ".":
        e = max(s + 8, len(text[s:e].rstrip(".")) + s)  # a sentence's full stop, not the token's
    token = text[s:e]
    # "Bearer authentication failed", "Basic Usage": prose, not credentials.
    if len(token) < 8 or (token.isalpha() and (token.islower() or token.istitle())):
        return None
    return s, e, e


def _email(text: str, m: re.Match[str], start: int) -> Hit | None:
    while text[start] in ".%+'-":  # a local part cannot start with punctuation
        start += 1
    if text[start] == "@":
        return None
    return start, m.end(), m.end()


def _iban(text: str, m: re.Match[str], start: int) -> Hit | None:
    length = iban_length(text[start : start + 2])
    if length is None:
        return None
    # The pattern may run into a following word ("... 1332 THEN"): cut at the
    # country's length, which must fall on a separator or the end of the match.
    seen, end = 0, start
    limit = m.end()
    while end < limit and seen < length:
        if text[end] != " ":
            seen += 1
        end += 1
    if seen != length or (end < limit and text[end] != " "):
        return None
    if not mod97_ok(text[start:end]):
        return None
    return start, end, end


_CARD_GROUP = re.compile(r"\d+")


def _card(text: str, m: re.Match[str], start: int) -> Hit | None:
    groups = [g for g in _CARD_GROUP.finditer(text, start, m.end())]
    digits = [g.group() for g in groups]
    if card_ok("".join(digits)):
        return start, groups[-1].end(), groups[-1].end()
    # In "4111 1111 1111 1111 200" the short fifth group is the next number.
    if len(groups) == 5 and card_ok("".join(digits[:4])):
        return start, groups[3].end(), groups[3].end()
    return None


# "Chrome/120.0.0.0", "OPR/106.0.0.0", "rv:1.9.2.20": versions in a User-Agent.
_PRODUCT_VERSION = re.compile(r"(?<![\w/.\-])(?:[A-Z][A-Za-z]{1,30}/|rv:)\Z")


def _ipv4(text: str, m: re.Match[str], start: int) -> Hit | None:
    for octet in text[start : m.end()].split("."):
        if int(octet) > 255 or (len(octet) > 1 and octet[0] == "0"):
            return None
    if text[start - 1] in "/:" and _PRODUCT_VERSION.search(text, max(0, start - 33), start):
        return None
    return start, m.end(), m.end()


def _ipv6(text: str, m: re.Match[str], start: int) -> Hit | None:
    candidate = text[start : m.end()]
    address = candidate.split("%", 1)[0]
    if "::" not in address and address.count(":") != 7:
        return None  # "12:30:45" and the like
    if not any(ch.isdigit() for ch in address):
        return None  # "dead::beef", "a::b": identifiers, not addresses
    if sum(1 for part in address.split(":") if part) < 2:
        return None  # "::", "::1": not anybody's address
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return None
    return start, m.end(), m.end()


_NUMERIC = p.NUMERIC_GUARD

DETECTORS: tuple[Detector, ...] = (
    Detector("url_credentials", p.URL_CREDENTIALS, _group("uc_cred"), None, gate="@"),
    Detector("url_secret_param", p.URL_SECRET_PARAM, _group("up_value"), "A-Za-z", gate="?"),
    Detector("bearer", p.BEARER, _bearer, "Bb"),
    Detector("jwt", p.JWT, _whole, "e"),
    *(Detector("secret", pattern, _whole, first) for first, pattern in p.SECRETS),
    Detector("email", p.EMAIL, _email, None, gate="@"),
    Detector("iban", p.IBAN, _iban, "A-Z"),
    Detector("card", p.CARD, _card, "0-9", guard=_NUMERIC),
    Detector("ssn", p.SSN, _whole, "0-8", guard=_NUMERIC),
    Detector("ip", p.IPV4, _ipv4, "0-9", guard=_NUMERIC),
    Detector("phone", p.PHONE_NANP, nanp_phone, "0-9", guard=_NUMERIC),
    Detector("phone", p.PHONE_NANP_TRUNK, _whole, "01", guard=_NUMERIC),
    Detector("phone", p.PHONE_NATIONAL, national_phone, "0", guard=_NUMERIC),
    Detector("ip", p.IPV6, _ipv6, "0-9A-Fa-f:", gate=":"),
    Detector("phone", p.PHONE_INTL, international_phone, "+"),
    Detector("phone", p.PHONE_NANP_PAREN, _whole, "("),
    Detector("phone", p.PHONE_NATIONAL_PAREN, national_phone, "("),
)
"""Detectors in priority order: when two match at the same place, the first wins."""
