"""Thin HTTP handlers of the domain APIs, declared as route tables."""

from ._keys import ALERTING, BREAKERS, ERRORS, INCIDENTS, INGEST, PROBES, STATS, STATUSPAGE
from .alerting import alerting_routes
from .audit import audit_routes
from .breakers import breakers_routes
from .errors import errors_routes
from .incidents import incidents_routes
from .logs import logs_routes
from .otlp import otlp_routes
from .probes import probes_routes
from .stats import stats_routes
from .status import status_routes
from .traces import traces_routes

__all__ = [
    "ALERTING",
    "BREAKERS",
    "ERRORS",
    "INCIDENTS",
    "INGEST",
    "PROBES",
    "STATS",
    "STATUSPAGE",
    "alerting_routes",
    "audit_routes",
    "breakers_routes",
    "errors_routes",
    "incidents_routes",
    "logs_routes",
    "otlp_routes",
    "probes_routes",
    "stats_routes",
    "status_routes",
    "traces_routes",
]
