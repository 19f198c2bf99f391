"""A prepared server as the store keeps it: JSON that names snapshots and cache trees."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from previewd.build.result import Deps, ServerBundle
from previewd.snapshots import Snapshot


def dump(bundle: ServerBundle) -> str:
    deps = bundle.deps
    return json.dumps(
        {
            "files": bundle.files.digest,
            "deps": None
            if deps is None
            else {"key": deps.key, "tree": str(deps.tree), "target": deps.target},
            "start": list(bundle.start),
            "port_env": bundle.port_env,
            "env": dict(bundle.env),
            "runtime": bundle.runtime,
            "dir": bundle.dir,
        }
    )


async def load(text: str, snapshot: Callable[[str], Awaitable[Snapshot]]) -> ServerBundle:
    data: dict[str, Any] = json.loads(text)
    deps = data["deps"]
    return ServerBundle(
        files=await snapshot(data["files"]),
        deps=None if deps is None else Deps(deps["key"], Path(deps["tree"]), deps["target"]),
        start=tuple(data["start"]),
        port_env=data["port_env"],
        env=data["env"],
        runtime=data["runtime"],
        dir=data["dir"],
    )


def part_routes(detected: dict[str, str], has_static: bool) -> dict[str, str]:
    """Path patterns to "server" or "static": what detection said, or all to the server."""
    routes = {p: ("server" if part == "server" else "static") for p, part in detected.items()}
    if not routes or not has_static:
        routes = {"/*": "server"}
    return routes
