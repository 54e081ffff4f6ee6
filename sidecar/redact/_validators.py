"""Checksums that turn pattern candidates into confident detections.

Patterns alone over-match (any 16 digits look like a card); these run only on
candidates, so their cost is paid per hit, not per string.
"""

from __future__ import annotations

# Lengths from the SWIFT IBAN registry; an unknown country code is never an IBAN.
_IBAN_TABLE = """
AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27
DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HN28 HR21 HU28
IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22
MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24
SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30
"""
_IBAN_LENGTHS = {entry[:2]: int(entry[2:]) for entry in _IBAN_TABLE.split()}


def iban_length(country: str) -> int | None:
    """The IBAN length registered for ``country``, or None if it has no IBANs."""
    return _IBAN_LENGTHS.get(country)


def luhn_ok(digits: str) -> bool:
    """True if the digit string passes the Luhn checksum."""
    if len(digits) < 2 or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mod97_ok(text: str) -> bool:
    """True if ``text`` (letters and digits, spaces ignored) passes ISO 7064 mod 97-10."""
    compact = text.replace(" ", "").upper()
    if len(compact) < 5 or not compact.isascii() or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def iban_ok(compact: str) -> bool:
    """True if ``compact`` (no spaces) has its country's length and a valid checksum."""
    return iban_length(compact[:2]) == len(compact) and mod97_ok(compact)


def card_ok(digits: str) -> bool:
    """True if ``digits`` could be a payment card: issuer prefix, length, Luhn.

    The issuer check keeps Luhn's one-in-ten false positives off epoch
    millis/micros (which start with 1) and other long numeric ids.
    """
    n = len(digits)
    if n < 13 or n > 19:
        return False
    if n == 13:
        plausible = digits[0] == "4"
    elif n == 14:
        plausible = digits[0] == "3"
    elif n == 15:
        plausible = digits[:2] in ("34", "37") or digits[:4] in ("1800", "2131")
    else:
        first = digits[0]
        plausible = first in "3456" or (first == "2" and "2221" <= digits[:4] <= "2720")
    return plausible and luhn_ok(digits)
