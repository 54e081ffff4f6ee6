"""Thin HTTP handlers of the domain APIs, declared as route tables."""

from ._keys import ERRORS, INGEST
from .errors import errors_routes
from .logs import logs_routes
from .otlp import otlp_routes
from .traces import traces_routes

__all__ = ["ERRORS", "INGEST", "errors_routes", "logs_routes", "otlp_routes", "traces_routes"]
