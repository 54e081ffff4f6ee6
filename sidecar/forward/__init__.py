"""Forwarding redacted log records to a central collector over OTLP/HTTP."""

from ._forward import DROP_REASONS, LogForwarder
from ._otlp import to_export_request

__all__ = ["DROP_REASONS", "LogForwarder", "to_export_request"]
