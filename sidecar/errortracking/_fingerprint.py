"""Fingerprints: what makes two error occurrences the same error."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ._frames import Frame, stack_frames
from ._template import message_template

# Frames nearest to the raise identify the bug; deeper callers vary with the route that got there.
TOP_FRAMES = 3
_TYPE_SEPARATORS = re.compile(r"[.:/\\*]+")


@dataclass(frozen=True, slots=True)
class Signature:
    """The fingerprint of an error and what went into it."""

    fingerprint: str
    template: str
    frames: tuple[Frame, ...]  # the hashed frames, innermost first

    @property
    def culprit(self) -> str | None:
        """Where the error was raised, ``module in function``, or None without a stack."""
        if not self.frames:
            return None
        return f"{self.frames[0].module} in {self.frames[0].function}"


def signature(error_type: str, message: str | None, stack: str | None) -> Signature:
    """The signature of an error: a digest of its short type, top frames and message template.

    The frames are the :data:`TOP_FRAMES` innermost application frames (module
    and function; line numbers are left out so that edits elsewhere in a file
    keep the group), or the innermost frames of any kind when none is
    application code, or none when the stack does not parse. The type is
    shortened to its last dotted component: OpenTelemetry SDKs report
    ``UniqueViolation`` where a logger reports ``psycopg2.errors.UniqueViolation``.
    """
    template = message_template(message or "")
    frames = stack_frames(stack)
    chosen = tuple([frame for frame in frames if frame.in_app][:TOP_FRAMES] or frames[:TOP_FRAMES])
    parts = (
        short_type(error_type),
        "\x1f".join(f"{frame.module}\x1f{frame.function}" for frame in chosen),
        template,
    )
    digest = hashlib.sha256("\x1e".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return Signature(digest[:16], template, chosen)


def fingerprint(error_type: str, message: str | None, stack: str | None) -> str:
    """A stable 16-hex-digit id of an error: same type, top application frames and message template, same id."""
    return signature(error_type, message, stack).fingerprint


def short_type(error_type: str) -> str:
    """The last component of a qualified type name (``java.lang.IllegalStateException``: ``IllegalStateException``)."""
    parts = [part for part in _TYPE_SEPARATORS.split(error_type.strip()) if part]
    return parts[-1] if parts else "Error"


def title_of(error_type: str, template: str) -> str:
    """The title of a group: ``type: template``, or the type alone for an empty template."""
    return f"{error_type}: {template}" if template else error_type
