"""What a build hands back, what it reports while it runs, and how it fails."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from previewd.detection import Detection
from previewd.detection.model import Argv
from previewd.snapshots import Snapshot

#: The ``stream`` of lines previewd itself writes into a step's log (cache hits, skipped files).
PREVIEWD = "previewd"

EventStatus = Literal["queued", "started", "cached", "done", "failed"]


class BuildLog(Protocol):
    """Where a build reports, live. Both methods are called on the event loop and must not block."""

    def line(self, step: str, stream: str, text: str) -> None:
        """One output line of ``step``: ``stream`` is stdout, stderr or :data:`PREVIEWD`."""
        ...

    def event(self, step: str, status: str, detail: str = "") -> None:
        """``queued`` (detail ``position N``), ``started``, ``cached`` (detail: the key),
        ``done`` (detail: seconds) or ``failed`` (detail: the message)."""
        ...


@dataclass(frozen=True)
class Deps:
    """Installed dependencies: a read-only, root-owned tree in the dependency cache.

    Build steps restore it into a work directory with
    :func:`previewd.build.workspace.link_tree` (hard links, no bytes copied) at
    ``target`` (``node_modules`` or ``.venv``); app servers get its entries bound
    read-only there.
    A ``.venv`` only works at ``/work/.venv``: its scripts name that path.
    """

    key: str
    tree: Path
    target: str


@dataclass(frozen=True)
class ServerBundle:
    """A prepared server (issue 4 runs it): its files, its dependencies, how to start it."""

    files: Snapshot  # the server's folder, re-rooted (and built, if it has a build step)
    deps: Deps | None
    start: Argv
    port_env: str
    env: Mapping[str, str]  # over the sandbox's defaults; ``$PORT`` is a placeholder
    runtime: str  # "python" | "node"
    dir: str  # where the server lives in the source, "." for the root


@dataclass(frozen=True)
class StepReport:
    name: str
    status: Literal["ran", "cached"]
    seconds: float
    key: str


@dataclass(frozen=True)
class BuildResult:
    output: Snapshot  # the static files to serve
    server: ServerBundle | None
    detection: Detection
    steps: list[StepReport] = field(default_factory=list)
