"""The Grafana dashboards (``dashboards/``) and the Prometheus rules (``alerts/prometheus/``) against a real scrape.

Every metric a dashboard query, a template variable or a rule names must be exported by the running app (with the
sample suffix its type gives it); dashboards use the ``${datasource}`` variable and stable uids; every alert has a
severity, a summary, a description and a runbook that exists, and promtool's unit tests make each one fire and not
fire.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp.connector
import orjson
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sidecar.app import create_app
from sidecar.auth import hash_token
from sidecar.config import parse_config
from tests.api.test_errors_api import ADMIN
from tests.api.test_logs import AUTH_IN, KEY, base_config
from tests.probes.conftest import closed_port

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"
RULES = ROOT / "alerts" / "prometheus"
PROMTOOL = shutil.which("promtool")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
UIDS = {
    "overview.json": "sidecar-overview",
    "ingestion.json": "sidecar-ingestion",
    "red.json": "sidecar-red",
    "probes.json": "sidecar-probes",
    "breakers.json": "sidecar-breakers",
    "alerts.json": "sidecar-alerts",
    "sidecar.json": "sidecar-self",
}
SEVERITIES = {"P1", "P2", "P3", "P4"}
EXEMPT = {"up"}  # set by Prometheus at scrape time, not by the sidecar
RULE = """\
rules:
  - name: DependencyDown
    expr: probe_state == down
    labels: {severity: P1}
    annotations:
      summary: "{{ $labels.probe }} is down"
      runbook_url: alerts/runbooks/dependency-down.md
