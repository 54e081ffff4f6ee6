"""The tcp, redis and postgres checks against real local targets: healthy, refusing, wrong and hanging."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import pytest

from sidecar.probes._checks_net import CheckOutcome, check_redis, check_tcp, describe_error
from sidecar.probes._checks_postgres import check_postgres, dsn_secrets, recovery_problem
from tests.conftest import POSTGRES_DSN, require_postgres
from tests.probes.conftest import Serve, closed_port, hang, reply, server_context

TIMEOUT = 0.5
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def assert_timed_out(outcome: CheckOutcome, elapsed: float) -> None:
    assert not outcome.ok
    assert outcome.error == f"timed out after {TIMEOUT:g}s"
    assert elapsed < TIMEOUT + 0.5
    assert TIMEOUT <= outcome.duration < TIMEOUT + 0.5


# --- tcp ---------------------------------------------------------------------------------------


async def test_tcp_connects_to_a_listening_server(serve: Serve) -> None:
    port = await serve(hang)
    outcome = await check_tcp("127.0.0.1", port, timeout=TIMEOUT)
    assert outcome.ok and outcome.error is None
    assert list(outcome.phases) == ["connect"]
    assert 0 < outcome.phases["connect"] <= outcome.duration < TIMEOUT


async def test_tcp_refused_port_is_not_ok_with_the_reason() -> None:
    outcome = await check_tcp("127.0.0.1", closed_port(), timeout=TIMEOUT)
    assert not outcome.ok
    assert outcome.error is not None and "ConnectionRefusedError" in outcome.error
    assert len(outcome.error) <= 200


async def test_tcp_tls_handshake_is_timed_as_its_own_phase(serve: Serve, tls_files: tuple[Path, Path]) -> None:
    port = await serve(hang, ssl_context=server_context(tls_files))
    client = ssl.create_default_context(cafile=str(tls_files[0]))
    outcome = await check_tcp("127.0.0.1", port, timeout=2, tls=True, ssl_context=client)
    assert outcome.ok, outcome.error
    assert list(outcome.phases) == ["connect", "tls"]


async def test_tcp_tls_untrusted_certificate_is_not_ok(serve: Serve, tls_files: tuple[Path, Path]) -> None:
    port = await serve(hang, ssl_context=server_context(tls_files))
    outcome = await check_tcp("127.0.0.1", port, timeout=2, tls=True)
    assert not outcome.ok
    assert outcome.error is not None and "CERTIFICATE_VERIFY_FAILED" in outcome.error


async def test_tcp_tls_wrong_server_hostname_is_not_ok(serve: Serve, tls_files: tuple[Path, Path]) -> None:
    port = await serve(hang, ssl_context=server_context(tls_files))
    client = ssl.create_default_context(cafile=str(tls_files[0]))
    outcome = await check_tcp(
        "127.0.0.1", port, timeout=2, tls=True, server_hostname="db.example.com", ssl_context=client
    )
    assert not outcome.ok
    assert outcome.error is not None and "db.example.com" in outcome.error


async def test_tcp_tls_handshake_that_never_completes_is_cut_at_the_timeout(serve: Serve) -> None:
    port = await serve(hang)  # plain TCP server: never answers the ClientHello
    start = time.perf_counter()
    outcome = await check_tcp("127.0.0.1", port, timeout=TIMEOUT, tls=True)
    assert_timed_out(outcome, time.perf_counter() - start)
    assert outcome.phases["tls"] >= TIMEOUT - outcome.phases["connect"] - 0.05


# --- redis -------------------------------------------------------------------------------------


async def test_redis_answers_pong() -> None:
    outcome = await check_redis(REDIS_HOST, REDIS_PORT, timeout=2)
    assert outcome.ok, outcome.error
    assert list(outcome.phases) == ["connect", "command"]


async def test_redis_error_reply_is_not_ok(serve: Serve) -> None:
    port = await serve(reply(b"-ERR not today\r\n"))
    outcome = await check_redis("127.0.0.1", port, timeout=TIMEOUT)
    assert not outcome.ok
    assert outcome.error == "redis PING failed: ERR not today"


async def test_redis_garbage_reply_is_not_ok(serve: Serve) -> None:
    port = await serve(reply(b"HTTP/1.1 400 Bad Request\r\n"))
    outcome = await check_redis("127.0.0.1", port, timeout=TIMEOUT)
    assert not outcome.ok
    assert outcome.error is not None and outcome.error.startswith("redis PING: unexpected reply")


async def test_redis_server_closing_the_connection_is_not_ok(serve: Serve) -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"PING\r\n")  # closing with unread input would send a reset instead
        writer.close()

    port = await serve(close)
    outcome = await check_redis("127.0.0.1", port, timeout=TIMEOUT)
    assert not outcome.ok
    assert outcome.error is not None and "closed" in outcome.error


async def test_redis_sends_auth_before_ping(serve: Serve) -> None:
    received: list[bytes] = []

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readuntil(b"s3cret\r\n"))
        writer.write(b"+OK\r\n")
        received.append(await reader.readuntil(b"PING\r\n"))
        writer.write(b"+PONG\r\n")

    port = await serve(server)
    outcome = await check_redis("127.0.0.1", port, timeout=TIMEOUT, password="s3cret")
    assert outcome.ok, outcome.error
    assert received == [b"*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n", b"*1\r\n$4\r\nPING\r\n"]


async def test_redis_rejected_auth_is_not_ok_and_hides_the_password(serve: Serve) -> None:
    port = await serve(reply(b"-WRONGPASS s3cret is invalid\r\n"))
    outcome = await check_redis("127.0.0.1", port, timeout=TIMEOUT, password="s3cret")
    assert not outcome.ok
    assert outcome.error == "redis AUTH failed: WRONGPASS *** is invalid"


async def test_redis_hanging_server_is_cut_at_the_timeout(serve: Serve) -> None:
    port = await serve(hang)
    start = time.perf_counter()
    outcome = await check_redis("127.0.0.1", port, timeout=TIMEOUT)
    assert_timed_out(outcome, time.perf_counter() - start)
    assert set(outcome.phases) == {"connect", "command"}


# --- postgres ----------------------------------------------------------------------------------


async def test_postgres_connects_and_queries() -> None:
    await require_postgres()
    outcome = await check_postgres(POSTGRES_DSN, timeout=5)
    assert outcome.ok, outcome.error
    assert list(outcome.phases) == ["connect", "query"]
    assert sum(outcome.phases.values()) <= outcome.duration


async def test_postgres_unreachable_error_never_shows_the_password() -> None:
    outcome = await check_postgres("postgresql://u:secretpw@127.0.0.1:1/x", timeout=2)
    assert not outcome.ok
    assert outcome.error is not None and "secretpw" not in outcome.error
    assert len(outcome.error) <= 200


async def test_postgres_malformed_dsn_is_not_ok_and_hides_it() -> None:
    outcome = await check_postgres("postgresql://u:secretpw@127.0.0.1:notaport/x", timeout=2)
    assert not outcome.ok
    assert outcome.error is not None and "secretpw" not in outcome.error


async def test_postgres_hanging_server_is_cut_at_the_timeout(serve: Serve) -> None:
    port = await serve(hang)
    start = time.perf_counter()
    outcome = await check_postgres(f"postgresql://u:secretpw@127.0.0.1:{port}/x", timeout=TIMEOUT)
    assert_timed_out(outcome, time.perf_counter() - start)


async def test_postgres_primary_passes_the_recovery_and_lag_checks() -> None:
    await require_postgres()
    outcome = await check_postgres(POSTGRES_DSN, timeout=5, check_recovery=True, max_replication_lag=1.0)
    assert outcome.ok, outcome.error
    assert list(outcome.phases) == ["connect", "query", "recovery"]


@pytest.mark.parametrize(
    ("in_recovery", "lag", "check_recovery", "max_lag", "problem"),
    [
        (False, None, True, 1.0, None),
        (True, 0.1, True, None, "server is in recovery (a replica); a primary was expected"),
        (True, None, False, None, None),
        (True, 0.5, False, 1.0, None),
        (True, 2.5, False, 1.0, "replication lag 2.5s exceeds 1s"),
        (True, None, False, 1.0, "replication lag unknown: the replica has replayed no transaction yet"),
    ],
)
def test_recovery_problem_judges_role_and_lag(
    in_recovery: bool, lag: float | None, check_recovery: bool, max_lag: float | None, problem: str | None
) -> None:
    assert recovery_problem(in_recovery, lag, check_recovery=check_recovery, max_replication_lag=max_lag) == problem


def test_dsn_secrets_cover_url_query_and_keyword_passwords() -> None:
    assert "pw%40x" in dsn_secrets("postgresql://u:pw%40x@h/db")
    assert "pw@x" in dsn_secrets("postgresql://u:pw%40x@h/db")
    assert "qpw" in dsn_secrets("postgresql://u@h/db?password=qpw")
    assert "kvpw" in dsn_secrets("host=h user=u password=kvpw dbname=db")


def test_describe_error_masks_secrets_and_caps_the_length() -> None:
    message = describe_error(OSError("pw " * 200), secrets=["pw"])
    assert "pw" not in message
    assert len(message) == 200 and message.startswith("OSError: *** ")
