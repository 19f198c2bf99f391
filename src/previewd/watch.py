"""Watch mode: a folder that deploys itself after every change (``previewd watch``).

The first round deploys the whole folder. After that each round hashes the
folder again (re-reading only files whose size or mtime moved), sends the
paths whose contents changed and the paths that disappeared as a changeset
on the previous deployment, and uploads only contents the server lacks.
Every round is a new deployment of the same project (and ``alias``), so the
URL an open tab shows moves to it; a failed build leaves the last good one
live and the watcher waits for the next change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio
from watchfiles import Change, awatch

from previewd.client import IGNORED, AsyncClient, Entry, scan
from previewd.client.files import DigestCache
from previewd.detection import DirectoryTree, detect
from previewd.detection.trees import SKIPPED_DIRS
from previewd.errors import ApiError, PreviewdError
from previewd.schemas import DeploymentView

# Editors' swap, backup and lock files: saving a file must not deploy these.
EDITOR_FILES = re.compile(r"(\.sw[a-p]|~|\.tmp)$|^\.#|^#.*#$|^4913$")


@dataclass(frozen=True)
class Round:
    """One deployment the watcher made, once it is served or failed."""

    deployment: DeploymentView
    written: Sequence[str]  # paths whose contents were sent (all of them in the first round)
    deleted: Sequence[str]
    uploaded: int  # contents that went over the wire (the server had the others)


class Reporter(Protocol):
    """What the watcher tells its user (the CLI prints it; tests record it)."""

    def deploying(self, written: Sequence[str], deleted: Sequence[str]) -> None: ...

    def log(self, record: dict[str, Any]) -> None: ...

    def deployed(self, round: Round) -> None: ...

    def error(self, error: PreviewdError) -> None: ...


@dataclass
class Watcher:
    client: AsyncClient
    root: Path
    project: str
    alias: str | None = None
    spa: bool = False
    debounce_ms: int = 150  # quiet time after the last change before a round starts
    reporter: Reporter | None = None
    follow_logs: bool = True
    _files: dict[str, Entry] = field(default_factory=dict, init=False)
    _cache: DigestCache = field(default_factory=dict, init=False)
    _base: str | None = field(default=None, init=False)

    async def run(self, stop: anyio.Event | None = None) -> None:
        """Deploy now, then after every change until ``stop`` is set (or the task is cancelled).

        An error of the first round (no API, a bad project name) is raised;
        later ones (a file that vanished mid-upload, a refused path) are
        reported and the watcher goes on with the next change.
        """
        await self.deploy()
        changes = awatch(
            self.root,
            watch_filter=self._relevant,
            step=self.debounce_ms,
            debounce=max(2_000, 10 * self.debounce_ms),  # a steady stream still deploys
            stop_event=stop,
        )
        async for _ in changes:
            # Rounds repeat until the folder is quiet: whatever changed while a build
            # ran is picked up by the rescan, not left to the next event.
            while await self._round():
                pass

    async def deploy(self) -> Round | None:
        """One round: deploy what changed since the last one; None when nothing did."""
        skip = await anyio.to_thread.run_sync(ignore_rule, self.root)
        entries = await anyio.to_thread.run_sync(
            lambda: dict(scan(self.root, skip=skip, cache=self._cache))
        )
        written = {p: e for p, e in entries.items() if _key(self._files.get(p)) != _key(e)}
        deleted = sorted(set(self._files) - set(entries))
        if self._base is not None and not written and not deleted:
            return None
        if self.reporter:
            self.reporter.deploying(sorted(written), deleted)
        uploaded = await self.client.upload_missing(written)
        try:
            deployment = await self._create(written, deleted)
        except ApiError as exc:
            if exc.code != "deployment_not_found" or self._base is None:
                raise
            # the deployment this round builds on was removed: send the whole folder
            written, deleted, self._base = entries, [], None
            deployment = await self._create(written, deleted)
        self._files, self._base = entries, deployment.id
        if self.follow_logs and self.reporter and deployment.status in ("queued", "building"):
            async for record in self.client.logs(deployment.id, follow=True):
                self.reporter.log(record)
        deployment = await self.client.deployment(deployment.id, wait=True, timeout=600)
        done = Round(deployment, sorted(written), deleted, len(uploaded))
        if self.reporter:
            self.reporter.deployed(done)
        return done

    async def _create(self, written: dict[str, Entry], deleted: list[str]) -> DeploymentView:
        return await self.client.deploy_files(
            self.project,
            written,
            base=self._base,
            delete=deleted,
            alias=self.alias,
            spa=self.spa,
            wait=False,
        )

    async def _round(self) -> bool:
        try:
            return await self.deploy() is not None
        except PreviewdError as exc:
            if self.reporter is None:
                raise
            self.reporter.error(exc)
            return False

    def _relevant(self, _change: Change, path: str) -> bool:
        try:
            rel = Path(path).relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return False
        return not _always_skipped(rel)


def _key(entry: Entry | None) -> tuple[str, int] | None:
    return None if entry is None else (entry.digest, entry.mode)


def _always_skipped(rel: str) -> bool:
    parts = rel.split("/")
    if any(part in IGNORED or part in SKIPPED_DIRS for part in parts):
        return True
    return bool(EDITOR_FILES.search(parts[-1]))


def ignore_rule(root: Path) -> Callable[[str], bool]:
    """What a watched folder leaves out: tool state, editor files and the build output
    detection names (``dist/`` of a Vite app is made by the build, not sent to it)."""
    try:
        found = detect(DirectoryTree(root))
    except PreviewdError:  # an unreadable package.json: detection explains it at build time
        found = None
    output = found.client.output if found and found.client else None
    outputs = () if output in (None, "", ".") else (output,)

    def skip(rel: str) -> bool:
        if _always_skipped(rel):
            return True
        return any(rel == o or rel.startswith(o + "/") for o in outputs)

    return skip
