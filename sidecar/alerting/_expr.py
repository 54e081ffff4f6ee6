"""The alert-rule expression language: parse, validate and evaluate ``expr`` strings.

Grammar::

    expr     := and_expr ("or" and_expr)*
    and_expr := cmp ("and" cmp)*
    cmp      := primary (OP operand)?              OP: == != > >= < <=
    primary  := selector | "(" expr ")"
    selector := NAME ("{" [matcher ("," matcher)* [","]] "}")?
    matcher  := LABEL ("=" | "!=" | "=~" | "!~") STRING
    operand  := NUMBER | CONSTANT

``NAME`` and ``LABEL`` are ``[a-zA-Z_][a-zA-Z0-9_]*``; ``and``/``or`` are case-sensitive keywords. ``STRING`` is
double-quoted; inside it only ``\\"`` and ``\\\\`` are escapes (any other backslash is an error). ``NUMBER`` is an
integer, decimal or exponent literal with an optional leading ``-`` and must be finite. ``CONSTANT`` is one of
``healthy`` (0), ``degraded`` (1), ``down`` (2), ``unknown`` (-1), ``closed`` (0), ``half_open`` (1), ``open`` (2);
constants are plain numbers and may be used with any signal. ``and`` binds tighter than ``or``; both are
left-associative.

Semantics, evaluated against a :data:`Snapshot` (signal name -> series of ``(labels, value)``):

- A selector yields every series of its signal whose labels satisfy all matchers. A matcher on a label the series
  lacks compares against ``""``. ``=~``/``!~`` use RE2 and are fully anchored (the regex must match the whole label
  value); ``.`` also matches a newline. A signal missing from the snapshot yields nothing.
- A comparison ``x OP n`` keeps the series of ``x`` for which ``value OP n`` holds, with their values. When ``x`` is
  a selector, all its series are compared (including those whose value is 0).
- A bare selector (not the left side of a comparison) keeps the series whose value is non-zero, e.g.
  ``failover_all_open{group="ai"}`` or ``error_group_new{service="api"}``.
- NaN values never satisfy a comparison and are never "non-zero".
- ``a and b``: the series of ``a`` if ``b`` yields at least one series, else nothing.
- ``a or b``: the series of ``a``, plus the series of ``b`` whose label set (ignoring the signal name) is not
  already among ``a``'s.
- The result is a list of :class:`Sample`; each becomes one alert instance.

Signal names and labels are validated against the catalog (:data:`sidecar.alerting._signals.SIGNALS` by default)
at parse time; every problem is reported as an :class:`ExprError` with a 1-based column.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import re2

from sidecar.alerting._signals import SIGNALS, Signal

__all__ = [
    "COMPARISON_OPS",
    "CONSTANTS",
    "MATCHER_OPS",
    "And",
    "Compare",
    "Expr",
    "ExprError",
    "Labels",
    "Matcher",
    "Or",
    "Sample",
    "Selector",
    "Snapshot",
    "parse",
]

Snapshot: TypeAlias = Mapping[str, Sequence[tuple[Mapping[str, str], float]]]
"""Current signal values: signal name -> series, each ``(labels, value)``."""

CONSTANTS: dict[str, float] = {
    "healthy": 0.0,
    "degraded": 1.0,
    "down": 2.0,
    "unknown": -1.0,
    "closed": 0.0,
    "half_open": 1.0,
    "open": 2.0,
}
"""Named operands of comparisons."""

COMPARISON_OPS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
MATCHER_OPS = ("=", "!=", "=~", "!~")
KEYWORDS = frozenset({"and", "or"})
MAX_DEPTH = 64
"""Deepest allowed expression tree (selectors, comparisons, ``and``/``or`` and parentheses)."""


class ExprError(ValueError):
    """An expression that does not parse or does not fit the signal catalog.

    ``message`` describes the problem; ``column`` is the 1-based position in the expression text where it is.
    """

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} (column {column})")
        self.message = message
        self.column = column


class Labels(Mapping[str, str]):
    """An immutable, hashable label set; equal to any mapping with the same items."""

    __slots__ = ("_hash", "_items")

    def __init__(self, labels: Mapping[str, str] | None = None) -> None:
        items = dict(labels or {})
        self._items = items
        self._hash = hash(frozenset(items.items()))

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Labels({self._items!r})"


@dataclass(frozen=True, slots=True)
class Sample:
    """One series in an evaluation result: the signal it came from, its labels and its value.

    ``labels`` is stored as a :class:`Labels` (a hashable read-only mapping), so samples can be set members and dict
    keys; any mapping may be passed in.
    """

    signal: str
    labels: Mapping[str, str]
    value: float

    def __post_init__(self) -> None:
        if not isinstance(self.labels, Labels):
            object.__setattr__(self, "labels", Labels(self.labels))
        object.__setattr__(self, "value", float(self.value))


def _regex_options() -> Any:
    options = re2.Options()
    options.log_errors = False
    options.dot_nl = True
    return options


_RE2_OPTIONS = _regex_options()


def _compile_regex(pattern: str) -> Any:
    """Compile an RE2 regex; raise ``ValueError`` with RE2's reason when it is invalid."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid regex"
        raise ValueError(reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)) from None
    except UnicodeError:
        raise ValueError("the regex is not valid UTF-8") from None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher of a selector: ``label op "value"``."""

    label: str
    op: str
    value: str
    _regex: Any = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.op not in MATCHER_OPS:
            raise ValueError(f"invalid matcher operator {self.op!r}")
        if self.op in ("=~", "!~"):
            try:
                regex = _compile_regex(self.value)
            except ValueError as exc:
                raise ValueError(f"invalid regex for label {self.label!r}: {exc}") from None
            object.__setattr__(self, "_regex", regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a series with ``labels`` satisfies this matcher (a missing label counts as ``""``)."""
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        try:
            found = self._regex.fullmatch(actual) is not None
        except UnicodeError:
            found = False
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.label}{self.op}{_quote(self.value)}"


