"""previewd.toml: what a project says about itself, checked strictly.

    [static]  root
    [client]  dir, framework, package_manager, lockfile, install, build, output
    [server]  dir, runtime, framework, install, lockfile, build, start, port_env, env
    [routes]  "/api/*" = "server" (patterns to part names, first match wins), spa = true

Any key set here replaces what detection found. Commands are a string
(split like a shell would, without running one) or a list of strings; paths
are relative to the root of the tree and may not leave it. A malformed file
is the one thing that makes detection raise: a project that says how to build
it must be told exactly what is wrong.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from previewd.detection.model import Argv, Client, Server, Static, command
from previewd.detection.scan import Scan
from previewd.detection.trees import READ_LIMIT
from previewd.errors import InvalidContent, InvalidPath, LimitExceeded
from previewd.paths import clean_path

FILE = "previewd.toml"
PARTS = ("static", "client", "server")
_HINT = "Fix previewd.toml at the root of the project, or delete it to use what detection finds."
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATTERN = re.compile(r"/[^*\s]*\*?")

Part = TypeVar("Part", Static, Client, Server)


def _error(message: str, hint: str = _HINT) -> InvalidContent:
    return InvalidContent(f"previewd.toml: {message}", hint=hint)


def _kind(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), "a date or time")


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(f"{key} must be a non-empty string, not {_kind(value)}.")
    return value


def _path(key: str, value: Any) -> str:
    value = _text(key, value).rstrip("/") or "/"
    if value in (".", "./"):
        return "."
    try:
        return clean_path(value)
    except InvalidPath as e:
        raise _error(f"{key} = {value!r} is not a path inside the project: {e.message}") from None


def _choice(*options: str) -> Callable[[str, Any], str]:
    def convert(key: str, value: Any) -> str:
        if value not in options:
            raise _error(f"{key} must be one of {', '.join(options)}, not {value!r}.")
        return str(value)

    return convert


def _argv(required: bool) -> Callable[[str, Any], Argv | None]:
    def convert(key: str, value: Any) -> Argv | None:
        if isinstance(value, str):
            try:
                argv = tuple(shlex.split(value))
            except ValueError as e:
                raise _error(f"{key} = {value!r} cannot be split into words: {e}.") from None
        elif isinstance(value, list) and all(isinstance(word, str) for word in value):
            argv = tuple(value)
        else:
            raise _error(f"{key} must be a string or an array of strings, not {_kind(value)}.")
        if not argv and required:
            raise _error(f"{key} is empty; give the command to run.")
        return argv or None  # an empty install or build: skip that step

    return convert


def _env_name(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
        raise _error(f"{key} must be an environment variable name such as PORT, not {value!r}.")
    return value


def _env(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _error(f"{key} must be a table of strings, not {_kind(value)}.")
    for name, item in value.items():
        _env_name(f"a key of {key}", name)
        if not isinstance(item, str):
            raise _error(f"{key}.{name} must be a string, not {_kind(item)}.")
    return dict(value)


_FIELDS: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "static": {"root": _path},
    "client": {
        "dir": _path,
        "framework": _text,
        "package_manager": _choice("npm", "pnpm", "yarn"),
        "lockfile": _path,
        "install": _argv(required=False),
        "build": _argv(required=True),
        "output": _path,
    },
    "server": {
        "dir": _path,
        "runtime": _choice("python", "node"),
        "framework": _text,
        "install": _argv(required=False),
        "lockfile": _path,
        "build": _argv(required=False),
        "start": _argv(required=True),
        "port_env": _env_name,
        "env": _env,
    },
}


@dataclass(frozen=True)
class Overrides:
    parts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    routes: Mapping[str, str] = field(default_factory=dict)
    spa: bool | None = None

    def section(self, name: str) -> Mapping[str, Any]:
        return self.parts.get(name, {})


def load(scan: Scan) -> Overrides:
    """The previewd.toml at the root of the tree, or no overrides; InvalidContent if malformed."""
    if not scan.has(FILE):
        return Overrides()
    try:
        data = scan.tree.read(FILE)
    except LimitExceeded:
        raise _error(
            f"the file is larger than {READ_LIMIT} bytes.", "It needs a few lines."
        ) from None
    if data is None:
        return Overrides()
    try:
        table = tomllib.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise _error("the file is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as e:
        raise _error(f"not valid TOML: {e}.", "Check the TOML syntax at that line.") from None
    parts: dict[str, dict[str, Any]] = {}
    routes: dict[str, str] = {}
    spa = None
    for name, section in table.items():
        if name not in (*PARTS, "routes"):
            raise _error(
                f"unknown key {name!r}; allowed sections: [static], [client], [server], [routes]."
            )
        if not isinstance(section, dict):
            raise _error(f"{name} must be a table ([{name}]), not {_kind(section)}.")
        if name == "routes":
            routes, spa = _routes(section)
            continue
        fields = _FIELDS[name]
        parts[name] = {}
        for key, value in section.items():
            if key not in fields:
                raise _error(
                    f"unknown key {name}.{key}; [{name}] allows {', '.join(sorted(fields))}."
                )
            parts[name][key] = fields[key](f"{name}.{key}", value)
    return Overrides(parts, routes, spa)


def _routes(section: dict[str, Any]) -> tuple[dict[str, str], bool | None]:
    routes: dict[str, str] = {}
    spa = None
    for key, value in section.items():
        if key == "spa":
            if not isinstance(value, bool):
                raise _error(f"routes.spa must be true or false, not {_kind(value)}.")
            spa = value
        elif key.startswith("/"):
            if not _PATTERN.fullmatch(key):
                raise _error(f"route {key!r} may hold '*' only at its end, and no spaces.")
            if value not in PARTS:
                raise _error(f"route {key!r} must name static, client or server, not {value!r}.")
            routes[key] = value
        else:
            raise _error(
                f"unknown key routes.{key}; [routes] allows spa and URL patterns starting with "
                '\'/\', such as "/api/*" = "server".'
            )
    return routes, spa


def apply(part: Part, name: str, overrides: Overrides, why: list[str]) -> Part:
    """``part`` with the fields previewd.toml sets, each one noted in ``why``."""
    values = overrides.section(name)
    for key, value in values.items():
        why.append(f"previewd.toml sets {name}.{key} = {_shown(value)}.")
    return dataclasses.replace(part, **values)


def _shown(value: Any) -> str:
    if isinstance(value, tuple) or value is None:
        return f"`{command(value)}`"
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) or "{}"
    return str(value)