"""

# --- PromQL: the metric names an expression selects --------------------------------------------------------

_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?\w+")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right",
             "offset", "inf", "nan"}  # fmt: skip
_LABEL_VALUES = re.compile(r"\s*label_values\((?P<expr>.*),\s*\w+\s*\)\s*", re.S)
_QUERY_RESULT = re.compile(r"\s*query_result\((?P<expr>.*)\)\s*", re.S)


def metric_names(expr: str) -> set[str]:
    """Metric names selected by a PromQL expression (functions, keywords, labels and durations left out)."""
    text = _STRINGS.sub('""', expr)
    for pattern in (_MATCHERS, _RANGES, _VARIABLES, _GROUPING, _OFFSET):
        text = pattern.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}


def variable_metric_names(query: str) -> set[str]:
    """Metric names of a Grafana Prometheus variable query (``label_values(expr, label)``, ``query_result(expr)``)."""
    found = _LABEL_VALUES.fullmatch(query) or _QUERY_RESULT.fullmatch(query)
    if found:
        return metric_names(found["expr"])
    if re.fullmatch(r"\s*(label_values\(\s*\w+\s*\)|label_names\(\)|metrics\(.*\))\s*", query):
        return set()
    return metric_names(query)


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'sum by (service, le) (rate(sidecar_x_bucket{route=~"/a|b", job="$job"}[$__rate_interval] offset 5m))'
        " / on (job) group_left (service) sidecar_y_total > bool 0.5 and time() - max(process_start_time_seconds)"
        " unless sidecar:rule:rate5m{a='}'} * 1e3"
    )
    assert metric_names(expr) == {"sidecar_x_bucket", "sidecar_y_total", "process_start_time_seconds",
                                  "sidecar:rule:rate5m"}  # fmt: skip
    assert variable_metric_names('label_values(sidecar_probe_state{job=~"$job"}, probe)') == {"sidecar_probe_state"}
    assert variable_metric_names("label_values(job)") == set()


# --- the files -----------------------------------------------------------------------------------------------


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query", "")
    return query.get("query", "") if isinstance(query, dict) else str(query)


def dashboard_references() -> dict[str, set[str]]:
    """Metric name -> where dashboards use it."""
    used: dict[str, set[str]] = {}
    for name, board in dashboards().items():
        for panel in panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                for metric in metric_names(target.get("expr", "")):
                    used.setdefault(metric, set()).add(f"{name}: {panel['title']}")
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                for query in (variable_query(variable), variable.get("definition", "")):
                    for metric in variable_metric_names(query):
                        used.setdefault(metric, set()).add(f"{name}: ${variable['name']}")
    return used


def rule_groups() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, rule)
        for path in sorted(RULES.glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def rule_references() -> tuple[dict[str, set[str]], set[str]]:
    """Metric name -> the rules using it, and the names recording rules define."""
    used: dict[str, set[str]] = {}
    recorded: set[str] = set()
    for name, rule in rule_groups():
        recorded |= {rule["record"]} if "record" in rule else set()
        for metric in metric_names(rule["expr"]):
            used.setdefault(metric, set()).add(f"{name}: {rule.get('alert') or rule.get('record')}")
    return used, recorded


def test_dashboards_are_valid_with_stable_uids_and_the_datasource_variable() -> None:
    boards = dashboards()
    assert set(boards) == set(UIDS), "a dashboard was added or removed: give it a stable uid in UIDS"
    for name, board in boards.items():
        assert board["uid"] == UIDS[name] and board["schemaVersion"] >= 39 and board["title"], name
        variables = {variable["name"]: variable for variable in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        for variable in variables.values():
            if variable["type"] == "query":
                assert variable["datasource"] == DATASOURCE, (name, variable["name"])
                assert variable_query(variable).startswith("label_values("), (name, variable["name"])
        ids = [panel["id"] for panel in panels(board["panels"])]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for panel in panels(board["panels"]):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == DATASOURCE, (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE and target["expr"].strip(), (name, panel["title"])
            used = " ".join(target["expr"] for target in panel["targets"])
            for variable in re.findall(r"\$(?:\{)?(\w+)", used):
                assert variable.startswith("__") or variable in variables, (name, panel["title"], variable)
    assert len({board["uid"] for board in boards.values()}) == len(boards)
    needed = {"red.json": {"service"}, "probes.json": {"probe"}, "breakers.json": {"group"}}
    for name, variables in needed.items():
        assert variables <= {variable["name"] for variable in boards[name]["templating"]["list"]}, name


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    providers = yaml.safe_load((DASHBOARDS / "provisioning" / "dashboards.yaml").read_text())["providers"]
    assert providers and all(provider["type"] == "file" and provider["options"]["path"] for provider in providers)
    sources = yaml.safe_load((DASHBOARDS / "provisioning" / "datasources.yaml").read_text())["datasources"]
    assert [source["type"] for source in sources] == ["prometheus"]


def test_every_alert_has_a_severity_annotations_and_a_runbook_that_exists() -> None:
    alerts = [(name, rule) for name, rule in rule_groups() if "alert" in rule]
    assert alerts
    for name, rule in alerts:
        where = f"{name}: {rule['alert']}"
        assert rule["labels"]["severity"] in SEVERITIES, where
        annotations = rule["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip(), where
        assert re.fullmatch(r"alerts/runbooks/[\w.-]+\.md", annotations["runbook_url"]), where
        assert (ROOT / annotations["runbook_url"]).is_file(), where


def test_promtool_unit_tests_make_every_alert_fire_and_stay_quiet() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in sorted((RULES / "tests").glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        assert all((path.parent / file).resolve().is_file() for file in document["rule_files"]), path
        for case in document["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {rule["alert"] for _, rule in rule_groups() if "alert" in rule}
    assert alerts - fires == set(), "alerts no promtool test makes fire"
    assert alerts - quiet == set(), "alerts no promtool test checks quiet"


def run_promtool(*args: str) -> None:
    if PROMTOOL is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("SKIPPING PROMTOOL RULE CHECKS: promtool is absent (apt-get install prometheus)")
    paths = [str(path.relative_to(ROOT)) for path in sorted((RULES / args[-1]).glob("*.yml"))]
    assert paths, args
    result = subprocess.run([PROMTOOL, *args[:-1], *paths], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_checks_the_rules() -> None:
    run_promtool("check", "rules", ".")


def test_promtool_unit_tests_pass() -> None:
    run_promtool("test", "rules", "tests")


# --- the real app ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def start(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path, certificate: tuple[Path, Path]) -> TestClient:
    """The app with HTTP, HTTPS and TCP probes, a failover group and a receiver nothing listens on."""

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    target = web.Application()
    target.router.add_get("/health", health)
    plain = await aiohttp_server(target)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(*certificate)
    secure = await aiohttp_server(target, ssl=served)
    rules = tmp_path / "alerts"
    rules.mkdir()
    (rules / "rules.yaml").write_text(RULE)
    raw = base_config(tmp_path)
    raw["auth"]["tokens"].append({"name": "oncall", "scopes": ["admin", "read"], "sha256": hash_token(ADMIN)})
    timing = {"interval": "300ms", "timeout": "200ms", "failures_to_down": 1}
    raw["probes"] = [
        {"name": "api", "kind": "http", "url": f"http://127.0.0.1:{plain.port}/health", "component": "api", **timing},
        {"name": "tls", "kind": "http", "url": f"https://127.0.0.1:{secure.port}/health", **timing},
        {"name": "gone", "kind": "tcp", "host": "127.0.0.1", "port": closed_port(), "component": "mail", **timing},
    ]  # fmt: skip
    raw["breakers"] = {
        "groups": {"ai": ["anthropic", "openai"]},
        "providers": {"anthropic": {"fail_max": 3, "reset_timeout": "30s"}},
    }
    raw["alerting"] = {
        "rules_dir": str(rules),
        "evaluation_interval": "1s",
        "route": {"receiver": "oncall", "group_wait": "0s", "group_interval": "1s", "group_by": ["alertname"]},
        "receivers": [{"name": "oncall", "apprise": ["${HOOK}"]}],
    }
    env = {"KEY": KEY, "HOOK": f"json://127.0.0.1:{closed_port()}/hook"}
    return await aiohttp_client(create_app(parse_config(raw, env=env)))


def span(number: int, kind: int, **attributes: Any) -> dict[str, Any]:
    start_ns = time.time_ns() - 10**9
    return {
        "traceId": f"{number:032x}",
        "spanId": f"{number:016x}",
        "name": "GET /orders/{id}",
        "kind": kind,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 25_000_000),
        "attributes": [
            {"key": key, "value": {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}}
            for key, value in attributes.items()
        ],
    }


async def drive(client: TestClient) -> None:
    """Logs (timed, with PII, one invalid), OTLP server and client spans, breaker outcomes."""
    logs = [
        {"service": "worker", "action": "invoice.send", "duration": 40 + i, "level": "info",
         "message": f"invoice mailed to jane.doe{i}@example.com"}
        for i in range(5)
    ] + [{"message": "bad level", "level": "loud"}]  # fmt: skip
    response = await client.post("/api/v1/logs", json=logs, headers=AUTH_IN)
    assert response.status == 200 and (await response.json())["accepted"] == 5, await response.text()
    server = {"http.route": "/orders/{id}", "http.request.method": "GET", "http.response.status_code": 200}
    failed = {**server, "http.response.status_code": 503}
    client_span = {"server.address": "api.openai.com", "http.response.status_code": 200}
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]}
    spans = [span(1, 2, **server), span(2, 2, **failed), span(3, 3, **client_span)]
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    response = await client.post(
        "/v1/traces", data=orjson.dumps(body), headers={**AUTH_IN, "Content-Type": "application/json"}
    )
    assert response.status == 200, await response.text()
    outcomes = [{"provider": "anthropic", "ok": False, "latency_ms": 900.0, "error_type": "timeout"}] * 3
    outcomes.append({"provider": "openai", "ok": True, "latency_ms": 300.0})
    response = await client.post("/api/v1/breakers/outcomes", json={"outcomes": outcomes}, headers=AUTH_IN)
    assert response.status == 200, await response.text()


def exported(text: str) -> tuple[dict[str, str], set[str]]:
    """Family name -> type, and the sample names with at least one sample."""
    families = list(text_string_to_metric_families(text))
    return {family.name: family.type for family in families}, {s.name for f in families for s in f.samples}


def exports(name: str, types: dict[str, str], samples: set[str]) -> bool:
    """Whether ``name`` is a sample name Prometheus stores from this scrape, of a family of the matching type."""
    if name not in samples:
        return False
    suffixes = {"_total": {"counter"}, "_bucket": {"histogram"}, "_sum": {"histogram", "summary"},
                "_count": {"histogram", "summary"}}  # fmt: skip
    for suffix, kinds in suffixes.items():
        if name.endswith(suffix) and types.get(name.removesuffix(suffix)) in kinds:
            return True
    return types.get(name) in {"gauge", "summary", "unknown", "info", "stateset"}


async def test_every_metric_the_dashboards_and_rules_use_is_exported(
    aiohttp_client: Any,
    aiohttp_server: Any,
    tmp_path: Path,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The probes' client session verifies with aiohttp's default context: make it trust the test certificate.
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    monkeypatch.setattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED", trusting)
    used, recorded = rule_references()
    for metric, where in dashboard_references().items():
        used.setdefault(metric, set()).update(where)
    wanted = {metric: where for metric, where in used.items() if metric not in recorded | EXEMPT}
    assert {"sidecar_request_duration_seconds_bucket", "sidecar_probe_state", "up"} <= set(used)
    client = await start(aiohttp_client, aiohttp_server, tmp_path, certificate)
    await drive(client)
    missing: dict[str, set[str]] = {}
    deadline = time.monotonic() + 30  # probes run, an alert fires, its notification fails
    while time.monotonic() < deadline:
        types, samples = exported(await (await client.get("/metrics")).text())
        missing = {metric: where for metric, where in wanted.items() if not exports(metric, types, samples)}
        if not missing:
            break
        await asyncio.sleep(0.2)
    assert not missing, "\n".join(f"{metric}: used by {sorted(where)}" for metric, where in sorted(missing.items()))
