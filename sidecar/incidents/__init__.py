"""Incidents opened by P1/P2 alerts on public components (or declared by hand), their timelines and reviews.

book = IncidentBook(public_components=["api", "payments"])
book.on_alert(fp, labels, annotations, firing=True, at=now)    # opens or joins the component's incident
book.update(incident.id, "identified", "A bad deploy; rolling back.", actor="oncall", at=now)
postmortem(incident, now)                                       # a Markdown review draft
"""

from ._book import IncidentBook, new_id
from ._model import IMPACT_OF_SEVERITY, IMPACTS, STATUSES, Impact, Incident, IncidentStatus, TimelineEntry
from ._postmortem import postmortem

__all__ = [
    "IMPACTS",
    "IMPACT_OF_SEVERITY",
    "STATUSES",
    "Impact",
    "Incident",
    "IncidentBook",
    "IncidentStatus",
    "TimelineEntry",
    "new_id",
    "postmortem",
]
