"""OpenAPI 3.1 document generated from the route table."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sidecar import __version__

from ._routes import Reply, Route, Schema


class ErrorDetail(BaseModel):
    """The body of every error."""

    code: str
    message: str
    details: Any = None
    request_id: str


class ErrorBody(BaseModel):
    """``{"error": {...}}``, the standard error format."""

    error: ErrorDetail


_ERROR_REPLIES = {
    400: "Malformed request",
    401: "Missing or unknown bearer token",
    403: "The token lacks the route's scope",
    413: "Body over the route's limit",
    415: "Unsupported content type",
    429: "Rate limited; see Retry-After",
}


def build_openapi(routes: list[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing exactly ``routes``."""
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sidecar",
            "version": __version__,
            "description": "Observability and reliability sidecar. Errors use the body "
            '`{"error": {"code", "message", "details", "request_id"}}`.',
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": {},
    }
    if route.scope is not None:
        operation["security"] = [{"bearer": []}]
        operation["description"] = f"Requires a token with the `{route.scope}` scope."
    if route.params:
        operation["parameters"] = [
            {
                "name": param.name,
                "in": param.location,
                "description": param.description,
                "required": param.required or param.location == "path",
                "schema": param.schema,
            }
            for param in route.params
        ]
    if route.request_schema is not None:
        content = {ctype: {"schema": _schema(route.request_schema, components)} for ctype in route.accepts}
        operation["requestBody"] = {"required": True, "content": content}
    errors = {status: Reply(text, ErrorBody) for status, text in _ERROR_REPLIES.items()}
    if route.scope is None:
        errors.pop(403)
    if not route.accepts:
        errors.pop(413)
        errors.pop(415)
    for status, reply in {**errors, **route.replies}.items():
        body: dict[str, Any] = {"description": reply.description}
        if reply.schema is not None:
            body["content"] = {reply.content_type: {"schema": _schema(reply.schema, components)}}
        operation["responses"][str(status)] = body
    return operation


def _schema(schema: Schema, components: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, dict):
        return schema
    generated = schema.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    components.update(generated.pop("$defs", {}))
    components[schema.__name__] = generated
    return {"$ref": f"#/components/schemas/{schema.__name__}"}
