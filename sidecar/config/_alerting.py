"""The ``alerting`` section: where rules live, how alerts are grouped and routed, who receives them."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from ._model import Duration, Name, PositiveDuration, Secret, Section

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')


def _check_matcher(value: str) -> str:
    if not _MATCHER.match(value):
        raise PydanticCustomError(
            "matcher", 'expected a label matcher like severity="P1" or component=~"api|web", got "{value}"',
            {"value": value},
        )  # fmt: skip
    return value


LabelMatcher = Annotated[str, AfterValidator(_check_matcher)]
"""``label="value"``, ``label!="value"``, ``label=~"regex"`` or ``label!~"regex"`` (RE2, anchored)."""


def parse_matcher(text: str) -> tuple[str, str, str]:
    """A validated matcher as (label, operator, value) with the value's escapes undone."""
    match = _MATCHER.match(text)
    assert match is not None  # validated by LabelMatcher
    label, op, value = match.groups()
    return label, op, re.sub(r"\\(.)", r"\1", value)


class RouteConfig(Section):
    """A node of the routing tree: alerts matching ``matchers`` go to ``receiver`` (Alertmanager's model).

    Children are tried in order; the first that matches takes the alert unless it
    sets ``continue``. Timing settings not set on a child are inherited.
    """

    receiver: Name | None = None
    matchers: tuple[LabelMatcher, ...] = ()
    group_by: tuple[str, ...] | None = None
    group_wait: Duration | None = None
    group_interval: PositiveDuration | None = None
    repeat_interval: PositiveDuration | None = None
    continue_: bool = Field(False, alias="continue")
    routes: tuple[RouteConfig, ...] = ()


class ReceiverConfig(Section):
    """Where notifications go: apprise URLs (they carry tokens: secrets) and/or Alertmanager endpoints."""

    name: Name
    apprise: tuple[Secret, ...] = ()
    alertmanager: tuple[Annotated[str, Field(pattern=r"^https?://")], ...] = ()
    send_resolved: bool = True


class InhibitRule(Section):
    """While a firing alert matches ``source``, alerts matching ``target`` with the same ``equal`` labels are muted."""

    source_matchers: tuple[LabelMatcher, ...]
    target_matchers: tuple[LabelMatcher, ...]
    equal: tuple[str, ...] = ()


class MaintenanceWindow(Section):
    """A planned window during which the alerts of ``components`` are muted."""

    name: Name
    components: tuple[Name, ...] = Field(min_length=1)
    start: datetime
    end: datetime
    comment: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceWindow:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a time zone (e.g. 2026-12-01T02:00:00Z)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class IncidentsConfig(Section):
    """Incidents opened by P1/P2 alerts on public components."""

    public_components: tuple[Name, ...] | None = None  # default: every probe's component
    auto_resolve: bool = True  # resolve when every alert of the incident has resolved
    open_severities: tuple[str, ...] = ("P1", "P2")


class AlertingConfig(Section):
    """Rules, evaluation, routing, receivers, inhibition, maintenance and incidents."""

    rules_dir: Path = Path("alerts")  # every *.yaml file in it holds rules (relative: to the working directory)
    evaluation_interval: PositiveDuration = 15.0
    external_url: Annotated[str, Field(pattern=r"^https?://")] | None = None  # links in notifications
    route: RouteConfig = RouteConfig(receiver=None)
    receivers: tuple[ReceiverConfig, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    incidents: IncidentsConfig = IncidentsConfig()
    resolved_retention: PositiveDuration = 900.0  # resolved alerts kept this long (for the API and notifications)

    @model_validator(mode="after")
    def _receivers_exist(self) -> AlertingConfig:
        names = [receiver.name for receiver in self.receivers]
        if len(set(names)) != len(names):
            raise ValueError("receiver names must be unique")
        for path, receiver in _route_receivers(self.route, "route"):
            if receiver is not None and receiver not in names:
                raise ValueError(f"{path}.receiver: no receiver is named {receiver!r}")
        return self


def _route_receivers(route: RouteConfig, path: str) -> list[tuple[str, str | None]]:
    found: list[tuple[str, Any]] = [(path, route.receiver)]
    for index, child in enumerate(route.routes):
        found += _route_receivers(child, f"{path}.routes[{index}]")
    return found
