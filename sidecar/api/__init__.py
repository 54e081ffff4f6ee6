"""Thin HTTP handlers of the domain APIs, declared as route tables."""

from ._keys import INGEST
from .logs import logs_routes

__all__ = ["INGEST", "logs_routes"]
