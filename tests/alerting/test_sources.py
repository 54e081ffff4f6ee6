"""The signals gathered from the probe service: labels, values, and only what the rules want."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from sidecar.alerting.sources import probe_signals
from sidecar.config import parse_config
from sidecar.probes import Run
from sidecar.probes._checks_net import CheckOutcome
from sidecar.probes.service import ProbeService
from sidecar.storage import SqliteStorage
from tests.helpers import Clock

T0 = 1_700_000_000.0


async def test_probe_signals_carry_probe_component_and_kind_and_skip_what_no_rule_wants(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = parse_config({"probes": [
        {"name": "db", "kind": "tcp", "host": "127.0.0.1", "port": 5432, "component": "api", "failures_to_down": 1},
        {"name": "mail", "kind": "tcp", "host": "127.0.0.1", "port": 25},
    ]})  # fmt: skip
    store = SqliteStorage(tmp_path / "s.db")
    probes = ProbeService(config.probes, CollectorRegistry(), store, config.probing, wall_clock=Clock(T0))
    await probes.record(Run("db", 0.0, 0.0, CheckOutcome(False, 0.25, "refused")))
    source = probe_signals(probes)
    only_state = source.read(frozenset({"probe_state"}))
    assert only_state["probe_state"] == [
        ({"probe": "db", "component": "api", "kind": "tcp"}, 2.0),
        ({"probe": "mail", "component": "", "kind": "tcp"}, -1.0),
    ]
    assert only_state["probe_success"] == [] and only_state["uptime_ratio"] == []
    everything = source.read(source.names)
    assert everything["probe_success"] == [({"probe": "db", "component": "api", "kind": "tcp"}, 0.0)]
    assert everything["probe_response_seconds"][0][1] == 0.25
    assert ({"probe": "db", "component": "api", "window": "24h"}, 0.0) in everything["uptime_ratio"]
