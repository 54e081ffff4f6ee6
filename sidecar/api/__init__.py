"""Thin HTTP handlers of the domain APIs, declared as route tables."""

from ._keys import INGEST
from .logs import logs_routes
from .otlp import otlp_routes

__all__ = ["INGEST", "logs_routes", "otlp_routes"]
