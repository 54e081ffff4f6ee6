"""The redaction engine's own failure."""

from __future__ import annotations

from sidecar.errors import SidecarError


class RedactionFailed(SidecarError):
    """A value could not be redacted safely; the caller must quarantine the record."""

    code = "redaction_failed"
