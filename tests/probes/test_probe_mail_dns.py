"""The smtp and dns checks against real local targets: healthy, rejecting, hanging and unresolvable."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from pathlib import Path

import pytest

from sidecar.probes._checks_mail_dns import check_dns, check_smtp
from tests.probes.conftest import Handler, Serve, server_context

TIMEOUT = 0.5
BANNER = b"220-mail.test ESMTP ready\r\n220 no spam please\r\n"


def smtp_server(
    *,
    banner: bytes = BANNER,
    ehlo_reply: bytes | None = None,
    tls: ssl.SSLContext | None = None,
    heard: list[str] | None = None,
) -> Handler:
    """A minimal SMTP responder: ``banner``, EHLO (multi-line 250, STARTTLS offered with ``tls``), QUIT.

    Every command received is appended to ``heard``, so tests can check what the client said.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner)
        secured = False
        while line := await reader.readline():
            command = line.decode().rstrip("\r\n")
            if heard is not None:
                heard.append(command)
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                offer = b"250-STARTTLS\r\n" if tls and not secured else b""
                writer.write(
                    ehlo_reply or b"250-mail.test greets you\r\n250-SIZE 10240000\r\n" + offer + b"250 8BITMIME\r\n"
                )
            elif verb == "STARTTLS" and tls:
                writer.write(b"220 2.0.0 go ahead\r\n")
                await writer.start_tls(tls)
                secured = True
            elif verb == "QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                writer.close()
                return
            else:
                writer.write(b"502 5.5.1 unrecognized command\r\n")
            await writer.drain()

    return handle


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and never send a banner: the connection stays open until the fixture aborts it."""


async def wait_for_quit(heard: list[str]) -> None:
    # The check says QUIT and leaves without waiting for the reply; give the server a moment to read it.
    for _ in range(100):
        if heard and heard[-1] == "QUIT":
            return
        await asyncio.sleep(0.01)


# --- smtp --------------------------------------------------------------------------------------


async def test_smtp_healthy_server_reads_the_multiline_banner_ehlo_and_quits(serve: Serve) -> None:
    heard: list[str] = []
    port = await serve(smtp_server(heard=heard))
    outcome = await check_smtp("127.0.0.1", port, timeout=2, helo_name="probe.example")
    assert outcome.ok, outcome.error
    assert list(outcome.phases) == ["connect", "banner", "ehlo"]
    assert sum(outcome.phases.values()) <= outcome.duration
    await wait_for_quit(heard)
    assert heard == ["EHLO probe.example", "QUIT"]


async def test_smtp_starttls_upgrades_and_says_ehlo_again(serve: Serve, tls_files: tuple[Path, Path]) -> None:
    heard: list[str] = []
    port = await serve(smtp_server(tls=server_context(tls_files), heard=heard))
    client = ssl.create_default_context(cafile=str(tls_files[0]))
    outcome = await check_smtp("127.0.0.1", port, timeout=2, starttls=True, ssl_context=client)
    assert outcome.ok, outcome.error
    assert list(outcome.phases) == ["connect", "banner", "ehlo", "starttls"]
    await wait_for_quit(heard)
    assert heard == ["EHLO sidecar.local", "STARTTLS", "EHLO sidecar.local", "QUIT"]


async def test_smtp_starttls_with_an_untrusted_certificate_is_not_ok(
    serve: Serve, tls_files: tuple[Path, Path]
) -> None:
    port = await serve(smtp_server(tls=server_context(tls_files)))
    outcome = await check_smtp("127.0.0.1", port, timeout=2, starttls=True)
    assert not outcome.ok
    assert outcome.error is not None and "CERTIFICATE_VERIFY_FAILED" in outcome.error


async def test_smtp_starttls_not_offered_is_not_ok(serve: Serve) -> None:
    heard: list[str] = []
    port = await serve(smtp_server(heard=heard))
    outcome = await check_smtp("127.0.0.1", port, timeout=2, starttls=True)
    assert not outcome.ok
    assert outcome.error == "smtp EHLO: server does not offer STARTTLS"
    assert "STARTTLS" not in heard


async def test_smtp_rejecting_banner_is_not_ok_and_quotes_the_reply(serve: Serve) -> None:
    port = await serve(smtp_server(banner=b"554 go away\r\n"))
    outcome = await check_smtp("127.0.0.1", port, timeout=2)
    assert not outcome.ok
    assert outcome.error == "smtp banner: expected 220, got 554 go away"
    assert list(outcome.phases) == ["connect", "banner"]


async def test_smtp_quoted_reply_is_cut_at_60_characters(serve: Serve) -> None:
    port = await serve(smtp_server(banner=b"421 " + b"x" * 500 + b"\r\n"))
    outcome = await check_smtp("127.0.0.1", port, timeout=2)
    assert outcome.error == "smtp banner: expected 220, got 421 " + "x" * 60


async def test_smtp_rejected_ehlo_is_not_ok(serve: Serve) -> None:
    port = await serve(smtp_server(ehlo_reply=b"550-5.7.1 not you\r\n550 5.7.1 really not you\r\n"))
    outcome = await check_smtp("127.0.0.1", port, timeout=2)
    assert not outcome.ok
    assert outcome.error == "smtp EHLO: expected 250, got 550 5.7.1 not you 5.7.1 really not you"
    assert list(outcome.phases) == ["connect", "banner", "ehlo"]


async def test_smtp_garbage_reply_is_not_ok(serve: Serve) -> None:
    port = await serve(smtp_server(banner=b"HTTP/1.1 400 Bad Request\r\n"))
    outcome = await check_smtp("127.0.0.1", port, timeout=2)
    assert outcome.error == "smtp banner: malformed reply 'HTTP/1.1 400 Bad Request'"


async def test_smtp_server_closing_before_the_banner_is_not_ok(serve: Serve) -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    port = await serve(close)
    outcome = await check_smtp("127.0.0.1", port, timeout=2)
    assert outcome.error == "smtp banner: server closed the connection"


async def test_smtp_server_without_a_banner_is_cut_at_the_timeout(serve: Serve) -> None:
    port = await serve(silent)
    start = time.perf_counter()
    outcome = await check_smtp("127.0.0.1", port, timeout=TIMEOUT)
    elapsed = time.perf_counter() - start
    assert not outcome.ok
    assert outcome.error == f"timed out after {TIMEOUT:g}s"
    assert elapsed < TIMEOUT + 0.5
    assert TIMEOUT <= outcome.duration < TIMEOUT + 0.5
    assert list(outcome.phases) == ["connect", "banner"]


async def test_smtp_helo_name_that_could_inject_a_command_is_refused() -> None:
    with pytest.raises(ValueError, match="helo_name"):
        await check_smtp("127.0.0.1", 25, timeout=TIMEOUT, helo_name="x\r\nRCPT TO:<a@b>")


# --- dns ---------------------------------------------------------------------------------------


async def test_dns_localhost_resolves_to_the_loopback_address() -> None:
    outcome = await check_dns("localhost", timeout=2, expect="127.0.0.1", family=socket.AF_INET)
    assert outcome.ok, outcome.error
    assert list(outcome.phases) == ["resolve"]


async def test_dns_localhost_resolves_without_an_expectation() -> None:
    outcome = await check_dns("localhost", timeout=2)
    assert outcome.ok, outcome.error


async def test_dns_invalid_name_is_not_ok() -> None:
    outcome = await check_dns("no-such-host.invalid", timeout=2)
    assert not outcome.ok
    assert outcome.error is not None
    assert list(outcome.phases) == ["resolve"]


async def test_dns_expected_address_missing_is_not_ok() -> None:
    outcome = await check_dns("localhost", timeout=2, expect="192.0.2.1", family=socket.AF_INET)
    assert not outcome.ok
    assert outcome.error == "dns localhost: 192.0.2.1 not among 127.0.0.1"


async def test_dns_expectation_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(ValueError, match="not-an-ip"):
        await check_dns("localhost", timeout=2, expect="not-an-ip")
