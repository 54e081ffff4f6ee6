"""Observations from spans and log records: semantic-convention names, errors and status classes."""

from __future__ import annotations

import math

import pytest

from sidecar.stats import Observation, observation_from_log, observation_from_span
from tests.helpers import log_record

from .conftest import span


def test_server_span_with_current_semconv_names() -> None:
    attributes = {"http.route": "/cart/{id}", "http.request.method": "post", "http.response.status_code": 201}
    observation = observation_from_span(span(attributes=attributes, duration_ms=12.5))
    assert observation == Observation("request", "shop", "/cart/{id}", "POST", 0.0125, False, "2xx")


def test_server_span_with_deprecated_semconv_names() -> None:
    attributes = {"http.route": "/cart", "http.method": "GET", "http.status_code": "404"}
    observation = observation_from_span(span(attributes=attributes))
    assert observation is not None
    assert (observation.method, observation.status_class, observation.error) == ("GET", "4xx", False)


def test_current_names_win_over_deprecated_ones() -> None:
    attributes = {
        "http.request.method": "DELETE",
        "http.method": "GET",
        "http.response.status_code": 503,
        "http.status_code": 200,
    }
    observation = observation_from_span(span(attributes=attributes))
    assert observation is not None
    assert (observation.method, observation.status_class) == ("DELETE", "5xx")


def test_route_falls_back_to_the_span_name_and_method_to_empty() -> None:
    observation = observation_from_span(span(name="checkout", attributes={}))
    assert observation is not None
    assert (observation.route, observation.method) == ("checkout", "")


def test_unknown_methods_become_other_so_clients_cannot_mint_label_values() -> None:
    observation = observation_from_span(span(attributes={"http.request.method": "PURGE-EVERYTHING"}))
    assert observation is not None and observation.method == "_OTHER"


def test_missing_service_is_unknown_and_long_labels_are_cut() -> None:
    observation = observation_from_span(span(service=None, name="x" * 1000))
    assert observation is not None
    assert observation.service == "unknown"
    assert len(observation.route) == 200


@pytest.mark.parametrize(
    ("attributes", "dependency"),
    [
        ({"service.peer.name": "payments", "peer.service": "old", "server.address": "h"}, "payments"),
        ({"peer.service": "payments", "server.address": "pay.internal"}, "payments"),
        ({"server.address": "api.stripe.com", "net.peer.name": "old", "db.system": "x"}, "api.stripe.com"),
        ({"net.peer.name": "api.stripe.com", "db.system.name": "postgresql"}, "api.stripe.com"),
        ({"db.system.name": "postgresql", "db.system": "mysql"}, "postgresql"),
        ({"db.system": "redis"}, "redis"),
        ({}, "unknown"),
    ],
)
def test_client_span_is_keyed_by_its_dependency(attributes: dict[str, str], dependency: str) -> None:
    observation = observation_from_span(span("client", attributes=attributes, duration_ms=3.0))
    assert observation == Observation("dependency", dependency, "", "", 0.003, False, "ok")


@pytest.mark.parametrize("kind", ["internal", "producer", "consumer", "unspecified"])
def test_other_span_kinds_give_nothing(kind: str) -> None:
    assert observation_from_span(span(kind)) is None


@pytest.mark.parametrize(
    ("status", "attributes", "error", "status_class"),
    [
        ("unset", {}, False, "ok"),
        ("ok", {}, False, "ok"),
        ("error", {}, True, "error"),
        ("unset", {"http.response.status_code": 500}, True, "5xx"),
        ("unset", {"http.status_code": 502}, True, "5xx"),
        ("unset", {"http.response.status_code": 499}, False, "4xx"),
        ("error", {"http.response.status_code": 200}, True, "2xx"),
        ("unset", {"http.response.status_code": 302}, False, "3xx"),
        ("unset", {"http.response.status_code": "garbage"}, False, "ok"),
        ("unset", {"http.response.status_code": True}, False, "ok"),
        ("unset", {"http.response.status_code": 999}, False, "ok"),
    ],
)
def test_error_classification(status: str, attributes: dict[str, object], error: bool, status_class: str) -> None:
    for kind in ("server", "client"):
        observation = observation_from_span(span(kind, status=status, attributes=attributes))
        assert observation is not None
        assert (observation.error, observation.status_class) == (error, status_class)


def test_negative_duration_counts_as_zero_and_non_finite_is_dropped() -> None:
    observation = observation_from_span(span(duration_ms=-4.0))
    assert observation is not None and observation.duration == 0.0
    assert observation_from_span(span(duration_ms=math.nan)) is None
    assert observation_from_span(span(duration_ms=math.inf)) is None


def test_log_record_with_duration_and_action() -> None:
    record = log_record(service="billing", action="charge", duration_ms=80.0, severity=9)
    assert observation_from_log(record) == Observation("request", "billing", "charge", "log", 0.08, False, "ok")


@pytest.mark.parametrize(("severity", "error"), [(13, False), (16, False), (17, True), (21, True)])
def test_log_record_is_an_error_at_level_error_and_above(severity: int, error: bool) -> None:
    observation = observation_from_log(log_record(action="charge", duration_ms=1.0, severity=severity))
    assert observation is not None
    assert (observation.error, observation.status_class) == (error, "error" if error else "ok")
    assert observation.service == "unknown"


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "charge"},
        {"duration_ms": 5.0},
        {"action": "", "duration_ms": 5.0},
        {"action": "a", "duration_ms": math.nan},
    ],
)
def test_log_record_without_timing_gives_nothing(fields: dict[str, object]) -> None:
    assert observation_from_log(log_record(**fields)) is None
