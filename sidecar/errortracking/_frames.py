"""Parsing stack traces of Python, Node.js (V8), the JVM, Go and Ruby into frames.

Every parser returns frames **innermost first** (the frame that raised comes
first), whatever order its language prints them in: Python prints the
innermost frame last, the others first. Only the frames of the exception the
stack belongs to are kept: the last traceback of a Python chain (the one
raised), the JVM trace before its first ``Caused by:``, the first goroutine of
a Go dump.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from ._paths import go_in_app, jvm_class_in_app, normalise_path, path_in_app

MAX_FRAMES = 256
# A longer stack is read by its head and its tail, where the innermost frames are.
_MAX_STACK = 64 * 1024
_MAX_LINE = 2048


@dataclass(frozen=True, slots=True)
class Frame:
    """One stack frame; ``module`` and ``function`` identify it, ``line`` is only for display."""

    module: str  # normalised file path, JVM class or Go package
    function: str
    line: int | None
    in_app: bool


_PYTHON_HEADER = "Traceback (most recent call last):"
_PYTHON = re.compile(r'^\s*(?:\|\s*)*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+?)\s*$')
_JVM = re.compile(r"^\s*at (?:[\w.$-]+/+)?(?P<cls>[\w.$<>-]+)\.(?P<function>[\w$<>-]+)\((?P<source>[^()]*)\)\s*$")
_JVM_LAMBDA = re.compile(r"\$\$Lambda(?:\$\d+)?/0x[0-9a-f]+")
_JVM_STOP = ("Caused by:", "Suppressed:")
_NODE = re.compile(
    r"^\s*at (?:async )?(?:(?P<function>.+?) \((?P<file>.+?):(?P<line>\d+)(?::\d+)?\)"
    r"|(?P<bare>.+?):(?P<bare_line>\d+)(?::\d+)?)\s*$"
)
_NODE_ALIAS = re.compile(r" \[as [^\]]+\]$")
_GO_FUNCTION = re.compile(r"^(?:created by )?(?P<function>[^\s(][^\s]*?)(?:\([^()]*\))?(?: in goroutine \d+)?$")
_GO_FILE = re.compile(r"^\s+(?P<file>\S.*?\.go):(?P<line>\d+)(?:\s+\+0x[0-9a-f]+)?\s*$")
_GO_GENERICS = re.compile(r"\[[^\]]*\]")
_GOROUTINE = re.compile(r"^goroutine \d+ \[")
_RUBY = re.compile(r"^\s*(?:from\s+)?(?P<file>[^\s:][^:]*):(?P<line>\d+):in [`'](?P<function>[^`']+)'(?::.*)?$")


def stack_frames(stack: str | None) -> list[Frame]:
    """The frames of ``stack``, innermost first; empty when no known format matches."""
    if not stack:
        return []
    if len(stack) > _MAX_STACK:
        stack = stack[: _MAX_STACK // 2] + "\n" + stack[-_MAX_STACK // 2 :]
    lines = [line for line in stack.splitlines() if len(line) <= _MAX_LINE]
    for parser in _parsers_for(stack):
        frames = parser(lines)
        if frames:
            return frames[:MAX_FRAMES]
    return []


def _parsers_for(stack: str) -> list[Callable[[list[str]], list[Frame]]]:
    """Every parser, the likeliest first: trying one that cannot match costs a regex per line."""
    parsers: list[Callable[[list[str]], list[Frame]]] = [_python, _jvm, _node, _go, _ruby]
    if 'File "' in stack:
        likeliest = _python
    elif ".go:" in stack:
        likeliest = _go
    elif ":in " in stack:
        likeliest = _ruby
    elif ".java:" in stack or ".kt:" in stack or "(Native Method)" in stack or "(Unknown Source)" in stack:
        likeliest = _jvm
    else:
        likeliest = _node
    parsers.remove(likeliest)
    return [likeliest, *parsers]


def _file_frame(path: str, function: str, line: str | None) -> Frame:
    module, in_app = _location(path)
    return Frame(module, function.strip(), int(line) if line else None, in_app)


@functools.lru_cache(maxsize=4096)
def _location(path: str) -> tuple[str, bool]:
    """The normalised path and whether it is application code; the same few paths recur in every stack."""
    return normalise_path(path), path_in_app(path)


def _python(lines: list[str]) -> list[Frame]:
    start = 0
    for index, line in enumerate(lines):
        if _PYTHON_HEADER in line:
            start = index + 1
    frames = []
    for line in lines[start:]:
        match = _PYTHON.match(line)
        if match:
            frames.append(_file_frame(match["file"], match["function"], match["line"]))
    frames.reverse()
    return frames


def _jvm(lines: list[str]) -> list[Frame]:
    frames: list[Frame] = []
    for line in lines:
        stripped = line.strip()
        if frames and stripped.startswith(_JVM_STOP):
            break
        match = _JVM.match(_JVM_LAMBDA.sub("$$Lambda", line))
        if match:
            cls = match["cls"]
            source_line = match["source"].rpartition(":")[2]
            number = int(source_line) if source_line.isdigit() else None
            frames.append(Frame(cls, match["function"], number, jvm_class_in_app(cls)))
    return frames


def _node(lines: list[str]) -> list[Frame]:
    frames = []
    for line in lines:
        match = _NODE.match(line)
        if not match:
            continue
        if match["file"]:
            function = _NODE_ALIAS.sub("", match["function"]).removeprefix("new ")
            frames.append(_file_frame(match["file"], function, match["line"]))
        else:
            frames.append(_file_frame(match["bare"], "<anonymous>", match["bare_line"]))
    return frames


def _go(lines: list[str]) -> list[Frame]:
    start = next((index + 1 for index, line in enumerate(lines) if _GOROUTINE.match(line)), 0)
    frames: list[Frame] = []
    function: str | None = None
    for line in lines[start:]:
        if _GOROUTINE.match(line) or (frames and not line.strip()):
            break  # the next goroutine, or the end of this one
        file_match = _GO_FILE.match(line)
        if file_match and function is not None:
            frames.append(_go_frame(function, file_match["file"], int(file_match["line"])))
            function = None
            continue
        function_match = _GO_FUNCTION.match(line)
        function = function_match["function"] if function_match else None
    return frames


def _go_frame(qualified: str, path: str, line: int) -> Frame:
    """A Go frame; the package path identifies it, since file paths differ from one build machine to the next."""
    qualified = _GO_GENERICS.sub("", qualified)
    slash = qualified.rfind("/")
    dot = qualified.find(".", slash + 1)
    if dot < 0:  # a builtin: panic(...) runs in the runtime
        return Frame("runtime", qualified, line, False)
    package, function = qualified[:dot], qualified[dot + 1 :]
    return Frame(package, function, line, go_in_app(package, path))


def _ruby(lines: list[str]) -> list[Frame]:
    frames = []
    for line in lines:
        match = _RUBY.match(line)
        if match:
            frames.append(_file_frame(match["file"], match["function"], match["line"]))
    return frames
