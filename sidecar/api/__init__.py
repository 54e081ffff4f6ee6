"""Thin HTTP handlers of the domain APIs, declared as route tables."""

from ._keys import BREAKERS, ERRORS, INGEST, PROBES, STATS
from .breakers import breakers_routes
from .errors import errors_routes
from .logs import logs_routes
from .otlp import otlp_routes
from .probes import probes_routes
from .stats import stats_routes
from .traces import traces_routes

__all__ = [
    "BREAKERS",
    "ERRORS",
    "INGEST",
    "PROBES",
    "STATS",
    "breakers_routes",
    "errors_routes",
    "logs_routes",
    "otlp_routes",
    "probes_routes",
    "stats_routes",
    "traces_routes",
]
