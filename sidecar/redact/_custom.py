"""Operator-defined rules, compiled with RE2 so no configured pattern can hang a worker.

RE2 runs in time linear in the input whatever the pattern; patterns it cannot
run that way (look-around, back-references) are rejected at startup.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import re2

from sidecar.errors import ConfigError

from ._policy import CustomRule
from ._validators import luhn_ok, mod97_ok

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _luhn(match: str) -> bool:
    return luhn_ok("".join(ch for ch in match if ch.isdigit()))


_VALIDATORS: dict[str | None, Callable[[str], bool] | None] = {
    None: None,
    "luhn": _luhn,
    "mod97": mod97_ok,
}


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # the error goes into ConfigError, not stderr
    return options


def _search(regex: Any, text: str) -> Any:
    # For ASCII text byte offsets equal character offsets, and RE2's wrapper
    # is much cheaper on bytes (no offset translation).
    return regex.search(text.encode("ascii") if text.isascii() else text)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A custom rule ready to apply."""

    name: str
    regex: Any  # re2._Regexp (untyped library)
    validator: Callable[[str], bool] | None
    token: str

    def apply(self, text: str, counts: dict[str, int]) -> str:
        """Replace every (validated) match; return ``text`` itself when nothing matched."""
        pieces: list[str] = []
        last = 0
        for m in self.regex.finditer(text):
            start, end = m.span()
            if start == end or (self.validator is not None and not self.validator(m.group())):
                continue
            pieces += (text[last:start], self.token)
            last = end
            counts[self.name] = counts.get(self.name, 0) + 1
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)


class CustomRules:
    """All custom rules of a policy, with one combined RE2 search to skip clean strings."""

    def __init__(self, rules: tuple[CustomRule, ...]) -> None:
        self.rules = tuple(_compile_all(rules))
        self._any = None
        if self.rules:
            combined = "|".join(f"(?:{rule.pattern})" for rule in rules)
            self._any = re2.compile(combined, _options())

    def apply(self, text: str, counts: dict[str, int]) -> str:
        """Apply every rule in order; return ``text`` itself when nothing matched."""
        if self._any is None or _search(self._any, text) is None:
            return text
        for rule in self.rules:
            text = rule.apply(text, counts)
        return text


def _compile_all(rules: tuple[CustomRule, ...]) -> list[CompiledRule]:
    problems: list[str] = []
    compiled: list[CompiledRule] = []
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        where = f"redaction.custom_rules[{i}] ({rule.name!r})"
        if not isinstance(rule.name, str) or not _NAME.fullmatch(rule.name):
            problems.append(f"{where}: name must match [a-z][a-z0-9_]{{0,63}}")
        elif rule.name in seen:
            problems.append(f"{where}: duplicate rule name")
        seen.add(rule.name)
        if rule.validator not in _VALIDATORS:
            problems.append(f"{where}: validator must be 'luhn', 'mod97' or null")
        try:
            regex = re2.compile(rule.pattern, _options())
        except Exception as exc:  # re2.error, or TypeError for a non-string pattern
            problems.append(f"{where}: pattern is invalid or unsupported by RE2: {exc}")
            continue
        if regex.search("") is not None:
            problems.append(f"{where}: pattern matches the empty string")
            continue
        validator = _VALIDATORS.get(rule.validator)
        compiled.append(CompiledRule(rule.name, regex, validator, f"[REDACTED:{rule.name}]"))
    if problems:
        raise ConfigError(problems)
    return compiled
