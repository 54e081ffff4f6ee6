"""The public status page: component statuses, Statuspage-compatible JSON, HTML, Atom, and pushes.

    status = StatusPageService(config.statuspage, components, probes=..., breakers=..., alerting=..., incidents=...)
    probes.subscribe(status.changed)            # and breakers, alerting, incidents
    status.rendered("api/v2/summary.json")      # body, ETag, content type: computed once per change

How a component's status is derived is in :mod:`._model`; the documents follow
the Atlassian Statuspage public API v2 (:mod:`._documents`); pushes go to the
Statuspage management API and to signed webhooks (:mod:`._push`).
"""

from ._documents import Page, atom_feed, documents
from ._html import render_page
from ._model import (
    Component,
    ComponentStatus,
    ComponentView,
    Indicator,
    Inputs,
    PageState,
    component_status,
    page_indicator,
)
from ._push import ComponentChange, IncidentChange, Pusher, StatuspageTarget, WebhookTarget, sign, verify_signature

__all__ = [
    "Component",
    "ComponentChange",
    "ComponentStatus",
    "ComponentView",
    "IncidentChange",
    "Indicator",
    "Inputs",
    "Page",
    "PageState",
    "Pusher",
    "StatuspageTarget",
    "WebhookTarget",
    "atom_feed",
    "component_status",
    "documents",
    "page_indicator",
    "render_page",
    "sign",
    "verify_signature",
]
