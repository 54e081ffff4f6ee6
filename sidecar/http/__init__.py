"""The HTTP layer: app factory, middlewares, error format, auth, routes and OpenAPI."""

from ._app import create_app
from ._errors import error_body, error_response
from ._keys import (
    CLOCK,
    CONFIG,
    HTTP_METRICS,
    READINESS,
    REGISTRY,
    RELOAD_HOOKS,
    STORAGE,
    TRACER,
    ReadinessCheck,
)
from ._middlewares import PRINCIPAL, REQUEST_ID, client_ip, principal_of, request_id_of
from ._routes import JSON, Param, Reply, Route, body_limit, json_response, read_body, read_json, route_of
from ._server import serve

__all__ = [
    "CLOCK",
    "CONFIG",
    "HTTP_METRICS",
    "JSON",
    "PRINCIPAL",
    "READINESS",
    "REGISTRY",
    "RELOAD_HOOKS",
    "REQUEST_ID",
    "STORAGE",
    "TRACER",
    "Param",
    "ReadinessCheck",
    "Reply",
    "Route",
    "body_limit",
    "client_ip",
    "create_app",
    "error_body",
    "error_response",
    "json_response",
    "principal_of",
    "read_body",
    "read_json",
    "request_id_of",
    "route_of",
    "serve",
]
