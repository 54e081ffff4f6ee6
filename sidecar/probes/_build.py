"""From a configured probe to a scheduled one: each kind's check, bound to its settings."""

from __future__ import annotations

from functools import partial

import aiohttp

from sidecar.config import DnsProbe, HttpProbe, PostgresProbe, ProbeConfig, RedisProbe, SmtpProbe, TcpProbe

from ._checks_http import PRESENT, HttpSpec, check_http
from ._checks_mail_dns import check_dns, check_smtp
from ._checks_net import check_redis, check_tcp
from ._checks_postgres import check_postgres
from ._model import HealthPolicy
from ._scheduler import Check, ScheduledProbe


def http_spec(probe: HttpProbe) -> HttpSpec:
    """The request and conditions of an ``http`` probe (secret headers joined in)."""
    headers = {**probe.headers, **{name: value.get_secret_value() for name, value in probe.secret_headers.items()}}
    return HttpSpec(
        url=probe.url,
        method=probe.method,
        headers=headers,
        body=None if probe.body is None else probe.body.encode(),
        follow_redirects=probe.follow_redirects,
        expect_status=probe.expect_status,
        max_response_time=probe.max_response_time,
        body_contains=probe.body_contains,
        json_path=probe.json_path,
        # Unset means "the path only has to exist"; an explicit null is compared.
        json_equals=probe.json_equals if "json_equals" in probe.model_fields_set else PRESENT,
        header_equals=probe.header_equals,
        cert_min_days=probe.cert_min_days,
    )


def check_of(probe: ProbeConfig, session: aiohttp.ClientSession) -> Check:
    """The check a configured probe runs (``session`` carries :func:`trace_config`, for ``http``)."""
    timeout = probe.timeout
    match probe:
        case HttpProbe():
            return partial(check_http, session, http_spec(probe), timeout=timeout)
        case TcpProbe():
            return partial(check_tcp, probe.host, probe.port, timeout=timeout, tls=probe.tls)
        case PostgresProbe():
            return partial(
                check_postgres,
                probe.dsn.get_secret_value(),
                timeout=timeout,
                check_recovery=probe.check_recovery,
                max_replication_lag=probe.max_replication_lag,
            )
        case RedisProbe():
            password = None if probe.password is None else probe.password.get_secret_value()
            return partial(check_redis, probe.host, probe.port, timeout=timeout, password=password)
        case SmtpProbe():
            return partial(check_smtp, probe.host, probe.port, timeout=timeout, starttls=probe.starttls)
        case DnsProbe():
            return partial(check_dns, probe.host, timeout=timeout, expect=probe.expect)
    raise TypeError(f"unknown probe kind {probe.kind!r}")


def scheduled(probe: ProbeConfig, session: aiohttp.ClientSession) -> ScheduledProbe:
    """The scheduler's view of a configured probe."""
    return ScheduledProbe(probe.name, probe.interval, probe.timeout, check_of(probe, session))


def policy_of(probe: ProbeConfig) -> HealthPolicy:
    """The health policy of a configured probe."""
    return HealthPolicy(probe.degraded_after, probe.failures_to_down, probe.successes_to_recover)