class Expr:
    """Base class of expression nodes."""

    __slots__ = ()

    def evaluate(self, snapshot: Snapshot) -> list[Sample]:
        """The series this expression keeps, given the current signal values."""
        raise NotImplementedError

    def signals(self) -> set[str]:
        """Names of the signals this expression reads."""
        raise NotImplementedError


def _nonzero(value: float) -> bool:
    return value != 0.0 and not math.isnan(value)


@dataclass(frozen=True, slots=True)
class Selector(Expr):
    """``name{matchers}``: the series of one signal whose labels satisfy every matcher."""

    name: str
    matchers: tuple[Matcher, ...] = ()

    def select(self, snapshot: Snapshot, keep: Callable[[float], bool] | None = None) -> list[Sample]:
        """Every matching series whose value ``keep`` accepts (any value without it).

        The value is tested first and a Sample made only for what is kept: most series of a
        signal fail a comparison, and making samples is most of the cost of an evaluation.
        """
        return [
            Sample(self.name, labels, value)
            for labels, value in snapshot.get(self.name, ())
            if (keep is None or keep(value)) and all(matcher.matches(labels) for matcher in self.matchers)
        ]

    def evaluate(self, snapshot: Snapshot) -> list[Sample]:
        return self.select(snapshot, _nonzero)

    def signals(self) -> set[str]:
        return {self.name}

    def __str__(self) -> str:
        if not self.matchers:
            return self.name
        return self.name + "{" + ",".join(str(matcher) for matcher in self.matchers) + "}"


def _format_number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    """``left op value``: the series of ``left`` whose value satisfies the comparison.

    ``constant`` is the constant name the operand was written as, if any (kept for the canonical form).
    """

    left: Expr
    op: str
    value: float
    constant: str | None = None

    def __post_init__(self) -> None:
        if self.op not in COMPARISON_OPS:
            raise ValueError(f"invalid comparison operator {self.op!r}")
        object.__setattr__(self, "value", float(self.value))
        if not math.isfinite(self.value):
            raise ValueError("the comparison operand must be a finite number")
        if self.constant is not None and CONSTANTS.get(self.constant) != self.value:
            raise ValueError(f"constant {self.constant!r} does not have the value {self.value!r}")

    def evaluate(self, snapshot: Snapshot) -> list[Sample]:
        compare, operand = COMPARISON_OPS[self.op], self.value

        def holds(value: float) -> bool:
            return not math.isnan(value) and compare(value, operand)

        if isinstance(self.left, Selector):
            return self.left.select(snapshot, holds)
        return [sample for sample in self.left.evaluate(snapshot) if holds(sample.value)]

    def signals(self) -> set[str]:
        return self.left.signals()

    def __str__(self) -> str:
        left = str(self.left) if isinstance(self.left, Selector) else f"({self.left})"
        operand = self.constant if self.constant is not None else _format_number(self.value)
        return f"{left} {self.op} {operand}"


