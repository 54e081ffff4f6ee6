"""The connectivity self-check against real loopback ports: online while any target answers."""

from __future__ import annotations

import asyncio

from sidecar.probes._checks_net import CheckOutcome, check_tcp
from sidecar.probes._connectivity import Connectivity, parse_target
from tests.helpers import Clock
from tests.probes.conftest import Serve, closed_port, reply


class CountingConnect:
    """check_tcp, counted."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, host: str, port: int, timeout: float) -> CheckOutcome:  # noqa: ASYNC109
        self.calls += 1
        return await check_tcp(host, port, timeout=timeout)


async def test_online_while_any_target_answers(serve: Serve) -> None:
    port = await serve(reply(b""))
    verdicts: list[bool] = []
    connectivity = Connectivity(
        [("127.0.0.1", closed_port()), ("127.0.0.1", port)], timeout=1.0, max_age=10.0, on_verdict=verdicts.append
    )
    assert await connectivity.offline() is False and verdicts == [True]


async def test_offline_when_no_target_answers_and_the_verdict_is_reused_until_it_ages() -> None:
    clock, connect = Clock(), CountingConnect()
    connectivity = Connectivity(
        [("127.0.0.1", closed_port()), ("127.0.0.1", closed_port())],
        timeout=1.0, max_age=10.0, clock=clock, connect=connect,
    )  # fmt: skip
    # Failures arriving together share one check.
    assert await asyncio.gather(*(connectivity.offline() for _ in range(5))) == [True] * 5
    assert connect.calls == 2
    clock.now = 9.9
    assert await connectivity.offline() is True and connect.calls == 2
    clock.now = 10.0
    assert await connectivity.offline() is True and connect.calls == 4


async def test_without_targets_it_is_never_offline() -> None:
    connectivity = Connectivity([], timeout=1.0, max_age=1.0)
    assert not connectivity.enabled and await connectivity.offline() is False


def test_targets_parse_from_host_port() -> None:
    assert parse_target("1.1.1.1:53") == ("1.1.1.1", 53)
    assert parse_target("[2606:4700:4700::1111]:443") == ("2606:4700:4700::1111", 443)
