"""The versions of the tools a step runs, part of every cache key.

Probed once per process, on the host but with the sandbox's ``PATH``: the
sandbox binds the host's ``/usr`` read-only, so both see the same binaries
(and not, say, a pyenv shim that only the host's own ``PATH`` has).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from previewd.runtimes.base import DEFAULT_ENV

MISSING = "missing"

_PROBES: dict[str, tuple[str, ...]] = {
    "node": ("node", "--version"),
    "npm": ("npm", "--version"),
    "pnpm": ("pnpm", "--version"),
    "yarn": ("yarn", "--version"),
    "python": ("python3", "--version"),
    "pip": ("python3", "-m", "pip", "--version"),
}
_known: dict[str, str] = {}


@dataclass(frozen=True)
class Toolchain:
    """Tool name → version string (``missing`` when the tool is not installed)."""

    versions: Mapping[str, str]

    def of(self, tools: Iterable[str]) -> dict[str, str]:
        return {tool: self.versions.get(tool, MISSING) for tool in sorted(set(tools))}


async def probe(tools: Iterable[str]) -> Toolchain:
    """The versions of ``tools`` (names from :data:`_PROBES`), each asked once per process."""
    wanted = sorted(set(tools))
    unknown = [tool for tool in wanted if tool not in _known]
    found = await asyncio.gather(*(asyncio.to_thread(_version, tool) for tool in unknown))
    _known.update(zip(unknown, found, strict=True))
    return Toolchain({tool: _known[tool] for tool in wanted})


def _version(tool: str) -> str:
    argv = _PROBES.get(tool)
    if argv is None:
        return MISSING
    env = {"PATH": DEFAULT_ENV["PATH"], "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    try:
        done = subprocess.run(argv, capture_output=True, env=env, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return MISSING
    words = (done.stdout or done.stderr).decode(errors="replace").split()
    if done.returncode != 0 or not words:
        return MISSING
    # "v20.20.2", "11.19.1", "Python 3.11.2", "pip 23.0.1 from /usr/lib/…"
    return words[1] if len(words) > 1 and words[0] in ("Python", "pip") else words[0]
