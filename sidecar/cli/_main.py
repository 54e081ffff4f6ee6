"""``sidecar run | check-config | token new | audit verify``."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
import uvloop

from sidecar.auth import hash_token, new_token
from sidecar.config import SCOPES, Config, load_config, parse_config, render_config
from sidecar.errors import ConfigError, StorageError

DEFAULT_CONFIG = Path("config/sidecar.yaml")
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sidecar`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "command"):
        parser.print_help()
        return 2
    return int(args.command(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sidecar", description="Observability and reliability sidecar.")
    commands = parser.add_subparsers(metavar="COMMAND")

    run = commands.add_parser("run", help="run the service")
    run.add_argument("--config", type=Path, help=f"config file (default: {DEFAULT_CONFIG} if present)")
    run.add_argument("--listen", metavar="HOST:PORT", help="overrides server.listen")
    run.add_argument("--data-dir", metavar="DIR", help="overrides data_dir")
    run.set_defaults(command=_run)

    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("file", type=Path)
    check.add_argument("--print", action="store_true", help="print the effective config (secrets as ***)")
    check.set_defaults(command=_check_config)

    token = commands.add_parser("token", help="API tokens").add_subparsers(metavar="ACTION")
    new = token.add_parser("new", help="print a fresh token and its config entry")
    new.add_argument("--name", required=True)
    new.add_argument("--scopes", required=True, help=f"comma-separated, from {', '.join(SCOPES)}")
    new.set_defaults(command=_token_new)

    audit = commands.add_parser("audit", help="the audit trail").add_subparsers(metavar="ACTION")
    verify = audit.add_parser("verify", help="check the audit trail's hash chain (exit 1 if tampered with)")
    verify.add_argument("--config", type=Path, help=f"config file (default: {DEFAULT_CONFIG} if present)")
    verify.add_argument("--data-dir", metavar="DIR", help="overrides data_dir")
    verify.set_defaults(command=_audit_verify)
    return parser


def _load(path: Path | None, overrides: dict[str, Any]) -> Config:
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    if path is None:
        return parse_config({}, overrides=overrides)
    return load_config(path, overrides=overrides)


def _run(args: argparse.Namespace) -> int:
    # Imported here so that check-config and token stay quick and light.
    from sidecar.app import create_app
    from sidecar.http import serve
    from sidecar.telemetry import configure_logging

    overrides: dict[str, Any] = {}
    if args.listen:
        overrides["server.listen"] = args.listen
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    try:
        config = _load(args.config, overrides)
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    configure_logging(config.telemetry.logging)
    try:
        app = create_app(config)
    except ConfigError as exc:  # the alert rules are read with the app
        _print_problems(exc)
        return 1
    server = config.server
    try:
        running = serve(app, server.host, server.port, shutdown_timeout=server.shutdown_timeout)
        if server.event_loop == "uvloop":
            uvloop.run(running)  # libuv's loop: less time per request in the event loop itself
        else:
            asyncio.run(running)
    except (StorageError, OSError) as exc:
        structlog.get_logger("sidecar").error("cannot start", error=str(exc))
        return 1
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from sidecar.alerting import load_rules

    try:
        config = load_config(args.file)
        rules = load_rules(config.alerting.rules_dir)
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    if args.print:
        sys.stdout.write(render_config(config))
    else:
        print(f"{args.file}: ok ({len(rules)} alert rules in {config.alerting.rules_dir})")
    return 0


def _token_new(args: argparse.Namespace) -> int:
    if not _TOKEN_NAME.match(args.name):
        print("--name: 1 to 64 letters, digits, '.', '_' or '-'", file=sys.stderr)
        return 1
    scopes = [scope.strip() for scope in args.scopes.split(",") if scope.strip()]
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if not scopes or unknown:
        print(f"--scopes: expected some of {', '.join(SCOPES)}", file=sys.stderr)
        return 1
    token = new_token()
    print(f"token (shown once, give it to the client): {token}")
    print("config entry (auth.tokens):")
    print(f"  - {{name: {args.name}, scopes: [{', '.join(scopes)}], sha256: {hash_token(token)}}}")
    print(f"or in the environment: SIDECAR_API_TOKENS={args.name}:{'+'.join(scopes)}:{token}")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    """Exit 0 for an intact trail, 1 for a tampered one, 2 for a bad config or unreachable storage."""
    from sidecar.audit import AuditVerification
    from sidecar.storage import SqliteStorage, create_storage

    overrides: dict[str, Any] = {"data_dir": args.data_dir} if args.data_dir else {}
    try:
        config = _load(args.config, overrides)
    except ConfigError as exc:
        _print_problems(exc)
        return 2
    storage = create_storage(config.storage, config.data_dir)
    if isinstance(storage, SqliteStorage) and not storage.path.exists():  # opening would create an empty one
        print(f"cannot read the audit log: no SQLite database at {storage.path}", file=sys.stderr)
        return 2

    async def verify() -> AuditVerification:
        await storage.open()
        try:
            return await storage.verify_audit()
        finally:
            await storage.close()

    try:
        result = asyncio.run(verify())
    except (StorageError, OSError) as exc:
        print(f"cannot read the audit log: {exc}", file=sys.stderr)
        return 2
    if result.ok:
        print(f"audit log intact: {result.checked} records checked")
        return 0
    print(f"audit log TAMPERED: {result.problem}")
    return 1


def _print_problems(exc: ConfigError) -> None:
    print(f"invalid configuration ({len(exc.problems)} problem(s)):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
