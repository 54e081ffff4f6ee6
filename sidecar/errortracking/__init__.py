"""Error tracking: errors from redacted logs and spans, grouped by fingerprint (pure, no I/O).

    tracker = ErrorTracker(TrackerLimits(), clock=time.time)
    occurrence = occurrence_from_log(record)            # or occurrences_from_span(span)
    events = tracker.record([occurrence])               # [ErrorEvent("new_group", ...)] for alerting
    tracker.set_status(group_id, "resolved")            # an admin's PATCH
    tracker.list_groups(status="unresolved", sort="count")
    registry.register(ErrorTrackingCollector(tracker))  # sidecar_error_groups, sidecar_errors_total
    changes = tracker.drain_dirty()                     # states to save, ids to delete

A fingerprint is a digest of the error's short type, its three innermost
application frames (module and function, no line numbers) and its message
template (:func:`message_template`). Groups move ``unresolved`` ->
``resolved`` or ``ignored`` by an admin; a resolved group that occurs again is
``unresolved`` with ``regressed`` set, and a ``regression`` event; an ignored
one stays ignored, silently.
"""

from ._category import CATEGORIES, category_of
from ._distinct import DistinctCounter
from ._fingerprint import TOP_FRAMES, Signature, fingerprint, short_type, signature, title_of
from ._frames import Frame, stack_frames
from ._group import STATUSES, ErrorGroup, ErrorSample, Status
from ._metrics import ErrorTrackingCollector
from ._occurrence import ErrorOccurrence, occurrence_from_log, occurrences_from_span, pseudonym
from ._template import MAX_TEMPLATE_LENGTH, PLACEHOLDER, message_template
from ._tracker import SORT_KEYS, ErrorEvent, ErrorTracker, EventKind, GroupChanges, SortKey, TrackerLimits
from ._trend import HOUR_NS, TREND_HOURS, HourlyTrend

__all__ = [
    "CATEGORIES",
    "HOUR_NS",
    "MAX_TEMPLATE_LENGTH",
    "PLACEHOLDER",
    "SORT_KEYS",
    "STATUSES",
    "TOP_FRAMES",
    "TREND_HOURS",
    "DistinctCounter",
    "ErrorEvent",
    "ErrorGroup",
    "ErrorOccurrence",
    "ErrorSample",
    "ErrorTracker",
    "ErrorTrackingCollector",
    "EventKind",
    "Frame",
    "GroupChanges",
    "HourlyTrend",
    "Signature",
    "SortKey",
    "Status",
    "TrackerLimits",
    "category_of",
    "fingerprint",
    "message_template",
    "occurrence_from_log",
    "occurrences_from_span",
    "pseudonym",
    "short_type",
    "signature",
    "stack_frames",
    "title_of",
]
