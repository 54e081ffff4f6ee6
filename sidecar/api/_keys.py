"""Application keys of the domain services the handlers call."""

from __future__ import annotations

from aiohttp import web

from sidecar.alerting.service import AlertingService
from sidecar.breakers.service import BreakerService
from sidecar.errortracking.service import ErrorTrackingService
from sidecar.incidents.service import IncidentService
from sidecar.ingest.service import IngestService
from sidecar.probes.service import ProbeService
from sidecar.stats import Stats
from sidecar.statuspage.service import StatusPageService

INGEST = web.AppKey("ingest", IngestService)
ERRORS = web.AppKey("errors", ErrorTrackingService)
STATS = web.AppKey("stats", Stats)
PROBES = web.AppKey("probes", ProbeService)
BREAKERS = web.AppKey("breakers", BreakerService)
ALERTING = web.AppKey("alerting", AlertingService)
INCIDENTS = web.AppKey("incidents", IncidentService)
STATUSPAGE = web.AppKey("statuspage", StatusPageService)
