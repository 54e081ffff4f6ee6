"""Small HTTP helpers on ``http.client``: connections to the sidecar, responses, ``Retry-After``."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "sidecar-client/0.1"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the sidecar listens: scheme, host, port and an optional path prefix."""

    https: bool
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, base_url: str) -> Endpoint:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http:// or https:// URL with a host")
        https = parts.scheme == "https"
        return cls(https, parts.hostname, parts.port or (443 if https else 80), parts.path.rstrip("/"))

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The decoded JSON body, or None when it is absent or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def retry_after(self, cap: float) -> float | None:
        """``Retry-After`` in seconds (delta or HTTP date), at most ``cap``; None when absent or invalid."""
        value = self.headers.get("retry-after")
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
        if seconds != seconds:  # NaN
            return None
        return min(max(seconds, 0.0), cap)


def read_response(connection: http.client.HTTPConnection) -> Response:
    """Read the answer to the request just sent on ``connection``."""
    answer = connection.getresponse()
    body = answer.read()
    return Response(answer.status, {name.lower(): value for name, value in answer.getheaders()}, body)


def request(
    endpoint: Endpoint, method: str, path: str, headers: dict[str, str], body: bytes | None, timeout: float
) -> Response:
    """One request on a fresh connection; raises ``OSError`` or ``http.client.HTTPException`` on transport errors."""
    connection = endpoint.connection(timeout)
    try:
        connection.request(method, endpoint.prefix + path, body=body, headers=headers)
        return read_response(connection)
    finally:
        connection.close()
