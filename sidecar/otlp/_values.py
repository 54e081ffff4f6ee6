"""OTLP ``AnyValue`` and attribute lists as plain JSON values; binary ids as hex."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

SERVICE_NAME = "service.name"

# The proto3 JSON spelling of the doubles JSON itself cannot hold.
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def json_value(value: AnyValue) -> Any:
    """``value`` as a JSON value: scalars as they are, arrays as lists, kvlists as dicts.

    Bytes become standard base64 text; NaN and the infinities their proto3 JSON
    names (``"NaN"``, ``"Infinity"``, ``"-Infinity"``); an empty AnyValue None.
    """
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else _NON_FINITE.get(number, "NaN")
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    if kind == "array_value":
        return [json_value(item) for item in value.array_value.values]
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def attributes_of(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """A list of key-value pairs as a dict; of repeated keys the last one wins."""
    return {pair.key: json_value(pair.value) for pair in pairs}


def service_of(resource: dict[str, Any]) -> str | None:
    """The ``service.name`` of mapped resource attributes when it is a non-empty string."""
    service = resource.get(SERVICE_NAME)
    return service if isinstance(service, str) and service else None


def hex_id(raw: bytes, size: int) -> str | None:
    """Lowercase hex of an id of ``size`` bytes; None when empty or all zero (unset).

    Raises ValueError for any other length.
    """
    if not raw:
        return None
    if len(raw) != size:
        raise ValueError(f"expected {size} bytes")
    return raw.hex() if raw.count(0) != size else None