@dataclass(frozen=True, slots=True)
class And(Expr):
    """``left and right``: the series of ``left`` if ``right`` yields at least one series."""

    left: Expr
    right: Expr

    def evaluate(self, snapshot: Snapshot) -> list[Sample]:
        samples = self.left.evaluate(snapshot)
        if not samples or not self.right.evaluate(snapshot):
            return []
        return samples

    def signals(self) -> set[str]:
        return self.left.signals() | self.right.signals()

    def __str__(self) -> str:
        left = f"({self.left})" if isinstance(self.left, Or) else str(self.left)
        right = f"({self.right})" if isinstance(self.right, (And, Or)) else str(self.right)
        return f"{left} and {right}"


@dataclass(frozen=True, slots=True)
class Or(Expr):
    """``left or right``: the series of ``left`` plus those of ``right`` with a label set not among ``left``'s."""

    left: Expr
    right: Expr

    def evaluate(self, snapshot: Snapshot) -> list[Sample]:
        samples = self.left.evaluate(snapshot)
        seen = {sample.labels for sample in samples}
        return samples + [sample for sample in self.right.evaluate(snapshot) if sample.labels not in seen]

    def signals(self) -> set[str]:
        return self.left.signals() | self.right.signals()

    def __str__(self) -> str:
        right = f"({self.right})" if isinstance(self.right, Or) else str(self.right)
        return f"{self.left} or {right}"


# --- lexer -------------------------------------------------------------------------------------------------------

_WHITESPACE = " \t\r\n\f\v"
_IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NUMBER_TAIL = re.compile(r"[a-zA-Z0-9_.]*")
_PUNCT = ("==", "!=", ">=", "<=", "=~", "!~", "=", ">", "<", "{", "}", "(", ")", ",")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "ident", "number", "string", "punct", "eof"
    text: str  # source text (for strings: the decoded value)
    pos: int  # 0-based offset

    @property
    def column(self) -> int:
        return self.pos + 1

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of input"
        if self.kind == "string":
            return f"string {_quote(self.text)}"
        return f"'{self.text}'"


def _lex(text: str, pos: int) -> tuple[_Token, int]:
    """The token starting at or after ``pos`` and the offset just past it."""
    length = len(text)
    while pos < length and text[pos] in _WHITESPACE:
        pos += 1
    if pos >= length:
        return _Token("eof", "", pos), pos
    char = text[pos]
    if match := _IDENT.match(text, pos):
        return _Token("ident", match.group(), pos), match.end()
    if char.isascii() and (char.isdigit() or char in "-."):
        match = _NUMBER.match(text, pos)
        if match is None:
            raise ExprError(f"unexpected character {char!r}", pos + 1)
        tail = _NUMBER_TAIL.match(text, match.end())
        if tail is not None and tail.group():
            raise ExprError(f"invalid number '{text[pos : tail.end()]}'", pos + 1)
        return _Token("number", match.group(), pos), match.end()
    if char == '"':
        return _lex_string(text, pos)
    for punct in _PUNCT:
        if text.startswith(punct, pos):
            return _Token("punct", punct, pos), pos + len(punct)
    raise ExprError(f"unexpected character {char!r}", pos + 1)


def _lex_string(text: str, start: int) -> tuple[_Token, int]:
    chars: list[str] = []
    pos = start + 1
    length = len(text)
    while pos < length:
        char = text[pos]
        if char == '"':
            return _Token("string", "".join(chars), start), pos + 1
        if char == "\\":
            escaped = text[pos + 1 : pos + 2]
            if escaped not in ('"', "\\"):
                shown = f"'\\{escaped}'" if escaped else "'\\' at the end of input"
                raise ExprError(f'invalid escape {shown} in string (only \\" and \\\\ are allowed)', pos + 1)
            chars.append(escaped)
            pos += 2
            continue
        chars.append(char)
        pos += 1
    raise ExprError("unterminated string", start + 1)


