"""What detection found: the parts of a project, how to build and run them, and why.

All paths (``dir``, ``root``, ``lockfile``, ``output``) are relative to the
root of the tree, ``"."`` being the root itself; commands are argv lists run
in the part's ``dir``. ``$PORT`` in an argument or an ``env`` value is a
placeholder: the runtime replaces it with the port it gives the server (and
sets the ``port_env`` variable to the same number).
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PORT = "$PORT"

Argv = tuple[str, ...]


@dataclass(frozen=True)
class Static:
    """A folder of files served as they are."""

    root: str


@dataclass(frozen=True)
class Client:
    """An npm / pnpm / yarn project whose ``build`` writes a folder of static files."""

    dir: str
    framework: str  # "Vite (React)", "Create React App", … or "custom"
    package_manager: str  # "npm" | "pnpm" | "yarn"
    lockfile: str | None  # what keys the install cache; None: versions resolved afresh
    install: Argv
    build: Argv
    output: str


@dataclass(frozen=True)
class Server:
    """A process that serves HTTP on ``$PORT``, built (optionally) and then started."""

    runtime: str  # "python" | "node"
    dir: str
    framework: str  # "Flask", "FastAPI", "Express", "Procfile", …
    install: Argv | None  # None: nothing to install
    lockfile: str | None  # requirements.txt, package-lock.json, …: what keys the install cache
    build: Argv | None
    start: Argv
    port_env: str = "PORT"
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Detection:
    """The parts of a project (any may be None) and the sentences that explain them.

    ``routes`` maps URL patterns (``/api/*``, first match wins) to a part
    name; ``spa`` serves the client's ``index.html`` for paths with no file.
    """

    static: Static | None = None
    client: Client | None = None
    server: Server | None = None
    routes: Mapping[str, str] = field(default_factory=dict)
    spa: bool = False
    reasons: tuple[str, ...] = ()

    @property
    def parts(self) -> tuple[str, ...]:
        """The names of the parts found, e.g. ``("client", "server")``."""
        return tuple(name for name in ("static", "client", "server") if getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only: lists for argv, None for a missing part."""
        return {
            "static": _plain(self.static),
            "client": _plain(self.client),
            "server": _plain(self.server),
            "routes": dict(self.routes),
            "spa": self.spa,
            "reasons": list(self.reasons),
        }


def _plain(part: Static | Client | Server | None) -> dict[str, Any] | None:
    if part is None:
        return None
    values: dict[str, Any] = {}
    for f in dataclasses.fields(part):
        value = getattr(part, f.name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        values[f.name] = value
    return values


def command(argv: Argv | None) -> str:
    """An argv as a shell would read it (but with ``$PORT`` left bare), or ``(none)``."""
    if not argv:
        return "(none)"
    marker = "PORT_PLACEHOLDER_"
    return shlex.join(word.replace(PORT, marker) for word in argv).replace(marker, PORT)


def explain(detection: Detection) -> str:
    """A short, readable account of a detection: what ``previewd detect DIR`` prints."""
    lines: list[str] = []
    if detection.static is not None:
        lines.append(f"static  {_folder(detection.static.root)}")
    if (client := detection.client) is not None:
        lockfile = client.lockfile or "no lockfile"
        lines += [
            f"client  {_folder(client.dir)} · {client.framework} · {client.package_manager} "
            f"({lockfile})",
            f"          install  {command(client.install)}",
            f"          build    {command(client.build)}",
            f"          output   {_folder(client.output)}",
        ]
    if (server := detection.server) is not None:
        lines.append(f"server  {_folder(server.dir)} · {server.runtime} · {server.framework}")
        lines.append(f"          install  {command(server.install)}")
        if server.build:
            lines.append(f"          build    {command(server.build)}")
        lines.append(f"          start    {command(server.start)}")
        env = {server.port_env: PORT, **server.env}
        lines.append("          env      " + " ".join(f"{k}={v}" for k, v in env.items()))
    if not lines:
        lines.append("Nothing to build or serve was recognised.")
    elif detection.routes:
        routes = ", ".join(f"{pattern} → {part}" for pattern, part in detection.routes.items())
        spa = "; other paths fall back to index.html" if detection.spa else ""
        lines.append(f"routes  {routes}{spa}")
    if detection.reasons:
        lines.append("why")
        lines += [f"  - {reason}" for reason in detection.reasons]
    return "\n".join(lines)


def _folder(path: str) -> str:
    return "./" if path == "." else f"{path}/"
