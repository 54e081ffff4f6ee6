"""Reading, interpolating and validating the YAML config file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sidecar.auth import hash_token
from sidecar.errors import ConfigError

from ._interpolate import interpolate
from ._model import SCOPES, Config

ENV_TOKENS = "SIDECAR_API_TOKENS"


def load_config(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load ``path`` into a :class:`Config`; raise :class:`ConfigError` listing every problem.

    ``overrides`` maps dotted paths (``"server.listen"``) to values that win
    over the file, as the command-line flags do.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the file ({exc.strerror})"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {_yaml_problem(exc)}"]) from None
    return parse_config(raw if raw is not None else {}, env=env, overrides=overrides)


def parse_config(
    raw: Any,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Validate an already-parsed YAML tree (see :func:`load_config`)."""
    env = os.environ if env is None else env
    if not isinstance(raw, dict):
        raise ConfigError([f"<root>: expected a mapping of sections, got {type(raw).__name__}"])
    problems: list[str] = []
    tree = interpolate(raw, env, problems)
    for dotted, value in (overrides or {}).items():
        _set_path(tree, dotted.split("."), value)
    extra_tokens = _env_tokens(env.get(ENV_TOKENS, ""), problems)
    if extra_tokens:
        auth = tree.setdefault("auth", {})
        if isinstance(auth, dict):
            auth["tokens"] = [*(auth.get("tokens") or []), *extra_tokens]
    # A value whose variable is unset is already reported: skip its follow-on errors.
    unset = {problem.partition(": ")[0] for problem in problems}
    try:
        config = Config.model_validate(tree)
    except ValidationError as exc:
        formatted = (_format_error(error) for error in exc.errors())
        problems.extend(p for p in formatted if p.partition(": ")[0] not in unset)
        config = None
    if problems or config is None:
        raise ConfigError(problems)
    return config


def render_config(config: Config) -> str:
    """The effective config as YAML, every secret shown as ``***``."""
    data = config.model_dump(mode="json", by_alias=True)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def _env_tokens(value: str, problems: list[str]) -> list[dict[str, Any]]:
    # name:scope+scope:token, comma-separated; the raw token is hashed at once and never kept.
    tokens = []
    for index, entry in enumerate(part.strip() for part in value.split(",")):
        if not entry:
            continue
        name, _, rest = entry.partition(":")
        scopes, _, token = rest.partition(":")
        where = f"{ENV_TOKENS}[{index}]"
        if not name or not scopes or not token:
            problems.append(f"{where}: expected name:scope+scope:token")
            continue
        unknown = [scope for scope in scopes.split("+") if scope not in SCOPES]
        if unknown:
            problems.append(f"{where} ({name}): unknown scope {unknown[0]!r}, expected one of {', '.join(SCOPES)}")
            continue
        if len(token) < 16:
            problems.append(f"{where} ({name}): a token must be at least 16 characters long")
            continue
        tokens.append({"name": name, "scopes": scopes.split("+"), "sha256": hash_token(token)})
    return tokens


def _set_path(tree: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        child = tree.get(part)
        if not isinstance(child, dict):
            child = tree[part] = {}
        tree = child
    tree[parts[-1]] = value


def _format_error(error: Mapping[str, Any]) -> str:
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"{path or '<root>'}: {message}"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return problem
