"""Mail and name-resolution dependency checks: an SMTP conversation and a DNS lookup.

Both follow the contract of :mod:`sidecar.probes._checks_net`: a target problem never raises,
it comes back as a failed :class:`CheckOutcome`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl

from ._checks_net import NET_ERRORS, CheckOutcome, Phases, TargetError, close_stream, run_check

MAX_QUOTED_REPLY = 60

# getaddrinfo failures are socket.gaierror (an OSError); an unencodable name is a UnicodeError.
_DNS_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, TargetError)


async def _read_reply(reader: asyncio.StreamReader, step: str) -> tuple[int, list[str]]:
    """Read one SMTP reply, single- or multi-line (``250-...`` up to ``250 ...``): its code and texts."""
    texts: list[str] = []
    while True:
        line = await reader.readline()
        if not line:
            raise TargetError(f"smtp {step}: server closed the connection")
        text = line.rstrip(b"\r\n").decode(errors="replace")
        code, separator = text[:3], text[3:4]
        if not code.isdigit() or separator not in ("", " ", "-"):
            raise TargetError(f"smtp {step}: malformed reply {text[:MAX_QUOTED_REPLY]!r}")
        texts.append(text[4:])
        if separator != "-":
            return int(code), texts


async def _command(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, step: str, line: str | None, *, expect: int
) -> list[str]:
    """Send ``line`` (none for the banner), require reply code ``expect``, return the reply's texts."""
    if line is not None:
        writer.write(line.encode("ascii") + b"\r\n")
        await writer.drain()
    code, texts = await _read_reply(reader, step)
    if code != expect:
        quoted = " ".join(texts)[:MAX_QUOTED_REPLY]
        raise TargetError(f"smtp {step}: expected {expect}, got {code} {quoted}".rstrip())
    return texts


def _offers_starttls(ehlo_texts: list[str]) -> bool:
    # The first EHLO line is the server's greeting; the rest are extension keywords.
    return any(text.split(" ", 1)[0].upper() == "STARTTLS" for text in ehlo_texts[1:])


async def check_smtp(
    host: str,
    port: int,
    *,
    timeout: float,  # noqa: ASYNC109 (the deadline is the check's contract)
    starttls: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    helo_name: str = "sidecar.local",
) -> CheckOutcome:
    """Hold an SMTP conversation: 220 banner, ``EHLO`` (250), optionally ``STARTTLS``, then ``QUIT``.

    Phases: ``connect``, ``banner``, ``ehlo`` and, with ``starttls``, ``starttls`` (the command,
    the TLS handshake verified against ``host`` with ``ssl_context`` (default: system trust store),
    and the second ``EHLO``). A reply with any other code fails the check, quoting it.
    Raises ``ValueError`` for a ``helo_name`` that is not a single printable ASCII word.
    """
    if not helo_name or not helo_name.isascii() or not helo_name.isprintable() or " " in helo_name:
        raise ValueError(f"helo_name must be one printable ASCII word, got {helo_name!r}")

    async def body(phases: Phases) -> None:
        with phases.measure("connect"):
            reader, writer = await asyncio.open_connection(host, port)
        failed = True
        try:
            with phases.measure("banner"):
                await _command(reader, writer, "banner", None, expect=220)
            with phases.measure("ehlo"):
                ehlo = await _command(reader, writer, "EHLO", f"EHLO {helo_name}", expect=250)
            if starttls:
                with phases.measure("starttls"):
                    if not _offers_starttls(ehlo):
                        raise TargetError("smtp EHLO: server does not offer STARTTLS")
                    await _command(reader, writer, "STARTTLS", "STARTTLS", expect=220)
                    context = ssl_context or ssl.create_default_context()
                    await writer.start_tls(context, server_hostname=host)
                    await _command(reader, writer, "EHLO after STARTTLS", f"EHLO {helo_name}", expect=250)
            # The server's answer to QUIT says nothing about its health: say goodbye, don't wait.
            writer.write(b"QUIT\r\n")
            await writer.drain()
            failed = False
        finally:
            close_stream(writer, failed=failed)

    return await run_check(body, timeout=timeout, errors=NET_ERRORS)


async def check_dns(
    name: str,
    *,
    timeout: float,  # noqa: ASYNC109 (the deadline is the check's contract)
    expect: str | None = None,
    family: int = socket.AF_UNSPEC,
) -> CheckOutcome:
    """Resolve ``name`` with the system resolver; with ``expect``, require that address among the results.

    Phase: ``resolve``. ``family`` narrows the lookup (``socket.AF_INET`` or ``AF_INET6``).
    Raises ``ValueError`` when ``expect`` is not an IP address.
    """
    wanted = ipaddress.ip_address(expect) if expect is not None else None

    async def body(phases: Phases) -> None:
        loop = asyncio.get_running_loop()
        with phases.measure("resolve"):
            infos = await loop.getaddrinfo(name, None, family=family, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise TargetError(f"dns {name}: no addresses")
        if wanted is not None and wanted not in {ipaddress.ip_address(address) for address in addresses}:
            raise TargetError(f"dns {name}: {expect} not among {', '.join(addresses)}")

    return await run_check(body, timeout=timeout, errors=_DNS_ERRORS)
