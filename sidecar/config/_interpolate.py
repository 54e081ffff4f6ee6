"""``${VAR}`` and ``${VAR:-default}`` interpolation over a parsed YAML tree.

Interpolation runs on string scalars after parsing, so an environment value can
never inject YAML structure. Strings that took any part from the environment
come back as :class:`EnvStr`, which is how secret fields know their value did
not come from the file itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class EnvStr(str):
    """A string that took at least part of its value from the environment."""

    __slots__ = ()


def _path(parts: tuple[str | int, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def interpolate(tree: Any, env: Mapping[str, str] | None = None, problems: list[str] | None = None) -> Any:
    """Return ``tree`` with every ``${...}`` reference replaced; collect unset variables in ``problems``."""
    env = os.environ if env is None else env
    problems = [] if problems is None else problems

    def walk(node: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(node, dict):
            return {key: walk(value, (*path, str(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value, (*path, index)) for index, value in enumerate(node)]
        if isinstance(node, str) and "$" in node:
            return _substitute(node, env, _path(path), problems)
        return node

    return walk(tree, ())


def _substitute(text: str, env: Mapping[str, str], where: str, problems: list[str]) -> str:
    used_env = False

    def replace(match: re.Match[str]) -> str:
        nonlocal used_env
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                problems.append(f"{where}: environment variable {name} is not set")
                used_env = True  # the reference was there: one problem is enough
                return ""
            return default
        used_env = True
        return value

    result = _REF.sub(replace, text)
    return EnvStr(result) if used_env else result
