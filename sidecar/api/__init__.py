"""Thin HTTP handlers of the domain APIs, declared as route tables."""

from ._keys import ERRORS, INGEST, STATS
from .errors import errors_routes
from .logs import logs_routes
from .otlp import otlp_routes
from .stats import stats_routes
from .traces import traces_routes

__all__ = [
    "ERRORS",
    "INGEST",
    "STATS",
    "errors_routes",
    "logs_routes",
    "otlp_routes",
    "stats_routes",
    "traces_routes",
]
