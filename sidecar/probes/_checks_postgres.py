"""PostgreSQL dependency check: connect, ``SELECT 1``, and optionally primary/replica and lag."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from sidecar.probes._checks_net import CheckOutcome, Phases, TargetError, run_check

# What asyncpg raises for an unreachable, refusing or misconfigured target (bad DSN included).
_PG_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    TargetError,
)

_RECOVERY_SQL = "SELECT pg_is_in_recovery(), EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8"
_KV_PASSWORD = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def dsn_secrets(dsn: str) -> list[str]:
    """Every string an error must not show: the DSN itself and its password, in each spelling."""
    secrets = [dsn]
    try:
        parts = urlsplit(dsn)
        passwords = [parts.password or "", *parse_qs(parts.query).get("password", [])]
    except ValueError:
        passwords = []
    passwords += [match.strip("'") for match in _KV_PASSWORD.findall(dsn)]
    for password in passwords:
        if password:
            secrets += [password, unquote(password)]
    return secrets


def recovery_problem(
    in_recovery: bool, lag: float | None, *, check_recovery: bool, max_replication_lag: float | None
) -> str | None:
    """Why the server's role or lag is unhealthy, or None.

    ``check_recovery`` asks for a primary, so a server in recovery (a replica) fails. The lag
    limit applies only to a replica; a replica that has replayed nothing yet has unknown lag and
    fails. Lag is ``now() - last replay``, so on an idle primary it grows without real delay.
    """
    if not in_recovery:
        return None
    if check_recovery:
        return "server is in recovery (a replica); a primary was expected"
    if max_replication_lag is None:
        return None
    if lag is None:
        return "replication lag unknown: the replica has replayed no transaction yet"
    if lag > max_replication_lag:
        return f"replication lag {lag:.3g}s exceeds {max_replication_lag:g}s"
    return None


async def check_postgres(
    dsn: str,
    *,
    timeout: float,  # noqa: ASYNC109 (the deadline is the check's contract)
    check_recovery: bool = False,
    max_replication_lag: float | None = None,
) -> CheckOutcome:
    """Connect with asyncpg and run ``SELECT 1``; optionally require a primary or bound replica lag.

    Phases: ``connect``, ``query`` and, when role or lag is checked, ``recovery``. Errors never
    show the DSN or its password.
    """

    async def body(phases: Phases) -> None:
        with phases.measure("connect"):
            connection = await asyncpg.connect(dsn, timeout=timeout)
        try:
            with phases.measure("query"):
                await connection.fetchval("SELECT 1")
            if check_recovery or max_replication_lag is not None:
                with phases.measure("recovery"):
                    in_recovery, lag = await connection.fetchrow(_RECOVERY_SQL)
                problem = recovery_problem(
                    in_recovery, lag, check_recovery=check_recovery, max_replication_lag=max_replication_lag
                )
                if problem:
                    raise TargetError(problem)
        except BaseException:
            # Timed out or failed: drop the socket now rather than wait on a polite close.
            connection.terminate()
            raise
        await connection.close()

    return await run_check(body, timeout=timeout, errors=_PG_ERRORS, secrets=dsn_secrets(dsn))
