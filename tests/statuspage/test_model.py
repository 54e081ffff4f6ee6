"""How a component's status and the page indicator are derived from their inputs."""

from __future__ import annotations

import pytest

from sidecar.statuspage import Inputs, component_status, page_indicator


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (Inputs(), "operational"),
        (Inputs(probes=("healthy", "unknown")), "operational"),
        (Inputs(probes=("unknown",)), "operational"),  # no decision yet says nothing
        (Inputs(probes=("healthy", "degraded")), "degraded_performance"),
        (Inputs(probes=("healthy", "down")), "partial_outage"),
        (Inputs(probes=("down", "down", "unknown")), "major_outage"),
        (Inputs(groups=((False, True),)), "degraded_performance"),  # running on a fallback provider
        (Inputs(groups=((True, False),)), "major_outage"),  # every provider open
        (Inputs(alert_severities=("P4",)), "operational"),
        (Inputs(alert_severities=("P3",)), "degraded_performance"),
        (Inputs(alert_severities=("P3", "P2")), "partial_outage"),
        (Inputs(probes=("healthy",), alert_severities=("P1",)), "major_outage"),
        (Inputs(incident_impacts=("minor",)), "degraded_performance"),
        (Inputs(incident_impacts=("critical",), probes=("healthy",)), "major_outage"),  # an incident overrides
        (Inputs(in_maintenance=True), "under_maintenance"),
        (Inputs(in_maintenance=True, probes=("degraded",)), "under_maintenance"),
        (Inputs(in_maintenance=True, probes=("down",)), "major_outage"),  # worse than planned shows
    ],
)
def test_component_status(inputs: Inputs, expected: str) -> None:
    assert component_status(inputs) == expected


def test_page_indicator() -> None:
    assert page_indicator([]) == "none"
    assert page_indicator(["operational", "degraded_performance"]) == "minor"
    assert page_indicator(["partial_outage", "degraded_performance"]) == "major"
    assert page_indicator(["major_outage"]) == "critical"
    assert page_indicator(["operational", "under_maintenance"]) == "maintenance"
    assert page_indicator(["under_maintenance", "degraded_performance"]) == "minor"
    assert page_indicator(["operational"], ["major"]) == "major"  # an open incident raises it