# --- parser ------------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, signals: Mapping[str, Signal]) -> None:
        self.text = text
        self.signals = signals
        self.token, self.next_pos = _lex(text, 0)

    def advance(self) -> _Token:
        token = self.token
        self.token, self.next_pos = _lex(self.text, self.next_pos)
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.token.kind == kind and (text is None or self.token.text == text)

    def fail(self, message: str, token: _Token | None = None) -> ExprError:
        return ExprError(message, (token or self.token).column)

    def parse(self) -> Expr:
        if self.at("eof"):
            raise self.fail("empty expression")
        expr, _ = self.parse_or(0)
        if not self.at("eof"):
            if self.at("punct", "="):
                raise self.fail("unexpected '=' (did you mean '=='?)")
            if self.at("punct", ")"):
                raise self.fail("unexpected ')' without a matching '('")
            raise self.fail(f"unexpected {self.token.describe()} after a complete expression")
        return expr

    def check_depth(self, depth: int, token: _Token) -> int:
        if depth > MAX_DEPTH:
            raise self.fail(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", token)
        return depth

    def parse_or(self, nesting: int) -> tuple[Expr, int]:
        left, depth = self.parse_and(nesting)
        while self.at("ident", "or"):
            keyword = self.advance()
            right, right_depth = self.parse_and(nesting)
            left, depth = Or(left, right), self.check_depth(max(depth, right_depth) + 1, keyword)
        return left, depth

    def parse_and(self, nesting: int) -> tuple[Expr, int]:
        left, depth = self.parse_cmp(nesting)
        while self.at("ident", "and"):
            keyword = self.advance()
            right, right_depth = self.parse_cmp(nesting)
            left, depth = And(left, right), self.check_depth(max(depth, right_depth) + 1, keyword)
        return left, depth

    def parse_cmp(self, nesting: int) -> tuple[Expr, int]:
        left, depth = self.parse_primary(nesting)
        if self.at("punct") and self.token.text in COMPARISON_OPS:
            op = self.advance()
            value, constant = self.parse_operand(op.text)
            return Compare(left, op.text, value, constant), self.check_depth(depth + 1, op)
        return left, depth

    def parse_operand(self, op: str) -> tuple[float, str | None]:
        token = self.token
        if token.kind == "number":
            self.advance()
            value = float(token.text)
            if not math.isfinite(value):
                raise self.fail(f"number '{token.text}' is out of range", token)
            return value, None
        if token.kind == "ident" and token.text not in KEYWORDS:
            self.advance()
            if token.text in CONSTANTS:
                return CONSTANTS[token.text], token.text
            raise self.fail(f"unknown constant '{token.text}' after '{op}'{_suggest(token.text, CONSTANTS)}", token)
        raise self.fail(f"expected a number or a constant after '{op}'")

    def parse_primary(self, nesting: int) -> tuple[Expr, int]:
        token = self.token
        if token.kind == "ident" and token.text not in KEYWORDS:
            return self.parse_selector(), 1
        if self.at("punct", "("):
            if nesting >= MAX_DEPTH:
                raise self.fail(f"expression is nested too deeply (more than {MAX_DEPTH} levels)")
            self.advance()
            expr, depth = self.parse_or(nesting + 1)
            if not self.at("punct", ")"):
                found = self.token.describe()
                raise self.fail(f"expected ')' to close the '(' at column {token.column}, found {found}")
            self.advance()
            return expr, depth
        raise self.fail(f"expected a signal name or '(', found {token.describe()}")

    def parse_selector(self) -> Selector:
        name_token = self.advance()
        signal = self.signals.get(name_token.text)
        if signal is None:
            raise self.fail(f"unknown signal '{name_token.text}'{_suggest(name_token.text, self.signals)}", name_token)
        matchers: list[Matcher] = []
        if self.at("punct", "{"):
            self.advance()
            while not self.at("punct", "}"):
                matchers.append(self.parse_matcher(signal))
                if self.at("punct", ","):
                    self.advance()
                elif not self.at("punct", "}"):
                    raise self.fail(f"expected ',' or '}}' after a label matcher, found {self.token.describe()}")
            self.advance()
        return Selector(signal.name, tuple(matchers))

    def parse_matcher(self, signal: Signal) -> Matcher:
        label = self.token
        if label.kind != "ident":
            raise self.fail(f"expected a label name or '}}', found {label.describe()}")
        if label.text not in signal.labels:
            has = f"it has {', '.join(signal.labels)}" if signal.labels else "it has no labels"
            raise self.fail(f"signal '{signal.name}' has no label '{label.text}' ({has})", label)
        self.advance()
        op = self.token
        if not (op.kind == "punct" and op.text in MATCHER_OPS):
            hint = " (use '=' in label matchers)" if op.kind == "punct" and op.text == "==" else ""
            raise self.fail(f"expected '=', '!=', '=~' or '!~' after label '{label.text}', found {op.describe()}{hint}")
        self.advance()
        value = self.token
        if value.kind != "string":
            raise self.fail(f"expected a double-quoted string after '{label.text}{op.text}', found {value.describe()}")
        if op.text in ("=~", "!~"):
            try:
                _compile_regex(value.text)
            except ValueError as exc:
                raise self.fail(f"invalid regex for label '{label.text}': {exc}", value) from None
        self.advance()
        return Matcher(label.text, op.text, value.text)


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse(text: str, signals: Mapping[str, Signal] = SIGNALS) -> Expr:
    """Parse and validate an alert-rule expression against the signal catalog.

    Raises :class:`ExprError` (with a 1-based column) on syntax errors, unknown signals or labels, invalid regexes
    and out-of-range numbers.
    """
    return _Parser(text, signals).parse()
